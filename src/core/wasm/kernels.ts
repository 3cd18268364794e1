/**
 * WebAssembly SIMD kernels for the dense products of training and encoding:
 * rotating rows (A·Bᵀ) and nearest-centroid search (encoding, IVF assignment).
 * Four float32 lanes per instruction, two rows × four rows per block (eight
 * accumulators); the kernels are written in WebAssembly text in kernels-wat.ts.
 * `npm run bench:kernels` compares them with the scalar kernels.
 *
 * Precision: dot products are summed in float32 lanes (four interleaved partial
 * sums, then lane 0 + 1 + 2 + 3), so they differ from the float64 JavaScript
 * kernels by float32 rounding (relative ~1e-7 · √k). Use them where that is
 * harmless (rotations, code assignment, and, as FAISS does, distance tables
 * and coarse costs: queryDots, codebookDots), not where exact bounds are
 * needed (k-means pruning keeps float64 kernels: RowDistances).
 *
 * Each thread (main or worker) has its own instance and memory; the wrappers
 * copy operands into linear memory in cache-sized blocks (rows padded to a
 * multiple of four floats with zeros), call the kernel and copy results out.
 * Same inputs give bit-identical results in every thread.
 */
import { compile } from 'watr';
import { matmulABt } from '../linalg.js';
import { CELL_TABLE_WAT, DOT_BLOCK, KERNELS_WAT, L2SQ_ROWS_WAT, ROW_DOTS_WAT } from './kernels-wat.js';
import { RESIDENT_MATRIX_BYTES } from '../../tunables.js';

/** Byte addresses and sizes; the last two are (out, ostride) for dots, (norms, out) for nearest (kernels-wat.ts). */
type Kernel = (a: number, na: number, b: number, nb: number, kb: number, p5: number, p6: number) => void;

interface Instance {
  memory: WebAssembly.Memory;
  dots: Kernel;
  nearest: Kernel;
}

let instance: Instance | null = null;

function kernels(): Instance {
  if (instance === null) {
    // Compiled on first use, once per thread (watr compiles synchronously, so the
    // wrappers stay synchronous): a thread that never calls a kernel skips the
    // ~20 ms of a cold compile.
    const exports = new WebAssembly.Instance(new WebAssembly.Module(compile(KERNELS_WAT))).exports as unknown as Instance;
    instance = { memory: exports.memory, dots: exports.dots, nearest: exports.nearest };
  }
  return instance;
}

/** Linear memory of at least `bytes`; views must be taken after this call. */
function memoryOf(bytes: number): ArrayBufferLike {
  const { memory } = kernels();
  const missing = bytes - memory.buffer.byteLength;
  if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  return memory.buffer;
}

const up4 = (v: number): number => (v + 3) & ~3;
/** Rows of `a` per block: with a 64-row block of b both stay in a 512 KiB L2. */
const ROWS = 64;

/**
 * Copies n rows of `ds` floats (row r at src[so + r·stride]) into f32 memory at
 * float index dst, rows padded with zeros to kp floats; then zero rows up to `rows`.
 */
function pack(f32: Float32Array, dst: number, src: Float32Array, so: number, stride: number, n: number, ds: number, kp: number, rows: number): void {
  if (ds === kp && stride === ds) {
    f32.set(src.subarray(so, so + n * ds), dst);
  } else {
    for (let r = 0; r < n; r++) {
      f32.set(src.subarray(so + r * stride, so + r * stride + ds), dst + r * kp);
      f32.fill(0, dst + r * kp + ds, dst + (r + 1) * kp);
    }
  }
  f32.fill(0, dst + n * kp, dst + rows * kp);
}

/**
 * out[oo + i·m + j] = ⟨A row i, B row j⟩ for A: n × k from A[ao], B: m × k from B[bo]
 * (float32 lanes; see the precision note above). Same layout as linalg.matmulABt.
 */
export function dotsF32(
  A: Float32Array,
  ao: number,
  B: Float32Array,
  bo: number,
  n: number,
  m: number,
  k: number,
  out: Float32Array | Float64Array,
  oo = 0,
): void {
  if (n === 0 || m === 0) return;
  if (k === 0) {
    out.fill(0, oo, oo + n * m); // the kernel's loops run at least once
    return;
  }
  const kp = up4(k);
  const mp = up4(m);
  const rows = Math.min(ROWS, n + (n & 1));
  const bFloats = mp * kp;
  const aAt = bFloats;
  const outAt = aAt + rows * kp;
  const f32 = new Float32Array(memoryOf((outAt + rows * mp) * 4));
  const { dots } = kernels();
  pack(f32, 0, B, bo, k, m, k, kp, mp);
  for (let s = 0; s < n; s += rows) {
    const b = Math.min(rows, n - s);
    const bEven = b + (b & 1);
    pack(f32, aAt, A, ao + s * k, k, b, k, kp, bEven);
    for (let jb = 0; jb < mp; jb += ROWS) {
      dots(aAt * 4, bEven, jb * kp * 4, Math.min(ROWS, mp - jb), kp * 4, (outAt + jb) * 4, mp * 4);
    }
    for (let r = 0; r < b; r++) {
      const src = outAt + r * mp;
      const dst = oo + (s + r) * m;
      if (out instanceof Float32Array) out.set(f32.subarray(src, src + m), dst);
      else for (let j = 0; j < m; j++) out[dst + j] = f32[src + j];
    }
  }
}

/**
 * Nearest centroid of rows [0, n) (row i at x[xo + i·xStride], ds floats) among k
 * centroids (k × ds from c[co], norms[no + j] = ‖c_j‖²): out[oo + i·oStride].
 * Ties go to the lower index.
 */
export function nearestF32(
  x: Float32Array,
  xo: number,
  xStride: number,
  n: number,
  c: Float32Array,
  co: number,
  k: number,
  ds: number,
  norms: Float64Array,
  no: number,
  out: Uint8Array | Int32Array,
  oo: number,
  oStride: number,
): void {
  if (n === 0) return;
  if (k === 0 || ds === 0) throw new RangeError(`nearest centroid among ${k} centroids of ${ds} dimensions`);
  const kp = up4(ds);
  const kPad = up4(k);
  const rows = Math.min(256, n + (n & 1));
  // Layout (in floats): centroids kPad × kp | norms (f64) kPad | rows × kp | out (i32) rows.
  const normsAt = kPad * kp;
  const xAt = normsAt + 2 * kPad;
  const outAt = xAt + rows * kp;
  const buffer = memoryOf((outAt + rows) * 4);
  const f32 = new Float32Array(buffer);
  const f64 = new Float64Array(buffer);
  const i32 = new Int32Array(buffer);
  const { nearest } = kernels();
  pack(f32, 0, c, co, ds, k, ds, kp, kPad);
  f64.set(norms.subarray(no, no + k), normsAt / 2);
  f64.fill(Infinity, normsAt / 2 + k, normsAt / 2 + kPad); // padding centroids never win
  for (let s = 0; s < n; s += rows) {
    const b = Math.min(rows, n - s);
    const bEven = b + (b & 1);
    pack(f32, xAt, x, xo + s * xStride, xStride, b, ds, kp, bEven);
    nearest(xAt * 4, bEven, 0, kPad, kp * 4, normsAt * 4, outAt * 4);
    for (let r = 0; r < b; r++) out[oo + (s + r) * oStride] = i32[outAt + r];
  }
}

interface RowDots {
  memory: WebAssembly.Memory;
  rowDots: (q: number, b: number, nb: number, kb: number, out: number) => void;
  rowDotsMany: (desc: number, n: number) => void;
}

/**
 * This thread's rowDots instance and the matrices resident in its memory: by
 * matrix array, then by `${offset}/${rows}/${k}` (a product quantizer's
 * codebooks together: `pq/${rows}`), their byte address. Bump allocated after
 * the scratch of one query, its output and the descriptors of rowDotsMany;
 * when the next matrix would pass RESIDENT_MATRIX_BYTES, all are dropped and
 * packed again as they are used.
 */
let rowDotsInstance: RowDots | null = null;
let resident = new WeakMap<Float32Array, Map<string, number>>();
let residentEnd = 0;

function rowDotsKernel(): RowDots {
  if (rowDotsInstance === null) {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(compile(ROW_DOTS_WAT))).exports as unknown as RowDots;
    rowDotsInstance = { memory: exports.memory, rowDots: exports.rowDots, rowDotsMany: exports.rowDotsMany };
  }
  return rowDotsInstance;
}

/** Scratch at the start of the rowDots memory: the query (floats), the output (doubles) and rowDotsMany's records, for any call up to these sizes. */
const QUERY_SCRATCH_BYTES = 4 * 16_384;
const OUT_SCRATCH_BYTES = 8 * 65_536;
const DESC_SCRATCH_BYTES = 20 * 1_024;
const OUT_AT = QUERY_SCRATCH_BYTES;
const DESC_AT = OUT_AT + OUT_SCRATCH_BYTES;
const RESIDENT_AT = DESC_AT + DESC_SCRATCH_BYTES;

/**
 * The byte address of a matrix resident in the rowDots memory under `key`:
 * `bytes` bytes written by `pack` (a float32 view of them, zeroed) on first
 * use. Throws nothing: a start-over makes room (bytes ≤ RESIDENT_MATRIX_BYTES).
 */
function residentMatrix(kernel: RowDots, B: Float32Array, key: string, bytes: number, pack: (f32: Float32Array) => void): number {
  let byB = resident.get(B);
  if (byB === undefined) {
    byB = new Map();
    resident.set(B, byB);
  }
  let at = byB.get(key);
  if (at === undefined) {
    if (residentEnd === 0 || residentEnd + bytes > RESIDENT_AT + RESIDENT_MATRIX_BYTES) {
      // Start over: every matrix is packed again on its next use.
      byB = new Map();
      resident = new WeakMap([[B, byB]]);
      residentEnd = RESIDENT_AT;
    }
    at = residentEnd;
    const missing = at + bytes - kernel.memory.buffer.byteLength;
    if (missing > 0) kernel.memory.grow(Math.ceil(missing / 65536));
    const f32 = new Float32Array(kernel.memory.buffer, at, bytes / 4);
    f32.fill(0); // memory reused after a start-over may hold old values
    pack(f32);
    byB.set(key, at);
    residentEnd = at + bytes;
  }
  return at;
}

/**
 * The m × k matrix at B[bo] into f32 from fo in the rowDots layout: rows
 * padded to kp columns (a multiple of four) and to a multiple of DOT_BLOCK,
 * each block of rows stored by groups of four columns, row r's group at 4r.
 */
function packRows(B: Float32Array, bo: number, m: number, k: number, kp: number, f32: Float32Array, fo: number): void {
  for (let j = 0; j < m; j++) {
    const block = fo + (j - (j % DOT_BLOCK)) * kp + 4 * (j % DOT_BLOCK);
    for (let t = 0; t < k; t++) f32[block + (t >> 2) * 4 * DOT_BLOCK + (t & 3)] = B[bo + j * k + t];
  }
}

/**
 * out[oo + j] = ⟨x[xo .. xo + k), B row j⟩ for the m rows of B (m × k from
 * B[bo]), summed in float32 lanes (kernels-wat.ts rowDots; FAISS sums these
 * in float32 too). B is copied into this thread's kernel memory on first use
 * and stays there: B must not change afterwards (codebooks and coarse
 * centroids never do). The SIMD twin of matmulABt with n = 1, for coarse costs.
 */
export function queryDots(
  x: Float32Array,
  xo: number,
  B: Float32Array,
  bo: number,
  m: number,
  k: number,
  out: Float64Array | Float32Array,
  oo = 0,
): void {
  if (m === 0) return;
  const kp = up4(k);
  const mp = Math.ceil(m / DOT_BLOCK) * DOT_BLOCK;
  const bytes = mp * kp * 4;
  if (k === 0 || 4 * kp > QUERY_SCRATCH_BYTES || 8 * mp > OUT_SCRATCH_BYTES || bytes > RESIDENT_MATRIX_BYTES) {
    // Too large to keep resident (e.g. 65,536 coarse centroids): the scalar kernel reads B in place.
    matmulABt(x, xo, B, bo, 1, m, k, out, oo);
    return;
  }
  const kernel = rowDotsKernel();
  const at = residentMatrix(kernel, B, `${bo}/${m}/${k}`, bytes, (f32) => packRows(B, bo, m, k, kp, f32, 0));
  const { buffer } = kernel.memory;
  const q = new Float32Array(buffer, 0, kp);
  q.set(x.subarray(xo, xo + k));
  q.fill(0, k);
  kernel.rowDots(0, at, mp, kp * 4, OUT_AT);
  const f64 = new Float64Array(buffer, OUT_AT, m);
  for (let j = 0; j < m; j++) out[oo + j] = f64[j];
}

/**
 * For every sub-space j of a product quantizer (dimensions [offsets[j],
 * offsets[j + 1]) of d = offsets[m], ksub centroids each, codebooks laid out
 * as ProductQuantizer.centroids): out[j × ksub + c] = ⟨x's sub-vector j,
 * centroid c of sub-space j⟩. Bit for bit queryDots per sub-space, in one
 * kernel call over codebooks resident together (a query's distance table).
 */
export function codebookDots(x: Float32Array, xo: number, centroids: Float32Array, offsets: Int32Array, ksub: number, out: Float64Array): void {
  const m = offsets.length - 1;
  const mp = Math.ceil(ksub / DOT_BLOCK) * DOT_BLOCK;
  let width = 0; // padded columns of all sub-spaces
  for (let j = 0; j < m; j++) width += up4(offsets[j + 1] - offsets[j]);
  const bytes = mp * width * 4;
  if (4 * width > QUERY_SCRATCH_BYTES || 8 * mp * m > OUT_SCRATCH_BYTES || 20 * m > DESC_SCRATCH_BYTES || bytes > RESIDENT_MATRIX_BYTES) {
    for (let j = 0; j < m; j++) queryDots(x, xo + offsets[j], centroids, ksub * offsets[j], ksub, offsets[j + 1] - offsets[j], out, j * ksub);
    return;
  }
  const kernel = rowDotsKernel();
  const at = residentMatrix(kernel, centroids, `pq/${ksub}`, bytes, (f32) => {
    for (let j = 0, fo = 0; j < m; j++) {
      const k = offsets[j + 1] - offsets[j];
      packRows(centroids, ksub * offsets[j], ksub, k, up4(k), f32, fo);
      fo += mp * up4(k);
    }
  });
  const { buffer } = kernel.memory;
  const query = new Float32Array(buffer, 0, width);
  const desc = new Int32Array(buffer, DESC_AT, 5 * m);
  // Sub-vector j at its own padded place in the query scratch; its dot products at j × mp doubles of the output.
  for (let j = 0, q = 0, b = at; j < m; j++) {
    const k = offsets[j + 1] - offsets[j];
    const kp = up4(k);
    query.set(x.subarray(xo + offsets[j], xo + offsets[j] + k), q);
    query.fill(0, q + k, q + kp);
    desc[5 * j] = 4 * q;
    desc[5 * j + 1] = b;
    desc[5 * j + 2] = mp;
    desc[5 * j + 3] = 4 * kp;
    desc[5 * j + 4] = OUT_AT + 8 * mp * j;
    q += kp;
    b += mp * kp * 4;
  }
  kernel.rowDotsMany(DESC_AT, m);
  const f64 = new Float64Array(buffer, OUT_AT, mp * m);
  for (let j = 0; j < m; j++) out.set(f64.subarray(mp * j, mp * j + ksub), j * ksub);
}

interface L2sqRowsExports {
  memory: WebAssembly.Memory;
  l2sqRows: (x: number, b: number, nb: number, kb: number, out: number) => void;
}

/** This thread's l2sqRows instance, shared by every RowDistances (k-means runs synchronously, one at a time). */
let l2sqRowsInstance: L2sqRowsExports | null = null;

/**
 * Squared distances from one row to ranges of k resident rows (k-means: a
 * point to the centroids of one group), bit for bit distance.l2sq. The
 * thread's kernel memory holds the rows (float32, padded to a multiple of
 * four), one query row and the outputs; `load` refreshes the rows (after the
 * centroids move). One RowDistances in use per thread at a time: constructing
 * the next takes the memory over (one wasm memory per thread, not per k-means).
 */
export class RowDistances {
  /** to(j0, j1) leaves the distance to row j at out[j − j0]. */
  readonly out: Float64Array;
  private readonly kernel: L2sqRowsExports;
  private readonly kp: number;
  private readonly f32: Float32Array;
  /** Float offset of the query row; byte address of the output. */
  private readonly xAt: number;
  private readonly outBytes: number;

  constructor(
    private readonly k: number,
    private readonly d: number,
  ) {
    l2sqRowsInstance ??= new WebAssembly.Instance(new WebAssembly.Module(compile(L2SQ_ROWS_WAT))).exports as unknown as L2sqRowsExports;
    this.kernel = l2sqRowsInstance;
    this.kp = up4(d);
    this.xAt = k * this.kp;
    this.outBytes = 8 * Math.ceil(((this.xAt + this.kp) * 4) / 8);
    const missing = this.outBytes + 8 * k - this.kernel.memory.buffer.byteLength;
    if (missing > 0) this.kernel.memory.grow(Math.ceil(missing / 65536));
    this.f32 = new Float32Array(this.kernel.memory.buffer);
    this.out = new Float64Array(this.kernel.memory.buffer, this.outBytes, k);
  }

  /** Takes the k rows (k × d from rows[0]). */
  load(rows: Float32Array): void {
    pack(this.f32, 0, rows, 0, this.d, this.k, this.d, this.kp, this.k);
  }

  /** Sets the row the distances are measured from (x[xo .. xo + d)). */
  from(x: Float32Array, xo: number): void {
    pack(this.f32, this.xAt, x, xo, this.d, 1, this.d, this.kp, 1);
  }

  /** Distances from the row to rows [j0, j1) (j1 > j0) into out[0 .. j1 − j0). */
  to(j0: number, j1: number): void {
    this.kernel.l2sqRows(this.xAt * 4, j0 * this.kp * 4, j1 - j0, this.kp * 4, this.outBytes);
  }
}

interface CellTableExports {
  memory: WebAssembly.Memory;
  cellTable: (terms: number, query: number, out: number, bytes: number, cost: number, costBytes: number) => void;
}

let cellTableModule: WebAssembly.Module | null = null;

/**
 * IVF cell tables (core/ivf.ts) in SIMD: a codec's cell terms (nlist × size
 * float32) resident in a kernel memory of their own, the prepared query's
 * terms beside them, and one cell's table written there, then copied out by
 * the caller (one memcpy). The memory is sized once (no growth), so the views
 * stay valid. size and costSize are multiples of four.
 */
export class CellTables {
  /** nlist × size cell terms: filled by the caller once, read-only afterwards. */
  readonly terms: Float32Array;
  /** The prepared query's terms (size floats): written by the caller per query. */
  readonly query: Float32Array;
  /** The last cell's table (size floats). */
  readonly out: Float32Array;
  private readonly kernel: CellTableExports;

  constructor(
    nlist: number,
    private readonly size: number,
  ) {
    if (size % 4 !== 0) throw new RangeError(`cell tables of ${size} floats: a multiple of four is needed`);
    cellTableModule ??= new WebAssembly.Module(compile(CELL_TABLE_WAT));
    this.kernel = new WebAssembly.Instance(cellTableModule).exports as unknown as CellTableExports;
    const bytes = (nlist + 2) * size * 4;
    const missing = bytes - this.kernel.memory.buffer.byteLength;
    if (missing > 0) this.kernel.memory.grow(Math.ceil(missing / 65536));
    const { buffer } = this.kernel.memory;
    this.terms = new Float32Array(buffer, 0, nlist * size);
    this.query = new Float32Array(buffer, nlist * size * 4, size);
    this.out = new Float32Array(buffer, (nlist + 1) * size * 4, size);
  }

  /** out = terms of cell `list` + query, and + cost on the first costSize entries; returns out. */
  cellTable(list: number, cost: number, costSize: number): Float32Array {
    const { size } = this;
    this.kernel.cellTable(list * size * 4, this.query.byteOffset, this.out.byteOffset, size * 4, cost, costSize * 4);
    return this.out;
  }
}

/**
 * Many square-or-not matrices held packed in a kernel memory of their own,
 * for products of one vector with any of them without copying a matrix per
 * call (queryDots packs a matrix on first use into a shared budget; LOPQ's
 * hundreds of d × d rotations would churn it). Each matrix is rows × k
 * (Rotation.directions layout for a rotation: out = D · x).
 */
export class ResidentMatrices {
  private readonly kernel: RowDots;
  private readonly kp: number;
  private readonly mp: number;
  /** Byte address of matrix 0; matrix r follows at r × stride. */
  private readonly first: number;
  private readonly stride: number;

  constructor(
    matrices: Float32Array,
    readonly count: number,
    readonly rows: number,
    readonly k: number,
  ) {
    if (matrices.length !== count * rows * k) throw new RangeError(`${matrices.length} values are not ${count} matrices of ${rows} × ${k}`);
    const exports = new WebAssembly.Instance(new WebAssembly.Module(compile(ROW_DOTS_WAT))).exports as unknown as RowDots;
    this.kernel = { memory: exports.memory, rowDots: exports.rowDots, rowDotsMany: exports.rowDotsMany };
    this.kp = up4(k);
    this.mp = Math.ceil(rows / DOT_BLOCK) * DOT_BLOCK;
    this.first = 4 * this.kp + 8 * this.mp; // the vector, then the output doubles
    this.stride = this.mp * this.kp * 4;
    const bytes = this.first + count * this.stride;
    const missing = bytes - this.kernel.memory.buffer.byteLength;
    if (missing > 0) this.kernel.memory.grow(Math.ceil(missing / 65536));
    const f32 = new Float32Array(this.kernel.memory.buffer);
    for (let r = 0; r < count; r++) packRows(matrices, r * rows * k, rows, k, this.kp, f32, (this.first + r * this.stride) / 4);
  }

  /** out[oo + j] = ⟨x[xo .. xo + k), row j of matrix r⟩ for its rows (float32 lanes, as queryDots). */
  dots(r: number, x: Float32Array, xo: number, out: Float32Array | Float64Array, oo = 0): void {
    const { buffer } = this.kernel.memory;
    const q = new Float32Array(buffer, 0, this.kp);
    q.set(x.subarray(xo, xo + this.k));
    const outAt = 4 * this.kp;
    this.kernel.rowDots(0, this.first + r * this.stride, this.mp, this.kp * 4, outAt);
    const f64 = new Float64Array(buffer, outAt, this.rows);
    for (let j = 0; j < this.rows; j++) out[oo + j] = f64[j];
  }
}
