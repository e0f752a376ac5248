import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Which real kubectl binaries the compatibility tests run.
 *
 * - `MK_KUBECTL=/path/to/kubectl[:/another]`: exactly those (to try one
 *   release, e.g. Debian's kubernetes-client, without touching PATH).
 * - Otherwise the `kubectl` on PATH (on these machines the Google Cloud SDK
 *   dispatcher, which runs the release matching the server's minor) and the
 *   oldest and newest pinned releases beside it (`kubectl.1.27` ...
 *   `kubectl.1.33`), when the dispatcher keeps any.
 *
 * `missing` says why there is none; under CI=true the suites fail on it
 * rather than skip (.ci/run installs Debian's kubernetes-client).
 */
export interface KubectlBinary {
  label: string;
  file: string;
}

export function compatKubectls(): { binaries: KubectlBinary[]; missing?: string } {
  const chosen = process.env.MK_KUBECTL;
  if (chosen) {
    const files = chosen.split(path.delimiter).filter(Boolean);
    const absent = files.filter((f) => !isExecutable(f));
    if (absent.length) return { binaries: [], missing: `MK_KUBECTL names ${absent.join(', ')}, not an executable file` };
    return { binaries: files.map((file) => ({ label: `kubectl ${file}`, file })) };
  }
  const which = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  const onPath = which.status === 0 ? which.stdout.trim() : '';
  if (!onPath) return { binaries: [], missing: 'no kubectl on PATH' };
  const binaries = [{ label: 'kubectl on PATH', file: onPath }];
  const dir = path.dirname(fs.realpathSync(onPath));
  const minor = (f: string) => Number(/^kubectl\.1\.(\d+)$/.exec(f)?.[1]);
  const pinned = fs
    .readdirSync(dir)
    .filter((f) => Number.isFinite(minor(f)))
    .sort((a, b) => minor(a) - minor(b));
  for (const f of new Set([pinned[0], pinned[pinned.length - 1]])) {
    if (f) binaries.push({ label: `kubectl ${f.slice('kubectl.'.length)}`, file: path.join(dir, f) });
  }
  return { binaries };
}

/**
 * Declares what to do when no kubectl is available: under CI=true one
 * failing test (the compatibility suite must not vanish in CI), elsewhere a
 * skipped one and a line on stderr.
 */
export function noKubectl(suite: string, missing: string): void {
  if (process.env.CI === 'true') {
    test(`${suite} needs kubectl`, () => {
      throw new Error(`CI=true and ${missing}: ${suite} needs a kubectl binary (.ci/run installs Debian's kubernetes-client when none is on PATH)`);
    });
    return;
  }
  process.stderr.write(`skipping ${suite}: ${missing}\n`);
  test.skip(`${suite}: ${missing}`, () => undefined);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The minor version of a kubectl binary (the dispatcher's own, which is
 * newer than any release it runs), for what older releases do differently.
 * `parseInt`: vendor builds say "27+".
 */
export function kubectlMinor(file: string): number {
  const r = spawnSync(file, ['version', '--client', '-o', 'json'], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } });
  const minor = parseInt(JSON.parse(r.stdout || '{}').clientVersion?.minor, 10);
  if (!Number.isFinite(minor)) throw new Error(`${file} version --client -o json: ${r.stdout}${r.stderr}`);
  return minor;
}
