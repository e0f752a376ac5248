import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Flags } from '@oclif/core';
import type { RunningServer } from '../server';
import type { EmbeddedEtcd } from '../storage/embedded-etcd';
import { parseDuration } from '../api/duration';
import { parsePortRange, parseServiceCidr } from '../api/ipalloc';

export default class Server extends Command {
  static summary = 'Run the mk control plane: API server with an embedded datastore.';

  static description = `Serves the Kubernetes API on --bind-address:--port, storing state in SQLite
under --data-dir (or etcd, by --datastore-endpoint; or an etcd it runs itself, with
--cluster-init). Writes <data-dir>/kubeconfig.yaml, which both mk and kubectl accept.`;

  static examples = [
    '<%= config.bin %> server',
    '<%= config.bin %> server --data-dir /var/lib/mk --port 6443 --bind-address 0.0.0.0',
    '<%= config.bin %> server --cluster-init',
    '<%= config.bin %> server --datastore-endpoint http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379',
  ];

  static flags = {
    'data-dir': Flags.string({ description: 'where state, the token and the kubeconfig live', default: path.join(os.homedir(), '.mk') }),
    port: Flags.integer({ description: 'port to serve the API on (0 picks a free one)', default: 6443, min: 0, max: 65535 }),
    'bind-address': Flags.string({ description: 'address to listen on', default: '127.0.0.1' }),
    'disable-agent': Flags.boolean({ description: 'do not run a node agent in this process (control plane only)', default: false }),
    'node-name': Flags.string({ description: 'name of the local node (default: the host name)' }),
    runtime: Flags.string({ description: 'container runtime of the local agent', options: ['docker', 'fake'], default: 'docker' }),
    'agent-port': Flags.integer({ description: "port of the local agent's log/exec server (0 picks a free one)", default: 10250, min: 0, max: 65535 }),
    'disable-proxy': Flags.boolean({ description: "do not run the local agent's service proxy and cluster DNS", default: false }),
    'disable-controllers': Flags.string({
      description: "controllers not to run, comma-separated (e.g. 'replicaset,deployment'), or 'all'",
    }),
    'disable-scheduler': Flags.boolean({ description: 'do not run the scheduler (pods stay Pending unless another scheduler binds them)', default: false }),
    'node-monitor-grace-period': Flags.string({
      description: 'how long a node may go without renewing its Lease before it is marked Unknown and tainted unreachable (a duration: 40s, 1m30s)',
      default: '40s',
    }),
    'default-toleration-seconds': Flags.integer({
      description: 'tolerationSeconds added by default to pods for the not-ready and unreachable NoExecute taints',
      default: 300,
      min: 0,
    }),
    'service-cidr': Flags.string({ description: "IPv4 range of Services' cluster IPs (the 1st address is the kubernetes Service's, the 10th the cluster DNS's)", default: '10.43.0.0/16' }),
    'service-node-port-range': Flags.string({ description: 'port range of NodePort Services, LOW-HIGH inclusive', default: '30000-32767' }),
    'datastore-endpoint': Flags.string({
      description: 'datastore: empty for SQLite in the data dir, sqlite:///path/state.db, or etcd as http(s)://host:2379[,http(s)://host2:2379,...]',
      default: '',
    }),
    'datastore-cafile': Flags.string({ description: 'etcd TLS: CA certificate (PEM) that signed the etcd server certificates' }),
    'datastore-certfile': Flags.string({ description: 'etcd TLS: client certificate (PEM)', dependsOn: ['datastore-keyfile'] }),
    'datastore-keyfile': Flags.string({ description: 'etcd TLS: client private key (PEM)', dependsOn: ['datastore-certfile'] }),
    'datastore-prefix': Flags.string({ description: 'etcd key prefix that replaces /registry/ (default: keys as Kubernetes stores them, /registry/...)' }),
    token: Flags.string({
      description: "the cluster token: the first server makes one unless given (<data-dir>/token); servers joining a datastore that holds a cluster need that cluster's",
      env: 'MK_TOKEN',
    }),
    'leader-elect-lease-duration': Flags.string({
      description: 'how long other servers wait after the last renewal they saw before taking over a leader Lease (scheduler, controllers, compaction)',
      default: '15s',
    }),
    'leader-elect-renew-deadline': Flags.string({ description: 'how long a leader keeps leading without renewing its Lease; it renews every half of this', default: '10s' }),
    'leader-elect-retry-period': Flags.string({ description: 'how often servers try to take a leader Lease, and a leader retries a failed renewal', default: '2s' }),
    'cluster-init': Flags.boolean({
      description: 'run an etcd (the etcd binary on PATH or /usr/bin/etcd) on loopback with its data in <data-dir>/etcd, and store everything there',
      default: false,
    }),
    'etcd-client-port': Flags.integer({ description: "with --cluster-init: etcd's client port on 127.0.0.1 (0 picks a free one)", default: 2379, min: 0, max: 65535 }),
    'etcd-peer-port': Flags.integer({ description: "with --cluster-init: etcd's peer port on 127.0.0.1 (0 picks a free one)", default: 2380, min: 0, max: 65535 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Server);
    // Loaded here, not at the top: oclif loads every command's module for `mk get` too.
    const { startServer } = await import('../server');
    let nodeMonitorGracePeriodMs: number;
    try {
      nodeMonitorGracePeriodMs = parseDuration(flags['node-monitor-grace-period']);
    } catch (err) {
      this.error(`invalid --node-monitor-grace-period: ${(err as Error).message}`, { exit: 2 });
    }
    if (nodeMonitorGracePeriodMs <= 0) this.error('--node-monitor-grace-period must be positive', { exit: 2 });
    try {
      parseServiceCidr(flags['service-cidr']);
      parsePortRange(flags['service-node-port-range']);
    } catch (err) {
      this.error(`invalid --service-cidr or --service-node-port-range: ${(err as Error).message}`, { exit: 2 });
    }
    let leaderElection: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
    try {
      leaderElection = {
        leaseDurationMs: parseDuration(flags['leader-elect-lease-duration']),
        renewDeadlineMs: parseDuration(flags['leader-elect-renew-deadline']),
        retryPeriodMs: parseDuration(flags['leader-elect-retry-period']),
      };
      const { checkTimings } = await import('../client/leader-election');
      checkTimings(leaderElection);
    } catch (err) {
      this.error(`invalid --leader-elect-* flags: ${(err as Error).message}`, { exit: 2 });
    }
    let etcd: EmbeddedEtcd | undefined;
    if (flags['cluster-init']) {
      if (flags['datastore-endpoint']) this.error('--cluster-init runs its own etcd: leave out --datastore-endpoint', { exit: 2 });
      const { EtcdNotFoundError, startEmbeddedEtcd } = await import('../storage/embedded-etcd');
      try {
        etcd = await startEmbeddedEtcd({
          dataDir: flags['data-dir'], clientPort: flags['etcd-client-port'], peerPort: flags['etcd-peer-port'], log: (line) => this.logToStderr(line),
        });
      } catch (err) {
        if (err instanceof EtcdNotFoundError) this.error(err.message, { exit: 1 });
        throw err;
      }
    }
    let server: RunningServer;
    try {
      server = await startServer({
        dataDir: flags['data-dir'],
        port: flags.port,
        bindAddress: flags['bind-address'],
        datastoreEndpoint: etcd?.endpoint ?? flags['datastore-endpoint'],
        datastoreCAFile: flags['datastore-cafile'],
        datastoreCertFile: flags['datastore-certfile'],
        datastoreKeyFile: flags['datastore-keyfile'],
        datastorePrefix: flags['datastore-prefix'],
        disableScheduler: flags['disable-scheduler'],
        nodeMonitorGracePeriodMs,
        defaultTolerationSeconds: flags['default-toleration-seconds'],
        serviceCidr: flags['service-cidr'],
        serviceNodePortRange: flags['service-node-port-range'],
        disableControllers: flags['disable-controllers']?.split(',').map((s) => s.trim()).filter(Boolean),
        token: flags.token,
        leaderElection,
        agent: flags['disable-agent']
          ? undefined
          : { runtime: flags.runtime as 'docker' | 'fake', nodeName: flags['node-name'], port: flags['agent-port'], proxy: !flags['disable-proxy'] },
        log: (line) => this.logToStderr(line),
      });
    } catch (err) {
      await etcd?.stop();
      // A wrong or missing --token for the cluster in the datastore: the message says what to do.
      if ((err as Error).name === 'TokenMismatchError') this.error((err as Error).message, { exit: 1 });
      throw err;
    }
    this.log(`mk server is serving the Kubernetes API at ${server.url}`);
    this.log(`kubeconfig: ${server.kubeconfigPath}  (mk get pods / kubectl --kubeconfig ${server.kubeconfigPath} get pods)`);

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        this.log(`received ${signal}, shutting down`);
        // etcd goes last: the server's store needs it until it has closed.
        server
          .close()
          .catch((err) => this.logToStderr(`error during shutdown: ${(err as Error).message}`))
          .then(() => etcd?.stop())
          .then(resolve, (err) => {
            this.logToStderr(`error stopping etcd: ${(err as Error).message}`);
            resolve();
          });
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  }
}
