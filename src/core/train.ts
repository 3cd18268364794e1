/**
 * The codec training pipeline: coarse quantizer (IVF) → rotation (OPQ) →
 * product quantizer, each step's heavy work done by a TrainCompute (inline on
 * the main thread in tests, the worker pool in the service). Pure: no I/O.
 *
 * With IVF the coarse k-means comes first and everything after it trains on the
 * residuals to the cell centroids. For OPQ a rotation is learned (on a
 * sub-sample, see trainRotation), the product quantizer trains on the rotated
 * data, and the coarse centroids are rotated too, so cells and codes live in one
 * space. Additive quantizers (rq: residual.ts, lsq: lsq.ts) take no rotation;
 * with IVF they train on the residuals as a product quantizer does.
 */
import { ADDITIVE_NBITS } from './additive.js';
import { type Codec, type QuantizerType, makeCodec } from './codec.js';
import { QuantizerInputError } from './errors.js';
import { trainLocalSearchQuantizer } from './lsq.js';
import { type LocalTrainOptions, trainLocalCodec } from './lopq.js';
import { trainResidualQuantizer } from './residual.js';
import { CoarseQuantizer } from './ivf.js';
import { PQGeometry, type PQTrainOptions, type PQTrainReport, trainProductQuantizer } from './pq.js';
import { type Rotation, type RotationTrainOptions, type RotationTrainReport, type TrainCompute, trainRotation } from './rotation.js';
import { DEFAULT_NBITS, TRAIN_PROGRESS } from '../tunables.js';

export interface CodecTrainConfig {
  type: QuantizerType;
  m: number;
  nbits?: number;
  /** IVF cells; absent or null: a flat codec. */
  nlist?: number | null;
  /** rq: the encoding beam (default RQ_DEFAULT_BEAM). */
  beam?: number;
  /** rq: keep each code's reconstruction norm, for L2 search. Default true. */
  norms?: boolean;
}

export interface CodecTrainOptions extends PQTrainOptions {
  rotation?: RotationTrainOptions;
  /** lopq: the cells' rotations. */
  local?: LocalTrainOptions;
  /** IVF: Lloyd iterations of the coarse k-means (at most). */
  coarseIterations?: number;
}

/** Trains a codec on n × d rows; onProgress(fraction) runs from 0 to 1. */
export async function trainCodec(
  data: Float32Array,
  n: number,
  d: number,
  config: CodecTrainConfig,
  options: CodecTrainOptions,
  compute: TrainCompute,
  onProgress?: (fraction: number) => void,
): Promise<{ codec: Codec; report: PQTrainReport; rotation: RotationTrainReport | null }> {
  if (config.type === 'rq' || config.type === 'lsq') {
    if ((config.nbits ?? ADDITIVE_NBITS) !== ADDITIVE_NBITS) throw new QuantizerInputError(`additive quantizers use ${ADDITIVE_NBITS}-bit codes`);
    const norm = config.norms ?? true;
    const sampling = { seed: options.seed, maxPointsPerCentroid: options.maxPointsPerCentroid };
    const { coarse, x, from, warnings } = await coarseStep(data, n, d, config.nlist, options, compute, onProgress);
    const scaled = (f: number): void => onProgress?.(from + (1 - from) * f);
    const { quantizer, report } =
      config.type === 'rq'
        ? await trainResidualQuantizer(
            x,
            n,
            d,
            { m: config.m, beam: config.beam, norm },
            { iterations: options.iterations, ...sampling },
            compute,
            scaled,
          )
        : await trainLocalSearchQuantizer(x, n, d, { m: config.m, norm }, { iterations: options.iterations, ...sampling }, compute, scaled);
    const pqReport: PQTrainReport = {
      nTrain: report.nTrain,
      trainMse: report.trainMse,
      iterations: [],
      distanceComputations: 0,
      warnings: [...warnings, ...report.warnings],
    };
    return { codec: makeCodec(quantizer, null, coarse), report: pqReport, rotation: null };
  }
  if (config.type === 'lopq') {
    if (!config.nlist) throw new QuantizerInputError('lopq needs IVF: its rotations are per cell');
    const { codec, report, rotation } = await trainLocalCodec(
      data,
      n,
      d,
      { m: config.m, nbits: config.nbits ?? DEFAULT_NBITS, nlist: config.nlist },
      options,
      compute,
      onProgress,
    );
    return { codec, report, rotation };
  }
  const geometry = new PQGeometry(d, config.m, config.nbits ?? DEFAULT_NBITS);
  const step = await coarseStep(data, n, d, config.nlist, options, compute, onProgress);
  let coarse = step.coarse;
  const { x, from, warnings: coarseWarnings } = step;
  const scaled = (f: number): void => onProgress?.(from + (1 - from) * f);
  let rotation: Rotation | null = null;
  let rotationReport: RotationTrainReport | null = null;
  let pqInput = x;
  let pqFrom = 0;
  if (config.type === 'opq') {
    const share = TRAIN_PROGRESS.rotationShare;
    ({ rotation, report: rotationReport } = await trainRotation(x, n, geometry, compute, { seed: options.seed, ...options.rotation }, (done, total) =>
      scaled((share * done) / total),
    ));
    pqInput = await compute.dotsF32(x, rotation.directions, n, d, d); // = rotation.apply
    pqFrom = share;
    if (coarse !== null)
      coarse = new CoarseQuantizer(coarse.nlist, d, await compute.dotsF32(coarse.centroids, rotation.directions, coarse.nlist, d, d));
  }
  const { pq, report } = await trainProductQuantizer(pqInput, n, d, config, options, compute, (done, total) =>
    scaled(pqFrom + ((1 - pqFrom) * done) / total),
  );
  report.warnings.unshift(...coarseWarnings);
  return { codec: makeCodec(pq, rotation, coarse), report, rotation: rotationReport };
}

/**
 * IVF's first step: with nlist, the coarse quantizer and the rows'
 * residuals to their cells (what the quantizer after it trains on), progress
 * up to TRAIN_PROGRESS.residualsDone; without, the rows themselves.
 */
async function coarseStep(
  data: Float32Array,
  n: number,
  d: number,
  nlist: number | null | undefined,
  options: CodecTrainOptions,
  compute: TrainCompute,
  onProgress?: (fraction: number) => void,
): Promise<{ coarse: CoarseQuantizer | null; x: Float32Array; from: number; warnings: string[] }> {
  if (!nlist) return { coarse: null, x: data, from: 0, warnings: [] };
  const trained = await compute.trainCoarse(data, n, d, nlist, { iterations: options.coarseIterations, seed: options.seed });
  const coarse = new CoarseQuantizer(nlist, d, trained.centroids);
  onProgress?.(TRAIN_PROGRESS.coarseTrained);
  const x = (await compute.residuals(coarse, data, n)).residuals;
  onProgress?.(TRAIN_PROGRESS.residualsDone);
  return { coarse, x, from: TRAIN_PROGRESS.residualsDone, warnings: trained.warnings };
}
