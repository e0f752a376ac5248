import { Args, Flags } from '@oclif/core';
import { resolveResourceName } from '../../api/registry';
import type { KubeObject } from '../../api/types';
import type { KubeClient } from '../../client/api-client';
import { BaseCommand, UsageError } from '../../cli/base-command';
import { kindName, tabwrite } from '../../cli/printer';
import { CHANGE_CAUSE_ANNOTATION, revisionOf } from '../../controllers/deployment-controller';
import { parseWorkloadTarget } from '../scale';

const REPLICASETS = resolveResourceName('replicasets')!;

/** The ReplicaSets a Deployment controls, by revision (oldest first). */
export async function revisionsOf(client: KubeClient, d: KubeObject): Promise<KubeObject[]> {
  const list = await client.list(REPLICASETS, d.metadata.namespace);
  return list.items
    .filter((rs) => rs.metadata.ownerReferences?.some((r) => r.controller && r.uid === d.metadata.uid))
    .sort((a, b) => revisionOf(a) - revisionOf(b));
}

/** A pod template as kubectl describe prints it (the part `rollout history --revision` shows). */
export function describeTemplate(template: any): string {
  const lines: string[] = ['Pod Template:'];
  const map = (m: Record<string, string> | undefined) => Object.entries(m ?? {}).map(([k, v]) => `${k}=${v}`);
  const labels = map(template?.metadata?.labels);
  lines.push(`  Labels:\t${labels[0] ?? '<none>'}`, ...labels.slice(1).map((l) => `\t${l}`));
  const annotations = map(template?.metadata?.annotations).map((a) => a.replace('=', ': '));
  if (annotations.length) lines.push(`  Annotations:\t${annotations[0]}`, ...annotations.slice(1).map((a) => `\t${a}`));
  lines.push('  Containers:');
  for (const c of template?.spec?.containers ?? []) {
    lines.push(`   ${c.name}:`, `    Image:\t${c.image}`);
    const ports = (c.ports ?? []).map((p: any) => `${p.containerPort}/${p.protocol ?? 'TCP'}`);
    lines.push(`    Port:\t${ports.join(', ') || '<none>'}`);
    if (c.command) lines.push('    Command:', ...c.command.map((a: string) => `      ${a}`));
    if (c.args) lines.push('    Args:', ...c.args.map((a: string) => `      ${a}`));
    const env = (c.env ?? []).map((e: any) => `      ${e.name}:\t${e.value ?? ''}`);
    lines.push(`    Environment:\t${env.length ? '' : '<none>'}`.trimEnd(), ...env);
  }
  lines.push('  Volumes:\t' + ((template?.spec?.volumes ?? []).map((v: any) => v.name).join(', ') || '<none>'));
  return tabwrite(lines.join('\n'));
}

export default class RolloutHistory extends BaseCommand<typeof RolloutHistory> {
  static summary = 'View rollout history.';

  static description = 'Lists the revisions of a Deployment (its ReplicaSets) with their change-cause, or one revision\'s pod template, like kubectl rollout history.';

  static examples = ['<%= config.bin %> rollout history deployment/web', '<%= config.bin %> rollout history deployment/web --revision=2'];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND/NAME or KIND NAME', required: true }),
  };

  static flags = {
    revision: Flags.integer({ summary: 'See the details, including the pod template, of the revision specified.', default: 0 }),
  };

  public async run(): Promise<{ revisions: { revision: number; changeCause?: string }[] }> {
    const target = parseWorkloadTarget(this.positional, (k) => this.resourceType(k), ['deployments']);
    const d = await this.client().get(target.rt, this.namespace(), target.name);
    const rses = await revisionsOf(this.client(), d);
    const revisions = rses.map((rs) => ({ revision: revisionOf(rs), changeCause: rs.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION] }));
    const header = `${kindName(target.rt)}/${target.name}`;
    if (this.flags.revision > 0) {
      const rs = rses.find((r) => revisionOf(r) === this.flags.revision);
      if (!rs) throw new UsageError(`unable to find the specified revision`);
      this.log(`${header} with revision #${this.flags.revision}`);
      this.log(describeTemplate(rs.spec?.template));
      return { revisions: revisions.filter((r) => r.revision === this.flags.revision) };
    }
    const rows = ['REVISION\tCHANGE-CAUSE', ...revisions.map((r) => `${r.revision}\t${r.changeCause ?? '<none>'}`)];
    this.log(`${header} `);
    this.log(tabwrite(rows.join('\n')));
    this.log('');
    return { revisions };
  }
}
