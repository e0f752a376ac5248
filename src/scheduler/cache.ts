import type { KubeObject } from '../api/types';
import type { NodeIndex, NodeInfo, PodInfo } from './framework';
import { addPod, nodeInfo, podInfo, removePod, setNode } from './pod-info';

interface PlacedPod {
  node: string;
  info: PodInfo;
  /** True while the scheduler has decided but the binding is not yet seen through the watch. */
  assumed: boolean;
}

/**
 * The scheduler's picture of the cluster: every node with the pods on it.
 *
 * A pod is *assumed* on its node the moment the scheduler picks it, before
 * the binding is written, so the next pod already sees that capacity as
 * taken: two pods can never be placed on the same last slot while the watch
 * catches up. A failed binding forgets the assumption; the bound pod arriving
 * through the watch confirms it.
 */
/** Nodes by name, plus the index InterPodAffinity reads (see NodeIndex). */
class NodeMap extends Map<string, NodeInfo> implements NodeIndex {
  readonly withRequiredAntiAffinity = new Set<NodeInfo>();

  /** Call after a node's pods changed. */
  reindex(node: NodeInfo): void {
    if (node.podsWithRequiredAntiAffinity.size > 0 && this.get(node.name) === node) this.withRequiredAntiAffinity.add(node);
    else this.withRequiredAntiAffinity.delete(node);
  }
}

export class SchedulerCache {
  readonly nodes = new NodeMap();
  private readonly placed = new Map<string, PlacedPod>();
  /** Pods bound to nodes the cache has not seen yet, by node name. */
  private readonly waiting = new Map<string, Map<string, PodInfo>>();
  private order?: NodeInfo[];

  /** Every node, in a stable order (the scheduler walks it round-robin). */
  nodeList(): NodeInfo[] {
    return (this.order ??= [...this.nodes.values()]);
  }

  addOrUpdateNode(node: KubeObject): void {
    const name = node.metadata.name!;
    const existing = this.nodes.get(name);
    if (existing) {
      setNode(existing, node);
      return;
    }
    const info = nodeInfo(node);
    this.nodes.set(name, info);
    this.order = undefined;
    const early = this.waiting.get(name);
    if (early) {
      for (const p of early.values()) addPod(info, p);
      this.waiting.delete(name);
    }
    this.nodes.reindex(info);
  }

  removeNode(name: string): void {
    const info = this.nodes.get(name);
    if (!info) return;
    this.nodes.delete(name);
    this.nodes.reindex(info);
    this.order = undefined;
    // Pods still bound to the node stay known, so they count again if it returns.
    if (info.pods.size) this.waiting.set(name, new Map(info.pods));
  }

  /** A pod seen through the watch. Bound, non-terminal pods take capacity; others do not. */
  addOrUpdatePod(pod: KubeObject): void {
    const nodeName: string | undefined = pod.spec?.nodeName;
    const phase = pod.status?.phase;
    if (!nodeName || phase === 'Succeeded' || phase === 'Failed') {
      this.removePod(pod);
      return;
    }
    const info = podInfo(pod);
    const prev = this.placed.get(info.key);
    if (prev && prev.node !== nodeName) this.unplace(info.key, prev);
    this.place(info, nodeName, false);
  }

  removePod(pod: KubeObject): void {
    const key = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
    const prev = this.placed.get(key);
    if (prev) this.unplace(key, prev);
  }

  /** Takes the capacity `pod` needs on `nodeName` before the binding is written. */
  assume(pod: PodInfo, nodeName: string): void {
    this.place(pod, nodeName, true);
  }

  /** Undoes an assumption whose binding failed (a bound pod is left alone). */
  forget(pod: PodInfo): void {
    const prev = this.placed.get(pod.key);
    if (prev?.assumed) this.unplace(pod.key, prev);
  }

  isAssumed(key: string): boolean {
    return this.placed.get(key)?.assumed ?? false;
  }

  private place(info: PodInfo, nodeName: string, assumed: boolean): void {
    this.placed.set(info.key, { node: nodeName, info, assumed });
    const node = this.nodes.get(nodeName);
    if (node) {
      addPod(node, info);
      this.nodes.reindex(node);
      return;
    }
    let early = this.waiting.get(nodeName);
    if (!early) this.waiting.set(nodeName, (early = new Map()));
    early.set(info.key, info);
  }

  private unplace(key: string, prev: PlacedPod): void {
    this.placed.delete(key);
    const node = this.nodes.get(prev.node);
    if (node) {
      removePod(node, key);
      this.nodes.reindex(node);
    }
    const early = this.waiting.get(prev.node);
    if (early?.delete(key) && early.size === 0) this.waiting.delete(prev.node);
  }
}
