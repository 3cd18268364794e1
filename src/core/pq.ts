/**
 * Product quantizer (Jégou et al.): a d-dimensional vector is cut into m
 * sub-vectors, each replaced by the index of its nearest centroid in that
 * sub-space's own k-means codebook of ksub = 2^nbits centroids. Code = m bytes
 * (one per sub-space).
 *
 * Sub-space rule: when m does not divide d, the first (d mod m) sub-spaces get
 * ⌈d/m⌉ dimensions and the rest ⌊d/m⌋ (784 = 16 × 25 + 16 × 24 for m = 32).
 * Nothing is padded, so no code bits are spent on constant zero dimensions.
 * With nbits 4 two codes share a byte (code-layout.ts): ⌈m/2⌉ bytes.
 */
import { type CodeShape, PACKED_NBITS, codeAt, packCodes, rowBytes } from './code-layout.js';
import { dot, l2sq } from './distance.js';
import { QuantizerInputError, checkInteger } from './errors.js';
import { type KMeansResult, gatherRows, kmeans } from './kmeans.js';
import { matmulABt } from './linalg.js';
import { codebookDots, nearestF32 } from './wasm/kernels.js';
import { Rng, deriveSeed, sampleIndices } from './rng.js';
import type { TrainCompute } from './rotation.js';
import { DEFAULT_NBITS, HARD_LIMITS, KMEANS_DEFAULTS } from '../tunables.js';
export interface PQTrainOptions {
  /** Lloyd iterations per sub-space (at most; stops early when converged). Default 50. */
  iterations?: number;
  /** Default 1234. */
  seed?: number;
  /** Training vectors are sub-sampled to at most this many per centroid. Default 256. */
  maxPointsPerCentroid?: number;
  /** Fewer training vectors per centroid than this gives a warning. Default 39. */
  minPointsPerCentroid?: number;
  /** k-means seeding. */
  init?: 'kmeans++' | 'random';
  /** Warm start: every sub-space's k-means starts from these centroids (ProductQuantizer.centroids layout). */
  warmStart?: Float32Array;
}

/** What training one sub-space reports. */
export interface SubspaceTrainResult {
  /** ksub × dsub, row-major. */
  centroids: Float32Array;
  inertia: number;
  iterations: number;
  converged: boolean;
  distanceComputations: number;
  warnings: string[];
}

export interface PQTrainReport {
  nTrain: number;
  /** Σ over sub-spaces of k-means inertia / nTrain: the training-set MSE. */
  trainMse: number;
  iterations: number[];
  distanceComputations: number;
  warnings: string[];
}

/** The shape of a product quantizer: everything but the centroids. */
export class PQGeometry implements CodeShape {
  readonly ksub: number;
  /** m + 1 entries: sub-space j spans dimensions [offsets[j], offsets[j+1]). */
  readonly offsets: Int32Array;

  constructor(
    readonly d: number,
    readonly m: number,
    readonly nbits: number,
    /** Two codes per byte (code-layout.ts): nbits 4, unless read from a codec serialised before packing. */
    readonly packed: boolean = nbits === PACKED_NBITS,
  ) {
    checkInteger('dimension', d, 1);
    checkInteger('m (sub-quantizers)', m, 1, d);
    checkInteger('nbits', nbits, 1, HARD_LIMITS.maxNbits);
    if (packed && nbits !== PACKED_NBITS) throw new QuantizerInputError(`only ${PACKED_NBITS}-bit codes pack two per byte, not ${nbits}-bit`);
    this.ksub = 1 << nbits;
    this.offsets = subspaceOffsets(d, m);
  }

  dsub(j: number): number {
    return this.offsets[j + 1] - this.offsets[j];
  }

  /**
   * Where sub-space j's codebook starts in a centroids array (ProductQuantizer.centroids,
   * a warm start): ksub × dsub(j) floats, row-major; it ends where j + 1's starts
   * (j + 1 = m: at ksub × d). The one place that knows the layout.
   */
  codebookStart(j: number): number {
    return this.ksub * this.offsets[j];
  }

  /** Where centroid c of sub-space j starts (dsub(j) floats). */
  centroidStart(j: number, c: number): number {
    return this.codebookStart(j) + c * this.dsub(j);
  }

  /** Bytes per encoded vector: m, or ⌈m/2⌉ packed. */
  get codeSize(): number {
    return rowBytes(this);
  }
}

/** Sub-space boundaries for d dimensions in m sub-spaces (see the rule above). */
export function subspaceOffsets(d: number, m: number): Int32Array {
  const offsets = new Int32Array(m + 1);
  const base = Math.floor(d / m);
  const extra = d % m;
  for (let j = 0; j < m; j++) offsets[j + 1] = offsets[j] + base + (j < extra ? 1 : 0);
  return offsets;
}

/**
 * Draws the training set shared by all sub-spaces: every vector when there are
 * at most maxPointsPerCentroid × ksub, otherwise a seeded sample of that many.
 * Throws when there are fewer vectors than centroids.
 */
export function pqTrainingSample(
  data: Float32Array,
  n: number,
  geometry: PQGeometry,
  options: PQTrainOptions = {},
): { sample: Float32Array; n: number } {
  const { d, ksub, nbits } = geometry;
  if (n < ksub) {
    throw new QuantizerInputError(
      `training a product quantizer with nbits = ${nbits} (${ksub} centroids per sub-space) needs at least ${ksub} vectors, got ${n}`,
    );
  }
  const cap = (options.maxPointsPerCentroid ?? KMEANS_DEFAULTS.maxPointsPerCentroid) * ksub;
  if (n <= cap) return { sample: data.subarray(0, n * d), n };
  const rows = sampleIndices(n, cap, new Rng(deriveSeed(options.seed ?? KMEANS_DEFAULTS.seed, 0x5a3b1e)));
  return { sample: gatherRows(data, d, rows), n: cap };
}

/** Copies sub-space j's columns of an n × d matrix into a contiguous n × dsub matrix. */
export function subspaceColumns(data: Float32Array, n: number, geometry: PQGeometry, j: number): Float32Array {
  const { d } = geometry;
  const lo = geometry.offsets[j];
  const ds = geometry.dsub(j);
  const out = new Float32Array(n * ds);
  for (let i = 0; i < n; i++) out.set(data.subarray(i * d + lo, i * d + lo + ds), i * ds);
  return out;
}

/**
 * Trains sub-space j's codebook on the (already sampled) training set. Pure and
 * independent of the other sub-spaces, so sub-spaces can train in parallel and
 * give byte-identical results to a sequential run.
 */
export function trainSubspace(sample: Float32Array, n: number, geometry: PQGeometry, j: number, options: PQTrainOptions = {}): SubspaceTrainResult {
  const cols = subspaceColumns(sample, n, geometry, j);
  const r: KMeansResult = kmeans(cols, n, geometry.dsub(j), {
    k: geometry.ksub,
    maxIterations: options.iterations ?? KMEANS_DEFAULTS.maxIterations,
    seed: deriveSeed(options.seed ?? KMEANS_DEFAULTS.seed, j),
    maxPointsPerCentroid: options.maxPointsPerCentroid,
    minPointsPerCentroid: options.minPointsPerCentroid,
    init: options.init,
    initialCentroids:
      options.warmStart === undefined ? undefined : options.warmStart.subarray(geometry.codebookStart(j), geometry.codebookStart(j + 1)),
  });
  return {
    centroids: r.centroids,
    inertia: r.inertia,
    iterations: r.iterations,
    converged: r.converged,
    distanceComputations: r.distanceComputations,
    warnings: r.warnings,
  };
}

/**
 * Product-quantizer training in three steps, whoever runs the middle one: the
 * training sample (at most maxPointsPerCentroid × ksub rows), one independent
 * k-means per sub-space (`trainSubspace`, on the main thread or on workers),
 * and `finish`, which assembles the quantizer and the report.
 */
export function planPQTraining(
  data: Float32Array,
  n: number,
  d: number,
  config: { m: number; nbits?: number },
  options: PQTrainOptions = {},
): { geometry: PQGeometry; sample: Float32Array; n: number; finish(parts: SubspaceTrainResult[]): { pq: ProductQuantizer; report: PQTrainReport } } {
  const geometry = new PQGeometry(d, config.m, config.nbits ?? DEFAULT_NBITS);
  checkData(data, n, d);
  const { sample, n: nTrain } = pqTrainingSample(data, n, geometry, options);
  return {
    geometry,
    sample,
    n: nTrain,
    finish: (parts) => ({
      pq: ProductQuantizer.fromSubspaces(
        geometry,
        parts.map((p) => p.centroids),
      ),
      report: summariseTraining(nTrain, parts),
    }),
  };
}

/**
 * Trains a product quantizer with its sub-spaces run by `compute` (all at once:
 * a worker pool trains them in parallel). Byte-identical to ProductQuantizer.train.
 * onProgress(done, total) after each sub-space.
 */
export async function trainProductQuantizer(
  data: Float32Array,
  n: number,
  d: number,
  config: { m: number; nbits?: number },
  options: PQTrainOptions,
  compute: Pick<TrainCompute, 'trainSubspace'>,
  onProgress?: (done: number, total: number) => void,
): Promise<{ pq: ProductQuantizer; report: PQTrainReport }> {
  const plan = planPQTraining(data, n, d, config, options);
  const { m } = plan.geometry;
  let done = 0;
  const parts = await Promise.all(
    Array.from({ length: m }, async (_, j) => {
      const part = await compute.trainSubspace(plan.sample, plan.n, plan.geometry, j, options);
      onProgress?.(++done, m);
      return part;
    }),
  );
  return plan.finish(parts);
}

/** Combines per-sub-space results into a report. */
export function summariseTraining(nTrain: number, parts: SubspaceTrainResult[]): PQTrainReport {
  let inertia = 0;
  let dc = 0;
  const warnings = new Set<string>();
  for (const p of parts) {
    inertia += p.inertia;
    dc += p.distanceComputations;
    for (const w of p.warnings) warnings.add(w);
  }
  return {
    nTrain,
    trainMse: inertia / nTrain,
    iterations: parts.map((p) => p.iterations),
    distanceComputations: dc,
    warnings: [...warnings],
  };
}

export class ProductQuantizer {
  readonly geometry: PQGeometry;
  /**
   * Codebooks: for sub-space j, ksub × dsub(j) row-major, starting at
   * geometry.codebookStart(j); total ksub × d floats. Read through codebook()
   * and centroid(), or the geometry's offsets, never by hand-written arithmetic.
   */
  readonly centroids: Float32Array;
  /** ‖centroid‖², ksub per sub-space (m × ksub), for encoding and tables by dot products. */
  readonly norms: Float64Array;
  /** m × ksub dot products, reused by distanceTable. */
  private readonly scratch: Float64Array;

  constructor(geometry: PQGeometry, centroids: Float32Array) {
    if (centroids.length !== geometry.ksub * geometry.d) {
      throw new QuantizerInputError(`expected ${geometry.ksub * geometry.d} centroid values, got ${centroids.length}`);
    }
    this.geometry = geometry;
    this.centroids = centroids;
    this.norms = new Float64Array(geometry.m * geometry.ksub);
    this.scratch = new Float64Array(geometry.m * geometry.ksub);
    for (let j = 0; j < geometry.m; j++) {
      const ds = geometry.dsub(j);
      for (let c = 0; c < geometry.ksub; c++) {
        const o = geometry.centroidStart(j, c);
        this.norms[j * geometry.ksub + c] = dot(centroids, o, centroids, o, ds);
      }
    }
  }

  /** Sub-space j's codebook: ksub × dsub(j) floats, row-major (a view, not a copy). */
  codebook(j: number): Float32Array {
    return this.centroids.subarray(this.geometry.codebookStart(j), this.geometry.codebookStart(j + 1));
  }

  /** Centroid c of sub-space j: dsub(j) floats (a view, not a copy). */
  centroid(j: number, c: number): Float32Array {
    const start = this.geometry.centroidStart(j, c);
    return this.centroids.subarray(start, start + this.geometry.dsub(j));
  }

  get d(): number {
    return this.geometry.d;
  }
  get m(): number {
    return this.geometry.m;
  }
  get nbits(): number {
    return this.geometry.nbits;
  }
  get ksub(): number {
    return this.geometry.ksub;
  }
  get codeSize(): number {
    return this.geometry.codeSize;
  }
  get packed(): boolean {
    return this.geometry.packed;
  }

  /** Trains on n vectors (n × d, row-major) in this thread. */
  /** Trains on the main thread, sub-space after sub-space (trainProductQuantizer spreads them over a TrainCompute). */
  static train(
    data: Float32Array,
    n: number,
    d: number,
    config: { m: number; nbits?: number },
    options: PQTrainOptions = {},
  ): { pq: ProductQuantizer; report: PQTrainReport } {
    const plan = planPQTraining(data, n, d, config, options);
    return plan.finish(Array.from({ length: plan.geometry.m }, (_, j) => trainSubspace(plan.sample, plan.n, plan.geometry, j, options)));
  }

  static fromSubspaces(geometry: PQGeometry, codebooks: Float32Array[]): ProductQuantizer {
    const centroids = new Float32Array(geometry.ksub * geometry.d);
    for (let j = 0; j < geometry.m; j++) centroids.set(codebooks[j], geometry.codebookStart(j));
    return new ProductQuantizer(geometry, centroids);
  }

  /** Encodes rows [0, n) of data (n × d) into out (n × codeSize bytes, code-layout.ts). */
  encode(data: Float32Array, n: number, out: Uint8Array = new Uint8Array(n * this.codeSize)): Uint8Array {
    checkData(data, n, this.d);
    const { geometry } = this;
    const { d, m, ksub, offsets, packed, codeSize } = geometry;
    // Blocks of rows, so a block stays in cache while every sub-space encodes it.
    const block = 256;
    // Packed codes are found one byte each, then packed a block at a time.
    const codes = packed ? new Uint8Array(block * m) : out;
    for (let s = 0; s < n; s += block) {
      const b = Math.min(block, n - s);
      const first = packed ? 0 : s * m;
      for (let j = 0; j < m; j++) {
        const cb = geometry.codebookStart(j);
        nearestF32(data, s * d + offsets[j], d, b, this.centroids, cb, ksub, geometry.dsub(j), this.norms, j * ksub, codes, first + j, m);
      }
      if (packed) packCodes(codes, b, m, out.subarray(s * codeSize, (s + b) * codeSize));
    }
    return out;
  }

  /** Reconstructs n vectors from their codes (n × codeSize) into out (n × d). */
  decode(codes: Uint8Array, n: number, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    const { d, m, offsets, packed, codeSize } = this.geometry;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) out.set(this.centroid(j, codeAt(codes, i * codeSize, j, packed)), i * d + offsets[j]);
    }
    return out;
  }

  /**
   * ADC table for one query (row qo/d of `query`): m × ksub costs, smaller is nearer.
   * 'l2': ‖q_j − c‖²; 'ip': −⟨q_j, c⟩ (cosine callers pass unit vectors and use 'ip').
   */
  distanceTable(query: Float32Array, qo: number, metric: 'l2' | 'ip', out: Float32Array = new Float32Array(this.m * this.ksub)): Float32Array {
    const { geometry, centroids, norms } = this;
    const { m, ksub, offsets } = geometry;
    const dots = this.scratch;
    // The query's sub-vectors against every codebook, resident in the SIMD kernel's memory.
    codebookDots(query, qo, centroids, offsets, ksub, dots);
    for (let j = 0; j < m; j++) {
      const to = j * ksub;
      if (metric === 'l2') {
        // ‖q − c‖² = ‖q‖² + ‖c‖² − 2⟨q, c⟩ (clamped: rounding can dip below 0 for c ≈ q).
        const lo = offsets[j];
        const qn = dot(query, qo + lo, query, qo + lo, geometry.dsub(j));
        for (let c = 0; c < ksub; c++) out[to + c] = Math.max(0, qn + norms[to + c] - 2 * dots[to + c]);
      } else {
        for (let c = 0; c < ksub; c++) out[to + c] = -dots[to + c];
      }
    }
    return out;
  }

  /**
   * The query-free terms of the squared L2 distance to codes of residuals
   * around a centre c (an IVF cell's centroid, row co/d of `centre`), so that
   * ‖q − c − r̂‖² = ‖q − c‖² + Σⱼ terms[j][code_j] − 2 Σⱼ ⟨q_j, r_j⟩ (ivf.ts):
   * out[oo + j × ksub + k] = ‖r_jk‖² + 2⟨c_j, r_jk⟩. `dots`: at least ksub scratch values.
   */
  cellTerms(centre: Float32Array, co: number, out: Float32Array, oo: number, dots: Float64Array = new Float64Array(this.ksub)): void {
    const { geometry } = this;
    const { m, ksub, offsets } = geometry;
    for (let j = 0; j < m; j++) {
      matmulABt(centre, co + offsets[j], this.centroids, geometry.codebookStart(j), 1, ksub, geometry.dsub(j), dots);
      const o = oo + j * ksub;
      for (let c = 0; c < ksub; c++) out[o + c] = this.norms[j * ksub + c] + 2 * dots[c];
    }
  }

  /**
   * Mean squared reconstruction error of n vectors: (1/n) Σᵢ ‖xᵢ − decode(encode(xᵢ))‖².
   * Processes blocks so memory stays small for large n.
   */
  mse(data: Float32Array, n: number): number {
    checkData(data, n, this.d);
    if (n === 0) return 0;
    const d = this.d;
    const block = 1024;
    const codes = new Uint8Array(block * this.codeSize);
    const rec = new Float32Array(block * d);
    let total = 0;
    for (let s = 0; s < n; s += block) {
      const b = Math.min(block, n - s);
      const rows = data.subarray(s * d, (s + b) * d);
      this.encode(rows, b, codes);
      this.decode(codes, b, rec);
      for (let i = 0; i < b; i++) total += l2sq(rows, i * d, rec, i * d, d);
    }
    return total / n;
  }
}

function checkData(data: Float32Array, n: number, d: number): void {
  checkInteger('n', n, 0);
  if (data.length < n * d) throw new QuantizerInputError(`expected ${n} × ${d} = ${n * d} values, got ${data.length}`);
}
