import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import type { KubeClient } from '../client/api-client';
import { Informer } from '../client/informer';

/**
 * The ConfigMaps and Secrets the agent's pods use, kept current by watches:
 * one informer per (kind, namespace) that some pod on this node references,
 * started on first use and stopped when the last such pod goes. A change to
 * a referenced object wakes the pods that use it, which is how configMap and
 * secret volumes follow their objects.
 */

export type SourceKind = 'ConfigMap' | 'Secret';

export interface ObjectRef {
  kind: SourceKind;
  name: string;
}

const TYPES = { ConfigMap: resolveResourceName('configmaps')!, Secret: resolveResourceName('secrets')! };

/** Every ConfigMap and Secret a pod's spec names: env, envFrom, volumes and projected sources. */
export function podObjectRefs(pod: KubeObject): ObjectRef[] {
  const refs = new Map<string, ObjectRef>();
  const add = (kind: SourceKind, name: unknown) => {
    if (typeof name === 'string' && name) refs.set(`${kind}/${name}`, { kind, name });
  };
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const f of c.envFrom ?? []) {
      add('ConfigMap', f.configMapRef?.name);
      add('Secret', f.secretRef?.name);
    }
    for (const e of c.env ?? []) {
      add('ConfigMap', e.valueFrom?.configMapKeyRef?.name);
      add('Secret', e.valueFrom?.secretKeyRef?.name);
    }
  }
  for (const v of pod.spec?.volumes ?? []) {
    add('ConfigMap', v.configMap?.name);
    add('Secret', v.secret?.secretName);
    for (const s of v.projected?.sources ?? []) {
      add('ConfigMap', s.configMap?.name);
      add('Secret', s.secret?.name);
    }
  }
  return [...refs.values()];
}

interface Watched {
  informer: Informer;
  /** Pods holding this informer. */
  pods: Set<string>;
}

export class ConfigSources {
  private readonly watched = new Map<string, Watched>();
  /** Pod uid -> the `kind/namespace` informers it holds. */
  private readonly held = new Map<string, Set<string>>();
  /** `kind/namespace/name` -> uids of the pods that reference it. */
  private readonly dependents = new Map<string, Set<string>>();
  /** Pod uid -> its `kind/namespace/name` references. */
  private readonly podRefs = new Map<string, Set<string>>();

  constructor(
    private readonly client: KubeClient,
    private readonly onChange: (podUid: string) => void,
  ) {}

  /** Declares the objects a pod uses (every sync; cheap when unchanged). */
  track(podUid: string, namespace: string, refs: ObjectRef[]): void {
    const wantedRefs = new Set(refs.map((r) => `${r.kind}/${namespace}/${r.name}`));
    const oldRefs = this.podRefs.get(podUid);
    if (oldRefs && sameSet(oldRefs, wantedRefs)) return;
    this.release(podUid);
    if (!refs.length) return;
    this.podRefs.set(podUid, wantedRefs);
    for (const key of wantedRefs) {
      let set = this.dependents.get(key);
      if (!set) this.dependents.set(key, (set = new Set()));
      set.add(podUid);
    }
    const informers = new Set(refs.map((r) => `${r.kind}/${namespace}`));
    this.held.set(podUid, informers);
    for (const key of informers) {
      let w = this.watched.get(key);
      if (!w) {
        const kind = key.slice(0, key.indexOf('/')) as SourceKind;
        w = { informer: this.startInformer(kind, namespace), pods: new Set() };
        this.watched.set(key, w);
      }
      w.pods.add(podUid);
    }
  }

  /** Forgets a pod's references, stopping informers nobody needs any more. */
  release(podUid: string): void {
    for (const key of this.podRefs.get(podUid) ?? []) {
      const set = this.dependents.get(key);
      set?.delete(podUid);
      if (set && !set.size) this.dependents.delete(key);
    }
    this.podRefs.delete(podUid);
    for (const key of this.held.get(podUid) ?? []) {
      const w = this.watched.get(key);
      if (!w) continue;
      w.pods.delete(podUid);
      if (!w.pods.size) {
        w.informer.stop();
        this.watched.delete(key);
      }
    }
    this.held.delete(podUid);
  }

  /**
   * The current object, or undefined when it does not exist. Waits for the
   * first list of its namespace; the pod must have been tracked.
   */
  async read(kind: SourceKind, namespace: string, name: string): Promise<KubeObject | undefined> {
    const w = this.watched.get(`${kind}/${namespace}`);
    if (!w) return undefined;
    await w.informer.start();
    return w.informer.get(`${namespace}/${name}`);
  }

  stop(): void {
    for (const w of this.watched.values()) w.informer.stop();
    this.watched.clear();
    this.held.clear();
    this.dependents.clear();
    this.podRefs.clear();
  }

  private startInformer(kind: SourceKind, namespace: string): Informer {
    const informer = new Informer(this.client, TYPES[kind], { namespace });
    const changed = (obj: KubeObject) => {
      for (const uid of this.dependents.get(`${kind}/${namespace}/${obj.metadata.name}`) ?? []) this.onChange(uid);
    };
    informer.on({ add: changed, update: (_old, obj) => changed(obj), delete: changed });
    void informer.start();
    return informer;
  }
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
