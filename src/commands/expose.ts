import { Args, Flags } from '@oclif/core';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { BaseCommand, UsageError } from '../cli/base-command';
import { kindName, renderObject } from '../cli/printer';

/** What `mk expose` was asked for, besides the object to expose. */
export interface ExposeOptions {
  name?: string;
  /** `--port`: one port, or several separated by commas. */
  port?: string;
  targetPort?: string;
  protocol?: string;
  type?: string;
  /** `--selector`: `k=v,k2=v2`. */
  selector?: string;
  /** `--labels`: `k=v,k2=v2`; default the exposed object's labels. */
  labels?: string;
  clusterIP?: string;
  externalIP?: string;
  sessionAffinity?: string;
}

const EXPOSABLE = ['pods', 'services', 'replicationcontrollers', 'deployments', 'replicasets'];
const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];

/** Parses `k=v,k2=v2` (kubectl's map-based selector and label syntax). */
function parseMap(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^=!]+)==?(.*)$/.exec(part);
    if (!m) throw new UsageError(`invalid ${what} "${part}": expected key=value`);
    out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}

/** MapBasedSelectorForObject: the label map that selects the pods behind `obj`. */
function selectorFor(obj: KubeObject): Record<string, string> {
  switch (obj.kind) {
    case 'Pod': {
      const labels = obj.metadata.labels ?? {};
      if (!Object.keys(labels).length) throw new UsageError(`couldn't retrieve selectors via --selector flag or introspection: the pod has no labels and cannot be exposed`);
      return labels;
    }
    case 'Service': {
      const sel = obj.spec?.selector ?? {};
      if (!Object.keys(sel).length) throw new UsageError(`couldn't retrieve selectors via --selector flag or introspection: the service has no pod selector set`);
      return sel;
    }
    case 'ReplicationController':
      return obj.spec?.selector ?? {};
    default: {
      const sel = obj.spec?.selector ?? {};
      if (sel.matchExpressions?.length) {
        throw new UsageError(`couldn't retrieve selectors via --selector flag or introspection: couldn't convert expressions - "${JSON.stringify(sel.matchExpressions)}" to map-based selector format`);
      }
      return sel.matchLabels ?? {};
    }
  }
}

/** The ports (and their protocols) an object offers: its pods' container ports, or a service's ports. */
function portsFor(obj: KubeObject): Array<{ port: number; protocol: string }> {
  if (obj.kind === 'Service') return (obj.spec?.ports ?? []).map((p: any) => ({ port: p.port, protocol: p.protocol ?? 'TCP' }));
  const podSpec = obj.kind === 'Pod' ? obj.spec : obj.spec?.template?.spec;
  const out: Array<{ port: number; protocol: string }> = [];
  for (const c of podSpec?.containers ?? []) for (const p of c.ports ?? []) out.push({ port: p.containerPort, protocol: p.protocol ?? 'TCP' });
  return out;
}

function intOrString(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value;
}

/**
 * The Service `kubectl expose` makes for `source` (its generator, service/v2):
 * selector from the object (or --selector), ports from --port or from the
 * object's container/service ports (several are named port-1, port-2, ...),
 * targetPort from --target-port or equal to the port, labels copied from the
 * object unless --labels says otherwise.
 */
export function exposedService(source: KubeObject, opts: ExposeOptions): KubeObject {
  const selector = opts.selector ? parseMap(opts.selector, 'selector') : selectorFor(source);
  const introspected = portsFor(source);
  let ports: Array<{ port: number; protocol?: string }>;
  if (opts.port) {
    ports = opts.port.split(',').map((p) => {
      if (!/^\d+$/.test(p.trim())) throw new UsageError(`invalid port "${p}": must be a number`);
      const port = Number(p.trim());
      return { port, protocol: introspected.find((i) => i.port === port)?.protocol };
    });
  } else {
    ports = introspected;
  }
  if (!ports.length) throw new UsageError("couldn't find port via --port flag or introspection");
  if (opts.type && !SERVICE_TYPES.includes(opts.type)) {
    throw new UsageError(`invalid service type "${opts.type}": supported values: ${SERVICE_TYPES.join(', ')}`);
  }

  const servicePorts = ports.map((p, i) => {
    const sp: Record<string, unknown> = {};
    if (ports.length > 1) sp.name = `port-${i + 1}`;
    sp.port = p.port;
    sp.protocol = opts.protocol || p.protocol || 'TCP';
    sp.targetPort = opts.targetPort ? intOrString(opts.targetPort) : p.port;
    return sp;
  });
  const labels = opts.labels ? parseMap(opts.labels, 'label') : { ...(source.metadata.labels ?? {}) };
  const spec: Record<string, unknown> = { ports: servicePorts, selector };
  if (opts.type) spec.type = opts.type;
  if (opts.clusterIP) spec.clusterIP = opts.clusterIP;
  if (opts.externalIP) spec.externalIPs = opts.externalIP.split(',').map((s) => s.trim()).filter(Boolean);
  if (opts.sessionAffinity) spec.sessionAffinity = opts.sessionAffinity;
  const metadata: KubeObject['metadata'] = { name: opts.name || source.metadata.name };
  if (Object.keys(labels).length) metadata.labels = labels;
  return { apiVersion: 'v1', kind: 'Service', metadata, spec };
}

export default class Expose extends BaseCommand<typeof Expose> {
  static summary = 'Take a replication controller, service, deployment or pod and expose it as a new Kubernetes service.';

  static description = `Creates a Service that selects the pods of the given object, like kubectl expose: the selector is the
object's (a Deployment's or ReplicaSet's spec.selector.matchLabels, a pod's labels, a service's selector)
unless --selector is given, and the ports are --port, or else the ports the object's containers declare.`;

  static examples = [
    '<%= config.bin %> expose deployment web --port=80 --target-port=8080',
    '<%= config.bin %> expose deployment/web --port=80 --type=NodePort --name=web-public',
    '<%= config.bin %> expose pod db --port=5432 --cluster-ip=None',
  ];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND NAME or KIND/NAME (pod, service, deployment, replicaset, replicationcontroller)', required: true }),
  };

  static flags = {
    port: Flags.string({ summary: 'The port(s) the service serves on, comma-separated. Default: the ports the exposed object declares.' }),
    'target-port': Flags.string({ summary: 'Name or number of the port on the pods the service directs traffic to. Default: the service port.' }),
    protocol: Flags.string({ summary: 'The network protocol of the service: TCP (default), UDP or SCTP.' }),
    type: Flags.string({ summary: 'Type of the service: ClusterIP (default), NodePort, LoadBalancer or ExternalName.' }),
    name: Flags.string({ summary: 'The name of the new service. Default: the name of the exposed object.' }),
    selector: Flags.string({ char: 'l', summary: 'A label selector (k=v,k2=v2) for the service, instead of the object\'s own.' }),
    labels: Flags.string({ summary: 'Labels of the service (k=v,k2=v2). Default: the exposed object\'s labels.' }),
    'cluster-ip': Flags.string({ summary: 'The cluster IP to ask for; "None" makes a headless service.' }),
    'external-ip': Flags.string({ summary: 'Additional external IP addresses the service accepts traffic on (comma-separated).' }),
    'session-affinity': Flags.string({ summary: 'None (default) or ClientIP.', options: ['None', 'ClientIP'] }),
    'dry-run': Flags.string({ summary: 'client: only print the service that would be created.', options: ['none', 'client'], default: 'none' }),
    output: Flags.string({ char: 'o', summary: 'Print the service as yaml or json, or its name.', options: ['yaml', 'json', 'name'] }),
  };

  public async run(): Promise<KubeObject> {
    let kind: string | undefined;
    let name: string | undefined;
    if (this.positional[0]?.includes('/')) [kind, name] = this.positional[0].split('/');
    else [kind, name] = this.positional;
    if (!kind) throw new UsageError('You must provide one or more resources by argument or filename.');
    if (!name) throw new UsageError('resource(s) were provided, but no name was specified');
    const rt = this.resourceType(kind);
    if (!EXPOSABLE.includes(rt.plural) || (rt.group !== '' && rt.group !== 'apps')) throw new UsageError(`cannot expose a ${rt.kind}`);

    const ns = this.namespace();
    const client = this.client();
    const source = await client.get(rt, ns, name);
    const svc = exposedService(source, {
      name: this.flags.name,
      port: this.flags.port,
      targetPort: this.flags['target-port'],
      protocol: this.flags.protocol,
      type: this.flags.type,
      selector: this.flags.selector,
      labels: this.flags.labels,
      clusterIP: this.flags['cluster-ip'],
      externalIP: this.flags['external-ip'],
      sessionAffinity: this.flags['session-affinity'],
    });
    svc.metadata.namespace = ns;

    const dryRun = this.flags['dry-run'];
    const services = resolveResourceName('services')!;
    const result = dryRun === 'client' ? svc : await client.create(services, svc);
    const output = this.flags.output;
    if (output === 'yaml' || output === 'json') this.log(renderObject(result, output).trimEnd());
    else if (output === 'name') this.log(`${kindName(services)}/${result.metadata.name}`);
    else this.log(`${kindName(services)}/${result.metadata.name} exposed${dryRun === 'none' ? '' : ` (${dryRun} dry run)`}`);
    return result;
  }
}
