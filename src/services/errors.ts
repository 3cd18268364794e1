/**
 * Errors the HTTP layer turns into `{"error": {"code", "message"}}` with the
 * given status. Codes are stable and machine-readable; messages are for people.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, details?: Record<string, unknown>) => new ApiError(400, 'validation_error', message, details);
export const collectionNotFound = (name: string) => new ApiError(404, 'collection_not_found', `collection '${name}' does not exist`);
