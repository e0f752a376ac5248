import * as path from 'node:path';
import { SqliteStore, type SqliteStoreOptions } from './sqlite';
import type { Store } from './store';

export * from './store';

/**
 * Opens the datastore an endpoint names, choosing the engine by scheme (as
 * k3s's `--datastore-endpoint` does):
 *   ''  or  sqlite:///path/state.db   embedded SQLite (default: <dataDir>/state.db)
 *   http(s)://host:2379[,...]         etcd
 */
export async function openStore(endpoint: string | undefined, dataDir: string, options: SqliteStoreOptions = {}): Promise<Store> {
  if (!endpoint) return new SqliteStore(path.join(dataDir, 'state.db'), options);
  if (endpoint.startsWith('sqlite://')) return new SqliteStore(endpoint.slice('sqlite://'.length), options);
  if (/^https?:\/\//.test(endpoint)) {
    throw new Error(`the etcd datastore (${endpoint}) is not available in this version of mk yet; use the default SQLite datastore`);
  }
  throw new Error(`unsupported --datastore-endpoint "${endpoint}": expected sqlite:///path or http(s)://etcd-host:2379`);
}
