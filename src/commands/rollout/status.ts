import { Args, Flags } from '@oclif/core';
import { parseDuration } from '../../api/duration';
import type { KubeObject } from '../../api/types';
import { BaseCommand, UsageError } from '../../cli/base-command';
import { parseWorkloadTarget } from '../scale';

/**
 * kubectl's DeploymentStatusViewer: the line to show for a Deployment and
 * whether its rollout is done. Throws when the rollout exceeded its
 * progress deadline.
 */
export function deploymentRolloutStatus(d: KubeObject): { message: string; done: boolean } {
  const name = d.metadata.name;
  const s = d.status ?? {};
  if ((d.metadata.generation ?? 0) <= (s.observedGeneration ?? 0)) {
    const cond = (s.conditions ?? []).find((c: any) => c.type === 'Progressing');
    if (cond?.reason === 'ProgressDeadlineExceeded') throw new Error(`deployment "${name}" exceeded its progress deadline`);
    const replicas = d.spec?.replicas ?? 1;
    const updated = s.updatedReplicas ?? 0;
    if (updated < replicas) {
      return { message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${replicas} new replicas have been updated...`, done: false };
    }
    if ((s.replicas ?? 0) > updated) {
      return { message: `Waiting for deployment "${name}" rollout to finish: ${(s.replicas ?? 0) - updated} old replicas are pending termination...`, done: false };
    }
    if ((s.availableReplicas ?? 0) < updated) {
      return { message: `Waiting for deployment "${name}" rollout to finish: ${s.availableReplicas ?? 0} of ${updated} updated replicas are available...`, done: false };
    }
    return { message: `deployment "${name}" successfully rolled out`, done: true };
  }
  return { message: 'Waiting for deployment spec update to be observed...', done: false };
}

/** `--timeout` in Go's duration syntax, with kubectl's message for a bad one. */
function timeoutFlag(text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UsageError(`invalid argument "${text}" for "--timeout" flag: ${(err as Error).message}`);
  }
}

export default class RolloutStatus extends BaseCommand<typeof RolloutStatus> {
  static summary = 'Show the status of the rollout.';

  static description = 'Watches the status of the latest rollout until it is done, like kubectl rollout status. Exits non-zero if the rollout exceeds its progress deadline or --timeout passes.';

  static examples = ['<%= config.bin %> rollout status deployment/web', '<%= config.bin %> rollout status deploy web --timeout=2m'];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND/NAME or KIND NAME', required: true }),
  };

  static flags = {
    watch: Flags.boolean({ char: 'w', summary: 'Watch the status of the rollout until it is done.', default: true, allowNo: true }),
    timeout: Flags.string({ summary: 'How long to wait before giving up (e.g. 90s, 5m); 0 waits forever.', default: '0s' }),
  };

  public async run(): Promise<{ done: boolean; message: string }> {
    const target = parseWorkloadTarget(this.positional, (k) => this.resourceType(k), ['deployments']);
    const timeoutMs = timeoutFlag(this.flags.timeout);
    const client = this.client();
    const ns = this.namespace();
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
    let last = '';
    for (;;) {
      const d = await client.get(target.rt, ns, target.name);
      const status = deploymentRolloutStatus(d);
      if (status.message !== last) {
        this.log(status.message);
        last = status.message;
      }
      if (status.done || !this.flags.watch) return status;
      // Wait for the next change of this Deployment (or the deadline), then look again.
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for the condition');
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(), Math.min(left, 30_000));
        const watch = client.watch(target.rt, ns, { resourceVersion: d.metadata.resourceVersion, fieldSelector: `metadata.name=${target.name}` }, (e) => {
          if (e.type === 'MODIFIED' || e.type === 'DELETED' || e.type === 'ERROR') finish();
        });
        let finished = false;
        function finish(err?: unknown): void {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          watch.stop();
          if (err) reject(err);
          else resolve();
        }
        watch.done.then(() => finish(), (err) => finish(err));
      });
    }
  }
}
