import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { error, json, guarded } from '../responses.js';
import { NameParams } from '../schemas/common.js';
import { EvaluateBody, EvaluateReport } from '../schemas/evaluate.js';
import { QueryBody, QueryResponse } from '../schemas/query.js';

const tags = ['search'];
const notFound = error('No such collection (collection_not_found).');
const badSearch = error(
  'Invalid body (validation_error: a wrong dimension, a value out of range) or a limit exceeded (limit_exceeded: ' +
    'MAX_QUERIES_PER_REQUEST, MAX_K, MAX_RERANK).',
);
const tooMuchWork = error(
  'The request asks for more work than the service allows (limit_exceeded: MAX_CANDIDATES, MAX_EXACT_WORK), or asks for a ' +
    'targetRecall the collection has no calibration for (not_calibrated).',
);

const queryRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.collections;

  app.post(
    '/collections/:name/query',
    {
      schema: {
        operationId: 'queryCollection',
        summary: 'Nearest neighbours',
        description:
          'Trained collections answer by asymmetric distance computation (ADC) over the codes in memory (IVF ' +
          'collections visit only the nprobe nearest cells), then re-rank the best k × rerank candidates by ' +
          'exact distance; untrained ones by exact search over the stored vectors. A metadata filter is ' +
          'applied during the scan.',
        tags,
        params: NameParams,
        body: QueryBody,
        response: guarded({ 200: json(QueryResponse, 'The nearest neighbours of each query.'), 400: badSearch, 404: notFound, 422: tooMuchWork }),
      },
    },
    async (request) => {
      const { vector, vectors, k, rerank, nprobe, targetRecall, filter, explain } = request.body;
      // The schema admits exactly one of the two.
      const answer = await service.query(request.params.name, vectors ?? [vector!], {
        k,
        rerank,
        nprobe,
        targetRecall,
        filter,
        signal: request.deadline,
      });
      return {
        results: vectors === undefined ? answer.results[0] : answer.results,
        ...(answer.warnings.length > 0 && { warnings: answer.warnings }),
        ...(explain && { explain: answer.explain }),
      };
    },
  );

  app.post(
    '/collections/:name/evaluate',
    {
      schema: {
        operationId: 'evaluateCollection',
        summary: 'Measure search quality',
        description:
          "Runs exact search and the index's search for sample queries drawn from the stored vectors (or given ones) " +
          "and reports recall@1, k-recall@k, the codec's relative MSE and ms per query.",
        tags,
        params: NameParams,
        body: EvaluateBody,
        response: guarded({
          200: json(EvaluateReport, 'Recall, error and speed of the index against exact search.'),
          400: badSearch,
          404: notFound,
          409: error('The collection is not trained: there is no index to evaluate (not_trained).'),
          422: error(
            'Fewer than 2 vectors to draw queries from (insufficient_data), or more work than allowed (limit_exceeded: MAX_CANDIDATES, MAX_EXACT_WORK).',
          ),
        }),
      },
    },
    async (request) => service.evaluate(request.params.name, { ...request.body, signal: request.deadline }),
  );
};

export default queryRoutes;
