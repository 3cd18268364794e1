/**
 * A minimal WebAssembly binary writer: just enough to build the SIMD kernels
 * in kernels.ts at load time (no toolchain, no build step, no binary in git).
 * Functions take i32 parameters, return nothing and share one exported memory.
 * Spec: https://webassembly.github.io/spec/core/binary/ (SIMD opcodes: 0xfd prefix).
 */

export type Bytes = number[];

export function uleb(n: number): Bytes {
  const out: Bytes = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): Bytes {
  const out: Bytes = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** Instructions used by the kernels; each returns its encoding. */
export const op = {
  get: (i: number): Bytes => [0x20, ...uleb(i)],
  set: (i: number): Bytes => [0x21, ...uleb(i)],
  tee: (i: number): Bytes => [0x22, ...uleb(i)],
  i32: (v: number): Bytes => [0x41, ...sleb(v)],
  f64: (v: number): Bytes => [0x44, ...new Uint8Array(new Float64Array([v]).buffer)],
  i32Add: [0x6a],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  i32LtU: [0x49],
  f32Add: [0x92],
  f64Sub: [0xa1],
  f64Mul: [0xa2],
  f64Lt: [0x63],
  f64PromoteF32: [0xbb],
  i32Store: (offset = 0): Bytes => [0x36, 2, ...uleb(offset)],
  f32Store: (offset = 0): Bytes => [0x38, 2, ...uleb(offset)],
  f64Load: (offset = 0): Bytes => [0x2b, 3, ...uleb(offset)],
  /** Structured control: block / loop with an empty type, br_if to a depth, end. */
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  end: [0x0b],
  brIf: (depth: number): Bytes => [0x0d, ...uleb(depth)],
  v128Load: (offset = 0): Bytes => [0xfd, ...uleb(0x00), 4, ...uleb(offset)],
  v128Zero: [0xfd, ...uleb(0x0c), ...new Array<number>(16).fill(0)],
  f32x4Add: [0xfd, ...uleb(0xe4)],
  f32x4Mul: [0xfd, ...uleb(0xe6)],
  f32x4Lane: (lane: number): Bytes => [0xfd, ...uleb(0x1f), lane],
};

export interface FunctionDef {
  name: string;
  params: number;
  /** Extra locals after the i32 parameters, by type. */
  locals: number[];
  body: Bytes;
}

function section(id: number, content: Bytes): Bytes {
  return [id, ...uleb(content.length), ...content];
}

function vec(items: Bytes[]): Bytes {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): Bytes {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

/** A module exporting `memory` (initial pages, growable) and the given functions. */
export function assemble(functions: FunctionDef[], pages: number): Uint8Array {
  const types = functions.map((f) => [0x60, ...uleb(f.params), ...new Array<number>(f.params).fill(I32), 0]);
  const codes = functions.map((f) => {
    const runs: Bytes[] = [];
    for (let i = 0; i < f.locals.length; ) {
      let j = i;
      while (j < f.locals.length && f.locals[j] === f.locals[i]) j++;
      runs.push([...uleb(j - i), f.locals[i]]);
      i = j;
    }
    const body = [...vec(runs), ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  const exports = [[...name('memory'), 0x02, 0], ...functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec(exports)),
    ...section(10, vec(codes)),
  ]);
}
