import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { KubeconfigError, kubeconfigPath, loadClientConfig, writeKubeconfig } from '../../src/client/kubeconfig';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-kubeconfig-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function config(file: string, server: string, extra: Record<string, unknown> = {}): string {
  writeKubeconfig(file, { server, token: `token-for-${server}`, ...extra });
  return file;
}

describe('kubeconfig lookup order', () => {
  it('prefers --kubeconfig, then $KUBECONFIG, then $MK_DATA_DIR, then ~/.mk', () => {
    const explicit = config(path.join(dir, 'explicit.yaml'), 'https://explicit:6443');
    const fromEnv = config(path.join(dir, 'env.yaml'), 'https://env:6443');
    const dataDir = path.join(dir, 'data');
    config(path.join(dataDir, 'kubeconfig.yaml'), 'https://datadir:6443');
    const home = path.join(dir, 'home');
    config(path.join(home, '.mk', 'kubeconfig.yaml'), 'https://home:6443');

    const env = { HOME: home, KUBECONFIG: fromEnv, MK_DATA_DIR: dataDir };
    expect(loadClientConfig({ kubeconfig: explicit }, env).server).toBe('https://explicit:6443');
    expect(loadClientConfig({}, env).server).toBe('https://env:6443');
    expect(loadClientConfig({}, { HOME: home, MK_DATA_DIR: dataDir }).server).toBe('https://datadir:6443');
    expect(loadClientConfig({}, { HOME: home }).server).toBe('https://home:6443');
    expect(loadClientConfig({}, { HOME: home }).path).toBe(path.join(home, '.mk', 'kubeconfig.yaml'));
  });

  it('takes the first existing file of a KUBECONFIG list', () => {
    const second = config(path.join(dir, 'second.yaml'), 'https://second:6443');
    const list = [path.join(dir, 'missing.yaml'), second].join(path.delimiter);
    expect(kubeconfigPath(undefined, { KUBECONFIG: list })).toBe(second);
    expect(kubeconfigPath(undefined, { KUBECONFIG: path.join(dir, 'none.yaml') })).toBe(path.join(dir, 'none.yaml'));
  });

  it('explains a missing kubeconfig', () => {
    expect(() => loadClientConfig({}, { HOME: path.join(dir, 'nobody') })).toThrow(KubeconfigError);
    expect(() => loadClientConfig({}, { HOME: path.join(dir, 'nobody') })).toThrow(/no such file or directory \(is "mk server" running\?/);
  });
});

describe('loadClientConfig', () => {
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

  function writeRaw(doc: unknown): string {
    const file = path.join(dir, 'config');
    fs.writeFileSync(file, JSON.stringify(doc));
    return file;
  }

  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'a',
    clusters: [
      { name: 'ca', cluster: { server: 'https://a:6443', 'certificate-authority-data': Buffer.from(ca).toString('base64') } },
      { name: 'cb', cluster: { server: 'https://b:6443', 'insecure-skip-tls-verify': true } },
    ],
    users: [
      { name: 'ua', user: { token: 'secret-a' } },
      { name: 'ub', user: { tokenFile: 'token.txt' } },
    ],
    contexts: [
      { name: 'a', context: { cluster: 'ca', user: 'ua' } },
      { name: 'b', context: { cluster: 'cb', user: 'ub', namespace: 'team' } },
    ],
  };

  it('resolves the current context: server, token, decoded CA', () => {
    const file = writeRaw(doc);
    expect(loadClientConfig({ kubeconfig: file }, {})).toEqual({ server: 'https://a:6443', token: 'secret-a', caData: ca, path: file });
  });

  it('honours --context, tokenFile relative to the kubeconfig, namespace and insecure-skip-tls-verify', () => {
    const file = writeRaw(doc);
    fs.writeFileSync(path.join(dir, 'token.txt'), 'secret-b\n');
    expect(loadClientConfig({ kubeconfig: file, context: 'b' }, {})).toEqual({
      server: 'https://b:6443',
      token: 'secret-b',
      insecureSkipTLSVerify: true,
      namespace: 'team',
      path: file,
    });
  });

  it('rejects an unknown context', () => {
    const file = writeRaw(doc);
    expect(() => loadClientConfig({ kubeconfig: file, context: 'nope' }, {})).toThrow('context was not found for specified context: nope');
  });
});

describe('writeKubeconfig', () => {
  it('writes a standard kubeconfig, readable only by its owner, creating the directory', () => {
    const file = path.join(dir, 'deep', 'er', 'kubeconfig.yaml');
    writeKubeconfig(file, { server: 'https://127.0.0.1:6443', token: 'abc', caData: 'PEM' });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const doc = parse(fs.readFileSync(file, 'utf8'));
    expect(doc).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'mk', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': Buffer.from('PEM').toString('base64') } }],
      contexts: [{ name: 'mk', context: { cluster: 'mk', user: 'mk-admin' } }],
      'current-context': 'mk',
      preferences: {},
      users: [{ name: 'mk-admin', user: { token: 'abc' } }],
    });
    expect(loadClientConfig({ kubeconfig: file }, {})).toMatchObject({ server: 'https://127.0.0.1:6443', token: 'abc', caData: 'PEM' });
  });

  it('replaces an existing file and keeps it private', () => {
    const file = path.join(dir, 'kubeconfig.yaml');
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    writeKubeconfig(file, { server: 'http://127.0.0.1:8080', token: 't', clusterName: 'dev' });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadClientConfig({ kubeconfig: file }, {})).toMatchObject({ server: 'http://127.0.0.1:8080', token: 't' });
    expect(parse(fs.readFileSync(file, 'utf8'))['current-context']).toBe('dev');
  });
});
