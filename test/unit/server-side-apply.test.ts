import {
  canonical, compareObjects, difference, fieldManagerFromUserAgent, fieldManagerProblem, fieldScope, fieldSetOf,
  intersection, MAX_UPDATE_MANAGERS, memberPaths, recordManagedFields, recursiveDifference, takeManagedFields, union,
  type FieldSet, type ManagedFieldsEntry,
} from '../../src/api/managed-fields';
import { lookupResource } from '../../src/api/registry';
import { applyConfiguration, LAST_APPLIED_ANNOTATION } from '../../src/api/server-side-apply';
import type { KubeObject } from '../../src/api/types';
import { apiErrorOf, frozen } from '../assertions';

const deployments = lookupResource('apps', 'v1', 'deployments')!;
const pods = lookupResource('', 'v1', 'pods')!;
const configmaps = lookupResource('', 'v1', 'configmaps')!;
const NOW = new Date('2024-05-01T12:00:00.250Z');
const LATER = new Date('2024-05-01T12:05:00Z');

function deploymentConfig(extra: Record<string, any> = {}): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }] }] },
      },
      ...extra,
    },
  };
}

function apply(live: KubeObject | undefined, config: unknown, manager: string, force = false, rt = deployments): KubeObject {
  return applyConfiguration(rt, live, config, { manager, force, name: 'web', namespace: 'default', now: NOW });
}

function entry(obj: KubeObject, manager: string, operation = 'Apply'): ManagedFieldsEntry | undefined {
  return (obj.metadata.managedFields as ManagedFieldsEntry[] | undefined)?.find((e) => e.manager === manager && e.operation === operation);
}

/** A created object as the storage layer would record it: the create is an Update by `manager`. */
function created(obj: KubeObject, manager: string, rt = deployments): KubeObject {
  const copy = structuredClone(obj);
  rt.defaults?.(copy);
  recordManagedFields(rt, undefined, copy, takeManagedFields(copy), { manager, now: NOW });
  return copy;
}

describe('field sets (fieldsV1)', () => {
  test('an applied configuration: struct fields hold their children, map keys and list items are members', () => {
    const set = fieldSetOf(deploymentConfig(), deployments.schema, fieldScope(true, undefined));
    expect(canonical(set)).toEqual({
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': {
            'f:containers': {
              'k:{"name":"web"}': {
                '.': {},
                'f:env': { 'k:{"name":"A"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
                'f:image': {},
                'f:name': {},
                // A key the item leaves out takes its schema default (protocol: TCP).
                'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
              },
            },
          },
        },
      },
    });
  });

  test('name, namespace and the like are never owned; status is out of scope for the main resource', () => {
    const config = deploymentConfig();
    config.metadata.uid = 'abc';
    config.status = { replicas: 3 };
    const set = fieldSetOf(config, deployments.schema, fieldScope(true, undefined));
    expect(set['f:metadata']).toEqual({ 'f:labels': { 'f:app': {} } });
    expect(set['f:status']).toBeUndefined();
    expect(fieldSetOf(config, deployments.schema, fieldScope(true, 'status'))).toEqual({ 'f:status': { 'f:replicas': {} } });
  });

  test('sets of scalars are keyed by value, atomic lists and maps are leaves', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', finalizers: ['a/b', 'c/d'] }, spec: { nodeSelector: { disk: 'ssd' }, containers: [{ name: 'x', args: ['1', '2'] }] } };
    const set = canonical(fieldSetOf(pod, pods.schema));
    expect(set['f:metadata']).toEqual({ 'f:finalizers': { 'v:"a/b"': {}, 'v:"c/d"': {} } });
    expect(set['f:spec']['f:nodeSelector']).toEqual({});
    expect(set['f:spec']['f:containers']['k:{"name":"x"}']['f:args']).toEqual({});
  });

  test('a field the schema does not declare, an item without its key and repeated keys are 400', () => {
    const unknown = deploymentConfig({ bogus: 1 });
    expect(apiErrorOf(() => fieldSetOf(unknown, deployments.schema))).toMatchObject({ code: 400, message: '.spec.bogus: field not declared in schema' });
    const noKey = deploymentConfig();
    delete noKey.spec.template.spec.containers[0].name;
    expect(apiErrorOf(() => fieldSetOf(noKey, deployments.schema)).message)
      .toBe('.spec.template.spec.containers: element 0: associative list with keys has an element that omits key field "name" (and doesn\'t have default value)');
    const twice = deploymentConfig();
    twice.spec.template.spec.containers.push({ name: 'web', image: 'x' });
    expect(apiErrorOf(() => fieldSetOf(twice, deployments.schema)).message).toBe('.spec.template.spec.containers: duplicate entries for key [name="web"]');
  });

  test('canonical order: fields by name, then keys (by value, numbers numerically), values, `.` first', () => {
    const set: FieldSet = { 'k:{"containerPort":8080,"protocol":"TCP"}': {}, 'f:b': {}, 'v:"z"': {}, 'k:{"containerPort":443,"protocol":"TCP"}': {}, 'f:a': { 'f:y': {}, '.': {}, 'f:x': {} } };
    expect(JSON.stringify(canonical(set))).toBe(
      '{"f:a":{".":{},"f:x":{},"f:y":{}},"f:b":{},"k:{\\"containerPort\\":443,\\"protocol\\":\\"TCP\\"}":{},"k:{\\"containerPort\\":8080,\\"protocol\\":\\"TCP\\"}":{},"v:\\"z\\"":{}}',
    );
  });

  test('members print as Kubernetes paths, members before children', () => {
    const set: FieldSet = {
      'f:spec': {
        'f:replicas': {},
        'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {}, 'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': {} } } } } },
      },
      'f:metadata': { 'f:finalizers': { 'v:"x"': {} } },
    };
    expect(memberPaths(set)).toEqual([
      '.metadata.finalizers[="x"]',
      '.spec.replicas',
      '.spec.template.spec.containers[name="web"]',
      '.spec.template.spec.containers[name="web"].image',
      '.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]',
    ]);
  });

  test('union, difference, intersection and recursive difference', () => {
    const a: FieldSet = { 'f:x': {}, 'f:y': { '.': {}, 'f:z': {} }, 'f:w': { 'f:v': {} } };
    const b: FieldSet = { 'f:y': {}, 'f:w': { 'f:u': {} }, 'f:n': {} };
    expect(canonical(union(a, b))).toEqual({ 'f:n': {}, 'f:w': { 'f:u': {}, 'f:v': {} }, 'f:x': {}, 'f:y': { '.': {}, 'f:z': {} } });
    // Difference takes members only: y stops being one, its child stays.
    expect(canonical(difference(a, b))).toEqual({ 'f:w': { 'f:v': {} }, 'f:x': {}, 'f:y': { 'f:z': {} } });
    expect(recursiveDifference(a, b)).toEqual({ 'f:x': {}, 'f:w': { 'f:v': {} } });
    expect(intersection(a, b)).toEqual({ 'f:y': {} });
    // Nothing to take away: the same set back.
    expect(difference(a, { 'f:q': {} })).toBe(a);
  });

  test('compare: leaves added, changed and removed; a new list item is a member with its fields', () => {
    const before = deploymentConfig();
    const after = deploymentConfig({ replicas: 3 });
    after.spec.template.spec.containers.push({ name: 'side', image: 'busybox' });
    delete after.metadata.labels;
    const { changed, removed } = compareObjects(before, after, deployments.schema, fieldScope(true, undefined));
    expect(canonical(changed)).toEqual({
      'f:spec': {
        'f:replicas': {},
        'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"side"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } },
      },
    });
    expect(canonical(removed)).toEqual({ 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } });
  });
});

describe('managedFields on Update operations', () => {
  test('a create records everything it set, but not the structs the empty object already has', () => {
    const obj = created(deploymentConfig(), 'kubectl-create');
    expect(obj.metadata.managedFields).toHaveLength(1);
    const e = entry(obj, 'kubectl-create', 'Update')!;
    expect(e).toMatchObject({ manager: 'kubectl-create', operation: 'Update', apiVersion: 'apps/v1', time: '2024-05-01T12:00:00Z', fieldsType: 'FieldsV1' });
    const spec = e.fieldsV1!['f:spec'];
    expect(e.fieldsV1!['f:metadata']).toEqual({ 'f:labels': { '.': {}, 'f:app': {} } });
    // spec.strategy and spec.template are Go structs embedded by value; rollingUpdate is a pointer.
    expect(spec['f:strategy']).toEqual({ 'f:rollingUpdate': { '.': {}, 'f:maxSurge': {}, 'f:maxUnavailable': {} }, 'f:type': {} });
    expect(Object.keys(spec['f:template'])).toEqual(['f:metadata', 'f:spec']);
    const containers = spec['f:template']['f:spec']['f:containers'];
    expect(Object.keys(containers)).toEqual(['k:{"name":"web"}']);
    // Defaults count: the creator set them, as Kubernetes defaults while decoding.
    expect(containers['k:{"name":"web"}']).toMatchObject({ '.': {}, 'f:imagePullPolicy': {}, 'f:terminationMessagePath': {} });
    expect(Object.keys(e.fieldsV1!)).toEqual(['f:metadata', 'f:spec']);
  });

  test('an update takes the fields it changes from other managers; removed fields leave every entry', () => {
    const live = apply(undefined, deploymentConfig(), 'alice');
    const next = structuredClone(live);
    next.spec.replicas = 5;
    delete next.metadata.labels;
    recordManagedFields(deployments, live, next, takeManagedFields(next), { manager: 'kubectl-edit', now: LATER });
    const alice = entry(next, 'alice')!;
    expect(alice.fieldsV1!['f:spec']['f:replicas']).toBeUndefined();
    expect(alice.fieldsV1!['f:metadata']).toBeUndefined();
    expect(alice.time).toBe('2024-05-01T12:00:00Z');
    expect(entry(next, 'kubectl-edit', 'Update')).toEqual({
      manager: 'kubectl-edit', operation: 'Update', apiVersion: 'apps/v1', time: '2024-05-01T12:05:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } },
    });
    // Apply entries sort before Update entries.
    expect((next.metadata.managedFields as ManagedFieldsEntry[]).map((m) => m.manager)).toEqual(['alice', 'kubectl-edit']);
  });

  test('a write that changes nothing leaves the entries (and their times) as they were', () => {
    const live = created(deploymentConfig(), 'kubectl-create');
    const next = structuredClone(live);
    recordManagedFields(deployments, live, next, takeManagedFields(next), { manager: 'other', now: LATER });
    expect(next.metadata.managedFields).toEqual(live.metadata.managedFields);
  });

  test('status writes are recorded with subresource status and own only status', () => {
    const live = created({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } as KubeObject, 'mk', pods);
    live.status = { phase: 'Pending' };
    const next = { ...live, status: { phase: 'Running', podIP: '10.0.0.5', conditions: [{ type: 'Ready', status: 'True' }] } };
    // The body's managedFields are ignored on a subresource.
    next.metadata = { ...live.metadata, managedFields: [{}] as unknown[] };
    recordManagedFields(pods, live, next, takeManagedFields(next), { manager: 'kubelet', subresource: 'status', now: LATER });
    const e = entry(next, 'kubelet', 'Update')!;
    expect(e.subresource).toBe('status');
    expect(e.fieldsV1).toEqual({ 'f:status': { 'f:conditions': { '.': {}, 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:type': {} } }, 'f:phase': {}, 'f:podIP': {} } });
    expect(entry(next, 'mk', 'Update')).toEqual(entry(live, 'mk', 'Update'));
    expect(live.metadata.managedFields).toHaveLength(1);
  });

  test('managedFields [{}] or [] clears the entries; valid ones the client sends are kept', () => {
    const live = created(deploymentConfig(), 'kubectl-create');
    for (const reset of [[{}], []]) {
      const next = structuredClone(live);
      next.metadata.managedFields = reset;
      recordManagedFields(deployments, live, next, takeManagedFields(next), { manager: 'x', now: LATER });
      expect(next.metadata.managedFields).toBeUndefined();
    }
    const edited = structuredClone(live);
    const own: ManagedFieldsEntry = { manager: 'mine', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } };
    edited.metadata.managedFields = [{ ...own, junk: 'dropped', time: '2024-05-01T10:00:00.123Z' }];
    recordManagedFields(deployments, live, edited, takeManagedFields(edited), { manager: 'x', now: LATER });
    expect(edited.metadata.managedFields).toEqual([{ ...own, time: '2024-05-01T10:00:00Z' }]);
    // Entries that do not decode (an unknown operation) fall back to the live ones.
    const broken = structuredClone(live);
    broken.metadata.managedFields = [{ ...own, operation: 'Replace' }];
    recordManagedFields(deployments, live, broken, takeManagedFields(broken), { manager: 'x', now: LATER });
    expect(broken.metadata.managedFields).toEqual(live.metadata.managedFields);
  });

  test(`Update entries are capped at ${MAX_UPDATE_MANAGERS}: the oldest merge into ancient-changes`, () => {
    let live = created({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: {} } as KubeObject, 'creator', configmaps);
    for (let i = 0; i < 14; i++) {
      const next = structuredClone(live);
      next.data = { ...next.data, [`k${i}`]: 'v' };
      recordManagedFields(configmaps, live, next, takeManagedFields(next), { manager: `writer-${i}`, now: new Date(NOW.getTime() + (i + 1) * 60_000) });
      live = next;
    }
    const entries = live.metadata.managedFields as ManagedFieldsEntry[];
    expect(entries).toHaveLength(MAX_UPDATE_MANAGERS);
    const ancient = entries.find((e) => e.manager === 'ancient-changes')!;
    // The creator's entry went in first, with `data` itself (it created the empty map).
    expect(Object.keys(ancient.fieldsV1!['f:data'])).toEqual(['.', 'f:k0', 'f:k1', 'f:k2', 'f:k3', 'f:k4']);
    expect(entries.map((e) => e.manager)).toEqual(['ancient-changes', ...Array.from({ length: 9 }, (_, i) => `writer-${i + 5}`)]);
  });

  test('the manager of a request without fieldManager is its User-Agent product', () => {
    expect(fieldManagerFromUserAgent('kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef')).toBe('kubectl');
    expect(fieldManagerFromUserAgent('kubectl-client-side-apply/v1.30')).toBe('kubectl-client-side-apply');
    expect(fieldManagerFromUserAgent('bad\u0007agent/1')).toBe('badagent');
    expect(fieldManagerFromUserAgent('x'.repeat(200))).toHaveLength(128);
    expect(fieldManagerFromUserAgent(undefined)).toBe('');
    expect(fieldManagerProblem('ok-manager')).toBeUndefined();
    expect(fieldManagerProblem('x'.repeat(129))).toMatch(/Too long/);
    expect(fieldManagerProblem('a\nb')).toBe('Invalid value: "a\\nb": invalid character U+000A (at position 1)');
  });
});

describe('applyConfiguration', () => {
  test('on a missing object the configuration is the object, with one Apply entry', () => {
    const config = frozen(deploymentConfig());
    const obj = apply(undefined, config, 'alice');
    expect(obj.spec).toEqual(config.spec);
    expect(obj.metadata.managedFields).toEqual([{
      manager: 'alice', operation: 'Apply', apiVersion: 'apps/v1', time: '2024-05-01T12:00:00Z', fieldsType: 'FieldsV1',
      fieldsV1: canonical(fieldSetOf(config, deployments.schema, fieldScope(true, undefined))),
    }]);
  });

  test('merges: keyed lists by key (live order kept, new items after), sets by value, atomic values replaced', () => {
    const live = apply(undefined, deploymentConfig(), 'alice');
    live.spec.template.spec.containers.push({ name: 'logger', image: 'busybox' });
    live.metadata.finalizers = ['a.io/x'];
    live.spec.template.spec.nodeSelector = { zone: 'a', disk: 'hdd' };
    const config = deploymentConfig();
    config.metadata.finalizers = ['b.io/y'];
    config.spec.template.spec.nodeSelector = { disk: 'ssd' };
    config.spec.template.spec.containers = [
      { name: 'web', image: 'nginx:2' },
      { name: 'proxy', image: 'envoy' },
    ];
    const out = apply(frozen(live), frozen(config), 'bob', true);
    expect(out.spec.template.spec.containers.map((c: any) => [c.name, c.image])).toEqual([['web', 'nginx:2'], ['logger', 'busybox'], ['proxy', 'envoy']]);
    // What bob did not mention in the web container stays.
    expect(out.spec.template.spec.containers[0].env).toEqual([{ name: 'A', value: '1' }]);
    expect(out.metadata.finalizers).toEqual(['a.io/x', 'b.io/y']);
    expect(out.spec.template.spec.nodeSelector).toEqual({ disk: 'ssd' });
  });

  test('re-applying without a field removes it, unless another manager owns it', () => {
    let live = apply(undefined, deploymentConfig(), 'alice');
    live = apply(live, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { app: 'web', team: 'a' } } }, 'bob');
    const config = deploymentConfig();
    delete config.metadata.labels;
    delete config.spec.replicas;
    delete config.spec.template.spec.containers[0].env;
    config.spec.template.spec.containers[0].ports = [];
    const out = apply(live, config, 'alice');
    expect(out.spec.replicas).toBeUndefined();
    expect(out.spec.template.spec.containers[0].env).toBeUndefined();
    // An empty list sets nothing: the ports alice applied before go, and the field with them.
    expect(out.spec.template.spec.containers[0].ports).toBeUndefined();
    // bob applied the app label too: it stays; team was bob's alone.
    expect(out.metadata.labels).toEqual({ app: 'web', team: 'a' });
    expect(entry(out, 'alice')!.fieldsV1!['f:metadata']).toBeUndefined();
  });

  test('a dropped list item goes with the fields the server defaulted in it', () => {
    let live = apply(undefined, deploymentConfig(), 'alice');
    deployments.defaults!(live);
    expect(live.spec.template.spec.containers[0].ports[0].protocol).toBe('TCP');
    live.spec.template.spec.containers.push({ name: 'side', image: 'busybox', imagePullPolicy: 'Always' });
    live = apply(live, (() => { const c = deploymentConfig(); c.spec.template.spec.containers.push({ name: 'side', image: 'busybox' }); return c; })(), 'alice');
    const out = apply(live, deploymentConfig(), 'alice');
    expect(out.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['web']);
    expect(out.spec.template.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
  });

  test('changing a field another manager owns is a 409 conflict; the same value is shared ownership', () => {
    const live = apply(undefined, deploymentConfig(), 'alice');
    const err = apiErrorOf(() => apply(live, deploymentConfig({ replicas: 5 }), 'bob'));
    expect(err.code).toBe(409);
    expect(err.reason).toBe('Conflict');
    expect(err.message).toBe('Apply failed with 1 conflict: conflict with "alice": .spec.replicas');
    expect(err.details?.causes).toEqual([{ reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.replicas' }]);

    const shared = apply(live, deploymentConfig(), 'bob');
    expect(entry(shared, 'alice')!.fieldsV1).toEqual(entry(shared, 'bob')!.fieldsV1);
  });

  test('conflicts with several managers are listed per manager; updaters are named with their apiVersion', () => {
    let live = created(deploymentConfig(), 'kubectl-client-side-apply');
    live = apply(live, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { paused: true } }, 'carol', true);
    const config = deploymentConfig({ replicas: 7, paused: false });
    const err = apiErrorOf(() => apply(live, config, 'dave'));
    expect(err.message).toBe('Apply failed with 2 conflicts: conflicts with "carol":\n- .spec.paused\nconflicts with "kubectl-client-side-apply" using apps/v1:\n- .spec.replicas');
    expect(err.details?.causes?.map((c) => c.field)).toEqual(['.spec.paused', '.spec.replicas']);
  });

  test('force takes the conflicting fields from their owners', () => {
    const live = apply(undefined, deploymentConfig(), 'alice');
    const out = apply(live, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 9 } }, 'bob', true);
    expect(out.spec.replicas).toBe(9);
    expect(entry(out, 'alice')!.fieldsV1!['f:spec']['f:replicas']).toBeUndefined();
    expect(entry(out, 'bob')!.fieldsV1).toEqual({ 'f:spec': { 'f:replicas': {} } });
  });

  test('a no-op apply keeps the entry time; a change updates it', () => {
    const live = apply(undefined, deploymentConfig(), 'alice');
    const again = applyConfiguration(deployments, live, deploymentConfig(), { manager: 'alice', force: false, name: 'web', now: LATER });
    expect(again).toEqual(live);
    // The same configuration with its fields in another order writes the same JSON (no new resourceVersion).
    const { spec, metadata, kind, apiVersion } = deploymentConfig();
    const reordered = applyConfiguration(deployments, live, { spec: { template: spec.template, selector: spec.selector, replicas: spec.replicas }, metadata, kind, apiVersion }, { manager: 'alice', force: false, name: 'web', now: LATER });
    expect(JSON.stringify(reordered.metadata.managedFields)).toBe(JSON.stringify(live.metadata.managedFields));
    const changed = applyConfiguration(deployments, live, deploymentConfig({ replicas: 4 }), { manager: 'alice', force: false, name: 'web', now: LATER });
    expect(entry(changed, 'alice')!.time).toBe('2024-05-01T12:05:00Z');
  });

  test('kubectl moving from client-side apply: fields the last-applied annotation still describes do not conflict', () => {
    const manifest = deploymentConfig();
    const live = created({ ...manifest, metadata: { ...manifest.metadata, annotations: { [LAST_APPLIED_ANNOTATION]: JSON.stringify(manifest) } } }, 'kubectl-client-side-apply');
    const out = apply(live, deploymentConfig({ replicas: 4 }), 'kubectl');
    expect(out.spec.replicas).toBe(4);
    expect(entry(out, 'kubectl-client-side-apply', 'Update')!.fieldsV1!['f:spec']['f:replicas']).toBeUndefined();
    // The annotation follows what was applied.
    expect(JSON.parse(out.metadata.annotations![LAST_APPLIED_ANNOTATION]).spec.replicas).toBe(4);
    // Another manager name gets no such allowance.
    expect(apiErrorOf(() => apply(live, deploymentConfig({ replicas: 4 }), 'other')).message)
      .toBe('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
  });

  test('bad configurations are 400', () => {
    const cases: Array<[unknown, string]> = [
      [[1, 2], 'the apply configuration must be a YAML or JSON object'],
      [{ ...deploymentConfig(), apiVersion: 'apps/v2' }, 'Incorrect version specified in apply patch. Specified patch version: apps/v2, expected: apps/v1'],
      [{ ...deploymentConfig(), kind: 'Pod' }, 'the kind of the apply configuration (Pod) does not match the endpoint: expected Deployment'],
      [{ ...deploymentConfig(), metadata: { name: 'web', managedFields: [] } }, 'metadata.managedFields must be nil'],
      [{ ...deploymentConfig(), metadata: { name: 'other' } }, 'the name of the object (other) does not match the name on the URL (web)'],
      [{ ...deploymentConfig(), metadata: {} }, 'the name of the object (web based on URL) was undeterminable: name must be provided'],
      [{ ...deploymentConfig(), metadata: { name: 'web', namespace: 'elsewhere' } }, 'the namespace of the provided object does not match the namespace sent on the request'],
    ];
    for (const [config, message] of cases) expect(apiErrorOf(() => apply(undefined, config, 'alice'))).toMatchObject({ code: 400, message });
  });
});
