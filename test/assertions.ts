import { ApiError } from '../src/apiserver/errors';

/** Runs `fn`, which must throw an ApiError, and returns it. */
export function apiErrorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('expected an ApiError');
}

/** Deep-frozen copies make any mutation of an input throw. */
export function frozen<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const child of Object.values(v)) frozen(child);
    Object.freeze(v);
  }
  return v;
}
