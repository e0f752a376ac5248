/** An OpenAPI v3 schema (the subset of JSON Schema Kubernetes uses). */
export type JSONSchema = Record<string, any>;

/** One schema per kind, keyed by kind; validation and (later) /openapi/v3 both use them. */
export const schemas: Record<string, JSONSchema> = {};
