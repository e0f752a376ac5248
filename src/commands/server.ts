import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Flags } from '@oclif/core';
import type { RunningServer } from '../server';

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
    'disable-controllers': Flags.string({
      description: "controllers not to run, comma-separated (e.g. 'replicaset,deployment'), or 'all'",
    }),
    'disable-scheduler': Flags.boolean({ description: 'do not run the scheduler (pods stay Pending unless another scheduler binds them)', default: false }),
    'datastore-endpoint': Flags.string({
      description: 'datastore: empty for SQLite in the data dir, sqlite:///path/state.db, or http(s)://etcd:2379',
      default: '',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Server);
    // Loaded here, not at the top: oclif loads every command's module for `mk get` too.
    const { startServer } = await import('../server');
    const server: RunningServer = await startServer({
      dataDir: flags['data-dir'],
      port: flags.port,
      bindAddress: flags['bind-address'],
      datastoreEndpoint: flags['datastore-endpoint'],
      disableScheduler: flags['disable-scheduler'],
      disableControllers: flags['disable-controllers']?.split(',').map((s) => s.trim()).filter(Boolean),
      agent: flags['disable-agent']
        ? undefined
        : { runtime: flags.runtime as 'docker' | 'fake', nodeName: flags['node-name'], port: flags['agent-port'] },
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
