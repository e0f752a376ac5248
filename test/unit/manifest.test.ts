import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { ManifestError, parseManifests, readManifests } from '../../src/cli/manifest';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mk-manifest-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

const pod = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: app\n    image: busybox\n`;

describe('parseManifests', () => {
  it('reads multi-document YAML, skipping empty documents', () => {
    const objects = parseManifests(`---\n${pod('a')}---\n# just a comment\n---\n${pod('b')}\n---\n`, 'x.yaml');
    expect(objects.map((o) => o.metadata.name)).toEqual(['a', 'b']);
    expect(objects[0]!.spec.containers[0].image).toBe('busybox');
  });

  it('flattens kind: List and typed lists', () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1' } }] };
    const podList = { apiVersion: 'v1', kind: 'PodList', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' } }] };
    const objects = parseManifests(`${JSON.stringify(list)}\n---\n${JSON.stringify(podList)}`, 'x.yaml');
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/c1', 'Pod/p1']);
  });

  it('reads JSON files as JSON', () => {
    const objects = parseManifests(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } }), 'ns.json');
    expect(objects).toHaveLength(1);
    expect(objects[0]!.kind).toBe('Namespace');
  });

  it('reports malformed YAML on one line naming the file', () => {
    let error: unknown;
    try {
      parseManifests('apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n', 'bad.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as Error).message).toMatch(/^error parsing bad\.yaml: error converting YAML to JSON: /);
    expect((error as Error).message).not.toContain('\n');
  });

  it('reports malformed JSON on one line naming the file', () => {
    expect(() => parseManifests('{"apiVersion": "v1",', 'bad.json')).toThrow(/^error parsing bad\.json: /);
  });

  it('requires apiVersion and kind', () => {
    expect(() => parseManifests('apiVersion: v1\nmetadata:\n  name: x\n', 'x.yaml')).toThrow(
      `unable to decode "x.yaml": Object 'Kind' is missing in '{"apiVersion":"v1","metadata":{"name":"x"}}'`,
    );
    expect(() => parseManifests('kind: Pod\nmetadata:\n  name: x\n', 'x.yaml')).toThrow(/Object 'apiVersion' is missing/);
    expect(() => parseManifests('just a string\n', 'x.yaml')).toThrow(/unable to decode "x.yaml"/);
  });
});

describe('readManifests', () => {
  it('reads files in the order given', async () => {
    const a = write('a.yaml', pod('a'));
    const b = write('b.yml', pod('b'));
    const manifests = await readManifests([b, a]);
    expect(manifests.map((m) => [m.source, m.object.metadata.name])).toEqual([
      [b, 'b'],
      [a, 'a'],
    ]);
  });

  it('reads a directory non-recursively, only *.yaml, *.yml and *.json, sorted', async () => {
    write('b.yaml', pod('b'));
    write('a.json', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' } }));
    write('c.yml', pod('c'));
    write('notes.txt', 'not a manifest');
    write('sub/d.yaml', pod('d'));
    const manifests = await readManifests([dir]);
    expect(manifests.map((m) => m.object.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(manifests[0]!.source).toBe(path.join(dir, 'a.json'));
  });

  it('reads - from stdin', async () => {
    const manifests = await readManifests(['-'], Readable.from([pod('from-stdin').slice(0, 10), pod('from-stdin').slice(10)]));
    expect(manifests).toEqual([{ source: 'STDIN', object: expect.objectContaining({ kind: 'Pod', metadata: { name: 'from-stdin' } }) }]);
  });

  it('fails for a path that does not exist', async () => {
    await expect(readManifests([path.join(dir, 'missing.yaml')])).rejects.toThrow(`the path "${path.join(dir, 'missing.yaml')}" does not exist`);
  });

  it('names the file that does not parse', async () => {
    write('good.yaml', pod('good'));
    write('worse.yaml', 'kind: [\n');
    await expect(readManifests([dir])).rejects.toThrow(`error parsing ${path.join(dir, 'worse.yaml')}`);
  });
});
