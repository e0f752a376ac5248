import * as os from 'node:os';
import * as path from 'node:path';
import { notFound } from '../apiserver/errors';
import type { KubeClient } from '../client/api-client';
import { Agent } from './agent';
import { DockerRuntime } from './runtime/docker';
import { FakeRuntime } from './runtime/fake';
import type { ContainerRuntime } from './runtime/runtime';
import { AgentServer } from './server';

/**
 * Starts what `mk agent` runs (and `mk server` embeds): one Agent per node
 * with its runtime, and one log/exec server for all of them.
 *
 * With the fake runtime, `nodes` > 1 registers that many nodes
 * (`NAME-0001`, ...) from this one process, each with its own runtime,
 * pod workers and Lease heartbeat, as kwok does: a thousand nodes cost one
 * process.
 */

export interface LaunchOptions {
  client: KubeClient;
  /** The cluster token the log/exec server requires (the API server presents it). */
  token: string;
  nodeName: string;
  runtime: 'docker' | 'fake';
  /** Fake runtime only: how many nodes to run. */
  nodes?: number;
  dataDir: string;
  nodeIP?: string;
  /** Port of the log/exec server; 0 picks a free one. */
  port?: number;
  /** Fake runtime: how long a container takes to "start". */
  fakeStartDelayMs?: number;
  /** Agent heartbeat (Lease renewal) interval and Lease duration; defaults 10 s and 40 s. */
  heartbeatIntervalMs?: number;
  leaseDurationSeconds?: number;
  /** Docker: the engine socket (default $DOCKER_HOST, then /var/run/docker.sock). */
  dockerSocket?: string;
  log?: (line: string) => void;
}

export interface RunningAgents {
  agents: Agent[];
  port: number;
  stop(): Promise<void>;
}

/** Thrown when the Docker engine does not answer; the message is the one line a user sees. */
export class NoContainerEngineError extends Error {
  constructor(endpoint: string) {
    super(`no Docker engine answers at ${endpoint}: pods on this node cannot run (start dockerd, set DOCKER_HOST, or use --runtime fake)`);
    this.name = 'NoContainerEngineError';
  }
}

/** A node name from the host name, made a valid DNS-1123 name as Kubernetes requires. */
export function defaultNodeName(): string {
  return os.hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '') || 'node';
}

export async function launchAgents(opts: LaunchOptions): Promise<RunningAgents> {
  const log = opts.log ?? (() => undefined);
  const count = opts.runtime === 'fake' ? Math.max(1, opts.nodes ?? 1) : 1;
  if (opts.runtime === 'docker' && !(await DockerRuntime.probe({ socketPath: opts.dockerSocket }))) {
    throw new NoContainerEngineError(DockerRuntime.endpoint({ socketPath: opts.dockerSocket }));
  }

  const nodes: Array<{ agent: Agent; runtime: ContainerRuntime }> = [];
  for (let i = 1; i <= count; i++) {
    const nodeName = count === 1 ? opts.nodeName : `${opts.nodeName}-${String(i).padStart(4, '0')}`;
    const runtime: ContainerRuntime =
      opts.runtime === 'docker'
        ? new DockerRuntime({ node: nodeName, socketPath: opts.dockerSocket })
        : new FakeRuntime({ node: nodeName, nodeIndex: i - 1, startDelayMs: opts.fakeStartDelayMs });
    const agent = new Agent(opts.client, runtime, {
      nodeName,
      dataDir: count === 1 ? opts.dataDir : path.join(opts.dataDir, nodeName),
      nodeIP: opts.nodeIP,
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      leaseDurationSeconds: opts.leaseDurationSeconds,
      log,
    });
    nodes.push({ agent, runtime });
  }

  // One server for every node of this process: it asks each agent for the container in turn.
  const owner = new Map<string, ContainerRuntime>();
  const server = new AgentServer({
    token: opts.token,
    log,
    runtime: {
      logs: (id, o) => owner.get(id)!.logs(id, o),
      exec: (id, cmd, o) => owner.get(id)!.exec(id, cmd, o),
    },
    resolveContainer: async (namespace, pod, container, previous) => {
      for (const { agent, runtime } of nodes) {
        try {
          const id = await agent.resolveContainer(namespace, pod, container, previous);
          owner.set(id, runtime);
          return id;
        } catch (err) {
          if ((err as { code?: number }).code !== 404 || nodes.length === 1) throw err;
        }
      }
      throw notFound({ group: '', plural: 'pods', kind: 'Pod' }, pod);
    },
  });
  const port = await server.listen(opts.port ?? 10250, opts.nodeIP ?? '127.0.0.1');

  const started: Agent[] = [];
  try {
    for (const { agent } of nodes) {
      agent.setDaemonPort(port);
      await startWithRetry(agent, log);
      started.push(agent);
    }
  } catch (err) {
    await Promise.all(started.map((a) => a.stop()));
    await server.close();
    throw err;
  }
  log(`agent: ${count === 1 ? `node ${opts.nodeName}` : `${count} nodes ${opts.nodeName}-0001..`} running on the ${opts.runtime} runtime; logs/exec on port ${port}`);

  return {
    agents: nodes.map((n) => n.agent),
    port,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.agent.stop()));
      await server.close();
      await Promise.all(nodes.map((n) => n.runtime.close()));
    },
  };
}

/** Registration can fail while the API server is still starting; retry a few times. */
async function startWithRetry(agent: Agent, log: (line: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await agent.start();
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
      log(`agent: start failed (${(err as Error).message}), retrying`);
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
