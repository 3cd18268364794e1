import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { ErrorBody, NameParams } from '../schemas/common.js';
import { QueryBody, QueryResponse } from '../schemas/query.js';
import { routeSchema } from '../zod.js';

export default async function queryRoutes(app: FastifyInstance): Promise<void> {
  const service = app.collections;

  app.post<{ Params: z.infer<typeof NameParams>; Body: z.infer<typeof QueryBody> }>(
    '/collections/:name/query',
    {
      schema: routeSchema({
        summary: 'Nearest neighbours',
        description:
          'Trained collections answer by asymmetric distance computation over the codes; untrained ones by exact search over the stored vectors.',
        tags: ['search'],
        params: NameParams,
        body: QueryBody,
        response: { 200: QueryResponse, 400: ErrorBody, 404: ErrorBody },
      }),
    },
    async (request) => {
      const { vector, vectors, k } = request.body;
      const results = await service.query(request.params.name, vectors ?? [vector!], k);
      return { results: vectors === undefined ? results[0] : results };
    },
  );
}
