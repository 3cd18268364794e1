/**
 * OPQ: a learned orthogonal rotation applied before product quantization
 * (Ge et al., "Optimized Product Quantization", 2013). A transform with
 * train / apply / reverse that composes in front of any quantizer.
 *
 * Training
 * 1. Parametric start: PCA of a sample, then eigenvalue allocation — principal
 *    directions are dealt to the m sub-spaces so that the products of their
 *    variances are balanced (the optimum for Gaussian data). It never
 *    makes PQ's job harder than the identity on real data and costs one
 *    covariance and one eigendecomposition.
 * 2. Non-parametric iterations on the sample: train PQ on the rotated sample
 *    (warm-started), encode, and solve the orthogonal Procrustes problem for the
 *    rotation that best maps the data onto its reconstruction (Xᵀ·Ŷ from
 *    per-centroid sums of the rows, not a product with the decoded sample).
 *    Each half-step lowers the sample's quantization error.
 *
 * Layout: `directions` is d × d, row-major; output coordinate b of a vector x is
 * ⟨x, directions row b⟩, i.e. y = x·Dᵀ, and x = y·D reverses it.
 */
import { codeAt } from './code-layout.js';
import { QuantizerInputError } from './errors.js';
import { covariance, gramSchmidtRows, matmulABt, symmetricEigen, transpose } from './linalg.js';
import { type CoarseQuantizer, type CoarseTrainOptions, trainCoarse } from './ivf.js';
import { type BeamExtension, extendBeams } from './residual.js';
import { type LocalRefineTask, type LocalRotationTask, localParametricRotation, refineLocalRotation } from './lopq.js';
import { type CodebookUpdateTask, type IcmEncodeTask, icmEncodeRowsTask, updateCodebooksTask } from './lsq.js';
import { type PQGeometry, type PQTrainOptions, ProductQuantizer, type SubspaceTrainResult, trainProductQuantizer, trainSubspace } from './pq.js';
import { Rng, sampleIndices } from './rng.js';
import { gatherRows } from './kmeans.js';
import { dotsF32 } from './wasm/kernels.js';
import { ENCODE_CHUNK, ROTATION_DEFAULTS, WIDE_ROTATION_DEFAULTS, WIDE_SUBSPACE } from '../tunables.js';

export class Rotation {
  private inverse: Float32Array | null = null;

  /** directions: d × d, row b = the unit vector giving output coordinate b. */
  constructor(
    readonly d: number,
    readonly directions: Float32Array,
  ) {
    if (directions.length !== d * d) throw new QuantizerInputError(`a rotation of dimension ${d} needs ${d * d} values, got ${directions.length}`);
  }

  static identity(d: number): Rotation {
    const D = new Float32Array(d * d);
    for (let i = 0; i < d; i++) D[i * d + i] = 1;
    return new Rotation(d, D);
  }

  /** y = x·Dᵀ for n rows of x (n × d) starting at row offset xo/d (float32 SIMD products). */
  apply(x: Float32Array, n: number, out: Float32Array = new Float32Array(n * this.d), xo = 0): Float32Array {
    dotsF32(x, xo, this.directions, 0, n, this.d, this.d, out);
    return out;
  }

  /** x = y·D: the inverse (the transpose, as D is orthogonal). */
  reverse(y: Float32Array, n: number, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    if (this.inverse === null) this.inverse = transpose(this.directions, this.d, this.d);
    dotsF32(y, 0, this.inverse, 0, n, this.d, this.d, out);
    return out;
  }
}

/**
 * Where the heavy steps of training run: inline (tests, one thread) or on the
 * worker pool (the service, whose event loop must stay free). Every
 * implementation must compute exactly what `inlineCompute` does.
 */
export interface TrainCompute {
  /** A·Bᵀ for A: n × k and B: m × k (see linalg.matmulABt). */
  matmulABt(A: Float32Array | Float64Array, B: Float32Array | Float64Array, n: number, m: number, k: number): Promise<Float64Array>;
  /** A·Bᵀ in float32 (wasm/kernels.dotsF32; Rotation.apply is dotsF32(x, directions)). */
  dotsF32(A: Float32Array, B: Float32Array, n: number, m: number, k: number): Promise<Float32Array>;
  /** Transpose of an n × m matrix. */
  transpose(A: Float32Array, n: number, m: number): Promise<Float32Array>;
  /** Eigendecomposition of a symmetric n × n matrix (linalg.symmetricEigen). */
  eigen(S: Float64Array, n: number): Promise<{ values: Float64Array; vectors: Float64Array }>;
  /** Orthonormalises the rows of an n × n matrix in place (one Gram–Schmidt pass); returns it. */
  orthonormalize(A: Float64Array, n: number): Promise<Float64Array>;
  /** Sub-space j's k-means on a PQ training sample (pq.trainSubspace); the sample is the same for every j of one training. */
  trainSubspace(sample: Float32Array, n: number, geometry: PQGeometry, j: number, options: PQTrainOptions): Promise<SubspaceTrainResult>;
  /** The IVF coarse k-means (ivf.trainCoarse): nlist × d centroids. */
  trainCoarse(
    data: Float32Array,
    n: number,
    d: number,
    nlist: number,
    options: CoarseTrainOptions,
  ): Promise<{ centroids: Float32Array; warnings: string[] }>;
  /** x − nearest coarse centroid for n rows, and that centroid's cell (CoarseQuantizer.assign + residuals). */
  residuals(coarse: CoarseQuantizer, data: Float32Array, n: number): Promise<{ residuals: Float32Array; lists: Int32Array }>;
  /** LOPQ training: one cell's parametric rotation (lopq.localParametricRotation): its directions. */
  localRotation(task: LocalRotationTask): Promise<Float32Array>;
  /** LOPQ training: updates of one cell's rotation against the shared quantizer (lopq.refineLocalRotation): its directions. */
  refineLocalRotation(task: LocalRefineTask): Promise<Float32Array>;
  /** Residual-quantizer training: extends the training rows' beams by one stage (residual.extendBeams; arrays shared, written in place). */
  extendBeams(task: BeamExtension): Promise<void>;
  /** Local-search training: re-encodes rows [0, n) by ILS + ICM from their codes (lsq.icmEncodeRowsTask; codes shared, updated in place); Σ squared error. */
  icmEncode(task: Omit<IcmEncodeTask, 'start' | 'end'>, n: number): Promise<number>;
  /** Local-search training: one codebook update (lsq.updateCodebooksTask; codebooks shared, updated in place); the squared error after it. */
  updateCodebooks(task: CodebookUpdateTask): Promise<number>;
  /** The codes of n rows of y (n × m) and the summed squared error of their reconstruction. */
  encodeWithError(pq: ProductQuantizer, y: Float32Array, n: number): Promise<{ codes: Uint8Array; error: number }>;
  /**
   * Xᵀ·Ŷ (d × d) for X: n × d and Ŷ = pq'.decode(codes) (see crossWithReconstruction), where
   * pq' = pq, or with `recentre` (the rotation the codes were assigned under) pq's centroids
   * moved to the means of their rotated rows: one Lloyd step. Returns pq' too.
   */
  crossWithReconstruction(
    x: Float32Array,
    n: number,
    pq: ProductQuantizer,
    codes: Uint8Array,
    recentre: Rotation | null,
  ): Promise<{ cross: Float64Array; pq: ProductQuantizer }>;
}

export interface RotationTrainOptions {
  /** Non-parametric iterations after the start. Default 8 (80 for wide sub-spaces: rotationDefaults). */
  iterations?: number;
  /** Rows of the sample the rotation is learnt on. Default 8,192 (32,768 for wide sub-spaces). */
  sampleSize?: number;
  /** k-means iterations of each PQ step (warm-started after the first). Default 4 (as FAISS). */
  pqIterations?: number;
  /**
   * The codebook step of each update: 'kmeans' (default) retrains PQ on the rotated
   * sample with pqIterations warm-started iterations; 'lloyd' (wide sub-spaces) moves
   * each centroid to the mean of its rows, one Lloyd step fused with the Procrustes
   * target, about half the cost of an update, for long schedules.
   */
  pqStep?: 'kmeans' | 'lloyd';
  /**
   * Where the updates start: 'auto' (default) the lower-error of the identity and the
   * parametric solution (always the parametric one for wide sub-spaces), or one of them.
   * A rotation that ends with a higher sample error than the identity start is
   * replaced by the identity, so OPQ never does worse than PQ on the sample.
   */
  start?: 'auto' | 'identity' | 'parametric';
  seed?: number;
}

export interface RotationTrainReport {
  sampleSize: number;
  /** Which start the iterations continued from. */
  start: 'identity' | 'parametric';
  /** True when the learned rotation ended above the identity's sample error and was replaced by it. */
  fellBack: boolean;
  /** Sample MSE of PQ on the rotated sample: identity start, parametric start, then after each iteration. */
  sampleMse: number[];
}

export interface RotationDefaults {
  iterations: number;
  sampleSize: number;
  pqStep: 'kmeans' | 'lloyd';
  start: 'auto' | 'parametric';
}

/** The default schedule for a geometry (see WIDE_ROTATION_DEFAULTS). */
export function rotationDefaults(geometry: PQGeometry): RotationDefaults {
  let widest = 0;
  for (let j = 0; j < geometry.m; j++) widest = Math.max(widest, geometry.dsub(j));
  if (widest > WIDE_SUBSPACE) return { ...WIDE_ROTATION_DEFAULTS };
  return { iterations: ROTATION_DEFAULTS.iterations, sampleSize: ROTATION_DEFAULTS.sampleSize, pqStep: 'kmeans', start: 'auto' };
}

/**
 * Eigenvalue allocation: deals eigenvalues (descending) to sub-spaces of the
 * given sizes, each to the open sub-space with the smallest product of variances
 * so far (sum of logs). Returns, for each output coordinate in sub-space order,
 * the index of the eigenvector it takes.
 */
export function allocateEigenvalues(values: Float64Array, geometry: PQGeometry): Int32Array {
  const { m, offsets } = geometry;
  const floor = Math.max(values[0], 1e-30) * 1e-9; // zero-variance directions must not drive the balance to −∞
  const logSum = new Float64Array(m);
  const filled = new Int32Array(m);
  const take = new Int32Array(geometry.d);
  for (let i = 0; i < values.length; i++) {
    let best = -1;
    for (let j = 0; j < m; j++) {
      if (filled[j] === offsets[j + 1] - offsets[j]) continue;
      if (best === -1 || logSum[j] < logSum[best]) best = j;
    }
    take[offsets[best] + filled[best]] = i;
    filled[best]++;
    logSum[best] += Math.log(Math.max(values[i], floor));
  }
  return take;
}

/** PCA + eigenvalue allocation on a sample (n × d; xt its transpose): the parametric OPQ rotation. */
export async function parametricRotation(
  sample: Float32Array,
  xt: Float32Array,
  n: number,
  geometry: PQGeometry,
  compute: TrainCompute,
): Promise<Rotation> {
  return allocatedRotation(await covariance(sample, xt, n, geometry.d, compute), geometry, compute);
}

/** The principal directions of a covariance dealt to the sub-spaces by eigenvalue allocation. */
export async function allocatedRotation(cov: Float64Array, geometry: PQGeometry, compute: TrainCompute): Promise<Rotation> {
  const { d } = geometry;
  const { values, vectors } = await compute.eigen(cov, d);
  const take = allocateEigenvalues(values, geometry);
  const D = new Float32Array(d * d);
  for (let b = 0; b < d; b++) D.set(vectors.subarray(take[b] * d, take[b] * d + d), b * d);
  return new Rotation(d, D);
}

/**
 * Learns an OPQ rotation for a product quantizer of the given geometry from
 * n × d data (sub-sampled to options.sampleSize rows).
 */
export async function trainRotation(
  data: Float32Array,
  n: number,
  geometry: PQGeometry,
  compute: TrainCompute,
  options: RotationTrainOptions = {},
  onStep?: (done: number, total: number) => void,
): Promise<{ rotation: Rotation; report: RotationTrainReport }> {
  const { d, m, nbits } = geometry;
  const defaults = rotationDefaults(geometry);
  const iterations = options.iterations ?? defaults.iterations;
  const pqIterations = options.pqIterations ?? ROTATION_DEFAULTS.pqIterations;
  const lloyd = (options.pqStep ?? defaults.pqStep) === 'lloyd';
  const seed = options.seed ?? ROTATION_DEFAULTS.seed;
  const ns = Math.min(n, options.sampleSize ?? defaults.sampleSize);
  if (ns < geometry.ksub) {
    throw new QuantizerInputError(`learning a rotation needs at least ${geometry.ksub} vectors, got ${ns}`);
  }
  const x = ns === n ? data.subarray(0, n * d) : gatherRows(data, d, sampleIndices(n, ns, new Rng(seed ^ 0x0f0f)));
  const total = iterations + 2;
  const sampleMse: number[] = [];
  const rotated = (r: Rotation) => compute.dotsF32(x, r.directions, ns, d, d); // = r.apply(x, ns)
  // The sample coded by pq: codes and mean squared error.
  const assign = async (pq: ProductQuantizer, y: Float32Array) => {
    const { codes, error } = await compute.encodeWithError(pq, y, ns);
    return { pq, codes, mse: error / ns };
  };
  // One PQ step on the sample rotated by r (null: the identity), warm-started from `from` when given.
  const pqStep = async (r: Rotation | null, from: ProductQuantizer | null) => {
    const y = r === null ? x : await rotated(r);
    return assign(
      (await trainProductQuantizer(y, ns, d, { m, nbits }, { iterations: pqIterations, seed, warmStart: from?.centroids }, compute)).pq,
      y,
    );
  };
  // Two starts: the identity (plain PQ) and the parametric solution. The one with
  // the lower sample error is kept, so the rotation never does worse than PQ.
  const identity = await pqStep(null, null);
  onStep?.(1, total);
  const pca = await parametricRotation(x, await compute.transpose(x, ns, d), ns, geometry, compute);
  const parametric = await pqStep(pca, null);
  onStep?.(2, total);
  const wanted = options.start ?? defaults.start;
  const start = wanted === 'identity' || wanted === 'parametric' ? wanted : parametric.mse < identity.mse ? 'parametric' : 'identity';
  let rotation = start === 'parametric' ? pca : Rotation.identity(d);
  let step = start === 'parametric' ? parametric : identity;
  sampleMse.push(identity.mse, parametric.mse);
  for (let it = 0; it < iterations; it++) {
    // Lloyd: the centroids move to the means of their rows under the current rotation,
    // then the rotation and the codes follow; 'kmeans' retrains PQ after the rotation.
    const { cross, pq } = await compute.crossWithReconstruction(x, ns, step.pq, step.codes, lloyd ? rotation : null);
    rotation = new Rotation(d, await procrustesDirections(cross, d, compute));
    step = lloyd ? await assign(pq, await rotated(rotation)) : await pqStep(rotation, step.pq);
    sampleMse.push(step.mse);
    onStep?.(it + 3, total);
  }
  const fellBack = step.mse > identity.mse;
  if (fellBack) rotation = Rotation.identity(d);
  return { rotation, report: { sampleSize: ns, start, fellBack, sampleMse } };
}

/**
 * Orthogonal Procrustes: the orthogonal R minimising ‖X R − Y‖ given M = Xᵀ Y is
 * R = U Vᵀ for M = U Σ Vᵀ. V and Σ² come from the eigendecomposition of MᵀM and
 * u_i = M v_i / σ_i; directions with σ_i ≈ 0 do not affect the objective and are
 * completed to an orthonormal basis. Returns the rotation's directions, Rᵀ = V Uᵀ.
 */
export async function procrustesDirections(M: Float64Array, d: number, compute: TrainCompute): Promise<Float32Array> {
  const Mt = transpose(M, d, d);
  const MtM = await compute.matmulABt(Mt, Mt, d, d, d); // (MᵀM)[a][b] = ⟨column a, column b⟩
  const { values, vectors: Vt } = await compute.eigen(MtM, d); // rows of Vt: v_i
  // The two products below only shape an orthogonal matrix that is stored in float32
  // and re-orthonormalised: float32 SIMD is enough (MᵀM, whose eigenvectors need the
  // precision, stays float64).
  const Ut = Float64Array.from(await compute.dotsF32(Float32Array.from(Vt), Float32Array.from(M), d, d, d)); // Ut[i][a] = (M v_i)[a]
  const tol = Math.sqrt(Math.max(values[0], 0)) * 1e-7;
  for (let i = 0; i < d; i++) {
    const sigma = Math.sqrt(Math.max(values[i], 0));
    if (sigma > tol) {
      for (let a = 0; a < d; a++) Ut[i * d + a] /= sigma;
    } else {
      Ut.fill(0, i * d, i * d + d); // the Gram–Schmidt pass completes the basis here
    }
  }
  await compute.orthonormalize(Ut, d);
  // Rᵀ[a][b] = Σ_i V[a][i] U[b][i] = ⟨column a of Vt, column b of Ut⟩.
  return compute.dotsF32(Float32Array.from(transpose(Vt, d, d)), Float32Array.from(transpose(Ut, d, d)), d, d, d);
}

/** Computes everything in this thread. */
export const inlineCompute: TrainCompute = {
  async matmulABt(A, B, n, m, k) {
    const out = new Float64Array(n * m);
    matmulABt(A, 0, B, 0, n, m, k, out);
    return out;
  },
  async dotsF32(A, B, n, m, k) {
    const out = new Float32Array(n * m);
    dotsF32(A, 0, B, 0, n, m, k, out);
    return out;
  },
  async transpose(A, n, m) {
    return transpose(A, n, m);
  },
  async eigen(S, n) {
    return symmetricEigen(S, n);
  },
  async orthonormalize(A, n) {
    gramSchmidtRows(A, n, n, 1);
    return A;
  },
  async trainSubspace(sample, n, geometry, j, options) {
    return trainSubspace(sample, n, geometry, j, options);
  },
  async trainCoarse(data, n, d, nlist, options) {
    const { coarse, warnings } = trainCoarse(data, n, d, nlist, options);
    return { centroids: coarse.centroids, warnings };
  },
  async residuals(coarse, data, n) {
    const lists = coarse.assign(data, n);
    return { residuals: coarse.residuals(data, n, lists), lists };
  },
  localRotation: (task) => localParametricRotation(task),
  refineLocalRotation: (task) => refineLocalRotation(task),
  async extendBeams(task) {
    extendBeams(task, 0, task.n);
  },
  async icmEncode(task, n) {
    return icmEncodeRowsTask({ ...task, start: 0, end: n });
  },
  async updateCodebooks(task) {
    return updateCodebooksTask(task);
  },
  async encodeWithError(pq, y, n) {
    const codes = new Uint8Array(n * pq.codeSize);
    let error = 0;
    for (let s = 0; s < n; s += ENCODE_CHUNK) error += encodeRowsWithError(pq, y, s, Math.min(n, s + ENCODE_CHUNK), codes);
    return { codes, error };
  },
  async crossWithReconstruction(x, n, pq, codes, recentre) {
    const cross = new Float64Array(pq.d * pq.d);
    const moved = recentre === null ? null : { directions: recentre.directions, centroids: Float32Array.from(pq.centroids) };
    crossWithReconstruction(x, n, pq, codes, 0, pq.m, cross, moved);
    return { cross, pq: moved === null ? pq : new ProductQuantizer(pq.geometry, moved.centroids) };
  },
};

/** Codes of rows [start, end) of y into the same rows of codes (n × codeSize); returns the rows' squared reconstruction error. */
export function encodeRowsWithError(pq: ProductQuantizer, y: Float32Array, start: number, end: number, codes: Uint8Array): number {
  const { d, codeSize } = pq;
  const rows = y.subarray(start * d, end * d);
  const block = codes.subarray(start * codeSize, end * codeSize);
  pq.encode(rows, end - start, block);
  const rec = pq.decode(block, end - start);
  let error = 0;
  for (let i = 0; i < rows.length; i++) error += (rows[i] - rec[i]) ** 2;
  return error;
}

/**
 * Columns of sub-spaces [jFrom, jTo) of Xᵀ·Ŷ into out (d × d), where Ŷ = pq.decode(codes):
 * Ŷ's sub-space j holds centroid c_j[code_ij], so its columns are
 * Σ_c (Σ_{i: code_ij = c} x_i) ⊗ c_j[c]: n·d additions and ksub·d·dsub products
 * per sub-space instead of n·d·dsub for the plain product.
 * With `recentre` (the directions the codes were assigned under, and a copy of pq's
 * centroids) those centroids first move to the means of their rows in the rotated
 * space, (Σ x_i)·D_jᵀ / count (an empty one stays), and Ŷ uses them.
 */
export function crossWithReconstruction(
  x: Float32Array,
  n: number,
  pq: ProductQuantizer,
  codes: Uint8Array,
  jFrom: number,
  jTo: number,
  out: Float64Array,
  recentre: { directions: Float32Array; centroids: Float32Array } | null = null,
): void {
  const { d, ksub, offsets, packed, codeSize } = pq.geometry;
  const centroids = recentre === null ? pq.centroids : recentre.centroids;
  const sums = new Float64Array(ksub * d); // ksub × d: row c = Σ of the x_i coded c in this sub-space
  const counts = new Int32Array(ksub);
  for (let j = jFrom; j < jTo; j++) {
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = codeAt(codes, i * codeSize, j, packed);
      counts[c]++;
      const so = c * d;
      const xo = i * d;
      for (let a = 0; a < d; a++) sums[so + a] += x[xo + a];
    }
    const lo = offsets[j];
    const ds = pq.geometry.dsub(j);
    if (recentre !== null) {
      const D = recentre.directions;
      for (let c = 0; c < ksub; c++) {
        if (counts[c] === 0) continue;
        for (let b = 0; b < ds; b++) {
          const r = (lo + b) * d;
          let s = 0;
          for (let a = 0; a < d; a++) s += sums[c * d + a] * D[r + a];
          centroids[pq.geometry.centroidStart(j, c) + b] = s / counts[c];
        }
      }
    }
    for (let a = 0; a < d; a++) out.fill(0, a * d + lo, a * d + lo + ds);
    for (let c = 0; c < ksub; c++) {
      const cc = pq.geometry.centroidStart(j, c);
      for (let a = 0; a < d; a++) {
        const s = sums[c * d + a];
        const oa = a * d + lo;
        for (let b = 0; b < ds; b++) out[oa + b] += s * centroids[cc + b];
      }
    }
  }
}
