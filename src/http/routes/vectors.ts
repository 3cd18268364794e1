import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ApiError } from '../../services/errors.js';
import { MAX_ID_BYTES } from '../../services/vector-records.js';
import { HARD_LIMITS } from '../../tunables.js';
import { error, json, guarded, noContent } from '../responses.js';
import { NameParams } from '../schemas/common.js';
import { StoredVector, UpsertBody, UpsertResponse, VectorParams } from '../schemas/vectors.js';

const tags = ['vectors'];
const notFound = error('No such collection (collection_not_found) or vector (vector_not_found).');

const vectorRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.collections;

  app.post(
    '/collections/:name/vectors',
    {
      schema: {
        operationId: 'upsertVectors',
        summary: 'Insert or replace vectors',
        description:
          'Acknowledged only after the write is committed to SQLite. Once the collection is trained, vectors ' +
          'are encoded on the way in. All or nothing: a bad vector rejects the whole request.',
        tags,
        params: NameParams,
        body: UpsertBody,
        response: guarded({
          200: json(UpsertResponse, 'How many vectors were written.'),
          400: error(
            'Invalid body (validation_error: a wrong dimension, a value out of range, a repeated id) or a limit exceeded ' +
              '(limit_exceeded: MAX_VECTORS_PER_REQUEST, MAX_METADATA_BYTES).',
          ),
          404: error('No such collection (collection_not_found).'),
          413: error('The body is larger than BODY_LIMIT (payload_too_large).'),
        }),
      },
    },
    async (request) => service.upsert(request.params.name, request.body.vectors, request.deadline),
  );

  // Binary bodies arrive as a Buffer (routes of this plugin only).
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post(
    '/collections/:name/vectors/bulk',
    {
      schema: {
        operationId: 'upsertVectorsBinary',
        summary: 'Insert or replace vectors from a binary body',
        description:
          'The fast way to load many vectors: no JSON to parse. The body (Content-Type: application/octet-stream) is records one after another, ' +
          'little-endian, without header or padding: a u16 id length L in bytes (1–' +
          `${MAX_ID_BYTES}), the id in L bytes of UTF-8 (at most ${HARD_LIMITS.maxIdLength} characters), then the vector as d float32 values. ` +
          'No metadata (use the JSON upsert for vectors that carry some). Same rules as the JSON upsert: all or nothing, ' +
          'acknowledged after the commit, at most MAX_VECTORS_PER_REQUEST records and BODY_LIMIT bytes, ids unique within the body.',
        tags,
        params: NameParams,
        binaryBody: 'Records: u16 id length (LE), UTF-8 id, d × float32 (LE).',
        response: guarded({
          200: json(UpsertResponse, 'How many vectors were written.'),
          400: error(
            'A malformed record (validation_error, naming the record and its byte offset), a value out of range, a repeated id, ' +
              'or too many records (limit_exceeded: MAX_VECTORS_PER_REQUEST).',
          ),
          404: error('No such collection (collection_not_found).'),
          413: error('The body is larger than BODY_LIMIT (payload_too_large).'),
          415: error('The body is not application/octet-stream (unsupported_media_type).'),
        }),
      },
    },
    async (request) => {
      if (!Buffer.isBuffer(request.body)) {
        throw new ApiError(415, 'unsupported_media_type', 'send the records as Content-Type: application/octet-stream');
      }
      return service.upsertRecords(request.params.name, request.body, request.deadline);
    },
  );

  app.get(
    '/collections/:name/vectors/:id',
    {
      schema: {
        operationId: 'getVector',
        summary: 'A stored vector and its metadata',
        description: 'The vector as stored (its values rounded to 32-bit floats) and its metadata.',
        tags,
        params: VectorParams,
        response: guarded({ 200: json(StoredVector, 'The vector and its metadata.'), 404: notFound }),
      },
    },
    async (request) => service.getVector(request.params.name, request.params.id),
  );

  app.delete(
    '/collections/:name/vectors/:id',
    {
      schema: {
        operationId: 'deleteVector',
        summary: 'Delete a vector',
        description: 'Acknowledged only after the delete is committed; queries stop returning the vector at once.',
        tags,
        params: VectorParams,
        response: guarded({ 204: noContent, 404: notFound }),
      },
    },
    async (request, reply) => {
      await service.deleteVector(request.params.name, request.params.id);
      return reply.status(204).send();
    },
  );
};

export default vectorRoutes;
