/**
 * The WebAssembly text (WAT) of the ADC scan kernels for codes of m bytes
 * (8-bit codes, 256-entry tables), generated for one m: each sub-space's table
 * offset is an immediate and the loop over sub-spaces is unrolled (a loop over
 * them measured 1.8× slower at m = 32). scan.ts compiles one module per m on
 * first use in each thread and instantiates it over a code arena's shared
 * memory. To read a module:
 *   npm run build && node -e "import('./dist/src/core/wasm/scan-wat.js').then((m) => console.log(m.scanWat(16, [65536])))"
 *
 * Float32 kernels for 1, 4 or 8 queries at a time (`lanes`), over
 * consecutive code rows (`seq`) or over rows listed as int32 row numbers
 * (`listed`, a filter's eligible rows), and `seq8q` (8 queries, consecutive
 * rows, uint16 tables: see quantizedKernel). The single-query kernels come
 * once per scan slot (`seq1_3`: slot 3), their table's address an immediate:
 * a table address in a register costs one more instruction per code byte
 * (the entry's address is then table + code·4 before the load, where an
 * immediate rides in the load), and that instruction is ~10 % of a row at
 * m = 16 (measured: 3.36 against 3.71 ns per code, with the first add of
 * each accumulator also dropped). Every float32 kernel has the signature
 *   (codes, list, n, table, thr, out, cap) → rows consumed
 * - codes: byte address of the first row scanned (seq) or of row 0 (listed);
 * - list:  listed only, address of n int32 row numbers;
 * - table: float32 tables (ignored by the single-query kernels, which read
 *          their slot's); lanes 1: m × 256 (table[j·256 + c], as
 *          codec.distanceTable writes it); lanes L > 1: interleaved per entry,
 *          table[(j·256 + c)·L + q] for query q;
 * - thr:   L float32 thresholds (a lane of −∞ never reports: padding queries);
 * - out:   int32 count at out, records from out + 16: the row's position i in
 *          [0, n) (int32) and its L float32 distances;
 * - cap:   a kernel returns after writing cap records (the caller offers them
 *          to its heaps, lowers the thresholds and calls again from there) or
 *          after n rows.
 * A row is reported when its distance is below the threshold of any lane.
 *
 * Sums: per query, four float32 accumulators take sub-spaces j ≡ 0, 1, 2, 3
 * (mod 4) in order (sub-spaces past the last multiple of four go to the first)
 * and the distance is (a0 + a1) + (a2 + a3): adc.ts's order, in float32 (an
 * accumulator starts at its first entry, which is 0 + entry exactly). With
 * lanes > 1 each accumulator is one f32x4 per four queries, so one v128 load
 * and one add cover an entry for four queries.
 */

export type Lanes = 1 | 4 | 8;
export type RowSource = 'seq' | 'listed';

/** The kernels of a module, by export name; the single-query ones per scan slot. */
export const kernelName = (lanes: Lanes, source: RowSource, slot: number): string => (lanes === 1 ? `${source}1_${slot}` : `${source}${lanes}`);

/** Bytes of one record in `out`: position + one distance per lane. */
export const recordBytes = (lanes: Lanes): number => 4 + 4 * lanes;

/** Where records start in `out` (after the int32 count, 16-byte aligned). */
export const RECORDS_AT = 16;

const lg2 = (v: number): number => Math.log2(v);

/** Byte offset of entry (code byte b of word v) in a sub-space's table, as an i32 expression: code × 4 × lanes. */
function entryOffset(b: number, lanes: Lanes): string {
  const s = lg2(4 * lanes);
  const mask = 255 << s;
  if (b === 0) return `(i32.shl (i32.and (local.get $v) (i32.const 255)) (i32.const ${s}))`;
  if (b === 3) return `(i32.shl (i32.shr_u (local.get $v) (i32.const 24)) (i32.const ${s}))`;
  return `(i32.and (i32.shr_u (local.get $v) (i32.const ${8 * b - s})) (i32.const ${mask}))`;
}

/** The accumulators of one query group: a{residue}_{group}. */
const acc = (r: number, g: number): string => `$a${r}_${g}`;

/**
 * One float32 kernel; `slot` and `tableAt` (the slot's table address) for the
 * single-query kernels, whose table address is an immediate.
 */
function kernel(m: number, lanes: Lanes, source: RowSource, slot = 0, tableAt = 0): string {
  const groups = lanes === 1 ? 1 : lanes / 4;
  const ty = lanes === 1 ? 'f32' : 'v128';
  const zero = lanes === 1 ? '(f32.const 0)' : '(v128.const i32x4 0 0 0 0)';
  const add = lanes === 1 ? 'f32.add' : 'f32x4.add';
  const load = lanes === 1 ? 'f32.load' : 'v128.load';
  const subBytes = 256 * 4 * lanes; // one sub-space's table
  const accs: string[] = [];
  for (let g = 0; g < groups; g++) for (let r = 0; r < 4; r++) accs.push(acc(r, g));
  const body: string[] = [];
  const started = new Set<string>();
  const add1 = (r: number, j: number, offset: string, base = 0): string[] => {
    const lines: string[] = [];
    for (let g = 0; g < groups; g++) {
      const a = acc(r, g);
      const entry = `(${load} offset=${base + j * subBytes + 16 * g} ${offset})`;
      lines.push(`(local.set ${a} ${started.has(a) ? `(${add} (local.get ${a}) ${entry})` : entry})`);
      started.add(a);
    }
    return lines;
  };
  const words = m >> 2;
  if (lanes === 1) {
    // One query: each code byte loaded on its own (load8_u with the sub-space
    // as offset), which measured faster than a word and three shift/mask ops
    // (2.2 against 2.7 ns per code at m = 8, 4.0 against 4.5 at m = 16).
    for (let j = 0; j < m; j++) {
      const code = `(i32.shl (i32.load8_u offset=${j} (local.get $p)) (i32.const 2))`;
      body.push(...add1(j < 4 * words ? j % 4 : 0, j, code, tableAt));
    }
  } else {
    for (let w = 0; w < words; w++) {
      body.push(`(local.set $v (i32.load offset=${4 * w} (local.get $p)))`);
      for (let b = 0; b < 4; b++) {
        // One address per entry, shared by the query groups.
        body.push(`(local.set $e (i32.add (local.get $table) ${entryOffset(b, lanes)}))`);
        body.push(...add1(b, 4 * w + b, '(local.get $e)'));
      }
    }
    for (let j = 4 * words; j < m; j++) {
      body.push(`(local.set $e (i32.add (local.get $table) (i32.shl (i32.load8_u offset=${j} (local.get $p)) (i32.const ${lg2(4 * lanes)}))))`);
      body.push(...add1(0, j, '(local.get $e)'));
    }
  }
  // Accumulators no sub-space reached (m < 4) hold 0.
  body.unshift(...accs.filter((a) => !started.has(a)).map((a) => `(local.set ${a} ${zero})`));
  // Distances (a0 + a1) + (a2 + a3) into the residue-0 accumulators.
  for (let g = 0; g < groups; g++) {
    body.push(
      `(local.set ${acc(0, g)} (${add} (${add} (local.get ${acc(0, g)}) (local.get ${acc(1, g)})) (${add} (local.get ${acc(2, g)}) (local.get ${acc(3, g)}))))`,
    );
  }
  let below: string;
  if (lanes === 1) {
    below = `(f32.lt (local.get ${acc(0, 0)}) (local.get $t0))`;
  } else {
    const lt = (g: number): string => `(f32x4.lt (local.get ${acc(0, g)}) (local.get $t${g}))`;
    below = `(v128.any_true ${groups === 1 ? lt(0) : `(v128.or ${lt(0)} ${lt(1)})`})`;
  }
  const store =
    lanes === 1
      ? [`(f32.store offset=4 (local.get $o) (local.get ${acc(0, 0)}))`]
      : Array.from({ length: groups }, (_, g) => `(v128.store offset=${4 + 16 * g} (local.get $o) (local.get ${acc(0, g)}))`);
  const thresholds = Array.from({ length: groups }, (_, g) => `(local.set $t${g} (${load} offset=${16 * g} (local.get $thr)))`);
  // Consecutive rows: $p steps by m from the first row; listed rows: row 0 + row × m.
  const rowAddress =
    source === 'seq'
      ? []
      : [
          `(local.set $p (i32.add (local.get $codes) (i32.mul (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))) (i32.const ${m}))))`,
        ];
  const nextRow = source === 'seq' ? [`(local.set $p (i32.add (local.get $p) (i32.const ${m})))`] : [];
  const name = kernelName(lanes, source, slot);
  return `(func $${name} (export "${name}")
    (param $codes i32) (param $list i32) (param $n i32) (param $table i32) (param $thr i32) (param $out i32) (param $cap i32) (result i32)
    (local $i i32)                 ;; position of the row at hand in [0, n)
    (local $p i32)                 ;; its code's address
    (local $v i32)                 ;; four code bytes
    (local $e i32)                 ;; address of a table entry (sub-space 0's; the sub-space is the load's offset)
    (local $o i32)                 ;; where the next record goes
    (local $c i32)                 ;; records written
    ${Array.from({ length: groups }, (_, g) => `(local $t${g} ${ty})`).join(' ')} ;; thresholds
    ${accs.map((a) => `(local ${a} ${ty})`).join(' ')}
    ${thresholds.join('\n    ')}
    (local.set $o (i32.add (local.get $out) (i32.const ${RECORDS_AT})))
    (local.set $p (local.get $codes))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $rows
        ${rowAddress.join('')}
        ${body.join('\n        ')}
        (if ${below}
          (then
            (i32.store (local.get $o) (local.get $i))
            ${store.join('\n            ')}
            (local.set $o (i32.add (local.get $o) (i32.const ${recordBytes(lanes)})))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (if (i32.ge_u (local.get $c) (local.get $cap))
              (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $done)))))
        ${nextRow.join('')}
        (br_if $rows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))
    (i32.store (local.get $out) (local.get $c))
    (local.get $i))`;
}

/** Bytes of one record of the quantised kernel: position (padded to 16) + 8 uint16 sums. */
export const QUANTIZED_RECORD_BYTES = 32;

/**
 * `seq8q(codes, n, table, thr, out, cap) → rows consumed`: eight queries over
 * consecutive rows with quantised tables (core/fast-scan.ts quantizeCosts):
 * table[(j·256 + c)·8 + q] uint16, entries small enough that no sum passes
 * 2^16; thr: 8 uint16 thresholds; a row is reported when a query's sum is at
 * most its threshold (out: int32 count, then records of the row's position and
 * its 8 sums). One 16-byte load and one add per code byte serve eight queries
 * (the float32 kernel needs two of each), and the table is half the size.
 * The caller re-scores the candidates exactly.
 */
function quantizedKernel(m: number): string {
  const words = m >> 2;
  const body: string[] = [];
  const add = (j: number, index: string): string =>
    `(local.set $a (i16x8.add (local.get $a) (v128.load offset=${j * 256 * 16} (i32.add (local.get $table) (i32.shl ${index} (i32.const 4))))))`;
  for (let w = 0; w < words; w++) {
    body.push(`(local.set $v (i32.load offset=${4 * w} (local.get $p)))`);
    for (let b = 0; b < 4; b++) {
      const index =
        b === 0
          ? '(i32.and (local.get $v) (i32.const 255))'
          : b === 3
            ? '(i32.shr_u (local.get $v) (i32.const 24))'
            : `(i32.and (i32.shr_u (local.get $v) (i32.const ${8 * b})) (i32.const 255))`;
      body.push(add(4 * w + b, index));
    }
  }
  for (let j = 4 * words; j < m; j++) body.push(add(j, `(i32.load8_u offset=${j} (local.get $p))`));
  return `(func $seq8q (export "seq8q")
    (param $codes i32) (param $n i32) (param $table i32) (param $thr i32) (param $out i32) (param $cap i32) (result i32)
    (local $i i32) (local $p i32) (local $v i32) (local $o i32) (local $c i32)
    (local $a v128)                ;; the row's eight sums
    (local $t v128)                ;; the eight thresholds
    (local.set $t (v128.load (local.get $thr)))
    (local.set $o (i32.add (local.get $out) (i32.const ${RECORDS_AT})))
    (local.set $p (local.get $codes))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $rows
        (local.set $a (v128.const i32x4 0 0 0 0))
        ${body.join('\n        ')}
        (if (v128.any_true (i16x8.le_u (local.get $a) (local.get $t)))
          (then
            (i32.store (local.get $o) (local.get $i))
            (v128.store offset=16 (local.get $o) (local.get $a))
            (local.set $o (i32.add (local.get $o) (i32.const ${QUANTIZED_RECORD_BYTES})))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (if (i32.ge_u (local.get $c) (local.get $cap))
              (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $done)))))
        (local.set $p (i32.add (local.get $p) (i32.const ${m})))
        (br_if $rows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))
    (i32.store (local.get $out) (local.get $c))
    (local.get $i))`;
}

/**
 * The module for codes of m bytes over an imported shared memory: the
 * quantised kernel, the 4- and 8-lane kernels, and the single-query kernels
 * of each slot, whose tables are at `slotTables` (byte addresses, by slot).
 */
export function scanWat(m: number, slotTables: readonly number[]): string {
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`scan kernels for codes of ${m} bytes`);
  const kernels: string[] = [quantizedKernel(m)];
  for (const source of ['seq', 'listed'] as const) {
    for (const [slot, tableAt] of slotTables.entries()) kernels.push(kernel(m, 1, source, slot, tableAt));
    for (const lanes of [4, 8] as const) kernels.push(kernel(m, lanes, source));
  }
  return `(module
  (import "env" "memory" (memory 1 65536 shared))

  ${kernels.join('\n\n  ')})
`;
}
