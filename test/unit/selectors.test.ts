import {
  dns1123SubdomainErrors,
  escapeFieldValue,
  fieldSelectorToString,
  fieldValue,
  labelSelectorFromObject,
  labelSelectorToString,
  labelValueErrors,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  qualifiedNameErrors,
  requiredExactValue,
} from '../../src/api/selectors';
import { ApiError } from '../../src/apiserver/errors';
import type { KubeObject } from '../../src/api/types';
import { apiErrorOf } from '../assertions';

const web = { app: 'web', tier: 'frontend', replicas: '3' };

describe('parseLabelSelector + matchesLabels', () => {
  const cases: [selector: string, labels: Record<string, string> | undefined, matches: boolean][] = [
    ['', undefined, true],
    ['', web, true],
    ['app=web', web, true],
    ['app=db', web, false],
    ['app==web', web, true],
    ['app!=db', web, true],
    ['app!=web', web, false],
    ['missing!=x', web, true],
    ['missing=x', web, false],
    ['app in (web,db)', web, true],
    ['app in (db, cache)', web, false],
    ['missing in (a)', web, false],
    ['app notin (db,cache)', web, true],
    ['app notin (web)', web, false],
    ['missing notin (a)', web, true],
    ['app', web, true],
    ['missing', web, false],
    ['!missing', web, true],
    ['!app', web, false],
    ['replicas>2', web, true],
    ['replicas>3', web, false],
    ['replicas<4', web, true],
    ['replicas<3', web, false],
    ['app>1', web, false], // a non-integer label never satisfies gt/lt
    ['missing>1', web, false],
    ['app=web,tier=frontend', web, true],
    ['app=web,tier=backend', web, false],
    ['  app = web ,  tier in ( frontend , backend )  ', web, true],
    ['app in (web),!canary,tier', web, true],
    ['app=', { app: '' }, true],
    ['app=', { app: 'x' }, false],
    ['app in ()', { app: '' }, true],
    ['app in (a,,b)', { app: '' }, true],
    ['x in (in,notin)', { x: 'in' }, true],
    ['example.com/role=db', { 'example.com/role': 'db' }, true],
    ['app', undefined, false],
    ['!app', undefined, true],
  ];
  it.each(cases)('%j on %j → %s', (selector, labels, matches) => {
    expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(matches);
  });

  it('does not treat inherited properties as labels', () => {
    expect(matchesLabels(parseLabelSelector('toString'), {})).toBe(false);
    expect(matchesLabels(parseLabelSelector('!constructor'), {})).toBe(true);
  });
});

describe('labelSelectorToString', () => {
  it.each([
    ['', ''],
    ['b=1,a=2', 'a=2,b=1'],
    ['a==1', 'a==1'],
    ['a != 1', 'a!=1'],
    ['a in (z, y, y, x)', 'a in (x,y,z)'],
    ['a notin (b)', 'a notin (b)'],
    ['a', 'a'],
    ['! a', '!a'],
    ['a > 5,b<7', 'a>5,b<7'],
    ['a in (,b)', 'a in (,b)'],
  ])('%j prints as %j and parses back', (input, canonical) => {
    const printed = labelSelectorToString(parseLabelSelector(input));
    expect(printed).toBe(canonical);
    expect(labelSelectorToString(parseLabelSelector(printed))).toBe(canonical);
  });
});

describe('parseLabelSelector errors', () => {
  const nameRule =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  it.each([
    ['app:web', `unable to parse requirement: <nil>: Invalid value: "app:web": ${nameRule}`],
    ['-app=x', `unable to parse requirement: <nil>: Invalid value: "-app": ${nameRule}`],
    ['a/b/c=x', /^unable to parse requirement: <nil>: Invalid value: "a\/b\/c": a qualified name must consist/],
    ['Example.com/a=x', /^unable to parse requirement: <nil>: Invalid value: "Example.com\/a": prefix part a lowercase RFC 1123 subdomain/],
    ['/a=x', 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'],
    [`${'k'.repeat(64)}=x`, /name part must be no more than 63 characters/],
    ['a=b$', /^unable to parse requirement: values\[0\]\[a\]: Invalid value: "b\$": a valid label must be an empty string/],
    [`a=${'v'.repeat(64)}`, /^unable to parse requirement: values\[0\]\[a\]: Invalid value: "v+": must be no more than 63 characters$/],
    [`a=-${'v'.repeat(64)}`, /must be no more than 63 characters; a valid label must be/],
    ['a in (b$,c$)', /^unable to parse requirement: \[values\[0\]\[a\]: .*, values\[1\]\[a\]: /],
    ['a>b', `unable to parse requirement: values[0]: Invalid value: "b": for 'Gt', 'Lt' operators, the value must be an integer`],
    ['a>', `unable to parse requirement: values[0]: Invalid value: "": for 'Gt', 'Lt' operators, the value must be an integer`],
    ['a>99999999999999999999', /the value must be an integer/],
    ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
    ['a=b c', "found 'c', expected: ',' or 'end of string'"],
    ['a=b,', "found '', expected: identifier after ','"],
    [',a', "found ',', expected: !, identifier, or 'end of string'"],
    ['=a', "found '=', expected: !, identifier, or 'end of string'"],
    ['!a=b', "found '=', expected: ',' or 'end of string'"],
    ['!', "unable to parse requirement: found '', expected: identifier"],
    ['a in b', "unable to parse requirement: found 'b' expected: '('"],
    ['a in (b', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['a in (b c)', "unable to parse requirement: found 'c', expected: ',' or ')'"],
    ['a in (=)', "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ['a in (b,=)', "unable to parse requirement: found '=', expected: ',', or identifier"],
    ['a (b)', "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"],
    ['a=(b)', "unable to parse requirement: found '(', expected: identifier"],
  ])('%j → %s', (selector, message) => {
    const err = apiErrorOf(() => parseLabelSelector(selector));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });

  it('stays fast on long hostile input', () => {
    const start = Date.now();
    expect(() => parseLabelSelector(`${'a'.repeat(100_000)}!=${'b-'.repeat(50_000)}`)).toThrow(ApiError);
    expect(Date.now() - start).toBeLessThan(1000);
  });
});

describe('labelSelectorFromObject', () => {
  it('nil selects nothing, {} selects everything', () => {
    expect(matchesLabels(labelSelectorFromObject(undefined), web)).toBe(false);
    expect(matchesLabels(labelSelectorFromObject(null), {})).toBe(false);
    expect(matchesLabels(labelSelectorFromObject({}), web)).toBe(true);
    expect(matchesLabels(labelSelectorFromObject({ matchLabels: {}, matchExpressions: [] }), undefined)).toBe(true);
  });

  const sel = labelSelectorFromObject({
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['frontend', 'edge'] },
      { key: 'env', operator: 'NotIn', values: ['prod'] },
      { key: 'replicas', operator: 'Exists' },
      { key: 'canary', operator: 'DoesNotExist' },
    ],
  });
  it.each([
    [web, true],
    [{ ...web, env: 'dev' }, true],
    [{ ...web, env: 'prod' }, false],
    [{ ...web, canary: 'true' }, false],
    [{ ...web, tier: 'backend' }, false],
    [{ app: 'web', tier: 'edge' }, false],
    [{ ...web, app: 'db' }, false],
  ])('matches %j → %s', (labels, matches) => {
    expect(matchesLabels(sel, labels)).toBe(matches);
  });

  it('prints canonically', () => {
    expect(labelSelectorToString(sel)).toBe('app=web,!canary,env notin (prod),replicas,tier in (edge,frontend)');
  });

  it.each([
    [{ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, '"Gt" is not a valid label selector operator'],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn' }] }, "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, 'values: Invalid value: ["x"]: values set must be empty for exists and does not exist'],
    [{ matchLabels: { 'bad key': 'x' } }, /^key: Invalid value: "bad key": name part must consist/],
    [{ matchLabels: { a: 'bad value' } }, /^values\[0\]\[a\]: Invalid value: "bad value": a valid label/],
  ])('rejects %j', (selector, message) => {
    const err = apiErrorOf(() => labelSelectorFromObject(selector));
    expect(err.code).toBe(400);
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });
});

describe('name and value rules', () => {
  it.each([
    ['app', true],
    ['a', true],
    ['app.kubernetes.io/name', true],
    ['k8s.io/a_b-c.d', true],
    ['A1', true],
    ['', false],
    ['-a', false],
    ['a-', false],
    ['a b', false],
    ['UPPER.io/a', false],
    ['a/', false],
    [`${'x'.repeat(63)}`, true],
    [`${'x'.repeat(64)}`, false],
    [`${'p'.repeat(254)}/a`, false],
  ])('qualified name %j valid: %s', (name, valid) => {
    expect(qualifiedNameErrors(name).length === 0).toBe(valid);
  });

  it.each([
    ['', true],
    ['v1.2_3-x', true],
    ['_x', false],
    ['x.', false],
    ['a b', false],
    ['v'.repeat(63), true],
    ['v'.repeat(64), false],
  ])('label value %j valid: %s', (value, valid) => {
    expect(labelValueErrors(value).length === 0).toBe(valid);
  });

  it.each([
    ['example.com', true],
    ['a', true],
    ['a-b.c-d', true],
    ['a..b', false],
    ['.a', false],
    ['a-.b', false],
    ['Ab', false],
    ['a_b', false],
  ])('DNS-1123 subdomain %j valid: %s', (value, valid) => {
    expect(dns1123SubdomainErrors(value).length === 0).toBe(valid);
  });
});

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-1', namespace: 'default' },
  spec: { nodeName: 'node1', restartPolicy: 'Always', priority: 0, hostNetwork: false },
  status: { phase: 'Running' },
};
const podFields = ['spec.nodeName', 'spec.restartPolicy', 'status.phase', 'status.podIP', 'spec.priority', 'spec.hostNetwork', 'spec.containers'];

describe('parseFieldSelector + matchesFields', () => {
  it.each([
    ['', true],
    ['metadata.name=web-1', true],
    ['metadata.name==web-1', true],
    ['metadata.name!=web-1', false],
    ['metadata.namespace=default', true],
    ['metadata.namespace=kube-system', false],
    ['spec.nodeName=node1,status.phase=Running', true],
    ['spec.nodeName=node1,status.phase!=Running', false],
    ['spec.nodeName=', false],
    ['status.podIP=', true], // missing compares as ''
    ['status.podIP!=', false],
    ['status.podIP!=10.0.0.1', true],
    ['spec.priority=0', true],
    ['spec.hostNetwork=false', true],
    ['spec.containers=', true], // non-scalars compare as ''
    ['spec.nodeName=node1,,', true], // empty terms are skipped
  ])('%j → %s', (selector, matches) => {
    expect(matchesFields(parseFieldSelector(selector, podFields), pod)).toBe(matches);
  });

  it.each([
    ['metadata.name=a\\,b', 'a,b'],
    ['metadata.name=a\\=b', 'a=b'],
    ['metadata.name=a\\\\b', 'a\\b'],
    ['metadata.name=a\\,b\\=c\\\\', 'a,b=c\\'],
  ])('unescapes %j to %j', (selector, value) => {
    const sel = parseFieldSelector(selector, []);
    expect(sel.requirements).toEqual([expect.objectContaining({ field: 'metadata.name', operator: '=', value })]);
    expect(matchesFields(sel, { ...pod, metadata: { name: value } })).toBe(true);
    expect(fieldSelectorToString(sel)).toBe(`metadata.name=${escapeFieldValue(value)}`);
  });

  it('prints terms sorted, == as =', () => {
    const sel = parseFieldSelector('status.phase!=Failed,spec.nodeName==n1', podFields);
    expect(fieldSelectorToString(sel)).toBe('spec.nodeName=n1,status.phase!=Failed');
  });

  it.each([
    ['spec.schedulerName=x', podFields, 'field label not supported: spec.schedulerName'],
    ['spec.nodeName = node1', podFields, 'field label not supported: spec.nodeName '],
    ['=x', podFields, 'field label not supported: '],
    ['data.x=y', [], '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'],
    ['metadata.name', podFields, "invalid selector: 'metadata.name'; can't understand 'metadata.name'"],
    ['a=b,c', podFields, "invalid selector: 'a=b,c'; can't understand 'c'"],
    ['metadata.name=a=b', podFields, 'invalid field selector: unescaped character in value: ='],
    ['metadata.name!==b', podFields, 'invalid field selector: unescaped character in value: ='],
    ['metadata.name=a\\x', podFields, 'invalid field selector: invalid escape sequence: \\x'],
    ['metadata.name=a\\', podFields, 'invalid field selector: invalid escape sequence: \\'],
  ])('%j rejected: %s', (selector, allowed, message) => {
    const err = apiErrorOf(() => parseFieldSelector(selector, allowed));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toBe(message);
  });
});

describe('fieldValue', () => {
  it.each([
    ['metadata.name', 'web-1'],
    ['spec.nodeName', 'node1'],
    ['spec.priority', '0'],
    ['spec.hostNetwork', 'false'],
    ['status.podIP', ''],
    ['status.phase.deeper', ''],
    ['nothing.here', ''],
    ['spec', ''],
  ])('%s → %j', (path, value) => {
    expect(fieldValue(pod, path)).toBe(value);
  });
});

describe('requiredExactValue', () => {
  it.each([
    ['spec.nodeName=node1', 'spec.nodeName', 'node1'],
    ['spec.nodeName==node1,status.phase=Running', 'status.phase', 'Running'],
    ['spec.nodeName!=node1', 'spec.nodeName', undefined],
    ['status.phase=Running', 'spec.nodeName', undefined],
    ['', 'spec.nodeName', undefined],
  ])('field %j pins %s to %j', (selector, key, value) => {
    expect(requiredExactValue(parseFieldSelector(selector, podFields), key)).toBe(value);
  });

  it.each([
    ['app=web', 'app', 'web'],
    ['app==web', 'app', 'web'],
    ['app in (web)', 'app', 'web'],
    ['app in (web,db)', 'app', undefined],
    ['app!=web', 'app', undefined],
    ['app notin (web)', 'app', undefined],
    ['app', 'app', undefined],
    ['tier=fe', 'app', undefined],
  ])('label %j pins %s to %j', (selector, key, value) => {
    expect(requiredExactValue(parseLabelSelector(selector), key)).toBe(value);
  });
});
