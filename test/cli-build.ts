import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/**
 * Compiles the TypeScript when dist/ is missing or older than src/ (`npm
 * test` does this as pretest), for tests that run the real `mk` binary.
 */
export function ensureBuilt(): void {
  const newest = (dir: string, ext: string): number => {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) t = Math.max(t, newest(p, ext));
      else if (e.name.endsWith(ext)) t = Math.max(t, fs.statSync(p).mtimeMs);
    }
    return t;
  };
  const built = path.join(ROOT, 'dist', 'commands', 'server.js');
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newest(path.join(ROOT, 'src'), '.ts')) return;
  // tsc emits even when some file has a type error; type errors are `tsc --noEmit`'s to report, not this test's.
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', ROOT], { cwd: ROOT, encoding: 'utf8' });
  if (!fs.existsSync(built)) throw new Error(`building mk failed:\n${tsc.stdout}${tsc.stderr}`);
  const now = new Date();
  fs.utimesSync(built, now, now);
}

export interface MkResult {
  /** null when a signal ended it. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `mk <args>` with `kubeconfig` to its end, colours off, and collects what it printed. */
export function mkCommand(kubeconfig: string, args: string[]): Promise<MkResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [path.join(ROOT, 'bin', 'run.js'), ...args],
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1', FORCE_COLOR: '0' } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
    child.stdin!.end();
  });
}

export interface MkProcess {
  proc: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/** Runs the built `mk <args>` as its own process (call ensureBuilt() first), collecting what it prints. */
export function runMk(args: string[]): MkProcess {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), ...args], {
    cwd: ROOT,
    // Outside production oclif would load the TypeScript sources; these tests are about the built binary.
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, exited, stdout: () => out, stderr: () => err };
}

/**
 * Runs the built `mk server <args>` and resolves once it prints the URL it
 * serves at; rejects with its output if it exits or takes longer than
 * `timeoutMs`.
 */
export async function startMkServer(args: string[], timeoutMs = 60_000): Promise<MkProcess & { url: string }> {
  const child = runMk(['server', ...args]);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mk server did not start in time:\n${child.stdout()}\n${child.stderr()}`)), timeoutMs);
    child.proc.stdout!.on('data', () => {
      const m = /serving the Kubernetes API at (\S+)/.exec(child.stdout());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`mk server exited with ${code}:\n${child.stdout()}\n${child.stderr()}`));
    });
  });
  return { ...child, url };
}

/** SIGKILLs an `mk` process (if it still runs) and waits until it has exited. */
export async function killMk(child: MkProcess): Promise<void> {
  child.proc.kill('SIGKILL');
  await child.exited;
}
