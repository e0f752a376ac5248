import { deepFreeze } from '../src/api/patch';
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

/** Deep-frozen inputs make any mutation of them throw. */
export const frozen = deepFreeze;
