import type { KubeObject, ListMeta } from './types';
import type { ResourceType } from './registry';
import { defaultColumns, type TableColumn } from './columns';

/** meta.k8s.io/v1 TableColumnDefinition. */
export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** meta.k8s.io/v1 TableRow. `object` is set according to `includeObject`. */
export interface TableRow {
  cells: Array<string | number | boolean>;
  object?: KubeObject | PartialObjectMetadata;
}

export interface PartialObjectMetadata {
  kind: 'PartialObjectMetadata';
  apiVersion: 'meta.k8s.io/v1';
  metadata: KubeObject['metadata'];
}

/** The meta.k8s.io/v1 Table kubectl asks for with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. */
export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: ListMeta;
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

/** What each row carries besides its cells, as the `includeObject` query parameter says. */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface BuildTableOptions {
  /** The clock (ms since epoch) every AGE is computed against. */
  now: number;
  /**
   * Include priority > 0 columns (kubectl's `-o wide` set). Default true:
   * the API server's Table carries every column, as Kubernetes' does, and
   * kubectl hides the wide ones itself. `mk get` passes false without -o wide.
   */
  wide?: boolean;
  /**
   * What each row's `object` holds. Default 'Metadata' (a
   * PartialObjectMetadata), the Kubernetes default, which kubectl needs for
   * its NAMESPACE and LABELS columns. `true` means 'Object', `false` the default.
   */
  includeObject?: IncludeObject | boolean;
  /** metadata of the Table (resourceVersion/continue of the list it was built from). */
  listMeta?: ListMeta;
}

/** The columns of a kind: its registered ones, or NAME + AGE when it has none. */
export function columnsFor(rt: ResourceType): TableColumn[] {
  return rt.columns.length > 0 ? rt.columns : defaultColumns;
}

function rowObject(obj: KubeObject, include: IncludeObject): TableRow['object'] {
  switch (include) {
    case 'None':
      return undefined;
    case 'Object':
      return obj;
    default:
      return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
  }
}

/**
 * Renders objects of one kind as a meta.k8s.io/v1 Table. The API server
 * serves it for table requests and `mk get` prints it, so both clients
 * show the same columns and cells.
 */
export function buildTable(rt: ResourceType, objects: KubeObject[], opts: BuildTableOptions): Table {
  const wide = opts.wide ?? true;
  const columns = columnsFor(rt).filter((c) => wide || c.priority === 0);
  const include: IncludeObject =
    opts.includeObject === true ? 'Object' : typeof opts.includeObject === 'string' ? opts.includeObject : 'Metadata';
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: opts.listMeta ?? {},
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description,
      priority: c.priority,
    })),
    rows: objects.map((obj) => {
      const row: TableRow = { cells: columns.map((c) => c.cell(obj, opts.now)) };
      const object = rowObject(obj, include);
      if (object) row.object = object;
      return row;
    }),
  };
}
