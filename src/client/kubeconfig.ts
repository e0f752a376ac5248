import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

/** Where and how to reach the API server, resolved from a kubeconfig. */
export interface ClientConfig {
  /** The API server URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** Bearer token (from `token`, or read from `tokenFile`). */
  token?: string;
  /** PEM of the cluster CA (decoded `certificate-authority-data`, or read from `certificate-authority`). */
  caData?: string;
  /** PEM client certificate and key, when the user authenticates with one. */
  clientCertData?: string;
  clientKeyData?: string;
  insecureSkipTLSVerify?: boolean;
  /** The namespace of the selected context, if it names one. */
  namespace?: string;
  /** The kubeconfig file this came from. */
  path: string;
}

/** A kubeconfig that is missing, unreadable or incomplete. The message is what the CLI prints after `error: `. */
export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

/** The data directory of mk: `$MK_DATA_DIR`, else `~/.mk` (honouring `$HOME`). */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MK_DATA_DIR) return env.MK_DATA_DIR;
  return path.join(env.HOME || os.homedir(), '.mk');
}

/**
 * The kubeconfig path a client uses: `--kubeconfig`, then the first
 * existing file of `$KUBECONFIG` (a colon list; its first entry when none
 * exists), then `<data dir>/kubeconfig.yaml` where `mk server` writes it.
 */
export function kubeconfigPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return explicit;
  if (env.KUBECONFIG) {
    const candidates = env.KUBECONFIG.split(path.delimiter).filter(Boolean);
    const chosen = candidates.find((p) => fs.existsSync(p)) ?? candidates[0];
    if (chosen) return chosen;
  }
  return path.join(defaultDataDir(env), 'kubeconfig.yaml');
}

/** The `field` of the entry called `name` in a kubeconfig list (`clusters`, `contexts`, `users`). */
function findNamed(list: unknown, name: string, field: string): Record<string, any> | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = list.find((e: any) => e && e.name === name);
  return entry ? (entry[field] ?? {}) : undefined;
}

function readRelative(base: string, file: string): string {
  const p = path.isAbsolute(file) ? file : path.join(path.dirname(base), file);
  return fs.readFileSync(p, 'utf8');
}

function decodeBase64(data: string): string {
  return Buffer.from(data, 'base64').toString('utf8');
}

/**
 * Loads the client side of a kubeconfig: the selected context's cluster
 * (server, CA, TLS verification), user (token or client certificate) and
 * namespace. Throws KubeconfigError when the file or context is unusable.
 */
export function loadClientConfig(opts: { kubeconfig?: string; context?: string } = {}, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const file = kubeconfigPath(opts.kubeconfig, env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err: any) {
    if (err?.code === 'ENOENT') {
      const hint = opts.kubeconfig || env.KUBECONFIG ? '' : ' (is "mk server" running? pass --kubeconfig or set KUBECONFIG)';
      throw new KubeconfigError(`stat ${file}: no such file or directory${hint}`);
    }
    throw new KubeconfigError(`reading ${file}: ${err?.message ?? err}`);
  }

  let doc: any;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err: any) {
    throw new KubeconfigError(`error loading config file "${file}": ${String(err?.message ?? err).split('\n')[0]}`);
  }

  const contextName: string | undefined = opts.context || doc['current-context'];
  if (!contextName) throw new KubeconfigError(`no context is set in ${file}: pass --context or set current-context`);
  const context = findNamed(doc.contexts, contextName, 'context');
  if (!context) throw new KubeconfigError(`context was not found for specified context: ${contextName}`);

  const cluster = findNamed(doc.clusters, context.cluster, 'cluster');
  if (!cluster) throw new KubeconfigError(`cluster "${context.cluster}" of context "${contextName}" is not defined in ${file}`);
  if (!cluster.server) throw new KubeconfigError(`cluster "${context.cluster}" has no server in ${file}`);

  const user = (context.user ? findNamed(doc.users, context.user, 'user') : undefined) ?? {};

  const config: ClientConfig = { server: String(cluster.server), path: file };
  if (cluster['certificate-authority-data']) config.caData = decodeBase64(cluster['certificate-authority-data']);
  else if (cluster['certificate-authority']) config.caData = readRelative(file, cluster['certificate-authority']);
  if (cluster['insecure-skip-tls-verify']) config.insecureSkipTLSVerify = true;

  if (user.token) config.token = String(user.token);
  else if (user.tokenFile) config.token = readRelative(file, user.tokenFile).trim();
  if (user['client-certificate-data']) config.clientCertData = decodeBase64(user['client-certificate-data']);
  else if (user['client-certificate']) config.clientCertData = readRelative(file, user['client-certificate']);
  if (user['client-key-data']) config.clientKeyData = decodeBase64(user['client-key-data']);
  else if (user['client-key']) config.clientKeyData = readRelative(file, user['client-key']);

  if (context.namespace) config.namespace = String(context.namespace);
  return config;
}

export interface KubeconfigSpec {
  server: string;
  token: string;
  /** Names the cluster and the context (default `mk`); the user is `<name>-admin`. */
  clusterName?: string;
  /** PEM of the CA that signed the server certificate, written as certificate-authority-data. */
  caData?: string;
  insecureSkipTLSVerify?: boolean;
}

/** The text of a standard kubeconfig with one cluster, one user and one current context. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const name = spec.clusterName ?? 'mk';
  const user = `${name}-admin`;
  const cluster: Record<string, unknown> = { server: spec.server };
  if (spec.caData) cluster['certificate-authority-data'] = Buffer.from(spec.caData).toString('base64');
  if (spec.insecureSkipTLSVerify) cluster['insecure-skip-tls-verify'] = true;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    contexts: [{ name, context: { cluster: name, user } }],
    'current-context': name,
    preferences: {},
    users: [{ name: user, user: { token: spec.token } }],
  };
  return stringifyYaml(doc, { indentSeq: false });
}

/**
 * Writes a kubeconfig that both mk and kubectl accept, readable only by
 * its owner (it holds the admin token). The file is replaced atomically so
 * a client never reads half of it.
 */
export function writeKubeconfig(file: string, spec: KubeconfigSpec): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, renderKubeconfig(spec), { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
