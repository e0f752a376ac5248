import { Chalk, type ChalkInstance } from 'chalk';
import { stringify as stringifyYaml } from 'yaml';
import type { KubeObject, Status } from '../api/types';
import type { ResourceType } from '../api/registry';
import type { Table } from '../api/table';
import {
  formatEndpoints,
  formatLabelSelector,
  formatLabels,
  labelSelectorString,
  nodeRoles,
  translateTimestampSince,
} from '../api/columns';
import { parseCPU, parseMemory } from '../api/quantity';
import { ApiStatusError, ConnectionError } from '../client/api-client';

/**
 * All terminal output of the mk CLI: tables, yaml/json/name, error lines
 * and `describe` text. The only module that imports chalk and yaml for
 * output, so the CLI looks one way everywhere.
 */

// ---------------------------------------------------------------------------
// Names and colour
// ---------------------------------------------------------------------------

/** The kind as kubectl prints it in `pod/web` and `deployment.apps "web" deleted`. */
export function kindName(rt: ResourceType): string {
  const kind = rt.kind.toLowerCase();
  return rt.group ? `${kind}.${rt.group}` : kind;
}

/** The resource as kubectl names it in messages: `pods`, `deployments.apps`. */
export function resourceName(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colorEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return !!stream.isTTY;
}

function chalkFor(color: boolean | undefined): ChalkInstance {
  return new Chalk({ level: (color ?? colorEnabled()) ? 1 : 0 });
}

const GOOD = new Set(['Running', 'Ready', 'Active', 'Completed', 'Succeeded', 'Bound', 'Available']);
const PENDING = new Set(['Pending', 'ContainerCreating', 'PodInitializing', 'Terminating', 'SchedulingGated']);
const BAD = new Set([
  'NotReady',
  'Unknown',
  'Failed',
  'Error',
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerError',
  'CreateContainerConfigError',
  'RunContainerError',
  'OOMKilled',
  'Evicted',
  'ContainerStatusUnknown',
  'DeadlineExceeded',
]);

/** The STATUS colour of a value: green when healthy, yellow on the way, red when broken. */
export function statusColor(value: string): 'green' | 'yellow' | 'red' | undefined {
  if (value.includes('SchedulingDisabled')) return value.startsWith('Ready') ? 'yellow' : 'red';
  if (GOOD.has(value)) return 'green';
  if (PENDING.has(value) || /^Init:\d+\/\d+$/.test(value)) return 'yellow';
  const bare = value.replace(/^Init:/, '');
  if (BAD.has(bare) || /^(ExitCode|Signal):/.test(bare)) return 'red';
  return undefined;
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

export interface TableOptions {
  /** Show priority > 0 columns (`-o wide`). */
  wide?: boolean;
  /** Prepend a NAMESPACE column (`-A`), read from each row's object metadata. */
  withNamespace?: boolean;
  /** Prefix NAME cells with the kind (`pod/web`), as kubectl does when several kinds are printed. */
  kindPrefix?: string;
  /** Append a LABELS column (`--show-labels`). */
  showLabels?: boolean;
  noHeaders?: boolean;
  /** Force colour on or off; by default only on a TTY without NO_COLOR. */
  color?: boolean;
}

// kubectl's tabwriter pads columns by three spaces.
const COLUMN_GAP = '   ';

function cellText(cell: unknown): string {
  if (cell === null || cell === undefined) return '<none>';
  return typeof cell === 'string' ? cell : String(cell);
}

function visibleWidth(text: string): number {
  return [...text].length;
}

/**
 * Prints Tables the way kubectl does: upper-case headers, no borders,
 * columns three spaces apart. One printer remembers its column widths,
 * so the rows `get -w` prints for each watch event line up with the
 * table printed first.
 */
export class TablePrinter {
  private widths: number[] = [];
  private readonly chalk: ChalkInstance;

  constructor(private readonly opts: TableOptions = {}) {
    this.chalk = chalkFor(opts.color);
  }

  /** The table as text (no trailing newline); '' when it has no rows and no header is wanted. */
  render(table: Table, withHeader = !this.opts.noHeaders): string {
    const visible = table.columnDefinitions
      .map((def, index) => ({ def, index }))
      .filter(({ def }) => this.opts.wide || def.priority === 0);
    const nameIndex = visible.findIndex(({ def }) => def.format === 'name');
    const statusIndex = visible.findIndex(({ def }) => def.name.toLowerCase() === 'status');

    const header: string[] = [];
    if (this.opts.withNamespace) header.push('NAMESPACE');
    header.push(...visible.map(({ def }) => def.name.toUpperCase()));
    if (this.opts.showLabels) header.push('LABELS');

    const offset = this.opts.withNamespace ? 1 : 0;
    const rows: string[][] = table.rows.map((row) => {
      const meta = (row.object as KubeObject | undefined)?.metadata;
      const cells = visible.map(({ index }) => cellText(row.cells[index]));
      if (nameIndex >= 0 && this.opts.kindPrefix) cells[nameIndex] = `${this.opts.kindPrefix}/${cells[nameIndex]}`;
      const out: string[] = [];
      if (this.opts.withNamespace) out.push(meta?.namespace ?? '');
      out.push(...cells);
      if (this.opts.showLabels) out.push(formatLabels(meta?.labels));
      return out;
    });
    if (rows.length === 0 && !withHeader) return '';

    const all = withHeader ? [header, ...rows] : rows;
    header.forEach((h, i) => {
      // tabwriter's minimum cell width is 6 including its 3 spaces of padding.
      this.widths[i] = Math.max(this.widths[i] ?? 3, 3, visibleWidth(h));
    });
    for (const r of all) r.forEach((c, i) => (this.widths[i] = Math.max(this.widths[i] ?? 3, visibleWidth(c))));

    // Joined by hand: a table library lays out 10,000 rows in tens of seconds, and needs no layout here.
    return all
      .map((r) =>
        r
          .map((c, i) => {
            const padded = c + ' '.repeat(Math.max(0, this.widths[i]! - visibleWidth(c)));
            const isStatus = statusIndex >= 0 && i === statusIndex + offset && r !== header;
            return isStatus ? this.paint(c, padded) : padded;
          })
          .join(COLUMN_GAP)
          .trimEnd(),
      )
      .filter((line) => line.length > 0)
      .join('\n');
  }

  private paint(value: string, padded: string): string {
    const color = statusColor(value);
    if (!color) return padded;
    return this.chalk[color](value) + padded.slice(value.length);
  }
}

/** A Table printed once, with the given options. */
export function renderTable(table: Table, opts: TableOptions = {}): string {
  return new TablePrinter(opts).render(table);
}

/** kubectl's message for an empty listing (it goes to stderr). */
export function noResourcesMessage(namespace?: string): string {
  return namespace ? `No resources found in ${namespace} namespace.` : 'No resources found';
}

// ---------------------------------------------------------------------------
// yaml, json, name
// ---------------------------------------------------------------------------

export type ObjectFormat = 'yaml' | 'json';

/** Keys sorted at every level, as kubectl prints unstructured objects. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** The `kind: List` kubectl wraps several objects (or any listing) in. */
export function asList(items: KubeObject[]): KubeObject {
  return { apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } } as unknown as KubeObject;
}

/**
 * An object without `metadata.managedFields`, for `-o yaml|json`: kubectl
 * hides them unless asked with `--show-managed-fields`. Lists lose them
 * from every item.
 */
export function withoutManagedFields<T>(obj: T): T {
  const o = obj as unknown as KubeObject;
  if (!o || typeof o !== 'object') return obj;
  if (Array.isArray(o.items)) return { ...o, items: o.items.map(withoutManagedFields) } as unknown as T;
  if (!o.metadata || typeof o.metadata !== 'object' || !('managedFields' in o.metadata)) return obj;
  const { managedFields: _hidden, ...metadata } = o.metadata;
  return { ...o, metadata } as unknown as T;
}

/** One object as kubectl's `-o yaml` / `-o json` prints it (ends with a newline). */
export function renderObject(obj: unknown, format: ObjectFormat): string {
  const sorted = sortKeys(obj);
  if (format === 'json') return `${JSON.stringify(sorted, null, 4)}\n`;
  // YAML 1.1 quoting ("2024-05-01T12:00:00Z", "yes", "on") is what kubectl's go-yaml prints.
  return stringifyYaml(sorted, { version: '1.1', indentSeq: false, lineWidth: 0, minContentWidth: 0 });
}

/** `pod/web` lines for `-o name`. */
export function renderNames(rt: ResourceType, objects: KubeObject[]): string {
  return objects.map((o) => `${kindName(rt)}/${o.metadata?.name ?? ''}`).join('\n');
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

function invalidMessage(status: Status): string | undefined {
  const details = status.details;
  if (!details) return undefined;
  let prefix = 'The request is invalid';
  if (details.kind || details.name) prefix = `The ${details.kind ?? ''} "${details.name ?? ''}" is invalid`;
  const causes = (details.causes ?? []).map((c) => (c.field ? `${c.field}: ${c.message ?? ''}` : (c.message ?? '')));
  if (causes.length === 0) return `${prefix}: ${status.message ?? ''}`.trimEnd();
  if (causes.length === 1) return `${prefix}: ${causes[0]}`;
  return `${prefix}: \n${causes.map((c) => `* ${c}`).join('\n')}`;
}

/**
 * The error as kubectl prints it: `Error from server (NotFound): pods "web"
 * not found`, `The Pod "web" is invalid: ...`, the connection-refused line,
 * or `error: <message>` for anything else. Never a stack trace.
 */
export function formatError(err: unknown): string {
  if (err instanceof ApiStatusError) {
    const s = err.status;
    if (s.reason === 'Unauthorized') return `error: You must be logged in to the server (${s.message ?? 'Unauthorized'})`;
    if (s.reason === 'Invalid') {
      const msg = invalidMessage(s);
      if (msg) return msg;
    }
    if (s.reason) return `Error from server (${s.reason}): ${s.message ?? ''}`;
    return `Error from server: ${s.message ?? ''}`;
  }
  if (err instanceof ConnectionError) return err.message;
  const message = err instanceof Error ? err.message : String(err);
  return message.startsWith('error: ') ? message : `error: ${message}`;
}

// ---------------------------------------------------------------------------
// describe: a Go text/tabwriter and kubectl's describers
// ---------------------------------------------------------------------------

/**
 * Aligns tab-separated text the way Go's text/tabwriter does (minwidth 0,
 * padding 2, as kubectl describe configures it): consecutive lines that
 * have a cell in a column form a block whose column width is its widest
 * cell plus padding; a line's last cell is never padded.
 */
export function tabwrite(text: string, padding = 2): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const widths: number[] = [];
  const out: string[] = [];

  const writeLines = (line0: number, line1: number) => {
    for (let i = line0; i < line1; i++) {
      const cells = lines[i]!;
      out.push(cells.map((c, j) => (j < widths.length ? c + ' '.repeat(widths[j]! - visibleWidth(c)) : c)).join(''));
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let i = line0; i < line1; i++) {
      if (column >= lines[i]!.length - 1) continue;
      // A block of lines with a cell in this column starts here.
      writeLines(line0, i);
      line0 = i;
      let width = 0;
      for (; i < line1; i++) {
        const cells = lines[i]!;
        if (column >= cells.length - 1) break;
        width = Math.max(width, visibleWidth(cells[column]!) + padding);
      }
      widths.push(width);
      format(line0, i);
      widths.pop();
      // Line i has no cell in this column, so the loop may step past it.
      line0 = i;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}

/** kubectl describe's PrefixWriter: text at an indentation level of two spaces each. */
class DescribeWriter {
  private text = '';

  write(level: number, s: string): void {
    this.text += '  '.repeat(level) + s;
  }

  toString(): string {
    return tabwrite(this.text);
  }
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const MAX_ANNOTATION_LEN = 140;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.RFC1123Z in local time: `Mon, 02 Jan 2006 15:04:05 -0700`. */
export function rfc1123z(timestamp: string | undefined): string {
  const t = timestamp ? new Date(timestamp) : new Date(0);
  if (Number.isNaN(t.getTime())) return String(timestamp);
  const p = (n: number) => String(n).padStart(2, '0');
  const off = -t.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `${DAYS[t.getDay()]}, ${p(t.getDate())} ${MONTHS[t.getMonth()]} ${t.getFullYear()} ${p(t.getHours())}:${p(t.getMinutes())}:${p(
    t.getSeconds(),
  )} ${sign}${p(Math.floor(abs / 60))}${p(abs % 60)}`;
}

function printLabelsMultiline(w: DescribeWriter, title: string, labels: Record<string, string> | undefined): void {
  w.write(0, `${title}:\t`);
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) {
    w.write(0, '<none>\n');
    return;
  }
  keys.forEach((k, i) => {
    if (i !== 0) w.write(0, '\t');
    w.write(0, `${k}=${labels![k]}\n`);
  });
}

function printAnnotationsMultiline(w: DescribeWriter, title: string, annotations: Record<string, string> | undefined): void {
  w.write(0, `${title}:\t`);
  const keys = Object.keys(annotations ?? {})
    .filter((k) => k !== LAST_APPLIED)
    .sort();
  if (keys.length === 0) {
    w.write(0, '<none>\n');
    return;
  }
  keys.forEach((k, i) => {
    if (i !== 0) w.write(0, '\t');
    const value = String(annotations![k]).replace(/\n$/, '');
    if (value.length + k.length + 2 > MAX_ANNOTATION_LEN || value.includes('\n')) {
      w.write(0, `${k}:\n`);
      for (const line of value.split('\n')) {
        const short = line.length > MAX_ANNOTATION_LEN - 2 ? `${line.slice(0, MAX_ANNOTATION_LEN - 5)}...` : line;
        w.write(0, `\t  ${short}\n`);
      }
    } else {
      w.write(0, `${k}: ${value}\n`);
    }
  });
}

function printTolerations(w: DescribeWriter, title: string, tolerations: any[] | undefined): void {
  w.write(0, `${title}:\t`);
  const list = [...(tolerations ?? [])].sort((a, b) => String(a.key ?? '').localeCompare(String(b.key ?? '')));
  if (list.length === 0) {
    w.write(0, '<none>\n');
    return;
  }
  list.forEach((t, i) => {
    if (i !== 0) w.write(0, '\t');
    let s = t.key ?? '';
    if (t.value) s += `=${t.value}`;
    if (t.effect) s += `:${t.effect}`;
    if (t.operator === 'Exists' && !t.value) s += t.key || t.effect ? ' op=Exists' : 'op=Exists';
    if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null) s += ` for ${t.tolerationSeconds}s`;
    w.write(0, `${s}\n`);
  });
}

function printTaints(w: DescribeWriter, taints: any[] | undefined): void {
  w.write(0, 'Taints:\t');
  const list = taints ?? [];
  if (list.length === 0) {
    w.write(0, '<none>\n');
    return;
  }
  list.forEach((t, i) => {
    if (i !== 0) w.write(0, '\t');
    w.write(0, `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}\n`);
  });
}

function bool(v: unknown): string {
  return v ? 'True' : 'False';
}

function stringOrNone(s: string): string {
  return s || '<none>';
}

function controllerOf(obj: KubeObject): string {
  const ref = (obj.metadata?.ownerReferences ?? []).find((r) => r.controller);
  return ref ? `${ref.kind}/${ref.name}` : '';
}

function intOrString(v: unknown, fallback: string): string {
  if (v === undefined || v === null) return fallback;
  return String(v);
}

// --- resource quantities (for the node's allocated resources) ---

/** A quantity in millicores or bytes; 0 when unset or malformed (describe shows what it can). */
function quantity(parse: (q: string | number) => number, q: unknown): number {
  if (q === undefined || q === null) return 0;
  try {
    return parse(q as string | number);
  } catch {
    return 0;
  }
}

function formatCPU(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

const BINARY_UNITS: Array<[string, number]> = [
  ['Ei', 2 ** 60],
  ['Pi', 2 ** 50],
  ['Ti', 2 ** 40],
  ['Gi', 2 ** 30],
  ['Mi', 2 ** 20],
  ['Ki', 2 ** 10],
];

function formatMemory(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [suffix, unit] of BINARY_UNITS) if (bytes % unit === 0) return `${bytes / unit}${suffix}`;
  return String(bytes);
}

/** CPU (millicores) and memory (bytes) requests and limits of a pod; a limit alone counts as the request, as in Kubernetes. */
function podResources(pod: KubeObject): { cpuReq: number; cpuLim: number; memReq: number; memLim: number } {
  const sum = { cpuReq: 0, cpuLim: 0, memReq: 0, memLim: 0 };
  for (const c of pod.spec?.containers ?? []) {
    const r = c.resources ?? {};
    sum.cpuReq += quantity(parseCPU, r.requests?.cpu ?? r.limits?.cpu);
    sum.cpuLim += quantity(parseCPU, r.limits?.cpu);
    sum.memReq += quantity(parseMemory, r.requests?.memory ?? r.limits?.memory);
    sum.memLim += quantity(parseMemory, r.limits?.memory);
  }
  return sum;
}

function percent(part: number, whole: number): number {
  return whole > 0 ? Math.trunc((part / whole) * 100) : 0;
}

// --- shared sections ---

function describeEvents(w: DescribeWriter, events: KubeObject[] | undefined, now: number): void {
  if (events === undefined) return;
  if (events.length === 0) {
    w.write(0, 'Events:\t<none>\n');
    return;
  }
  const when = (e: KubeObject) => Date.parse(e.lastTimestamp || e.eventTime || e.firstTimestamp || e.metadata?.creationTimestamp || '') || 0;
  const sorted = [...events].sort((a, b) => when(a) - when(b));
  w.write(0, 'Events:\n  Type\tReason\tAge\tFrom\tMessage\n');
  w.write(1, '----\t------\t----\t----\t-------\n');
  for (const e of sorted) {
    const first = e.eventTime ? translateTimestampSince(e.eventTime, now) : translateTimestampSince(e.firstTimestamp, now);
    let interval = first;
    if (e.series) interval = `${translateTimestampSince(e.series.lastObservedTime, now)} (x${e.series.count} over ${first})`;
    else if ((e.count ?? 0) > 1) interval = `${translateTimestampSince(e.lastTimestamp, now)} (x${e.count} over ${first})`;
    const source = e.source?.component || e.reportingController || '';
    const message = String(e.message ?? '').trim();
    w.write(1, `${e.type ?? ''}\t${e.reason ?? ''}\t${interval}\t${source}\t${message}\n`);
  }
}

function describeContainerPorts(ports: any[] | undefined, field: 'containerPort' | 'hostPort'): string {
  return (ports ?? [])
    .map((p) => {
      const s = `${p[field] ?? 0}/${p.protocol ?? 'TCP'}`;
      return p.name ? `${s} (${p.name})` : s;
    })
    .join(', ');
}

function describeProbe(probe: any): string {
  const attrs = `delay=${probe.initialDelaySeconds ?? 0}s timeout=${probe.timeoutSeconds ?? 1}s period=${probe.periodSeconds ?? 10}s #success=${
    probe.successThreshold ?? 1
  } #failure=${probe.failureThreshold ?? 3}`;
  if (probe.exec) return `exec [${(probe.exec.command ?? []).join(' ')}] ${attrs}`;
  if (probe.httpGet) {
    const g = probe.httpGet;
    const scheme = String(g.scheme ?? 'HTTP').toLowerCase();
    return `http-get ${scheme}://${g.host ?? ''}:${g.port}${g.path ?? ''} ${attrs}`;
  }
  if (probe.tcpSocket) return `tcp-socket ${probe.tcpSocket.host ?? ''}:${probe.tcpSocket.port} ${attrs}`;
  if (probe.grpc) return `grpc <pod>:${probe.grpc.port} ${probe.grpc.service ?? ''} ${attrs}`;
  return `unknown ${attrs}`;
}

function describeContainerState(w: DescribeWriter, name: string, state: any): void {
  if (state?.running) {
    w.write(2, `${name}:\tRunning\n`);
    w.write(3, `Started:\t${rfc1123z(state.running.startedAt)}\n`);
  } else if (state?.terminated) {
    const t = state.terminated;
    w.write(2, `${name}:\tTerminated\n`);
    if (t.reason) w.write(3, `Reason:\t${t.reason}\n`);
    if (t.message) w.write(3, `Message:\t${t.message}\n`);
    w.write(3, `Exit Code:\t${t.exitCode ?? 0}\n`);
    if (t.signal) w.write(3, `Signal:\t${t.signal}\n`);
    w.write(3, `Started:\t${rfc1123z(t.startedAt)}\n`);
    w.write(3, `Finished:\t${rfc1123z(t.finishedAt)}\n`);
  } else {
    w.write(2, `${name}:\tWaiting\n`);
    if (state?.waiting?.reason) w.write(3, `Reason:\t${state.waiting.reason}\n`);
  }
}

function describeResources(w: DescribeWriter, resources: any, level: number): void {
  for (const kind of ['limits', 'requests'] as const) {
    const list = resources?.[kind] ?? {};
    const names = Object.keys(list).sort();
    if (names.length === 0) continue;
    w.write(level, `${kind === 'limits' ? 'Limits' : 'Requests'}:\n`);
    for (const n of names) w.write(level + 1, `${n}:\t${list[n]}\n`);
  }
}

function describeContainers(w: DescribeWriter, label: string, containers: any[], statuses: any[] | undefined, space: string): void {
  const byName = new Map<string, any>((statuses ?? []).map((s) => [s.name, s]));
  w.write(0, `${space}${label}:${containers.length === 0 ? ' <none>' : ''}\n`);
  for (const c of containers) {
    const status = byName.get(c.name);
    w.write(1, `${space ? ' ' : ''}${c.name}:\n`);
    if (status) w.write(2, `Container ID:\t${status.containerID ?? ''}\n`);
    w.write(2, `Image:\t${c.image ?? ''}\n`);
    if (status) w.write(2, `Image ID:\t${status.imageID ?? ''}\n`);
    const ports = describeContainerPorts(c.ports, 'containerPort');
    w.write(2, ports.includes(',') ? `Ports:\t${ports}\n` : `Port:\t${stringOrNone(ports)}\n`);
    const hostPorts = describeContainerPorts(c.ports, 'hostPort');
    w.write(2, hostPorts.includes(',') ? `Host Ports:\t${hostPorts}\n` : `Host Port:\t${stringOrNone(hostPorts)}\n`);
    for (const [title, list] of [
      ['Command', c.command],
      ['Args', c.args],
    ] as const) {
      if (!list?.length) continue;
      w.write(2, `${title}:\n`);
      for (const item of list) for (const line of String(item).split('\n')) w.write(3, `${line}\n`);
    }
    if (status) {
      describeContainerState(w, 'State', status.state);
      if (status.lastState?.terminated) describeContainerState(w, 'Last State', status.lastState);
      w.write(2, `Ready:\t${bool(status.ready)}\n`);
      w.write(2, `Restart Count:\t${status.restartCount ?? 0}\n`);
    }
    describeResources(w, c.resources, 2);
    if (c.livenessProbe) w.write(2, `Liveness:\t${describeProbe(c.livenessProbe)}\n`);
    if (c.readinessProbe) w.write(2, `Readiness:\t${describeProbe(c.readinessProbe)}\n`);
    if (c.startupProbe) w.write(2, `Startup:\t${describeProbe(c.startupProbe)}\n`);
    if (c.envFrom?.length) {
      w.write(2, 'Environment Variables from:\n');
      for (const e of c.envFrom) {
        const ref = e.configMapRef ?? e.secretRef ?? {};
        const from = e.configMapRef ? 'ConfigMap' : 'Secret';
        const prefix = e.prefix ? ` with prefix '${e.prefix}'` : '';
        w.write(3, `${ref.name ?? ''}\t${from}${prefix}\tOptional: ${ref.optional ? 'true' : 'false'}\n`);
      }
    }
    w.write(2, `Environment:${c.env?.length ? '' : '\t<none>'}\n`);
    for (const e of c.env ?? []) {
      const from = e.valueFrom;
      if (!from) {
        String(e.value ?? '')
          .split('\n')
          .forEach((line, i) => w.write(3, i === 0 ? `${e.name}:\t${line}\n` : `\t${line}\n`));
      } else if (from.fieldRef) {
        w.write(3, `${e.name}:\t (${from.fieldRef.apiVersion ?? 'v1'}:${from.fieldRef.fieldPath})\n`);
      } else if (from.resourceFieldRef) {
        w.write(3, `${e.name}:\t (${from.resourceFieldRef.resource})\n`);
      } else if (from.secretKeyRef) {
        const r = from.secretKeyRef;
        w.write(3, `${e.name}:\t<set to the key '${r.key}' in secret '${r.name}'>\tOptional: ${r.optional ? 'true' : 'false'}\n`);
      } else if (from.configMapKeyRef) {
        const r = from.configMapKeyRef;
        w.write(3, `${e.name}:\t<set to the key '${r.key}' of config map '${r.name}'>\tOptional: ${r.optional ? 'true' : 'false'}\n`);
      }
    }
    const mounts = [...(c.volumeMounts ?? [])].sort((a, b) => String(a.mountPath).localeCompare(String(b.mountPath)));
    w.write(2, `Mounts:${mounts.length ? '' : '\t<none>'}\n`);
    for (const m of mounts) {
      const flags = [m.readOnly ? 'ro' : 'rw'];
      if (m.subPath) flags.push(`path=${JSON.stringify(m.subPath)}`);
      w.write(3, `${m.mountPath} from ${m.name} (${flags.join(',')})\n`);
    }
  }
}

function describeVolumes(w: DescribeWriter, volumes: any[] | undefined, space: string): void {
  if (!volumes?.length) {
    w.write(0, `${space}Volumes:\t<none>\n`);
    return;
  }
  w.write(0, `${space}Volumes:\n`);
  for (const v of volumes) {
    w.write(1, `${space ? ' ' : ''}${v.name}:\n`);
    if (v.hostPath) {
      w.write(2, `Type:\tHostPath (bare host directory volume)\n    Path:\t${v.hostPath.path}\n    HostPathType:\t${v.hostPath.type || ''}\n`);
    } else if (v.emptyDir) {
      w.write(
        2,
        `Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t${v.emptyDir.medium ?? ''}\n    SizeLimit:\t${
          v.emptyDir.sizeLimit ?? '<unset>'
        }\n`,
      );
    } else if (v.configMap) {
      w.write(2, `Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t${v.configMap.name}\n    Optional:\t${!!v.configMap.optional}\n`);
    } else if (v.secret) {
      w.write(2, `Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t${v.secret.secretName}\n    Optional:\t${!!v.secret.optional}\n`);
    } else if (v.persistentVolumeClaim) {
      w.write(
        2,
        `Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t${
          v.persistentVolumeClaim.claimName
        }\n    ReadOnly:\t${!!v.persistentVolumeClaim.readOnly}\n`,
      );
    } else if (v.projected) {
      w.write(2, 'Type:\tProjected (a volume that contains injected data from multiple sources)\n');
      for (const s of v.projected.sources ?? []) {
        if (s.serviceAccountToken) w.write(2, `TokenExpirationSeconds:\t${s.serviceAccountToken.expirationSeconds ?? 3600}\n`);
        if (s.configMap) w.write(2, `ConfigMapName:\t${s.configMap.name}\n`);
        if (s.secret) w.write(2, `SecretName:\t${s.secret.name}\n`);
        if (s.downwardAPI) w.write(2, 'DownwardAPI:\ttrue\n');
      }
    } else if (v.downwardAPI) {
      w.write(2, 'Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n');
      for (const item of v.downwardAPI.items ?? []) {
        if (item.fieldRef) w.write(3, `${item.fieldRef.fieldPath} -> ${item.path}\n`);
        else if (item.resourceFieldRef) w.write(3, `${item.resourceFieldRef.resource} -> ${item.path}\n`);
      }
    } else {
      w.write(2, '<unknown>\n');
    }
  }
}

function describePodTemplate(w: DescribeWriter, template: any): void {
  w.write(0, 'Pod Template:\n');
  if (!template) {
    w.write(1, '<unset>');
    return;
  }
  printLabelsMultiline(w, '  Labels', template.metadata?.labels);
  if (Object.keys(template.metadata?.annotations ?? {}).length > 0) {
    printAnnotationsMultiline(w, '  Annotations', template.metadata?.annotations);
  }
  const spec = template.spec ?? {};
  if (spec.serviceAccountName) w.write(1, `Service Account:\t${spec.serviceAccountName}\n`);
  if (spec.initContainers?.length) describeContainers(w, 'Init Containers', spec.initContainers, undefined, '  ');
  describeContainers(w, 'Containers', spec.containers ?? [], undefined, '  ');
  describeVolumes(w, spec.volumes, '  ');
  if (spec.priorityClassName) w.write(1, `Priority Class Name:\t${spec.priorityClassName}\n`);
  printLabelsMultiline(w, '  Node-Selectors', spec.nodeSelector);
  printTolerations(w, '  Tolerations', spec.tolerations);
}

/** Pods of a controller by phase, as kubectl's `Pods Status:` line counts them. */
function podsStatus(owner: KubeObject, pods: KubeObject[] | undefined): string {
  const counts = { Running: 0, Pending: 0, Succeeded: 0, Failed: 0 };
  for (const p of pods ?? []) {
    const ref = (p.metadata?.ownerReferences ?? []).find((r) => r.controller);
    if (!ref || ref.uid !== owner.metadata?.uid) continue;
    const phase = p.status?.phase as keyof typeof counts;
    if (phase in counts) counts[phase]++;
  }
  return `${counts.Running} Running / ${counts.Pending} Waiting / ${counts.Succeeded} Succeeded / ${counts.Failed} Failed`;
}

function describeConditions(w: DescribeWriter, conditions: any[] | undefined): void {
  if (!conditions?.length) return;
  w.write(0, 'Conditions:\n  Type\tStatus\tReason\n');
  w.write(1, '----\t------\t------\n');
  for (const c of conditions) w.write(1, `${c.type} \t${c.status}\t${c.reason ?? ''}\n`);
}

// --- the describers ---

/** What `mk describe` fetched besides the object itself; each describer uses the parts it needs. */
export interface DescribeRelated {
  /** Events whose involvedObject is the object; undefined to print no Events section. */
  events?: KubeObject[];
  /** Pods on a node, or matching a controller's selector. */
  pods?: KubeObject[];
  /** ReplicaSets a Deployment owns. */
  replicaSets?: KubeObject[];
  /** The Endpoints of a Service. */
  endpoints?: KubeObject;
  /** The node's heartbeat Lease. */
  lease?: KubeObject;
}

type Describer = (w: DescribeWriter, obj: KubeObject, related: DescribeRelated, now: number) => void;

const describePod: Describer = (w, pod, related, now) => {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  w.write(0, `Name:\t${pod.metadata.name}\n`);
  w.write(0, `Namespace:\t${pod.metadata.namespace ?? ''}\n`);
  if (spec.priority !== undefined) w.write(0, `Priority:\t${spec.priority}\n`);
  if (spec.priorityClassName) w.write(0, `Priority Class Name:\t${spec.priorityClassName}\n`);
  if (spec.runtimeClassName) w.write(0, `Runtime Class Name:\t${spec.runtimeClassName}\n`);
  if (spec.serviceAccountName) w.write(0, `Service Account:\t${spec.serviceAccountName}\n`);
  w.write(0, spec.nodeName ? `Node:\t${spec.nodeName}/${status.hostIP ?? ''}\n` : 'Node:\t<none>\n');
  if (status.startTime) w.write(0, `Start Time:\t${rfc1123z(status.startTime)}\n`);
  printLabelsMultiline(w, 'Labels', pod.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', pod.metadata.annotations);
  if (pod.metadata.deletionTimestamp && status.phase !== 'Failed' && status.phase !== 'Succeeded') {
    w.write(0, `Status:\tTerminating (lasts ${translateTimestampSince(pod.metadata.deletionTimestamp, now)})\n`);
    w.write(0, `Termination Grace Period:\t${pod.metadata.deletionGracePeriodSeconds ?? 0}s\n`);
  } else {
    w.write(0, `Status:\t${status.phase ?? ''}\n`);
  }
  if (status.reason) w.write(0, `Reason:\t${status.reason}\n`);
  if (status.message) w.write(0, `Message:\t${status.message}\n`);
  w.write(0, `IP:\t${status.podIP ?? ''}\n`);
  const ips: any[] = status.podIPs ?? [];
  if (ips.length === 0) w.write(0, 'IPs:\t<none>\n');
  else {
    w.write(0, 'IPs:\n');
    for (const ip of ips) w.write(1, `IP:\t${ip.ip}\n`);
  }
  const controlledBy = controllerOf(pod);
  if (controlledBy) w.write(0, `Controlled By:\t${controlledBy}\n`);
  if (status.nominatedNodeName) w.write(0, `NominatedNodeName:\t${status.nominatedNodeName}\n`);
  if (spec.initContainers?.length) describeContainers(w, 'Init Containers', spec.initContainers, status.initContainerStatuses, '');
  describeContainers(w, 'Containers', spec.containers ?? [], status.containerStatuses, '');
  if (spec.readinessGates?.length) {
    w.write(0, 'Readiness Gates:\n  Type\tStatus\n');
    for (const g of spec.readinessGates) {
      const c = (status.conditions ?? []).find((x: any) => x.type === g.conditionType);
      w.write(1, `${g.conditionType} \t${c?.status ?? '<none>'} \n`);
    }
  }
  if (status.conditions?.length) {
    w.write(0, 'Conditions:\n  Type\tStatus\n');
    for (const c of status.conditions) w.write(1, `${c.type} \t${c.status} \n`);
  }
  describeVolumes(w, spec.volumes, '');
  w.write(0, `QoS Class:\t${status.qosClass || qosFallback(pod)}\n`);
  printLabelsMultiline(w, 'Node-Selectors', spec.nodeSelector);
  printTolerations(w, 'Tolerations', spec.tolerations);
  describeEvents(w, related.events, now);
};

/** Only used when the server did not set status.qosClass. */
function qosFallback(pod: KubeObject): string {
  const containers: any[] = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  const any = containers.some((c) => Object.keys(c.resources?.requests ?? {}).length || Object.keys(c.resources?.limits ?? {}).length);
  return any ? 'Burstable' : 'BestEffort';
}

const describeNode: Describer = (w, node, related, now) => {
  const spec = node.spec ?? {};
  const status = node.status ?? {};
  w.write(0, `Name:\t${node.metadata.name}\n`);
  w.write(0, `Roles:\t${nodeRoles(node).join(',') || '<none>'}\n`);
  printLabelsMultiline(w, 'Labels', node.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', node.metadata.annotations);
  w.write(0, `CreationTimestamp:\t${rfc1123z(node.metadata.creationTimestamp)}\n`);
  printTaints(w, spec.taints);
  w.write(0, `Unschedulable:\t${spec.unschedulable ? 'true' : 'false'}\n`);
  w.write(0, 'Lease:\n');
  const lease = related.lease?.spec;
  w.write(1, `HolderIdentity:\t${lease?.holderIdentity ?? '<unset>'}\n`);
  w.write(1, `AcquireTime:\t${lease?.acquireTime ? rfc1123z(lease.acquireTime) : '<unset>'}\n`);
  w.write(1, `RenewTime:\t${lease?.renewTime ? rfc1123z(lease.renewTime) : '<unset>'}\n`);
  if (status.conditions?.length) {
    w.write(0, 'Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n');
    w.write(1, '----\t------\t-----------------\t------------------\t------\t-------\n');
    for (const c of status.conditions) {
      w.write(
        1,
        `${c.type} \t${c.status} \t${rfc1123z(c.lastHeartbeatTime)} \t${rfc1123z(c.lastTransitionTime)} \t${c.reason ?? ''} \t${c.message ?? ''}\n`,
      );
    }
  }
  w.write(0, 'Addresses:\n');
  for (const a of status.addresses ?? []) w.write(1, `${a.type}:\t${a.address}\n`);
  for (const [title, list] of [
    ['Capacity', status.capacity],
    ['Allocatable', status.allocatable],
  ] as const) {
    const names = Object.keys(list ?? {}).sort();
    if (names.length === 0) continue;
    w.write(0, `${title}:\n`);
    for (const n of names) w.write(0, `  ${n}:\t${list[n]}\n`);
  }
  const info = status.nodeInfo ?? {};
  w.write(0, 'System Info:\n');
  w.write(0, `  Machine ID:\t${info.machineID ?? ''}\n`);
  w.write(0, `  System UUID:\t${info.systemUUID ?? ''}\n`);
  w.write(0, `  Boot ID:\t${info.bootID ?? ''}\n`);
  w.write(0, `  Kernel Version:\t${info.kernelVersion ?? ''}\n`);
  w.write(0, `  OS Image:\t${info.osImage ?? ''}\n`);
  w.write(0, `  Operating System:\t${info.operatingSystem ?? ''}\n`);
  w.write(0, `  Architecture:\t${info.architecture ?? ''}\n`);
  w.write(0, `  Container Runtime Version:\t${info.containerRuntimeVersion ?? ''}\n`);
  w.write(0, `  Kubelet Version:\t${info.kubeletVersion ?? ''}\n`);
  if (spec.podCIDR) w.write(0, `PodCIDR:\t${spec.podCIDR}\n`);
  if (spec.podCIDRs?.length) w.write(0, `PodCIDRs:\t${spec.podCIDRs.join(',')}\n`);
  if (spec.providerID) w.write(0, `ProviderID:\t${spec.providerID}\n`);

  const pods = (related.pods ?? []).filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const allocatable = status.allocatable ?? {};
  const cpuAlloc = quantity(parseCPU, allocatable.cpu);
  const memAlloc = quantity(parseMemory, allocatable.memory);
  w.write(0, `Non-terminated Pods:\t(${pods.length} in total)\n`);
  w.write(1, 'Namespace\tName\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n');
  w.write(1, '---------\t----\t------------\t----------\t---------------\t-------------\t---\n');
  const total = { cpuReq: 0, cpuLim: 0, memReq: 0, memLim: 0 };
  for (const p of pods) {
    const r = podResources(p);
    total.cpuReq += r.cpuReq;
    total.cpuLim += r.cpuLim;
    total.memReq += r.memReq;
    total.memLim += r.memLim;
    w.write(
      1,
      `${p.metadata.namespace}\t${p.metadata.name}\t${formatCPU(r.cpuReq)} (${percent(r.cpuReq, cpuAlloc)}%)\t${formatCPU(r.cpuLim)} (${percent(
        r.cpuLim,
        cpuAlloc,
      )}%)\t${formatMemory(r.memReq)} (${percent(r.memReq, memAlloc)}%)\t${formatMemory(r.memLim)} (${percent(r.memLim, memAlloc)}%)\t${translateTimestampSince(
        p.metadata.creationTimestamp,
        now,
      )}\n`,
    );
  }
  w.write(0, 'Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n');
  w.write(1, 'Resource\tRequests\tLimits\n');
  w.write(1, '--------\t--------\t------\n');
  w.write(1, `cpu\t${formatCPU(total.cpuReq)} (${percent(total.cpuReq, cpuAlloc)}%)\t${formatCPU(total.cpuLim)} (${percent(total.cpuLim, cpuAlloc)}%)\n`);
  w.write(
    1,
    `memory\t${formatMemory(total.memReq)} (${percent(total.memReq, memAlloc)}%)\t${formatMemory(total.memLim)} (${percent(total.memLim, memAlloc)}%)\n`,
  );
  describeEvents(w, related.events, now);
};

const describeDeployment: Describer = (w, d, related, now) => {
  const spec = d.spec ?? {};
  const status = d.status ?? {};
  w.write(0, `Name:\t${d.metadata.name}\n`);
  w.write(0, `Namespace:\t${d.metadata.namespace ?? ''}\n`);
  w.write(0, `CreationTimestamp:\t${rfc1123z(d.metadata.creationTimestamp)}\n`);
  printLabelsMultiline(w, 'Labels', d.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', d.metadata.annotations);
  w.write(0, `Selector:\t${labelSelectorString(spec.selector)}\n`);
  w.write(
    0,
    `Replicas:\t${spec.replicas ?? 1} desired | ${status.updatedReplicas ?? 0} updated | ${status.replicas ?? 0} total | ${
      status.availableReplicas ?? 0
    } available | ${status.unavailableReplicas ?? 0} unavailable\n`,
  );
  w.write(0, `StrategyType:\t${spec.strategy?.type ?? 'RollingUpdate'}\n`);
  w.write(0, `MinReadySeconds:\t${spec.minReadySeconds ?? 0}\n`);
  if ((spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
    const ru = spec.strategy?.rollingUpdate ?? {};
    w.write(0, `RollingUpdateStrategy:\t${intOrString(ru.maxUnavailable, '25%')} max unavailable, ${intOrString(ru.maxSurge, '25%')} max surge\n`);
  }
  describePodTemplate(w, spec.template);
  describeConditions(w, status.conditions);
  const owned = (related.replicaSets ?? []).filter((rs) =>
    (rs.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === d.metadata.uid),
  );
  if (owned.length > 0) {
    const newRS = newestMatching(d, owned);
    const old = owned.filter((rs) => rs !== newRS && (rs.spec?.replicas ?? 0) + (rs.status?.replicas ?? 0) > 0);
    const show = (list: KubeObject[]) =>
      list.map((rs) => `${rs.metadata.name} (${rs.status?.replicas ?? 0}/${rs.spec?.replicas ?? 1} replicas created)`).join(', ') || '<none>';
    w.write(0, `OldReplicaSets:\t${show(old)}\n`);
    w.write(0, `NewReplicaSet:\t${show(newRS ? [newRS] : [])}\n`);
  }
  describeEvents(w, related.events, now);
};

/** The ReplicaSet whose pod template is the Deployment's (ignoring pod-template-hash), as kubectl finds the new one. */
function newestMatching(d: KubeObject, replicaSets: KubeObject[]): KubeObject | undefined {
  const normalize = (template: any) => {
    const t = JSON.parse(JSON.stringify(template ?? {}));
    if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
    return JSON.stringify(sortKeys(t));
  };
  const want = normalize(d.spec?.template);
  return replicaSets
    .filter((rs) => normalize(rs.spec?.template) === want)
    .sort((a, b) => Date.parse(a.metadata.creationTimestamp ?? '') - Date.parse(b.metadata.creationTimestamp ?? ''))[0];
}

const describeReplicaSet: Describer = (w, rs, related, now) => {
  w.write(0, `Name:\t${rs.metadata.name}\n`);
  w.write(0, `Namespace:\t${rs.metadata.namespace ?? ''}\n`);
  w.write(0, `Selector:\t${formatLabelSelector(rs.spec?.selector)}\n`);
  printLabelsMultiline(w, 'Labels', rs.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', rs.metadata.annotations);
  const controlledBy = controllerOf(rs);
  if (controlledBy) w.write(0, `Controlled By:\t${controlledBy}\n`);
  w.write(0, `Replicas:\t${rs.status?.replicas ?? 0} current / ${rs.spec?.replicas ?? 1} desired\n`);
  w.write(0, `Pods Status:\t${podsStatus(rs, related.pods)}\n`);
  describePodTemplate(w, rs.spec?.template);
  describeConditions(w, rs.status?.conditions);
  describeEvents(w, related.events, now);
};

const describeDaemonSet: Describer = (w, ds, related, now) => {
  const status = ds.status ?? {};
  w.write(0, `Name:\t${ds.metadata.name}\n`);
  w.write(0, `Namespace:\t${ds.metadata.namespace ?? ''}\n`);
  w.write(0, `Selector:\t${labelSelectorString(ds.spec?.selector)}\n`);
  w.write(0, `Node-Selector:\t${formatLabels(ds.spec?.template?.spec?.nodeSelector)}\n`);
  printLabelsMultiline(w, 'Labels', ds.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', ds.metadata.annotations);
  w.write(0, `Desired Number of Nodes Scheduled: ${status.desiredNumberScheduled ?? 0}\n`);
  w.write(0, `Current Number of Nodes Scheduled: ${status.currentNumberScheduled ?? 0}\n`);
  w.write(0, `Number of Nodes Scheduled with Up-to-date Pods: ${status.updatedNumberScheduled ?? 0}\n`);
  w.write(0, `Number of Nodes Scheduled with Available Pods: ${status.numberAvailable ?? 0}\n`);
  w.write(0, `Number of Nodes Misscheduled: ${status.numberMisscheduled ?? 0}\n`);
  w.write(0, `Pods Status:\t${podsStatus(ds, related.pods)}\n`);
  describePodTemplate(w, ds.spec?.template);
  describeEvents(w, related.events, now);
};

const describeService: Describer = (w, svc, related, now) => {
  const spec = svc.spec ?? {};
  w.write(0, `Name:\t${svc.metadata.name}\n`);
  w.write(0, `Namespace:\t${svc.metadata.namespace ?? ''}\n`);
  printLabelsMultiline(w, 'Labels', svc.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', svc.metadata.annotations);
  w.write(0, `Selector:\t${formatLabels(spec.selector)}\n`);
  w.write(0, `Type:\t${spec.type ?? ''}\n`);
  if (spec.ipFamilyPolicy) w.write(0, `IP Family Policy:\t${spec.ipFamilyPolicy}\n`);
  w.write(0, `IP Families:\t${spec.ipFamilies?.length ? spec.ipFamilies.join(',') : '<none>'}\n`);
  w.write(0, `IP:\t${spec.clusterIP ?? ''}\n`);
  w.write(0, `IPs:\t${spec.clusterIPs?.length ? spec.clusterIPs.join(',') : '<none>'}\n`);
  if (spec.externalIPs?.length) w.write(0, `External IPs:\t${spec.externalIPs.join(',')}\n`);
  if (spec.loadBalancerIP) w.write(0, `Desired LoadBalancer IP:\t${spec.loadBalancerIP}\n`);
  if (spec.externalName) w.write(0, `External Name:\t${spec.externalName}\n`);
  const ingress: any[] = svc.status?.loadBalancer?.ingress ?? [];
  if (ingress.length) w.write(0, `LoadBalancer Ingress:\t${ingress.map((i) => i.ip || i.hostname).join(', ')}\n`);
  for (const p of spec.ports ?? []) {
    const name = p.name || '<unset>';
    const protocol = p.protocol ?? 'TCP';
    w.write(0, `Port:\t${name}\t${p.port}/${protocol}\n`);
    w.write(0, `TargetPort:\t${p.targetPort ?? p.port}/${protocol}\n`);
    if (p.appProtocol) w.write(0, `AppProtocol:\t${p.appProtocol}\n`);
    if (p.nodePort) w.write(0, `NodePort:\t${name}\t${p.nodePort}/${protocol}\n`);
    const eps = related.endpoints ? formatEndpoints(related.endpoints, new Set([p.name ?? ''])) : '';
    w.write(0, `Endpoints:\t${eps === '<none>' ? '' : eps}\n`);
  }
  w.write(0, `Session Affinity:\t${spec.sessionAffinity ?? 'None'}\n`);
  if (spec.externalTrafficPolicy) w.write(0, `External Traffic Policy:\t${spec.externalTrafficPolicy}\n`);
  if (spec.internalTrafficPolicy) w.write(0, `Internal Traffic Policy:\t${spec.internalTrafficPolicy}\n`);
  if (spec.healthCheckNodePort) w.write(0, `HealthCheck NodePort:\t${spec.healthCheckNodePort}\n`);
  describeEvents(w, related.events, now);
};

const describeNamespace: Describer = (w, ns) => {
  w.write(0, `Name:\t${ns.metadata.name}\n`);
  printLabelsMultiline(w, 'Labels', ns.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', ns.metadata.annotations);
  w.write(0, `Status:\t${ns.status?.phase ?? ''}\n`);
  w.write(0, '\nNo resource quota.\n');
  w.write(0, '\nNo LimitRange resource.\n');
};

const describeConfigMap: Describer = (w, cm, related, now) => {
  w.write(0, `Name:\t${cm.metadata.name}\n`);
  w.write(0, `Namespace:\t${cm.metadata.namespace ?? ''}\n`);
  printLabelsMultiline(w, 'Labels', cm.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', cm.metadata.annotations);
  w.write(0, '\nData\n====\n');
  for (const k of Object.keys(cm.data ?? {}).sort()) {
    w.write(0, `${k}:\n----\n`);
    w.write(0, `${cm.data[k]}\n`);
    w.write(0, '\n');
  }
  w.write(0, '\nBinaryData\n====\n');
  for (const k of Object.keys(cm.binaryData ?? {}).sort()) {
    w.write(0, `${k}: ${Buffer.from(String(cm.binaryData[k]), 'base64').length} bytes\n`);
  }
  w.write(0, '\n');
  describeEvents(w, related.events, now);
};

const describeSecret: Describer = (w, secret) => {
  w.write(0, `Name:\t${secret.metadata.name}\n`);
  w.write(0, `Namespace:\t${secret.metadata.namespace ?? ''}\n`);
  printLabelsMultiline(w, 'Labels', secret.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', secret.metadata.annotations);
  w.write(0, `\nType:\t${secret.type ?? ''}\n`);
  w.write(0, '\nData\n====\n');
  for (const k of Object.keys(secret.data ?? {}).sort()) {
    const bytes = Buffer.from(String(secret.data[k]), 'base64');
    if (k === 'token' && secret.type === 'kubernetes.io/service-account-token') w.write(0, `${k}:\t${bytes.toString('utf8')}\n`);
    else w.write(0, `${k}:\t${bytes.length} bytes\n`);
  }
};

const describeServiceAccount: Describer = (w, sa, related, now) => {
  w.write(0, `Name:\t${sa.metadata.name}\n`);
  w.write(0, `Namespace:\t${sa.metadata.namespace ?? ''}\n`);
  printLabelsMultiline(w, 'Labels', sa.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', sa.metadata.annotations);
  const names = (list: any[] | undefined) => (list ?? []).map((s) => s.name);
  for (const [title, list] of [
    ['Image pull secrets', names(sa.imagePullSecrets)],
    ['Mountable secrets', names(sa.secrets)],
    ['Tokens', [] as string[]],
  ] as const) {
    w.write(0, `${title}:\t${list.length ? list[0] : '<none>'}\n`);
    for (const name of list.slice(1)) w.write(0, `\t${name}\n`);
  }
  describeEvents(w, related.events, now);
};

const describeEndpoints: Describer = (w, ep, related, now) => {
  w.write(0, `Name:\t${ep.metadata.name}\n`);
  w.write(0, `Namespace:\t${ep.metadata.namespace ?? ''}\n`);
  printLabelsMultiline(w, 'Labels', ep.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', ep.metadata.annotations);
  w.write(0, 'Subsets:\n');
  for (const ss of ep.subsets ?? []) {
    const ips = (list: any[] | undefined) => (list ?? []).map((a) => a.ip).join(',');
    w.write(1, `Addresses:\t${ips(ss.addresses)}\n`);
    w.write(1, `NotReadyAddresses:\t${ips(ss.notReadyAddresses)}\n`);
    if (ss.ports?.length) {
      w.write(1, 'Ports:\n');
      w.write(2, 'Name\tPort\tProtocol\n');
      w.write(2, '----\t----\t--------\n');
      for (const p of ss.ports) w.write(2, `${p.name || '<unset>'}\t${p.port}\t${p.protocol ?? 'TCP'}\n`);
    }
    w.write(0, '\n');
  }
  describeEvents(w, related.events, now);
};

/** kubectl's smartLabelFor: `holderIdentity` → `Holder Identity`, `apiVersion` → `API Version`. */
function smartLabel(field: string): string {
  if (/[^A-Za-z-]/.test(field)) return field;
  const parts = field.split(/(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/);
  return parts
    .map((p) => {
      if (['API', 'URL', 'UID', 'GUID'].includes(p.toUpperCase())) return p.toUpperCase();
      return p === p.toLowerCase() ? p.charAt(0).toUpperCase() + p.slice(1) : p;
    })
    .join(' ');
}

const SKIPPED_FIELDS = new Set(['.metadata.managedFields', '.metadata.name', '.metadata.namespace', '.metadata.labels', '.metadata.annotations']);

function describeUnstructured(w: DescribeWriter, level: number, content: Record<string, unknown>, prefix: string): void {
  for (const field of Object.keys(content).sort()) {
    const path = `${prefix}.${field}`;
    if (SKIPPED_FIELDS.has(path)) continue;
    const value = content[field];
    if (Array.isArray(value)) {
      w.write(level, `${smartLabel(field)}:\n`);
      for (const item of value) {
        if (item && typeof item === 'object') describeUnstructured(w, level + 1, item as Record<string, unknown>, path);
        else w.write(level + 1, `${item}\n`);
      }
    } else if (value && typeof value === 'object') {
      w.write(level, `${smartLabel(field)}:\n`);
      describeUnstructured(w, level + 1, value as Record<string, unknown>, path);
    } else {
      w.write(level, `${smartLabel(field)}:\t${value}\n`);
    }
  }
}

/** kubectl's generic describer for kinds without a dedicated one: every field, labelled. */
const describeGeneric: Describer = (w, obj, related, now) => {
  w.write(0, `Name:\t${obj.metadata.name}\n`);
  w.write(0, `Namespace:\t${obj.metadata.namespace ?? ''}\n`);
  printLabelsMultiline(w, 'Labels', obj.metadata.labels);
  printAnnotationsMultiline(w, 'Annotations', obj.metadata.annotations);
  describeUnstructured(w, 0, obj as Record<string, unknown>, '');
  describeEvents(w, related.events, now);
};

const describers: Record<string, Describer> = {
  Pod: describePod,
  Node: describeNode,
  Deployment: describeDeployment,
  ReplicaSet: describeReplicaSet,
  DaemonSet: describeDaemonSet,
  Service: describeService,
  Namespace: describeNamespace,
  ConfigMap: describeConfigMap,
  Secret: describeSecret,
  ServiceAccount: describeServiceAccount,
  Endpoints: describeEndpoints,
};

/** `mk describe` text for one object, in kubectl's layout; ends with a newline. */
export function renderDescription(obj: KubeObject, related: DescribeRelated, now: number): string {
  const w = new DescribeWriter();
  (describers[obj.kind] ?? describeGeneric)(w, obj, related, now);
  return w.toString();
}
