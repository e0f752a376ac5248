import { execFile, execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { DockerRuntime, type TarEntry } from '../../src/agent/runtime/docker';
import { LABELS } from '../../src/agent/runtime/runtime';
import { execInPod } from '../../src/client/exec';
import { eventually, startTestServer, type TestServer } from '../helpers';

/**
 * Shared setup of the e2e tests that need a real Docker engine.
 *
 *   const describeDocker = requireDocker();
 *   describeDocker('pods in containers', () => {
 *     let image: string;
 *     beforeAll(async () => { image = await ensureTestImage(); });
 *     ...
 *   });
 */

/** The busybox test image: /bin/busybox from the host (Debian busybox-static) and its applet links. */
export const TEST_IMAGE = 'mk-test/busybox:1';

type DescribeFn = (name: string, fn: () => void) => void;

let availability: { ok: boolean; reason: string } | undefined;

/**
 * Whether a Docker engine answers, decided synchronously (jest declares
 * suites synchronously): a child node process pings the endpoint
 * DockerRuntime would use. Memoized per jest worker.
 */
function dockerAvailability(): { ok: boolean; reason: string } {
  if (availability) return availability;
  const where = DockerRuntime.endpoint();
  const target = where.startsWith('unix://')
    ? { socketPath: where.slice('unix://'.length) }
    : (() => {
        const u = new URL(where.replace(/^tcp:/, 'http:'));
        return { host: u.hostname, port: Number(u.port || 2375), tls: process.env.DOCKER_TLS_VERIFY === '1' || u.port === '2376' };
      })();
  const script = `
    const t = JSON.parse(process.argv[1]);
    const certs = process.env.DOCKER_CERT_PATH;
    const read = (f) => { try { return require('fs').readFileSync(require('path').join(certs, f)); } catch { return undefined; } };
    const mod = t.tls ? require('https') : require('http');
    const opts = { ...t, path: '/_ping', timeout: 1500 };
    if (t.tls && certs) Object.assign(opts, { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') });
    const req = mod.get(opts, (r) => process.exit(r.statusCode === 200 ? 0 : 2));
    req.on('timeout', () => process.exit(3));
    req.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(target)], { timeout: 5000, encoding: 'utf8' });
  availability =
    r.status === 0
      ? { ok: true, reason: '' }
      : { ok: false, reason: `no Docker engine answers at ${where}${r.stderr ? ` (${r.stderr.trim()})` : ''}` };
  return availability;
}

/**
 * Returns the `describe` to declare Docker e2e suites with. With an engine:
 * `describe`, whose suites first confirm it with DockerRuntime.probe().
 * Without one: under CI=true a suite with one failing test saying so (the
 * e2e tests must not silently vanish in CI); elsewhere `describe.skip`,
 * after printing why.
 */
export function requireDocker(): DescribeFn & { skip: DescribeFn; only: DescribeFn } {
  const { ok, reason } = dockerAvailability();
  if (ok) {
    const wrap =
      (d: DescribeFn): DescribeFn =>
      (name, fn) =>
        d(name, () => {
          beforeAll(async () => {
            if (!(await DockerRuntime.probe({ timeoutMs: 5000 }))) throw new Error(`Docker engine at ${DockerRuntime.endpoint()} stopped answering`);
          });
          fn();
        });
    return Object.assign(wrap(describe), { skip: describe.skip as DescribeFn, only: wrap(describe.only) });
  }
  if (process.env.CI === 'true') {
    const failing: DescribeFn = (name) =>
      describe(name, () => {
        it('needs a Docker engine', () => {
          throw new Error(`CI=true and ${reason}: e2e tests need Docker (.ci/run installs docker.io and starts dockerd)`);
        });
      });
    return Object.assign(failing, { skip: describe.skip as DescribeFn, only: failing });
  }
  // One plain line (console.warn in jest would add a stack trace).
  process.stderr.write(`skipping Docker e2e tests: ${reason}\n`);
  return Object.assign(describe.skip as DescribeFn, { skip: describe.skip as DescribeFn, only: describe.skip as DescribeFn });
}

const run = promisify(execFile);

/** Every container, running or not, that the agent of node `node` made (mk labels each with its node). */
export async function nodeContainers(node: string): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-a', '-q', '--no-trunc', '--filter', `label=${LABELS.node}=${node}`]);
  return stdout.split('\n').filter(Boolean);
}

/**
 * A test server whose embedded agent is node `node` on the Docker runtime,
 * and on it a pod `name` in `default`: one TEST_IMAGE container, also
 * `name`, that runs `script` with `sh -c` and has port 8080 named http.
 * Resolves once the pod runs, with the pod as then read.
 */
export async function startPodOnDocker(node: string, name: string, script: string, labels: Record<string, string> = {}): Promise<{ ts: TestServer; pod: any }> {
  const image = await ensureTestImage();
  const ts = await startTestServer({ agent: { runtime: 'docker', nodeName: node, port: 0 } });
  const pods = '/api/v1/namespaces/default/pods';
  const created = await ts.api('POST', pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name, image, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  });
  if (created.status !== 201) throw new Error(`creating pod ${name}: ${created.status} ${created.text}`);
  const pod = await eventually(async () => {
    const r = await ts.api('GET', `${pods}/${name}`);
    expect(r.body.status?.phase).toBe('Running');
    expect(r.body.status?.podIP).toBeTruthy();
    expect(r.body.status?.containerStatuses?.[0]?.containerID).toMatch(/^docker:\/\//);
    return r.body;
  }, 60_000, 200);
  return { ts, pod };
}

/**
 * Deletes pod `name` and waits until node `node` has no containers left,
 * then stops the server; removes by force any container still there.
 */
export async function stopPodOnDocker(ts: TestServer | undefined, node: string, name: string): Promise<void> {
  try {
    if (ts) {
      await ts.api('DELETE', `/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`).catch(() => undefined);
      await eventually(async () => expect(await nodeContainers(node)).toEqual([]), 30_000, 250);
    }
  } finally {
    await ts?.destroy();
    const left = await nodeContainers(node);
    if (left.length) await run('docker', ['rm', '-f', '-v', ...left]);
  }
}

/** Runs a command in a pod through the API server's pods/exec, as `mk exec` does, collecting its output. */
export async function execCaptured(
  ts: TestServer, namespace: string, pod: string, command: string[], container?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(chunk.toString('utf8'));
        cb();
      },
    });
  const code = await execInPod(
    { server: ts.url, token: ts.token, caData: ts.server.caPem },
    { namespace, pod, container, command },
    { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) },
  );
  return { code, stdout, stderr };
}

/**
 * Builds TEST_IMAGE once (`docker import` of a tar made in memory) and
 * returns its name. Safe when several jest workers call it at once: one
 * builds under an exclusive lock file, the others wait for the image.
 */
export async function ensureTestImage(): Promise<string> {
  testImage ??= buildTestImage().catch((err) => {
    testImage = undefined;
    throw err;
  });
  return testImage;
}

let testImage: Promise<string> | undefined;

async function buildTestImage(): Promise<string> {
  const runtime = new DockerRuntime({ node: 'mk-test-image' });
  const lock = path.join(os.tmpdir(), `${TEST_IMAGE.replace(/[^a-z0-9]/g, '_')}.lock`);
  try {
    // Each attempt: the image is there, or this worker takes the lock and builds it,
    // or another worker holds the lock and the attempt fails until that build is done.
    return await eventually(async () => {
      if (await runtime.imageId(TEST_IMAGE)) return TEST_IMAGE;
      let fd: number;
      try {
        fd = fs.openSync(lock, 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // A builder that died leaves its lock behind; an import takes a few seconds at most.
        const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
        if (age > 60_000) fs.rmSync(lock, { force: true });
        throw new Error(`timed out waiting for another worker to build ${TEST_IMAGE} (lock ${lock})`);
      }
      try {
        if (!(await runtime.imageId(TEST_IMAGE))) {
          await runtime.importImage(TEST_IMAGE, busyboxEntries(), ['CMD ["sh"]', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
        }
        return TEST_IMAGE;
      } finally {
        fs.closeSync(fd);
        fs.rmSync(lock, { force: true });
      }
    }, 120_000, 200);
  } finally {
    await runtime.close();
  }
}

function busyboxEntries(): TarEntry[] {
  const busybox = '/bin/busybox';
  if (!fs.existsSync(busybox)) throw new Error(`${busybox} not found: install Debian's busybox-static to build ${TEST_IMAGE}`);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'busybox' && !s.includes('/'));
  const entries: TarEntry[] = [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: fs.readFileSync(busybox) },
    ...applets.map((a): TarEntry => ({ path: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'root', type: 'dir', mode: 0o700 },
    { path: 'etc', type: 'dir' },
    {
      path: 'etc/passwd',
      type: 'file',
      data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
    },
    { path: 'etc/group', type: 'file', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
  ];
  return entries;
}
