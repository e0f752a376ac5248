import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Flags } from '@oclif/core';
import type { ClientConfig } from '../client/kubeconfig';

/**
 * How long a request may go unanswered. A hung server (its kernel still
 * accepts connections) would otherwise hold the Lease renewal forever; a
 * renewal that times out is retried a second later, on the next server
 * when there are several, well within the Lease's 40 s.
 */
const REQUEST_TIMEOUT_MS = 15_000;

export default class AgentCommand extends Command {
  static summary = 'Run the node agent (kubelet): register a node and run the pods bound to it.';

  static description = `Registers the node, renews its Lease every 10 s, and runs the pods the
scheduler binds to it as Docker containers (or, with --runtime fake, pretends to,
like kwok). Connects with a kubeconfig (--kubeconfig, $KUBECONFIG, ~/.mk/kubeconfig.yaml)
or with --server and --token. Several servers of one cluster (--server a,b or a repeated
--server) are used one at a time: when the current one is unreachable, leaves a request
unanswered for 15 s or answers 503, the agent moves on to the next, for requests and
watches alike.`;

  static examples = [
    '<%= config.bin %> agent --node node1',
    '<%= config.bin %> agent --node node2 --server https://10.0.0.1:6443 --token $TOKEN --certificate-authority ca.crt',
    '<%= config.bin %> agent --node node3 --server https://10.0.0.1:6443,https://10.0.0.2:6443,https://10.0.0.3:6443 --token $TOKEN --certificate-authority ca.crt',
    '<%= config.bin %> agent --node fake --runtime fake --nodes 1000',
  ];

  static flags = {
    node: Flags.string({ description: 'node name (default: the host name)' }),
    kubeconfig: Flags.string({ description: 'kubeconfig to reach the API server with' }),
    server: Flags.string({
      description: 'API server URL (with --token), instead of a kubeconfig; several servers of one cluster, comma-separated or repeated, fail over',
      multiple: true,
      delimiter: ',',
    }),
    token: Flags.string({ description: 'cluster token (with --server)' }),
    'certificate-authority': Flags.string({ description: 'CA file that signed the API server certificate (with --server)' }),
    'insecure-skip-tls-verify': Flags.boolean({ description: 'do not verify the API server certificate (with --server)', default: false }),
    runtime: Flags.string({ description: 'container runtime', options: ['docker', 'fake'], default: 'docker' }),
    nodes: Flags.integer({ description: 'fake runtime: register this many nodes, NAME-0001...', default: 1, min: 1 }),
    'fake-start-delay': Flags.integer({ description: 'fake runtime: ms a container takes to start', default: 0, min: 0 }),
    'data-dir': Flags.string({ description: "the agent's own state (pod volumes)", default: path.join(os.homedir(), '.mk', 'agent') }),
    'node-ip': Flags.string({ description: "the node's address (InternalIP; the log/exec server and NodePorts listen on it)", default: '127.0.0.1' }),
    port: Flags.integer({ description: 'port of the log/exec server the API server calls (0 picks a free one)', default: 10250, min: 0, max: 65535 }),
    'disable-proxy': Flags.boolean({
      description: 'do not run the service proxy and cluster DNS (one agent per host runs them; the fake runtime never does)',
      default: false,
    }),
    'cluster-dns': Flags.string({ description: "IP of the cluster DNS server pods resolve with (default: the server's, 10.43.0.10 in the default service CIDR); empty for none" }),
    'cluster-domain': Flags.string({ description: "the cluster's DNS domain (default: the server's, cluster.local)" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AgentCommand);
    // Loaded here, not at the top: oclif loads every command's module for `mk get` too.
    const { ApiClient } = await import('../client/api-client');
    const { loadClientConfig } = await import('../client/kubeconfig');
    const { defaultNodeName, launchAgents, NoContainerEngineError } = await import('../agent/launcher');

    let config: ClientConfig;
    const servers = (flags.server ?? []).map((s) => s.trim()).filter(Boolean);
    if (servers.length) {
      if (!flags.token) this.error('--server needs --token');
      if (!flags['certificate-authority'] && !flags['insecure-skip-tls-verify']) {
        this.error('--server needs --certificate-authority (the server writes it to <data-dir>/tls/ca.crt), or --insecure-skip-tls-verify');
      }
      config = {
        server: servers[0],
        token: flags.token,
        caData: flags['certificate-authority'] ? fs.readFileSync(flags['certificate-authority'], 'utf8') : undefined,
        insecureSkipTLSVerify: flags['insecure-skip-tls-verify'],
        path: '',
      };
    } else {
      config = loadClientConfig({ kubeconfig: flags.kubeconfig });
    }
    if (!config.token) this.error('the kubeconfig has no token for this cluster; the agent needs the cluster token');
    let client: InstanceType<typeof ApiClient>;
    try {
      client = new ApiClient({ ...config, servers: servers.length > 1 ? servers : undefined, timeoutMs: REQUEST_TIMEOUT_MS });
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }

    let agents;
    try {
      agents = await launchAgents({
        client,
        token: config.token,
        nodeName: flags.node ?? defaultNodeName(),
        runtime: flags.runtime as 'docker' | 'fake',
        nodes: flags.nodes,
        fakeStartDelayMs: flags['fake-start-delay'],
        dataDir: flags['data-dir'],
        nodeIP: flags['node-ip'],
        port: flags.port,
        proxy: !flags['disable-proxy'],
        clusterDNS: flags['cluster-dns'],
        clusterDomain: flags['cluster-domain'],
        log: (line) => this.logToStderr(line),
      });
    } catch (err) {
      if (err instanceof NoContainerEngineError) this.error(err.message, { exit: 1 });
      throw err;
    }
    this.log(`mk agent: ${agents.agents.length} node(s) registered with ${servers.length > 1 ? servers.join(', ') : config.server}; log/exec server on port ${agents.port}`);

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        this.log(`received ${signal}, stopping (pods keep running; a restarted agent adopts them)`);
        agents.stop().then(resolve, (err) => {
          this.logToStderr(`error during shutdown: ${(err as Error).message}`);
          resolve();
        });
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    client.close();
  }
}
