import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempDir, type TestServer } from '../helpers';
import { compatKubectls, noKubectl } from '../kubectl-env';
import { httpGet, startForwarder } from '../port-forward-helpers';
import { requireDocker, startPodOnDocker, stopPodOnDocker } from './docker-env';

/**
 * The part of the kubectl compatibility suite that needs a process in a
 * container: exec with stdin and a terminal, cp (tar over exec, both ways),
 * port-forward and logs, with real kubectl releases against `mk server`
 * and its embedded agent on the Docker runtime. What kubectl did is checked
 * in the container itself (`docker exec`), not through kubectl.
 *
 * The binaries are the compatibility suite's (test/kubectl-env.ts): kubectl
 * before 1.30 runs exec and cp over SPDY, later ones over WebSocket.
 */

const describeDocker = requireDocker();
const { binaries, missing } = compatKubectls();

const NODE = `e2e-kubectl-${randomBytes(4).toString('hex')}`;
const run = promisify(execFile);

jest.setTimeout(90_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

if (!binaries.length) noKubectl('kubectl against Docker pods', missing!);
else describeDocker('kubectl exec, cp, port-forward and logs against pods on real Docker', () => {
  let ts: TestServer;
  let work: string;
  /** The docker id of the pod's container, for checking what kubectl did from outside. */
  let containerId: string;

  beforeAll(async () => {
    let pod: any;
    ({ ts, pod } = await startPodOnDocker(NODE, 'box', 'mkdir -p /www && echo "hello from box" > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www'));
    work = tempDir('mk-kubectl-e2e-');
    containerId = pod.status.containerStatuses[0].containerID.slice('docker://'.length);
  }, 120_000);

  afterAll(async () => {
    try {
      await stopPodOnDocker(ts, NODE, 'box');
    } finally {
      if (work) fs.rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);

  /** What the container itself says (docker exec), independent of the path under test. */
  const inContainer = async (...command: string[]) => (await run('docker', ['exec', containerId, ...command])).stdout;

  describe.each(binaries.map((b, i) => ({ ...b, index: i })))('$label', ({ file, index }) => {
    /** Runs kubectl with mk's kubeconfig; `input` becomes its stdin. */
    const kubectl = (args: string[], input?: string): Promise<Run> =>
      new Promise((resolve, reject) => {
        const child = spawn(file, args, {
          env: { ...process.env, KUBECONFIG: ts.server.kubeconfigPath },
          stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (c) => (stdout += c));
        child.stderr!.on('data', (c) => (stderr += c));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
        if (input !== undefined) child.stdin!.end(input);
      });

    test('exec: stdout, stderr and the exit code; -i passes stdin and its end', async () => {
      expect(await kubectl(['exec', 'box', '--', 'sh', '-c', 'echo out; echo err >&2; exit 5'])).toEqual({
        code: 5,
        stdout: 'out\n',
        stderr: 'err\ncommand terminated with exit code 5\n',
      });
      // cat ends only when its stdin does: the end of kubectl's stdin must reach the container.
      const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} of the input`).join('\n');
      expect(await kubectl(['exec', '-i', 'box', '--', 'sh', '-c', 'cat > /tmp/stdin-copy; wc -l < /tmp/stdin-copy'], `${lines}\n`)).toEqual({
        code: 0,
        stdout: '2000\n',
        stderr: '',
      });
      expect(await inContainer('cat', '/tmp/stdin-copy')).toBe(`${lines}\n`);
    });

    test('exec -it: a terminal, sized as the client\'s', async () => {
      // script(1) gives kubectl a pseudo-terminal of a known size; kubectl sends it on the resize stream/channel.
      // The command asks until the size has arrived: the first resize races the start of the exec (with Docker
      // under the kubelet too), and the terminal is 0x0 until then.
      // (busybox stty prints its complaint about a 0x0 terminal, but exits 0.)
      const waitForSize = 'until [ -n "$(stty size 2>/dev/null | grep -v "^0 0$")" ]; do sleep 0.1; done; echo "size $(stty size)"';
      const r = await new Promise<Run>((resolve, reject) => {
        const child = spawn('script', ['-qec', `stty rows 37 cols 111; exec '${file}' exec -it box -- sh -c '${waitForSize}'`, '/dev/null'], {
          env: { ...process.env, KUBECONFIG: ts.server.kubeconfigPath },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        child.stdout.on('data', (c) => (stdout += c));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
      });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('size 37 111');
    });

    test('cp: a file into the pod and one out of it (tar over exec)', async () => {
      const local = path.join(work, `in-${index}.txt`);
      // Megabytes, so the copy runs into flow control on the way (kubectl's stdin outpaces the container).
      const content = `copied in by ${path.basename(file)}\n${randomBytes(3 * 1024 * 1024).toString('base64')}\n`;
      fs.writeFileSync(local, content);
      const into = await kubectl(['cp', local, `box:/tmp/in-${index}.txt`]);
      expect(into).toMatchObject({ code: 0, stdout: '' });
      expect(await inContainer('sha256sum', `/tmp/in-${index}.txt`)).toBe(`${createHash('sha256').update(content).digest('hex')}  /tmp/in-${index}.txt\n`);

      const inside = `made in the container ${index}`;
      await run('docker', ['exec', containerId, 'sh', '-c', `mkdir -p /tmp/out && echo '${inside}' > /tmp/out/file-${index}.txt`]);
      const copy = path.join(work, `out-${index}.txt`);
      const out = await kubectl(['cp', `box:/tmp/out/file-${index}.txt`, copy]);
      expect(out.code).toBe(0);
      expect(fs.readFileSync(copy, 'utf8')).toBe(`${inside}\n`);

      // kubectl exits 0 here against Kubernetes too (tar's complaint may or may not be printed before it exits): nothing is copied.
      await kubectl(['cp', 'box:/tmp/not-there.txt', path.join(work, 'never.txt')]);
      expect(fs.existsSync(path.join(work, 'never.txt'))).toBe(false);
    });

    test('port-forward and logs', async () => {
      const f = await startForwarder(file, ['--kubeconfig', ts.server.kubeconfigPath, 'port-forward', 'pod/box', ':8080', '--address', '127.0.0.1'], [8080]);
      try {
        const replies = await Promise.all(Array.from({ length: 4 }, () => httpGet(f.local.get(8080)!, '/')));
        expect(replies).toEqual(Array.from({ length: 4 }, () => ({ status: 200, body: 'hello from box\n' })));
      } finally {
        await f.stop();
      }
      expect(await kubectl(['logs', 'box'])).toEqual({ code: 0, stdout: 'serving\n', stderr: '' });
      expect(await kubectl(['logs', 'box', '--tail=0'])).toEqual({ code: 0, stdout: '', stderr: '' });
    });
  });
});
