/**
 * Locally optimised product quantization (LOPQ: Kalantidis & Avrithis, 2014):
 * IVF whose cells each decorrelate their own residuals. A cell's residual
 * x − c_l is rotated by that cell's rotation R_l before the (one, shared)
 * product quantizer codes it, so each region of the space gets the rotation
 * that suits its residuals instead of one rotation for all (IVF + OPQ).
 *
 * Training (trainLocalCodec)
 * 1. The coarse quantizer and residuals, as IVF.
 * 2. The global rotation: OPQ trained on all residuals (what IVF + OPQ uses);
 *    cells with fewer than LOPQ_DEFAULTS.minCellRows rows, and those past the
 *    memory budget (smallest first), keep it.
 * 3. Each other cell: the parametric OPQ solution (PCA + eigenvalue
 *    allocation) of its residuals' covariance, shrunk toward the global
 *    residual covariance by LOPQ_DEFAULTS.shrinkageRows pseudo-rows, since a
 *    cell holds far fewer rows than the d² entries a covariance has.
 * 4. One product quantizer trained on every cell's rotated residuals.
 * 5. `iterations` non-parametric updates per cell: encode the cell's rotated
 *    residuals with the shared quantizer, solve Procrustes for the rotation
 *    that maps them nearest to their reconstructions (pulled toward the current
 *    rotation with the same pseudo-row weight), then retrain the shared
 *    quantizer warm-started on the newly rotated residuals.
 *
 * Shared or per-cell codebooks: per-cell codebooks need ksub × (tens of) rows
 * per cell for their k-means (10,000 at ksub 256), i.e. millions of vectors at
 * nlist 256, and hold nlist times the codebook memory; one shared codebook
 * trains on every cell's rows. pqvec shares it.
 *
 * Search: a visited cell's table is the PQ table of the query's residual in
 * that cell's rotated space, R_l q − R_l c_l (L2), or of R_l q plus the coarse
 * term −⟨q, c_l⟩ (inner product): d² multiply-adds per visited cell to rotate
 * the query (once per query for the cells on the global rotation).
 */
import { type Codec, IVFCodec } from './codec.js';
import { QuantizerInputError } from './errors.js';
import { CoarseQuantizer, IVFSearcher } from './ivf.js';
import { gatherRows } from './kmeans.js';
import { covariance, orthogonalityError, transpose } from './linalg.js';
import { PQGeometry, type PQTrainOptions, type PQTrainReport, ProductQuantizer, trainProductQuantizer } from './pq.js';
import { Rng, sampleIndices } from './rng.js';
import {
  type RotationTrainOptions,
  type RotationTrainReport,
  type TrainCompute,
  allocatedRotation,
  crossWithReconstruction,
  encodeRowsWithError,
  inlineCompute,
  procrustesDirections,
  trainRotation,
} from './rotation.js';
import { ResidentMatrices, dotsF32 } from './wasm/kernels.js';
import { LOPQ_DEFAULTS, ROTATION_DEFAULTS, TRAIN_PROGRESS } from '../tunables.js';

/** The rotations of an LOPQ codec's cells. */
export class LocalRotations {
  /** nlist × d: each cell's centroid in its cell's rotated space (R_l c_l). */
  readonly rotatedCentroids: Float32Array;
  private packed: ResidentMatrices | null = null;

  constructor(
    readonly coarse: CoarseQuantizer,
    /**
     * count × d × d: the distinct rotations, each in the Rotation.directions layout
     * (row b gives output coordinate b). Matrix 0 is the global rotation.
     */
    readonly matrices: Float32Array,
    /** nlist entries: the index of each cell's matrix. */
    readonly cellMatrix: Int32Array,
  ) {
    const { d, nlist } = coarse;
    if (matrices.length === 0 || matrices.length % (d * d) !== 0)
      throw new QuantizerInputError(`${matrices.length} rotation values are not a whole number of ${d} × ${d} matrices`);
    if (cellMatrix.length !== nlist) throw new QuantizerInputError(`${cellMatrix.length} cell rotations for ${nlist} cells`);
    for (const r of cellMatrix) if (r < 0 || r >= this.count) throw new QuantizerInputError(`a cell names rotation ${r} of ${this.count}`);
    // One product per rotation over its cells' centroids (each product packs its matrix once).
    const cells = Int32Array.from({ length: nlist }, (_, l) => l);
    this.rotatedCentroids = this.byMatrix(
      coarse.centroids,
      nlist,
      cells,
      (r) => this.directions(r),
      new Float32Array(nlist * d),
      1,
      new Float32Array(nlist * d),
    );
  }

  get d(): number {
    return this.coarse.d;
  }
  /** Distinct rotations (the global one included). */
  get count(): number {
    return this.matrices.length / (this.d * this.d);
  }

  /** Matrix r's directions (d × d view). */
  directions(r: number): Float32Array {
    const dd = this.d * this.d;
    return this.matrices.subarray(r * dd, (r + 1) * dd);
  }

  /** The rows of each matrix (row numbers of lists, grouped): rows[starts[r] .. starts[r + 1]). */
  rowsByMatrix(n: number, lists: ArrayLike<number>): { rows: Int32Array; starts: Int32Array } {
    const starts = new Int32Array(this.count + 1);
    for (let i = 0; i < n; i++) starts[this.cellMatrix[lists[i]] + 1]++;
    for (let r = 0; r < this.count; r++) starts[r + 1] += starts[r];
    const fill = starts.slice(0, this.count);
    const rows = new Int32Array(n);
    for (let i = 0; i < n; i++) rows[fill[this.cellMatrix[lists[i]]]++] = i;
    return { rows, starts };
  }

  /** out_i = R_l x_i − R_l c_l for rows [0, n) of x in cells lists[i]: the residuals the product quantizer codes. */
  residuals(x: Float32Array, n: number, lists: ArrayLike<number>, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    return this.byMatrix(x, n, lists, (r) => this.directions(r), this.rotatedCentroids, -1, out);
  }

  /** out_i = R_lᵀ y_i + c_l: the reverse of residuals. */
  reconstruct(y: Float32Array, n: number, lists: ArrayLike<number>, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    return this.byMatrix(y, n, lists, (r) => transpose(this.directions(r), this.d, this.d), this.coarse.centroids, 1, out);
  }

  /** out_i = x_i · B(r)ᵀ + sign · shift[l] for row i in cell l of matrix r: the rows of one matrix in one product. */
  private byMatrix(
    x: Float32Array,
    n: number,
    lists: ArrayLike<number>,
    B: (r: number) => Float32Array,
    shift: Float32Array,
    sign: 1 | -1,
    out: Float32Array,
  ): Float32Array {
    const { d } = this;
    const { rows, starts } = this.rowsByMatrix(n, lists);
    for (let r = 0; r < this.count; r++) {
      const group = rows.subarray(starts[r], starts[r + 1]);
      if (group.length === 0) continue;
      const product = new Float32Array(group.length * d);
      dotsF32(gatherRows(x, d, group), 0, B(r), 0, group.length, d, d, product);
      for (let g = 0; g < group.length; g++) {
        const i = group[g];
        const co = lists[i] * d;
        for (let t = 0; t < d; t++) out[i * d + t] = product[g * d + t] + sign * shift[co + t];
      }
    }
    return out;
  }

  /**
   * The matrices packed for the query kernel (wasm/kernels.ResidentMatrices),
   * built on a thread's first search: as much memory again as `matrices`.
   */
  resident(): ResidentMatrices {
    this.packed ??= new ResidentMatrices(this.matrices, this.count, this.d, this.d);
    return this.packed;
  }

  /** max |RᵀR − I| over the matrices. */
  orthogonalityError(): number {
    let worst = 0;
    for (let r = 0; r < this.count; r++) worst = Math.max(worst, orthogonalityError(this.directions(r), this.d));
    return worst;
  }
}

/** IVF with one rotation per cell in front of a shared product quantizer. Code layout as IVFCodec's. */
export class LocalIVFCodec extends IVFCodec<ProductQuantizer> {
  constructor(
    pq: ProductQuantizer,
    readonly local: LocalRotations,
  ) {
    super(pq, null, local.coarse);
    if (local.d !== pq.d) throw new QuantizerInputError(`${local.d}-d cell rotations with a ${pq.d}-d product quantizer`);
  }

  override get type(): 'lopq' {
    return 'lopq';
  }
  /** The query rotated by the cell's rotation (d²) and its distance table (ksub · d). */
  override get cellWork(): number {
    return this.d * this.d + this.ksub * this.d;
  }

  override encode(data: Float32Array, n: number, out: Uint8Array = new Uint8Array(n * this.codeSize)): Uint8Array {
    const lists = this.coarse.assign(data, n);
    return this.pack(lists, this.quantizer.encode(this.local.residuals(data, n, lists), n), n, out);
  }

  override decode(codes: Uint8Array, n: number, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    const { pqCodes, lists } = this.split(codes, n);
    return this.local.reconstruct(this.quantizer.decode(pqCodes, n), n, lists, out);
  }

  override ivfSearcher(metric: 'l2' | 'ip'): IVFSearcher {
    return new LocalIVFSearcher(this.local, this.quantizer, metric);
  }
}

/** Searches an LOPQ codec: a visited cell's table comes from the query rotated by that cell's rotation (see the top of this file). */
export class LocalIVFSearcher extends IVFSearcher {
  private readonly query: Float32Array;
  /** The query rotated by the global rotation (matrix 0), valid while globalFresh. */
  private readonly globalRotated: Float32Array;
  private globalFresh = false;
  private readonly rotated: Float32Array;

  constructor(
    readonly local: LocalRotations,
    pq: ProductQuantizer,
    metric: 'l2' | 'ip',
  ) {
    super(local.coarse, pq, metric);
    this.query = new Float32Array(local.d);
    this.globalRotated = new Float32Array(local.d);
    this.rotated = new Float32Array(local.d);
  }

  protected override scoresRowsDirectly(): boolean {
    return false;
  }

  override prepare(q: Float32Array, qo: number): Float64Array {
    this.query.set(q.subarray(qo, qo + this.local.d));
    this.globalFresh = false;
    return this.coarse.costs(q, qo, this.metric, this.coarseCost);
  }

  override cellTable(list: number, table: Float32Array = this.table): Float32Array {
    const { d, cellMatrix, rotatedCentroids } = this.local;
    const resident = this.local.resident();
    const r = cellMatrix[list];
    let rq = this.rotated;
    if (r === 0) {
      rq = this.globalRotated;
      if (!this.globalFresh) resident.dots(0, this.query, 0, rq);
      this.globalFresh = true;
    } else {
      resident.dots(r, this.query, 0, rq);
    }
    if (this.metric === 'l2') {
      const y = this.rotated;
      for (let t = 0; t < d; t++) y[t] = rq[t] - rotatedCentroids[list * d + t];
      return this.pq.distanceTable(y, 0, 'l2', table);
    }
    this.pq.distanceTable(rq, 0, 'ip', table);
    const cost = this.coarseCost[list];
    for (let c = 0; c < this.pq.ksub; c++) table[c] += cost;
    return table;
  }
}

/** One cell's parametric rotation (a pool task): PCA + eigenvalue allocation of its shrunk residual covariance. */
export interface LocalRotationTask {
  /** n × d: the cell's residuals. */
  rows: Float32Array;
  n: number;
  d: number;
  m: number;
  nbits: number;
  /** d × d: the covariance of all residuals, the shrinkage target. */
  prior: Float64Array;
  /** Pseudo-rows of the prior: the cell's covariance weighs n, the prior this many. */
  shrinkageRows: number;
}

/** See LocalRotationTask; returns the rotation's directions (d × d). */
export async function localParametricRotation(task: LocalRotationTask): Promise<Float32Array> {
  const { rows, n, d, prior } = task;
  const cov = await covariance(rows, transpose(rows.subarray(0, n * d), n, d), n, d, inlineCompute);
  // cov + w (prior − cov) rather than a weighted mean: a cell that holds every row keeps its covariance bit for bit.
  const w = task.shrinkageRows / (n + task.shrinkageRows);
  for (let i = 0; i < cov.length; i++) cov[i] += w * (prior[i] - cov[i]);
  return (await allocatedRotation(cov, new PQGeometry(d, task.m, task.nbits), inlineCompute)).directions;
}

/** Non-parametric updates of one cell's rotation against the shared product quantizer (a pool task). */
export interface LocalRefineTask {
  /** n × d: the cell's residuals. */
  rows: Float32Array;
  n: number;
  d: number;
  m: number;
  nbits: number;
  /** d × d: the rotation to start from. */
  directions: Float32Array;
  /** The shared product quantizer's centroids (ProductQuantizer.centroids layout). */
  centroids: Float32Array;
  iterations: number;
  /** Pseudo-rows pulling the rotation toward where it starts (as LocalRotationTask.shrinkageRows). */
  shrinkageRows: number;
}

/** See LocalRefineTask; returns the updated directions. */
export async function refineLocalRotation(task: LocalRefineTask): Promise<Float32Array> {
  const { rows, n, d } = task;
  const pq = new ProductQuantizer(new PQGeometry(d, task.m, task.nbits), task.centroids);
  let directions = task.directions;
  let energy = 0;
  for (let i = 0; i < n * d; i++) energy += rows[i] * rows[i];
  const codes = new Uint8Array(n * pq.codeSize);
  for (let it = 0; it < task.iterations; it++) {
    const y = new Float32Array(n * d);
    dotsF32(rows, 0, directions, 0, n, d, d, y);
    encodeRowsWithError(pq, y, 0, n, codes);
    const cross = new Float64Array(d * d);
    crossWithReconstruction(rows, n, pq, codes, 0, pq.m, cross);
    // The prior: d unit pairs (e_k, R e_k), weighing shrinkageRows rows of the cell's mean energy.
    const mu = (task.shrinkageRows * energy) / n / d;
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cross[a * d + b] += mu * directions[b * d + a];
    directions = await procrustesDirections(cross, d, inlineCompute);
  }
  return directions;
}

export interface LocalTrainOptions {
  /** Non-parametric updates per cell. Default LOPQ_DEFAULTS.iterations. */
  iterations?: number;
  /** Default LOPQ_DEFAULTS.shrinkageRows. */
  shrinkageRows?: number;
  /** Cells with fewer rows keep the global rotation. Default LOPQ_DEFAULTS.minCellRows. */
  minCellRows?: number;
  /** At most this many bytes of rotations (the largest cells get theirs first). Default LOPQ_DEFAULTS.maxRotationBytes. */
  maxRotationBytes?: number;
}

export interface LocalTrainReport {
  /** Cells with a rotation of their own. */
  localCells: number;
  /** Sample MSE of the shared quantizer after the parametric step and after each update round. */
  trainMse: number[];
}

/**
 * Trains an LOPQ codec on n × d rows with nlist cells (see the top of this
 * file). onProgress(fraction) runs from 0 to 1.
 */
export async function trainLocalCodec(
  data: Float32Array,
  n: number,
  d: number,
  config: { m: number; nbits: number; nlist: number },
  options: PQTrainOptions & { rotation?: RotationTrainOptions; coarseIterations?: number; local?: LocalTrainOptions },
  compute: TrainCompute,
  onProgress?: (fraction: number) => void,
): Promise<{ codec: Codec; report: PQTrainReport; rotation: RotationTrainReport; local: LocalTrainReport }> {
  const geometry = new PQGeometry(d, config.m, config.nbits);
  const o = { ...LOPQ_DEFAULTS, ...options.local };
  const seed = options.seed ?? ROTATION_DEFAULTS.seed;
  const trained = await compute.trainCoarse(data, n, d, config.nlist, { iterations: options.coarseIterations, seed: options.seed });
  const coarse = new CoarseQuantizer(config.nlist, d, trained.centroids);
  onProgress?.(TRAIN_PROGRESS.coarseTrained);
  const { residuals: x, lists } = await compute.residuals(coarse, data, n);
  onProgress?.(TRAIN_PROGRESS.residualsDone);
  const progress = (f: number) => onProgress?.(TRAIN_PROGRESS.residualsDone + (1 - TRAIN_PROGRESS.residualsDone) * f);

  // 2. The global rotation (IVF + OPQ's), then the prior every cell is shrunk toward.
  const global = await trainRotation(x, n, geometry, compute, { seed: options.seed, ...options.rotation }, (done, total) =>
    progress((LOCAL_SHARE.global * done) / total),
  );
  const ns = Math.min(n, o.priorSampleSize);
  const sample = ns === n ? x.subarray(0, n * d) : gatherRows(x, d, sampleIndices(n, ns, new Rng(seed ^ 0x10c)));
  const prior = await covariance(sample, await compute.transpose(sample, ns, d), ns, d, compute);

  // 3. Cells large enough get their own rotation, largest first, within the memory budget.
  const cellRows = rowsByCell(lists, n, config.nlist);
  // The budget bounds the whole codec held in memory: the coarse centroids and the codebook come out of it too.
  const otherBytes = (config.nlist + (1 << config.nbits)) * d * 4;
  const budget = Math.max(0, Math.floor((o.maxRotationBytes - otherBytes) / (d * d * 4)) - 1);
  const local = Array.from({ length: config.nlist }, (_, l) => l)
    .filter((l) => cellRows[l].length >= o.minCellRows)
    .sort((a, b) => cellRows[b].length - cellRows[a].length || a - b)
    .slice(0, budget)
    .sort((a, b) => a - b);
  const cellMatrix = new Int32Array(config.nlist);
  local.forEach((l, i) => {
    cellMatrix[l] = i + 1;
  });
  // Each cell's rows once, in shared memory: every task of every round reads them without a copy.
  const rowsOf = local.map((l) => {
    const rows = new Float32Array(new SharedArrayBuffer(cellRows[l].length * d * 4));
    rows.set(gatherRows(x, d, cellRows[l]));
    return rows;
  });
  const matrices = new Float32Array((local.length + 1) * d * d);
  matrices.set(global.rotation.directions);
  let done = 0;
  await Promise.all(
    local.map(async (l, i) => {
      const task = { rows: rowsOf[i], n: cellRows[l].length, d, m: config.m, nbits: config.nbits, prior, shrinkageRows: o.shrinkageRows };
      matrices.set(await compute.localRotation(task), (i + 1) * d * d);
      progress(LOCAL_SHARE.global + (LOCAL_SHARE.cells * ++done) / local.length);
    }),
  );

  // 4–5. The shared quantizer on the rotated residuals, then rounds of per-cell updates.
  const trainMse: number[] = [];
  let rotations = new LocalRotations(coarse, matrices, cellMatrix);
  const rounds = o.iterations;
  const pqShare = (1 - LOCAL_SHARE.global - LOCAL_SHARE.cells) / (rounds + 1);
  let pq: ProductQuantizer | null = null;
  let report: PQTrainReport | null = null;
  for (let round = 0; round <= rounds; round++) {
    if (round > 0) {
      const centroids = pq!.centroids;
      await Promise.all(
        local.map(async (l, i) => {
          const task = {
            rows: rowsOf[i],
            n: cellRows[l].length,
            d,
            m: config.m,
            nbits: config.nbits,
            directions: rotations.directions(i + 1),
            centroids,
            iterations: 1,
            shrinkageRows: o.shrinkageRows,
          };
          matrices.set(await compute.refineLocalRotation(task), (i + 1) * d * d);
        }),
      );
      rotations = new LocalRotations(coarse, matrices, cellMatrix); // the matrices changed in place: their rotated centroids too
    }
    // x holds residuals (x − c) already: rotated as IVF + OPQ rotates its training input.
    const y = await rotateByCell(x, n, lists, rotations, compute);
    const from = LOCAL_SHARE.global + LOCAL_SHARE.cells + round * pqShare;
    ({ pq, report } = await trainProductQuantizer(
      y,
      n,
      d,
      { m: config.m, nbits: config.nbits },
      round === 0 ? options : { ...options, iterations: ROTATION_DEFAULTS.pqIterations, warmStart: pq!.centroids },
      compute,
      (k, total) => progress(from + (pqShare * k) / total),
    ));
    trainMse.push(report.trainMse);
  }
  report!.warnings.unshift(...trained.warnings.map((w) => `coarse quantizer: ${w}`));
  const codec = new LocalIVFCodec(pq!, rotations);
  return { codec, report: report!, rotation: global.report, local: { localCells: local.length, trainMse } };
}

/** How LOPQ training's progress splits: the global rotation, the cells' parametric rotations, then the quantizer rounds. */
const LOCAL_SHARE = { global: 0.3, cells: 0.3 } as const;

/** The rows of each cell, in row order. */
function rowsByCell(lists: Int32Array, n: number, nlist: number): Int32Array[] {
  const counts = new Int32Array(nlist);
  for (let i = 0; i < n; i++) counts[lists[i]]++;
  const out = Array.from({ length: nlist }, (_, l) => new Int32Array(counts[l]));
  counts.fill(0);
  for (let i = 0; i < n; i++) out[lists[i]][counts[lists[i]]++] = i;
  return out;
}

/** Row i of x (n × d) rotated by its cell's rotation, the products on the compute (the centroids are not subtracted: x holds residuals). */
async function rotateByCell(x: Float32Array, n: number, lists: Int32Array, rotations: LocalRotations, compute: TrainCompute): Promise<Float32Array> {
  const { d } = rotations;
  const out = new Float32Array(n * d);
  const { rows, starts } = rotations.rowsByMatrix(n, lists);
  await Promise.all(
    Array.from({ length: rotations.count }, async (_, r) => {
      const group = rows.subarray(starts[r], starts[r + 1]);
      if (group.length === 0) return;
      const rotated = await compute.dotsF32(gatherRows(x, d, group), rotations.directions(r), group.length, d, d);
      for (let g = 0; g < group.length; g++) out.set(rotated.subarray(g * d, (g + 1) * d), group[g] * d);
    }),
  );
  return out;
}
