import { parse } from 'yaml';
import { applyStrategicMergePatch, strategicMergeSchema } from '../../src/api/strategic-merge';
import { resourceTypes, lookupKind } from '../../src/api/registry';
import { schemas, type JSONSchema } from '../../src/api/schemas';
import { apiErrorOf, frozen } from '../assertions';

/**
 * The test type of apimachinery's strategicpatch tests (MergeItem), as a
 * schema: the fixtures below are ported from its patch_test.go.
 */
const mergeItem: JSONSchema = { type: 'object', properties: {} };
const mergingList = (items: JSONSchema, strategy = 'merge') => ({ type: 'array', items, 'x-kubernetes-patch-strategy': strategy, 'x-kubernetes-patch-merge-key': 'name' });
const simpleMap = { type: 'object', additionalProperties: { type: 'string' } };
Object.assign(mergeItem.properties, {
  name: { type: 'string' },
  value: { type: 'string' },
  other: { type: 'string' },
  mergingList: mergingList(mergeItem),
  nonMergingList: { type: 'array', items: mergeItem },
  mergingIntList: { type: 'array', items: { type: 'integer' }, 'x-kubernetes-patch-strategy': 'merge' },
  nonMergingIntList: { type: 'array', items: { type: 'integer' } },
  simpleMap,
  replacingItem: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, 'x-kubernetes-patch-strategy': 'replace' },
  retainKeysMap: {
    type: 'object',
    'x-kubernetes-patch-strategy': 'retainKeys',
    properties: {
      name: { type: 'string' },
      value: { type: 'string' },
      other: { type: 'string' },
      simpleMap,
      mergingIntList: { type: 'array', items: { type: 'integer' }, 'x-kubernetes-patch-strategy': 'merge' },
      mergingList: mergingList(mergeItem),
      nonMergingList: { type: 'array', items: mergeItem },
    },
  },
  retainKeysMergingList: mergingList(mergeItem, 'merge,retainKeys'),
});

/** original + patch = expected, all in YAML; `expected` is an error message fragment when it starts with `!`. */
type Case = [description: string, original: string, patch: string, expected: string];

function run([, original, patch, expected]: Case, schema: JSONSchema = mergeItem): void {
  const o = frozen(parse(original) ?? {});
  const p = frozen(parse(patch) ?? {});
  if (expected.startsWith('!')) {
    expect(apiErrorOf(() => applyStrategicMergePatch(o, p, schema)).message).toContain(expected.slice(1));
  } else {
    expect(applyStrategicMergePatch(o, p, schema)).toEqual(parse(expected) ?? {});
  }
}

describe('apimachinery patch_test.go fixtures', () => {
  // customStrategicMergePatchTestCaseData: patches no client generates.
  const custom: Case[] = [
    ['unique scalars when merging lists', 'mergingIntList: [1, 2]', 'mergingIntList: [2, 3]', 'mergingIntList: [1, 2, 3]'],
    ['delete map from nested map', 'simpleMap: {key1: 1, key2: 1}', 'simpleMap: {$patch: delete}', 'simpleMap: {}'],
    ['delete all items from merging list', 'mergingList: [{name: 1}, {name: 2}]', 'mergingList: [{$patch: replace}]', 'mergingList: []'],
    ['merge empty merging lists', 'mergingList: []', 'mergingList: []', 'mergingList: []'],
    ['delete all keys from map', '{name: 1, value: 1}', '{$patch: replace}', '{}'],
    ['add key and delete all keys from map', '{name: 1, value: 1}', '{other: a, $patch: replace}', '{other: a}'],
    [
      'delete all duplicate entries in a merging list',
      'mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]',
      'mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]',
      'mergingList: [{name: 2, value: a}]',
    ],
    ['retainKeys map can add a field when no retainKeys directive present', 'retainKeysMap: {name: foo}', 'retainKeysMap: {value: bar}', 'retainKeysMap: {name: foo, value: bar}'],
    ['retainKeys map can change a field when no retainKeys directive present', 'retainKeysMap: {name: foo, value: a}', 'retainKeysMap: {value: b}', 'retainKeysMap: {name: foo, value: b}'],
    ['retainKeys map can delete a field when no retainKeys directive present', 'retainKeysMap: {name: foo, value: a}', 'retainKeysMap: {value: null}', 'retainKeysMap: {name: foo}'],
    ['retainKeys map merge an empty map', 'retainKeysMap: {name: foo, value: a}', 'retainKeysMap: {}', 'retainKeysMap: {name: foo, value: a}'],
    [
      'retainKeys list can add a field when no retainKeys directive present',
      'retainKeysMergingList: [{name: bar}, {name: foo}]',
      'retainKeysMergingList: [{name: foo, value: a}]',
      'retainKeysMergingList: [{name: bar}, {name: foo, value: a}]',
    ],
    [
      'retainKeys list can delete a field when no retainKeys directive present',
      'retainKeysMergingList: [{name: bar}, {name: foo, value: a}]',
      'retainKeysMergingList: [{name: foo, value: null}]',
      'retainKeysMergingList: [{name: bar}, {name: foo}]',
    ],
    [
      'preserve the order from the patch in a merging list',
      'mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]',
      'mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]',
      'mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]',
    ],
    [
      'preserve the order from the patch in a merging list 2',
      'mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]',
      'mergingList: [{name: 3, value: c}, {name: 1, value: a}]',
      'mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]',
    ],
    ['preserve the order from the patch in a merging int list', 'mergingIntList: [1, 2, 3]', 'mergingIntList: [3, 1, 2]', 'mergingIntList: [3, 1, 2]'],
    ['preserve the order from the patch in a merging int list 2', 'mergingIntList: [1, 2, 3]', 'mergingIntList: [3, 1]', 'mergingIntList: [2, 3, 1]'],
  ];

  // customStrategicMergePatchRawTestCases
  const customRaw: Case[] = [
    [
      '$setElementOrder contains item that is not present in the list to be merged',
      'mergingList: [{name: 1}, {name: 3}]',
      '{$setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}], mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}',
      'mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]',
    ],
    ['$setElementOrder contains item that is not present in the int list to be merged', 'mergingIntList: [1, 3]', '$setElementOrder/mergingIntList: [3, 2, 1]', 'mergingIntList: [3, 1]'],
    [
      'should check if order in $setElementOrder and patch list match',
      'mergingList: [{name: 1}, {name: 3}, {name: 2}]',
      '{$setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}',
      "!doesn't match",
    ],
    ['should check if order in $setElementOrder and int patch list match', 'mergingIntList: [1, 3, 2]', '{$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3, 1]}', "!doesn't match"],
    ['missing merge key should error out', 'mergingList: [{name: 1, value: a}]', 'mergingList: [{value: b}]', '!does not contain declared merge key: name'],
    ['$deleteFromPrimitiveList of nonexistent item in primitive list should not add the item to the list', 'mergingIntList: [1, 2]', '$deleteFromPrimitiveList/mergingIntList: [3]', 'mergingIntList: [1, 2]'],
    ['$deleteFromPrimitiveList on empty primitive list should not add the item to the list', 'mergingIntList:', '$deleteFromPrimitiveList/mergingIntList: [3]', 'mergingIntList:'],
    ['$deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list', 'foo: [bar]', '$deleteFromPrimitiveList/mergingIntList: [3]', 'foo: [bar]'],
    ['$deleteFromPrimitiveList should delete item from a list with merge patch strategy', 'mergingIntList: [1, 2, 3]', '$deleteFromPrimitiveList/mergingIntList: [2]', 'mergingIntList: [1, 3]'],
    ['$deleteFromPrimitiveList should delete item from a list without merge patch strategy', 'nonMergingIntList: [1, 2, 3]', '$deleteFromPrimitiveList/nonMergingIntList: [2]', 'nonMergingIntList: [1, 3]'],
  ];

  // strategicMergePatchRawTestCases and createStrategicMergePatchTestCaseData:
  // the three-way patch applied to the live object, or the two-way patch to the original.
  const created: Case[] = [
    ['add field and delete field from map', '{name: 1, other: a}', '{name: null, value: 1}', '{value: 1, other: a}'],
    ['delete field from nested map', 'simpleMap: {key1: 1, key2: 1, other: a}', 'simpleMap: {key2: null}', 'simpleMap: {key1: 1, other: a}'],
    ['replace list of scalars', 'nonMergingIntList: [1, 4]', 'nonMergingIntList: [2, 3]', 'nonMergingIntList: [2, 3]'],
    [
      'delete all maps from merging list with conflict',
      'mergingList: [{name: 1, other: a}, {name: 2, other: b}]',
      'mergingList: [{name: 1, $patch: delete}, {name: 2, $patch: delete}]',
      'mergingList: []',
    ],
    ['delete all maps from empty merging list', 'mergingList: []', 'mergingList: [{name: 1, $patch: delete}, {name: 2, $patch: delete}]', 'mergingList: []'],
    ['defined null values should propagate overwrite current fields', '{name: a, other: a}', '{name: 1, value: 1, other: null}', '{name: 1, value: 1}'],
    [
      'nested patch merge with empty list (two-way: the list is new)',
      'name: hi',
      'mergingList: [{name: hello}, {$patch: delete, name: doesntexist}]',
      '{name: hi, mergingList: [{name: hello}]}',
    ],
    [
      'nested patch merge with empty list (three-way)',
      '{name: hi, mergingList: [{name: hello2}]}',
      '{$setElementOrder/mergingList: [{name: hello}, {name: doesntexist}], mergingList: [{name: hello}, {$patch: delete, name: doesntexist}]}',
      '{name: hi, mergingList: [{name: hello}, {name: hello2}]}',
    ],
    ['delete items in lists of scalars', 'mergingIntList: [1, 2, 3, 4]', '{$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}', 'mergingIntList: [1, 2, 4]'],
    ['delete all duplicate items in lists of scalars', 'mergingIntList: [1, 2, 3, 3, 4]', '{$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}', 'mergingIntList: [1, 2, 4]'],
    [
      'add and delete items in lists of scalars',
      'mergingIntList: [1, 2, 3]',
      '{$setElementOrder/mergingIntList: [1, 2, 4], $deleteFromPrimitiveList/mergingIntList: [3], mergingIntList: [4]}',
      'mergingIntList: [1, 2, 4]',
    ],
    [
      'merge lists of maps',
      'mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]',
      '{$setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]}',
      'mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]',
    ],
    [
      'merge lists of maps with conflict',
      'mergingList: [{name: 1, other: a}, {name: 2, value: 3, other: b}]',
      '{$setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 2, value: 2}, {name: 3, value: 3}]}',
      'mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]',
    ],
    [
      'add field to map in merging list with conflict',
      'mergingList: [{name: 1, other: a}, {name: 3, value: 2, other: b}]',
      '{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]}',
      'mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2}, {name: 3, value: 2, other: b}]',
    ],
    [
      'delete map from merging list',
      'mergingList: [{name: 1}, {name: 2, other: b}]',
      '{$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 1, $patch: delete}]}',
      'mergingList: [{name: 2, other: b}]',
    ],
    [
      'delete missing map from merging list with conflict',
      'mergingList: [{name: 3, other: a}]',
      '{$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 2}, {name: 1, $patch: delete}]}',
      'mergingList: [{name: 2}, {name: 3, other: a}]',
    ],
    [
      'add map and delete map from merging list',
      'mergingList: [{name: 1}, {name: 2, other: b}, {name: 4, other: c}]',
      '{$setElementOrder/mergingList: [{name: 2}, {name: 3}], mergingList: [{name: 3}, {name: 1, $patch: delete}]}',
      'mergingList: [{name: 2, other: b}, {name: 4, other: c}, {name: 3}]',
    ],
    [
      'add map and delete map from merging list with conflict',
      'mergingList: [{name: 1, other: a}, {name: 4, other: c}]',
      '{$setElementOrder/mergingList: [{name: 2}, {name: 3}], mergingList: [{name: 2}, {name: 3}, {name: 1, $patch: delete}]}',
      'mergingList: [{name: 4, other: c}, {name: 2}, {name: 3}]',
    ],
    [
      'delete field from map in merging list',
      'mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2, other: b}]',
      '{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: null}]}',
      'mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]',
    ],
    [
      'replace non merging list nested in merging list',
      'mergingList: [{name: 1, other: a, nonMergingList: [{name: 1}, {name: 2, value: 2}]}, {name: 2, other: b}]',
      '{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}]}',
      'mergingList: [{name: 1, other: a, nonMergingList: [{name: 1, value: 1}]}, {name: 2, other: b}]',
    ],
  ];

  // The retainKeys cases of strategicMergePatchRawTestCases.
  const retainKeys: Case[] = [
    ['retainKeys map should clear defaulted field', 'retainKeysMap: {value: foo}', 'retainKeysMap: {$retainKeys: [other], other: bar}', 'retainKeysMap: {other: bar}'],
    [
      'retainKeys map should clear defaulted field with conflict (discriminated union)',
      'retainKeysMap: {name: type1, value: foo}',
      'retainKeysMap: {$retainKeys: [name, other], name: type2, other: bar}',
      'retainKeysMap: {name: type2, other: bar}',
    ],
    ['retainKeys map deletes a field and clears a field', 'retainKeysMap: {name: foo, value: bar, other: a}', 'retainKeysMap: {$retainKeys: [name], value: null}', 'retainKeysMap: {name: foo}'],
    ['retainKeys map clears a field', 'retainKeysMap: {name: foo, value: bar, other: a}', 'retainKeysMap: {$retainKeys: [name, value]}', 'retainKeysMap: {name: foo, value: bar}'],
    [
      'retainKeys map adds a field in a nested map',
      'retainKeysMap: {name: foo, value: bar, simpleMap: {key1: a, key3: c}}',
      'retainKeysMap: {$retainKeys: [name, simpleMap, value], simpleMap: {key2: b}}',
      'retainKeysMap: {name: foo, value: bar, simpleMap: {key1: a, key2: b, key3: c}}',
    ],
    [
      'retainKeys map deletes nested non-merging list with conflict',
      'retainKeysMap: {name: foo, nonMergingList: [{name: a}, {name: b}, {name: c}]}',
      'retainKeysMap: {$retainKeys: [name, value], value: bar, nonMergingList: null}',
      'retainKeysMap: {name: foo, value: bar}',
    ],
    [
      'retainKeys map nested merging int list with no change',
      'retainKeysMap: {name: foo, mergingIntList: [1, 2, 3]}',
      'retainKeysMap: {$retainKeys: [mergingIntList, name, value], $setElementOrder/mergingIntList: [1, 2], value: bar}',
      'retainKeysMap: {name: foo, value: bar, mergingIntList: [1, 2, 3]}',
    ],
    [
      'retainKeys map adds an item in nested merging int list',
      'retainKeysMap: {name: foo, mergingIntList: [1, 2, 3]}',
      'retainKeysMap: {$setElementOrder/mergingIntList: [1, 2, 4], $retainKeys: [mergingIntList, name], mergingIntList: [4]}',
      'retainKeysMap: {name: foo, mergingIntList: [1, 2, 4, 3]}',
    ],
    [
      'retainKeys map deletes an item in nested merging int list',
      'retainKeysMap: {name: foo, mergingIntList: [1, 2, 3, 4]}',
      'retainKeysMap: {$retainKeys: [mergingIntList, name], $deleteFromPrimitiveList/mergingIntList: [2], $setElementOrder/mergingIntList: [1, 3]}',
      'retainKeysMap: {name: foo, mergingIntList: [1, 3, 4]}',
    ],
    [
      'retainKeys map adds an item and deletes an item in nested merging int list',
      'retainKeysMap: {name: foo, mergingIntList: [1, 2, 3, 4]}',
      'retainKeysMap: {$retainKeys: [mergingIntList, name], mergingIntList: [5], $deleteFromPrimitiveList/mergingIntList: [2], $setElementOrder/mergingIntList: [1, 3, 5]}',
      'retainKeysMap: {name: foo, mergingIntList: [1, 3, 5, 4]}',
    ],
    [
      'retainKeys map adds an item in nested merging list',
      'retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: x}]}',
      'retainKeysMap: {$retainKeys: [mergingList, name], $setElementOrder/mergingList: [{name: a}, {name: b}, {name: c}], mergingList: [{name: c}]}',
      'retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: c}, {name: x}]}',
    ],
    [
      'retainKeys on a merging list item',
      'retainKeysMergingList: [{name: foo, value: a, other: b}, {name: bar, value: c}]',
      'retainKeysMergingList: [{name: foo, $retainKeys: [name, other], other: z}]',
      'retainKeysMergingList: [{name: foo, other: z}, {name: bar, value: c}]',
    ],
    ['a patched field missing from $retainKeys is rejected', 'retainKeysMap: {name: foo}', 'retainKeysMap: {$retainKeys: [name], value: bar}', '!invalid patch format of retainKeys'],
    ['$retainKeys must be a list', 'retainKeysMap: {name: foo}', 'retainKeysMap: {$retainKeys: name}', '!invalid patch format of retainKeys'],
  ];

  it.each(custom)('%s', (...c) => run(c));
  it.each(customRaw)('%s', (...c) => run(c));
  it.each(created)('%s', (...c) => run(c));
  it.each(retainKeys)('%s', (...c) => run(c));
});

describe('directives and malformed patches', () => {
  const cases: Case[] = [
    ['a field with patch strategy replace takes the patch whole', 'replacingItem: {a: 1, b: {c: 2}}', 'replacingItem: {b: {d: 3}}', 'replacingItem: {b: {d: 3}}'],
    ['$patch: replace on a nested map replaces it', 'simpleMap: {key1: a, key2: b}', 'simpleMap: {$patch: replace, key3: c}', 'simpleMap: {key3: c}'],
    ['a list item with $patch: replace replaces the list', 'mergingList: [{name: 1}, {name: 2}]', 'mergingList: [{name: 3, value: c}, {$patch: replace}]', 'mergingList: [{name: 3, value: c}]'],
    ['non-merging lists are replaced', 'nonMergingList: [{name: 1, value: a}]', 'nonMergingList: [{name: 1, other: b}]', 'nonMergingList: [{name: 1, other: b}]'],
    ['null deletes a field', '{name: a, value: b}', '{value: null}', '{name: a}'],
    ['null for a missing field is dropped', '{name: a}', '{value: null}', '{name: a}'],
    ['nulls inside a new value are dropped', '{name: a}', 'simpleMap: {key1: x, key2: null}', '{name: a, simpleMap: {key1: x}}'],
    ['a new value loses items carrying directives', '{name: a}', 'mergingList: [{name: 1}, {name: 2, $patch: delete}]', '{name: a, mergingList: [{name: 1}]}'],
    ['a value of another type replaces', 'mergingList: [{name: 1}]', 'mergingList: {name: 1}', 'mergingList: {name: 1}'],
    ['two patch items with one key merge into one new item', 'mergingList: [{name: 1}]', 'mergingList: [{name: 2, value: a}, {name: 2, other: b}]', 'mergingList: [{name: 2, value: a, other: b}, {name: 1}]'],
    ['a deletion list with null deletes the list', 'mergingIntList: [1, 2]', '$deleteFromPrimitiveList/mergingIntList: null', '{}'],
    ['$patch: merge in a list is rejected', 'mergingList: [{name: 1}]', 'mergingList: [{$patch: merge}]', '!merging lists cannot yet be specified in the patch'],
    ['an unknown $patch in a list is rejected', 'mergingList: [{name: 1}]', 'mergingList: [{name: 1, $patch: explode}]', '!unknown patch type: "explode"'],
    ['an unknown $patch in a map is rejected', 'simpleMap: {key1: a}', 'simpleMap: {$patch: merge}', '!unknown patch type: "merge"'],
    ['a delete directive needs the merge key', 'mergingList: [{name: 1}]', 'mergingList: [{$patch: delete}]', '!does not contain declared merge key: name'],
    ['list items of mixed types are rejected', 'mergingIntList: [1, 2]', 'mergingIntList: [a]', '!list element types are not identical'],
    ['$deleteFromPrimitiveList needs a field', 'mergingIntList: [1]', '$deleteFromPrimitiveListX: [1]', '!invalid patch format of primitive list'],
    ['$setElementOrder needs a field', 'mergingIntList: [1]', '$setElementOrder: [1]', '!invalid patch format of setElementOrder list'],
    ['$setElementOrder must be a list', 'mergingIntList: [1]', '$setElementOrder/mergingIntList: 1', '!must be a list'],
    ['$setElementOrder items need the merge key', 'mergingList: [{name: 1}]', '{$setElementOrder/mergingList: [{value: 1}], mergingList: [{name: 1}]}', '!does not contain declared merge key: name'],
  ];
  it.each(cases)('%s', (...c) => run(c));

  it('a list of lists is 422, as Kubernetes answers', () => {
    const err = apiErrorOf(() => applyStrategicMergePatch({ mergingIntList: [[1]] }, { mergingIntList: [[2]] }, mergeItem));
    expect(err.code).toBe(422);
    expect(err.message).toBe('lists of lists are not supported');
  });

  it.each([[[1]], ['x'], [null], [3]])('a patch that is not an object (%j) is 400', (patch) => {
    const err = apiErrorOf(() => applyStrategicMergePatch({}, patch, mergeItem));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
  });

  it('errors from malformed patches are 400 BadRequest', () => {
    const err = apiErrorOf(() => applyStrategicMergePatch({ mergingList: [{ name: 1 }] }, { mergingList: [{ value: 2 }] }, mergeItem));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
  });

  it('keeps "__proto__" keys as data', () => {
    const patch = JSON.parse('{"simpleMap":{"__proto__":{"polluted":true}}}');
    const out = applyStrategicMergePatch({ simpleMap: { a: 'b' } }, patch, mergeItem);
    expect(Object.prototype.hasOwnProperty.call(out.simpleMap, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// The kinds mk serves

const pod = schemas.Pod;
const deployment = schemas.Deployment;

function podWith(spec: Record<string, unknown>) {
  return frozen({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec });
}

describe('built-in kinds', () => {
  const web = { name: 'web', image: 'nginx:1', ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'C', value: '3' }] };
  const sidecar = { name: 'sidecar', image: 'busybox', args: ['sleep', '3600'] };

  it('merges containers by name: a new image leaves the other containers and fields alone', () => {
    const live = frozen({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },
      spec: { replicas: 2, template: { metadata: { labels: { app: 'd' } }, spec: { containers: [web, sidecar] } } },
    });
    const out = applyStrategicMergePatch(live, { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } }, deployment);
    expect(out.spec.template.spec.containers).toEqual([{ ...web, image: 'nginx:2' }, sidecar]);
    expect(out.spec.replicas).toBe(2);
  });

  it('merges env by name inside a container, with delete and null', () => {
    const out = applyStrategicMergePatch(podWith({ containers: [web] }), {
      spec: { containers: [{ name: 'web', env: [{ name: 'B', value: 'two' }, { name: 'C', $patch: 'delete' }, { name: 'D', value: '4' }] }] },
    }, pod);
    // Server-only A keeps its place before the patched B; new D follows.
    expect(out.spec.containers[0].env).toEqual([{ name: 'A', value: '1' }, { name: 'B', value: 'two' }, { name: 'D', value: '4' }]);
    expect(out.spec.containers[0].ports).toEqual(web.ports);
  });

  it('orders containers by $setElementOrder, as kubectl apply sends it', () => {
    const out = applyStrategicMergePatch(podWith({ containers: [web, sidecar] }), {
      spec: { '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'web' }], containers: [{ name: 'sidecar', image: 'busybox:2' }] },
    }, pod);
    expect(out.spec.containers.map((c: { name: string }) => c.name)).toEqual(['sidecar', 'web']);
    expect(out.spec.containers[0].image).toBe('busybox:2');
  });

  it('deletes a container with $patch: delete and replaces the list with $patch: replace', () => {
    const deleted = applyStrategicMergePatch(podWith({ containers: [web, sidecar] }), { spec: { containers: [{ name: 'web', $patch: 'delete' }] } }, pod);
    expect(deleted.spec.containers).toEqual([sidecar]);
    const replaced = applyStrategicMergePatch(podWith({ containers: [web, sidecar] }), { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'x' }] } }, pod);
    expect(replaced.spec.containers).toEqual([{ name: 'only', image: 'x' }]);
  });

  it('merges container ports by containerPort and volumeMounts by mountPath', () => {
    const c = { name: 'web', image: 'x', ports: [{ containerPort: 80, name: 'http' }], volumeMounts: [{ name: 'a', mountPath: '/a' }] };
    const out = applyStrategicMergePatch(podWith({ containers: [c] }), {
      spec: { containers: [{ name: 'web', ports: [{ containerPort: 443, name: 'https' }], volumeMounts: [{ mountPath: '/a', readOnly: true }] }] },
    }, pod);
    // A new item goes before the server's items that the patch does not name, as in apimachinery.
    expect(out.spec.containers[0].ports).toEqual([{ containerPort: 443, name: 'https' }, { containerPort: 80, name: 'http' }]);
    expect(out.spec.containers[0].volumeMounts).toEqual([{ name: 'a', mountPath: '/a', readOnly: true }]);
  });

  it('clears the other volume source of a volume with $retainKeys', () => {
    const out = applyStrategicMergePatch(podWith({ containers: [sidecar], volumes: [{ name: 'data', emptyDir: {} }, { name: 'cfg', configMap: { name: 'c' } }] }), {
      spec: { volumes: [{ name: 'data', $retainKeys: ['name', 'hostPath'], hostPath: { path: '/srv' } }] },
    }, pod);
    expect(out.spec.volumes).toEqual([{ name: 'data', hostPath: { path: '/srv' } }, { name: 'cfg', configMap: { name: 'c' } }]);
  });

  it("switches a Deployment's strategy to Recreate with $retainKeys, dropping rollingUpdate", () => {
    const live = frozen({ spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } } });
    const out = applyStrategicMergePatch(live, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }, deployment);
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('replaces lists that have no patch strategy: tolerations, args, imagePullSecrets of a ServiceAccount, Endpoints subsets, Node taints', () => {
    const tolerations = applyStrategicMergePatch(podWith({ tolerations: [{ key: 'a', operator: 'Exists' }] }), { spec: { tolerations: [{ key: 'b', operator: 'Exists' }] } }, pod);
    expect(tolerations.spec.tolerations).toEqual([{ key: 'b', operator: 'Exists' }]);
    const args = applyStrategicMergePatch(podWith({ containers: [sidecar] }), { spec: { containers: [{ name: 'sidecar', args: ['true'] }] } }, pod);
    expect(args.spec.containers[0].args).toEqual(['true']);
    const sa = applyStrategicMergePatch({ secrets: [{ name: 's1' }], imagePullSecrets: [{ name: 'p1' }] }, { secrets: [{ name: 's2' }], imagePullSecrets: [{ name: 'p2' }] }, schemas.ServiceAccount);
    expect(sa).toEqual({ secrets: [{ name: 's2' }, { name: 's1' }], imagePullSecrets: [{ name: 'p2' }] });
    const ep = applyStrategicMergePatch({ subsets: [{ addresses: [{ ip: '10.0.0.1' }] }] }, { subsets: [{ addresses: [{ ip: '10.0.0.2' }] }] }, schemas.Endpoints);
    expect(ep.subsets).toEqual([{ addresses: [{ ip: '10.0.0.2' }] }]);
    const node = applyStrategicMergePatch({ spec: { taints: [{ key: 'a', effect: 'NoSchedule' }], podCIDRs: ['10.0.0.0/24'] } }, { spec: { taints: [{ key: 'b', effect: 'NoSchedule' }], podCIDRs: ['fd00::/64'] } }, schemas.Node);
    expect(node.spec).toEqual({ taints: [{ key: 'b', effect: 'NoSchedule' }], podCIDRs: ['fd00::/64', '10.0.0.0/24'] });
  });

  it("replaces a container's resources.claims (a map list without patch strategy)", () => {
    const c = { name: 'web', image: 'x', resources: { claims: [{ name: 'gpu' }] } };
    const out = applyStrategicMergePatch(podWith({ containers: [c] }), { spec: { containers: [{ name: 'web', resources: { claims: [{ name: 'fpga' }] } }] } }, pod);
    expect(out.spec.containers[0].resources.claims).toEqual([{ name: 'fpga' }]);
  });

  it('merges metadata: labels with null deleting, finalizers as a set, ownerReferences by uid', () => {
    const live = frozen({
      metadata: {
        name: 'x', labels: { a: '1', b: '2' }, finalizers: ['example.com/one'],
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1', controller: true }],
      },
    });
    const out = applyStrategicMergePatch(live, {
      metadata: { labels: { b: null, c: '3' }, finalizers: ['example.com/two', 'example.com/one'], ownerReferences: [{ uid: 'u1', blockOwnerDeletion: true }] },
    }, schemas.ConfigMap);
    expect(out.metadata.labels).toEqual({ a: '1', c: '3' });
    expect(out.metadata.finalizers).toEqual(['example.com/two', 'example.com/one']);
    expect(out.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1', controller: true, blockOwnerDeletion: true }]);

    const removed = applyStrategicMergePatch(out, { metadata: { '$deleteFromPrimitiveList/finalizers': ['example.com/one'] } }, schemas.ConfigMap);
    expect(removed.metadata.finalizers).toEqual(['example.com/two']);
  });

  it('merges Service ports by port and status conditions by type', () => {
    const svc = applyStrategicMergePatch({ spec: { ports: [{ port: 80, targetPort: 8080 }] } }, { spec: { ports: [{ port: 443, targetPort: 8443 }, { port: 80, name: 'http' }] } }, schemas.Service);
    expect(svc.spec.ports).toEqual([{ port: 443, targetPort: 8443 }, { port: 80, targetPort: 8080, name: 'http' }]);
    const status = applyStrategicMergePatch(
      { status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'PodScheduled', status: 'True' }] } },
      { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      pod,
    );
    expect(status.status.conditions).toEqual([{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }]);
  });

  it('does not modify its inputs', () => {
    const live = podWith({ containers: [web, sidecar] });
    const patch = frozen({ spec: { containers: [{ name: 'web', image: 'y', env: [{ name: 'A', $patch: 'delete' }] }], '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }] } });
    const out = applyStrategicMergePatch(live, patch, pod);
    out.spec.containers[1].image = 'changed';
    expect(sidecar.image).toBe('busybox');
  });
});

describe('strategicMergeSchema', () => {
  it('gives every built-in kind its schema, and nothing to a kind with a schema of its own (a custom resource)', () => {
    for (const rt of resourceTypes) expect(strategicMergeSchema(rt)).toBe(schemas[rt.kind]);
    const crd = { ...lookupKind('v1', 'ConfigMap')!, kind: 'Widget', schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } };
    expect(strategicMergeSchema(crd)).toBeUndefined();
  });
});

/**
 * Every list the schemas mark for strategic merge, by kind and path. This
 * is the `patchStrategy` / `patchMergeKey` tags of the Kubernetes Go types
 * (k8s.io/api core/v1, apps/v1, batch/v1, meta/v1) for the fields mk's
 * schemas declare. Workload kinds embed a pod template, whose patch metadata
 * must be the Pod's own (checked separately below).
 */
const EXPECTED_PATCH_METADATA: Record<string, string> = {
  'metadata.finalizers': 'merge',
  'metadata.ownerReferences': 'merge key=uid',

  'Pod spec.containers': 'merge key=name',
  'Pod spec.initContainers': 'merge key=name',
  'Pod spec.ephemeralContainers': 'merge key=name',
  'Pod spec.<containers>[].env': 'merge key=name',
  'Pod spec.<containers>[].ports': 'merge key=containerPort',
  'Pod spec.<containers>[].volumeMounts': 'merge key=mountPath',
  'Pod spec.<containers>[].volumeDevices': 'merge key=devicePath',
  'Pod spec.volumes': 'merge,retainKeys key=name',
  'Pod spec.imagePullSecrets': 'merge key=name',
  'Pod spec.hostAliases': 'merge key=ip',
  'Pod spec.topologySpreadConstraints': 'merge key=topologyKey',
  'Pod spec.schedulingGates': 'merge key=name',
  'Pod spec.resourceClaims': 'merge,retainKeys key=name',
  'Pod status.conditions': 'merge key=type',
  'Pod status.podIPs': 'merge key=ip',
  'Pod status.hostIPs': 'merge key=ip',

  'Node spec.podCIDRs': 'merge',
  'Node status.conditions': 'merge key=type',
  'Node status.addresses': 'merge key=type',
  'Namespace status.conditions': 'merge key=type',
  'Service spec.ports': 'merge key=port',
  'Service status.conditions': 'merge key=type',
  'ServiceAccount secrets': 'merge key=name',

  'Deployment spec.strategy': 'retainKeys',
  'Deployment status.conditions': 'merge key=type',
  'ReplicaSet status.conditions': 'merge key=type',
  'DaemonSet status.conditions': 'merge key=type',
  'Job status.conditions': 'merge key=type',
};

/** Patch metadata found under `schema`, by path. */
function patchMetadataOf(schema: JSONSchema, path: string, out: Record<string, string>): Record<string, string> {
  const strategy = schema['x-kubernetes-patch-strategy'];
  if (strategy) out[path] = strategy + (schema['x-kubernetes-patch-merge-key'] ? ` key=${schema['x-kubernetes-patch-merge-key']}` : '');
  for (const [key, sub] of Object.entries((schema.properties ?? {}) as Record<string, JSONSchema>)) {
    patchMetadataOf(sub, path ? `${path}.${key}` : key, out);
  }
  if (schema.items) patchMetadataOf(schema.items, `${path}[]`, out);
  if (typeof schema.additionalProperties === 'object') patchMetadataOf(schema.additionalProperties, `${path}{}`, out);
  return out;
}

describe('patch metadata of the built-in kinds', () => {
  const TEMPLATE_PATHS: Record<string, string> = {
    Deployment: 'spec.template',
    ReplicaSet: 'spec.template',
    DaemonSet: 'spec.template',
    Job: 'spec.template',
    CronJob: 'spec.jobTemplate.spec.template',
  };
  const podMeta = patchMetadataOf(schemas.Pod, '', {});

  it('matches the Kubernetes Go tags for every kind', () => {
    const actual: Record<string, string> = {};
    for (const [kind, schema] of Object.entries(schemas)) {
      for (const [path, meta] of Object.entries(patchMetadataOf(schema, '', {}))) {
        const objectMeta = /(?:^|\.)(metadata\.\w+)$/.exec(path);
        if (objectMeta) {
          expect([kind, path, meta]).toEqual([kind, path, EXPECTED_PATCH_METADATA[objectMeta[1]]]);
          continue;
        }
        const template = TEMPLATE_PATHS[kind];
        if (template && path.startsWith(`${template}.`)) continue;
        const folded = path.replace(/^spec\.(containers|initContainers|ephemeralContainers)\[\]\./, 'spec.<containers>[].');
        if (/\.resources\.claims$|^status\.\w*[cC]ontainerStatuses\[\]/.test(path)) {
          throw new Error(`${kind} ${path} must have no patch strategy (${meta})`);
        }
        actual[`${kind} ${folded}`] = meta;
      }
    }
    const expected = Object.fromEntries(Object.entries(EXPECTED_PATCH_METADATA).filter(([k]) => !k.startsWith('metadata.')));
    expect(actual).toEqual(expected);
  });

  it.each(Object.entries(TEMPLATE_PATHS))('%s embeds the pod template with the Pod patch metadata', (kind, template) => {
    const meta = patchMetadataOf(schemas[kind], '', {});
    const inTemplate = Object.fromEntries(
      Object.entries(meta).filter(([p]) => p.startsWith(`${template}.`)).map(([p, m]) => [p.slice(template.length + 1), m]),
    );
    const podSpecAndMeta = Object.fromEntries(Object.entries(podMeta).filter(([p]) => p.startsWith('spec.') || p.startsWith('metadata.')));
    expect(inTemplate).toEqual(podSpecAndMeta);
  });
});
