import { z } from 'zod';
import { CollectionName, Metric } from './common.js';
import { DEFAULT_MAX_OPQ_DIMENSION } from '../../config.js';
import { PACKED_NBITS } from '../../core/code-layout.js';
import { QUANTIZER_TYPES } from '../../core/codec.js';
import {
  ADDITIVE_LIMITS,
  AUTO,
  CALIBRATION_MARGIN,
  CALIBRATION_QUERIES,
  DEFAULT_NBITS,
  DEFAULT_RECALIBRATE_GROWTH,
  HARD_LIMITS,
  KMEANS_DEFAULTS,
  LOPQ_DEFAULTS,
  LSQ_DEFAULTS,
  RQ_DEFAULT_BEAM,
} from '../../tunables.js';

export const Quantizer = z
  .object({
    type: z
      .enum(QUANTIZER_TYPES)
      .describe(
        'pq: product quantization. opq: a learned rotation (optimized PQ) before it: lower error for correlated data, slower ' +
          `training; only for dimensions up to MAX_OPQ_DIMENSION (default ${DEFAULT_MAX_OPQ_DIMENSION}). ` +
          'rq: residual quantization, m codebooks of 256 codewords spanning every dimension, each coding what the earlier ones left: ' +
          'lower error than pq/opq at the same bytes, slower training and encoding; codes are m bytes plus, for the l2 metric, ' +
          'one byte of the reconstruction norm (so m = 7 costs 8 bytes); with ivf they code the residual to the cell centroid. nbits 8. ' +
          `lsq: the same codes, codebooks trained jointly by local search (LSQ++): lower error than rq, the costliest training and encoding; at most ${LSQ_DEFAULTS.maxCodebooks} codebooks. ` +
          'lopq: IVF whose cells each learn their own rotation (locally optimized PQ) in front of one shared product quantizer: ' +
          'higher recall than opq with ivf at the same code size; needs ivf, training costs a d × d eigendecomposition per cell and ' +
          `queries a d × d rotation per visited cell; the rotations hold up to ${LOPQ_DEFAULTS.maxRotationBytes / 2 ** 20} MiB (4 d² bytes per cell, the smallest cells share the global rotation past that). Same dimension limit as opq.`,
      ),
    m: z
      .int()
      .min(1)
      .max(HARD_LIMITS.maxDimension)
      .optional()
      .describe(
        `Sub-quantizers = bytes of code per vector (half that with nbits 4), at most the dimension. Default: dimension / ${AUTO.dimensionsPerCodeByte} rounded down, between 1 and ${AUTO.maxDefaultM}. ` +
          'Need not divide the dimension.',
      ),
    nbits: z
      .int()
      .min(1)
      .max(HARD_LIMITS.maxNbits)
      .optional()
      .describe(
        `Bits per sub-quantizer code (2^nbits centroids each). Default ${DEFAULT_NBITS}; when left out, training on fewer ` +
          `than ${2 ** DEFAULT_NBITS} vectors lowers it instead of refusing. With ${PACKED_NBITS} two codes share a byte ` +
          '(⌈m/2⌉ bytes per vector: twice the sub-quantizers for the same memory) and flat collections are searched by the ' +
          '4-bit fast scan (SIMD look-ups in 16-entry tables; the results are exactly those of plain ADC).',
      ),
    beam: z
      .int()
      .min(1)
      .max(ADDITIVE_LIMITS.maxBeam)
      .optional()
      .describe(
        `rq only: partial codes kept per codebook when encoding (1 = greedy, each codebook its nearest codeword). Default ${RQ_DEFAULT_BEAM}; ` +
          'wider lowers the error, encoding costs grow with it.',
      ),
    ivf: z
      .object({
        nlist: z
          .int()
          .min(1)
          .max(HARD_LIMITS.maxNlist)
          .optional()
          .describe(
            'Cells of the coarse quantizer. Default: chosen at each training from the vector count n, the power ' +
              `of two at or below ${AUTO.cellsPerSqrtN}·√n, with at least ${KMEANS_DEFAULTS.minPointsPerCentroid} vectors per cell, at most ${AUTO.maxAutoNlist} (training time) — 512 for 60,000 vectors, ${AUTO.maxAutoNlist} from 262,144 on.`,
          ),
      })
      .strict()
      .optional()
      .describe(
        'Inverted file (IVFADC): vectors are grouped into nlist cells by a coarse k-means, each stored as ' +
          'the code (pq, opq, rq, lsq; lopq rotates it per cell first) of its residual to the cell centroid; a query scans only the nprobe nearest cells. ' +
          'Costs 4 bytes per vector more in memory (its row number) and 2 more in storage (its cell id); lowers the ' +
          'error of the same code bytes.',
      ),
  })
  .strict();

export const AutoTrain = z
  .object({
    minVectors: z.int().min(2).describe('Train automatically once the collection holds this many vectors (at least 2^nbits when nbits is set).'),
    retrainAfterGrowth: z
      .number()
      .min(1.01)
      .max(1000)
      .optional()
      .describe('Retrain automatically once the collection has grown to this factor × the vectors it held at the last training (e.g. 2).'),
  })
  .strict()
  .describe('Automatic (re)training. Queries and writes keep being served by the previous codec while a new one trains.');

export const TargetRecall = z
  .object({
    recall: z.number().gt(0).lt(1).describe('The k-recall@k queries should reach by default (e.g. 0.95).'),
    k: z.int().min(1).max(HARD_LIMITS.maxK).default(10).describe('The k of k-recall@k. Default 10.'),
    recalibrateAfterGrowth: z
      .number()
      .min(1.01)
      .max(1000)
      .optional()
      .describe(
        `Calibrate again once the collection has grown to this factor × the vectors at the last calibration. Default ${DEFAULT_RECALIBRATE_GROWTH}.`,
      ),
  })
  .strict()
  .describe(
    'Ask for a recall instead of choosing rerank / nprobe: after each training (and after growth) the service measures recall and time over a grid of ' +
      `rerank (and nprobe for IVF) on ${CALIBRATION_QUERIES} stored vectors used as queries, against exact search, in the background, and makes the cheapest ` +
      `setting that reaches recall + ${CALIBRATION_MARGIN} the query default (see calibration in the collection). null removes it.`,
  );

export const IndexedFields = z
  .array(z.string().min(1).max(4096))
  .max(HARD_LIMITS.maxIndexedFields)
  .describe(
    `Metadata fields (dotted paths, as filters name them: "label", "author.country") whose values the service indexes in memory, at most ${HARD_LIMITS.maxIndexedFields}. ` +
      'A filter whose conditions are all on indexed fields gets its matches from the indexes without reading any metadata; ' +
      'with some, only the rows those conditions let through have their metadata read. Results are the same either way. ' +
      'Indexes are kept up to date on every write and rebuilt at start-up; each costs 12 bytes per number held (an array holds several), more per string (its characters), 4 per row holding a value.',
  );

export const CreateCollectionBody = z
  .object({
    name: CollectionName,
    dimension: z
      .int()
      .min(1)
      .max(HARD_LIMITS.maxDimension)
      .describe(`Number of values in every vector, at most MAX_DIMENSION (default ${HARD_LIMITS.maxDimension}).`),
    metric: Metric.default('l2'),
    quantizer: Quantizer.default({ type: 'pq' }),
    autoTrain: AutoTrain.nullable().optional(),
    indexedFields: IndexedFields.optional(),
    targetRecall: TargetRecall.nullable().optional(),
  })
  .strict()
  // The examples of the request bodies make a working session, in the order of the README's walkthrough.
  .meta({ example: { name: 'demo', dimension: 8, metric: 'l2', quantizer: { type: 'pq', m: 4 }, indexedFields: ['genre'] } });

export const UpdateCollectionBody = z
  .object({
    autoTrain: AutoTrain.nullable().optional().describe('New automatic training settings; null turns it off.'),
    indexedFields: IndexedFields.optional().describe(
      'The new list of indexed fields (see CreateCollectionBody): new ones are built before the response, ones left out are dropped.',
    ),
    targetRecall: TargetRecall.nullable().optional(),
  })
  .strict()
  .refine((b) => b.autoTrain !== undefined || b.indexedFields !== undefined || b.targetRecall !== undefined, {
    message: 'name autoTrain, indexedFields, targetRecall or several',
  })
  .meta({ example: { autoTrain: { minVectors: 1000, retrainAfterGrowth: 2 }, indexedFields: ['genre', 'year'] } });

const MeasuredSetting = z.object({
  rerank: z.int(),
  nprobe: z.int().nullable().describe('null for a flat index.'),
  recall: z.number().describe('k-recall@k measured on the calibration queries.'),
  msPerQuery: z.number().describe("Wall time per query of the measured searches (run behind requests' work, so an upper bound under load)."),
});

const CalibrationView = z.object({
  state: z.enum(['running', 'succeeded', 'failed']),
  progress: z.number().describe('Fraction of the grid measured.'),
  target: z.object({ recall: z.number(), k: z.int() }),
  codecVersion: z.int().describe('The codebook measured: its chosen setting is the query default while that codebook is active.'),
  vectors: z.int().describe('Vectors when it started.'),
  queries: z.int().describe('Stored vectors used as queries (each left out of its own results).'),
  required: z.number().describe(`The recall a setting had to reach: target + ${CALIBRATION_MARGIN}.`),
  met: z.boolean().nullable().describe('Whether some setting reached it; false: chosen is the closest. null while running.'),
  chosen: MeasuredSetting.nullable().describe('The cheapest setting that reached the target (else the closest): the query default.'),
  baseline: MeasuredSetting.nullable().describe("The service's default setting (rerank 4, default nprobe), measured the same way, for comparison."),
  grid: z.array(MeasuredSetting).describe('Every setting measured, in order (per nprobe, rerank up to the first that reached the target).'),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  error: z.string().nullable(),
});

export const CollectionView = z
  .object({
    name: z.string(),
    dimension: z.int(),
    metric: Metric,
    quantizer: z.object({
      type: z.enum(QUANTIZER_TYPES),
      m: z.int(),
      nbits: z.int(),
      beam: z.int().optional().describe('rq: the encoding beam, when set.'),
      autoNbits: z.boolean().optional().describe('nbits was left to the service.'),
      ivf: z.object({ nlist: z.int().nullable().describe('null: chosen at training from the vector count.') }).optional(),
    }),
    createdAt: z.string(),
    count: z.int().describe('Vectors stored.'),
    trained: z.boolean().describe('Whether queries use the codes (true) or exact search (false).'),
    codecVersion: z.int().nullable().describe('Version of the active codebook; increases with every training.'),
    bytesPerVector: z
      .int()
      .describe(
        'Bytes per vector held in memory for search: the code (m bytes, or ⌈m/2⌉ with nbits 4: two codes per byte; rq: m bytes plus the norm byte with the l2 metric), plus a 4-byte row number in the inverted lists with IVF.',
      ),
    trainedNbits: z.int().nullable().describe('Bits per code of the active codebook (lower than quantizer.nbits if training lowered it).'),
    trainedNlist: z.int().nullable().describe('IVF cells of the active codebook; null for a flat index or while untrained.'),
    autoTrain: AutoTrain.nullable(),
    relativeMse: z.number().nullable().describe('‖x − decode(encode(x))‖² / ‖x‖² over the stored vectors at the last training.'),
    trainedAt: z.string().nullable(),
    addedSinceTraining: z.int().describe('Vectors written since the active codebook was trained.'),
    vectorsAtTraining: z.int().nullable().describe('Vectors the collection held when the active codebook was switched in.'),
    trainingJob: z.string().nullable().describe('Id of the running training job, if any.'),
    indexedFields: z.array(z.string()).describe('Metadata fields with a value index (see CreateCollectionBody).'),
    targetRecall: z.object({ recall: z.number(), k: z.int(), recalibrateAfterGrowth: z.number().optional() }).nullable(),
    calibration: CalibrationView.nullable().describe('The last calibration for targetRecall, or null.'),
  })
  .meta({ id: 'CollectionView' });

export const CollectionList = z.object({ collections: z.array(CollectionView) });
