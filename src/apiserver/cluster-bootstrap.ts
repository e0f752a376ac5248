import { createCipheriv, createDecipheriv, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Store } from '../storage';
import { generateCA, readCA, type CertificateAuthority } from './tls';

/**
 * What every server of one cluster must share so that a kubeconfig written
 * by one works against all of them: the cluster token (the bearer token
 * the kubeconfig carries) and the cluster CA (which signs every server's
 * serving certificate, and is the kubeconfig's certificate-authority-data).
 *
 * As k3s does with its bootstrap data, the first server to start on a
 * datastore writes the CA there and the others read it. It lives under a
 * key no API resource covers (so no GET, list or watch can reach it, unlike
 * a kube-system Secret), and it is encrypted (AES-256-GCM) with a key
 * derived from the token: a copy of the datastore alone yields no CA key,
 * and a server started with another token cannot decrypt it, which is how
 * a wrong `--token` is caught before the server serves anything.
 */

export const BOOTSTRAP_KEY = '/registry/mk-bootstrap/cluster';
/** k3s derives its bootstrap key with PBKDF2 too; the token is 256 random bits unless a user chose it. */
const KDF_ITERATIONS = 4096;
const pbkdf2Async = promisify(pbkdf2);

export interface ClusterBootstrap {
  token: string;
  ca: CertificateAuthority;
}

/** The stored record: everything but the salt and nonce is ciphertext. */
interface StoredBootstrap {
  kind: 'ClusterBootstrap';
  salt: string;
  nonce: string;
  /** AES-256-GCM of the JSON of {ca}, with the 16-byte tag appended; base64. */
  data: string;
}

export class TokenMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenMismatchError';
  }
}

export interface BootstrapOptions {
  /** The token this server was given (--token) or kept from an earlier start; undefined: none yet. */
  token?: string;
  /** Where the token came from, for the error message ("--token", "/data/token"). */
  tokenSource?: string;
  /** A data dir whose CA a first server adopts (a cluster that ran before the CA was in the datastore). */
  dataDir: string;
}

/**
 * Reads the cluster's bootstrap data from the datastore, or on the very
 * first start of a cluster creates it (with a new token unless one was
 * given). Throws TokenMismatchError when the datastore holds a cluster this
 * server's token does not open.
 */
export async function loadClusterBootstrap(store: Store, opts: BootstrapOptions): Promise<ClusterBootstrap> {
  for (;;) {
    const stored = await store.get(BOOTSTRAP_KEY);
    if (stored) return { token: opts.token ?? noToken(), ca: await open(stored.value, opts) };

    const token = opts.token ?? randomBytes(32).toString('hex');
    const ca = readCA(opts.dataDir) ?? (await generateCA());
    const created = await store.create(BOOTSTRAP_KEY, JSON.stringify(await seal({ ca }, token)));
    if (created.ok) return { token, ca };
    // Another server created it first: the loop reads theirs, which only the same token opens.
  }
}

function noToken(): never {
  throw new TokenMismatchError(
    'this datastore already holds a cluster: a server joining it needs the cluster token (--token; the first server wrote it to <its data-dir>/token)',
  );
}

async function deriveKey(token: string, salt: Buffer): Promise<Buffer> {
  return pbkdf2Async(token, salt, KDF_ITERATIONS, 32, 'sha256');
}

async function seal(payload: { ca: CertificateAuthority }, token: string): Promise<StoredBootstrap> {
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(token, salt), nonce);
  const data = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { kind: 'ClusterBootstrap', salt: salt.toString('base64'), nonce: nonce.toString('base64'), data: data.toString('base64') };
}

async function open(value: string, opts: BootstrapOptions): Promise<CertificateAuthority> {
  const record = JSON.parse(value) as StoredBootstrap;
  if (!opts.token) noToken();
  const data = Buffer.from(record.data, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', await deriveKey(opts.token, Buffer.from(record.salt, 'base64')), Buffer.from(record.nonce, 'base64'));
  decipher.setAuthTag(data.subarray(data.length - 16));
  let plain: string;
  try {
    plain = Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    throw new TokenMismatchError(
      `bootstrap data already found in the datastore and encrypted with a different token: the token ${opts.tokenSource ? `from ${opts.tokenSource} ` : ''}` +
      'is not this cluster\'s; start every server of a cluster with the same --token (the first server wrote it to <its data-dir>/token)',
    );
  }
  return (JSON.parse(plain) as { ca: CertificateAuthority }).ca;
}
