import { Args, Flags } from '@oclif/core';
import { lookupResource, type ResourceType } from '../api/registry';
import { labelSelectorString } from '../api/columns';
import type { KubeObject } from '../api/types';
import { ApiStatusError } from '../client/api-client';
import { AlreadyReportedError, BaseCommand, UsageError } from '../cli/base-command';
import { noResourcesMessage, renderDescription, type DescribeRelated } from '../cli/printer';

export interface DescribeResult {
  /** The objects described, in order. */
  objects: KubeObject[];
  failures: number;
}

/** A kind a describer needs for related objects (pods of a node, events...), if mk serves it. */
function served(plural: string, group = ''): ResourceType | undefined {
  return lookupResource(group, 'v1', plural);
}

export default class Describe extends BaseCommand<typeof Describe> {
  static summary = 'Show details of a specific resource or group of resources.';

  static description = `Prints a detailed description of the objects, including related objects and the events about them, like kubectl describe.

With KIND NAME, an object named exactly NAME is described; failing that, every object whose name starts with NAME.`;

  static examples = [
    '<%= config.bin %> describe pod web',
    '<%= config.bin %> describe deploy/web',
    '<%= config.bin %> describe nodes',
    '<%= config.bin %> describe pods -l app=web',
  ];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND [NAME_PREFIX...], or KIND/NAME...', required: true }),
  };

  static flags = {
    selector: Flags.string({ char: 'l', summary: 'Label selector to filter on.' }),
    'all-namespaces': Flags.boolean({ char: 'A', summary: 'Describe matching objects across all namespaces.' }),
    'show-events': Flags.boolean({ summary: 'Show the events about the object.', default: true, allowNo: true }),
  };

  public async run(): Promise<DescribeResult> {
    const objects: Array<{ rt: ResourceType; obj: KubeObject }> = [];
    let failures = 0;

    const targets = this.targets();
    for (const { rt, name } of targets) {
      const namespace = rt.namespaced && !this.flags['all-namespaces'] ? this.namespace() : undefined;
      if (name === undefined) {
        const list = await this.client().list(rt, namespace, { labelSelector: this.flags.selector });
        objects.push(...list.items.map((obj) => ({ rt, obj: withKind(obj, rt) })));
        continue;
      }
      try {
        objects.push({ rt, obj: withKind(await this.client().get(rt, rt.namespaced ? this.namespace() : undefined, name), rt) });
      } catch (err) {
        if (!ApiStatusError.isNotFound(err)) throw err;
        // kubectl describe falls back to every object whose name starts with NAME.
        const list = await this.client().list(rt, namespace);
        const matches = list.items.filter((o) => (o.metadata.name ?? '').startsWith(name));
        if (matches.length === 0) {
          this.report(err);
          failures++;
        }
        objects.push(...matches.map((obj) => ({ rt, obj: withKind(obj, rt) })));
      }
    }

    if (objects.length === 0 && failures === 0) {
      const namespaced = targets.some((t) => t.rt.namespaced) && !this.flags['all-namespaces'];
      this.logToStderr(noResourcesMessage(namespaced ? this.namespace() : undefined));
    }

    const texts: string[] = [];
    for (const { rt, obj } of objects) {
      texts.push(renderDescription(obj, await this.related(rt, obj), Date.now()));
    }
    if (texts.length > 0) this.log(texts.join('\n\n').replace(/\n$/, ''));
    if (failures > 0) throw new AlreadyReportedError(failures);
    return { objects: objects.map((o) => o.obj), failures };
  }

  private targets(): Array<{ rt: ResourceType; name?: string }> {
    const args = this.positional;
    if (args.some((a) => a.includes('/'))) {
      return args.map((arg) => {
        const [kind, name, ...rest] = arg.split('/');
        if (!kind || !name || rest.length > 0) throw new UsageError(`arguments in resource/name form must have a single resource and name: "${arg}"`);
        return { rt: this.resourceType(kind), name };
      });
    }
    const [kinds, ...names] = args;
    const types = (kinds ?? '').split(',').filter(Boolean).map((k) => this.resourceType(k));
    if (types.length === 0) throw new UsageError('You must specify the type of resource to describe.');
    return types.flatMap((rt) => (names.length ? names.map((name) => ({ rt, name })) : [{ rt }]));
  }

  /** What the describer of this kind shows besides the object. Best effort: a failed lookup only leaves a section out. */
  private async related(rt: ResourceType, obj: KubeObject): Promise<DescribeRelated> {
    const related: DescribeRelated = {};
    const ns = obj.metadata.namespace;
    const quietly = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch {
        return undefined;
      }
    };
    const pods = served('pods');

    switch (obj.kind) {
      case 'Node': {
        if (pods) related.pods = (await quietly(() => this.client().list(pods, undefined, { fieldSelector: `spec.nodeName=${obj.metadata.name}` })))?.items;
        const leases = served('leases', 'coordination.k8s.io');
        if (leases) related.lease = await quietly(() => this.client().get(leases, 'kube-node-lease', obj.metadata.name ?? ''));
        break;
      }
      case 'Deployment': {
        const rs = served('replicasets', 'apps');
        const selector = labelSelectorString(obj.spec?.selector);
        if (rs) related.replicaSets = (await quietly(() => this.client().list(rs, ns, { labelSelector: selector })))?.items;
        break;
      }
      case 'ReplicaSet':
      case 'DaemonSet': {
        const selector = labelSelectorString(obj.spec?.selector);
        if (pods) related.pods = (await quietly(() => this.client().list(pods, ns, { labelSelector: selector })))?.items;
        break;
      }
      case 'Service': {
        const endpoints = served('endpoints');
        if (endpoints) related.endpoints = await quietly(() => this.client().get(endpoints, ns, obj.metadata.name ?? ''));
        break;
      }
      default:
        break;
    }

    if (this.flags['show-events'] && obj.kind !== 'Event') related.events = await this.events(rt, obj);
    return related;
  }

  /** Events whose involvedObject is this object, found by field selector as kubectl searches them. */
  private async events(rt: ResourceType, obj: KubeObject): Promise<KubeObject[] | undefined> {
    const events = served('events');
    if (!events) return undefined;
    const name = obj.metadata.name ?? '';
    const ns = rt.namespaced ? (obj.metadata.namespace ?? '') : '';
    const search = async (uid: string) =>
      (
        await this.client().list(events, ns || undefined, {
          fieldSelector: `involvedObject.name=${name},involvedObject.namespace=${ns},involvedObject.uid=${uid}`,
        })
      ).items;
    try {
      const found = await search(obj.metadata.uid ?? '');
      // Kubelets report node events with the node's name as its uid.
      if (obj.kind === 'Node' && obj.metadata.uid !== name) found.push(...(await search(name)));
      return found;
    } catch (err) {
      if (err instanceof ApiStatusError) return undefined;
      throw err;
    }
  }
}

function withKind(obj: KubeObject, rt: ResourceType): KubeObject {
  return obj.kind ? obj : { ...obj, kind: rt.kind };
}
