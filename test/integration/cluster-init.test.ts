import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { EtcdNotFoundError, findEtcdBinary } from '../../src/storage/embedded-etcd';
import { ensureBuilt, runMk, startMkServer, type MkProcess } from '../cli-build';
import { requireEtcd } from '../etcd-helpers';
import { eventually, tempDir } from '../helpers';
import { kind, manifest, pathOf, rawRequest } from './fixtures';

/**
 * `mk server --cluster-init`: the real binary starts its own etcd, keeps
 * its state there across restarts, and never leaves an etcd behind.
 */

const configmaps = kind('configmaps');
const describeEtcd = requireEtcd();

interface MkServer extends MkProcess {
  url: string;
  etcdPid: number;
  etcdEndpoint: string;
  call(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: any }>;
}

async function startClusterInit(dataDir: string): Promise<MkServer> {
  const child = await startMkServer(['--cluster-init', '--etcd-client-port', '0', '--etcd-peer-port', '0', '--disable-agent', '--port', '0', '--data-dir', dataDir]);
  const started = /etcd \(pid (\d+)\) serving on (\S+),/.exec(child.stderr());
  if (!started) throw new Error(`no etcd start line in:\n${child.stderr()}`);
  const token = fs.readFileSync(path.join(dataDir, 'token'), 'utf8').trim();
  const agent = new https.Agent({ ca: fs.readFileSync(path.join(dataDir, 'tls', 'ca.crt'), 'utf8') });
  return {
    ...child,
    etcdPid: Number(started[1]),
    etcdEndpoint: started[2],
    call: (method, urlPath, body) =>
      rawRequest(agent, child.url + urlPath, method, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body === undefined ? undefined : JSON.stringify(body)),
  };
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a missing etcd binary is a clear error', () => {
  const dir = tempDir();
  try {
    expect(() => findEtcdBinary(path.join(dir, 'etcd'))).toThrow(EtcdNotFoundError);
    expect(() => findEtcdBinary(path.join(dir, 'etcd'))).toThrow(`--cluster-init runs etcd, but there is no etcd binary at ${path.join(dir, 'etcd')} (Debian/Ubuntu: apt-get install etcd-server`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describeEtcd('mk server --cluster-init', () => {
  let dataDir: string;
  const started: MkServer[] = [];

  beforeAll(() => {
    dataDir = tempDir('mk-cluster-init-');
    ensureBuilt();
  }, 120_000);
  afterAll(async () => {
    for (const s of started) {
      if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
      if (running(s.etcdPid)) process.kill(s.etcdPid, 'SIGKILL');
    }
    // An etcd mk restarted has a pid no start line names, and outlives a killed mk (its own process group): the pid file has it.
    const pidFile = path.join(dataDir, 'etcd.pid');
    const last = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
    if (last > 0 && running(last)) process.kill(last, 'SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const stop = async (s: MkServer): Promise<void> => {
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    // etcd stopped before mk exited: nothing left running.
    expect(running(s.etcdPid)).toBe(false);
  };

  test('stores in its own etcd under the data dir, keeps the state across a restart, and stops etcd with itself', async () => {
    const first = await startClusterInit(dataDir);
    started.push(first);
    expect(first.etcdEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(fs.existsSync(path.join(dataDir, 'etcd', 'member'))).toBe(true);
    const created = await first.call('POST', pathOf(configmaps, 'default'), manifest(configmaps, 'kept'));
    expect(created.status).toBe(201);
    await stop(first);

    const second = await startClusterInit(dataDir);
    started.push(second);
    const read = await second.call('GET', pathOf(configmaps, 'default', 'kept'));
    expect(read.status).toBe(200);
    expect(read.body.metadata).toMatchObject({ uid: created.body.metadata.uid, resourceVersion: created.body.metadata.resourceVersion });
    // etcd's revision goes on from where it was: a new write is newer than anything before the restart.
    const next = await second.call('POST', pathOf(configmaps, 'default'), manifest(configmaps, 'next'));
    expect(Number(next.body.metadata.resourceVersion)).toBeGreaterThan(Number(created.body.metadata.resourceVersion));
    await stop(second);
  }, 120_000);

  test('after mk was killed with SIGKILL, the next start stops the orphaned etcd and carries on on its data', async () => {
    const first = await startClusterInit(dataDir);
    started.push(first);
    expect((await first.call('POST', pathOf(configmaps, 'default'), manifest(configmaps, 'before-kill'))).status).toBe(201);
    first.proc.kill('SIGKILL');
    await first.exited;
    // Nobody stopped etcd: it is still there, holding the data dir.
    expect(running(first.etcdPid)).toBe(true);

    const second = await startClusterInit(dataDir);
    started.push(second);
    expect(running(first.etcdPid)).toBe(false);
    expect(second.stderr()).toContain(`stopping etcd (pid ${first.etcdPid}) left running`);
    expect((await second.call('GET', pathOf(configmaps, 'default', 'before-kill'))).status).toBe(200);
    await stop(second);
  }, 120_000);

  test('an etcd that dies under mk is started again, and the server recovers by itself', async () => {
    const s = await startClusterInit(dataDir);
    started.push(s);
    process.kill(s.etcdPid, 'SIGKILL');
    const back = await eventually(() => {
      const m = /etcd is back \(pid (\d+)\)/.exec(s.stderr());
      if (!m) throw new Error(`etcd not restarted yet:\n${s.stderr()}`);
      return Number(m[1]);
    }, 20_000);
    expect(back).not.toBe(s.etcdPid);
    await eventually(async () => expect((await s.call('POST', pathOf(configmaps, 'default'), manifest(configmaps, 'after-crash'))).status).toBe(201), 20_000);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(running(back)).toBe(false);
  }, 120_000);

  test('--cluster-init does not go with --datastore-endpoint', async () => {
    const child = runMk(['server', '--cluster-init', '--datastore-endpoint', 'http://127.0.0.1:2379', '--data-dir', dataDir, '--port', '0']);
    expect(await child.exited).toBe(2);
    expect(child.stderr()).toContain('--cluster-init runs its own etcd: leave out --datastore-endpoint');
  });
});
