import type { KubeObject } from './types';

/**
 * Cluster-wide settings a node agent needs but cannot derive from its own
 * flags: the service CIDR (for the proxy), the cluster DNS address and
 * domain (for pods' resolv.conf), the node port range. `mk server` writes
 * them at every start into the ConfigMap `kube-system/mk-cluster`, the way
 * kubeadm publishes its ClusterConfiguration in `kube-system/kubeadm-config`;
 * agents read it through the API like anything else.
 */

export const CLUSTER_CONFIG_NAMESPACE = 'kube-system';
export const CLUSTER_CONFIG_NAME = 'mk-cluster';
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

export interface ClusterConfig {
  /** `10.43.0.0/16` */
  serviceCIDR: string;
  /** `30000-32767` */
  serviceNodePortRange: string;
  /** `10.43.0.10` */
  clusterDNS: string;
  /** `cluster.local` */
  clusterDomain: string;
}

/** The ConfigMap that carries `config`. */
export function clusterConfigMap(config: ClusterConfig): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CLUSTER_CONFIG_NAME, namespace: CLUSTER_CONFIG_NAMESPACE },
    data: { ...config },
  };
}

/** Reads the settings back from the ConfigMap; undefined when it lacks the service CIDR. */
export function parseClusterConfig(cm: KubeObject | undefined): ClusterConfig | undefined {
  const data = cm?.data;
  if (!data || typeof data.serviceCIDR !== 'string' || !data.serviceCIDR) return undefined;
  return {
    serviceCIDR: data.serviceCIDR,
    serviceNodePortRange: data.serviceNodePortRange ?? '',
    clusterDNS: data.clusterDNS ?? '',
    clusterDomain: data.clusterDomain || DEFAULT_CLUSTER_DOMAIN,
  };
}
