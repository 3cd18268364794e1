/**
 * Additive quantizers: M codebooks of K = 256 full-dimension codewords, a
 * vector reconstructed as the sum of one codeword from each, x̂ = Σₘ cₘ[codeₘ]
 * (Babenko & Lempitsky's additive quantization; residual quantization, RQ,
 * is the case trained stage by stage: residual.ts). Unlike product
 * quantization every codebook spans every dimension, so at equal bytes the
 * error is lower, and encoding is a search over combinations (beam search).
 *
 * Code layout (codeSize bytes per vector): the M codes, one byte each, then
 * — when the quantizer keeps norms (L2 search) — one norm byte. The norm
 * byte counts in codeSize and in every bytes-per-vector figure.
 *
 * Search (ADC) uses a table of the same shape as a product quantizer's,
 * (M + norm bytes) rows of 256 entries summed over a code's bytes, so the
 * scan kernels, batching and re-ranking serve both:
 *   L2: ‖q − x̂‖² = ‖q‖² − 2 Σₘ ⟨q, cₘ[codeₘ]⟩ + ‖x̂‖², and
 *       ‖x̂‖² = Σₘ ‖cₘ[codeₘ]‖² + 2 Σ_{i<j} ⟨cᵢ[codeᵢ], cⱼ[codeⱼ]⟩: row m, entry
 *       k is ‖cₘₖ‖² − 2⟨q, cₘₖ⟩ (row 0 also carries ‖q‖²), and the norm byte
 *       holds only the cross terms ν = 2 Σ_{i<j} ⟨cᵢ, cⱼ⟩, quantized by a
 *       256-level non-uniform scalar quantizer (NormQuantizer): the norm row's
 *       entry j is level j. The squared codeword norms, the bulk of ‖x̂‖², so
 *       stay exact in the table, and the byte's levels span the cross terms'
 *       far narrower range (FAISS quantizes all of ‖x̂‖²);
 *   IP: −⟨q, x̂⟩ = Σₘ −⟨q, cₘ[codeₘ]⟩ (the norm row, if any, is zeros).
 *
 * Encoding by beam search with look-up tables (as FAISS's beam_LUT): for a
 * vector x the dot products ⟨x, cₘₖ⟩ for every codeword (one matrix product),
 * then stage by stage each partial code b extends by every codeword k of
 * stage m at cost
 *   ‖x − x̂_b − cₘₖ‖² = D_b − 2⟨x, cₘₖ⟩ + ‖cₘₖ‖² + 2 Σ_{i<m} ⟨cᵢ[b_i], cₘₖ⟩
 * (the cross products ⟨cᵢₐ, cⱼₖ⟩ tabulated once per quantizer), keeping the
 * `beam` best. A beam of 1 is greedy residual encoding.
 */
import { QuantizerInputError, checkInteger } from './errors.js';
import { type Metric, dot, squaredNorms } from './distance.js';
import { dotsF32, queryDots } from './wasm/kernels.js';
import type { CodeShape } from './code-layout.js';
import { ADDITIVE_LIMITS, LSQ_DEFAULTS } from '../tunables.js';
import { gramAt, icmEncodeRowsTask } from './lsq.js';

/** Codewords per codebook: codes are bytes. */
export const ADDITIVE_K = 256;
/** Bits per code of an additive quantizer. */
export const ADDITIVE_NBITS = 8;
/** Levels of the norm quantizer: one byte. */
export const NORM_LEVELS = 256;
/** Lloyd rounds of the norm quantizer's training (each O(n) over sorted values). */
const NORM_LLOYD_ITERATIONS = 50;

/** A value (an additive code's cross terms ν) quantized to one of NORM_LEVELS levels (1-D k-means on training values: dense where they are). */
export class NormQuantizer {
  /** NORM_LEVELS levels, ascending. */
  readonly levels: Float32Array;

  constructor(levels: Float32Array) {
    if (levels.length !== NORM_LEVELS) throw new QuantizerInputError(`a norm quantizer has ${NORM_LEVELS} levels, got ${levels.length}`);
    for (let j = 1; j < levels.length; j++) {
      if (!(levels[j] >= levels[j - 1])) throw new QuantizerInputError('norm levels must be finite and ascending');
    }
    this.levels = levels;
  }

  /**
   * Trains the levels on n values: Lloyd's algorithm in one dimension over
   * the sorted values (each level the mean of the values nearer to it than to
   * its neighbours), started at the quantiles, NORM_LLOYD_ITERATIONS rounds.
   * With fewer distinct values than levels some levels repeat.
   */
  static train(values: Float64Array, n: number): NormQuantizer {
    if (n < 1) throw new QuantizerInputError('a norm quantizer needs at least one value');
    const x = Float64Array.from(values.subarray(0, n)).sort();
    const L = NORM_LEVELS;
    const level = new Float64Array(L);
    for (let j = 0; j < L; j++) level[j] = x[Math.min(n - 1, Math.floor(((j + 0.5) * n) / L))];
    const prefix = new Float64Array(n + 1); // prefix sums: a run's mean in O(1)
    for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + x[i];
    for (let it = 0; it < NORM_LLOYD_ITERATIONS; it++) {
      let from = 0;
      let moved = false;
      for (let j = 0; j < L; j++) {
        // Values up to the midpoint with the next level belong to level j.
        let to = from;
        if (j === L - 1) to = n;
        else {
          const mid = (level[j] + level[j + 1]) / 2;
          while (to < n && x[to] <= mid) to++;
        }
        if (to > from) {
          const mean = (prefix[to] - prefix[from]) / (to - from);
          if (mean !== level[j]) moved = true;
          level[j] = mean;
        }
        from = to;
      }
      level.sort();
      if (!moved) break;
    }
    return new NormQuantizer(Float32Array.from(level).sort());
  }

  /** The level nearest v (ties to the lower). */
  encode(v: number): number {
    const { levels } = this;
    let lo = 0;
    let hi = NORM_LEVELS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (levels[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    // levels[lo] is the first level ≥ v (or the last): the nearer of it and the one below.
    return lo > 0 && v - levels[lo - 1] <= levels[lo] - v ? lo - 1 : lo;
  }

  /** The largest error |v − level| for values within [levels[0], levels[last]]: half the widest gap. */
  maxError(): number {
    let gap = 0;
    for (let j = 1; j < NORM_LEVELS; j++) gap = Math.max(gap, this.levels[j] - this.levels[j - 1]);
    return gap / 2;
  }
}

/** rq: residual (beam search over stages); lsq: local search (ILS + ICM, lsq.ts). */
export type AdditiveKind = 'rq' | 'lsq';

export class AdditiveQuantizer implements CodeShape {
  readonly ksub = ADDITIVE_K;
  readonly nbits = ADDITIVE_NBITS;
  readonly packed = false;
  /** Table rows and code bytes: the M codes, then the norm byte when norms are kept. */
  readonly m: number;
  /** The code shape the scans read (m rows of 256). */
  readonly geometry: CodeShape;
  /** ‖cₘₖ‖², M × K. */
  readonly codewordNorms: Float64Array;
  /**
   * The codewords' cross products the encoders read, built on first use: rq,
   * those of different codebooks (crossAt; M(M − 1)/2 blocks of 256 KiB, 30
   * MiB at M = 16); lsq, the whole Gram matrix ICM needs (lsq.gramAt; 64 MiB
   * at M = 16), which holds them too.
   */
  private cross: CrossTable | null = null;

  constructor(
    readonly kind: AdditiveKind,
    readonly d: number,
    /** Codebooks M. */
    readonly stages: number,
    /**
     * Codewords: codebook m's codeword k at (m · K + k) · d, d floats; M × K × d
     * in all. Read through codeword().
     */
    readonly codebooks: Float32Array,
    /** The quantizer of the norm byte (cross terms ν, L2 search), or null when codes carry no norm (inner product, cosine). */
    readonly norm: NormQuantizer | null,
    /** Partial codes kept per stage when encoding (1 = greedy). */
    readonly beam: number,
  ) {
    checkInteger('dimension', d, 1);
    checkInteger('codebooks (m)', stages, 1, ADDITIVE_LIMITS.maxCodebooks);
    checkInteger('beam', beam, 1, ADDITIVE_LIMITS.maxBeam);
    if (codebooks.length !== stages * ADDITIVE_K * d) {
      throw new QuantizerInputError(`expected ${stages * ADDITIVE_K * d} codeword values, got ${codebooks.length}`);
    }
    this.m = stages + (norm === null ? 0 : 1);
    this.geometry = { m: this.m, ksub: ADDITIVE_K, packed: false };
    this.codewordNorms = squaredNorms(codebooks, stages * ADDITIVE_K, d);
  }

  /** Bytes per vector: M codes and the norm byte. */
  get codeSize(): number {
    return this.m;
  }

  /** Where codeword k of codebook m starts in `codebooks` (d floats). */
  codeword(m: number, k: number): number {
    return (m * ADDITIVE_K + k) * this.d;
  }

  /** The cross products (see `cross`), built on first use. */
  private crossTable(): CrossTable {
    if (this.cross === null) {
      const { stages: M, d } = this;
      const K = ADDITIVE_K;
      if (this.kind === 'lsq') {
        const gram = new Float32Array(M * K * M * K);
        dotsF32(this.codebooks, 0, this.codebooks, 0, M * K, M * K, d, gram);
        this.cross = { values: gram, row: (i, j, a) => gramAt(M, i, a, j) };
      } else {
        const cross = new Float32Array(((M * (M - 1)) / 2) * K * K);
        for (let j = 1; j < M; j++) {
          for (let i = 0; i < j; i++)
            dotsF32(this.codebooks, this.codeword(i, 0), this.codebooks, this.codeword(j, 0), K, K, d, cross, crossAt(i, j));
        }
        this.cross = { values: cross, row: (i, j, a) => crossAt(i, j) + a * K };
      }
    }
    return this.cross;
  }

  /** The cross terms of ‖x̂‖² for one code (its M bytes at o): ν = 2 Σ_{i<j} ⟨cᵢ, cⱼ⟩ (what the norm byte holds). */
  crossTerms(codes: Uint8Array, o: number): number {
    if (this.stages < 2) return 0;
    const { values, row } = this.crossTable();
    let s = 0;
    for (let j = 1; j < this.stages; j++) {
      const cj = codes[o + j];
      for (let i = 0; i < j; i++) s += 2 * values[row(i, j, codes[o + i]) + cj];
    }
    return s;
  }

  /** Codes of rows [0, n) of data (n × d) into out (n × codeSize): beam search, then the norm byte. */
  encode(data: Float32Array, n: number, out: Uint8Array = new Uint8Array(n * this.codeSize)): Uint8Array {
    this.encodeRows(data, n, out, null);
    return out;
  }

  /**
   * Encodes and returns Σ ‖x − x̂‖² over the rows (x̂ unquantized: the norm
   * byte does not change the reconstruction). `errors`, if given, takes each
   * row's squared error.
   */
  encodeRows(data: Float32Array, n: number, out: Uint8Array, errors: Float64Array | null): number {
    const { d, stages: M } = this;
    if (data.length < n * d) throw new QuantizerInputError(`data holds ${data.length} values, fewer than n × d = ${n * d}`);
    const codes = new Uint8Array(n * M);
    const total = this.kind === 'lsq' ? this.encodeLocalSearch(data, n, codes, errors) : this.beamCodes(data, n, this.beam, codes, errors);
    const size = this.codeSize;
    for (let i = 0; i < n; i++) {
      out.set(codes.subarray(i * M, (i + 1) * M), i * size);
      if (this.norm !== null) out[i * size + M] = this.norm.encode(this.crossTerms(codes, i * M));
    }
    return total;
  }

  /**
   * Beam search over the codebooks in order (residual encoding; any additive
   * codebooks can be searched so): the M codes of each row into codes (n × M),
   * returning Σ ‖x − x̂‖² (each row's into errors, if given).
   */
  private beamCodes(data: Float32Array, n: number, beam: number, codes: Uint8Array, errors: Float64Array | null): number {
    const { d, stages: M } = this;
    const K = ADDITIVE_K;
    const cross = this.crossTable();
    const state = beamState(1, M, beam);
    const scratch = new BeamScratch(M, beam);
    const rows = Math.max(1, Math.min(n, ENCODE_BLOCK_ROWS));
    const dots = new Float32Array(rows * M * K);
    let total = 0;
    for (let s = 0; s < n; s += rows) {
      const b = Math.min(rows, n - s);
      dotsF32(data, s * d, this.codebooks, 0, b, M * K, d, dots);
      for (let r = 0; r < b; r++) {
        const xo = (s + r) * d;
        const xx = dot(data, xo, data, xo, d);
        for (let m = 0; m < M; m++) extendBeam(state, 0, m, xx, dots, (r * M + m) * K, this.codewordNorms, cross, scratch);
        codes.set(state.codes.subarray(0, M), (s + r) * M);
        const err = Math.max(0, state.dist[0]);
        total += err;
        if (errors !== null) errors[s + r] = err;
      }
    }
    return total;
  }

  /**
   * Local-search encoding (lsq.ts): each row's codes start from a beam search
   * over the codebooks in order (LSQ_DEFAULTS.encodeInitBeam wide; a start far
   * better than all zeros, which ILS rounds do not recover from), then `beam`
   * rounds of ILS + ICM over the codewords' Gram matrix (built on first use).
   */
  private encodeLocalSearch(data: Float32Array, n: number, codes: Uint8Array, errors: Float64Array | null): number {
    const { d, stages: M } = this;
    const gram = this.crossTable().values;
    this.beamCodes(data, n, LSQ_DEFAULTS.encodeInitBeam, codes, null);
    const options = { ils: this.beam, icm: LSQ_DEFAULTS.icm, perturbations: LSQ_DEFAULTS.perturbations };
    return icmEncodeRowsTask(
      { data, d, codes, M, codebooks: this.codebooks, codewordNorms: this.codewordNorms, gram, options, start: 0, end: n },
      errors,
    );
  }

  /**
   * The query-free terms of the squared L2 distance to codes of residuals
   * around a centre c (an IVF cell's centroid, row co/d of `centre`):
   * ‖q − c − r̂‖² = ‖q − c‖² − 2⟨q, r̂⟩ + 2⟨c, r̂⟩ + ‖r̂‖², and ‖r̂‖² is the
   * codewords' squared norms plus the norm byte's cross terms, so row m, entry
   * k is ‖cₘₖ‖² + 2⟨c, cₘₖ⟩ and the norm row holds the norm levels (ivf.ts
   * adds −2⟨q, cₘₖ⟩ and ‖q − c‖²). `dots`: at least M × 256 scratch values.
   */
  cellTerms(centre: Float32Array, co: number, out: Float32Array, oo: number, dots: Float64Array = new Float64Array(this.stages * ADDITIVE_K)): void {
    const { d, stages: M } = this;
    const K = ADDITIVE_K;
    if (this.norm === null) throw new QuantizerInputError('L2 search over additive codes needs their norms, and this quantizer keeps none');
    // The centre against every codeword, in the SIMD kernel over the resident codebooks the query tables use (8× the scalar product).
    queryDots(centre, co, this.codebooks, 0, M * K, d, dots);
    for (let e = 0; e < M * K; e++) out[oo + e] = this.codewordNorms[e] + 2 * dots[e];
    out.set(this.norm.levels, oo + M * K);
  }

  /** Reconstructions of n codes into out (n × d). */
  decode(codes: Uint8Array, n: number, out: Float32Array = new Float32Array(n * this.d)): Float32Array {
    const { d, stages: M, codebooks } = this;
    const size = this.codeSize;
    out.fill(0, 0, n * d);
    for (let i = 0; i < n; i++) {
      const o = i * d;
      for (let m = 0; m < M; m++) {
        const c = this.codeword(m, codes[i * size + m]);
        for (let t = 0; t < d; t++) out[o + t] += codebooks[c + t];
      }
    }
    return out;
  }

  /**
   * ADC table of query row qo/d: (M + norm bytes) × K, smaller is nearer, so
   * that a code's entries sum to its distance (see the top of this file).
   */
  distanceTable(
    query: Float32Array,
    qo: number,
    metric: Exclude<Metric, 'cosine'>,
    out: Float32Array = new Float32Array(this.m * ADDITIVE_K),
  ): Float32Array {
    const { d, stages: M } = this;
    const K = ADDITIVE_K;
    if (metric === 'l2' && this.norm === null)
      throw new QuantizerInputError('L2 search over additive codes needs their norms, and this quantizer keeps none');
    queryDots(query, qo, this.codebooks, 0, M * K, d, out, 0);
    if (metric === 'l2') {
      for (let e = 0; e < M * K; e++) out[e] = this.codewordNorms[e] - 2 * out[e];
      const qq = dot(query, qo, query, qo, d);
      for (let k = 0; k < K; k++) out[k] += qq;
    } else {
      for (let e = 0; e < M * K; e++) out[e] = -out[e];
    }
    if (this.norm !== null) {
      if (metric === 'l2') out.set(this.norm.levels, M * K);
      else out.fill(0, M * K, (M + 1) * K);
    }
    return out;
  }
}

/** Rows encoded per block (their dot products with every codeword held at once: rows × M × 256 floats). */
const ENCODE_BLOCK_ROWS = 256;

/** Where the K × K cross-product block of codebooks i < j starts. */
export function crossAt(i: number, j: number): number {
  return (((j * (j - 1)) >> 1) + i) * ADDITIVE_K * ADDITIVE_K;
}

/**
 * Cross products of codewords as the beam search reads them: ⟨cᵢₐ, cⱼₖ⟩ for
 * k = 0 … 255 at values[row(i, j, a) + k] (i < j). Laid out as crossAt's
 * blocks (rq), or as lsq's Gram matrix, which holds them already.
 */
export interface CrossTable {
  values: Float32Array;
  row(i: number, j: number, a: number): number;
}

/**
 * The beams of rows being encoded, kept between stages (training extends
 * them one stage at a time). Row r's entry b: codes at (r · beam + b) · M
 * (the first m filled after m stages), ‖x − x̂‖² at r · beam + b, entries
 * best first; `entries[r]` of them are valid.
 */
export interface BeamState {
  M: number;
  beam: number;
  codes: Uint8Array;
  dist: Float64Array;
  entries: Int32Array;
}

export function beamState(rows: number, M: number, beam: number, shared = false): BeamState {
  const buffer = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  return {
    M,
    beam,
    codes: new Uint8Array(buffer(rows * beam * M)),
    dist: new Float64Array(buffer(rows * beam * 8)),
    entries: new Int32Array(buffer(rows * 4)),
  };
}

/** Scratch of extendBeam, reused across rows. */
export class BeamScratch {
  readonly base = new Float64Array(ADDITIVE_K);
  readonly acc = new Float64Array(ADDITIVE_K);
  readonly candidate: Int32Array;
  readonly candidateDist: Float64Array;
  readonly codes: Uint8Array;

  constructor(M: number, beam: number) {
    this.candidate = new Int32Array(beam);
    this.candidateDist = new Float64Array(beam);
    this.codes = new Uint8Array(beam * M);
  }
}

/**
 * Extends row r's beam by stage m (m = 0 starts it from ‖x‖² = xx): every
 * entry times every codeword of codebook m, the `beam` cheapest kept, best
 * first (ties: the earlier entry, then the lower codeword). dots[o + k] =
 * ⟨x, cₘₖ⟩; norms: ‖cₘₖ‖² at m · K + k; cross: the products of codebooks
 * i < m with codebook m (a training task holds stage m's only).
 */
export function extendBeam(
  state: BeamState,
  r: number,
  m: number,
  xx: number,
  dots: Float32Array,
  o: number,
  norms: Float64Array,
  cross: CrossTable,
  scratch: BeamScratch,
): void {
  const { M, beam: B, codes, dist, entries } = state;
  const K = ADDITIVE_K;
  const { base, acc, candidate, candidateDist } = scratch;
  const row = r * B;
  if (m === 0) {
    entries[r] = 1;
    dist[row] = xx;
  }
  for (let k = 0; k < K; k++) base[k] = norms[m * K + k] - 2 * dots[o + k];
  let kept = 0;
  for (let b = 0; b < entries[r]; b++) {
    const db = dist[row + b];
    acc.fill(0);
    for (let i = 0; i < m; i++) {
      const from = cross.row(i, m, codes[(row + b) * M + i]);
      for (let k = 0; k < K; k++) acc[k] += cross.values[from + k];
    }
    for (let k = 0; k < K; k++) {
      const c = db + base[k] + 2 * acc[k];
      if (kept === B && !(c < candidateDist[B - 1])) continue;
      // Insert in order (an equal cost stays behind the earlier candidate).
      let p = kept < B ? kept++ : B - 1;
      while (p > 0 && candidateDist[p - 1] > c) {
        candidateDist[p] = candidateDist[p - 1];
        candidate[p] = candidate[p - 1];
        p--;
      }
      candidateDist[p] = c;
      candidate[p] = b * K + k;
    }
  }
  // New entries from old ones: copy the old prefixes aside first (an entry may extend another's).
  scratch.codes.set(codes.subarray(row * M, (row + entries[r]) * M));
  for (let e = 0; e < kept; e++) {
    const b = (candidate[e] / K) | 0;
    codes.set(scratch.codes.subarray(b * M, b * M + m), (row + e) * M);
    codes[(row + e) * M + m] = candidate[e] - b * K;
    dist[row + e] = candidateDist[e];
  }
  entries[r] = kept;
}
