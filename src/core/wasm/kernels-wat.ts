/**
 * The WebAssembly text (WAT) of the SIMD kernels; kernels.ts compiles it with
 * watr on first use in each thread. Parameters, locals and loops are addressed by name only.
 * The 2 × 4 unrolling repeats one line per accumulator, so small helpers write
 * those lines; the loops are plain text. To read the module as compiled:
 *   npm run build && node -e "import('./dist/src/core/wasm/kernels-wat.js').then((m) => console.log(m.KERNELS_WAT))"
 *
 * Both kernels run the same block loops over (a, na, b, nb, kb): a holds na
 * rows, b holds nb rows, each row kb bytes of float32. The caller pads every
 * row with zeros to a multiple of four floats (kb a multiple of 16: zeros add
 * nothing to a dot product) and pads a to an even number of rows, b to a
 * multiple of four (na, nb > 0). Pointers are byte addresses in the exported
 * memory. A block is rows i, i + 1 of a × rows j … j + 3 of b: eight
 * accumulators of four float32 lanes, lane l summing columns l, l + 4, l + 8 …,
 * so each value loaded from a is used four times and each one from b twice.
 */

/** Rows of a (r) and of b (q) in one block. */
const A_ROWS = [0, 1];
const B_ROWS = [0, 1, 2, 3];

/** The accumulator of row r of a × row q of b. */
const acc = (r: number, q: number): string => `$acc${r}_${q}`;

/** One line per accumulator: r outer (the order of the locals) or q outer. */
function eachAccumulator(outer: 'r' | 'q', line: (r: number, q: number) => string): string[] {
  return outer === 'r' ? A_ROWS.flatMap((r) => B_ROWS.map((q) => line(r, q))) : B_ROWS.flatMap((q) => A_ROWS.map((r) => line(r, q)));
}

/** Generated lines, aligned with the text they are spliced into. */
const indented = (spaces: number, lines: string[]): string => lines.join(`\n${' '.repeat(spaces)}`);

/**
 * The dot product of row r of a and row q of b from its accumulator: the lanes
 * summed in float32 as ((lane 0 + lane 1) + lane 2) + lane 3.
 */
function dot(r: number, q: number): string {
  const lane = (l: number): string => `(f32x4.extract_lane ${l} (local.get ${acc(r, q)}))`;
  return `(f32.add (f32.add (f32.add ${lane(0)} ${lane(1)}) ${lane(2)}) ${lane(3)})`;
}

const AB_PARAMS = '(param $a i32) (param $na i32) (param $b i32) (param $nb i32) (param $kb i32)';

const BLOCK_LOCALS = `(local $i i32) (local $j i32)       ;; first row of a, of b in the block
    (local $t i32)                      ;; byte offset of the current four columns within a row
    (local $pa0 i32) (local $pa1 i32)   ;; addresses of rows i, i + 1 of a
    (local $pb0 i32) (local $pb1 i32) (local $pb2 i32) (local $pb3 i32) ;; addresses of rows j … j + 3 of b
    (local $po i32)                     ;; where the block's results go
    ${eachAccumulator('r', (r, q) => `(local ${acc(r, q)} v128)`).join(' ')}
    (local $va0 v128) (local $va1 v128) ;; four columns of rows i, i + 1 of a
    (local $vb v128)                    ;; four columns of one row of b`;

/**
 * The block loops. `beforeRows` runs before the first block of rows i, i + 1 of
 * a, `epilogue` after each block (the eight accumulators complete), `afterRows`
 * after the last block of rows i, i + 1. Every loop runs at least once.
 */
function blockLoops(beforeRows: string[], epilogue: string[], afterRows: string[]): string {
  return `(local.set $i (i32.const 0))
    (loop $rowsOfA
      (local.set $pa1 (i32.add (local.tee $pa0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $kb)))) (local.get $kb)))
      ${indented(6, beforeRows)}
      (local.set $j (i32.const 0))
      (loop $rowsOfB
        (local.set $pb0 (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $kb))))
        (local.set $pb1 (i32.add (local.get $pb0) (local.get $kb)))
        (local.set $pb2 (i32.add (local.get $pb1) (local.get $kb)))
        (local.set $pb3 (i32.add (local.get $pb2) (local.get $kb)))
        ${indented(
          8,
          eachAccumulator('r', (r, q) => `(local.set ${acc(r, q)} (v128.const i32x4 0 0 0 0))`),
        )}
        (local.set $t (i32.const 0))
        (loop $columns
          (local.set $va0 (v128.load (i32.add (local.get $pa0) (local.get $t))))
          (local.set $va1 (v128.load (i32.add (local.get $pa1) (local.get $t))))
          ;; each row of b: loaded once, multiplied by both rows of a
          ${indented(
            10,
            B_ROWS.flatMap((q) => [
              `(local.set $vb (v128.load (i32.add (local.get $pb${q}) (local.get $t))))`,
              ...A_ROWS.map((r) => `(local.set ${acc(r, q)} (f32x4.add (local.get ${acc(r, q)}) (f32x4.mul (local.get $va${r}) (local.get $vb))))`),
            ]),
          )}
          (local.set $t (i32.add (local.get $t) (i32.const 16)))
          (br_if $columns (i32.lt_u (local.get $t) (local.get $kb))))
        ${indented(8, epilogue)}
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br_if $rowsOfB (i32.lt_u (local.get $j) (local.get $nb))))
      ${indented(6, afterRows)}
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br_if $rowsOfA (i32.lt_u (local.get $i) (local.get $na))))`;
}

/** dots(a, na, b, nb, kb, out, ostride): float32 out[i·ostride/4 + j] = ⟨row i of a, row j of b⟩ (ostride in bytes). */
const DOTS = `(func $dots (export "dots") ${AB_PARAMS} (param $out i32) (param $ostride i32)
    ${BLOCK_LOCALS}
    ${blockLoops(
      [],
      [
        ';; results of row i at $po (columns j … j + 3), of row i + 1 one output row further',
        '(local.set $po (i32.add (i32.add (local.get $out) (i32.mul (local.get $i) (local.get $ostride))) (i32.shl (local.get $j) (i32.const 2))))',
        ...eachAccumulator('r', (r, q) => {
          const row = r === 0 ? '(local.get $po)' : '(i32.add (local.get $po) (local.get $ostride))';
          return `(f32.store offset=${4 * q} ${row} ${dot(r, q)})`;
        }),
      ],
      [],
    )})`;

/**
 * nearest(a, na, b, nb, kb, norms, out): int32 out[i] = argmin over j of
 * norms[j] − 2⟨row i of a, row j of b⟩, the squared distance from row i to
 * centroid j less ‖row i‖² (the same for every j). a holds the rows, b the
 * centroids, norms their squared norms in float64, +∞ for padding centroids
 * so that they never win. The comparison is in float64; a later centroid must
 * be strictly nearer to win, so ties go to the lower j.
 */
const NEAREST = `(func $nearest (export "nearest") ${AB_PARAMS} (param $norms i32) (param $out i32)
    ${BLOCK_LOCALS}
    (local $best0 i32) (local $best1 i32) ;; nearest centroid so far of rows i, i + 1
    (local $v0 f64) (local $v1 f64)       ;; its value
    (local $val f64)                      ;; the value of the centroid at hand
    ${blockLoops(
      ['(local.set $v0 (f64.const inf))', '(local.set $v1 (f64.const inf))', '(local.set $best0 (i32.const 0))', '(local.set $best1 (i32.const 0))'],
      [
        ';; centroids j … j + 3 in increasing order, each against both rows',
        '(local.set $po (i32.add (local.get $norms) (i32.shl (local.get $j) (i32.const 3))))',
        ...eachAccumulator('q', (r, q) =>
          [
            `(if (f64.lt (local.tee $val (f64.sub (f64.load offset=${8 * q} (local.get $po)) (f64.mul (f64.promote_f32 ${dot(r, q)}) (f64.const 2)))) (local.get $v${r}))`,
            `  (then (local.set $v${r} (local.get $val)) (local.set $best${r} (i32.add (local.get $j) (i32.const ${q})))))`,
          ].join('\n        '),
        ),
      ],
      [
        '(i32.store (local.tee $po (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))) (local.get $best0))',
        '(i32.store offset=4 (local.get $po) (local.get $best1))',
      ],
    )})`;

/** The module: both kernels and the memory they share, 16 pages (1 MiB) to start, grown by the caller. */
export const KERNELS_WAT = `(module
  (memory (export "memory") 16)

  ${DOTS}

  ${NEAREST})
`;

/** Rows of b per block of rowDots: eight float32x4 accumulators, each query load used eight times (kernels.ts pads matrices to a multiple). */
export const DOT_BLOCK = 8;
const DOT_ROWS = Array.from({ length: DOT_BLOCK }, (_, r) => r);

/**
 * rowDots(q, b, nb, kb, out): float64 out[j] = ⟨q, row j of b⟩ for j < nb,
 * summed in float32 as FAISS's sgemv does — one query row against a matrix
 * kept resident in memory (a codebook, the coarse centroids): the products of
 * distance tables and coarse costs. q is kb bytes of float32, padded with
 * zeros to a multiple of four. b holds nb rows (a multiple of eight: zero rows
 * pad it) of kb bytes, interleaved by blocks of eight rows: within a block,
 * columns t … t + 3 of rows 0 … 7 side by side (16 bytes each), then columns
 * t + 4 … t + 7 … (kernels.ts packRows), so one pointer and immediate offsets
 * reach all eight. Four float32 lanes per row: lane l sums columns l, l + 4,
 * l + 8 …, and the dot product is ((lane 0 + lane 1) + lane 2) + lane 3.
 */
const ROW_DOTS = `(func $rowDots (export "rowDots") (param $q i32) (param $b i32) (param $nb i32) (param $kb i32) (param $out i32)
    (local $j i32) (local $t i32) (local $p i32) (local $vq v128)
    ${DOT_ROWS.map((r) => `(local $d${r} v128)`).join(' ')}
    (local.set $p (local.get $b))
    (local.set $j (i32.const 0))
    (loop $rows
      ${indented(
        6,
        DOT_ROWS.map((r) => `(local.set $d${r} (v128.const i32x4 0 0 0 0))`),
      )}
      (local.set $t (i32.const 0))
      (loop $columns
        (local.set $vq (v128.load (i32.add (local.get $q) (local.get $t))))
        ${indented(
          8,
          DOT_ROWS.map(
            (r) => `(local.set $d${r} (f32x4.add (local.get $d${r}) (f32x4.mul (local.get $vq) (v128.load offset=${16 * r} (local.get $p)))))`,
          ),
        )}
        (local.set $p (i32.add (local.get $p) (i32.const ${16 * DOT_ROWS.length})))
        (local.set $t (i32.add (local.get $t) (i32.const 16)))
        (br_if $columns (i32.lt_u (local.get $t) (local.get $kb))))
      ${indented(
        6,
        DOT_ROWS.map((r) => {
          const lane = (l: number): string => `(f32x4.extract_lane ${l} (local.get $d${r}))`;
          return `(f64.store offset=${8 * r} (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 3))) (f64.promote_f32 (f32.add (f32.add (f32.add ${lane(0)} ${lane(1)}) ${lane(2)}) ${lane(3)})))`;
        }),
      )}
      (local.set $j (i32.add (local.get $j) (i32.const ${DOT_ROWS.length})))
      (br_if $rows (i32.lt_u (local.get $j) (local.get $nb)))))`;

/**
 * rowDotsMany(desc, n): rowDots for n (query, matrix) pairs whose arguments
 * are int32 records of 20 bytes at desc: q, b, nb, kb, out. One call for a
 * product quantizer's m codebooks (a query's distance table).
 */
const ROW_DOTS_MANY = `(func $rowDotsMany (export "rowDotsMany") (param $desc i32) (param $n i32)
    (local $i i32) (local $p i32)
    (local.set $p (local.get $desc))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $pairs
        (call $rowDots (i32.load (local.get $p)) (i32.load offset=4 (local.get $p)) (i32.load offset=8 (local.get $p))
          (i32.load offset=12 (local.get $p)) (i32.load offset=16 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 20)))
        (br_if $pairs (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))))`;

/** The module of rowDots, with its own memory: the resident matrices stay there between calls. */
export const ROW_DOTS_WAT = `(module
  (memory (export "memory") 16)

  ${ROW_DOTS}

  ${ROW_DOTS_MANY})
`;

/**
 * l2sqRows(x, b, nb, kb, out): float64 out[j] = ‖x − row j of b‖² for j < nb,
 * bit for bit distance.l2sq: x and the rows are kb bytes of float32 (padded
 * with zeros to a multiple of four floats: (0 − 0)² adds +0, which changes no
 * sum), each pair of floats promoted to float64 before the difference; two
 * float64x2 accumulators hold l2sq's four chains (column t in chain t mod 4),
 * and the result is (chain 0 + chain 1) + (chain 2 + chain 3). The distances
 * from a point to one group of k-means centroids.
 */
const L2SQ_ROWS = `(func $l2sqRows (export "l2sqRows") (param $x i32) (param $b i32) (param $nb i32) (param $kb i32) (param $out i32)
    (local $j i32) (local $t i32) (local $p i32)
    (local $lo v128) (local $hi v128)   ;; chains 0, 1 and chains 2, 3
    (local $v v128)
    (local.set $j (i32.const 0))
    (loop $rows
      (local.set $p (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $kb))))
      (local.set $lo (v128.const i32x4 0 0 0 0))
      (local.set $hi (v128.const i32x4 0 0 0 0))
      (local.set $t (i32.const 0))
      (loop $columns
        (local.set $v (f64x2.sub
          (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (local.get $t))))
          (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $p) (local.get $t))))))
        (local.set $lo (f64x2.add (local.get $lo) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub
          (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (i32.add (local.get $x) (local.get $t))))
          (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (i32.add (local.get $p) (local.get $t))))))
        (local.set $hi (f64x2.add (local.get $hi) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $t (i32.add (local.get $t) (i32.const 16)))
        (br_if $columns (i32.lt_u (local.get $t) (local.get $kb))))
      (f64.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 3)))
        (f64.add
          (f64.add (f64x2.extract_lane 0 (local.get $lo)) (f64x2.extract_lane 1 (local.get $lo)))
          (f64.add (f64x2.extract_lane 0 (local.get $hi)) (f64x2.extract_lane 1 (local.get $hi)))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $j) (local.get $nb)))))`;

/** The module of l2sqRows, with its own memory: the rows stay there between calls. */
export const L2SQ_ROWS_WAT = `(module
  (memory (export "memory") 16)

  ${L2SQ_ROWS})
`;

/**
 * cellTable(terms, query, out, bytes, cost, costBytes): the ADC table of one
 * IVF cell (core/ivf.ts), float32 out[i] = terms[i] + query[i] for the first
 * `bytes` bytes, and for the first `costBytes` (sub-space 0, which carries the
 * coarse cost) then + cost in float64, rounded back to float32 — bit for bit
 * what `table[i] = terms[i] + query[i]; table[c] += cost` does on
 * Float32Arrays. Both sizes are multiples of 16, costBytes ≤ bytes.
 */
const CELL_TABLE = `(func $cellTable (export "cellTable") (param $terms i32) (param $query i32) (param $out i32) (param $bytes i32) (param $cost f64) (param $costBytes i32)
    (local $i i32) (local $v v128) (local $c v128)
    (local.set $c (f64x2.splat (local.get $cost)))
    (local.set $i (i32.const 0))
    (block $costDone
      (loop $withCost
        (br_if $costDone (i32.ge_u (local.get $i) (local.get $costBytes)))
        (local.set $v (f32x4.add
          (v128.load (i32.add (local.get $terms) (local.get $i)))
          (v128.load (i32.add (local.get $query) (local.get $i)))))
        ;; lanes 0, 1 and 2, 3 through float64 (+ cost), back to float32, put together again
        (v128.store (i32.add (local.get $out) (local.get $i))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $v)) (local.get $c)))
            (f32x4.demote_f64x2_zero (f64x2.add
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
              (local.get $c)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $withCost)))
    (block $done
      (loop $plain
        (br_if $done (i32.ge_u (local.get $i) (local.get $bytes)))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (f32x4.add
            (v128.load (i32.add (local.get $terms) (local.get $i)))
            (v128.load (i32.add (local.get $query) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $plain))))`;

/** The module of cellTable, with its own memory: a codec's cell terms stay there. */
export const CELL_TABLE_WAT = `(module
  (memory (export "memory") 1)

  ${CELL_TABLE})
`;
