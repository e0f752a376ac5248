import * as os from 'node:os';
import * as path from 'node:path';
import { CLUSTER_CONFIG_NAME, CLUSTER_CONFIG_NAMESPACE, DEFAULT_CLUSTER_DOMAIN, parseClusterConfig } from '../api/cluster-config';
import { resolveResourceName } from '../api/registry';
import { notFound } from '../apiserver/errors';
import { ApiStatusError, type KubeClient } from '../client/api-client';
import { Informer } from '../client/informer';
import { Agent } from './agent';
import { NodeProxy } from './proxy/node-proxy';
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
  /**
   * Run the service proxy and cluster DNS (Docker runtime only: fake pods
   * have no addresses to proxy to). One per host: see NodeProxy. An object
   * names another interface and lock file than mk-svc0's, so a second
   * cluster with its own service CIDR (a test's) can hold its ClusterIPs
   * beside the host's.
   */
  proxy?: boolean | ProxyHostOptions;
  /** The kubelet's --cluster-dns and --cluster-domain; default: the cluster's (kube-system/mk-cluster), else 10.43.0.10 and cluster.local. */
  clusterDNS?: string;
  clusterDomain?: string;
  log?: (line: string) => void;
}

export interface RunningAgents {
  agents: Agent[];
  port: number;
  /** The service proxy and DNS server, when running. */
  proxy?: NodeProxy;
  stop(): Promise<void>;
}

export interface ProxyHostOptions {
  interfaceName?: string;
  lockFile?: string;
}

const CONFIGMAPS = resolveResourceName('configmaps')!;
const SERVICES = resolveResourceName('services')!;

/** k3s's cluster DNS address: the 10th of its default service CIDR 10.43.0.0/16. */
export const DEFAULT_CLUSTER_DNS = '10.43.0.10';

/** The cluster DNS address and domain: the flags, else what the server published, else k3s's defaults. */
async function clusterDnsSettings(opts: LaunchOptions): Promise<{ clusterDNS: string; clusterDomain: string }> {
  let published: { clusterDNS: string; clusterDomain: string } | undefined;
  // The API server may still be starting: a few tries, as for registration.
  for (let attempt = 1; opts.clusterDNS === undefined || opts.clusterDomain === undefined; attempt++) {
    try {
      published = parseClusterConfig(await opts.client.get(CONFIGMAPS, CLUSTER_CONFIG_NAMESPACE, CLUSTER_CONFIG_NAME));
      break;
    } catch (err) {
      if (ApiStatusError.isNotFound(err)) break;
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
  return {
    clusterDNS: opts.clusterDNS ?? (published?.clusterDNS || DEFAULT_CLUSTER_DNS),
    clusterDomain: opts.clusterDomain || published?.clusterDomain || DEFAULT_CLUSTER_DOMAIN,
  };
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

  // One Services informer for every node of the process (containers' env) and the proxy.
  const services = new Informer(opts.client, SERVICES);
  const dns = await clusterDnsSettings(opts);
  let proxy: NodeProxy | undefined;
  if (opts.proxy && opts.runtime === 'docker') {
    const host = typeof opts.proxy === 'object' ? opts.proxy : {};
    proxy = new NodeProxy({ client: opts.client, services, nodeIP: opts.nodeIP ?? '127.0.0.1', ...dns, ...host, log });
    try {
      await proxy.start();
    } catch (err) {
      log(`agent: the service proxy failed to start: ${(err as Error).message}`);
      await proxy.stop().catch(() => undefined);
      proxy = undefined;
    }
  }
  // Fake pods resolve nothing, so they are given the cluster DNS as if it were served; real
  // ones only when this node serves it (else they keep the host's resolver, with an event).
  const clusterDNS = opts.runtime === 'fake' ? [dns.clusterDNS].filter(Boolean) : (proxy?.clusterDNS ?? []);

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
      services,
      clusterDNS,
      clusterDomain: dns.clusterDomain,
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
      portForward: (sandboxId, port) => owner.get(sandboxId)!.portForward(sandboxId, port),
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
    resolveSandbox: async (namespace, pod) => {
      for (const { agent, runtime } of nodes) {
        try {
          const sandbox = await agent.resolveSandbox(namespace, pod);
          owner.set(sandbox.id, runtime);
          return sandbox;
        } catch (err) {
          if ((err as { code?: number }).code !== 404 || nodes.length === 1) throw err;
        }
      }
      throw notFound({ group: '', plural: 'pods', kind: 'Pod' }, pod);
    },
  });
  let port: number;
  try {
    port = await server.listen(opts.port ?? 10250, opts.nodeIP ?? '127.0.0.1');
  } catch (err) {
    await proxy?.stop();
    services.stop();
    throw err;
  }

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
    await proxy?.stop();
    services.stop();
    throw err;
  }
  log(`agent: ${count === 1 ? `node ${opts.nodeName}` : `${count} nodes ${opts.nodeName}-0001..`} running on the ${opts.runtime} runtime; logs/exec on port ${port}`);

  return {
    agents: nodes.map((n) => n.agent),
    port,
    proxy,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.agent.stop()));
      await proxy?.stop();
      services.stop();
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
