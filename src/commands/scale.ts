import { Args, Flags } from '@oclif/core';
import type { ResourceType } from '../api/registry';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { BaseCommand, UsageError } from '../cli/base-command';
import { kindName } from '../cli/printer';

/** One object a workload command acts on: `deployment/web`, or `deploy web`. */
export interface WorkloadTarget {
  rt: ResourceType;
  name: string;
}

/**
 * Parses `KIND/NAME` or `KIND NAME` (kubectl's resource builder for one
 * object) and checks the kind is one of `allowed` (plurals).
 */
export function parseWorkloadTarget(positional: string[], resolve: (kind: string) => ResourceType, allowed: string[]): WorkloadTarget {
  let kind: string | undefined;
  let name: string | undefined;
  if (positional[0]?.includes('/')) {
    [kind, name] = positional[0].split('/');
  } else {
    [kind, name] = positional;
  }
  if (!kind) throw new UsageError('required resource not specified');
  if (!name) throw new UsageError('resource(s) were provided, but no name was specified');
  const rt = resolve(kind);
  if (!allowed.includes(rt.plural)) throw new UsageError(`no ${rt.plural === 'deployments' ? 'scaler' : 'handler'} has been implemented for {${rt.group} ${rt.kind}}`);
  return { rt, name };
}

/** Runs a read-modify-write again when it loses a race (409 Conflict), as kubectl's retry.RetryOnConflict does. */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!ApiStatusError.isConflict(err) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 10 * i));
    }
  }
}

export interface ScaleResult {
  kind: string;
  name: string;
  replicas: number;
}

export default class Scale extends BaseCommand<typeof Scale> {
  static summary = 'Set a new size for a deployment or replica set.';

  static description = 'Sets spec.replicas through the scale subresource, like kubectl scale.';

  static examples = ['<%= config.bin %> scale deployment/web --replicas=5', '<%= config.bin %> scale rs web-7d4b9c --replicas=0'];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND/NAME or KIND NAME', required: true }),
  };

  static flags = {
    replicas: Flags.integer({ summary: 'The new desired number of replicas.', required: true, min: 0 }),
  };

  public async run(): Promise<ScaleResult> {
    const target = parseWorkloadTarget(this.positional, (k) => this.resourceType(k), ['deployments', 'replicasets']);
    const replicas = this.flags.replicas;
    await scale(this.client(), target, this.namespace(), replicas);
    this.log(`${kindName(target.rt)}/${target.name} scaled`);
    return { kind: kindName(target.rt), name: target.name, replicas };
  }
}

async function scale(client: KubeClient, target: WorkloadTarget, namespace: string, replicas: number): Promise<void> {
  await retryOnConflict(() => client.patch(target.rt, namespace, target.name, { spec: { replicas } }, 'merge', { subresource: 'scale' }));
}
