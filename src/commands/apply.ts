import { Flags } from '@oclif/core';
import { lookupKind, type ResourceType } from '../api/registry';
import { isEmptyPatch, threeWayMergePatch } from '../api/patch';
import type { KubeObject } from '../api/types';
import { ApiStatusError, ConnectionError } from '../client/api-client';
import { AlreadyReportedError, BaseCommand, UsageError } from '../cli/base-command';
import { readManifests, type Manifest } from '../cli/manifest';
import { kindName } from '../cli/printer';

/** The annotation `kubectl apply` keeps the last applied manifest in; mk and kubectl share it. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyOutcome {
  /** `pod/web`, `deployment.apps/web`. */
  resource: string;
  namespace?: string;
  source: string;
  action?: ApplyAction;
  /** The error line printed when this object failed. */
  error?: string;
}

export interface ApplyResult {
  results: ApplyOutcome[];
}

const MAX_CONFLICT_RETRIES = 5;

/** JSON with keys sorted at every level, as Go serialises the unstructured objects kubectl annotates. */
function sortedJSON(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}

/**
 * The manifest with its last-applied annotation set to itself (without that
 * annotation), exactly as kubectl computes it, so either tool can apply
 * over the other.
 */
export function withLastApplied(obj: KubeObject): KubeObject {
  const annotations = { ...(obj.metadata.annotations ?? {}) };
  delete annotations[LAST_APPLIED_ANNOTATION];
  const bare = { ...obj, metadata: { ...obj.metadata, annotations } };
  const lastApplied = `${sortedJSON(bare)}\n`;
  return { ...obj, metadata: { ...obj.metadata, annotations: { ...annotations, [LAST_APPLIED_ANNOTATION]: lastApplied } } };
}

export default class Apply extends BaseCommand<typeof Apply> {
  static summary = 'Apply a configuration to resources by file name or stdin.';

  static description = `Creates the objects that do not exist yet and patches the ones that do, like kubectl apply.

The manifest applied is kept in the kubectl.kubernetes.io/last-applied-configuration annotation, so removing a field from a manifest removes it from the object on the next apply, and fields set by others are left alone.`;

  static examples = [
    '<%= config.bin %> apply -f manifests/web.yaml',
    '<%= config.bin %> apply -f manifests/',
    'cat pod.json | <%= config.bin %> apply -f -',
  ];

  static flags = {
    filename: Flags.string({
      char: 'f',
      summary: 'File, directory (*.yaml, *.yml, *.json) or - for stdin, containing the objects to apply.',
      multiple: true,
      required: true,
    }),
  };

  public async run(): Promise<ApplyResult> {
    const manifests = await readManifests(this.flags.filename);
    if (manifests.length === 0) throw new UsageError('no objects passed to apply');

    const results: ApplyOutcome[] = [];
    for (const manifest of manifests) {
      const outcome: ApplyOutcome = { resource: '', source: manifest.source };
      try {
        await this.applyOne(manifest, outcome);
        this.log(`${outcome.resource} ${outcome.action}`);
      } catch (err) {
        // Without a server there is nothing more to try.
        if (err instanceof ConnectionError) throw err;
        this.report(err);
        outcome.error = err instanceof Error ? err.message : String(err);
      }
      results.push(outcome);
    }
    const failures = results.filter((r) => r.error !== undefined).length;
    if (failures > 0) throw new AlreadyReportedError(failures);
    return { results };
  }

  private async applyOne(manifest: Manifest, outcome: ApplyOutcome): Promise<void> {
    const { object, source } = manifest;
    const name = object.metadata?.name ?? '';
    const rt = lookupKind(object.apiVersion, object.kind);
    if (!rt) {
      throw new UsageError(
        `resource mapping not found for name: "${name}" namespace: "${object.metadata?.namespace ?? ''}" from "${source}": no matches for kind "${object.kind}" in version "${object.apiVersion}"`,
      );
    }
    outcome.resource = `${kindName(rt)}/${name}`;
    if (!name) throw new UsageError(`error when retrieving current configuration of ${kindName(rt)} from "${source}": resource name may not be empty`);

    const desired = withLastApplied(this.placed(rt, object));
    const namespace = desired.metadata.namespace;
    outcome.namespace = namespace;

    for (let attempt = 0; ; attempt++) {
      let live: KubeObject;
      try {
        live = await this.client().get(rt, namespace, name);
      } catch (err) {
        if (!ApiStatusError.isNotFound(err)) throw prefixed(err, `error when retrieving current configuration of "${source}": `);
        try {
          await this.client().create(rt, desired);
          outcome.action = 'created';
          return;
        } catch (createErr) {
          // Someone created it meanwhile: apply over theirs.
          if (ApiStatusError.isAlreadyExists(createErr) && attempt < MAX_CONFLICT_RETRIES) continue;
          throw prefixed(createErr, `error when creating "${source}": `);
        }
      }

      const raw = live.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
      if (raw === undefined) {
        this.logToStderr(
          `Warning: resource ${rt.plural}/${name} is missing the ${LAST_APPLIED_ANNOTATION} annotation which is required by mk apply. The missing annotation will be patched automatically.`,
        );
      }
      const patch = threeWayMergePatch(parseLastApplied(raw), desired, live);
      if (isEmptyPatch(patch)) {
        outcome.action = 'unchanged';
        return;
      }
      try {
        await this.client().patch(rt, namespace, name, patch, 'merge');
        outcome.action = 'configured';
        return;
      } catch (err) {
        if ((ApiStatusError.isConflict(err) || ApiStatusError.isNotFound(err)) && attempt < MAX_CONFLICT_RETRIES) continue;
        throw prefixed(err, `error when patching "${source}": `);
      }
    }
  }

  /** The object with the namespace it is applied to: its own, else -n, else the context's, else `default`. */
  private placed(rt: ResourceType, object: KubeObject): KubeObject {
    const metadata = { ...object.metadata };
    if (!rt.namespaced) {
      delete metadata.namespace;
      return { ...object, metadata };
    }
    const explicit = this.flags.namespace;
    if (metadata.namespace && explicit && metadata.namespace !== explicit) {
      throw new UsageError(
        `the namespace from the provided object "${metadata.namespace}" does not match the namespace "${explicit}". You must pass '--namespace=${metadata.namespace}' to perform this operation.`,
      );
    }
    metadata.namespace = metadata.namespace || this.namespace();
    return { ...object, metadata };
  }
}

function parseLastApplied(raw: string | undefined): KubeObject | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as KubeObject;
  } catch {
    // A corrupt annotation is as good as none: fields only it knew about are not pruned.
    return undefined;
  }
}

function prefixed(err: unknown, prefix: string): unknown {
  return err instanceof ApiStatusError ? err.withMessagePrefix(prefix) : err;
}
