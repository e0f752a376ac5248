import { definitionNameOf, type JSONSchema } from '../api/schemas';
import type { ResourceType } from '../api/registry';
import type { KubeObject } from '../api/types';
import { ApiError, badRequest } from './errors';

/**
 * Decoding of request bodies in Kubernetes' protobuf encoding
 * (`Content-Type: application/vnd.kubernetes.protobuf`).
 *
 * Why: client-go's generated clients for built-in kinds send protobuf
 * unconditionally from 1.33 on (there is no fallback to JSON), so kubectl
 * 1.33's `create deployment|namespace|configmap|secret` and `auth can-i`
 * POST protobuf. Responses stay JSON, which those clients also accept.
 *
 * The wire format (k8s.io/apimachinery/pkg/runtime/serializer/protobuf):
 * the magic `k8s\0`, then a `runtime.Unknown` whose `raw` is the object's
 * message. Messages are decoded against the kind's OpenAPI schema (names and
 * types) plus the field numbers below, which are those of Kubernetes'
 * `generated.proto` files. Only the messages kubectl's typed clients send are
 * listed; a field of any other message is refused with 415, so nothing is
 * ever silently dropped: such clients can send JSON.
 *
 * Go writes every non-pointer scalar, zero or not, and JSON leaves the zero
 * ones out (`omitempty`), so zero scalars are dropped here, except for the
 * pointer fields (marked `*`), where an explicit zero means something
 * (`replicas: 0`). Messages that are present decode to objects (`resources:
 * {}`), as Go's JSON encoding of a struct does.
 */

export const PROTOBUF_TYPE = 'application/vnd.kubernetes.protobuf';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1.';
const CORE = 'io.k8s.api.core.v1.';
const APPS = 'io.k8s.api.apps.v1.';
const AUTHZ = 'io.k8s.api.authorization.v1.';
const BATCH = 'io.k8s.api.batch.v1.';
const SCHEDULING = 'io.k8s.api.scheduling.v1.';

/** Field number to JSON name, per message (definition name); `*` marks a Go pointer field. */
const FIELDS: Record<string, Record<number, string>> = {
  [META + 'ObjectMeta']: {
    1: 'name', 2: 'generateName', 3: 'namespace', 4: 'selfLink', 5: 'uid', 6: 'resourceVersion', 7: 'generation',
    8: 'creationTimestamp', 9: 'deletionTimestamp', 10: '*deletionGracePeriodSeconds', 11: 'labels', 12: 'annotations',
    13: 'ownerReferences', 14: 'finalizers', 17: 'managedFields',
  },
  [META + 'OwnerReference']: { 1: 'kind', 3: 'name', 4: 'uid', 5: 'apiVersion', 6: '*controller', 7: '*blockOwnerDeletion' },
  [META + 'ManagedFieldsEntry']: { 1: 'manager', 2: 'operation', 3: 'apiVersion', 4: 'time', 6: 'fieldsType', 7: 'fieldsV1', 8: 'subresource' },
  [META + 'LabelSelector']: { 1: 'matchLabels', 2: 'matchExpressions' },
  [META + 'LabelSelectorRequirement']: { 1: 'key', 2: 'operator', 3: 'values' },

  [CORE + 'Namespace']: { 1: 'metadata', 2: 'spec', 3: 'status' },
  [CORE + 'NamespaceSpec']: { 1: 'finalizers' },
  [CORE + 'NamespaceStatus']: { 1: 'phase' },
  [CORE + 'ConfigMap']: { 1: 'metadata', 2: 'data', 3: 'binaryData', 4: '*immutable' },
  [CORE + 'Secret']: { 1: 'metadata', 2: 'data', 3: 'type', 4: 'stringData', 5: '*immutable' },
  [CORE + 'PodTemplateSpec']: { 1: 'metadata', 2: 'spec' },
  [CORE + 'PodSpec']: {
    2: 'containers', 3: 'restartPolicy', 4: '*terminationGracePeriodSeconds', 5: '*activeDeadlineSeconds', 6: 'dnsPolicy',
    7: 'nodeSelector', 8: 'serviceAccountName', 9: 'serviceAccount', 10: 'nodeName', 11: 'hostNetwork', 12: 'hostPID',
    13: 'hostIPC', 16: 'hostname', 17: 'subdomain', 19: 'schedulerName', 20: 'initContainers',
    21: '*automountServiceAccountToken', 24: 'priorityClassName', 25: '*priority', 30: '*enableServiceLinks', 31: '*preemptionPolicy',
  },
  [CORE + 'Container']: {
    1: 'name', 2: 'image', 3: 'command', 4: 'args', 5: 'workingDir', 6: 'ports', 7: 'env', 8: 'resources',
    13: 'terminationMessagePath', 14: 'imagePullPolicy', 16: 'stdin', 17: 'stdinOnce', 18: 'tty', 20: 'terminationMessagePolicy',
    24: '*restartPolicy',
  },
  [CORE + 'ContainerPort']: { 1: 'name', 2: 'hostPort', 3: 'containerPort', 4: 'protocol', 5: 'hostIP' },
  [CORE + 'EnvVar']: { 1: 'name', 2: 'value' },
  [CORE + 'ResourceRequirements']: { 1: 'limits', 2: 'requests' },

  [CORE + 'ServiceAccount']: { 1: 'metadata', 2: 'secrets', 3: 'imagePullSecrets', 4: '*automountServiceAccountToken' },
  [CORE + 'Service']: { 1: 'metadata', 2: 'spec', 3: 'status' },
  [CORE + 'ServiceSpec']: {
    1: 'ports', 2: 'selector', 3: 'clusterIP', 4: 'type', 5: 'externalIPs', 7: 'sessionAffinity', 8: 'loadBalancerIP',
    9: 'loadBalancerSourceRanges', 10: 'externalName', 11: 'externalTrafficPolicy', 12: 'healthCheckNodePort', 13: 'publishNotReadyAddresses',
    18: 'clusterIPs',
  },
  [CORE + 'ServicePort']: { 1: 'name', 2: 'protocol', 3: 'port', 4: 'targetPort', 5: 'nodePort' },
  [CORE + 'ServiceStatus']: { 1: 'loadBalancer' },
  [CORE + 'LoadBalancerStatus']: {},

  [BATCH + 'Job']: { 1: 'metadata', 2: 'spec', 3: 'status' },
  [BATCH + 'JobSpec']: {
    1: '*parallelism', 2: '*completions', 3: '*activeDeadlineSeconds', 4: 'selector', 5: '*manualSelector', 6: 'template',
    7: '*backoffLimit', 8: '*ttlSecondsAfterFinished', 9: '*completionMode', 10: '*suspend',
  },
  [BATCH + 'JobStatus']: { 4: 'active', 5: 'succeeded', 6: 'failed', 7: 'completedIndexes', 9: '*ready', 10: '*failedIndexes', 11: '*terminating' },
  [BATCH + 'JobTemplateSpec']: { 1: 'metadata', 2: 'spec' },
  [BATCH + 'CronJob']: { 1: 'metadata', 2: 'spec', 3: 'status' },
  [BATCH + 'CronJobSpec']: {
    1: 'schedule', 2: '*startingDeadlineSeconds', 3: 'concurrencyPolicy', 4: '*suspend', 5: 'jobTemplate',
    6: '*successfulJobsHistoryLimit', 7: '*failedJobsHistoryLimit', 8: '*timeZone',
  },
  [BATCH + 'CronJobStatus']: {},
  [SCHEDULING + 'PriorityClass']: { 1: 'metadata', 2: 'value', 3: 'globalDefault', 4: 'description', 5: '*preemptionPolicy' },

  [APPS + 'Deployment']: { 1: 'metadata', 2: 'spec', 3: 'status' },
  [APPS + 'DeploymentSpec']: {
    1: '*replicas', 2: 'selector', 3: 'template', 4: 'strategy', 5: 'minReadySeconds', 6: '*revisionHistoryLimit', 7: 'paused',
    9: '*progressDeadlineSeconds',
  },
  [APPS + 'DeploymentStrategy']: { 1: 'type', 2: 'rollingUpdate' },
  [APPS + 'RollingUpdateDeployment']: { 1: 'maxUnavailable', 2: 'maxSurge' },
  [APPS + 'DeploymentStatus']: {
    1: 'observedGeneration', 2: 'replicas', 3: 'updatedReplicas', 4: 'availableReplicas', 5: 'unavailableReplicas', 7: 'readyReplicas',
    8: '*collisionCount',
  },

  [AUTHZ + 'SelfSubjectAccessReview']: { 1: 'metadata', 2: 'spec', 3: 'status' },
  [AUTHZ + 'SelfSubjectAccessReviewSpec']: { 1: 'resourceAttributes', 2: 'nonResourceAttributes' },
  [AUTHZ + 'ResourceAttributes']: { 1: 'namespace', 2: 'verb', 3: 'group', 4: 'version', 5: 'resource', 6: 'subresource', 7: 'name' },
  [AUTHZ + 'NonResourceAttributes']: { 1: 'path', 2: 'verb' },
  [AUTHZ + 'SubjectAccessReviewStatus']: { 1: 'allowed', 2: 'reason', 3: 'evaluationError', 4: 'denied' },
  [AUTHZ + 'SelfSubjectRulesReview']: { 1: 'metadata', 2: 'spec', 3: 'status' },
  [AUTHZ + 'SelfSubjectRulesReviewSpec']: { 1: 'namespace' },
  [AUTHZ + 'SubjectRulesReviewStatus']: { 1: 'resourceRules', 2: 'nonResourceRules', 3: 'incomplete', 4: 'evaluationError' },
  [AUTHZ + 'ResourceRule']: { 1: 'verbs', 2: 'apiGroups', 3: 'resources', 4: 'resourceNames' },
  [AUTHZ + 'NonResourceRule']: { 1: 'verbs', 2: 'nonResourceURLs' },
};

const TIMES = new Set([META + 'Time', META + 'MicroTime']);
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

/** `apps/v1` Deployment → `io.k8s.api.apps.v1.Deployment`: the message of a kind. */
function messageOf(rt: ResourceType): string {
  const pkg = rt.group === '' ? 'core' : rt.group.split('.')[0];
  return `io.k8s.api.${pkg}.${rt.version}.${rt.kind}`;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly end = buf.length) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw malformed('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 63n) throw malformed('varint too long');
    }
  }

  bytes(): Buffer {
    const n = Number(this.varint());
    if (this.pos + n > this.end) throw malformed('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.pos += 4;
    else throw malformed(`unsupported wire type ${wireType}`);
  }

  /** Each field of the message as [number, wire type]; the reader sits on its value. */
  *fields(): Generator<[number, number]> {
    while (!this.done()) {
      const tag = Number(this.varint());
      yield [tag >>> 3, tag & 7];
    }
  }
}

const malformed = (why: string) => badRequest(`error decoding protobuf: ${why}`);

function unsupported(where: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `mk cannot decode ${where} from protobuf; send this object as application/json`);
}

/** Fields of the envelope `runtime.Unknown` and its `runtime.TypeMeta`. */
function readUnknown(buf: Buffer): { apiVersion: string; kind: string; raw: Buffer } {
  const r = new Reader(buf, buf.length);
  let apiVersion = '';
  let kind = '';
  let raw = Buffer.alloc(0);
  for (const [n, w] of r.fields()) {
    if (n === 1 && w === 2) {
      const t = new Reader(r.bytes());
      for (const [tn, tw] of t.fields()) {
        if (tn === 1 && tw === 2) apiVersion = t.bytes().toString('utf8');
        else if (tn === 2 && tw === 2) kind = t.bytes().toString('utf8');
        else t.skip(tw);
      }
    } else if (n === 2 && w === 2) {
      raw = Buffer.from(r.bytes());
    } else {
      r.skip(w); // contentEncoding and contentType: empty for objects
    }
  }
  return { apiVersion, kind, raw };
}

const isZero = (v: unknown) => v === '' || v === 0 || v === false;

function scalar(r: Reader, wireType: number, schema: JSONSchema, path: string): unknown {
  if (schema.type === 'string') {
    if (wireType !== 2) throw malformed(`${path}: expected a string`);
    const b = r.bytes();
    return schema.format === 'byte' ? b.toString('base64') : b.toString('utf8');
  }
  if (schema.type === 'integer' || schema.type === 'boolean') {
    if (wireType !== 0) throw malformed(`${path}: expected a varint`);
    const v = BigInt.asIntN(64, r.varint());
    return schema.type === 'boolean' ? v !== 0n : Number(v);
  }
  throw unsupported(path);
}

/** A value of `schema` from the field the reader is on. */
function value(r: Reader, wireType: number, schema: JSONSchema, path: string): unknown {
  const name = definitionNameOf(schema);
  if (name && TIMES.has(name)) {
    const t = new Reader(r.bytes());
    let seconds = 0n;
    let nanos = 0;
    for (const [n, w] of t.fields()) {
      if (n === 1 && w === 0) seconds = BigInt.asIntN(64, t.varint());
      else if (n === 2 && w === 0) nanos = Number(t.varint());
      else t.skip(w);
    }
    if (seconds === 0n && nanos === 0) return undefined; // Go's zero time: null in JSON
    const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
    return name === META + 'Time' ? `${base}Z` : `${base}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z`;
  }
  if (name === QUANTITY) {
    const q = new Reader(r.bytes());
    let s = '';
    for (const [n, w] of q.fields()) {
      if (n === 1 && w === 2) s = q.bytes().toString('utf8');
      else q.skip(w);
    }
    return s;
  }
  if (name === INT_OR_STRING) {
    const q = new Reader(r.bytes());
    let type = 0;
    let intVal = 0;
    let strVal = '';
    for (const [n, w] of q.fields()) {
      if (n === 1 && w === 0) type = Number(q.varint());
      else if (n === 2 && w === 0) intVal = Number(BigInt.asIntN(32, q.varint()));
      else if (n === 3 && w === 2) strVal = q.bytes().toString('utf8');
      else q.skip(w);
    }
    return type === 1 ? strVal : intVal;
  }
  if (schema.type === 'object') {
    if (wireType !== 2) throw malformed(`${path}: expected a message`);
    const bytes = r.bytes();
    if (schema.properties) return message(bytes, schema, path);
    throw unsupported(path);
  }
  return scalar(r, wireType, schema, path);
}

/** A map entry message: key = 1, value = 2. */
function mapEntry(bytes: Buffer, valueSchema: JSONSchema, path: string): [string, unknown] {
  const r = new Reader(bytes);
  let key = '';
  let v: unknown = valueSchema.type === 'string' ? '' : undefined;
  for (const [n, w] of r.fields()) {
    if (n === 1 && w === 2) key = r.bytes().toString('utf8');
    else if (n === 2) v = value(r, w, valueSchema, `${path}[${key}]`);
    else r.skip(w);
  }
  return [key, v];
}

function message(bytes: Buffer, schema: JSONSchema, path: string, name = definitionNameOf(schema)): Record<string, unknown> {
  const table = name ? FIELDS[name] : undefined;
  if (!table) throw unsupported(path || 'this kind');
  const out: Record<string, unknown> = {};
  const r = new Reader(bytes);
  for (const [n, w] of r.fields()) {
    const entry = table[n];
    if (!entry) throw unsupported(`field ${n} of ${name}${path ? ` (${path})` : ''}`);
    const pointer = entry.startsWith('*');
    const key = pointer ? entry.slice(1) : entry;
    const sub = schema.properties?.[key];
    const at = path ? `${path}.${key}` : key;
    if (!sub) throw unsupported(at);
    if (sub.type === 'array') {
      const items = sub.items as JSONSchema;
      const list = (out[key] ??= []) as unknown[];
      if (w === 2 && (items.type === 'integer' || items.type === 'boolean')) {
        const packed = new Reader(r.bytes());
        while (!packed.done()) list.push(scalar(packed, 0, items, at));
      } else {
        list.push(value(r, w, items, `${at}[${list.length}]`));
      }
    } else if (sub.type === 'object' && !sub.properties && typeof sub.additionalProperties === 'object') {
      const [k, v] = mapEntry(r.bytes(), sub.additionalProperties, at);
      ((out[key] ??= {}) as Record<string, unknown>)[k] = v;
    } else {
      const v = value(r, w, sub, at);
      if (v === undefined || (!pointer && isZero(v))) delete out[key];
      else out[key] = v;
    }
  }
  return out;
}

/**
 * The object in a protobuf request body for `rt`. A body for another kind
 * is a 400, as a JSON body naming another kind is; a kind or field mk has no
 * field numbers for is a 415.
 */
export function decodeProtobufObject(body: Buffer, rt: ResourceType): KubeObject {
  if (body.length < 4 || body.readUInt32BE(0) !== 0x6b387300) throw malformed('the body does not start with the k8s protobuf magic number');
  const { apiVersion, kind, raw } = readUnknown(body.subarray(4));
  const { apiVersion: _a, kind: _k, ...fields } = message(raw, rt.schema, '', messageOf(rt));
  return { apiVersion, kind, ...fields } as KubeObject;
}

/** Whether a Content-Type is Kubernetes' protobuf encoding. */
export function isProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0].trim().toLowerCase() === PROTOBUF_TYPE;
}
