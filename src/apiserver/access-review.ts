import { apiVersionOf, type ResourceType } from '../api/registry';
import type { KubeObject, StatusCause } from '../api/types';
import { pruneUnknownFields } from '../api/validation';
import { badRequest, invalid } from './errors';
import type { WriteOptions } from './resources';
import { strictDecodingError, strictErrors } from './strict-decoding';

/**
 * The authorization.k8s.io/v1 reviews a client asks about itself:
 * `SelfSubjectAccessReview` (`kubectl auth can-i create pods`) and
 * `SelfSubjectRulesReview` (`kubectl auth can-i --list`). They are never
 * stored: a create answers in the returned object's status.
 *
 * mk has one credential, the cluster token, and it may do anything (as
 * cluster-admin may in Kubernetes); a request without it never gets this
 * far (401). So every access review is allowed, and the rules are `*`.
 */

const REASON = 'mk: the cluster token is allowed every action';

export interface ReviewAnswer {
  object: KubeObject;
  warnings: string[];
}

/** Answers a create of a review kind (`rt.verbs` is only `create`), validating the body as Kubernetes does. */
export function answerReview(rt: ResourceType, body: KubeObject, opts: WriteOptions): ReviewAnswer {
  const apiVersion = apiVersionOf(rt);
  if ((body.apiVersion && body.apiVersion !== apiVersion) || (body.kind && body.kind !== rt.kind)) {
    throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersion}) or the kind (${body.kind}) is not ${rt.kind}`);
  }
  const fieldValidation = opts.fieldValidation ?? 'Warn';
  const unknown = pruneUnknownFields(body, rt.schema, fieldValidation === 'Strict').map((p) => `unknown field "${p}"`);
  let warnings: string[] = [];
  if (fieldValidation === 'Strict') {
    const errors = strictErrors(opts.decodeProblems, unknown, { patch: false, strict: true });
    if (errors.length) throw strictDecodingError(rt, errors);
  } else if (fieldValidation === 'Warn') {
    warnings = strictErrors(opts.decodeProblems, unknown, { patch: false, strict: false });
  }

  const spec = body.spec ?? {};
  const causes: StatusCause[] = [];
  const { managedFields: _managed, ...meta } = body.metadata ?? {};
  if (Object.keys(meta).length) causes.push({ reason: 'FieldValueInvalid', field: 'metadata', message: `Invalid value: ${JSON.stringify(meta)}: must be empty` });

  let status: Record<string, unknown>;
  if (rt.kind === 'SelfSubjectAccessReview') {
    if (spec.resourceAttributes && spec.nonResourceAttributes) {
      causes.push({ reason: 'FieldValueInvalid', field: 'spec.nonResourceAttributes', message: `Invalid value: ${JSON.stringify(spec.nonResourceAttributes)}: cannot be specified in combination with resourceAttributes` });
    } else if (!spec.resourceAttributes && !spec.nonResourceAttributes) {
      causes.push({ reason: 'FieldValueInvalid', field: 'spec.resourceAttributes', message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified' });
    }
    status = { allowed: true, reason: REASON };
  } else {
    if (!spec.namespace) throw badRequest('no namespace on request');
    status = {
      resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
      nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      incomplete: false,
    };
  }
  if (causes.length) throw invalid(rt, '', causes);
  return { object: { kind: rt.kind, apiVersion, metadata: {}, spec, status } as KubeObject, warnings };
}
