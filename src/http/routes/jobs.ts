import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { error, json, guarded } from '../responses.js';
import { NameParams } from '../schemas/common.js';
import { JobAccepted, JobList, JobParams, JobView, TrainBody } from '../schemas/jobs.js';

const tags = ['training'];

const jobRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.collections;

  app.post(
    '/collections/:name/train',
    {
      schema: {
        operationId: 'trainCollection',
        summary: 'Train (or retrain) the codebook',
        description:
          'Starts a background job; poll it at /collections/{name}/jobs/{id}. Queries and writes keep being ' +
          'served on the current codebook until the new one is ready; then every vector is encoded with it and ' +
          'the collection switches atomically.',
        tags,
        params: NameParams,
        body: TrainBody,
        response: guarded({
          202: json(JobAccepted, 'The job, queued or running.'),
          400: error('Invalid body (validation_error), e.g. a sampleSize below 2^nbits.'),
          404: error('No such collection (collection_not_found).'),
          409: error('The collection is training already (training_in_progress; details.job names the job).'),
          422: error(
            'Too few vectors for 2^nbits centroids or nlist cells (insufficient_data), or the smallest sample exceeds MAX_TRAINING_SAMPLE_MB (limit_exceeded).',
          ),
          429: error('MAX_TRAINING_JOBS jobs are running (limit_exceeded); see Retry-After.'),
        }),
      },
    },
    async (request, reply) => reply.status(202).send({ job: service.train(request.params.name, request.body ?? {}) }),
  );

  app.get(
    '/collections/:name/jobs/:id',
    {
      schema: {
        operationId: 'getJob',
        summary: 'A job: state, phase, progress, result',
        description: 'Poll it until state is succeeded (result: the new codebook version, its relative MSE, timings) or failed (error).',
        tags,
        params: JobParams,
        response: guarded({ 200: json(JobView, 'The job.'), 404: error('No such collection (collection_not_found) or job (job_not_found).') }),
      },
    },
    async (request) => service.job(request.params.name, request.params.id),
  );

  app.get(
    '/collections/:name/jobs',
    {
      schema: {
        operationId: 'listJobs',
        summary: 'Recent jobs of a collection, newest first',
        description: 'The last 50 training jobs, requested and automatic.',
        tags,
        params: NameParams,
        response: guarded({ 200: json(JobList, 'The jobs, newest first.'), 404: error('No such collection (collection_not_found).') }),
      },
    },
    async (request) => ({ jobs: service.jobs(request.params.name) }),
  );
};

export default jobRoutes;
