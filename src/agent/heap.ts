import * as v8 from 'node:v8';

/**
 * Sizes V8's heap for the process `mk <args>` starts. Called by bin/run.js
 * before anything else loads, since what it sets only holds from then on.
 *
 * `mk agent` on the Docker runtime is a node daemon whose footprint matters
 * and whose allocation rate is low (a burst of 30 pod starts allocates a few
 * MB), so it keeps V8's young generation at its initial size (two 1 MB
 * semi-spaces) instead of letting it double up to 2 x 16 MB whenever enough
 * objects survive scavenges. Measured (npm run bench:startup): idle RSS
 * 73 -> 68 MB, peak while 30 pods start 87-89 -> 73-78 MB. The fake runtime stands in for hundreds of nodes
 * and keeps V8's defaults for throughput, as do the server and the client.
 *
 * `--max-semi-space-size` would say this directly, but V8 reads it only when
 * the heap is set up, and mk is started as `mk agent`, not with node flags.
 * The growth factor is read each time the young generation grows, so setting
 * it at run time takes effect (V8 clamps it to at least 2 only when it
 * configures the heap from command-line flags). Should a V8 ignore it, the
 * agent only uses more memory.
 */
export function configureHeap(args: readonly string[]): void {
  if (args[0] !== 'agent') return;
  const fake = args.some((a, i) => a === '--runtime=fake' || (a === '--runtime' && args[i + 1] === 'fake'));
  if (!fake) v8.setFlagsFromString('--semi-space-growth-factor=1');
}
