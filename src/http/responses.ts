/**
 * The response entries that repeat across routes. fastify-type-provider-zod
 * validates, serialises and documents the zod schemas; what it cannot know is
 * that every error has one shape with its own description per route and
 * status, that every non-public route may also answer 401, 403 and 503, and
 * which bodies are files or empty.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { ErrorBody } from './schemas/common.js';

/** The body of every error answer: {"error": {"code", "message", "details"?}}. */
export function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** A JSON answer and what it means (a bare schema would be documented as "Default Response"). */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** An error answer: the shared ErrorBody component, with what this status means on this route. */
export function error(description: string) {
  return json(ErrorBody, description);
}

/** A 204: no body. */
export const noContent = z.undefined().describe('No content');

/**
 * A response that is a file or text, not JSON: a stream or a string, sent as
 * is (Fastify serialises only JSON), so the schema checks nothing and only
 * documents the body.
 */
export function file(mediaType: string, description: string) {
  return { description, content: { [mediaType]: { schema: z.custom<Readable | string>().meta({ type: 'string', format: 'binary' }) } } };
}

/** Answers every route but the public ones may give: no or unknown key, read-only key, load shedding or shutdown. */
const GUARDED = {
  401: error('No API key, or an unknown one (when API_KEYS / READ_ONLY_API_KEYS are set).'),
  403: error('A read-only key on a route that writes.'),
  503: error('Overloaded, timed out, shutting down or storage unavailable; see Retry-After.'),
};

/** A non-public route's responses: its own, plus 401, 403 and 503 where it does not describe them itself. */
export function guarded<R extends Record<number, unknown>>(responses: R): Omit<typeof GUARDED, keyof R> & R {
  return { ...GUARDED, ...responses };
}
