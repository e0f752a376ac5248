import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { eventually, type TestServer } from '../helpers';
import { httpGet, kubectlBinaries, startForwarder, tcpExchange } from '../port-forward-helpers';
import { requireDocker, startPodOnDocker, stopPodOnDocker } from './docker-env';

/**
 * Port forwarding to a real container: `mk server` with its embedded agent
 * on the Docker runtime, a busybox httpd pod, and `mk port-forward` (the
 * compiled binary: run `npx tsc -p .` first) and real kubectl forwarding
 * local ports to it through the API server and the agent, which connects to
 * the pod's IP on the docker bridge.
 */

const describeDocker = requireDocker();

const NODE = `e2e-pf-${randomBytes(4).toString('hex')}`;
const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'run.js');

jest.setTimeout(90_000);

describeDocker('port-forward to a pod on real Docker', () => {
  let ts: TestServer;
  let kubeconfig: string;
  let podIP: string;

  beforeAll(async () => {
    let pod: any;
    ({ ts, pod } = await startPodOnDocker(NODE, 'httpd', 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www', { app: 'httpd' }));
    kubeconfig = path.join(ts.dataDir, 'kubeconfig.yaml');
    podIP = pod.status.podIP;
  }, 120_000);

  afterAll(() => stopPodOnDocker(ts, NODE, 'httpd'), 60_000);

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
