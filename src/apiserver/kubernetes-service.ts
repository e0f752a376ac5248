import * as os from 'node:os';
import { clusterConfigMap, CLUSTER_CONFIG_NAME, CLUSTER_CONFIG_NAMESPACE, type ClusterConfig } from '../api/cluster-config';
import { kubernetesServiceIP } from '../api/ipalloc';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';

/**
 * What kube-apiserver's bootstrap controller keeps in place at every start:
 * the `kubernetes` Service in `default` (the first address of the service
 * CIDR, port 443 named https) with an Endpoints object naming the API
 * servers (endpoint-reconciler.ts), so pods reach the API at
 * https://kubernetes.default.svc. The Service has no selector: the
 * endpoints controller leaves its Endpoints alone.
 */

const SERVICES = resolveResourceName('services')!;
const CONFIGMAPS = resolveResourceName('configmaps')!;

export const KUBERNETES_SERVICE = 'kubernetes';

export interface KubernetesServiceOptions {
  serviceCidr: string;
  /** The API server's port. */
  port: number;
}

/**
 * The address to publish for an API server bound to `bindAddress`: itself,
 * or for a wildcard the host's first non-loopback IPv4 address (what
 * kube-apiserver's --advertise-address defaults to), else loopback.
 */
export function advertiseAddress(bindAddress: string): string {
  if (bindAddress !== '0.0.0.0' && bindAddress !== '::' && bindAddress !== '') return bindAddress;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

async function getOrUndefined(client: KubeClient, rt: typeof SERVICES, namespace: string, name: string): Promise<KubeObject | undefined> {
  try {
    return await client.get(rt, namespace, name);
  } catch (err) {
    if (ApiStatusError.isNotFound(err)) return undefined;
    throw err;
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Creates or repairs the `kubernetes` Service (its Endpoints, which list
 * every API server, are the EndpointReconciler's). A Service left with
 * another cluster IP (the service CIDR changed) is recreated. Returns
 * warnings for what could not be put right.
 */
export async function reconcileKubernetesService(client: KubeClient, opts: KubernetesServiceOptions): Promise<string[]> {
  const warnings: string[] = [];
  const ip = kubernetesServiceIP(opts.serviceCidr);
  const labels = { component: 'apiserver', provider: 'kubernetes' };
  const ports = [{ name: 'https', protocol: 'TCP', port: 443, targetPort: opts.port }];
  const wanted: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: KUBERNETES_SERVICE, namespace: 'default', labels },
    spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], sessionAffinity: 'None', ports },
  };

  try {
    await retryRaces(async () => {
      let svc = await getOrUndefined(client, SERVICES, 'default', KUBERNETES_SERVICE);
      if (svc && svc.spec?.clusterIP !== ip) {
        await client.delete(SERVICES, 'default', KUBERNETES_SERVICE, { preconditions: { uid: svc.metadata.uid } }).catch((err) => {
          if (!ApiStatusError.isNotFound(err)) throw err;
        });
        svc = undefined;
      }
      if (!svc) {
        await client.create(SERVICES, wanted);
      } else {
        const portsNow = (svc.spec?.ports ?? []).map((p: any) => ({ name: p.name, protocol: p.protocol, port: p.port, targetPort: p.targetPort }));
        if (!same(portsNow, ports) || svc.spec?.type !== 'ClusterIP' || !same(svc.metadata.labels ?? {}, { ...(svc.metadata.labels ?? {}), ...labels })) {
          await client.patch(SERVICES, 'default', KUBERNETES_SERVICE, { metadata: { labels }, spec: { type: 'ClusterIP', ports } }, 'merge');
        }
      }
      // 422: the address is taken, by the same Service another server is creating at this moment.
    }, (err) => err instanceof ApiStatusError && err.code === 422);
  } catch (err) {
    if (!(err instanceof ApiStatusError)) throw err;
    warnings.push(`cannot create the kubernetes service: ${err.message}`);
  }

  return warnings;
}

/** Writes the cluster settings agents read (`kube-system/mk-cluster`), when they changed. */
export async function publishClusterConfig(client: KubeClient, config: ClusterConfig): Promise<void> {
  const wanted = clusterConfigMap(config);
  await retryRaces(async () => {
    const cm = await getOrUndefined(client, CONFIGMAPS, CLUSTER_CONFIG_NAMESPACE, CLUSTER_CONFIG_NAME);
    if (!cm) await client.create(CONFIGMAPS, wanted);
    else if (!same(cm.data, wanted.data)) await client.update(CONFIGMAPS, { ...cm, data: wanted.data });
  });
}

/**
 * Runs a read-then-write again when another server of the cluster, starting
 * at the same time, wrote first (AlreadyExists or Conflict): the next read
 * sees its write, once this server's watch cache has it.
 */
async function retryRaces(fn: () => Promise<void>, alsoRetry: (err: unknown) => boolean = () => false): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const raced = ApiStatusError.isAlreadyExists(err) || ApiStatusError.isConflict(err) || alsoRetry(err);
      if (!raced || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}
