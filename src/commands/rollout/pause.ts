import { Args } from '@oclif/core';
import { BaseCommand, UsageError } from '../../cli/base-command';
import { kindName } from '../../cli/printer';
import { parseWorkloadTarget } from '../scale';

export default class RolloutPause extends BaseCommand<typeof RolloutPause> {
  static summary = 'Mark the provided resource as paused.';

  static description = 'Sets spec.paused: the Deployment controller stops rolling out template changes until it is resumed (scaling still works), like kubectl rollout pause.';

  static examples = ['<%= config.bin %> rollout pause deployment/web'];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND/NAME or KIND NAME', required: true }),
  };

  public async run(): Promise<{ changed: boolean }> {
    const target = parseWorkloadTarget(this.positional, (k) => this.resourceType(k), ['deployments']);
    const ns = this.namespace();
    const d = await this.client().get(target.rt, ns, target.name);
    const what = `${kindName(target.rt)}/${target.name}`;
    if (d.spec?.paused) {
      this.log(`${what} already paused`);
      return { changed: false };
    }
    await this.client().patch(target.rt, ns, target.name, { metadata: { resourceVersion: d.metadata.resourceVersion }, spec: { paused: true } }, 'merge');
    this.log(`${what} paused`);
    return { changed: true };
  }
}
