import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { error, json, guarded, noContent } from '../responses.js';
import { CollectionList, CollectionView, CreateCollectionBody, UpdateCollectionBody } from '../schemas/collections.js';
import { NameParams } from '../schemas/common.js';

const tags = ['collections'];
const notFound = error('No such collection (collection_not_found).');

const collectionRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.collections;

  app.post(
    '/collections',
    {
      schema: {
        operationId: 'createCollection',
        summary: 'Create a collection',
        description: 'An empty collection: it answers queries by exact search until it is trained.',
        tags,
        body: CreateCollectionBody,
        response: guarded({
          201: json(CollectionView, 'The new collection.'),
          400: error(
            'Invalid body (validation_error, e.g. m above the dimension) or a limit exceeded (limit_exceeded: MAX_DIMENSION, MAX_OPQ_DIMENSION).',
          ),
          409: error('A collection of that name exists (collection_exists).'),
          422: error('MAX_COLLECTIONS collections exist already (limit_exceeded).'),
        }),
      },
    },
    async (request, reply) => reply.status(201).send(service.create(request.body)),
  );

  app.get(
    '/collections',
    {
      schema: {
        operationId: 'listCollections',
        summary: 'List collections',
        description: 'Every collection with its statistics, as GET /collections/{name} shows them.',
        tags,
        response: guarded({ 200: json(CollectionList, 'Every collection.') }),
      },
    },
    async () => ({ collections: service.list() }),
  );

  app.get(
    '/collections/:name',
    {
      schema: {
        operationId: 'getCollection',
        summary: 'A collection and its statistics',
        description: 'Settings, vector count, training state and the running training job, if any.',
        tags,
        params: NameParams,
        response: guarded({ 200: json(CollectionView, 'The collection.'), 404: notFound }),
      },
    },
    async (request) => service.get(request.params.name),
  );

  app.patch(
    '/collections/:name',
    {
      schema: {
        operationId: 'updateCollection',
        summary: "Change a collection's automatic training or indexed fields",
        description:
          'Settings left out stay. Training starts at once if the new automatic training settings say it is due. ' +
          'New indexed fields are built from the stored metadata before the response (writes and queries go on meanwhile); ' +
          'fields no longer listed lose their index.',
        tags,
        params: NameParams,
        body: UpdateCollectionBody,
        response: guarded({
          200: json(CollectionView, 'The collection with its new settings.'),
          400: error('Invalid body (validation_error).'),
          404: notFound,
        }),
      },
    },
    async (request) => service.update(request.params.name, request.body),
  );

  app.delete(
    '/collections/:name',
    {
      schema: {
        operationId: 'deleteCollection',
        summary: 'Delete a collection with all its vectors',
        description: 'A running training job is cancelled first.',
        tags,
        params: NameParams,
        response: guarded({ 204: noContent, 404: notFound }),
      },
    },
    async (request, reply) => {
      await service.remove(request.params.name);
      return reply.status(204).send();
    },
  );
};

export default collectionRoutes;
