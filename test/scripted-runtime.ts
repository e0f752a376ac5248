import { PassThrough, Readable } from 'node:stream';
import type { ContainerRuntime, ExecOptions, ExecSession, LogOptions } from '../src/agent/runtime/runtime';

/**
 * A ContainerRuntime for tests of the agent's streams (pods/log, pods/exec):
 * the process boundary, scripted. What a container printed, and what a few
 * commands print, read and exit with.
 */

export interface LogLine {
  time: Date;
  text: string;
}

/**
 * Logs per container id (appendable while followed), and a few commands:
 * `echo ARGS`, `cat` (stdin to stdout), `stty size` (after a resize),
 * `yes-bytes N` (N bytes), `sh -c "echo x; echo y >&2; exit n"`. An
 * unknown command fails to start, as one missing from an image would.
 */
export class ScriptedRuntime implements ContainerRuntime {
  readonly name = 'scripted';
  private readonly logLines = new Map<string, LogLine[]>();
  readonly followers = new Map<string, Set<PassThrough>>();
  /** What exec was asked to run, for checking the parameters that reached the runtime. */
  readonly execs: Array<{ containerId: string; command: string[]; opts: ExecOptions }> = [];

  setLogs(id: string, lines: LogLine[]): void {
    this.logLines.set(id, lines);
  }

  append(id: string, text: string): void {
    const line = { time: new Date(), text };
    this.logLines.get(id)!.push(line);
    for (const f of this.followers.get(id) ?? []) f.write(`${text}\n`);
  }

  async logs(id: string, opts: LogOptions): Promise<Readable> {
    let lines = this.logLines.get(id) ?? [];
    if (opts.sinceSeconds !== undefined) lines = lines.filter((l) => l.time.getTime() >= Date.now() - opts.sinceSeconds! * 1000);
    if (opts.tailLines !== undefined) lines = opts.tailLines === 0 ? [] : lines.slice(-opts.tailLines);
    const text = lines.map((l) => (opts.timestamps ? `${l.time.toISOString()} ${l.text}\n` : `${l.text}\n`)).join('');
    if (!opts.follow) return Readable.from(text ? [Buffer.from(text)] : []);
    const out = new PassThrough();
    out.write(text);
    if (!this.followers.has(id)) this.followers.set(id, new Set());
    this.followers.get(id)!.add(out);
    out.on('close', () => this.followers.get(id)!.delete(out));
    return out;
  }

  async exec(containerId: string, command: string[], opts: ExecOptions): Promise<ExecSession> {
    this.execs.push({ containerId, command, opts });
    const stdout = new PassThrough();
    const stderr = opts.tty ? undefined : new PassThrough();
    const stdin = new PassThrough();
    let resized: (size: [number, number]) => void = () => undefined;
    const resizedTo = new Promise<[number, number]>((r) => (resized = r));
    const finish = (code: number): number => {
      stdout.end();
      stderr?.end();
      return code;
    };
    const [prog, ...args] = command;
    let exitCode: Promise<number>;
    if (prog === 'echo') {
      stdout.write(`${args.join(' ')}\n`);
      exitCode = Promise.resolve(finish(0));
    } else if (prog === 'cat') {
      stdin.pipe(stdout, { end: false });
      exitCode = new Promise((resolve) => stdin.on('end', () => resolve(finish(0))));
    } else if (prog === 'stty' && args[0] === 'size') {
      exitCode = resizedTo.then(([cols, rows]) => {
        stdout.write(`${rows} ${cols}\r\n`);
        return finish(0);
      });
    } else if (prog === 'yes-bytes') {
      const total = Number(args[0]);
      const chunk = Buffer.alloc(64 * 1024, 'y');
      exitCode = (async () => {
        for (let sent = 0; sent < total; sent += chunk.length) {
          if (!stdout.write(chunk.subarray(0, Math.min(chunk.length, total - sent)))) await new Promise((r) => stdout.once('drain', r));
        }
        return finish(0);
      })();
    } else if (prog === 'sh' && args[0] === '-c') {
      let code = 0;
      for (const step of args[1]!.split(';').map((s) => s.trim())) {
        const exit = /^exit (\d+)$/.exec(step);
        const echo = /^echo (.*?)( >&2)?$/.exec(step);
        if (exit) {
          code = Number(exit[1]);
          break;
        }
        if (echo) (echo[2] ? (stderr ?? stdout) : stdout).write(`${echo[1]}\n`);
      }
      exitCode = Promise.resolve(finish(code));
    } else {
      throw new Error(`OCI runtime exec failed: exec: "${prog}": executable file not found in $PATH`);
    }
    return {
      stdin: opts.stdin ? stdin : undefined,
      stdout,
      stderr,
      exitCode,
      resize: async (cols, rows) => resized([cols, rows]),
    };
  }

  // Not used by the agent's server.
  version = notUsed;
  ensureImage = notUsed;
  runSandbox = notUsed;
  removeSandbox = notUsed;
  createContainer = notUsed;
  startContainer = notUsed;
  stopContainer = notUsed;
  removeContainer = notUsed;
  listPods = notUsed;
  containerStatus = notUsed;
  portForward = notUsed;
  onEvent = (): (() => void) => () => undefined;
  close = async (): Promise<void> => undefined;
}

/** For the runtime (and agent) parts a test does not reach. */
export async function notUsed(): Promise<never> {
  throw new Error('not used by the agent server');
}
