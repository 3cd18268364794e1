import { ApiError } from '../../src/services/errors.js';

/** The ApiError f throws (anything else is rethrown; no throw fails the test). */
export function refusal(f: () => unknown): ApiError {
  try {
    f();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}
