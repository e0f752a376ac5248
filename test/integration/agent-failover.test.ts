import * as fs from 'node:fs';
import * as path from 'node:path';
import { launchAgents, type RunningAgents } from '../../src/agent/launcher';
import { ApiClient } from '../../src/client/api-client';
import { requireEtcd, startEtcd, type TestEtcd } from '../etcd-helpers';
import { eventually, podManifest, startTestServer, tempDir, type TestServer } from '../helpers';

/**
 * An agent given two API servers of one cluster (two mk servers on one
 * etcd): when the server it talks to goes away, it carries on through the
 * other, heartbeats and pod watches alike.
 */

const describeEtcd = requireEtcd();
const LEASE = (node: string) => `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`;

describeEtcd('an agent with two API servers', () => {
  let etcd: TestEtcd;
  let first: TestServer | undefined;
  let second: TestServer | undefined;
  let agents: RunningAgents | undefined;
  let client: ApiClient | undefined;
  const agentDir = tempDir('mk-agent-');

  beforeAll(async () => {
    etcd = await startEtcd();
  }, 60_000);
  afterAll(async () => {
    await agents?.stop();
    client?.close();
    await first?.destroy();
    await second?.destroy();
    await etcd?.destroy();
    fs.rmSync(agentDir, { recursive: true, force: true });
  });

  test('keeps renewing its Lease and runs new pods through the second server after the first one stops', async () => {
    // The first server only serves the API; the second also schedules, so what the agent runs after the switch came through it.
    first = await startTestServer({ datastoreEndpoint: etcd.endpoint, disableScheduler: true, disableControllers: ['all'] });
    // One cluster: the second server gets the first one's token and CA before it starts.
    const secondDir = tempDir();
    fs.writeFileSync(path.join(secondDir, 'token'), first.token + '\n', { mode: 0o600 });
    fs.mkdirSync(path.join(secondDir, 'tls'), { recursive: true });
    for (const f of ['ca.crt', 'ca.key']) fs.copyFileSync(path.join(first.dataDir, 'tls', f), path.join(secondDir, 'tls', f));
    second = await startTestServer({ datastoreEndpoint: etcd.endpoint }, secondDir);
    expect(second.token).toBe(first.token);
    expect(second.server.caPem).toBe(first.server.caPem);

    client = new ApiClient({ server: first.url, servers: [first.url, second.url], token: first.token, caData: first.server.caPem });
    const node = 'failover-node';
    agents = await launchAgents({
      client, token: first.token, nodeName: node, runtime: 'fake', dataDir: agentDir, port: 0, heartbeatIntervalMs: 300,
    });
    expect(client.server).toBe(first.url);
    const renewedAt = async (ts: TestServer): Promise<string> => {
      const res = await ts.api('GET', LEASE(node));
      expect(res.status).toBe(200);
      return res.body.spec.renewTime;
    };
    // Writes through the first server reach the second through etcd.
    const before = await eventually(() => renewedAt(second!));
    await eventually(async () => expect(await renewedAt(second!)).not.toBe(before));

    await first.stop();
    const afterStop = await renewedAt(second);
    // Two renewals after the stop, both necessarily through the second server.
    const next = await eventually(async () => {
      const t = await renewedAt(second!);
      expect(t > afterStop).toBe(true);
      return t;
    }, 15_000);
    await eventually(async () => expect((await renewedAt(second!)) > next).toBe(true), 15_000);
    expect(client.server).toBe(second.url);

    // The agent's pod watch moved too: a pod created now is scheduled and started.
    expect((await second.api('POST', '/api/v1/namespaces/default/pods', podManifest('after-failover'))).status).toBe(201);
    await eventually(async () => {
      const p = (await second!.api('GET', '/api/v1/namespaces/default/pods/after-failover')).body;
      expect(p.spec.nodeName).toBe(node);
      expect(p.status.phase).toBe('Running');
    }, 20_000);
    const n = (await second.api('GET', `/api/v1/nodes/${node}`)).body;
    expect(n.status.conditions.find((c: any) => c.type === 'Ready')?.status).toBe('True');
  }, 90_000);
});
