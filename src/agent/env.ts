import { quantityMilliValue, quantityValue } from '../api/quantity';
import type { KubeObject } from '../api/types';

/**
 * A container's environment as the kubelet builds it (makeEnvironmentVariables):
 * `envFrom` sources first, then `env` in order, where a `value` may refer
 * to variables defined before it with `$(NAME)`; then `$(NAME)` in command
 * and args is expanded against the result. ConfigMaps and Secrets come
 * through the `ObjectReader` (the agent's informer-backed cache).
 */

/** Reads a ConfigMap or Secret; undefined when it does not exist. */
export type ObjectReader = (kind: 'ConfigMap' | 'Secret', namespace: string, name: string) => Promise<KubeObject | undefined>;

export interface EnvContext {
  pod: KubeObject;
  podIPs: string[];
  hostIPs: string[];
  /** The node's allocatable resources: what an unset limit means for resourceFieldRef. */
  allocatable: { cpu: string | number; memory: string | number; 'ephemeral-storage'?: string | number };
  read: ObjectReader;
  /**
   * The Services' variables (service-env.ts): `$(NAME)` in values may refer
   * to them, and those the container does not define itself are added last.
   */
  serviceEnv?: ReadonlyMap<string, string>;
}

/** The container cannot be configured yet (kubelet: CreateContainerConfigError); the message is the kubelet's. */
export class ContainerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

export interface ResolvedEnv {
  env: Array<{ name: string; value: string }>;
  /** Problems worth an event that do not stop the container (invalid envFrom keys). */
  warnings: Array<{ reason: string; message: string }>;
}

const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** The data of a ConfigMap or Secret as strings (Secret values and binaryData are base64). */
export function objectData(obj: KubeObject): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  if (obj.kind === 'Secret') {
    for (const [k, v] of Object.entries(obj.data ?? {})) out[k] = Buffer.from(String(v), 'base64');
    for (const [k, v] of Object.entries(obj.stringData ?? {})) out[k] = Buffer.from(String(v), 'utf8');
  } else {
    for (const [k, v] of Object.entries(obj.data ?? {})) out[k] = Buffer.from(String(v), 'utf8');
    for (const [k, v] of Object.entries(obj.binaryData ?? {})) out[k] = Buffer.from(String(v), 'base64');
  }
  return out;
}

function notFoundMessage(kind: 'ConfigMap' | 'Secret', name: string): string {
  return `${kind === 'ConfigMap' ? 'configmap' : 'secret'} "${name}" not found`;
}

export async function resolveEnv(container: any, ctx: EnvContext): Promise<ResolvedEnv> {
  const namespace = ctx.pod.metadata.namespace ?? 'default';
  const vars = new Map<string, string>();
  const warnings: ResolvedEnv['warnings'] = [];

  for (const from of container.envFrom ?? []) {
    const kind = from.configMapRef ? 'ConfigMap' : from.secretRef ? 'Secret' : undefined;
    if (!kind) continue;
    const ref = from.configMapRef ?? from.secretRef;
    const obj = await ctx.read(kind, namespace, ref.name);
    if (!obj) {
      if (ref.optional) continue;
      throw new ContainerConfigError(notFoundMessage(kind, ref.name));
    }
    const invalid: string[] = [];
    for (const [key, value] of Object.entries(objectData(obj))) {
      const name = (from.prefix ?? '') + key;
      if (!ENV_VAR_NAME.test(name)) {
        invalid.push(name);
        continue;
      }
      vars.set(name, value.toString('utf8'));
    }
    if (invalid.length) {
      warnings.push({
        reason: 'InvalidEnvironmentVariableNames',
        message: `Keys [${invalid.sort().join(', ')}] from the EnvFrom ${kind === 'ConfigMap' ? 'configMap' : 'secret'} ${namespace}/${ref.name} were skipped since they are considered invalid environment variable names.`,
      });
    }
  }

  for (const e of container.env ?? []) {
    const from = e.valueFrom;
    if (!from) {
      vars.set(e.name, expand(e.value ?? '', (n) => vars.get(n) ?? ctx.serviceEnv?.get(n)));
      continue;
    }
    if (from.fieldRef) {
      vars.set(e.name, fieldPathValue(ctx.pod, from.fieldRef.fieldPath, ctx));
    } else if (from.resourceFieldRef) {
      vars.set(e.name, resourceFieldValue(ctx.pod, container, from.resourceFieldRef, ctx.allocatable));
    } else if (from.configMapKeyRef || from.secretKeyRef) {
      const kind = from.configMapKeyRef ? 'ConfigMap' : 'Secret';
      const ref = from.configMapKeyRef ?? from.secretKeyRef;
      const obj = await ctx.read(kind, namespace, ref.name);
      if (!obj) {
        if (ref.optional) continue;
        throw new ContainerConfigError(notFoundMessage(kind, ref.name));
      }
      const value = objectData(obj)[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`);
      }
      vars.set(e.name, value.toString('utf8'));
    }
  }
  for (const [name, value] of ctx.serviceEnv ?? []) if (!vars.has(name)) vars.set(name, value);
  return { env: [...vars].map(([name, value]) => ({ name, value })), warnings };
}

/** `$(NAME)` in command and args, against the container's final environment. */
export function expandArgs(args: string[] | undefined, env: Array<{ name: string; value: string }>): string[] | undefined {
  if (!args) return undefined;
  const vars = new Map(env.map((e) => [e.name, e.value]));
  return args.map((a) => expand(String(a), (n) => vars.get(n)));
}

/**
 * Kubernetes' variable expansion (third_party/forked/golang/expansion):
 * `$(NAME)` becomes the value when NAME is defined and stays as written
 * otherwise; `$$` is an escaped `$`; any other `$` is kept.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    let advance = 1;
    if (next === '$') {
      out += '$';
    } else if (next === '(') {
      const close = input.indexOf(')', cursor + 2);
      if (close < 0) {
        out += '$(';
      } else {
        const name = input.slice(cursor + 2, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close - cursor;
      }
    } else {
      out += '$' + next;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}="${String(m![k]).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
    .join('\n');
}

/** The value of a downward-API field path (env fieldRef, downwardAPI volume items). */
export function fieldPathValue(pod: KubeObject, fieldPath: string, ctx: { podIPs: string[]; hostIPs: string[] }): string {
  const subscript = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (subscript) return (pod.metadata[subscript[1] as 'labels' | 'annotations'] ?? {})[subscript[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'metadata.labels':
      return formatMap(pod.metadata.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
      return ctx.hostIPs[0] ?? '';
    case 'status.hostIPs':
      return ctx.hostIPs.join(',');
    case 'status.podIP':
      return ctx.podIPs[0] ?? '';
    case 'status.podIPs':
      return ctx.podIPs.join(',');
    default:
      throw new ContainerConfigError(`unsupported fieldPath: ${fieldPath}`);
  }
}

/**
 * A resourceFieldRef's value: the container's limit (the node's allocatable
 * when unset) or request, divided by the divisor and rounded up.
 */
export function resourceFieldValue(pod: KubeObject, self: any, ref: any, allocatable: EnvContext['allocatable']): string {
  const container = ref.containerName
    ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c: any) => c.name === ref.containerName)
    : self;
  if (!container) throw new ContainerConfigError(`container ${ref.containerName} not found`);
  const [kind, resource] = String(ref.resource).split('.', 2) as ['limits' | 'requests', string];
  let q = container.resources?.[kind]?.[resource];
  if (q === undefined && kind === 'limits') q = (allocatable as Record<string, string | number | undefined>)[resource];
  if (q === undefined) q = 0;
  const divisor = ref.divisor ?? '1';
  if (resource === 'cpu') {
    const d = quantityMilliValue(divisor) || 1;
    return String(Math.ceil(quantityMilliValue(q) / d));
  }
  if (resource === 'memory' || resource === 'ephemeral-storage') {
    const d = quantityValue(divisor) || 1;
    return String(Math.ceil(quantityValue(q) / d));
  }
  throw new ContainerConfigError(`unsupported container resource : ${resource}`);
}
