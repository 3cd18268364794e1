/**
 * Errors the HTTP layer turns into `{"error": {"code", "message"}}` with the
 * given status. Codes are stable and machine-readable; messages are for people.
 */
import { LIMIT_VARIABLES, type Limits } from '../config.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Sent as Retry-After (seconds) when set. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, details?: Record<string, unknown>) => new ApiError(400, 'validation_error', message, details);
export const collectionNotFound = (name: string) => new ApiError(404, 'collection_not_found', `collection '${name}' does not exist`);

/**
 * A configured limit refused the request: 400 for a field above its limit, 422
 * for work (a request whose fields are each allowed but whose product is not),
 * 429 for service-wide capacity. The message and details name the variable.
 */
export function limitExceeded(status: 400 | 422 | 429, limit: keyof Limits, max: number, value: number, what: string): ApiError {
  const variable = LIMIT_VARIABLES[limit];
  return new ApiError(
    status,
    'limit_exceeded',
    `${what} is ${value}, above the limit of ${max} (${variable})`,
    { limit: variable, max, value },
    status === 429 ? 5 : undefined,
  );
}
