import { z } from 'zod';
import { CollectionName, LIMITS, Metric } from './common.js';

export const Quantizer = z
  .object({
    type: z.literal('pq').describe('Product quantization.'),
    m: z
      .int()
      .min(1)
      .max(LIMITS.maxDimension)
      .optional()
      .describe('Sub-quantizers = bytes of code per vector. Default: dimension / 8 rounded down, between 1 and 64. Need not divide the dimension.'),
    nbits: z.int().min(1).max(8).optional().describe('Bits per sub-quantizer code (2^nbits centroids each). Default 8.'),
  })
  .strict();

export const CreateCollectionBody = z
  .object({
    name: CollectionName,
    dimension: z.int().min(1).max(LIMITS.maxDimension).describe('Number of values in every vector.'),
    metric: Metric.default('l2'),
    quantizer: Quantizer.default({ type: 'pq' }),
  })
  .strict();

export const CollectionView = z.object({
  name: z.string(),
  dimension: z.int(),
  metric: Metric,
  quantizer: z.object({ type: z.literal('pq'), m: z.int(), nbits: z.int() }),
  createdAt: z.string(),
  count: z.int().describe('Vectors stored.'),
  trained: z.boolean().describe('Whether queries use the codes (true) or exact search (false).'),
  codecVersion: z.int().nullable().describe('Version of the active codebook; increases with every training.'),
  bytesPerVector: z.int().describe('Bytes of code per vector held in memory.'),
  relativeMse: z.number().nullable().describe('‖x − decode(encode(x))‖² / ‖x‖² over the stored vectors at the last training.'),
  trainedAt: z.string().nullable(),
  addedSinceTraining: z.int().describe('Vectors written since the active codebook was trained.'),
  trainingJob: z.string().nullable().describe('Id of the running training job, if any.'),
});

export const CollectionList = z.object({ collections: z.array(CollectionView) });
