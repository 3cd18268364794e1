import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { ErrorBody, NameParams } from '../schemas/common.js';
import { EvaluateBody, EvaluateReport } from '../schemas/evaluate.js';
import { QueryBody, QueryResponse } from '../schemas/query.js';
import { routeSchema } from '../zod.js';

export default async function queryRoutes(app: FastifyInstance): Promise<void> {
  const service = app.collections;

  app.post<{ Params: z.infer<typeof NameParams>; Body: z.infer<typeof QueryBody> }>(
    '/collections/:name/query',
    {
      schema: routeSchema({
        operationId: 'queryCollection',
        summary: 'Nearest neighbours',
        description:
          'Trained collections answer by asymmetric distance computation (ADC) over the codes in memory (IVF ' +
          'collections visit only the nprobe nearest cells), then re-rank the best k × rerank candidates by ' +
          'exact distance; untrained ones by exact search over the stored vectors. A metadata filter is ' +
          'applied during the scan.',
        tags: ['search'],
        params: NameParams,
        body: QueryBody,
        response: { 200: QueryResponse, 400: ErrorBody, 404: ErrorBody, 422: ErrorBody },
      }),
    },
    async (request) => {
      const { vector, vectors, k, rerank, nprobe, filter } = request.body;
      const results = await service.query(request.params.name, vectors ?? [vector!], { k, rerank, nprobe, filter, signal: request.deadline });
      return { results: vectors === undefined ? results[0] : results };
    },
  );

  app.post<{ Params: z.infer<typeof NameParams>; Body: z.infer<typeof EvaluateBody> }>(
    '/collections/:name/evaluate',
    {
      schema: routeSchema({
        operationId: 'evaluateCollection',
        summary: 'Measure search quality',
        description:
          "Runs exact search and the index's search for sample queries drawn from the stored vectors (or given ones) " +
          "and reports recall@1, k-recall@k, the codec's relative MSE and ms per query.",
        tags: ['search'],
        params: NameParams,
        body: EvaluateBody,
        response: { 200: EvaluateReport, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody },
      }),
    },
    async (request) => service.evaluate(request.params.name, { ...request.body, signal: request.deadline }),
  );
}
