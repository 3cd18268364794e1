/**
 * WebAssembly SIMD kernels for the dense products of training and encoding:
 * rotating rows (A·Bᵀ) and nearest-centroid search (encoding, IVF assignment).
 * Four float32 lanes per instruction, two rows × four rows per block (eight
 * accumulators); `npm run bench:kernels` compares them with the scalar kernels.
 *
 * Precision: dot products are summed in float32 lanes (four interleaved partial
 * sums, then lane 0 + 1 + 2 + 3), so they differ from the float64 JavaScript
 * kernels by float32 rounding (relative ~1e-7 · √k). Use them where that is
 * harmless (rotations, code assignment), not where exact bounds are needed
 * (k-means pruning keeps the float64 kernels).
 *
 * Each thread (main or worker) has its own instance and memory; the wrappers
 * copy operands into linear memory in cache-sized blocks (rows padded to a
 * multiple of four floats with zeros), call the kernel and copy results out.
 * Same inputs give bit-identical results in every thread.
 */
import { type Bytes, F64, I32, V128, assemble, op } from './assembler.js';

// Both kernels take (a, na, b, nb, kb, p5, p6): a: na rows, b: nb rows, kb bytes per row
// (a multiple of 16); na even, nb a multiple of 4, both > 0. Locals after the parameters:
const I = 7,
  J = 8,
  T = 9,
  PA0 = 10,
  PA1 = 11,
  PB = 12,
  PO = 16; // PB..PB+3: the four b rows
const ACC = 17,
  AV0 = 25,
  AV1 = 26,
  BV = 27; // v128: ACC + 4r + q = row r of a × row q of b
const BEST0 = 28,
  BEST1 = 29,
  V0 = 30,
  V1 = 31,
  VAL = 32; // nearest only
const SHARED_LOCALS = [...new Array<number>(10).fill(I32), ...new Array<number>(11).fill(V128)];

/** Horizontal sum of a v128 local: ((l0 + l1) + l2) + l3, f32. */
function hsum(v: number): Bytes {
  return [
    ...op.get(v),
    ...op.f32x4Lane(0),
    ...op.get(v),
    ...op.f32x4Lane(1),
    ...op.f32Add,
    ...op.get(v),
    ...op.f32x4Lane(2),
    ...op.f32Add,
    ...op.get(v),
    ...op.f32x4Lane(3),
    ...op.f32Add,
  ];
}

/** local = local + v (i32). */
function bump(local: number, v: Bytes): Bytes {
  return [...op.get(local), ...v, ...op.i32Add, ...op.set(local)];
}

/** The 2 × 4 block loops; `epilogue` consumes the eight accumulators of block (i, j). */
function blockLoops(beforeRow: Bytes, epilogue: Bytes, afterRow: Bytes): Bytes {
  const dotStep: Bytes = [];
  for (let q = 0; q < 4; q++) {
    dotStep.push(...op.get(PB + q), ...op.get(T), ...op.i32Add, ...op.v128Load(), ...op.set(BV));
    for (let r = 0; r < 2; r++) {
      dotStep.push(
        ...op.get(ACC + 4 * r + q),
        ...op.get(r === 0 ? AV0 : AV1),
        ...op.get(BV),
        ...op.f32x4Mul,
        ...op.f32x4Add,
        ...op.set(ACC + 4 * r + q),
      );
    }
  }
  const zero: Bytes = [];
  for (let a = 0; a < 8; a++) zero.push(...op.v128Zero, ...op.set(ACC + a));
  const rowsOfB: Bytes = [...op.get(2), ...op.get(J), ...op.get(4), ...op.i32Mul, ...op.i32Add, ...op.set(PB)];
  for (let q = 1; q < 4; q++) rowsOfB.push(...op.get(PB + q - 1), ...op.get(4), ...op.i32Add, ...op.set(PB + q));
  return [
    ...op.i32(0),
    ...op.set(I),
    ...op.loop,
    ...op.get(0),
    ...op.get(I),
    ...op.get(4),
    ...op.i32Mul,
    ...op.i32Add,
    ...op.tee(PA0),
    ...op.get(4),
    ...op.i32Add,
    ...op.set(PA1),
    ...beforeRow,
    ...op.i32(0),
    ...op.set(J),
    ...op.loop,
    ...rowsOfB,
    ...zero,
    ...op.i32(0),
    ...op.set(T),
    ...op.loop,
    ...op.get(PA0),
    ...op.get(T),
    ...op.i32Add,
    ...op.v128Load(),
    ...op.set(AV0),
    ...op.get(PA1),
    ...op.get(T),
    ...op.i32Add,
    ...op.v128Load(),
    ...op.set(AV1),
    ...dotStep,
    ...bump(T, op.i32(16)),
    ...op.get(T),
    ...op.get(4),
    ...op.i32LtU,
    ...op.brIf(0),
    ...op.end,
    ...epilogue,
    ...bump(J, op.i32(4)),
    ...op.get(J),
    ...op.get(3),
    ...op.i32LtU,
    ...op.brIf(0),
    ...op.end,
    ...afterRow,
    ...bump(I, op.i32(2)),
    ...op.get(I),
    ...op.get(1),
    ...op.i32LtU,
    ...op.brIf(0),
    ...op.end,
  ];
}

/** dots(a, na, b, nb, kb, out, ostride): f32 out[i·ostride/4 + j] = ⟨a_i, b_j⟩ (ostride in bytes). */
function dotsKernel(): Bytes {
  const epilogue: Bytes = [
    ...op.get(5),
    ...op.get(I),
    ...op.get(6),
    ...op.i32Mul,
    ...op.i32Add,
    ...op.get(J),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.i32Add,
    ...op.set(PO),
  ];
  for (let r = 0; r < 2; r++) {
    for (let q = 0; q < 4; q++) {
      epilogue.push(...op.get(PO), ...(r === 0 ? [] : [...op.get(6), ...op.i32Add]), ...hsum(ACC + 4 * r + q), ...op.f32Store(4 * q));
    }
  }
  return blockLoops([], epilogue, []);
}

/**
 * nearest(x, n, c, k, kb, norms, out): i32 out[i] = argmin_j norms[j] − 2⟨x_i, c_j⟩
 * (norms: f64; the comparison in f64, ties to the lower j).
 */
function nearestKernel(): Bytes {
  const init: Bytes = [
    ...op.f64(Infinity),
    ...op.set(V0),
    ...op.f64(Infinity),
    ...op.set(V1),
    ...op.i32(0),
    ...op.set(BEST0),
    ...op.i32(0),
    ...op.set(BEST1),
  ];
  const epilogue: Bytes = [...op.get(5), ...op.get(J), ...op.i32(3), ...op.i32Shl, ...op.i32Add, ...op.set(PO)];
  for (let q = 0; q < 4; q++) {
    for (let r = 0; r < 2; r++) {
      const [v, best] = r === 0 ? [V0, BEST0] : [V1, BEST1];
      epilogue.push(
        ...op.get(PO),
        ...op.f64Load(8 * q),
        ...hsum(ACC + 4 * r + q),
        ...op.f64PromoteF32,
        ...op.f64(2),
        ...op.f64Mul,
        ...op.f64Sub,
        ...op.tee(VAL),
        ...op.get(v),
        ...op.f64Lt,
        ...op.if,
        ...op.get(VAL),
        ...op.set(v),
        ...op.get(J),
        ...op.i32(q),
        ...op.i32Add,
        ...op.set(best),
        ...op.end,
      );
    }
  }
  const store: Bytes = [
    ...op.get(6),
    ...op.get(I),
    ...op.i32(2),
    ...op.i32Shl,
    ...op.i32Add,
    ...op.tee(PO),
    ...op.get(BEST0),
    ...op.i32Store(0),
    ...op.get(PO),
    ...op.get(BEST1),
    ...op.i32Store(4),
  ];
  return blockLoops(init, epilogue, store);
}

const MODULE = new WebAssembly.Module(
  assemble(
    [
      { name: 'dots', params: 7, locals: SHARED_LOCALS, body: dotsKernel() },
      { name: 'nearest', params: 7, locals: [...SHARED_LOCALS, I32, I32, F64, F64, F64], body: nearestKernel() },
    ],
    16,
  ),
);

type Kernel = (a: number, na: number, b: number, nb: number, kb: number, p5: number, p6: number) => void;

interface Instance {
  memory: WebAssembly.Memory;
  dots: Kernel;
  nearest: Kernel;
}

let instance: Instance | null = null;

function kernels(): Instance {
  if (instance === null) {
    const exports = new WebAssembly.Instance(MODULE).exports as unknown as Instance;
    instance = { memory: exports.memory, dots: exports.dots, nearest: exports.nearest };
  }
  return instance;
}

/** Linear memory of at least `bytes`; views must be taken after this call. */
function memoryOf(bytes: number): ArrayBuffer {
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
