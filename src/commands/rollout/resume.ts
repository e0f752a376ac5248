import { Args } from '@oclif/core';
import { BaseCommand, UsageError } from '../../cli/base-command';
import { kindName, resourceName } from '../../cli/printer';
import { parseWorkloadTarget } from '../scale';

export default class RolloutResume extends BaseCommand<typeof RolloutResume> {
  static summary = 'Resume a paused resource.';

  static description = 'Clears spec.paused so the Deployment controller rolls out template changes again, like kubectl rollout resume.';

  static examples = ['<%= config.bin %> rollout resume deployment/web'];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND/NAME or KIND NAME', required: true }),
  };

  public async run(): Promise<{ changed: boolean }> {
    const target = parseWorkloadTarget(this.positional, (k) => this.resourceType(k), ['deployments']);
    const ns = this.namespace();
    const d = await this.client().get(target.rt, ns, target.name);
    const what = `${kindName(target.rt)}/${target.name}`;
    if (!d.spec?.paused) throw new UsageError(`${resourceName(target.rt)} "${target.name}" is not paused`);
    await this.client().patch(target.rt, ns, target.name, { metadata: { resourceVersion: d.metadata.resourceVersion }, spec: { paused: null } }, 'merge');
    this.log(`${what} resumed`);
    return { changed: true };
  }
}
