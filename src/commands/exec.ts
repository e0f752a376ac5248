import { Args, Flags } from '@oclif/core';
import { lookupResource, resolveResourceName } from '../api/registry';
import type { KubeObject } from '../api/types';
import { BaseCommand, UsageError } from '../cli/base-command';
import { execInPod, type TerminalSize } from '../client/exec';

const PODS = lookupResource('', 'v1', 'pods')!;

/** The annotation naming the container kubectl logs/exec/attach pick when none is given. */
const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** The pod an argument names: `web`, or `pod/web` (`pods/web`, `po/web`). */
export function podName(arg: string): string {
  const slash = arg.indexOf('/');
  if (slash < 0) return arg;
  const rt = resolveResourceName(arg.slice(0, slash));
  if (rt !== PODS) throw new UsageError(`${arg}: only pods are supported here, as NAME or pod/NAME`);
  return arg.slice(slash + 1);
}

/**
 * The container kubectl picks when none is named: the one the
 * default-container annotation names, else the first, with a note on stderr
 * when there was a choice (`Defaulted container "a" out of: a, b, init (init)`).
 */
export function defaultContainer(pod: KubeObject, warn: (line: string) => void): string | undefined {
  const spec = pod.spec ?? {};
  const containers: Array<{ name: string }> = spec.containers ?? [];
  const init: Array<{ name: string }> = spec.initContainers ?? [];
  const ephemeral: Array<{ name: string }> = spec.ephemeralContainers ?? [];
  const annotated = pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated) {
    if ([...containers, ...init, ...ephemeral].some((c) => c.name === annotated)) return annotated;
    warn(`Default container name "${annotated}" not found in pod ${pod.metadata.name}`);
  }
  const first = containers[0]?.name;
  if (first && (containers.length > 1 || init.length > 0 || ephemeral.length > 0)) {
    const all = [...containers.map((c) => c.name), ...ephemeral.map((c) => `${c.name} (ephem)`), ...init.map((c) => `${c.name} (init)`)];
    warn(`Defaulted container "${first}" out of: ${all.join(', ')}`);
  }
  return first;
}

export interface ExecResult {
  exitCode: number;
}

export default class Exec extends BaseCommand<typeof Exec> {
  static summary = 'Execute a command in a container.';

  static description = `Runs COMMAND in a container of a pod, like kubectl exec: over a WebSocket to the API server (remotecommand v5, else v4), which reaches the agent of the pod's node. mk exits with the command's exit code.`;

  static examples = [
    '<%= config.bin %> exec web -- date',
    '<%= config.bin %> exec web -c sidecar -- cat /etc/hostname',
    '<%= config.bin %> exec -it web -- sh',
    'echo hello | <%= config.bin %> exec -i web -- cat',
  ];

  static strict = false;

  static args = {
    pod: Args.string({ description: 'POD or pod/NAME, then -- COMMAND [ARGS...]', required: true }),
  };

  static flags = {
    container: Flags.string({ char: 'c', summary: 'Container name. If omitted, the default-container annotation is used, else the first container.' }),
    stdin: Flags.boolean({ char: 'i', summary: 'Pass stdin to the container.' }),
    tty: Flags.boolean({ char: 't', summary: 'Stdin is a TTY.' }),
    quiet: Flags.boolean({ char: 'q', summary: 'Only print output from the remote session.' }),
  };

  public async run(): Promise<ExecResult> {
    const dash = this.argv.indexOf('--');
    const command = dash < 0 ? [] : this.argv.slice(dash + 1);
    const before = this.positional.slice(0, this.positional.length - command.length);
    if (dash < 0 && this.positional.length > 1) {
      throw new UsageError('exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead');
    }
    if (before.length !== 1) {
      throw new UsageError("expected 'exec POD_NAME COMMAND [ARG1] [ARG2] ... [ARGN]'.\nPOD_NAME and COMMAND are required arguments for the exec command");
    }
    if (command.length === 0) throw new UsageError('you must specify at least one command for the container');

    const namespace = this.namespace();
    const name = podName(before[0]!);
    const warn = (line: string) => {
      if (!this.flags.quiet) this.logToStderr(line);
    };
    const pod = await this.client().get(PODS, namespace, name);
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      throw new UsageError(`cannot exec into a container in a completed pod; current phase is ${phase}`);
    }
    const container = this.flags.container ?? defaultContainer(pod, warn);

    // As kubectl: a TTY needs stdin, and stdin that is a terminal.
    const stdin = this.flags.stdin;
    let tty = this.flags.tty && stdin;
    if (tty && !process.stdin.isTTY) {
      warn('Unable to use a TTY - input is not a terminal or the right kind of file');
      tty = false;
    }
    if (tty) process.stdin.setRawMode(true);
    try {
      const exitCode = await execInPod(
        this.kubeconfig(),
        { namespace, pod: name, container, command, stdin, stdout: true, stderr: !tty, tty },
        { stdin: stdin ? process.stdin : undefined, stdout: process.stdout, stderr: process.stderr, terminal: tty ? processTerminal() : undefined },
      );
      if (exitCode !== 0) {
        this.logToStderr(`command terminated with exit code ${exitCode}`);
        this.exit(exitCode);
      }
      return { exitCode };
    } finally {
      if (tty) process.stdin.setRawMode(false);
      // Stdin must not keep the process alive once the session is over.
      if (stdin) process.stdin.destroy();
    }
  }
}

/** The local terminal's size, and its changes (SIGWINCH). */
function processTerminal(): TerminalSize {
  return {
    size: () => (process.stdout.columns && process.stdout.rows ? { width: process.stdout.columns, height: process.stdout.rows } : undefined),
    onResize: (listener) => {
      process.on('SIGWINCH', listener);
      return () => process.removeListener('SIGWINCH', listener);
    },
  };
}
