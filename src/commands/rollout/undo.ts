import { Args, Flags } from '@oclif/core';
import { BaseCommand, UsageError } from '../../cli/base-command';
import { kindName } from '../../cli/printer';
import { revisionOf } from '../../controllers/deployment-controller';
import { equalIgnoreHash, templateWithoutHash } from '../../controllers/pod-template';
import { parseWorkloadTarget } from '../scale';
import { revisionsOf } from './history';

// Annotations of a ReplicaSet that are the controller's, not the user's (kubectl's annotationsToSkip).
const SKIP = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

export default class RolloutUndo extends BaseCommand<typeof RolloutUndo> {
  static summary = 'Undo a previous rollout.';

  static description = 'Rolls a Deployment back to the pod template of an earlier revision (the previous one by default), the way kubectl does it: client-side, by copying the template of that revision\'s ReplicaSet into the Deployment.';

  static examples = ['<%= config.bin %> rollout undo deployment/web', '<%= config.bin %> rollout undo deployment/web --to-revision=1'];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND/NAME or KIND NAME', required: true }),
  };

  static flags = {
    'to-revision': Flags.integer({ summary: 'The revision to roll back to. Default 0 (the previous revision).', default: 0 }),
  };

  public async run(): Promise<{ revision: number; skipped: boolean }> {
    const target = parseWorkloadTarget(this.positional, (k) => this.resourceType(k), ['deployments']);
    const ns = this.namespace();
    const client = this.client();
    const d = await client.get(target.rt, ns, target.name);
    const what = `${kindName(target.rt)}/${target.name}`;
    if (d.spec?.paused) {
      throw new UsageError(`you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume ${what}' and try again`);
    }
    const rses = await revisionsOf(client, d);
    let toRevision = this.flags['to-revision'];
    if (toRevision === 0) {
      // The previous revision: the second-highest one.
      const revs = [...new Set(rses.map(revisionOf))].sort((a, b) => b - a);
      if (revs.length < 2) throw new UsageError(`no rollout history found for deployment "${target.name}"`);
      toRevision = revs[1]!;
    }
    const rs = rses.find((r) => revisionOf(r) === toRevision);
    if (!rs) throw new UsageError(`unable to find specified revision ${toRevision} in history`);
    if (equalIgnoreHash(rs.spec?.template, d.spec?.template)) {
      this.log(`${what} skipped rollback (current template already matches revision ${toRevision})`);
      return { revision: toRevision, skipped: true };
    }
    // A JSON patch replaces the template whole (a merge patch would keep fields the old template lacks);
    // the resourceVersion test makes it a compare-and-swap against what was read.
    const ops: unknown[] = [
      { op: 'test', path: '/metadata/resourceVersion', value: d.metadata.resourceVersion },
      { op: 'replace', path: '/spec/template', value: templateWithoutHash(rs.spec.template) },
    ];
    const annotations = Object.entries(rs.metadata.annotations ?? {}).filter(([k]) => !SKIP.has(k));
    if (annotations.length && !d.metadata.annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: {} });
    for (const [k, v] of annotations) ops.push({ op: 'add', path: `/metadata/annotations/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: v });
    await client.patch(target.rt, ns, target.name, ops, 'json');
    this.log(`${what} rolled back`);
    return { revision: toRevision, skipped: false };
  }
}
