import { webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// @peculiar/x509 resolves its crypto provider through tsyringe, which needs this polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

/**
 * The API server's TLS material, made on first start like k3s does: a
 * self-signed cluster CA and a serving certificate it signs, kept in
 * `<data-dir>/tls/`. The CA goes into the kubeconfig as
 * certificate-authority-data, so kubectl and mk verify the server (client-go
 * will not send a bearer token over plain HTTP). The serving certificate is
 * re-issued when the names it must cover change; the CA never is, so
 * existing kubeconfigs keep working.
 */

x509.cryptoProvider.set(webcrypto as any);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

async function importKeyPem(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return (await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign'])) as webcrypto.CryptoKey;
}

function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

/** The names a serving certificate covers: loopback, this host, and the address bound. */
export function servingNames(bindAddress: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', os.hostname()]);
  if (bindAddress && bindAddress !== '0.0.0.0' && bindAddress !== '::') names.add(bindAddress);
  if (bindAddress === '0.0.0.0' || bindAddress === '::') {
    for (const addrs of Object.values(os.networkInterfaces())) {
      for (const a of addrs ?? []) if (a.family === 'IPv4' || a.family === 'IPv6') names.add(a.address.split('%')[0]);
    }
  }
  return [...names].sort();
}

const isIp = (name: string) => /^[\d.]+$/.test(name) || name.includes(':');

/** The cluster CA: its certificate and private key, PEM. */
export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

/** A new self-signed cluster CA, valid for ten years. */
export async function generateCA(): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=mk-server-ca@${Math.floor(Date.now() / 1000)}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + TEN_YEARS_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: ca.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** The CA kept in `<data-dir>/tls/`, if there is one. */
export function readCA(dataDir: string): CertificateAuthority | undefined {
  const dir = path.join(dataDir, 'tls');
  try {
    return { certPem: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'), keyPem: fs.readFileSync(path.join(dir, 'ca.key'), 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The TLS material in `<data-dir>/tls/`, made or re-issued as needed. With
 * `clusterCA` (the CA all servers of a cluster share, see
 * cluster-bootstrap.ts) that CA replaces whatever the data dir held, and a
 * serving certificate another CA signed is issued again.
 */
export async function ensureTls(dataDir: string, names: string[], clusterCA?: CertificateAuthority): Promise<TlsMaterial> {
  const dir = path.join(dataDir, 'tls');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (n: string) => path.join(dir, n);
  const write = (n: string, content: string) => fs.writeFileSync(file(n), content, { mode: 0o600 });

  const held = readCA(dataDir);
  const wantedCA = clusterCA ?? held ?? (await generateCA());
  if (held?.certPem !== wantedCA.certPem || held?.keyPem !== wantedCA.keyPem) {
    write('ca.key', wantedCA.keyPem);
    write('ca.crt', wantedCA.certPem);
    fs.rmSync(file('server.crt'), { force: true });
  }
  const caPem = wantedCA.certPem;
  const caKey = await importKeyPem(wantedCA.keyPem);

  const wanted = names.join(',');
  if (fs.existsSync(file('server.crt')) && fs.existsSync(file('server.key')) && fs.existsSync(file('server.names'))
      && fs.readFileSync(file('server.names'), 'utf8') === wanted) {
    return { caPem, certPem: fs.readFileSync(file('server.crt'), 'utf8'), keyPem: fs.readFileSync(file('server.key'), 'utf8') };
  }

  const ca = new x509.X509Certificate(caPem);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=mk-server',
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + TEN_YEARS_MS),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: isIp(n) ? 'ip' : 'dns', value: n }) as x509.JsonGeneralName)),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  const certPem = cert.toString('pem');
  const keyPem = await exportKeyPem(keys.privateKey);
  write('server.key', keyPem);
  write('server.crt', certPem);
  write('server.names', wanted);
  return { caPem, certPem, keyPem };
}
