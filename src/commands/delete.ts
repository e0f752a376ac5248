import { Args, Flags } from '@oclif/core';
import { lookupKind, type ResourceType } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, ConnectionError, type PropagationPolicy } from '../client/api-client';
import { AlreadyReportedError, BaseCommand, UsageError } from '../cli/base-command';
import { readManifests } from '../cli/manifest';
import { kindName, resourceName } from '../cli/printer';

export interface DeleteTarget {
  rt: ResourceType;
  namespace?: string;
  name: string;
  /** The manifest file, for `-f`. */
  source?: string;
}

export interface DeleteResult {
  /** `pod/web` for each object deleted. */
  deleted: string[];
  failures: number;
}

const propagation: Record<string, PropagationPolicy> = {
  background: 'Background',
  foreground: 'Foreground',
  orphan: 'Orphan',
  // kubectl's deprecated boolean spellings.
  true: 'Background',
  false: 'Orphan',
};

/** A Go duration (`30s`, `2m`, `1h30m`, `500ms`) in milliseconds; a bare number is seconds. */
export function parseDuration(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new UsageError(`invalid duration "${text}"`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

export default class Delete extends BaseCommand<typeof Delete> {
  static summary = 'Delete resources by file names, stdin, resources and names, or by resources and label selector.';

  static description = `Deletes the objects, like kubectl delete, and by default waits until they are gone (finalizers and graceful termination can hold an object for a while).`;

  static examples = [
    '<%= config.bin %> delete pod web',
    '<%= config.bin %> delete pod/web service/web',
    '<%= config.bin %> delete -f manifests/web.yaml',
    '<%= config.bin %> delete pods -l app=web',
    '<%= config.bin %> delete pods --all',
    '<%= config.bin %> delete deployment web --cascade=orphan',
    '<%= config.bin %> delete pod web --grace-period=0 --force',
  ];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND NAME..., KIND/NAME..., or KIND with -l/--all' }),
  };

  static flags = {
    filename: Flags.string({ char: 'f', summary: 'File, directory or - for stdin, naming the objects to delete.', multiple: true }),
    selector: Flags.string({ char: 'l', summary: 'Delete the objects of KIND matching this label selector.' }),
    all: Flags.boolean({ summary: 'Delete all objects of KIND in the namespace.' }),
    'all-namespaces': Flags.boolean({ char: 'A', summary: 'With -l or --all, delete across all namespaces.' }),
    'grace-period': Flags.integer({
      summary: 'Seconds given to the object to terminate gracefully; negative means the default. 0 only with --force.',
      default: -1,
    }),
    force: Flags.boolean({ summary: 'Remove the object immediately, without waiting for graceful termination.' }),
    now: Flags.boolean({ summary: 'Signal the object for immediate shutdown (same as --grace-period=1).' }),
    cascade: Flags.string({
      summary: 'How dependents are deleted: background, foreground or orphan.',
      options: ['background', 'foreground', 'orphan', 'true', 'false'],
      default: 'background',
    }),
    wait: Flags.boolean({ summary: 'Wait until the objects are gone before returning.', default: true, allowNo: true }),
    timeout: Flags.string({ summary: 'How long to wait for the deletion, e.g. 30s; 0 waits indefinitely.', default: '0s' }),
    'ignore-not-found': Flags.boolean({ summary: 'Treat "not found" as a successful delete (the default with -l and --all).' }),
    output: Flags.string({ char: 'o', summary: 'Output format; only "name" is supported.', options: ['name'] }),
  };

  /** Documents of -f whose kind mk does not serve (already reported). */
  private unmapped = 0;

  public async run(): Promise<DeleteResult> {
    const gracePeriod = this.gracePeriod();
    const byListing = this.flags.all || this.flags.selector !== undefined;
    const ignoreNotFound = this.flags['ignore-not-found'] || byListing;
    const targets = await this.targets();
    const propagationPolicy = propagation[this.flags.cascade];

    if (targets.length === 0 && this.unmapped === 0) {
      this.log('No resources found');
      return { deleted: [], failures: 0 };
    }

    const deleted: Array<DeleteTarget & { uid?: string }> = [];
    let failures = this.unmapped;
    for (const t of targets) {
      try {
        const response = await this.client().delete(t.rt, t.namespace, t.name, {
          gracePeriodSeconds: gracePeriod >= 0 ? gracePeriod : undefined,
          propagationPolicy,
        });
        const uid = (response as KubeObject).metadata?.uid ?? (response as { details?: { uid?: string } }).details?.uid;
        deleted.push({ ...t, uid });
        if (this.flags.output === 'name') this.log(`${kindName(t.rt)}/${t.name}`);
        else this.log(`${kindName(t.rt)} "${t.name}" ${gracePeriod === 0 ? 'force deleted' : 'deleted'}`);
      } catch (err) {
        if (err instanceof ConnectionError) throw err;
        if (ignoreNotFound && ApiStatusError.isNotFound(err)) continue;
        this.report(t.source && err instanceof ApiStatusError ? err.withMessagePrefix(`error when deleting "${t.source}": `) : err);
        failures++;
      }
    }

    if (this.flags.wait) {
      const timeout = parseDuration(this.flags.timeout);
      // Like kubectl, "no timeout" is a week.
      const deadline = Date.now() + (timeout > 0 ? timeout : 7 * 24 * 3_600_000);
      for (const t of deleted) await this.waitGone(t, deadline);
    }
    if (failures > 0) throw new AlreadyReportedError(failures);
    return { deleted: deleted.map((t) => `${kindName(t.rt)}/${t.name}`), failures };
  }

  private gracePeriod(): number {
    let grace = this.flags['grace-period'];
    if (this.flags.now) {
      if (grace !== -1) throw new UsageError('--now and --grace-period cannot be specified together');
      grace = 1;
    }
    // kubectl turns 0 into 1 unless --force, so a typo cannot skip graceful termination.
    if (grace === 0 && !this.flags.force) grace = 1;
    if (this.flags.force && grace < 0) grace = 0;
    if (this.flags.force && grace > 0) throw new UsageError('--force and --grace-period greater than 0 cannot be specified together');
    if (this.flags.force) {
      this.logToStderr(
        'Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.',
      );
    }
    return grace;
  }

  /** The objects the arguments name, resolving -f, KIND/NAME, KIND NAME... and KIND -l/--all. */
  private async targets(): Promise<DeleteTarget[]> {
    const args = this.positional;
    if (this.flags.all && this.flags.selector !== undefined) throw new UsageError('cannot set --all and --selector at the same time');

    if (this.flags.filename?.length) {
      if (args.length > 0) throw new UsageError('when paths, URLs, or stdin is provided as input, you may not specify a resource by argument as well');
      const targets: DeleteTarget[] = [];
      for (const { object, source } of await readManifests(this.flags.filename)) {
        const rt = lookupKind(object.apiVersion, object.kind);
        if (!rt) {
          // Like kubectl, an unknown kind fails that document only.
          this.report(
            new UsageError(
              `resource mapping not found for name: "${object.metadata?.name ?? ''}" namespace: "${object.metadata?.namespace ?? ''}" from "${source}": no matches for kind "${object.kind}" in version "${object.apiVersion}"`,
            ),
          );
          this.unmapped++;
          continue;
        }
        targets.push({ rt, namespace: rt.namespaced ? object.metadata?.namespace || this.namespace() : undefined, name: object.metadata?.name ?? '', source });
      }
      return targets;
    }

    if (args.length === 0) throw new UsageError('You must provide one or more resources by argument or filename.');

    if (args.some((a) => a.includes('/'))) {
      return args.map((arg) => {
        const [kind, name, ...rest] = arg.split('/');
        if (!kind || !name || rest.length > 0) throw new UsageError(`arguments in resource/name form must have a single resource and name: "${arg}"`);
        const rt = this.resourceType(kind);
        return { rt, namespace: this.scope(rt), name };
      });
    }

    const [kinds, ...names] = args;
    const types = kinds!.split(',').map((k) => this.resourceType(k));
    if (names.length > 0) return types.flatMap((rt) => names.map((name) => ({ rt, namespace: this.scope(rt), name })));
    if (!this.flags.all && this.flags.selector === undefined) throw new UsageError('resource(s) were provided, but no name was specified');

    const targets: DeleteTarget[] = [];
    for (const rt of types) {
      const namespace = this.flags['all-namespaces'] ? undefined : this.scope(rt);
      const list = await this.client().list(rt, namespace, { labelSelector: this.flags.selector });
      for (const item of list.items) targets.push({ rt, namespace: item.metadata.namespace, name: item.metadata.name ?? '' });
    }
    return targets;
  }

  private scope(rt: ResourceType): string | undefined {
    return rt.namespaced ? this.namespace() : undefined;
  }

  /**
   * Returns once the object is gone (or replaced by one with another uid),
   * watching it so the wait ends as soon as the server removes it.
   */
  private async waitGone(t: DeleteTarget & { uid?: string }, deadline: number): Promise<void> {
    for (;;) {
      let live: KubeObject;
      try {
        live = await this.client().get(t.rt, t.namespace, t.name);
      } catch (err) {
        if (ApiStatusError.isNotFound(err)) return;
        throw err;
      }
      if (t.uid && live.metadata.uid !== t.uid) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new UsageError(`timed out waiting for the condition on ${resourceName(t.rt)}/${t.name}`);

      const gone = await new Promise<boolean>((resolve, reject) => {
        const handle = this.client().watch(
          t.rt,
          t.namespace,
          { resourceVersion: live.metadata.resourceVersion, fieldSelector: `metadata.name=${t.name}`, timeoutSeconds: Math.ceil(remaining / 1000) },
          (event) => {
            if (event.type === 'DELETED' && event.object.metadata?.name === t.name) resolve(true);
            // DELETED ends the wait; ERROR (e.g. 410) means look again.
            if (event.type === 'DELETED' || event.type === 'ERROR') handle.stop();
          },
        );
        const timer = setTimeout(() => handle.stop(), remaining);
        handle.done.then(
          () => {
            clearTimeout(timer);
            resolve(false);
          },
          (err) => {
            clearTimeout(timer);
            reject(err);
          },
        );
      });
      if (gone) return;
    }
  }
}
