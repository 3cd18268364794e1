import { z } from 'zod';
import {
  COARSE_ITERATIONS,
  KMEANS_DEFAULTS,
  LSQ_DEFAULTS,
  ROTATION_DEFAULTS,
  RQ_KMEANS_ITERATIONS,
  WIDE_ROTATION_DEFAULTS,
  WIDE_SUBSPACE,
} from '../../tunables.js';
import { NameParams } from './common.js';

export const TrainBody = z
  .object({
    sampleSize: z
      .int()
      // 2 = 2^nbits at the smallest nbits: the service refuses less than one vector per centroid (and per IVF cell).
      .min(2)
      .optional()
      .describe(
        'Vectors to train on (a seeded random sample): at least 2^nbits (one per centroid) and, with IVF, at least nlist. ' +
          `Default and maximum: ${KMEANS_DEFAULTS.maxPointsPerCentroid} × 2^nbits (${KMEANS_DEFAULTS.maxPointsPerCentroid} × max(2^nbits, nlist) with IVF), lowered to fit MAX_TRAINING_SAMPLE_MB.`,
      ),
    iterations: z
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe(
        `k-means iterations per sub-quantizer (at most; stops early on convergence). Default ${KMEANS_DEFAULTS.maxIterations}; rq: per codebook, default ${RQ_KMEANS_ITERATIONS}; lsq: rounds of codebook update and re-encoding, default ${LSQ_DEFAULTS.iterations}.`,
      ),
    opqIterations: z
      .int()
      .min(0)
      .max(200)
      .optional()
      .describe(
        `OPQ only: rotation updates after the start rotation, on a sample of ${ROTATION_DEFAULTS.sampleSize.toLocaleString('en-US')} vectors. Default ${ROTATION_DEFAULTS.iterations}; with ` +
          `sub-spaces wider than ${WIDE_SUBSPACE} dimensions (e.g. m = 8 at dimension 784) ${WIDE_ROTATION_DEFAULTS.iterations} cheaper one-Lloyd-step updates ` +
          `on ${WIDE_ROTATION_DEFAULTS.sampleSize.toLocaleString('en-US')} vectors.`,
      ),
    coarseIterations: z
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe(`IVF only: k-means iterations of the coarse quantizer (at most; stops early on convergence). Default ${COARSE_ITERATIONS}.`),
    seed: z
      .int()
      .min(0)
      .max(4294967295)
      .optional()
      .describe(`Seed for sampling and k-means. Default ${KMEANS_DEFAULTS.seed}: the same data and seed give the same codebook.`),
  })
  .strict()
  .nullish()
  .describe('Optional: an empty body trains with the defaults.')
  .meta({ example: { iterations: 25, seed: 1234 } });

// No example: job ids are made by the service (POST …/train returns one).
export const JobParams = NameParams.extend({
  id: z.string().min(1).max(64).describe('A job id, as POST /collections/{name}/train returned it or GET /collections/{name}/jobs lists it.'),
});

export const JobView = z
  .object({
    id: z.string(),
    collection: z.string(),
    kind: z.literal('train'),
    state: z.enum(['queued', 'running', 'succeeded', 'failed']),
    phase: z.string().describe('reading → training → encoding → switching → done.'),
    progress: z.number().min(0).max(1),
    params: z.record(z.string(), z.unknown()).describe('The request\'s parameters, and trigger: "request" or "auto" (autoTrain).'),
    result: z
      .object({
        codecVersion: z.int(),
        relativeMse: z.number(),
        trainVectors: z.int(),
        encodedVectors: z.int(),
        seconds: z.number(),
        phaseSeconds: z.record(z.string(), z.number()).describe('Seconds spent in each phase.'),
        peakRssBytes: z
          .int()
          .optional()
          .describe(
            "The process's peak resident memory when the job ended (worker threads included): an upper bound on what the training needed, " +
              'since it counts the most the process held at any moment since it started, file pages (the mapped database) included. Absent from jobs of versions before it was recorded.',
          ),
        peakAnonymousBytes: z
          .int()
          .optional()
          .describe(
            'The most anonymous and shared resident memory of the process (its heaps, buffers and codes, not the file pages of the mapped database) ' +
              'sampled during the job at its progress updates (about twice a second): closer to what the training held than peakRssBytes. Linux only; absent elsewhere.',
          ),
        warnings: z.array(z.string()),
      })
      .nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'JobView' });

export const JobAccepted = z.object({ job: JobView });
export const JobList = z.object({ jobs: z.array(JobView) });
