import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Flags } from '@oclif/core';
import type { RunningServer } from '../server';
import { parseDuration } from '../api/duration';
import { parsePortRange, parseServiceCidr } from '../api/ipalloc';

export default class Server extends Command {
  static summary = 'Run the mk control plane: API server with an embedded datastore.';

  static description = `Serves the Kubernetes API on --bind-address:--port, storing state in SQLite
under --data-dir (or etcd, by --datastore-endpoint). Writes <data-dir>/kubeconfig.yaml,
which both mk and kubectl accept.`;

  static examples = [
    '<%= config.bin %> server',
    '<%= config.bin %> server --data-dir /var/lib/mk --port 6443 --bind-address 0.0.0.0',
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
    const server: RunningServer = await startServer({
      dataDir: flags['data-dir'],
      port: flags.port,
      bindAddress: flags['bind-address'],
      datastoreEndpoint: flags['datastore-endpoint'],
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
      agent: flags['disable-agent']
        ? undefined
        : { runtime: flags.runtime as 'docker' | 'fake', nodeName: flags['node-name'], port: flags['agent-port'], proxy: !flags['disable-proxy'] },
      log: (line) => this.logToStderr(line),
    });
    this.log(`mk server is serving the Kubernetes API at ${server.url}`);
    this.log(`kubeconfig: ${server.kubeconfigPath}  (mk get pods / kubectl --kubeconfig ${server.kubeconfigPath} get pods)`);

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        this.log(`received ${signal}, shutting down`);
        server.close().then(resolve, (err) => {
          this.logToStderr(`error during shutdown: ${(err as Error).message}`);
          resolve();
        });
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  }
}
