import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { DockerRuntime, PAUSE_IMAGE, pauseBinary } from '../../src/agent/runtime/docker';
import { execToCompletion, LABELS, type ContainerConfig, type RuntimeEvent, type SandboxConfig } from '../../src/agent/runtime/runtime';
import { eventually, tempDir } from '../helpers';
import { ensureTestImage, requireDocker } from './docker-env';

const describeDocker = requireDocker();

// One node name per run: everything this file creates carries it, and cleanup finds it by that label.
const NODE = `e2e-runtime-${process.pid}-${Date.now().toString(36)}`;

describeDocker('DockerRuntime against the real engine', () => {
  let rt: DockerRuntime;
  let image: string;
  let seq = 0;

  beforeAll(async () => {
    image = await ensureTestImage();
    rt = new DockerRuntime({ node: NODE });
  }, 60_000);

  afterEach(async () => {
    // By label, so a failed test leaves nothing behind either.
    const cleaner = new DockerRuntime({ node: NODE });
    try {
      const pods = await cleaner.listPods();
      await Promise.all(pods.flatMap((p) => p.containers.map((c) => cleaner.removeContainer(c.id))));
      await Promise.all(pods.flatMap((p) => p.sandboxes.map((s) => cleaner.removeSandbox(s.id))));
    } finally {
      await cleaner.close();
    }
  });

  afterAll(async () => {
    await rt?.close();
  });

  function sandboxConfig(over: Partial<SandboxConfig> = {}): SandboxConfig {
    const n = ++seq;
    return {
      podUid: `uid-${process.pid}-${n}`,
      name: `pod-${n}`,
      namespace: 'e2e',
      hostname: `pod-${n}`,
      labels: {},
      portMappings: [],
      ...over,
    };
  }

  function containerConfig(name: string, over: Partial<ContainerConfig> = {}): ContainerConfig {
    return { name, image, env: [], mounts: [], resources: {}, securityContext: {}, labels: {}, ...over };
  }

  async function run(sandboxId: string, name: string, over: Partial<ContainerConfig> = {}): Promise<string> {
    const id = await rt.createContainer(sandboxId, containerConfig(name, over));
    await rt.startContainer(id);
    return id;
  }

  async function sh(containerId: string, script: string) {
    return execToCompletion(await rt.exec(containerId, ['sh', '-c', script], { stdin: false, stdout: true, stderr: true, tty: false }), 10_000);
  }

  function readAll(s: Readable): Promise<string> {
    return new Promise((resolve, reject) => {
      let out = '';
      s.on('data', (c: Buffer) => (out += c.toString('utf8')));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
  }

  function httpGet(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host, port, path: '/', timeout: 2000 }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }

  const HTTPD = 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www';

  it('builds the pause image locally and reports the pod IP', async () => {
    const sb = await rt.runSandbox(sandboxConfig());
    expect(sb.ready).toBe(true);
    expect(sb.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(sb.labels[LABELS.role]).toBe('sandbox');
    const id = await rt.imageId(PAUSE_IMAGE);
    expect(id).toMatch(/^sha256:/);
    expect(pauseBinary('x64')!.length).toBe(129);
    expect(pauseBinary('arm64')!.length).toBe(148);
    expect(pauseBinary('riscv64')).toBeUndefined();
  });

  it('runs two containers that reach each other on localhost, and survives a sibling restart', async () => {
    const sb = await rt.runSandbox(sandboxConfig({ hostname: 'twins' }));
    let server = await run(sb.id, 'server', { command: ['sh', '-c', HTTPD] });
    const client = await run(sb.id, 'client', { command: ['sleep', '3600'] });

    await eventually(async () => expect((await sh(client, 'wget -q -O - http://localhost:8080/')).stdout).toBe('hello from twins\n'));
    // The pod IP reaches the same server from the node.
    await eventually(async () => expect(await httpGet(sb.ip!, 8080)).toBe('hello from twins\n'));

    // The kubelet's restart: stop, remove, create the next attempt, start.
    await rt.stopContainer(server, 1);
    await rt.removeContainer(server);
    server = await run(sb.id, 'server', { command: ['sh', '-c', HTTPD], labels: { [LABELS.attempt]: '1' } });
    await eventually(async () => expect((await sh(client, 'wget -q -O - http://127.0.0.1:8080/')).stdout).toBe('hello from twins\n'));
    expect((await sh(client, 'hostname')).stdout.trim()).toBe('twins');

    const pod = (await rt.listPods()).find((p) => p.podUid === sb.podUid)!;
    expect(pod.sandboxes.map((s) => s.ip)).toEqual([sb.ip]);
    const byName = Object.fromEntries(pod.containers.map((c) => [c.name, c]));
    expect(byName.server).toMatchObject({ id: server, attempt: 1, state: 'running' });
    expect(byName.client).toMatchObject({ id: client, attempt: 0, state: 'running' });
  });

  it('applies env, workingDir, mounts, readOnly, resources and runAsUser', async () => {
    const rw = tempDir('mk-e2e-rw-');
    const ro = tempDir('mk-e2e-ro-');
    fs.chmodSync(rw, 0o777);
    fs.chmodSync(ro, 0o755);
    fs.writeFileSync(path.join(ro, 'config.txt'), 'from the host\n', { mode: 0o644 });
    try {
      const sb = await rt.runSandbox(sandboxConfig());
      const id = await run(sb.id, 'app', {
        command: ['sleep', '3600'],
        env: [{ name: 'GREETING', value: 'hi there' }],
        workingDir: '/data',
        mounts: [
          { hostPath: rw, containerPath: '/data', readOnly: false },
          { hostPath: ro, containerPath: '/config', readOnly: true },
        ],
        resources: { memoryBytes: 64 * 1024 * 1024, cpuMilli: 500, cpuRequestMilli: 250 },
        securityContext: { runAsUser: 1000, runAsGroup: 2000, readOnlyRootFilesystem: true },
      });
      const r = await sh(
        id,
        [
          'echo "env=$GREETING"',
          'echo "pwd=$(pwd)"',
          'echo "id=$(id -u):$(id -g)"',
          'echo written > /data/out.txt && echo "rw=ok"',
          'cat /config/config.txt',
          '(echo x > /config/nope) 2>/dev/null || echo "ro=denied"',
          '(echo x > /rootfs-write) 2>/dev/null || echo "rootfs=denied"',
          'echo "mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
          'echo "quota=$(cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"',
          'echo "shares=$(cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.weight)"',
        ].join('; '),
      );
      expect(r.exitCode).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines).toEqual(
        expect.arrayContaining([
          'env=hi there',
          'pwd=/data',
          'id=1000:2000',
          'rw=ok',
          'from the host',
          'ro=denied',
          'rootfs=denied',
          'mem=67108864',
        ]),
      );
      expect(lines.find((l) => l.startsWith('quota='))).toMatch(/^quota=50000\b/);
      // cgroup v1 shares: 250m -> 256; v2 reports a weight derived from them.
      if (fs.existsSync('/sys/fs/cgroup/cpu/cpu.shares')) expect(lines).toContain('shares=256');
      expect(fs.readFileSync(path.join(rw, 'out.txt'), 'utf8')).toBe('written\n');
    } finally {
      fs.rmSync(rw, { recursive: true, force: true });
      fs.rmSync(ro, { recursive: true, force: true });
    }
  });

  it('uses command as the entrypoint and args as the cmd', async () => {
    const sb = await rt.runSandbox(sandboxConfig());
    const both = await run(sb.id, 'both', { command: ['echo'], args: ['from', 'args'] });
    const onlyArgs = await run(sb.id, 'args', { args: ['echo', 'image', 'entrypoint'] });
    const onlyCommand = await run(sb.id, 'cmd', { command: ['echo', 'command'] });
    for (const [id, want] of [
      [both, 'from args\n'],
      [onlyArgs, 'image entrypoint\n'],
      [onlyCommand, 'command\n'],
    ]) {
      await eventually(async () => expect((await rt.containerStatus(id))?.state).toBe('exited'));
      expect(await readAll(await rt.logs(id, {}))).toBe(want);
    }
  });

  it('reports exits: exit code, Completed / Error, times', async () => {
    const sb = await rt.runSandbox(sandboxConfig());
    const ok = await run(sb.id, 'ok', { command: ['true'] });
    const bad = await run(sb.id, 'bad', { command: ['sh', '-c', 'exit 3'] });
    await eventually(async () => {
      const pod = (await rt.listPods()).find((p) => p.podUid === sb.podUid)!;
      const byId = Object.fromEntries(pod.containers.map((c) => [c.id, c]));
      expect(byId[ok]).toMatchObject({ state: 'exited', exitCode: 0, reason: 'Completed' });
      expect(byId[bad]).toMatchObject({ state: 'exited', exitCode: 3, reason: 'Error' });
      expect(byId[bad].finishedAt!.getTime()).toBeGreaterThanOrEqual(byId[bad].startedAt!.getTime());
    });
    expect(await rt.containerStatus('no-such-container-mk')).toBeUndefined();
  });

  it('reports OOMKilled when the memory limit is hit', async () => {
    const sb = await rt.runSandbox(sandboxConfig());
    const id = await run(sb.id, 'hog', {
      // The shell holds 200 MB of 'a's in a variable: far past the 16 MiB limit.
      command: ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}'],
      resources: { memoryBytes: 16 * 1024 * 1024 },
    });
    await eventually(async () => expect(await rt.containerStatus(id)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOMKilled' }));
  });

  it('serves logs: order, tail, timestamps, limitBytes, sinceSeconds, follow', async () => {
    const sb = await rt.runSandbox(sandboxConfig());
    // The engine reads stdout and stderr through separate pipes, so only writes apart in time keep their order.
    const fixed = await run(sb.id, 'fixed', { command: ['sh', '-c', 'echo one; sleep 0.05; echo two >&2; sleep 0.05; echo three; sleep 0.05; echo four >&2; sleep 0.05; echo five'] });
    await eventually(async () => expect((await rt.containerStatus(fixed))?.state).toBe('exited'));
    expect(await readAll(await rt.logs(fixed, {}))).toBe('one\ntwo\nthree\nfour\nfive\n');
    expect(await readAll(await rt.logs(fixed, { tailLines: 2 }))).toBe('four\nfive\n');
    expect(await readAll(await rt.logs(fixed, { limitBytes: 6 }))).toBe('one\ntw');
    expect(await readAll(await rt.logs(fixed, { sinceSeconds: 3600 }))).toBe('one\ntwo\nthree\nfour\nfive\n');
    const stamped = (await readAll(await rt.logs(fixed, { timestamps: true, tailLines: 1 }))).trim();
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z five$/);

    const ticker = await run(sb.id, 'ticker', { command: ['sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.1; done'] });
    const follow = await rt.logs(ticker, { follow: true });
    let seen = '';
    follow.on('data', (c: Buffer) => (seen += c.toString('utf8')));
    await eventually(() => expect(seen).toMatch(/tick 5\n/), 10_000);
    follow.destroy();
  });

  it('execs with stdout, stderr, exit code and stdin', async () => {
    const sb = await rt.runSandbox(sandboxConfig());
    const id = await run(sb.id, 'app', { command: ['sleep', '3600'] });
    const r = await sh(id, 'echo out; echo err >&2; exit 7');
    expect(r).toEqual({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });

    const session = await rt.exec(id, ['sh', '-c', 'cat; echo done'], { stdin: true, stdout: true, stderr: true, tty: false });
    session.stdin!.write('hello ');
    session.stdin!.end('stdin\n');
    expect(await execToCompletion(session, 10_000)).toEqual({ exitCode: 0, stdout: 'hello stdin\ndone\n', stderr: '' });

    const tty = await rt.exec(id, ['sh', '-c', 'sleep 0.3; echo on a tty; exit 2'], { stdin: false, stdout: true, stderr: false, tty: true });
    await tty.resize(100, 30);
    const t = await execToCompletion(tty, 10_000);
    expect(t.exitCode).toBe(2);
    expect(t.stdout).toContain('on a tty');
  });

  it('publishes hostPorts on 127.0.0.1', async () => {
    const port = await freePort();
    const sb = await rt.runSandbox(sandboxConfig({ hostname: 'published', portMappings: [{ containerPort: 8080, hostPort: port, protocol: 'TCP', hostIP: '127.0.0.1' }] }));
    await run(sb.id, 'web', { command: ['sh', '-c', HTTPD] });
    await eventually(async () => expect(await httpGet('127.0.0.1', port)).toBe('hello from published\n'));
  });

  it('sets DNS and extra hosts on the sandbox for all its containers', async () => {
    const sb = await rt.runSandbox(
      sandboxConfig({
        dns: { nameservers: ['10.96.0.10'], searches: ['e2e.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
        hostAliases: [{ ip: '10.1.2.3', hostnames: ['alias-one', 'alias-two'] }],
      }),
    );
    const id = await run(sb.id, 'app', { command: ['sleep', '3600'] });
    const r = await sh(id, 'cat /etc/resolv.conf /etc/hosts');
    expect(r.stdout).toContain('nameserver 10.96.0.10');
    expect(r.stdout).toContain('search e2e.svc.cluster.local svc.cluster.local');
    expect(r.stdout).toContain('options ndots:5');
    expect(r.stdout).toMatch(/10\.1\.2\.3\s+alias-one/);
  });

  it('reports started and died events for its node', async () => {
    const events: RuntimeEvent[] = [];
    const off = rt.onEvent((e) => events.push(e));
    try {
      const sb = await rt.runSandbox(sandboxConfig());
      // Let the event stream connect before the container runs.
      await eventually(() => expect(events.some((e) => e.containerId === sb.id && e.type === 'started')).toBe(true));
      const id = await run(sb.id, 'brief', { command: ['sh', '-c', 'sleep 0.2'] });
      await eventually(() => {
        expect(events).toContainEqual({ podUid: sb.podUid, containerId: id, type: 'started' });
        expect(events).toContainEqual({ podUid: sb.podUid, containerId: id, type: 'died' });
      });
    } finally {
      off();
    }
  });

  it('finds everything again by label from a fresh runtime (adoption)', async () => {
    const sb = await rt.runSandbox(sandboxConfig());
    const app = await run(sb.id, 'app', { command: ['sleep', '3600'], labels: { [LABELS.specHash]: 'abc123' } });
    const init = await run(sb.id, 'init', { command: ['true'], labels: { [LABELS.containerType]: 'init' } });
    const fresh = new DockerRuntime({ node: NODE });
    try {
      await eventually(async () => {
        const pod = (await fresh.listPods()).find((p) => p.podUid === sb.podUid)!;
        expect(pod).toMatchObject({ name: sb.labels[LABELS.podName], namespace: 'e2e' });
        expect(pod.sandboxes).toEqual([expect.objectContaining({ id: sb.id, ip: sb.ip, ready: true })]);
        const byId = Object.fromEntries(pod.containers.map((c) => [c.id, c]));
        expect(byId[app]).toMatchObject({ name: 'app', state: 'running', image, imageId: expect.stringMatching(/^sha256:/) });
        expect(byId[app].labels[LABELS.specHash]).toBe('abc123');
        expect(byId[init]).toMatchObject({ name: 'init', state: 'exited', exitCode: 0, reason: 'Completed' });
        expect(byId[init].labels[LABELS.containerType]).toBe('init');
      });
      // Another node's runtime sees none of it.
      const other = new DockerRuntime({ node: `${NODE}-other` });
      expect(await other.listPods()).toEqual([]);
      await other.close();
    } finally {
      await fresh.close();
    }
  });

  it('stops and removes idempotently; removeSandbox cleans up', async () => {
    const sb = await rt.runSandbox(sandboxConfig());
    const id = await run(sb.id, 'app', { command: ['sleep', '3600'] });
    await rt.stopContainer(id, 0);
    await rt.stopContainer(id, 0);
    expect((await rt.containerStatus(id))?.state).toBe('exited');
    await rt.removeContainer(id);
    await rt.removeContainer(id);
    await rt.removeSandbox(sb.id);
    await rt.removeSandbox(sb.id);
    expect((await rt.listPods()).find((p) => p.podUid === sb.podUid)).toBeUndefined();
  });

  it('ensures images by pull policy', async () => {
    const present = await rt.ensureImage(image, 'IfNotPresent');
    expect(present).toEqual({ pulled: false, imageId: expect.stringMatching(/^sha256:/) });
    expect(await rt.ensureImage(image, 'Never')).toEqual(present);
    await expect(rt.ensureImage('mk-test/absent:1', 'Never')).rejects.toMatchObject({
      reason: 'ErrImageNeverPull',
      message: 'Container image "mk-test/absent:1" is not present with pull policy of Never',
    });
    // A registry on a closed loopback port: the pull fails fast, without leaving the machine.
    const err = await rt.ensureImage('127.0.0.1:1/mk-test/absent:1', 'IfNotPresent').catch((e) => e);
    expect(err).toMatchObject({ name: 'ImagePullError', reason: 'ErrImagePull' });
    expect(err.message).toMatch(/^Failed to pull image "127\.0\.0\.1:1\/mk-test\/absent:1": .*(refused|127\.0\.0\.1:1)/);
    await expect(rt.ensureImage('Not/Valid', 'IfNotPresent')).rejects.toMatchObject({ reason: 'InvalidImageName' });
  });

  it('reports the engine version and probes', async () => {
    expect(await rt.version()).toMatch(/^\d+\.\d+/);
    expect(await DockerRuntime.probe()).toBe(true);
    expect(await DockerRuntime.probe({ socketPath: '/nonexistent/docker.sock', timeoutMs: 300 })).toBe(false);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
