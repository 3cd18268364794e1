/**
 * The WebAssembly text (WAT) of the 4-bit fast scan kernel, for packed codes
 * of `bytes` bytes in the blocked layout (code-layout.ts: blocks of 32 rows,
 * byte p of the block's rows side by side), one query per pass over the codes
 * (kernels for 2 and 4 queries sharing the nibble extraction measured slower
 * per query, 1.44 and 2.22 against 0.91 ns per code at 16 bytes: V8 runs out
 * of vector registers). fast-scan.ts compiles one module per code size on
 * first use in each thread. To read a module:
 *   npm run build && node -e "import('./dist/src/core/wasm/fast-scan-wat.js').then((m) => console.log(m.fastScanWat(16, false)))"
 *
 * Kernel `fastScan(codes, n, lut, thr, out, cap) → blocks consumed`
 * - codes: byte address of the first block; n blocks are scanned;
 * - lut:   the quantised table (core/fast-scan.ts): for byte p, 16 uint8
 *          costs of sub-quantizer 2p's codes then 16 of 2p + 1's (each ≤ 127,
 *          so the two costs of a byte add up in one uint8 lane);
 * - thr:   a half block (16 rows) is reported when a row sums to at most thr;
 * - out:   int32 count at out, records from out + 16, RECORD_BYTES each:
 *          the half block's position in [0, 2n) (int32) at +0, then its 16
 *          rows' sums (uint16, row order) from +16;
 * - cap:   the kernel returns after the block in which it wrote its cap-th
 *          record (so `out` must hold cap + 1 records), or after n blocks.
 *
 * Per byte of 16 rows: one load, the low and high nibbles (and; shift and
 * and), two 16-entry look-ups (i8x16.swizzle: the codes index a table held in
 * one vector) added as uint8, widened into uint16 lanes by adds and a shift
 * (see the locals). Sums are exact integers:
 * the kernels and their reference (fast-scan.ts blockSums) agree exactly.
 * `relaxed` uses i8x16.relaxed_swizzle, one x86 instruction (pshufb) where
 * swizzle takes two; with indices below 16, as here, both give the same lanes.
 */

import { BLOCK_ROWS } from '../code-layout.js';
import { lutBytes } from '../fast-scan.js';

/** Where records start in `out` (after the int32 count). */
export const FAST_RECORDS_AT = 16;

/** Bytes of one record: position (padded to 16) + 16 uint16 sums. */
export const RECORD_BYTES = 48;

function kernel(bytes: number, swizzle: string): string {
  const halves: string[] = [];
  for (let half = 0; half < 2; half++) {
    const lines: string[] = ['(local.set $w (v128.const i32x4 0 0 0 0))', '(local.set $h (v128.const i32x4 0 0 0 0))'];
    // Rows 0–15 of the block are the first 16 bytes of each 32-byte group, rows 16–31 the next 16.
    for (let p = 0; p < bytes; p++) {
      lines.push(
        `(local.set $x (v128.load offset=${p * BLOCK_ROWS + 16 * half} (local.get $p)))`,
        '(local.set $lo (v128.and (local.get $x) (local.get $mask)))',
        '(local.set $hi (v128.and (i16x8.shr_u (local.get $x) (i32.const 4)) (local.get $mask)))',
      );
      lines.push(
        `(local.set $s (i8x16.add (${swizzle} (v128.load offset=${lutBytes(p)} (local.get $lut)) (local.get $lo)) (${swizzle} (v128.load offset=${lutBytes(p) + 16} (local.get $lut)) (local.get $hi))))`,
        '(local.set $w (i16x8.add (local.get $w) (local.get $s)))',
        '(local.set $h (i16x8.add (local.get $h) (i16x8.shr_u (local.get $s) (i32.const 8))))',
      );
    }
    // Even rows' sums: the lanes' sums less 256 × the odd rows' (mod 2^16, exact while sums stay below 2^16).
    lines.push('(local.set $w (i16x8.sub (local.get $w) (i16x8.shl (local.get $h) (i32.const 8))))');
    lines.push(`(if (v128.any_true (v128.or (i16x8.le_u (local.get $w) (local.get $t)) (i16x8.le_u (local.get $h) (local.get $t))))
          (then
            (i32.store (local.get $o) (i32.add (i32.shl (local.get $i) (i32.const 1)) (i32.const ${half})))
            (v128.store offset=16 (local.get $o) ${interleave('$w', '$h', 0)})
            (v128.store offset=32 (local.get $o) ${interleave('$w', '$h', 4)})
            (local.set $o (i32.add (local.get $o) (i32.const ${RECORD_BYTES})))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))))`);
    halves.push(lines.join('\n        '));
  }
  return `(func $fastScan (export "fastScan")
    (param $codes i32) (param $n i32) (param $lut i32) (param $thr i32) (param $out i32) (param $cap i32) (result i32)
    (local $i i32)                 ;; position of the block at hand in [0, n)
    (local $p i32)                 ;; its address
    (local $o i32)                 ;; where the next record goes
    (local $c i32)                 ;; records written
    (local $mask v128)             ;; 0x0f in every byte
    (local $x v128)                ;; one code byte of 16 rows
    (local $lo v128) (local $hi v128) ;; its low and high nibbles
    (local $s v128)                ;; the two look-ups of those bytes, added (uint8, at most 254)
    (local $t v128)                ;; the threshold in eight uint16 lanes
    ;; The sums of the half block's 16 rows, uint16 lane l covering rows 2l and
    ;; 2l + 1: $w adds the look-ups as uint16 lanes (row 2l's + 256 × row
    ;; 2l + 1's), $h row 2l + 1's alone. Widening by shifts and adds rather than
    ;; extends keeps the shuffle port free for the look-ups.
    (local $w v128) (local $h v128)
    (local.set $t (i16x8.splat (local.get $thr)))
    (local.set $mask (i8x16.splat (i32.const 15)))
    (local.set $o (i32.add (local.get $out) (i32.const ${FAST_RECORDS_AT})))
    (local.set $p (local.get $codes))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $blocks
        ${halves.join('\n        ')}
        (local.set $p (i32.add (local.get $p) (i32.const ${bytes * BLOCK_ROWS})))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $done (i32.ge_u (local.get $c) (local.get $cap)))
        (br_if $blocks (i32.lt_u (local.get $i) (local.get $n)))))
    (i32.store (local.get $out) (local.get $c))
    (local.get $i))`;
}

/** Rows in order from a half block's even rows' (a) and odd rows' (b) uint16 lanes: rows 2·first … 2·first + 7. */
function interleave(a: string, b: string, first: number): string {
  const lanes = Array.from({ length: 8 }, (_, i) => {
    const l = first + (i >> 1);
    return i % 2 === 0 ? `${2 * l} ${2 * l + 1}` : `${16 + 2 * l} ${17 + 2 * l}`;
  });
  return `(i8x16.shuffle ${lanes.join(' ')} (local.get ${a}) (local.get ${b}))`;
}

/** The module for packed codes of `bytes` bytes: the kernel over an imported shared memory. */
export function fastScanWat(bytes: number, relaxed: boolean): string {
  if (!Number.isInteger(bytes) || bytes < 1) throw new RangeError(`fast scan kernel for codes of ${bytes} bytes`);
  const swizzle = relaxed ? 'i8x16.relaxed_swizzle' : 'i8x16.swizzle';
  return `(module
  (import "env" "memory" (memory 1 65536 shared))

  ${kernel(bytes, swizzle)})
`;
}
