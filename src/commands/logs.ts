import { Args, Flags } from '@oclif/core';
import { lookupResource } from '../api/registry';
import { BaseCommand, UsageError } from '../cli/base-command';
import { parseDuration } from './delete';
import { defaultContainer, podName } from './exec';

const PODS = lookupResource('', 'v1', 'pods')!;

export interface LogsResult {
  container?: string;
  bytes: number;
}

export default class Logs extends BaseCommand<typeof Logs> {
  static summary = 'Print the logs for a container in a pod.';

  static description = `Prints a container's output, like kubectl logs, as the agent of the pod's node reads it from the container runtime. With -f it keeps printing new output until interrupted or the container stops.`;

  static examples = [
    '<%= config.bin %> logs web',
    '<%= config.bin %> logs pod/web -c sidecar',
    '<%= config.bin %> logs -f web --tail 20',
    '<%= config.bin %> logs web --since 5m --timestamps',
    '<%= config.bin %> logs web --previous',
  ];

  static args = {
    pod: Args.string({ description: 'POD or pod/NAME', required: true }),
  };

  static flags = {
    container: Flags.string({ char: 'c', summary: 'Print the logs of this container.' }),
    follow: Flags.boolean({ char: 'f', summary: 'Specify if the logs should be streamed.' }),
    tail: Flags.integer({ summary: 'Lines of recent log file to display. Defaults to -1, showing all log lines.', default: -1 }),
    since: Flags.string({ summary: 'Only return logs newer than a relative duration like 5s, 2m, or 3h.' }),
    'since-time': Flags.string({ summary: 'Only return logs after a specific date (RFC3339).' }),
    timestamps: Flags.boolean({ summary: 'Include timestamps on each line in the log output.' }),
    previous: Flags.boolean({ char: 'p', summary: 'Print the logs for the previous instance of the container, if it exists.' }),
    'limit-bytes': Flags.integer({ summary: 'Maximum bytes of logs to return.' }),
  };

  public async run(): Promise<LogsResult> {
    const f = this.flags;
    if (f.tail < -1) throw new UsageError('--tail must be greater than or equal to -1');
    if (f.since && f['since-time']) throw new UsageError('at most one of `sinceTime` or `sinceSeconds` may be specified');
    const sinceSeconds = f.since ? Math.round(parseDuration(f.since) / 1000) : 0;

    const namespace = this.namespace();
    const name = podName(this.args.pod);
    let container = f.container;
    if (!container) {
      const pod = await this.client().get(PODS, namespace, name);
      container = defaultContainer(pod, (line) => this.logToStderr(line));
    }
    const body = await this.client().logs(namespace, name, {
      container,
      follow: f.follow,
      previous: f.previous,
      timestamps: f.timestamps,
      tailLines: f.tail >= 0 ? f.tail : undefined,
      sinceSeconds: sinceSeconds > 0 ? sinceSeconds : undefined,
      sinceTime: f['since-time'],
      limitBytes: f['limit-bytes'],
    });
    let bytes = 0;
    body.on('data', (c: Buffer) => (bytes += c.length));
    body.pipe(process.stdout, { end: false });
    await new Promise<void>((resolve, reject) => {
      body.once('end', resolve);
      body.once('error', reject);
    });
    return { container, bytes };
  }
}
