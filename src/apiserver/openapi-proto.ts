import type { JSONSchema } from '../api/schemas';

/**
 * The Swagger 2.0 document in protocol buffers, as gnostic's
 * `openapi.v2.Document` (github.com/google/gnostic, openapiv2/OpenAPIv2.proto).
 *
 * Why it exists: client-go reads `/openapi/v2` only as
 * `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, and kubectl
 * up to 1.27 uses that document to decide whether the server validates
 * fields itself (it looks for `fieldValidation` on each kind's PATCH) and to
 * validate manifests client-side.
 *
 * Encodes exactly what `openapi.ts` produces: schemas, paths with operations,
 * query/path/body parameters, responses, and the bearer-token security
 * scheme. Vendor extensions and enum values go in `Any.yaml`, which readers
 * decode as YAML (a JSON text is YAML).
 */

/** Protocol buffers wire encoding, appended to one growing list of chunks. */
class Message {
  private readonly parts: Buffer[] = [];

  private varint(n: number): void {
    const bytes: number[] = [];
    while (n > 0x7f) {
      bytes.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    bytes.push(n);
    this.parts.push(Buffer.from(bytes));
  }

  private tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  string(field: number, value: unknown): this {
    if (typeof value !== 'string' || value === '') return this;
    const bytes = Buffer.from(value, 'utf8');
    this.tag(field, 2);
    this.varint(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  strings(field: number, values: unknown): this {
    if (Array.isArray(values)) for (const v of values) this.string(field, v);
    return this;
  }

  /** A bool; `always` writes false too (a oneof member must be present to be set). */
  bool(field: number, value: unknown, always = false): this {
    if (value !== true && !(always && value === false)) return this;
    this.tag(field, 0);
    this.varint(value ? 1 : 0);
    return this;
  }

  int64(field: number, value: unknown): this {
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) return this;
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  double(field: number, value: unknown): this {
    if (typeof value !== 'number') return this;
    this.tag(field, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    this.parts.push(b);
    return this;
  }

  message(field: number, value: Message | undefined): this {
    if (!value) return this;
    const bytes = value.bytes();
    this.tag(field, 2);
    this.varint(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  messages(field: number, values: Message[]): this {
    for (const v of values) this.message(field, v);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const any = (value: unknown) => new Message().string(2, JSON.stringify(value));
const namedAny = (name: string, value: unknown) => new Message().string(1, name).message(2, any(value));

function extensions(obj: JSONSchema): Message[] {
  return Object.entries(obj).filter(([k]) => k.startsWith('x-')).map(([k, v]) => namedAny(k, v));
}

function schema(s: JSONSchema): Message {
  const m = new Message()
    .string(1, s.$ref)
    .string(2, s.format)
    .string(3, s.title)
    .string(4, s.description);
  if (s.default !== undefined) m.message(5, any(s.default));
  m.double(7, s.maximum).double(9, s.minimum).int64(11, s.maxLength).int64(12, s.minLength).string(13, s.pattern)
    .int64(14, s.maxItems).int64(15, s.minItems).bool(16, s.uniqueItems)
    .strings(19, s.required);
  if (Array.isArray(s.enum)) m.messages(20, s.enum.map(any));
  if (typeof s.additionalProperties === 'boolean') m.message(21, new Message().bool(2, s.additionalProperties, true));
  else if (s.additionalProperties) m.message(21, new Message().message(1, schema(s.additionalProperties)));
  if (s.type) m.message(22, new Message().strings(1, Array.isArray(s.type) ? s.type : [s.type]));
  if (s.items) m.message(23, new Message().messages(1, (Array.isArray(s.items) ? s.items : [s.items]).map(schema)));
  if (Array.isArray(s.allOf)) m.messages(24, s.allOf.map(schema));
  if (s.properties) m.message(25, namedSchemas(s.properties));
  m.bool(27, s.readOnly);
  if (s.example !== undefined) m.message(30, any(s.example));
  return m.messages(31, extensions(s));
}

/** `Properties` and `Definitions`: both are `repeated NamedSchema additional_properties = 1`. */
function namedSchemas(map: Record<string, JSONSchema>): Message {
  return new Message().messages(1, Object.entries(map).map(([name, s]) => new Message().string(1, name).message(2, schema(s))));
}

function primitivesItems(items: JSONSchema): Message {
  return new Message().string(1, items.type).string(2, items.format);
}

/** A non-body parameter: the query and path sub-schemas share their field numbers. */
function nonBodyParameter(p: JSONSchema): Message {
  const sub = new Message().bool(1, p.required).string(2, p.in).string(3, p.description).string(4, p.name);
  // allow_empty_value (5) exists only for query and form parameters, which shifts the rest by one.
  const o = p.in === 'query' || p.in === 'formData' ? 1 : 0;
  sub.string(5 + o, p.type).string(6 + o, p.format);
  if (p.items) sub.message(7 + o, primitivesItems(p.items));
  sub.string(8 + o, p.collectionFormat).bool(19 + o, p.uniqueItems);
  sub.messages(22 + o, extensions(p));
  const slot = p.in === 'query' ? 3 : p.in === 'path' ? 4 : p.in === 'header' ? 1 : 2;
  return new Message().message(slot, sub);
}

function parametersItem(p: JSONSchema): Message {
  const parameter = p.in === 'body'
    ? new Message().message(1, new Message().string(1, p.description).string(2, p.name).string(3, p.in).bool(4, p.required).message(5, schema(p.schema ?? {})).messages(6, extensions(p)))
    : new Message().message(2, nonBodyParameter(p));
  return new Message().message(1, parameter);
}

function responses(rs: Record<string, JSONSchema>): Message {
  return new Message().messages(1, Object.entries(rs).map(([code, r]) => {
    const response = new Message().string(1, r.description);
    if (r.schema) response.message(2, new Message().message(1, schema(r.schema)));
    return new Message().string(1, code).message(2, new Message().message(1, response.messages(5, extensions(r))));
  }));
}

function operation(op: JSONSchema): Message {
  return new Message()
    .strings(1, op.tags)
    .string(2, op.summary)
    .string(3, op.description)
    .string(5, op.operationId)
    .strings(6, op.produces)
    .strings(7, op.consumes)
    .messages(8, (op.parameters ?? []).map(parametersItem))
    .message(9, responses(op.responses ?? {}))
    .strings(10, op.schemes)
    .bool(11, op.deprecated)
    .messages(13, extensions(op));
}

const METHOD_FIELDS: Record<string, number> = { get: 2, put: 3, post: 4, delete: 5, options: 6, head: 7, patch: 8 };

function pathItem(item: JSONSchema): Message {
  const m = new Message();
  for (const [method, field] of Object.entries(METHOD_FIELDS)) if (item[method]) m.message(field, operation(item[method]));
  return m.messages(9, (item.parameters ?? []).map(parametersItem)).messages(10, extensions(item));
}

function securityRequirements(reqs: Array<Record<string, string[]>>): Message[] {
  return reqs.map((req) => new Message().messages(1, Object.entries(req).map(([name, scopes]) => new Message().string(1, name).message(2, new Message().strings(1, scopes)))));
}

function securityDefinitions(defs: Record<string, JSONSchema>): Message {
  return new Message().messages(1, Object.entries(defs).map(([name, d]) => {
    const apiKey = new Message().string(1, d.type).string(2, d.name).string(3, d.in).string(4, d.description);
    return new Message().string(1, name).message(2, new Message().message(2, apiKey));
  }));
}

/** The `openapi.v2.Document` encoding of a Swagger 2.0 document whose security schemes are API keys. */
export function encodeSwagger(doc: JSONSchema): Buffer {
  return new Message()
    .string(1, doc.swagger)
    .message(2, new Message().string(1, doc.info?.title).string(2, doc.info?.version).string(3, doc.info?.description))
    .strings(5, doc.schemes)
    .strings(6, doc.consumes)
    .strings(7, doc.produces)
    .message(8, new Message().messages(2, Object.entries(doc.paths ?? {}).map(([path, item]) => new Message().string(1, path).message(2, pathItem(item as JSONSchema)))))
    .message(9, namedSchemas(doc.definitions ?? {}))
    .messages(12, securityRequirements(doc.security ?? []))
    .message(13, doc.securityDefinitions ? securityDefinitions(doc.securityDefinitions) : undefined)
    .bytes();
}
