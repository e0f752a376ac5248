import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

/*
 * require.cache is Node's, and jest keeps a module registry of its own, so
 * these checks run in a plain Node child process (TypeScript through tsx).
 */

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');

/** Runs `script` (CommonJS, may require the repo's .ts files) and returns what it printed as JSON. */
async function inNode(script: string): Promise<any> {
  const { stdout } = await run(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: ROOT });
  return JSON.parse(stdout);
}

describe('deferred modules', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-deferred-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('loads a deferred module on the first call of its export, forwarding this, arguments and result', async () => {
    const file = path.join(dir, 'greet.js');
    fs.writeFileSync(file, `globalThis.loads = (globalThis.loads || 0) + 1;\nmodule.exports = function (name) { return this.greeting + ', ' + name; };\n`);
    const out = await inNode(`
      const { deferFunctionModule } = require('./src/agent/runtime/deferred-modules.ts');
      deferFunctionModule(${JSON.stringify(file)});
      const greet = require(${JSON.stringify(file)});
      const before = globalThis.loads || 0;
      const first = greet.call({ greeting: 'hello' }, 'pod');
      const second = greet.call({ greeting: 'bye' }, 'node');
      console.log(JSON.stringify({ before, first, second, loads: globalThis.loads, sameRequire: require(${JSON.stringify(file)}) !== greet }));
    `);
    expect(out).toEqual({ before: 0, first: 'hello, pod', second: 'bye, node', loads: 1, sameRequire: true });
  });

  it('leaves a module that is loaded already alone', async () => {
    const file = path.join(dir, 'loaded.js');
    fs.writeFileSync(file, `module.exports = function loaded() { return 'real'; };\n`);
    const out = await inNode(`
      const real = require(${JSON.stringify(file)});
      const { deferFunctionModule } = require('./src/agent/runtime/deferred-modules.ts');
      deferFunctionModule(${JSON.stringify(file)});
      console.log(JSON.stringify({ same: require(${JSON.stringify(file)}) === real }));
    `);
    expect(out).toEqual({ same: true });
  });

  it("keeps gRPC, protobufjs and ssh2 out of the Docker runtime until they are called", async () => {
    const out = await inNode(`
      const { DockerRuntime } = require('./src/agent/runtime/docker.ts');
      new DockerRuntime({ node: 'n1' });
      const loaded = () => Object.keys(require.cache).filter((k) => /node_modules\\/(@grpc|protobufjs|ssh2)\\//.test(k)).length;
      const before = loaded();
      // docker-modem's ssh transport, as a DOCKER_HOST=ssh://... would call it: it builds an http.Agent (no connection yet).
      const modem = require.resolve('docker-modem', { paths: [require('path').dirname(require.resolve('dockerode'))] });
      const sshAgent = require(require.resolve('./ssh', { paths: [require('path').dirname(modem)] }))({ host: '127.0.0.1' });
      console.log(JSON.stringify({ before, agent: typeof sshAgent.createConnection, ssh2: Object.keys(require.cache).some((k) => /node_modules\\/ssh2\\//.test(k)) }));
    `);
    expect(out).toEqual({ before: 0, agent: 'function', ssh2: true });
  });
});
