/**
 * One error shape for every failure: {"error": {"code", "message", "details"?}}.
 * Known failures map to 4xx/503/507 with a stable code; anything else is logged
 * and answered 500 internal_error without internals (no stack, no paths).
 * Covers Fastify's own failures (bad URLs, long params, body parsing) and
 * malformed HTTP that never reaches a route (clientErrorHandler, in app.ts).
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ResponseSerializationError, hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { CorruptCodecError, QuantizerInputError } from '../../core/errors.js';
import { PoolOverloadedError, WorkerExitedError } from '../../pool/errors.js';
import { ApiError } from '../../services/errors.js';
import { RETRY_AFTER_SECONDS } from '../../tunables.js';
import { errorBody } from '../responses.js';
import { ClientGoneError, RequestTimeoutError } from './deadline.js';

/** Fastify's own request errors → our status and code. */
const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length'],
  FST_ERR_BAD_URL: [400, 'bad_url'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'uri_too_long'],
};

/** SQLite result codes (better-sqlite3's err.code, also through a worker) that say the storage, not the request, failed. */
function storageFailure(code: unknown): [number, string, string] | undefined {
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  if (code === 'SQLITE_FULL') return [507, 'insufficient_storage', 'the disk holding the database is full; writes resume once space is freed'];
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_BUSY')) {
    return [503, 'storage_unavailable', `the database cannot be written or read right now (${code}); reads of data in memory keep working`];
  }
  return undefined;
}

/** Where each part of a request is named in validation messages. */
const PARTS: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' };

/**
 * One line per problem zod found, each with its place in the request:
 * "body.vectors[2].id: Too small: ...". The library hands the path over as a
 * JSON pointer ("/vectors/2/id"), so a segment of digits reads as an array
 * index; a record key made of digits (metadata {"7": ...}) reads the same way.
 */
function validationMessage(context: string | undefined, problems: { instancePath: string; message?: string }[]): string {
  const part = PARTS[context ?? 'body'] ?? context;
  return problems
    .map(({ instancePath, message }) => {
      let path = part;
      for (const segment of instancePath.split('/').slice(1)) {
        if (segment === '') continue;
        path += /^\d+$/.test(segment) ? `[${segment}]` : `.${segment}`;
      }
      return `${path}: ${message}`;
    })
    .join('; ');
}

function unavailable(reply: FastifyReply, code: string, message: string): FastifyReply {
  return reply.status(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send(errorBody(code, message));
}

/** Answers a failure of Fastify's router (bad URL, parameter too long), which bypasses the error handler. */
export function frameworkError(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const known = FASTIFY_CODES[err.code];
  const [status, code] = known ?? [400, 'bad_request'];
  const message =
    code === 'uri_too_long' ? 'a path parameter is longer than the service accepts' : 'the URL is malformed (invalid percent-encoding?)';
  void reply.status(status).send(errorBody(code, message));
}

/**
 * Malformed HTTP that Node's parser refuses (bad request line, header too large,
 * request timeout): answered with the same JSON error body, then the socket closes.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let code = 'bad_request';
  let message = 'malformed HTTP request';
  if (err.code === 'HPE_HEADER_OVERFLOW')
    [status, code, message] = [431, 'headers_too_large', 'the request headers are larger than the service accepts'];
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') [status, code, message] = [408, 'request_timeout', 'the request was not received in time'];
  const body = JSON.stringify(errorBody(code, message));
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  } else {
    socket.destroy();
  }
}

async function errors(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    if (err instanceof ApiError) {
      // Every 503 says when to come back, whether or not its thrower named a time.
      const retryAfter = err.retryAfterSeconds ?? (err.status === 503 ? RETRY_AFTER_SECONDS : undefined);
      if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
      return reply.status(err.status).send(errorBody(err.code, err.message, err.details));
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      return reply.status(400).send(errorBody('validation_error', validationMessage(err.validationContext, err.validation)));
    }
    if (err instanceof ResponseSerializationError) {
      // The handler produced what its response schema does not allow: the service's fault, never sent half-checked.
      request.log.error({ err, issues: err.cause.issues }, 'response does not match its schema');
      return reply.status(500).send(errorBody('internal_error', 'internal error; the service log has the details'));
    }
    // A corrupt stored codec is the service's failure, not the request's: it falls through to 500.
    if (err instanceof QuantizerInputError && !(err instanceof CorruptCodecError))
      return reply.status(400).send(errorBody('validation_error', err.message));
    if (err instanceof RequestTimeoutError) {
      request.log.warn({ timeoutMs: err.timeoutMs }, 'request timed out; its work was cancelled');
      return unavailable(reply, 'timeout', err.message);
    }
    if (err instanceof ClientGoneError) {
      request.log.info('client closed the connection; its work was cancelled');
      return reply.status(499).send(errorBody('client_closed', err.message));
    }
    if (err instanceof PoolOverloadedError) return unavailable(reply, 'overloaded', err.message);
    if (err instanceof WorkerExitedError) {
      request.log.error({ err }, 'a worker thread stopped during the request');
      return unavailable(reply, 'worker_failed', 'a worker thread stopped while serving this request and has been replaced; retry it');
    }
    const fe = err as FastifyError;
    const storage = storageFailure(fe.code);
    if (storage !== undefined) {
      request.log.error({ err }, 'storage failure');
      if (storage[0] === 503) return unavailable(reply, storage[1], storage[2]);
      return reply.status(storage[0]).send(errorBody(storage[1], storage[2]));
    }
    const known = fe.code === undefined ? undefined : FASTIFY_CODES[fe.code];
    if (known !== undefined) {
      const message =
        known[1] === 'payload_too_large' ? `request body is larger than the limit of ${app.initialConfig.bodyLimit} bytes (BODY_LIMIT)` : err.message;
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
