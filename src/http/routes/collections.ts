import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { ErrorBody, NameParams } from '../schemas/common.js';
import { CollectionList, CollectionView, CreateCollectionBody, UpdateCollectionBody } from '../schemas/collections.js';
import { routeSchema } from '../zod.js';

const tags = ['collections'];

export default async function collectionRoutes(app: FastifyInstance): Promise<void> {
  const service = app.collections;

  app.post<{ Body: z.infer<typeof CreateCollectionBody> }>(
    '/collections',
    {
      schema: routeSchema({
        operationId: 'createCollection',
        summary: 'Create a collection',
        tags,
        body: CreateCollectionBody,
        response: { 201: CollectionView, 400: ErrorBody, 409: ErrorBody, 422: ErrorBody },
      }),
    },
    async (request, reply) => reply.status(201).send(service.create(request.body)),
  );

  app.get(
    '/collections',
    { schema: routeSchema({ operationId: 'listCollections', summary: 'List collections', tags, response: { 200: CollectionList } }) },
    async () => ({
      collections: service.list(),
    }),
  );

  app.get<{ Params: z.infer<typeof NameParams> }>(
    '/collections/:name',
    {
      schema: routeSchema({
        operationId: 'getCollection',
        summary: 'A collection and its statistics',
        tags,
        params: NameParams,
        response: { 200: CollectionView, 404: ErrorBody },
      }),
    },
    async (request) => service.get(request.params.name),
  );

  app.patch<{ Params: z.infer<typeof NameParams>; Body: z.infer<typeof UpdateCollectionBody> }>(
    '/collections/:name',
    {
      schema: routeSchema({
        operationId: 'updateCollection',
        summary: "Change a collection's automatic training",
        description: 'Training starts at once if the new settings say it is due.',
        tags,
        params: NameParams,
        body: UpdateCollectionBody,
        response: { 200: CollectionView, 400: ErrorBody, 404: ErrorBody },
      }),
    },
    async (request) => service.setAutoTrain(request.params.name, request.body.autoTrain),
  );

  app.delete<{ Params: z.infer<typeof NameParams> }>(
    '/collections/:name',
    {
      schema: routeSchema({
        operationId: 'deleteCollection',
        summary: 'Delete a collection with all its vectors',
        description: 'A running training job is cancelled first.',
        tags,
        params: NameParams,
        response: { 204: null, 404: ErrorBody },
      }),
    },
    async (request, reply) => {
      await service.remove(request.params.name);
      return reply.status(204).send();
    },
  );
}
