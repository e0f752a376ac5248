import { objectEnd } from '../../src/apiserver/list-response';

/** objectEnd finds where a JSON object or array that opens at an index closes, skipping strings. */

test.each([
  ['{}', 0, 2],
  ['[1,[2,{"a":[]}]]', 0, 16],
  ['{"a":{"b":1}},"c":2}', 0, 13],
  ['{"a":"}"}', 0, 9],
  ['{"a":"\\"}"}', 0, 11],
  ['{"a":"\\\\"}', 0, 10],
  ['{"a":"\\\\\\"}"}', 0, 13],
  ['{"k:{\\"name\\":\\"web\\"}":{".":{}}}', 0, 33],
  ['x{"metadata":{"name":"a"}},"spec":{}}', 13, 25],
])('%s from %d ends at %d', (json, start, end) => {
  expect(objectEnd(json, start)).toBe(end);
  // What it cuts is the whole value.
  const cut = json.slice(start, end);
  expect(() => JSON.parse(cut)).not.toThrow();
});

test.each([
  ['{"a":1', 0],
  ['{"a":"}', 0],
  ['{"a":"\\"}', 0],
])('%s from %d does not close', (json, start) => {
  expect(objectEnd(json, start)).toBe(-1);
});
