import { resourceTypes } from '../../src/api/registry';
import { decodeProblems, goValue, jsonDuplicateFields, strictDecodingError, strictErrors, yamlDuplicateKeys } from '../../src/apiserver/strict-decoding';

const deployments = resourceTypes.find((rt) => rt.kind === 'Deployment')!;

describe('jsonDuplicateFields', () => {
  test('paths of repeated keys, each once, through objects and lists; escaped keys decoded', () => {
    const text = '{"a":1,"b":{"x":1,"x":2,"x":3},"a":[1,2],"c":[{"n":1},{"n":1,"n":2}],"s":"a\\"b","k\\"q":{"z":{},"z":{}}}';
    expect(jsonDuplicateFields(text)).toEqual(['b.x', 'a', 'c[1].n', 'k"q.z']);
  });

  test('braces, brackets and commas inside strings are text', () => {
    expect(jsonDuplicateFields('{"a":"{\\"a\\":1,\\"a\\":2}","b":"[,]","c":1}')).toEqual([]);
  });

  test('a top-level list (a JSON patch) indexes its items', () => {
    expect(jsonDuplicateFields('[{"op":"add"},{"op":"add","op":"remove"}]')).toEqual(['[1].op']);
  });
});

test('yamlDuplicateKeys reports yaml.v2 line errors in document order', () => {
  const yaml = 'a: 1\nb:\n  x: 1\n  x: 2\nlist:\n- k: 1\n  k: 2\na: 3\n';
  expect(yamlDuplicateKeys(yaml)).toEqual([
    'line 4: key "x" already set in map',
    'line 7: key "k" already set in map',
    'line 8: key "a" already set in map',
  ]);
});

describe('decodeProblems and strictErrors', () => {
  test('Ignore finds nothing; a JSON patch reports its operations\' own fields', () => {
    expect(decodeProblems('{"a":1,"a":2}', 'json', 'Ignore')).toEqual({ duplicates: [], yamlDuplicates: [], jsonPatch: [] });
    const p = decodeProblems('[{"op":"add","path":"/a","value":{"x":1,"x":2},"foo":1},{"op":"add","path":"/b","path":"/c","value":1}]', 'json-patch', 'Strict');
    // Keys repeated inside a value are the value's business (the last wins), as in evanphx/json-patch.
    expect(p.jsonPatch).toEqual(['json patch unknown field "[0].foo"', 'json patch duplicate field "[1].path"']);
  });

  test('a create reports a field both repeated and unknown once, as unknown; a patch reports both', () => {
    const problems = { duplicates: ['spec.paused', 'spec.bogus'], yamlDuplicates: [], jsonPatch: [] };
    const unknown = ['unknown field "spec.bogus"'];
    expect(strictErrors(problems, unknown, { patch: false, strict: true })).toEqual(['duplicate field "spec.paused"', 'unknown field "spec.bogus"']);
    expect(strictErrors(problems, unknown, { patch: true, strict: true })).toEqual(['duplicate field "spec.paused"', 'duplicate field "spec.bogus"', 'unknown field "spec.bogus"']);
  });

  test('YAML repeats are one error under Strict and one warning each otherwise', () => {
    const problems = { duplicates: [], yamlDuplicates: ['line 2: key "a" already set in map', 'line 5: key "b" already set in map'], jsonPatch: [] };
    expect(strictErrors(problems, [], { patch: false, strict: true })).toEqual(['yaml: unmarshal errors:\n  line 2: key "a" already set in map\n  line 5: key "b" already set in map']);
    expect(strictErrors(problems, [], { patch: false, strict: false })).toHaveLength(2);
  });
});

test('strictDecodingError: 400 on a create, 422 on the field `patch` of a patch', () => {
  const create = strictDecodingError(deployments, ['unknown field "spec.x"']);
  expect(create.toStatus()).toMatchObject({ code: 400, reason: 'BadRequest', message: 'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.x"' });
  const patch = strictDecodingError(deployments, ['unknown field "spec.x"'], { value: 'map[spec:map[x:1]]' });
  expect(patch.toStatus()).toMatchObject({
    code: 422,
    reason: 'Invalid',
    message: ' "" is invalid: patch: Invalid value: "map[spec:map[x:1]]": strict decoding error: unknown field "spec.x"',
    details: { causes: [{ reason: 'FieldValueInvalid', field: 'patch', message: 'Invalid value: "map[spec:map[x:1]]": strict decoding error: unknown field "spec.x"' }] },
  });
});

test('goValue prints a decoded patch as Go prints map[string]interface{} (%+v): keys sorted', () => {
  expect(goValue({ spec: { replicas: 3, b: [1, 'x', null], a: true } })).toBe('map[spec:map[a:true b:[1 x <nil>] replicas:3]]');
});
