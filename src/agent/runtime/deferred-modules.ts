import Module from 'node:module';
import * as path from 'node:path';

/*
 * dockerode loads, at require time, two modules mk never calls: its BuildKit
 * session helper (which pulls in @grpc/grpc-js, @grpc/proto-loader and
 * protobufjs, for `buildImage` with BuildKit) and docker-modem's ssh://
 * transport (ssh2). Together they cost the agent ~10 MB of RSS and ~250 ms
 * of start-up. Both modules export a single function, so a stand-in that
 * loads the real module on its first call keeps dockerode whole while mk
 * pays only for what it uses: a DOCKER_HOST=ssh://... still works, it just
 * loads ssh2 when the first request dials.
 */

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Makes `require` of the module at `file` (an absolute path) return a
 * function that requires the real module on its first call and forwards to
 * it. Only for modules whose export is one function. Does nothing if the
 * module is loaded already.
 */
export function deferFunctionModule(file: string): void {
  const cache = require.cache;
  if (cache[file]) return;
  let real: AnyFunction | undefined;
  const load = (): AnyFunction => {
    if (!real) {
      if (cache[file] === standIn) delete cache[file];
      const exported: unknown = require(file);
      if (typeof exported !== 'function') throw new Error(`${file} no longer exports a function; mk cannot defer loading it`);
      real = exported as AnyFunction;
    }
    return real;
  };
  const standIn = new Module(file);
  standIn.filename = file;
  standIn.exports = function deferred(this: unknown, ...args: unknown[]) {
    return load().apply(this, args);
  };
  standIn.loaded = true;
  cache[file] = standIn;
}

/** Where `request` resolves from `fromFile`'s directory, or undefined if it does not (another dockerode layout). */
function resolveFrom(fromFile: string, request: string): string | undefined {
  try {
    return require.resolve(request, { paths: [path.dirname(fromFile)] });
  } catch {
    return undefined;
  }
}

/** Defers dockerode's BuildKit session and docker-modem's ssh transport; call before dockerode is first required. */
export function deferUnusedDockerodeModules(): void {
  const dockerode = resolveFrom(__filename, 'dockerode');
  if (!dockerode) return;
  const session = resolveFrom(dockerode, './session');
  const modem = resolveFrom(dockerode, 'docker-modem');
  const ssh = modem && resolveFrom(modem, './ssh');
  for (const file of [session, ssh]) if (file) deferFunctionModule(file);
}

deferUnusedDockerodeModules();
