import { createHash } from 'node:crypto';
import { quantityMilliValue, quantityValue } from '../api/quantity';
import type { KubeObject } from '../api/types';
import { canonicalJson } from './json';
import { LABELS, type ContainerConfig, type Mount, type PortMapping, type PullPolicy, type SandboxConfig } from './runtime/runtime';

/**
 * Turning a pod's spec into what the runtime is asked for: the sandbox
 * config, each container's config and identity labels, and the spec hash
 * that tells a container apart from a later edit of the pod.
 */

export type ContainerType = 'init' | 'app';

/** The pull policy a container asks for; the API server defaults it, this covers objects that skipped defaulting. */
export function pullPolicy(container: any): PullPolicy {
  if (container.imagePullPolicy) return container.imagePullPolicy;
  const image = String(container.image ?? '').split('@')[0];
  const colon = image.lastIndexOf(':');
  const tag = colon > image.lastIndexOf('/') ? image.slice(colon + 1) : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** A short hash of the container's spec; a different hash on a running container means the pod was edited. */
export function containerHash(container: any): string {
  return createHash('sha256').update(canonicalJson(container)).digest('hex').slice(0, 16);
}

/** Identity labels shared by a pod's sandbox and containers. */
export function podLabels(pod: KubeObject, nodeName: string): Record<string, string> {
  return {
    [LABELS.node]: nodeName,
    [LABELS.podUid]: pod.metadata.uid!,
    [LABELS.podName]: pod.metadata.name!,
    [LABELS.podNamespace]: pod.metadata.namespace ?? 'default',
  };
}

/** `dns` is the pod's resolv.conf as podDnsConfig decided it (undefined: the runtime's default). */
export function sandboxConfig(pod: KubeObject, nodeName: string, dns?: SandboxConfig['dns']): SandboxConfig {
  const spec = pod.spec ?? {};
  return {
    podUid: pod.metadata.uid!,
    name: pod.metadata.name!,
    namespace: pod.metadata.namespace ?? 'default',
    hostname: String(spec.hostname || pod.metadata.name).slice(0, 63),
    labels: { ...podLabels(pod, nodeName), [LABELS.role]: 'sandbox' },
    portMappings: portMappings(pod),
    dns,
    hostAliases: spec.hostAliases?.length
      ? spec.hostAliases.map((a: any) => ({ ip: a.ip, hostnames: [...(a.hostnames ?? [])] }))
      : undefined,
  };
}

/** The hostPorts of all the pod's containers: the sandbox publishes them. */
export function portMappings(pod: KubeObject): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol ?? 'TCP', ...(p.hostIP ? { hostIP: p.hostIP } : {}) });
    }
  }
  return out;
}

export interface ContainerConfigInput {
  nodeName: string;
  type: ContainerType;
  attempt: number;
  env: Array<{ name: string; value: string }>;
  command?: string[];
  args?: string[];
  mounts: Mount[];
}

export function containerConfig(pod: KubeObject, container: any, input: ContainerConfigInput): ContainerConfig {
  const podSc = pod.spec?.securityContext ?? {};
  const sc = container.securityContext ?? {};
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  return {
    name: container.name,
    image: container.image,
    command: input.command,
    args: input.args,
    env: input.env,
    workingDir: container.workingDir || undefined,
    mounts: input.mounts,
    resources: {
      cpuMilli: limits.cpu !== undefined ? quantityMilliValue(limits.cpu) : undefined,
      memoryBytes: limits.memory !== undefined ? quantityValue(limits.memory) : undefined,
      cpuRequestMilli: requests.cpu !== undefined ? quantityMilliValue(requests.cpu) : undefined,
    },
    securityContext: {
      runAsUser: num(sc.runAsUser) ?? num(podSc.runAsUser),
      runAsGroup: num(sc.runAsGroup) ?? num(podSc.runAsGroup),
      privileged: sc.privileged === true ? true : sc.privileged === false ? false : undefined,
      readOnlyRootFilesystem: sc.readOnlyRootFilesystem === true ? true : undefined,
    },
    stdin: container.stdin || undefined,
    stdinOnce: container.stdinOnce || undefined,
    tty: container.tty || undefined,
    labels: {
      ...podLabels(pod, input.nodeName),
      [LABELS.role]: 'container',
      [LABELS.containerName]: container.name,
      [LABELS.attempt]: String(input.attempt),
      [LABELS.containerType]: input.type,
      [LABELS.specHash]: containerHash(container),
    },
  };
}
