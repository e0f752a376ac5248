import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

/*
 * What configureHeap sets holds for the whole process, so each case runs in
 * its own Node child process: configure as `mk <args>` would, allocate like a
 * busy process (objects that survive a few scavenges), report the young
 * generation's size.
 */

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');

async function youngGenerationMb(args: string[]): Promise<number> {
  const script = `
    require('./src/agent/heap.ts').configureHeap(${JSON.stringify(args)});
    const keep = [];
    for (let i = 0; i < 2000000; i++) {
      const o = { i, s: 'x' + i, a: [i, i] };
      if (i % 50 === 0) keep.push(o);
      if (keep.length > 40000) keep.length = 0;
    }
    const space = require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(space.space_size / 1048576);
  `;
  const { stdout } = await run(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: ROOT });
  return Number(stdout.trim());
}

describe('configureHeap', () => {
  it('keeps the young generation of `mk agent` (Docker runtime) at its initial size', async () => {
    expect(await youngGenerationMb(['agent', '--node', 'n1'])).toBeLessThanOrEqual(2);
  });

  it('leaves V8 its defaults for the fake runtime and for other commands', async () => {
    // The defaults let the young generation grow under the same load: the case above is not vacuous.
    expect(await youngGenerationMb(['agent', '--runtime', 'fake', '--nodes', '100'])).toBeGreaterThan(2);
    expect(await youngGenerationMb(['agent', '--runtime=fake'])).toBeGreaterThan(2);
    expect(await youngGenerationMb(['server'])).toBeGreaterThan(2);
  });
});
