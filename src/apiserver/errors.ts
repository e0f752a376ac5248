import type { ServerResponse } from 'node:http';
import type { Status, StatusCause } from '../api/types';
import { DatastoreUnavailableError, ValueTooLargeError } from '../storage/store';

/**
 * The one error type of the API server. Every failure a client can cause is
 * an ApiError carrying the Kubernetes `reason` and HTTP `code`; the error
 * middleware renders it as a `kind: Status` body. Anything else that escapes a
 * handler is a bug and becomes a 500 InternalError.
 */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Status['details'],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

/** A resource as Kubernetes names it in error messages: `pods`, `deployments.apps`. */
export interface ResourceName {
  group: string;
  plural: string;
  kind: string;
}

function qualified(r: ResourceName): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

export function notFound(r: ResourceName, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, {
    name,
    group: r.group || undefined,
    kind: r.plural,
  });
}

export function alreadyExists(r: ResourceName, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, {
    name,
    group: r.group || undefined,
    kind: r.plural,
  });
}

export function conflict(r: ResourceName, name: string, why: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`,
    { name, group: r.group || undefined, kind: r.plural },
  );
}

export function invalid(r: ResourceName, name: string, causes: StatusCause[]): ApiError {
  const summary = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
  return new ApiError(422, 'Invalid', `${r.kind} "${name}" is invalid: ${summary}`, {
    name,
    group: r.group || undefined,
    kind: r.kind,
    causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', ...c })),
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

export function forbidden(message: string): ApiError {
  return new ApiError(403, 'Forbidden', message);
}

export function methodNotAllowed(message: string): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function notAcceptable(message: string): ApiError {
  return new ApiError(406, 'NotAcceptable', message);
}

export function gone(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function tooLarge(message: string): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', message);
}

export function unsupportedMediaType(message: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', message);
}

export function serviceUnavailable(message: string): ApiError {
  return new ApiError(503, 'ServiceUnavailable', message);
}

export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', message);
}

export function timeout(message: string): ApiError {
  return new ApiError(504, 'Timeout', message);
}

/**
 * The Status for a datastore failure a client should see as such, not as a
 * 500: an object too large for the datastore (413, as kube-apiserver answers
 * etcd's "request is too large") and an unreachable (503) or slow (504)
 * datastore. Undefined for anything else.
 */
export function datastoreError(err: unknown): ApiError | undefined {
  if (err instanceof ValueTooLargeError) return tooLarge(`Request entity too large: ${err.message}`);
  if (err instanceof DatastoreUnavailableError) {
    return err.timeout
      ? timeout(`Timeout: request did not complete within the allotted time: ${err.message}`)
      : serviceUnavailable(`the datastore is unavailable: ${err.message}`);
  }
  return undefined;
}

/** Sends an ApiError as its Status (or just ends a response that has already started). */
export function writeStatus(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify(err.toStatus());
  res.writeHead(err.code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
