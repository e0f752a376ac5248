import type { KubeObject } from '../api/types';

/**
 * The Docker-link-style variables the kubelet gives every container for the
 * Services it can see (pkg/kubelet/envvars): `WEB_SERVICE_HOST`,
 * `WEB_SERVICE_PORT`, `WEB_SERVICE_PORT_<NAME>` for named ports, and
 * `WEB_PORT`, `WEB_PORT_80_TCP{,_PROTO,_PORT,_ADDR}`.
 *
 * Which Services (the kubelet's getServiceEnvVarMap): those of the pod's
 * namespace when `enableServiceLinks` is true (the default), and always the
 * `kubernetes` Service of `default`, so every pod can find the API server.
 * Only Services with a cluster IP count (not headless, not ExternalName).
 * They are the Services that exist when the container is created: a Service
 * created later reaches the pod by DNS, not by environment.
 */

/** Services of the default namespace every pod gets variables for (the kubelet's masterServices). */
const MASTER_SERVICES = new Set(['kubernetes']);

function hasClusterIP(svc: KubeObject): boolean {
  const ip = svc.spec?.clusterIP;
  return typeof ip === 'string' && ip !== '' && ip !== 'None';
}

function envName(name: string): string {
  return name.replace(/-/g, '_').toUpperCase();
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The variables of one Service, in the kubelet's order. */
export function serviceEnvVars(svc: KubeObject): Array<{ name: string; value: string }> {
  if (!hasClusterIP(svc)) return [];
  const ports: any[] = svc.spec?.ports ?? [];
  if (!ports.length) return [];
  const ip: string = svc.spec.clusterIP;
  const prefix = envName(svc.metadata.name!);
  const out: Array<{ name: string; value: string }> = [
    { name: `${prefix}_SERVICE_HOST`, value: ip },
    { name: `${prefix}_SERVICE_PORT`, value: String(ports[0].port) },
  ];
  for (const p of ports) {
    if (p.name) out.push({ name: `${prefix}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
  }
  ports.forEach((p, i) => {
    const protocol = String(p.protocol || 'TCP');
    const url = `${protocol.toLowerCase()}://${hostPort(ip, p.port)}`;
    if (i === 0) out.push({ name: `${prefix}_PORT`, value: url });
    const portPrefix = `${prefix}_PORT_${p.port}_${protocol.toUpperCase()}`;
    out.push(
      { name: portPrefix, value: url },
      { name: `${portPrefix}_PROTO`, value: protocol.toLowerCase() },
      { name: `${portPrefix}_PORT`, value: String(p.port) },
      { name: `${portPrefix}_ADDR`, value: ip },
    );
  });
  return out;
}

/** The service variables of a pod, given every Service the agent knows. */
export function serviceEnvForPod(pod: KubeObject, services: Iterable<KubeObject>): Map<string, string> {
  const namespace = pod.metadata.namespace ?? 'default';
  const links = pod.spec?.enableServiceLinks !== false;
  const chosen = new Map<string, KubeObject>();
  for (const svc of services) {
    if (!hasClusterIP(svc)) continue;
    const name = svc.metadata.name!;
    if (svc.metadata.namespace === 'default' && MASTER_SERVICES.has(name)) {
      if (!chosen.has(name)) chosen.set(name, svc);
    } else if (svc.metadata.namespace === namespace && links) {
      chosen.set(name, svc);
    }
  }
  const vars = new Map<string, string>();
  for (const svc of chosen.values()) for (const v of serviceEnvVars(svc)) vars.set(v.name, v.value);
  return vars;
}
