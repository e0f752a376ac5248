import Database from 'better-sqlite3';
import { Etcd3 } from 'etcd3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findEtcdBinary, startEmbeddedEtcd, type EmbeddedEtcd } from '../src/storage/embedded-etcd';
import { runConcurrent } from './lib';

/**
 * The datastore engines a benchmark runs against (`--engines sqlite,etcd`),
 * and the raw baseline of each: what the engine does alone, without mk.
 */

export type Engine = 'sqlite' | 'etcd';

/**
 * `--engines sqlite,etcd`; by default both when an etcd binary is there
 * (on PATH or /usr/bin/etcd), else SQLite alone, saying so.
 */
export function enginesArg(): Engine[] {
  const i = process.argv.indexOf('--engines');
  if (i >= 0) {
    const list = (process.argv[i + 1] ?? '').split(',').map((e) => e.trim()).filter(Boolean);
    const bad = list.filter((e) => e !== 'sqlite' && e !== 'etcd');
    if (bad.length || list.length === 0) throw new Error(`--engines: expected sqlite and/or etcd, comma-separated (got "${process.argv[i + 1] ?? ''}")`);
    return list as Engine[];
  }
  try {
    findEtcdBinary();
    return ['sqlite', 'etcd'];
  } catch (err) {
    console.log(`(etcd left out: ${(err as Error).message})`);
    return ['sqlite'];
  }
}

export interface BenchDatastore {
  engine: Engine;
  /** `mk server` flags that select it. */
  serverArgs: string[];
  /** The etcd client URL (etcd only). */
  endpoint?: string;
  /** Peak RSS of the etcd process so far (etcd only; SQLite lives inside the server). */
  etcdPeakRss(): number;
  stop(): Promise<void>;
}

/**
 * SQLite: nothing to start (the server keeps it in its data dir). etcd: a
 * one-member etcd on loopback, on free ports, in a temp dir, started the
 * way `mk server --cluster-init` starts its own.
 */
export async function startDatastore(engine: Engine): Promise<BenchDatastore> {
  if (engine === 'sqlite') return { engine, serverArgs: [], etcdPeakRss: () => 0, stop: async () => undefined };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-etcd-'));
  const etcd: EmbeddedEtcd = await startEmbeddedEtcd({ dataDir: dir, clientPort: 0, peerPort: 0 });
  let peak = 0;
  const sample = () => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${etcd.pid}/status`, 'utf8'));
      if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
    } catch {
      // exited; keep the last reading
    }
  };
  const sampler = setInterval(sample, 200);
  return {
    engine,
    serverArgs: ['--datastore-endpoint', etcd.endpoint],
    endpoint: etcd.endpoint,
    etcdPeakRss: () => (sample(), peak),
    stop: async () => {
      clearInterval(sampler);
      await etcd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Autocommit inserts of the same JSON straight into better-sqlite3 (WAL, synchronous=NORMAL, as mk opens it), one at a time: rows/s. */
export function rawSqliteInserts(total: number, value: (i: number) => string): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-bench-raw-'));
  const db = new Database(path.join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)');
  const start = performance.now();
  for (let i = 0; i < total; i++) insert.run(`/registry/pods/default/bench-${i}`, value(i));
  const seconds = (performance.now() - start) / 1000;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return total / seconds;
}

/**
 * Puts of the same JSON straight into etcd through the etcd3 client mk
 * uses, `concurrency` in flight (etcd batches concurrent proposals into one
 * fsync, so one at a time would understate it): puts/s. Under its own key
 * prefix, so it leaves mk's keys alone.
 */
export async function rawEtcdPuts(endpoint: string, total: number, concurrency: number, value: (i: number) => string): Promise<number> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    // Warm the connection up so the figure is the steady state.
    await runConcurrent(200, concurrency, async (i) => {
      await client.put(`/raw-bench-warmup/${i}`).value(value(i));
    });
    const start = performance.now();
    await runConcurrent(total, concurrency, async (i) => {
      await client.put(`/raw-bench/pods/default/bench-${i}`).value(value(i));
    });
    return total / ((performance.now() - start) / 1000);
  } finally {
    client.close();
  }
}

/** The raw baseline of an engine: SQLite inserts (one at a time; they are synchronous) or etcd puts (at `concurrency`). */
export async function rawBaseline(ds: BenchDatastore, total: number, concurrency: number, value: (i: number) => string): Promise<{ rate: number; what: string }> {
  if (ds.engine === 'sqlite') {
    return { rate: rawSqliteInserts(total, value), what: 'raw better-sqlite3 inserts (same JSON, WAL, synchronous=NORMAL, autocommit)' };
  }
  return { rate: await rawEtcdPuts(ds.endpoint!, total, concurrency, value), what: `raw etcd puts through etcd3 (same JSON, concurrency ${concurrency})` };
}
