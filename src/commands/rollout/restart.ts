import { Args } from '@oclif/core';
import { BaseCommand, UsageError } from '../../cli/base-command';
import { kindName } from '../../cli/printer';
import { parseWorkloadTarget } from '../scale';

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

export default class RolloutRestart extends BaseCommand<typeof RolloutRestart> {
  static summary = 'Restart a resource.';

  static description = 'Starts a new rollout of the same template by stamping the pod template with a kubectl.kubernetes.io/restartedAt annotation, like kubectl rollout restart.';

  static examples = ['<%= config.bin %> rollout restart deployment/web'];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND/NAME or KIND NAME', required: true }),
  };

  public async run(): Promise<{ restartedAt: string }> {
    const target = parseWorkloadTarget(this.positional, (k) => this.resourceType(k), ['deployments']);
    const ns = this.namespace();
    const d = await this.client().get(target.rt, ns, target.name);
    if (d.spec?.paused) throw new UsageError(`${kindName(target.rt)}/${target.name} can't restart paused deployment (run rollout resume first)`);
    const restartedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await this.client().patch(target.rt, ns, target.name, { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } } }, 'merge');
    this.log(`${kindName(target.rt)}/${target.name} restarted`);
    return { restartedAt };
  }
}
