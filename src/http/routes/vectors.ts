import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { ErrorBody, NameParams } from '../schemas/common.js';
import { StoredVector, UpsertBody, UpsertResponse, VectorParams } from '../schemas/vectors.js';
import { routeSchema } from '../zod.js';

const tags = ['vectors'];

export default async function vectorRoutes(app: FastifyInstance): Promise<void> {
  const service = app.collections;

  app.post<{ Params: z.infer<typeof NameParams>; Body: z.infer<typeof UpsertBody> }>(
    '/collections/:name/vectors',
    {
      schema: routeSchema({
        operationId: 'upsertVectors',
        summary: 'Insert or replace vectors',
        description:
          'Acknowledged only after the write is committed to SQLite. Once the collection is trained, vectors ' +
          'are encoded on the way in. All or nothing: a bad vector rejects the whole request.',
        tags,
        params: NameParams,
        body: UpsertBody,
        response: { 200: UpsertResponse, 400: ErrorBody, 404: ErrorBody, 413: ErrorBody },
      }),
    },
    async (request) => service.upsert(request.params.name, request.body.vectors, request.deadline),
  );

  app.get<{ Params: z.infer<typeof VectorParams> }>(
    '/collections/:name/vectors/:id',
    {
      schema: routeSchema({
        operationId: 'getVector',
        summary: 'A stored vector and its metadata',
        tags,
        params: VectorParams,
        response: { 200: StoredVector, 404: ErrorBody },
      }),
    },
    async (request) => service.getVector(request.params.name, request.params.id),
  );

  app.delete<{ Params: z.infer<typeof VectorParams> }>(
    '/collections/:name/vectors/:id',
    {
      schema: routeSchema({
        operationId: 'deleteVector',
        summary: 'Delete a vector',
        tags,
        params: VectorParams,
        response: { 204: null, 404: ErrorBody },
      }),
    },
    async (request, reply) => {
      await service.deleteVector(request.params.name, request.params.id);
      return reply.status(204).send();
    },
  );
}
