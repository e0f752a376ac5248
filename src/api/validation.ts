import type { KubeObject, StatusCause } from './types';

/** Checks per kind beyond the schema: cross-field rules and immutable fields (old is set on update). */
export const semanticValidators: Record<string, (obj: KubeObject, old?: KubeObject) => StatusCause[]> = {};
