/**
 * One error shape for every failure: {"error": {"code", "message", "details"?}}.
 * Known failures map to 4xx with a stable code; anything else is logged and
 * answered 500 internal_error without internals.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { QuantizerInputError } from '../../core/errors.js';
import { ApiError } from '../../services/errors.js';
import { RequestValidationError } from '../zod.js';

/** Fastify's own request errors → our codes. */
const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length'],
};

function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

async function errors(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    if (err instanceof ApiError) return reply.status(err.status).send(errorBody(err.code, err.message, err.details));
    if (err instanceof RequestValidationError) return reply.status(400).send(errorBody('validation_error', err.message));
    if (err instanceof QuantizerInputError) return reply.status(400).send(errorBody('validation_error', err.message));
    const fe = err as FastifyError;
    const known = fe.code === undefined ? undefined : FASTIFY_CODES[fe.code];
    if (known !== undefined) {
      const message = known[1] === 'payload_too_large' ? `request body is larger than the limit of ${app.initialConfig.bodyLimit} bytes` : err.message;
      return reply.status(known[0]).send(errorBody(known[1], message));
    }
    if (err instanceof SyntaxError && fe.statusCode === 400) {
      // secure-json-parse refusing __proto__ / constructor keys, for instance.
      return reply.status(400).send(errorBody('invalid_json', err.message));
    }
    if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send(errorBody('bad_request', err.message));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('internal_error', 'internal error; the service log has the details'));
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}

export default fp(errors, { name: 'errors' });
