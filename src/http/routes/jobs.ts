import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { ErrorBody, NameParams } from '../schemas/common.js';
import { JobAccepted, JobList, JobParams, JobView, TrainBody } from '../schemas/jobs.js';
import { routeSchema } from '../zod.js';

const tags = ['training'];

export default async function jobRoutes(app: FastifyInstance): Promise<void> {
  const service = app.collections;

  app.post<{ Params: z.infer<typeof NameParams>; Body: z.infer<typeof TrainBody> }>(
    '/collections/:name/train',
    {
      schema: routeSchema({
        operationId: 'trainCollection',
        summary: 'Train (or retrain) the codebook',
        description:
          'Starts a background job; poll it at /collections/{name}/jobs/{id}. Queries and writes keep being ' +
          'served on the current codebook until the new one is ready; then every vector is encoded with it and ' +
          'the collection switches atomically.',
        tags,
        params: NameParams,
        body: TrainBody,
        response: { 202: JobAccepted, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, 429: ErrorBody },
      }),
    },
    async (request, reply) => reply.status(202).send({ job: service.train(request.params.name, request.body ?? {}) }),
  );

  app.get<{ Params: z.infer<typeof JobParams> }>(
    '/collections/:name/jobs/:id',
    {
      schema: routeSchema({
        operationId: 'getJob',
        summary: 'A job: state, phase, progress, result',
        tags,
        params: JobParams,
        response: { 200: JobView, 404: ErrorBody },
      }),
    },
    async (request) => service.job(request.params.name, request.params.id),
  );

  app.get<{ Params: z.infer<typeof NameParams> }>(
    '/collections/:name/jobs',
    {
      schema: routeSchema({
        operationId: 'listJobs',
        summary: 'Recent jobs of a collection, newest first',
        tags,
        params: NameParams,
        response: { 200: JobList, 404: ErrorBody },
      }),
    },
    async (request) => ({ jobs: service.jobs(request.params.name) }),
  );
}
