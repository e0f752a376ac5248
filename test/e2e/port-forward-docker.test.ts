import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { LABELS } from '../../src/agent/runtime/runtime';
import { eventually, startTestServer, type TestServer } from '../helpers';
import { httpGet, kubectlBinaries, startForwarder, tcpExchange } from '../port-forward-helpers';
import { ensureTestImage, requireDocker } from './docker-env';

/**
 * Port forwarding to a real container: `mk server` with its embedded agent
 * on the Docker runtime, a busybox httpd pod, and `mk port-forward` (the
 * compiled binary: run `npx tsc -p .` first) and real kubectl forwarding
 * local ports to it through the API server and the agent, which connects to
 * the pod's IP on the docker bridge.
 */

const describeDocker = requireDocker();

const NODE = `e2e-pf-${randomBytes(4).toString('hex')}`;
const PODS = '/api/v1/namespaces/default/pods';
const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');
const run = promisify(execFile);

jest.setTimeout(90_000);

async function nodeContainers(): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-a', '-q', '--no-trunc', '--filter', `label=${LABELS.node}=${NODE}`]);
  return stdout.split('\n').filter(Boolean);
}

describeDocker('port-forward to a pod on real Docker', () => {
  let ts: TestServer;
  let kubeconfig: string;
  let podIP: string;

  beforeAll(async () => {
    const image = await ensureTestImage();
    ts = await startTestServer({ agent: { runtime: 'docker', nodeName: NODE, port: 0 } });
    kubeconfig = path.join(ts.dataDir, 'kubeconfig.yaml');
    const created = await ts.api('POST', PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'httpd', labels: { app: 'httpd' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{
          name: 'httpd',
          image,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www'],
          ports: [{ name: 'http', containerPort: 8080 }],
        }],
      },
    });
    expect(created.status).toBe(201);
    const pod = await eventually(async () => {
      const r = await ts.api('GET', `${PODS}/httpd`);
      expect(r.body.status?.phase).toBe('Running');
      expect(r.body.status?.podIP).toBeTruthy();
      return r.body;
    }, 60_000, 200);
    podIP = pod.status.podIP;
  }, 120_000);

  afterAll(async () => {
    try {
      if (ts) {
        await ts.api('DELETE', `${PODS}/httpd?gracePeriodSeconds=0`).catch(() => undefined);
        await eventually(async () => expect(await nodeContainers()).toEqual([]), 30_000, 250);
      }
    } finally {
      await ts?.destroy();
      const left = await nodeContainers();
      if (left.length) await run('docker', ['rm', '-f', '-v', ...left]);
    }
  }, 60_000);

  test('mk port-forward pod/httpd :8080 serves concurrent requests; a port nothing listens on fails alone', async () => {
    const f = await startForwarder(process.execPath, [BIN, 'port-forward', 'pod/httpd', ':8080', ':8081', '--address', '127.0.0.1'], [8080, 8081], { KUBECONFIG: kubeconfig });
    try {
      const web = f.local.get(8080)!;
      const replies = await Promise.all(Array.from({ length: 12 }, () => httpGet(web, '/')));
      expect(replies).toEqual(Array.from({ length: 12 }, () => ({ status: 200, body: 'hello from httpd\n' })));

      expect((await tcpExchange(f.local.get(8081)!, Buffer.from('GET / HTTP/1.0\r\n\r\n'))).length).toBe(0);
      const refused = new RegExp(
        `^error: an error occurred forwarding \\d+ -> 8081: error forwarding port 8081 to pod httpd_default, uid [\\w-]+: dial tcp ${podIP.replace(/\./g, '\\.')}:8081: connect: connection refused\\n$`,
      );
      await eventually(() => expect(f.stderr()).toMatch(refused));
      // Still forwarding.
      expect(await httpGet(web, '/index.html')).toEqual({ status: 200, body: 'hello from httpd\n' });
    } finally {
      expect(await f.stop()).toBe(0);
    }
  });

  const { kubectl } = kubectlBinaries();
  (kubectl ? test : test.skip)('kubectl port-forward pod/httpd by its named port', async () => {
    const f = await startForwarder(kubectl!, ['--kubeconfig', kubeconfig, 'port-forward', 'pod/httpd', ':http', '--address', '127.0.0.1'], [8080]);
    try {
      const replies = await Promise.all(Array.from({ length: 8 }, () => httpGet(f.local.get(8080)!, '/')));
      expect(replies.map((r) => r.body)).toEqual(Array.from({ length: 8 }, () => 'hello from httpd\n'));
    } finally {
      await f.stop();
    }
  });
});
