import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { resolveResourceName, storageKey } from './api/registry';
import { createRequestListener } from './apiserver/app';
import { ApiError } from './apiserver/errors';
import { LocalClient } from './apiserver/local-client';
import { PodStreams } from './apiserver/pod-streams';
import { ResourceStorage } from './apiserver/resources';
import { ServiceAllocator } from './apiserver/service-allocator';
import { advertiseAddress, publishClusterConfig, reconcileKubernetesService } from './apiserver/kubernetes-service';
import { DEFAULT_CLUSTER_DOMAIN } from './api/cluster-config';
import { clusterDnsIP, DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, formatPortRange, parsePortRange, parseServiceCidr } from './api/ipalloc';
import { ensureTls, servingNames } from './apiserver/tls';
import { loadClusterBootstrap } from './apiserver/cluster-bootstrap';
import { EndpointReconciler } from './apiserver/endpoint-reconciler';
import { REPAIR_INTERVAL_MS } from './apiserver/service-allocator';
import { leaderElectionTimings, leaderIdentity, type LeaderElectionTimings } from './client/leader-election';
import { LeaderComponents } from './leader-components';
import { writeKubeconfig } from './client/kubeconfig';
import { defaultNodeName, launchAgents, NoContainerEngineError, type ProxyHostOptions, type RunningAgents } from './agent/launcher';
import { controllerFactories } from './controllers';
import { nodeLifecycleControllerFactory } from './controllers/node-lifecycle-controller';
import { DEFAULT_TOLERATION_SECONDS, setDefaultTolerationSeconds } from './api/defaults';
import type { ControllerManager } from './controllers/manager';
import type { Scheduler } from './scheduler/scheduler';
import { openStore, type Store } from './storage';

/**
 * The `mk server` process: the datastore, the API server and (as they are
 * built) the scheduler, controllers and the local agent, in one process.
 * Tests start exactly this, on port 0 with a temporary data dir.
 */

export interface ServerOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port: number;
  bindAddress: string;
  /** '' or undefined: SQLite in the data dir; see openStore for the schemes. */
  datastoreEndpoint?: string;
  /** etcd TLS: the CA of etcd's serving certificate, and the client certificate and key (PEM files). */
  datastoreCAFile?: string;
  datastoreCertFile?: string;
  datastoreKeyFile?: string;
  /** etcd key prefix replacing `/registry/` (default: keys stored as Kubernetes stores them). */
  datastorePrefix?: string;
  /** Compaction of datastore history (defaults: every 60 s, keep 10,000 revisions). */
  compactIntervalMs?: number;
  retainRevisions?: number;
  /** Events kept per kind for watch resumes. */
  watchCacheSize?: number;
  bookmarkIntervalMs?: number;
  /**
   * --min-request-timeout: a watch without timeoutSeconds ends after a random time in [this, 2*this)
   * (default 30 min), so clients re-watch from their last resourceVersion, or relist on 410, as they
   * must against Kubernetes.
   */
  minRequestTimeoutMs?: number;
  /** Leave pods unscheduled (so another scheduler, or a test, can place them). */
  disableScheduler?: boolean;
  /** Controllers not to run, by name; ['all'] runs none. */
  disableControllers?: string[];
  /** --node-monitor-grace-period: a node whose Lease is older than this is Unknown and tainted unreachable. Default 40 s. */
  nodeMonitorGracePeriodMs?: number;
  /**
   * --default-toleration-seconds: the tolerationSeconds defaulting gives new pods for the not-ready and
   * unreachable NoExecute taints. Default 300. Process-wide (it is the API server's admission setting).
   */
  defaultTolerationSeconds?: number;
  /** --service-cidr: where Services' cluster IPs come from (default 10.43.0.0/16, like k3s). */
  serviceCidr?: string;
  /** --service-node-port-range: where NodePort Services' ports come from (default 30000-32767). */
  serviceNodePortRange?: string;
  /**
   * Run a node agent in this process (mk server does unless --disable-agent);
   * `proxy`: with its service proxy and cluster DNS (mk server does unless --disable-proxy).
   */
  agent?: { runtime: 'docker' | 'fake'; nodeName?: string; port?: number; nodes?: number; proxy?: boolean | ProxyHostOptions };
  /**
   * --token: the cluster token. The first server of a cluster makes one when none is given (kept in
   * <data-dir>/token); a server joining a datastore that holds a cluster must be given that cluster's.
   */
  token?: string;
  /** --leader-elect-lease-duration, --leader-elect-renew-deadline, --leader-elect-retry-period (15 s, 10 s, 2 s; renewal every 5 s). */
  leaderElection?: Partial<LeaderElectionTimings>;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  /** PEM of the cluster CA that signed the serving certificate (also in the kubeconfig). */
  caPem: string;
  port: number;
  token: string;
  kubeconfigPath: string;
  store: Store;
  resources: ResourceStorage;
  /** The in-process scheduler, while this server leads it (and unless disabled). */
  readonly scheduler?: Scheduler;
  /** The controller manager, while this server leads it. */
  readonly controllers?: ControllerManager;
  /** This server's leader elections: the scheduler, the controller manager and compaction each have a Lease in kube-system. */
  leaders: LeaderComponents;
  /** This server as a leader candidate (hostname_uuid): the holderIdentity of the Leases it holds. */
  identity: string;
  /** The embedded agent, when asked for and able to run. */
  agents?: RunningAgents;
  /** Stops accepting requests, ends watches, and closes the datastore cleanly. */
  close(): Promise<void>;
}

/** The namespaces every cluster has from its first start. */
const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-node-lease', 'kube-public'];

export const MK_VERSION: string = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'),
).version;

/** The cluster token an earlier start kept in `file`, if any. */
function readToken(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
  }
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? (() => undefined);
  // Bad ranges fail before anything is opened.
  const serviceCidr = parseServiceCidr(opts.serviceCidr ?? DEFAULT_SERVICE_CIDR).cidr;
  const nodePortRange = formatPortRange(parsePortRange(opts.serviceNodePortRange ?? DEFAULT_NODE_PORT_RANGE));
  const leaderElection = leaderElectionTimings(opts.leaderElection);
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const tokenFile = path.join(opts.dataDir, 'token');
  const store = await openStore(opts.datastoreEndpoint, opts.dataDir, {
    compactIntervalMs: opts.compactIntervalMs,
    retainRevisions: opts.retainRevisions,
    etcd: { caFile: opts.datastoreCAFile, certFile: opts.datastoreCertFile, keyFile: opts.datastoreKeyFile, prefix: opts.datastorePrefix },
  });
  // etcd may be shared by several servers of one cluster; SQLite is opened by this process alone.
  const shared = /^https?:\/\//.test(opts.datastoreEndpoint ?? '');
  // The token and CA every server of the cluster shares: from the datastore, or made here by the first server.
  let cluster: Awaited<ReturnType<typeof loadClusterBootstrap>>;
  try {
    const kept = readToken(tokenFile);
    cluster = await loadClusterBootstrap(store, { token: opts.token ?? kept, tokenSource: opts.token ? '--token' : tokenFile, dataDir: opts.dataDir });
  } catch (err) {
    await store.close();
    throw err;
  }
  const token = cluster.token;
  if (readToken(tokenFile) !== token) fs.writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  setDefaultTolerationSeconds(opts.defaultTolerationSeconds ?? DEFAULT_TOLERATION_SECONDS);
  const resources = new ResourceStorage(store, undefined, opts.watchCacheSize, new ServiceAllocator(store, { serviceCidr, nodePortRange }));
  for (const warning of await resources.start({ exclusive: !shared })) log(`mk server: ${warning}`);
  await bootstrap(resources);

  const logError = (err: unknown) => log(`internal error: ${(err as Error)?.stack ?? err}`);
  const podStreams = new PodStreams({ resources, token, logError });
  const listener = createRequestListener({
    resources,
    store,
    token,
    podStreams,
    version: MK_VERSION,
    watch: {
      bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
      minRequestTimeoutMs: opts.minRequestTimeoutMs ?? 30 * 60_000,
      maxBufferedBytes: 16 * 1024 * 1024,
    },
    logError,
  });
  const tls = await ensureTls(opts.dataDir, servingNames(opts.bindAddress), cluster.ca);
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, listener);
  server.keepAliveTimeout = 65_000;
  // pods/exec arrives as a WebSocket upgrade, which node hands over outside the request listener.
  server.on('upgrade', (req, socket, head) => podStreams.upgrade(req, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.bindAddress, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.bindAddress === '0.0.0.0' || opts.bindAddress === '::' ? '127.0.0.1' : opts.bindAddress;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const kubeconfigPath = path.join(opts.dataDir, 'kubeconfig.yaml');
  writeKubeconfig(kubeconfigPath, { server: url, token, caData: tls.caPem });

  // The control loops talk to the API in-process: same storage, admission and watch cache, no HTTP.
  const client = new LocalClient(resources);
  await publishClusterConfig(client, {
    serviceCIDR: serviceCidr,
    serviceNodePortRange: nodePortRange,
    clusterDNS: clusterDnsIP(serviceCidr),
    clusterDomain: DEFAULT_CLUSTER_DOMAIN,
  });
  const kubernetesWarnings = await reconcileKubernetesService(client, { serviceCidr, port });
  for (const warning of kubernetesWarnings) log(`mk server: ${warning}`);
  // This server as a leader candidate, and as one of the API servers the kubernetes Endpoints list.
  const identity = leaderIdentity();
  const endpoints = new EndpointReconciler({
    client, identity, address: advertiseAddress(opts.bindAddress), port,
    leaseDurationMs: leaderElection.leaseDurationMs, intervalMs: leaderElection.renewIntervalMs, log,
  });
  await endpoints.start();
  // What services leaked (a server died between taking a cluster IP and storing its Service) goes back.
  const repairTimer = setInterval(() => {
    resources.repairServiceAllocations().then((warnings) => warnings.forEach((w) => log(`mk server: ${w}`)), () => undefined);
  }, REPAIR_INTERVAL_MS);
  repairTimer.unref();

  // The scheduler, the controllers and compaction run in one server of the cluster at a time: the leader.
  const factories = [...controllerFactories, nodeLifecycleControllerFactory({ gracePeriodMs: opts.nodeMonitorGracePeriodMs })];
  const leaders = new LeaderComponents({
    client,
    store,
    identity,
    timings: leaderElection,
    shared,
    scheduler: !opts.disableScheduler,
    controllers: { factories, disabled: opts.disableControllers },
    log,
  });
  await leaders.start();
  if (shared) log(`mk server: leader candidate ${identity}; ${leaders.describe().join('; ')}`);

  let agents: RunningAgents | undefined;
  if (opts.agent) {
    try {
      agents = await launchAgents({
        client,
        token,
        runtime: opts.agent.runtime,
        nodeName: opts.agent.nodeName ?? defaultNodeName(),
        nodes: opts.agent.nodes,
        port: opts.agent.port ?? 10250,
        proxy: opts.agent.proxy,
        clusterDNS: clusterDnsIP(serviceCidr),
        clusterDomain: DEFAULT_CLUSTER_DOMAIN,
        dataDir: path.join(opts.dataDir, 'agent'),
        log,
      });
    } catch (err) {
      // The control plane is useful without a local node: say why in one line and keep serving.
      if (!(err instanceof NoContainerEngineError)) throw err;
      log(`mk server: ${err.message}; serving the control plane only`);
    }
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await agents?.stop();
      clearInterval(repairTimer);
      await leaders.stop();
      await endpoints.stop();
      podStreams.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      resources.stop();
      await store.close();
    })());

  return {
    url, caPem: tls.caPem, port, token, kubeconfigPath, store, resources, agents, close, leaders, identity,
    get scheduler() {
      return leaders.scheduler;
    },
    get controllers() {
      return leaders.controllers;
    },
  };
}

/** Creates the system namespaces on first start (and any that were deleted). */
async function bootstrap(resources: ResourceStorage): Promise<void> {
  const nsType = resolveResourceName('namespaces')!;
  for (const name of SYSTEM_NAMESPACES) {
    if (resources.cache(nsType).get(storageKey(nsType, undefined, name))) continue;
    try {
      await resources.create(nsType, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    } catch (err) {
      // Another server of the cluster, starting at the same time, made it first.
      if (!(err instanceof ApiError && err.reason === 'AlreadyExists')) throw err;
    }
  }
}
