import * as os from 'node:os';
import { resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { EventRecorder } from '../client/events';
import { Informer, objectKey } from '../client/informer';
import { SchedulerCache } from './cache';
import { countReasons, failureMessage } from './failure-message';
import { SKIP, type CycleState, type FilterPlugin, type NodeInfo, type PodInfo, type ScorePlugin } from './framework';
import { podInfo } from './pod-info';
import { filterPlugins, scorePlugins } from './plugins';
import { SchedulingQueue, type QueuedPod } from './queue';

const PODS = resolveResourceName('pods')!;
const NODES = resolveResourceName('nodes')!;

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

export interface SchedulerOptions {
  schedulerName?: string;
  /**
   * Stop filtering once this percentage of nodes is found feasible (at least
   * 100 nodes). 0 picks kube-scheduler's adaptive default: 50% minus 1% per
   * 125 nodes, at least 5%.
   */
  percentageOfNodesToScore?: number;
  filters?: readonly FilterPlugin[];
  scores?: readonly ScorePlugin[];
  log?: (line: string) => void;
}

/** How many feasible nodes to look for before scoring, as kube-scheduler's numFeasibleNodesToFind. */
export function numFeasibleNodesToFind(nodes: number, percentage = 0): number {
  const MIN = 100;
  if (nodes < MIN) return nodes;
  let pct = percentage;
  // Integer division, as kube-scheduler computes it in Go.
  if (pct <= 0) pct = Math.max(5, 50 - Math.floor(nodes / 125));
  if (pct >= 100) return nodes;
  return Math.max(MIN, Math.floor((nodes * pct) / 100));
}

/** Changes to a node that can make an unschedulable pod fit (heartbeats alone cannot). */
function schedulingPropertiesChanged(oldNode: KubeObject, newNode: KubeObject): boolean {
  const ready = (n: KubeObject) => n.status?.conditions?.find((c: any) => c.type === 'Ready')?.status;
  return (
    JSON.stringify(oldNode.status?.allocatable) !== JSON.stringify(newNode.status?.allocatable) ||
    JSON.stringify(oldNode.metadata.labels) !== JSON.stringify(newNode.metadata.labels) ||
    JSON.stringify(oldNode.spec?.taints) !== JSON.stringify(newNode.spec?.taints) ||
    oldNode.spec?.unschedulable !== newNode.spec?.unschedulable ||
    ready(oldNode) !== ready(newNode)
  );
}

function terminal(pod: KubeObject): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/**
 * The scheduler: watches pods and nodes through the API, and for every
 * pending pod that is its to place (spec.schedulerName), runs the filter
 * plugins over the nodes, scores the feasible ones and binds the pod to the
 * best through `pods/binding`. It never writes a pod's spec otherwise.
 */
export class Scheduler {
  readonly cache = new SchedulerCache();
  readonly queue = new SchedulingQueue();
  private readonly pods: Informer;
  private readonly nodes: Informer;
  private readonly events: EventRecorder;
  private readonly name: string;
  private readonly filters: readonly FilterPlugin[];
  private readonly scores: readonly ScorePlugin[];
  private readonly log: (line: string) => void;
  private nextStartNode = 0;
  private running = false;
  private loopDone?: Promise<void>;

  constructor(private readonly client: KubeClient, private readonly opts: SchedulerOptions = {}) {
    this.name = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.filters = opts.filters ?? filterPlugins;
    this.scores = opts.scores ?? scorePlugins;
    this.log = opts.log ?? (() => undefined);
    this.events = new EventRecorder(client, this.name, os.hostname(), (err) => this.log(`scheduler: writing an event failed: ${(err as Error).message}`));
    this.pods = new Informer(client, PODS);
    this.nodes = new Informer(client, NODES);
  }

  async start(): Promise<void> {
    this.nodes.on({
      add: (node) => {
        this.cache.addOrUpdateNode(node);
        this.queue.moveAllToActive();
      },
      update: (oldNode, node) => {
        this.cache.addOrUpdateNode(node);
        if (schedulingPropertiesChanged(oldNode, node)) this.queue.moveAllToActive();
      },
      delete: (node) => this.cache.removeNode(node.metadata.name!),
    });
    this.pods.on({
      add: (pod) => this.onPod(pod),
      update: (oldPod, pod) => this.onPod(pod, oldPod),
      delete: (pod) => this.onPodDeleted(pod),
    });
    await Promise.all([this.nodes.start(), this.pods.start()]);
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.queue.close();
    this.pods.stop();
    this.nodes.stop();
    await this.loopDone;
  }

  private responsibleFor(pod: KubeObject): boolean {
    return (pod.spec?.schedulerName || DEFAULT_SCHEDULER_NAME) === this.name;
  }

  private onPod(pod: KubeObject, oldPod?: KubeObject): void {
    const key = objectKey(pod);
    if (pod.spec?.nodeName) {
      this.cache.addOrUpdatePod(pod);
      this.queue.delete(key);
      // A pod that finished frees its node's capacity.
      if (oldPod && terminal(pod) && !terminal(oldPod)) this.queue.moveAllToActive();
    } else if (this.responsibleFor(pod) && !pod.metadata.deletionTimestamp) {
      this.queue.addOrUpdate(pod, key);
    } else {
      this.queue.delete(key);
    }
  }

  private onPodDeleted(pod: KubeObject): void {
    if (pod.spec?.nodeName) {
      this.cache.removePod(pod);
      this.queue.moveAllToActive();
    } else {
      this.queue.delete(objectKey(pod));
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const item = await this.queue.pop();
      if (!item) return;
      try {
        this.scheduleOne(item);
      } catch (err) {
        this.log(`scheduler: scheduling ${item.key} failed: ${(err as Error).stack ?? err}`);
        this.queue.requeueWithBackoff(item);
      }
      // Let watch events and binding results in between pods: the loop must not starve I/O.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** One scheduling cycle: pick a node, assume the pod there, and bind asynchronously. */
  private scheduleOne(item: QueuedPod): void {
    const pod = this.pods.get(item.key) ?? item.pod;
    if (pod.spec?.nodeName || pod.metadata.deletionTimestamp || !this.responsibleFor(pod) || this.cache.isAssumed(item.key)) {
      this.queue.done(item.key);
      return;
    }
    const info = podInfo(pod);
    const choice = this.findNode(info);
    if (typeof choice !== 'object') {
      this.recordUnschedulable(pod, choice);
      this.queue.requeueUnschedulable({ ...item, pod });
      return;
    }
    const nodeName = choice.name;
    this.cache.assume(info, nodeName);
    this.queue.done(item.key);
    this.client.bind(pod.metadata.namespace ?? 'default', pod.metadata.name!, nodeName, pod.metadata.uid).then(
      () => this.events.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${item.key} to ${nodeName}`),
      (err) => {
        this.cache.forget(info);
        // Gone, or bound by someone else meanwhile: the watch brings the truth.
        if (ApiStatusError.isNotFound(err) || ApiStatusError.isConflict(err)) return;
        this.log(`scheduler: binding ${item.key} to ${nodeName} failed: ${(err as Error).message}`);
        this.events.record(pod, 'Warning', 'FailedScheduling', `Binding rejected: ${(err as Error).message}`);
        this.queue.requeueWithBackoff({ ...item, pod });
      },
    );
  }

  /** The best node for the pod, or the FailedScheduling message when none fits. */
  findNode(pod: PodInfo): NodeInfo | string {
    const nodes = this.cache.nodeList();
    const total = nodes.length;
    const state: CycleState = new Map();
    const filters = this.filters.filter((f) => f.prepare?.(pod, state, this.cache.nodes) !== SKIP);
    const wanted = numFeasibleNodesToFind(total, this.opts.percentageOfNodesToScore);
    const feasible: NodeInfo[] = [];
    const reasons = new Map<string, number>();
    let visited = 0;
    // Start where the previous pod stopped, so every node gets its turn (kube-scheduler does the same).
    for (; visited < total && feasible.length < wanted; visited++) {
      const node = nodes[(this.nextStartNode + visited) % total];
      let fits = true;
      for (const f of filters) {
        const result = f.filter(pod, node, state);
        if (result !== undefined) {
          countReasons(reasons, result);
          fits = false;
          break;
        }
      }
      if (fits) feasible.push(node);
    }
    this.nextStartNode = total ? (this.nextStartNode + visited) % total : 0;
    if (!feasible.length) return failureMessage(total, reasons);
    if (feasible.length === 1) return feasible[0];
    return this.pickBest(pod, feasible, state);
  }

  private pickBest(pod: PodInfo, feasible: NodeInfo[], state: CycleState): NodeInfo {
    const totals = new Array<number>(feasible.length).fill(0);
    for (const plugin of this.scores) {
      if (plugin.prepare?.(pod, state, this.cache.nodes) === SKIP) continue;
      const scores = feasible.map((n) => plugin.score(pod, n, state));
      plugin.normalize?.(scores, state);
      for (let i = 0; i < scores.length; i++) totals[i] += scores[i] * plugin.weight;
    }
    // The highest score wins; ties are broken at random, so equal nodes share the load.
    let best = 0;
    let ties = 1;
    for (let i = 1; i < totals.length; i++) {
      if (totals[i] > totals[best]) {
        best = i;
        ties = 1;
      } else if (totals[i] === totals[best] && Math.random() * ++ties < 1) {
        best = i;
      }
    }
    return feasible[best];
  }

  /** FailedScheduling event, and PodScheduled=False/Unschedulable with the same message on the pod. */
  private recordUnschedulable(pod: KubeObject, message: string): void {
    this.events.record(pod, 'Warning', 'FailedScheduling', message);
    const conditions: any[] = pod.status?.conditions ?? [];
    const current = conditions.find((c) => c.type === 'PodScheduled');
    if (current?.status === 'False' && current.reason === 'Unschedulable' && current.message === message) return;
    const condition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message,
      lastProbeTime: null,
      lastTransitionTime: current?.status === 'False' ? current.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    const next = [...conditions.filter((c) => c.type !== 'PodScheduled'), condition];
    this.client
      .patch(PODS, pod.metadata.namespace, pod.metadata.name!, { status: { conditions: next } }, 'merge', { subresource: 'status' })
      .catch((err) => {
        if (!ApiStatusError.isNotFound(err)) this.log(`scheduler: updating ${objectKey(pod)} status failed: ${(err as Error).message}`);
      });
  }
}
