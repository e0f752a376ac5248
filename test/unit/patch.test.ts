import {
  applyJsonPatch,
  applyMergePatch,
  createMergePatch,
  isEmptyPatch,
  threeWayMergePatch,
} from '../../src/api/patch';
import { apiErrorOf, frozen } from '../assertions';

describe('applyMergePatch', () => {
  // RFC 7386 Appendix A, every example.
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('%j + %j = %j', (target, patch, result) => {
    expect(applyMergePatch(frozen(target), frozen(patch))).toEqual(result);
  });

  it('merges nested maps such as labels', () => {
    const pod = { metadata: { name: 'p', labels: { app: 'web', tier: 'fe' } }, spec: { containers: [{ name: 'c', image: 'a' }] } };
    const patched = applyMergePatch(frozen(pod), { metadata: { labels: { tier: null, env: 'prod' } }, spec: { containers: [{ name: 'c', image: 'b' }] } });
    expect(patched).toEqual({ metadata: { name: 'p', labels: { app: 'web', env: 'prod' } }, spec: { containers: [{ name: 'c', image: 'b' }] } });
  });

  it('shares no structure with its inputs', () => {
    const target = { a: { b: 1 }, keep: { x: 1 } };
    const patch = { a: { c: [1] }, d: { e: 1 } };
    const out = applyMergePatch(target, patch);
    out.a.c.push(2);
    out.d.e = 2;
    out.keep.x = 2;
    expect(patch).toEqual({ a: { c: [1] }, d: { e: 1 } });
    expect(target).toEqual({ a: { b: 1 }, keep: { x: 1 } });
  });

  it('keeps a "__proto__" key as data', () => {
    const out = applyMergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(out.polluted).toBeUndefined();
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.keys(out)).toEqual(['__proto__']);
  });
});

describe('applyJsonPatch', () => {
  const doc = { metadata: { name: 'p', labels: { app: 'web' } }, spec: { replicas: 1, ports: [80, 443] } };

  it.each([
    ['add a field', [{ op: 'add', path: '/metadata/labels/tier', value: 'fe' }], { ...doc, metadata: { name: 'p', labels: { app: 'web', tier: 'fe' } } }],
    ['add replaces an existing field', [{ op: 'add', path: '/spec/replicas', value: 3 }], { ...doc, spec: { replicas: 3, ports: [80, 443] } }],
    ['add into an array', [{ op: 'add', path: '/spec/ports/1', value: 8080 }], { ...doc, spec: { replicas: 1, ports: [80, 8080, 443] } }],
    ['append with -', [{ op: 'add', path: '/spec/ports/-', value: 8080 }], { ...doc, spec: { replicas: 1, ports: [80, 443, 8080] } }],
    ['remove', [{ op: 'remove', path: '/metadata/labels/app' }], { ...doc, metadata: { name: 'p', labels: {} } }],
    ['remove from an array', [{ op: 'remove', path: '/spec/ports/0' }], { ...doc, spec: { replicas: 1, ports: [443] } }],
    ['replace', [{ op: 'replace', path: '/spec/replicas', value: 5 }], { ...doc, spec: { replicas: 5, ports: [80, 443] } }],
    ['move', [{ op: 'move', from: '/metadata/labels/app', path: '/metadata/labels/name' }], { ...doc, metadata: { name: 'p', labels: { name: 'web' } } }],
    ['copy', [{ op: 'copy', from: '/metadata/name', path: '/metadata/labels/name' }], { ...doc, metadata: { name: 'p', labels: { app: 'web', name: 'p' } } }],
    ['passing test then replace', [{ op: 'test', path: '/spec/replicas', value: 1 }, { op: 'replace', path: '/spec/replicas', value: 2 }], { ...doc, spec: { replicas: 2, ports: [80, 443] } }],
    ['escaped pointer', [{ op: 'add', path: '/metadata/labels/app.kubernetes.io~1name', value: 'x' }], { ...doc, metadata: { name: 'p', labels: { app: 'web', 'app.kubernetes.io/name': 'x' } } }],
    ['empty patch', [], doc],
  ])('%s', (_name, ops, result) => {
    expect(applyJsonPatch(frozen(structuredClone(doc)), frozen(ops))).toEqual(result);
  });

  it('does not alias operation values into the result', () => {
    const ops = [{ op: 'add', path: '/spec/extra', value: { list: [1] } }];
    const out = applyJsonPatch(doc, ops);
    out.spec.extra.list.push(2);
    expect(ops[0].value).toEqual({ list: [1] });
    expect(doc.spec).toEqual({ replicas: 1, ports: [80, 443] });
  });

  it.each([
    ['a failed test', [{ op: 'test', path: '/spec/replicas', value: 2 }], /^json patch operation 0 \(test \/spec\/replicas\): Test operation failed$/],
    ['a failed test after good ops', [{ op: 'replace', path: '/spec/replicas', value: 2 }, { op: 'test', path: '/metadata/name', value: 'q' }], /operation 1 \(test \/metadata\/name\)/],
    ['replace of a missing path', [{ op: 'replace', path: '/spec/missing', value: 1 }], /path that does not exist/],
    ['remove of a missing path', [{ op: 'remove', path: '/metadata/labels/nope' }], /path that does not exist/],
    ['add under a missing parent', [{ op: 'add', path: '/status/phase', value: 'x' }], /Cannot perform an `add`/],
    ['add past the end of an array', [{ op: 'add', path: '/spec/ports/5', value: 1 }], /MUST NOT be greater/],
    ['a non-numeric array index', [{ op: 'replace', path: '/spec/ports/x', value: 1 }], /path that does not exist/],
    ['move from a missing path', [{ op: 'move', from: '/nope', path: '/x' }], /from a path that does not exist/],
    ['stepping through a scalar', [{ op: 'add', path: '/spec/replicas/x/y', value: 1 }], /json patch/],
    ['a __proto__ path', [{ op: 'add', path: '/__proto__/polluted', value: true }], /json patch cannot be applied/],
  ])('%s is 422 Invalid', (_name, ops, message) => {
    const err = apiErrorOf(() => applyJsonPatch(doc, ops));
    expect(err.code).toBe(422);
    expect(err.reason).toBe('Invalid');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n'); // fast-json-patch appends the whole document
    expect(({} as any).polluted).toBeUndefined();
  });

  it.each([
    ['not an array', { op: 'add', path: '/a', value: 1 }, /must be an array/],
    ['null', null, /must be an array/],
    ['an unknown op', [{ op: 'merge', path: '/a', value: 1 }], /op must be one of add, remove, replace, move, copy, test, not "merge"/],
    ['a private fast-json-patch op', [{ op: '_get', path: '/a' }], /not "_get"/],
    ['an inherited name as op', [{ op: 'constructor', path: '/a' }], /not "constructor"/],
    ['a missing op', [{ path: '/a', value: 1 }], /not null/],
    ['a missing path', [{ op: 'add', value: 1 }], /operation 0: Operation `path` property is not a string/],
    ['a relative path', [{ op: 'remove', path: 'a' }], /must start with "\/"/],
    ['a missing value', [{ op: 'add', path: '/a' }], /`value` property is not present/],
    ['a missing from', [{ op: 'copy', path: '/a' }], /`from` property is not present/],
    ['a relative from', [{ op: 'copy', from: 'a', path: '/b' }], /`from` must be a JSON pointer/],
    ['a move into its own child', [{ op: 'move', from: '/spec', path: '/spec/inner' }], /cannot move \/spec into its own child/],
    ['an operation that is not an object', [1], /Operation is not an object/],
    ['a bad second operation', [{ op: 'add', path: '/a', value: 1 }, { op: 'add' }], /^json patch operation 1:/],
  ])('%s is 400 BadRequest', (_name, ops, message) => {
    const err = apiErrorOf(() => applyJsonPatch(doc, ops));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toMatch(message);
  });
});

describe('createMergePatch', () => {
  it.each([
    [{ a: 1 }, { a: 1 }, {}],
    [{ a: { b: [1, { c: 2 }] } }, { a: { b: [1, { c: 2 }] } }, {}],
    [{ a: 1 }, { a: 2 }, { a: 2 }],
    [{ a: 1 }, {}, { a: null }],
    [{}, { a: { b: 1 } }, { a: { b: 1 } }],
    [{ a: { b: 1, c: 2 } }, { a: { b: 1, c: 3, d: 4 } }, { a: { c: 3, d: 4 } }],
    [{ a: { b: 1 } }, { a: {} }, { a: { b: null } }],
    [{ a: [1, 2] }, { a: [1, 3] }, { a: [1, 3] }],
    [{ a: { b: 1 } }, { a: 'x' }, { a: 'x' }],
    [{ a: 'x' }, { a: { b: 1 } }, { a: { b: 1 } }],
    [{ a: null }, {}, { a: null }],
  ])('%j → %j is %j', (original, modified, patch) => {
    const p = createMergePatch(frozen(original), frozen(modified));
    expect(p).toEqual(patch);
    expect(applyMergePatch(original, p)).toEqual(Object.fromEntries(Object.entries(modified).filter(([, v]) => v !== null)));
  });
});

describe('threeWayMergePatch', () => {
  const manifest = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web', tier: 'fe' } },
    spec: { replicas: 2, template: { spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } },
  };
  // What the server holds after applying `manifest`: plus server- and controller-set fields.
  const live = {
    ...manifest,
    metadata: { ...manifest.metadata, uid: 'u1', resourceVersion: '7', labels: { ...manifest.metadata.labels, 'added-by': 'someone' } },
    spec: { ...manifest.spec, revisionHistoryLimit: 10, template: { spec: { containers: [{ name: 'c', image: 'nginx:1', imagePullPolicy: 'IfNotPresent' }] } } },
    status: { replicas: 2 },
  };
  const edit = (fn: (m: any) => void) => {
    const m = structuredClone(manifest);
    fn(m);
    return m;
  };

  it.each([
    ['unchanged manifest', manifest, manifest, live, {}],
    ['changed field', manifest, edit((m) => (m.spec.replicas = 3)), live, { spec: { replicas: 3 } }],
    ['field removed from the manifest is nulled', manifest, edit((m) => delete m.spec.replicas), live, { spec: { replicas: null } }],
    ['label removed from the manifest is nulled, others kept', manifest, edit((m) => delete m.metadata.labels.tier), live, { metadata: { labels: { tier: null } } }],
    ['label added and one changed', manifest, edit((m) => Object.assign(m.metadata.labels, { env: 'prod', app: 'web2' })), live, { metadata: { labels: { env: 'prod', app: 'web2' } } }],
    ['whole map removed: only what we applied is nulled', manifest, edit((m) => delete m.metadata.labels), live, { metadata: { labels: { app: null, tier: null } } }],
    ['whole map removed: nothing to do when only others\' keys remain', manifest, edit((m) => delete m.metadata.labels), { ...manifest, metadata: { name: 'web', labels: { other: 'x' } } }, {}],
    ['whole map removed: nulled whole when nobody else added to it', manifest, edit((m) => delete m.metadata.labels), manifest, { metadata: { labels: null } }],
    ['changed list replaced whole', manifest, edit((m) => (m.spec.template.spec.containers[0].image = 'nginx:2')), live, { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:2' }] } } } }],
    ['list element added', manifest, edit((m) => m.spec.template.spec.containers.push({ name: 'd', image: 'x' })), live, { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:1' }, { name: 'd', image: 'x' }] } } } }],
    ['field removed from a list element', edit((m) => (m.spec.template.spec.containers[0].args = ['-v'])), manifest, { ...live, spec: { ...live.spec, template: { spec: { containers: [{ ...live.spec.template.spec.containers[0], args: ['-v'] }] } } } }, { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } } }],
    ['list element changed by someone else', manifest, manifest, { ...live, spec: { ...live.spec, template: { spec: { containers: [{ name: 'c', image: 'hacked' }] } } } }, { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } } }],
    ['scalar list reordered', { a: [1, 2] }, { a: [2, 1] }, { a: [1, 2] }, { a: [2, 1] }],
    ['field changed by someone else is set back', manifest, manifest, { ...live, spec: { ...live.spec, replicas: 5 } }, { spec: { replicas: 2 } }],
    ['field already gone from live is not nulled', manifest, edit((m) => delete m.spec.replicas), { ...live, spec: { ...live.spec, replicas: undefined } }, {}],
    ['no last-applied: nothing is nulled', undefined, edit((m) => delete m.metadata.labels.tier), live, {}],
    ['no last-applied: changes are still set', undefined, edit((m) => (m.spec.replicas = 4)), live, { spec: { replicas: 4 } }],
    ['explicit empty map is set', manifest, edit((m) => (m.metadata.annotations = {})), live, { metadata: { annotations: {} } }],
    ['nested field replaced by scalar', { a: { b: 1 } }, { a: 5 }, { a: { b: 1, c: 2 } }, { a: 5 }],
    ['new object (no live)', undefined, manifest, undefined, manifest],
  ])('%s', (_name, lastApplied, desired, liveObj, expected) => {
    const liveJson = liveObj === undefined ? undefined : JSON.parse(JSON.stringify(liveObj));
    const patch = threeWayMergePatch(frozen(structuredClone(lastApplied)), frozen(structuredClone(desired)), frozen(liveJson));
    expect(patch).toEqual(expected);
    expect(isEmptyPatch(patch)).toBe(Object.keys(expected).length === 0);
  });

  it('keeps server-set fields when the patch is applied', () => {
    const desired = edit((m) => {
      m.spec.replicas = 3;
      delete m.metadata.labels.tier;
    });
    const result = applyMergePatch(live, threeWayMergePatch(manifest, desired, live));
    expect(result.metadata).toEqual({ name: 'web', uid: 'u1', resourceVersion: '7', labels: { app: 'web', 'added-by': 'someone' } });
    expect(result.spec.replicas).toBe(3);
    expect(result.spec.revisionHistoryLimit).toBe(10);
    expect(result.status).toEqual({ replicas: 2 });
    // Containers are unchanged apart from server defaults, so the list is not sent and the defaults stay.
    expect(result.spec.template.spec.containers).toEqual([{ name: 'c', image: 'nginx:1', imagePullPolicy: 'IfNotPresent' }]);
  });
});

describe('isEmptyPatch', () => {
  it.each([
    [{}, true],
    [[], true],
    [null, true],
    [undefined, true],
    [{ a: null }, false],
    [[{ op: 'remove', path: '/a' }], false],
    ['x', false],
  ])('%j → %s', (p, empty) => {
    expect(isEmptyPatch(p)).toBe(empty);
  });
});
