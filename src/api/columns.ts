import type { KubeObject } from './types';

/**
 * A column of `mk get` / `kubectl get` output, as the server's Table
 * (meta.k8s.io/v1) describes it. priority 0 columns are always shown,
 * priority 1 only with `-o wide`.
 */
export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description: string;
  priority: number;
  /** The cell for one object; `now` (ms) is passed so AGE is computed against one clock. */
  cell(obj: KubeObject, now: number): string | number | boolean;
}

/** Columns per resource, keyed `plural` for the core group, `plural.group` otherwise. */
export const tableColumns: Record<string, TableColumn[]> = {};
