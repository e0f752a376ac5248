import { Command, Flags, type Interfaces } from '@oclif/core';
import { resolveResourceName, type ResourceType } from '../api/registry';
import { ApiClient } from '../client/api-client';
import { loadClientConfig, type ClientConfig } from '../client/kubeconfig';
import { formatError } from './printer';

/** A mistake in how a command was invoked; printed as `error: <message>`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command already printed what went wrong (one line per failure); it only has to exit 1. */
export class AlreadyReportedError extends Error {
  constructor(readonly failures = 1) {
    super(`${failures} error(s) reported`);
    this.name = 'AlreadyReportedError';
  }
}

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/**
 * The base of every client command (`apply`, `get`, `delete`, `describe`):
 * the kubeconfig flags, the API client built from them, and the one `catch`
 * that prints API, connection and input errors the way kubectl does and
 * exits 1, never with a stack trace.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static baseFlags = {
    kubeconfig: Flags.string({
      summary: 'Path to the kubeconfig file to use for CLI requests.',
      description: 'Defaults to $KUBECONFIG, then <data dir>/kubeconfig.yaml ($MK_DATA_DIR or ~/.mk), which `mk server` writes.',
      helpGroup: 'GLOBAL',
    }),
    context: Flags.string({ summary: 'The name of the kubeconfig context to use.', helpGroup: 'GLOBAL' }),
    namespace: Flags.string({ char: 'n', summary: 'If present, the namespace scope for this CLI request.', helpGroup: 'GLOBAL' }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: BaseArgs<T>;
  /** Every positional argument after parsing, for commands with `strict = false`. */
  protected positional!: string[];

  private apiClient?: ApiClient;
  private clientConfig?: ClientConfig;

  public async init(): Promise<void> {
    await super.init();
    const { args, flags, argv } = await this.parse(
      {
        flags: this.ctor.flags,
        baseFlags: BaseCommand.baseFlags,
        args: this.ctor.args,
        strict: this.ctor.strict,
      },
      this.kubectlBooleans(this.argv),
    );
    this.flags = flags as BaseFlags<T>;
    this.args = args as BaseArgs<T>;
    this.positional = argv as string[];
  }

  /**
   * kubectl users write boolean flags as `--wait=false`; oclif spells that
   * `--no-wait`. Rewrites `--flag=true|false` for this command's booleans.
   */
  private kubectlBooleans(argv: string[]): string[] {
    const flags: Record<string, { type?: string; allowNo?: boolean }> = { ...BaseCommand.baseFlags, ...this.ctor.flags };
    const out: string[] = [];
    for (const arg of argv) {
      if (arg === '--') {
        out.push(...argv.slice(argv.indexOf(arg)));
        break;
      }
      const m = /^--([^=]+)=(true|false)$/.exec(arg);
      const flag = m ? flags[m[1]!] : undefined;
      if (!m || flag?.type !== 'boolean') out.push(arg);
      else if (m[2] === 'true') out.push(`--${m[1]}`);
      else if (flag.allowNo) out.push(`--no-${m[1]}`);
      // `--x=false` for a flag that is off by default: nothing to pass.
    }
    return out;
  }

  /** The kubeconfig context in effect. */
  protected kubeconfig(): ClientConfig {
    this.clientConfig ??= loadClientConfig({ kubeconfig: this.flags.kubeconfig, context: this.flags.context });
    return this.clientConfig;
  }

  /** The API client for the kubeconfig context; closed when the command ends. */
  protected client(): ApiClient {
    this.apiClient ??= new ApiClient(this.kubeconfig());
    return this.apiClient;
  }

  /** `-n`, else the context's namespace, else `default`. */
  protected namespace(): string {
    return this.flags.namespace || this.kubeconfig().namespace || 'default';
  }

  /** The kind a user typed (`po`, `pods`, `deployment.apps`), or a kubectl-style error. */
  protected resourceType(name: string): ResourceType {
    const rt = resolveResourceName(name);
    if (!rt) throw new UsageError(`the server doesn't have a resource type "${name}"`);
    return rt;
  }

  /** Prints an error for one object of a batch and lets the command go on with the others. */
  protected report(err: unknown): void {
    this.logToStderr(formatError(err));
  }

  protected async catch(err: Interfaces.CommandError): Promise<any> {
    // oclif's own errors (bad flags, missing args, exit) keep oclif's handling.
    if ((err as { oclif?: unknown }).oclif !== undefined) return super.catch(err);
    if (!(err instanceof AlreadyReportedError)) this.logToStderr(formatError(err));
    this.exit(1);
  }

  protected async finally(err: Error | undefined): Promise<any> {
    this.apiClient?.close();
    return super.finally(err);
  }
}
