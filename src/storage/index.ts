import * as path from 'node:path';
import type { EtcdStoreOptions } from './etcd';
import { SqliteStore, type SqliteStoreOptions } from './sqlite';
import type { Store } from './store';

export * from './store';

export interface StoreOptions extends SqliteStoreOptions {
  /** TLS files and key prefix, for etcd endpoints. */
  etcd?: Pick<EtcdStoreOptions, 'caFile' | 'certFile' | 'keyFile' | 'prefix'>;
}

/**
 * Opens the datastore an endpoint names, choosing the engine by scheme (as
 * k3s's `--datastore-endpoint` does):
 *   ''  or  sqlite:///path/state.db   embedded SQLite (default: <dataDir>/state.db)
 *   http(s)://host:2379[,...]         etcd (comma-separated members of one cluster)
 */
export async function openStore(endpoint: string | undefined, dataDir: string, options: StoreOptions = {}): Promise<Store> {
  const { etcd, ...compaction } = options;
  if (!endpoint) return new SqliteStore(path.join(dataDir, 'state.db'), compaction);
  if (endpoint.startsWith('sqlite://')) return new SqliteStore(endpoint.slice('sqlite://'.length), compaction);
  if (/^https?:\/\//.test(endpoint)) {
    const endpoints = endpoint.split(',').map((e) => e.trim()).filter(Boolean);
    const bad = endpoints.find((e) => !/^https?:\/\/[^/]+\/?$/.test(e));
    if (bad) throw new Error(`invalid etcd endpoint "${bad}" in --datastore-endpoint: expected http(s)://host:port`);
    if (new Set(endpoints.map((e) => e.startsWith('https:'))).size > 1) {
      throw new Error('--datastore-endpoint: the etcd endpoints must be all http:// or all https://');
    }
    // Loaded only for etcd: its client brings gRPC, which SQLite users need not start up with.
    const { EtcdStore } = await import('./etcd');
    return new EtcdStore({ endpoints: endpoints.map((e) => e.replace(/\/$/, '')), ...etcd, ...compaction });
  }
  throw new Error(`unsupported --datastore-endpoint "${endpoint}": expected sqlite:///path or http(s)://etcd-host:2379[,http(s)://...]`);
}
