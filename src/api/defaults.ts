import type { KubeObject } from './types';

/** Defaulting per kind, applied in place on create and update, as the Kubernetes API server does. */
export const defaulters: Record<string, (obj: KubeObject) => void> = {};
