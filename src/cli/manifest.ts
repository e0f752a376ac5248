import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../api/types';

/** One object read from `-f`, with where it came from (for messages like `error when creating "web.yaml"`). */
export interface Manifest {
  /** The file path as given or found in a directory, or `STDIN`. */
  source: string;
  object: KubeObject;
}

/** Input that cannot be read or decoded. The message is one line, naming the file. */
export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/:\s*$/, '');
}

function toObjects(value: unknown, source: string): KubeObject[] {
  if (value === null || value === undefined) return [];
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ManifestError(`unable to decode "${source}": the document is not an object`);
  }
  const obj = value as KubeObject;
  // `kind: List` (and the `PodList`s `get -o yaml` prints) stand for their items.
  if ((obj.kind === 'List' || (typeof obj.kind === 'string' && obj.kind.endsWith('List'))) && Array.isArray(obj.items)) {
    return obj.items.flatMap((item: unknown) => toObjects(item, source));
  }
  const compact = JSON.stringify(obj);
  if (!obj.kind) throw new ManifestError(`unable to decode "${source}": Object 'Kind' is missing in '${compact}'`);
  if (!obj.apiVersion) throw new ManifestError(`unable to decode "${source}": Object 'apiVersion' is missing in '${compact}'`);
  if (!obj.metadata || typeof obj.metadata !== 'object') obj.metadata = {};
  return [obj];
}

/**
 * The objects in one manifest text: multi-document YAML, or JSON when the
 * source is a `.json` file. Empty documents are skipped and `kind: List`
 * documents are flattened into their items.
 *
 * @throws ManifestError for malformed YAML/JSON or a document without apiVersion or kind.
 */
export function parseManifests(text: string, source: string): KubeObject[] {
  if (path.extname(source).toLowerCase() === '.json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err: any) {
      throw new ManifestError(`error parsing ${source}: ${firstLine(String(err?.message ?? err))}`);
    }
    return toObjects(value, source);
  }
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    const error = doc.errors[0];
    if (error) throw new ManifestError(`error parsing ${source}: error converting YAML to JSON: ${firstLine(error.message)}`);
    objects.push(...toObjects(doc.toJS({ maxAliasCount: 100 }), source));
  }
  return objects;
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** The manifest files a `-f` argument names: the file itself, or a directory's *.yaml, *.yml and *.json (not recursive). */
function filesOf(arg: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(arg);
  } catch {
    throw new ManifestError(`the path "${arg}" does not exist`);
  }
  if (!stat.isDirectory()) return [arg];
  return fs
    .readdirSync(arg)
    .filter((name) => MANIFEST_EXTENSIONS.has(path.extname(name).toLowerCase()))
    .sort()
    .map((name) => path.join(arg, name))
    .filter((file) => fs.statSync(file).isFile());
}

/**
 * Reads every object the `-f` arguments name, in order: files, directories
 * (non-recursive) and `-` for stdin.
 *
 * @throws ManifestError on the first path that does not exist or does not parse.
 */
export async function readManifests(args: string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const arg of args) {
    if (arg === '-') {
      const text = await readStream(stdin);
      manifests.push(...parseManifests(text, 'STDIN').map((object) => ({ source: 'STDIN', object })));
      continue;
    }
    for (const file of filesOf(arg)) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err: any) {
        throw new ManifestError(`error reading ${file}: ${err?.message ?? err}`);
      }
      manifests.push(...parseManifests(text, file).map((object) => ({ source: file, object })));
    }
  }
  return manifests;
}
