import type { Readable } from 'node:stream';
import { FakeRuntime, type FakeRuntimeOptions } from '../../src/agent/runtime/fake';
import { execToCompletion, LABELS, type ContainerConfig, type RuntimeEvent, type SandboxConfig } from '../../src/agent/runtime/runtime';
import { eventually } from '../helpers';

let seq = 0;
function sandbox(over: Partial<SandboxConfig> = {}): SandboxConfig {
  const n = ++seq;
  return { podUid: `uid-${n}`, name: `pod-${n}`, namespace: 'default', hostname: `pod-${n}`, labels: {}, portMappings: [], ...over };
}
function container(name: string, over: Partial<ContainerConfig> = {}): ContainerConfig {
  return { name, image: 'busybox:1', env: [], mounts: [], resources: {}, securityContext: {}, labels: {}, ...over };
}
function readAll(s: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    s.on('data', (c: Buffer) => (out += c.toString('utf8')));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('FakeRuntime', () => {
  const runtimes: FakeRuntime[] = [];
  const make = (opts: FakeRuntimeOptions = {}) => {
    const rt = new FakeRuntime(opts);
    runtimes.push(rt);
    return rt;
  };
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.close()));
  });

  async function runPod(rt: FakeRuntime, c: Partial<ContainerConfig> = {}) {
    const sb = await rt.runSandbox(sandbox());
    const id = await rt.createContainer(sb.id, container('app', c));
    await rt.startContainer(id);
    return { sb, id };
  }

  it('gives sandboxes unique addresses per node, and separate nodes separate ranges', async () => {
    const a = make({ node: 'n0', nodeIndex: 0 });
    const b = make({ node: 'n1', nodeIndex: 1 });
    const c = make({ node: 'n300', nodeIndex: 300 });
    const ipsA = await Promise.all([1, 2, 3].map(async () => (await a.runSandbox(sandbox())).ip));
    expect(ipsA).toEqual(['10.244.0.1', '10.244.0.2', '10.244.0.3']);
    expect((await b.runSandbox(sandbox())).ip).toBe('10.244.1.1');
    expect((await c.runSandbox(sandbox())).ip).toBe('10.245.44.1');
    expect(make({ podCIDR: '10.9.8.0/24' }).podCIDR).toBe('10.9.8.0/24');
    // Without an index, each instance still gets a range of its own.
    const d = make();
    const e = make();
    expect(d.podCIDR).not.toBe(e.podCIDR);
  });

  it('reuses released addresses and reports exhaustion', async () => {
    const rt = make({ podCIDR: '10.1.0.0/30' }); // two usable hosts
    const s1 = await rt.runSandbox(sandbox());
    const s2 = await rt.runSandbox(sandbox());
    expect([s1.ip, s2.ip]).toEqual(['10.1.0.1', '10.1.0.2']);
    await expect(rt.runSandbox(sandbox())).rejects.toThrow(/no free pod address/);
    await rt.removeSandbox(s1.id);
    expect((await rt.runSandbox(sandbox())).ip).toBe('10.1.0.1');
  });

  it('runs containers until stopped, and lists them with labels', async () => {
    const rt = make({ node: 'n1' });
    const { sb, id } = await runPod(rt, { command: ['nginx'], labels: { [LABELS.specHash]: 'h1', [LABELS.attempt]: '2' } });
    const [pod] = await rt.listPods();
    expect(pod).toMatchObject({ podUid: sb.podUid, name: sb.labels[LABELS.podName], namespace: 'default' });
    expect(pod.sandboxes).toEqual([expect.objectContaining({ id: sb.id, ip: sb.ip, ready: true })]);
    expect(pod.containers).toEqual([
      expect.objectContaining({ id, name: 'app', state: 'running', attempt: 2, image: 'busybox:1', imageId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) }),
    ]);
    expect(pod.containers[0].labels).toMatchObject({ [LABELS.node]: 'n1', [LABELS.role]: 'container', [LABELS.specHash]: 'h1', [LABELS.containerName]: 'app' });
    await rt.stopContainer(id, 30);
    expect(await rt.containerStatus(id)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'Error' });
    await rt.stopContainer(id, 30); // stopping a stopped one is fine
    await rt.removeContainer(id);
    await rt.removeContainer(id);
    await rt.removeSandbox(sb.id);
    await rt.removeSandbox(sb.id);
    expect(await rt.listPods()).toEqual([]);
  });

  it('makes `exit N`, `sleep S`, true and false exit', async () => {
    const rt = make({ sleepScale: 0.01 });
    const exit3 = (await runPod(rt, { command: ['sh', '-c', 'exit 3'] })).id;
    const sleeper = (await runPod(rt, { command: ['sleep'], args: ['2'] })).id;
    const yes = (await runPod(rt, { command: ['true'] })).id;
    const no = (await runPod(rt, { command: ['false'] })).id;
    const forever = (await runPod(rt, { command: ['sleep', 'infinity'] })).id;
    await eventually(async () => {
      expect(await rt.containerStatus(exit3)).toMatchObject({ state: 'exited', exitCode: 3, reason: 'Error' });
      expect(await rt.containerStatus(sleeper)).toMatchObject({ state: 'exited', exitCode: 0, reason: 'Completed' });
      expect(await rt.containerStatus(yes)).toMatchObject({ state: 'exited', exitCode: 0 });
      expect(await rt.containerStatus(no)).toMatchObject({ state: 'exited', exitCode: 1 });
    });
    const s = (await rt.containerStatus(sleeper))!;
    expect(s.finishedAt!.getTime() - s.startedAt!.getTime()).toBeGreaterThanOrEqual(15);
    expect((await rt.containerStatus(forever))!.state).toBe('running');
  });

  it('honours runDurationMs, custom exit rules and exitContainer', async () => {
    jest.useFakeTimers();
    try {
      const rt = make({ runDurationMs: 5000, exitRules: [{ match: /crash/, exitCode: 42, afterMs: 100 }] });
      const slow = (await runPod(rt, { args: ['exit 0'] })).id;
      const crash = (await runPod(rt, { command: ['crash-loop'] })).id;
      const victim = (await runPod(rt, { command: ['server'] })).id;
      rt.exitContainer(victim, 137, 'OOMKilled');
      expect(await rt.containerStatus(victim)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOMKilled' });
      jest.advanceTimersByTime(150);
      expect(await rt.containerStatus(crash)).toMatchObject({ state: 'exited', exitCode: 42 });
      expect((await rt.containerStatus(slow))!.state).toBe('running');
      jest.advanceTimersByTime(5000);
      expect(await rt.containerStatus(slow)).toMatchObject({ state: 'exited', exitCode: 0 });
    } finally {
      jest.useRealTimers();
    }
  });

  it('starts after startDelayMs', async () => {
    const rt = make({ startDelayMs: 30 });
    const sb = await rt.runSandbox(sandbox());
    const id = await rt.createContainer(sb.id, container('app'));
    expect((await rt.containerStatus(id))!.state).toBe('created');
    const t0 = Date.now();
    await rt.startContainer(id);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect((await rt.containerStatus(id))!.state).toBe('running');
  });

  it('ensures images: failures, Never, pulled once under IfNotPresent', async () => {
    const rt = make({ failImages: ['does-not-exist', /^private\//] });
    expect(await rt.ensureImage('nginx:1.25', 'IfNotPresent')).toEqual({ pulled: true, imageId: expect.stringMatching(/^sha256:/) });
    expect((await rt.ensureImage('nginx:1.25', 'IfNotPresent')).pulled).toBe(false);
    expect((await rt.ensureImage('nginx:1.25', 'Always')).pulled).toBe(true);
    expect((await rt.ensureImage('preloaded:1', 'Never')).pulled).toBe(false);
    await expect(rt.ensureImage('example/does-not-exist:1', 'IfNotPresent')).rejects.toMatchObject({
      name: 'ImagePullError',
      reason: 'ErrImagePull',
      message: expect.stringContaining('Failed to pull image "example/does-not-exist:1"'),
    });
    await expect(rt.ensureImage('private/app:1', 'Always')).rejects.toMatchObject({ reason: 'ErrImagePull' });
    await expect(rt.ensureImage('example/does-not-exist:1', 'Never')).rejects.toMatchObject({
      reason: 'ErrImageNeverPull',
      message: 'Container image "example/does-not-exist:1" is not present with pull policy of Never',
    });
  });

  it('execs: exit 0 by default, false, exit N, echo, custom handler', async () => {
    const rt = make({ execHandler: (_id, cmd) => (cmd[0] === 'probe' ? { exitCode: 0, stdout: 'ok\n', stderr: 'warn\n' } : undefined) });
    const { id } = await runPod(rt);
    const run = async (cmd: string[]) => execToCompletion(await rt.exec(id, cmd, { stdin: false, stdout: true, stderr: true, tty: false }), 1000);
    expect(await run(['cat', '/tmp/healthy'])).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect((await run(['false'])).exitCode).toBe(1);
    expect((await run(['sh', '-c', 'exit 4'])).exitCode).toBe(4);
    expect((await run(['echo', 'hi', 'there'])).stdout).toBe('hi there\n');
    expect(await run(['probe'])).toEqual({ exitCode: 0, stdout: 'ok\n', stderr: 'warn\n' });
    const withStdin = await rt.exec(id, ['cat'], { stdin: true, stdout: true, stderr: false, tty: true });
    withStdin.stdin!.end('ignored');
    await withStdin.resize(80, 24);
    expect((await execToCompletion(withStdin, 1000)).exitCode).toBe(0);
    await rt.stopContainer(id, 0);
    await expect(rt.exec(id, ['true'], { stdin: false, stdout: true, stderr: true, tty: false })).rejects.toThrow(/not running/);
  });

  it('serves appended logs: tail, timestamps, limitBytes, sinceSeconds, follow until exit', async () => {
    let now = Date.parse('2024-05-01T10:00:00Z');
    const rt = make({ now: () => now });
    const { id } = await runPod(rt);
    rt.appendLog(id, 'one');
    now += 60_000;
    rt.appendLog(id, 'two\n');
    rt.appendLog(id, 'three');
    expect(await readAll(await rt.logs(id, {}))).toBe('one\ntwo\nthree\n');
    expect(await readAll(await rt.logs(id, { tailLines: 2 }))).toBe('two\nthree\n');
    expect(await readAll(await rt.logs(id, { tailLines: 0 }))).toBe('');
    expect(await readAll(await rt.logs(id, { sinceSeconds: 30 }))).toBe('two\nthree\n');
    expect(await readAll(await rt.logs(id, { limitBytes: 5 }))).toBe('one\nt');
    expect(await readAll(await rt.logs(id, { timestamps: true, tailLines: 1 }))).toBe('2024-05-01T10:01:00.000Z three\n');

    const follow = await rt.logs(id, { follow: true, tailLines: 1 });
    const all = readAll(follow);
    rt.appendLog(id, 'four');
    rt.exitContainer(id, 0);
    expect(await all).toBe('three\nfour\n');
  });

  it('emits started and died events asynchronously', async () => {
    const rt = make();
    const events: RuntimeEvent[] = [];
    const off = rt.onEvent((e) => events.push(e));
    const { sb, id } = await runPod(rt, { command: ['sh', '-c', 'exit 1'] });
    await eventually(() => expect(events).toContainEqual({ podUid: sb.podUid, containerId: id, type: 'died' }));
    expect(events).toEqual([
      { podUid: sb.podUid, containerId: sb.id, type: 'started' },
      { podUid: sb.podUid, containerId: id, type: 'started' },
      { podUid: sb.podUid, containerId: id, type: 'died' },
    ]);
    off();
    await rt.removeSandbox(sb.id);
    await new Promise((r) => setImmediate(r));
    expect(events).toHaveLength(3);
  });

  it('holds 5,000 pods across 100 nodes in little memory and lists fast', async () => {
    const nodes = Array.from({ length: 100 }, (_, i) => make({ node: `fake-${i}`, nodeIndex: i }));
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    for (let p = 0; p < 5000; p++) {
      const rt = nodes[p % 100];
      const sb = await rt.runSandbox(sandbox());
      const id = await rt.createContainer(sb.id, container('app', { command: ['sleep', '3600'], labels: { [LABELS.specHash]: 'abcdef' } }));
      await rt.startContainer(id);
    }
    global.gc?.();
    const perPod = (process.memoryUsage().heapUsed - before) / 5000;
    const t0 = performance.now();
    const lists = await Promise.all(nodes.map((n) => n.listPods()));
    const listMs = performance.now() - t0;
    expect(lists.every((l) => l.length === 50)).toBe(true);
    const ips = new Set(lists.flat().map((p) => p.sandboxes[0].ip));
    expect(ips.size).toBe(5000);
    // Generous bounds: the point is "small", not a benchmark (measured ~1.5 KB/pod, ~10 ms).
    expect(perPod).toBeLessThan(8 * 1024);
    expect(listMs).toBeLessThan(500);
  });
});
