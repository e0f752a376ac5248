import { Args, Flags } from '@oclif/core';
import { apiVersionOf, resourcesInCategory, type ResourceType } from '../api/registry';
import { buildTable } from '../api/table';
import type { KubeObject, Status, WatchEvent } from '../api/types';
import { ApiStatusError } from '../client/api-client';
import { AlreadyReportedError, BaseCommand, UsageError } from '../cli/base-command';
import { asList, kindName, noResourcesMessage, renderNames, renderObject, TablePrinter, withoutManagedFields } from '../cli/printer';

/** The kinds of one `get`, with the objects found. */
export interface GetSection {
  rt: ResourceType;
  /** Names asked for; empty for a listing. */
  names: string[];
  items: KubeObject[];
}

export interface GetResult {
  sections: GetSection[];
  /** Objects that could not be fetched (their errors were printed). */
  failures: number;
}

// kubectl prints the members of `all` in this order.
const ALL_ORDER = ['pods', 'replicationcontrollers', 'services', 'daemonsets', 'deployments', 'replicasets', 'statefulsets', 'jobs', 'cronjobs'];

export default class Get extends BaseCommand<typeof Get> {
  static summary = 'Display one or many resources.';

  static description = `Prints a table of the most important information about the specified resources, like kubectl get.

KIND may be a plural, singular or short name (pods, pod, po), optionally qualified by its group (deployments.apps), a comma-separated list of kinds, or "all". Objects may also be named as KIND/NAME.`;

  static examples = [
    '<%= config.bin %> get pods',
    '<%= config.bin %> get pods -A -o wide',
    '<%= config.bin %> get deploy web -o yaml',
    '<%= config.bin %> get pod/web service/web',
    '<%= config.bin %> get pods,services -l app=web',
    '<%= config.bin %> get all',
    '<%= config.bin %> get pods -w',
  ];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND[,KIND...] [NAME...], or KIND/NAME...', required: true }),
  };

  static flags = {
    output: Flags.string({ char: 'o', summary: 'Output format.', options: ['wide', 'yaml', 'json', 'name'] }),
    'all-namespaces': Flags.boolean({ char: 'A', summary: 'List the requested objects across all namespaces.' }),
    selector: Flags.string({ char: 'l', summary: 'Label selector to filter on, e.g. -l app=web,tier!=db.' }),
    'field-selector': Flags.string({ summary: 'Field selector to filter on, e.g. --field-selector status.phase=Running.' }),
    watch: Flags.boolean({ char: 'w', summary: 'After listing/getting the requested objects, watch for changes.' }),
    'show-labels': Flags.boolean({ summary: 'Show all labels as the last column.' }),
    'show-managed-fields': Flags.boolean({ summary: 'Keep metadata.managedFields when printing objects as JSON or YAML.' }),
    'no-headers': Flags.boolean({ summary: 'Do not print headers.' }),
    'chunk-size': Flags.integer({ summary: 'Fetch large lists in chunks of this many objects.', default: 500 }),
  };

  /** The resourceVersion of each kind's listing, where -w starts watching. */
  private readonly listResourceVersion = new Map<ResourceType, string | undefined>();
  /** The printer of the last table, so watch rows line up with it. */
  private tablePrinter?: TablePrinter;

  public async run(): Promise<GetResult> {
    const sections = this.targets(this.positional);
    const allNamespaces = this.flags['all-namespaces'];
    if (allNamespaces && sections.some((s) => s.names.length > 0 && s.rt.namespaced)) {
      throw new UsageError('a resource cannot be retrieved by name across all namespaces');
    }
    if (this.flags.watch && (sections.length !== 1 || sections[0]!.names.length > 1)) {
      throw new UsageError('watch is only supported on individual resources and resource collections, but multiple resources were requested');
    }

    let failures = 0;
    for (const section of sections) {
      const ns = this.scope(section.rt);
      if (section.names.length === 0) {
        section.items = await this.listAll(section.rt, ns);
        continue;
      }
      for (const name of section.names) {
        try {
          section.items.push(await this.client().get(section.rt, ns, name));
        } catch (err) {
          if (!(err instanceof ApiStatusError)) throw err;
          this.report(err);
          failures++;
        }
      }
    }

    this.print(sections, allNamespaces);
    if (this.flags.watch) await this.watch(sections[0]!);
    if (failures > 0) throw new AlreadyReportedError(failures);
    return { sections, failures };
  }

  /** What the arguments ask for: kinds with names, or kinds to list. */
  private targets(argv: string[]): GetSection[] {
    if (argv.some((a) => a.includes('/'))) {
      const sections: GetSection[] = [];
      for (const arg of argv) {
        const [kind, name, ...rest] = arg.split('/');
        if (!kind || !name || rest.length > 0) throw new UsageError(`arguments in resource/name form must have a single resource and name: "${arg}"`);
        const rt = this.resourceType(kind);
        const existing = sections.find((s) => s.rt === rt);
        if (existing) existing.names.push(name);
        else sections.push({ rt, names: [name], items: [] });
      }
      return sections;
    }
    const [kinds, ...names] = argv;
    const types: ResourceType[] = [];
    for (const kind of (kinds ?? '').split(',').filter(Boolean)) {
      const resolved =
        kind.toLowerCase() === 'all'
          ? resourcesInCategory('all').sort((a, b) => ALL_ORDER.indexOf(a.plural) - ALL_ORDER.indexOf(b.plural))
          : [this.resourceType(kind)];
      for (const rt of resolved) if (!types.includes(rt)) types.push(rt);
    }
    if (types.length === 0) throw new UsageError('You must specify the type of resource to get.');
    return types.map((rt) => ({ rt, names: [...names], items: [] }));
  }

  /** The namespace a request for this kind goes to; undefined means all namespaces (or a cluster-scoped kind). */
  private scope(rt: ResourceType): string | undefined {
    if (!rt.namespaced || this.flags['all-namespaces']) return undefined;
    return this.namespace();
  }

  private async listAll(rt: ResourceType, namespace: string | undefined): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    do {
      const page = await this.client().list(rt, namespace, {
        labelSelector: this.flags.selector,
        fieldSelector: this.flags['field-selector'],
        limit: this.flags['chunk-size'] > 0 ? this.flags['chunk-size'] : undefined,
        continue: cont,
      });
      items.push(...page.items.map((o) => withKind(o, rt)));
      this.listResourceVersion.set(rt, page.metadata?.resourceVersion);
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return items;
  }

  private print(sections: GetSection[], allNamespaces: boolean): void {
    const output = this.flags.output;
    const shown = (o: KubeObject) => (this.flags['show-managed-fields'] ? o : withoutManagedFields(o));
    const all = sections.flatMap((s) => s.items.map(shown));
    const listing = sections.some((s) => s.names.length === 0);

    if (output === 'yaml' || output === 'json') {
      const single = !listing && sections.length === 1 && sections[0]!.names.length === 1;
      if (single && all.length === 1) this.log(renderObject(all[0], output).replace(/\n$/, ''));
      else if (!single && (all.length > 0 || listing)) this.log(renderObject(asList(all), output).replace(/\n$/, ''));
      return;
    }

    if (all.length === 0) {
      // kubectl says so only for listings; a failed named get has printed its errors.
      if (listing && !this.flags.watch) {
        const namespaced = sections.some((s) => s.rt.namespaced);
        this.logToStderr(noResourcesMessage(namespaced && !allNamespaces ? this.namespace() : undefined));
      }
      return;
    }

    if (output === 'name') {
      this.log(sections.flatMap((s) => (s.items.length ? [renderNames(s.rt, s.items)] : [])).join('\n'));
      return;
    }

    const showKind = sections.length > 1;
    const blocks: string[] = [];
    for (const s of sections) {
      if (s.items.length === 0) continue;
      const printer = this.printerFor(s.rt, showKind);
      blocks.push(printer.render(buildTable(s.rt, s.items, { now: Date.now(), wide: output === 'wide' })));
    }
    this.log(blocks.join('\n\n'));
  }

  private printerFor(rt: ResourceType, showKind: boolean): TablePrinter {
    const printer = new TablePrinter({
      wide: this.flags.output === 'wide',
      withNamespace: this.flags['all-namespaces'] && rt.namespaced,
      kindPrefix: showKind ? kindName(rt) : undefined,
      showLabels: this.flags['show-labels'],
      noHeaders: this.flags['no-headers'],
    });
    this.tablePrinter = printer;
    return printer;
  }

  /** Prints one row (or document) per change until interrupted, re-watching when the server ends a watch. */
  private async watch(section: GetSection): Promise<void> {
    const rt = section.rt;
    const namespace = this.scope(rt);
    let resourceVersion = this.listResourceVersion.get(rt) ?? section.items.reduce((rv, o) => o.metadata.resourceVersion ?? rv, '0');
    const fieldSelector = section.names.length === 1 ? `metadata.name=${section.names[0]}` : this.flags['field-selector'];
    const printer = this.tablePrinter ?? this.printerFor(rt, false);
    let printedHeader = section.items.length > 0;
    let interrupted = false;
    let current: { stop(): void } | undefined;
    const onSigint = () => {
      interrupted = true;
      current?.stop();
    };
    process.once('SIGINT', onSigint);
    try {
      while (!interrupted) {
        const started = Date.now();
        let failure: ApiStatusError | undefined;
        const handle = this.client().watch(
          rt,
          namespace,
          { resourceVersion, labelSelector: this.flags.selector, fieldSelector, allowWatchBookmarks: true },
          (event: WatchEvent) => {
            if (event.type === 'ERROR') {
              failure = new ApiStatusError(event.object as unknown as Status);
              handle.stop();
              return;
            }
            resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
            if (event.type === 'BOOKMARK') return;
            this.printEvent(rt, withKind(event.object, rt), printer, !printedHeader);
            printedHeader = true;
          },
        );
        current = handle;
        await handle.done;
        if (failure) throw failure;
        // A server that keeps ending watches at once must not be hammered.
        if (!interrupted && Date.now() - started < 1000) await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }

  private printEvent(rt: ResourceType, obj: KubeObject, printer: TablePrinter, header: boolean): void {
    switch (this.flags.output) {
      case 'yaml':
        this.log(`---\n${renderObject(this.flags['show-managed-fields'] ? obj : withoutManagedFields(obj), 'yaml').replace(/\n$/, '')}`);
        return;
      case 'json':
        this.log(renderObject(this.flags['show-managed-fields'] ? obj : withoutManagedFields(obj), 'json').replace(/\n$/, ''));
        return;
      case 'name':
        this.log(renderNames(rt, [obj]));
        return;
      default:
        this.log(printer.render(buildTable(rt, [obj], { now: Date.now(), wide: this.flags.output === 'wide' }), header && !this.flags['no-headers']));
    }
  }
}

/** List items come without apiVersion/kind; -o yaml/json prints them with both, as kubectl does. */
function withKind(obj: KubeObject, rt: ResourceType): KubeObject {
  if (obj.kind && obj.apiVersion) return obj;
  return { ...obj, apiVersion: apiVersionOf(rt), kind: rt.kind };
}
