import { lookupResource } from '../../src/api/registry';
import { decodeProtobufObject, isProtobuf } from '../../src/apiserver/protobuf';

/**
 * Request bodies in Kubernetes' protobuf encoding, built here field by field
 * as Go's generated marshallers write them (every non-pointer scalar, zero
 * or not), and decoded against the kind's schema.
 */

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

type Field = [number, 'varint', number | bigint] | [number, 'bytes', Buffer | string | Field[]];

function encode(fields: Field[]): Buffer {
  const parts: number[] = [];
  for (const [n, kind, v] of fields) {
    if (kind === 'varint') {
      parts.push(...varint(n * 8), ...varint(v as number));
    } else {
      const bytes = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : encode(v as Field[]);
      parts.push(...varint(n * 8 + 2), ...varint(bytes.length), ...bytes);
    }
  }
  return Buffer.from(parts);
}

/** The envelope: magic, then runtime.Unknown{typeMeta{apiVersion, kind}, raw}. */
function envelope(apiVersion: string, kind: string, raw: Field[]): Buffer {
  const unknown = encode([[1, 'bytes', [[1, 'bytes', apiVersion], [2, 'bytes', kind]]], [2, 'bytes', encode(raw)], [3, 'bytes', ''], [4, 'bytes', '']]);
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown]);
}

const mapEntry = (k: string, v: Buffer | string | Field[]): Field => [0, 'bytes', [[1, 'bytes', k], [2, 'bytes', v]]];
const withNumber = (n: number, f: Field): Field => [n, f[1], f[2]] as Field;

test('a Deployment as kubectl create deployment sends it: zero scalars dropped, pointer zeros and empty messages kept', () => {
  const objectMeta: Field[] = [[1, 'bytes', 'web'], [2, 'bytes', ''], [3, 'bytes', ''], [7, 'varint', 0], [8, 'bytes', []], withNumber(11, mapEntry('app', 'web'))];
  const container: Field[] = [
    [1, 'bytes', 'nginx'], [2, 'bytes', 'nginx:1'], [3, 'bytes', 'sleep'], [3, 'bytes', '10'], [5, 'bytes', ''],
    [6, 'bytes', [[1, 'bytes', ''], [2, 'varint', 0], [3, 'varint', 80], [4, 'bytes', 'TCP'], [5, 'bytes', '']]],
    [8, 'bytes', [withNumber(1, mapEntry('cpu', [[1, 'bytes', '500m']]))]],
    [13, 'bytes', ''], [14, 'bytes', ''], [16, 'varint', 0],
  ];
  const spec: Field[] = [
    [1, 'varint', 0],
    [2, 'bytes', [withNumber(1, mapEntry('app', 'web'))]],
    [3, 'bytes', [[1, 'bytes', [withNumber(11, mapEntry('app', 'web'))]], [2, 'bytes', [[2, 'bytes', container], [3, 'bytes', '']]]]],
    [4, 'bytes', [[2, 'bytes', [[1, 'bytes', [[1, 'varint', 1], [3, 'bytes', '25%']]], [2, 'bytes', [[1, 'varint', 0], [2, 'varint', 2]]]]]]],
    [7, 'varint', 0],
  ];
  const body = envelope('apps/v1', 'Deployment', [[1, 'bytes', objectMeta], [2, 'bytes', spec], [3, 'bytes', [[2, 'varint', 0]]]]);
  expect(decodeProtobufObject(body, lookupResource('apps', 'v1', 'deployments')!)).toEqual({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [{ name: 'nginx', image: 'nginx:1', command: ['sleep', '10'], ports: [{ containerPort: 80, protocol: 'TCP' }], resources: { limits: { cpu: '500m' } } }],
        },
      },
      strategy: { rollingUpdate: { maxUnavailable: '25%', maxSurge: 2 } },
    },
    status: {},
  });
});

test('a Secret: bytes become base64, times RFC 3339', () => {
  const body = envelope('v1', 'Secret', [
    [1, 'bytes', [[1, 'bytes', 's'], [8, 'bytes', [[1, 'varint', 1700000000], [2, 'varint', 0]]]]],
    withNumber(2, mapEntry('password', Buffer.from([0, 1, 255]))),
    [3, 'bytes', 'Opaque'],
  ]);
  expect(decodeProtobufObject(body, lookupResource('', 'v1', 'secrets')!)).toEqual({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', creationTimestamp: '2023-11-14T22:13:20Z' },
    data: { password: Buffer.from([0, 1, 255]).toString('base64') },
    type: 'Opaque',
  });
});

test('a field mk has no number for is refused with 415, never dropped; a body without the magic is a 400', () => {
  const pods = lookupResource('', 'v1', 'pods')!;
  expect(() => decodeProtobufObject(envelope('v1', 'Pod', [[1, 'bytes', [[1, 'bytes', 'p']]]]), pods)).toThrow(expect.objectContaining({ code: 415 }));
  const deployments = lookupResource('apps', 'v1', 'deployments')!;
  expect(() => decodeProtobufObject(envelope('apps/v1', 'Deployment', [[2, 'bytes', [[8, 'varint', 1]]]]), deployments))
    .toThrow(expect.objectContaining({ code: 415, message: expect.stringContaining('field 8 of io.k8s.api.apps.v1.DeploymentSpec') }));
  expect(() => decodeProtobufObject(Buffer.from('{"kind":"Deployment"}'), deployments)).toThrow(expect.objectContaining({ code: 400 }));
  expect(() => decodeProtobufObject(Buffer.concat([envelope('apps/v1', 'Deployment', []), Buffer.from([0x0a, 0x05])]), deployments)).toThrow(expect.objectContaining({ code: 400 }));
});

test('isProtobuf reads the media type only', () => {
  expect(isProtobuf('application/vnd.kubernetes.protobuf')).toBe(true);
  expect(isProtobuf('application/vnd.kubernetes.protobuf; charset=utf-8')).toBe(true);
  expect(isProtobuf('application/json')).toBe(false);
  expect(isProtobuf(undefined)).toBe(false);
});
