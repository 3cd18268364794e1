/**
 * Turns request vectors (JSON number arrays, already type-checked by the route
 * schemas) into float32 rows, with the checks that depend on the collection.
 */
import { dot } from '../core/distance.js';
import { MAX_ABS_VALUE } from '../tunables.js';
import { badRequest } from './errors.js';

const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Packs vectors into an n × d Float32Array. `label(i)` names vector i in
 * messages (e.g. "vectors[3].vector"). Rejects a wrong length, values that do
 * not fit float32 or exceed MAX_ABS_VALUE, and (for cosine) zero vectors, whose direction is undefined.
 */
export function packVectors(vectors: ReadonlyArray<ReadonlyArray<number>>, d: number, cosine: boolean, label: (i: number) => string): Float32Array {
  const out = new Float32Array(vectors.length * d);
  vectors.forEach((v, i) => {
    if (v.length !== d) {
      throw badRequest(`${label(i)} has ${v.length} values; the collection's dimension is ${d}`);
    }
    for (let t = 0; t < d; t++) {
      const x = v[t];
      if (!(Math.abs(x) <= FLOAT32_MAX)) {
        throw badRequest(`${label(i)}[${t}] = ${x} is not a finite 32-bit float (|value| ≤ ${FLOAT32_MAX})`);
      }
      if (Math.abs(x) > MAX_ABS_VALUE) throw outOfRange(label(i), t, x);
      out[i * d + t] = x;
    }
  });
  if (cosine) checkDirections(out, vectors.length, d, label);
  return out;
}

const outOfRange = (label: string, t: number, x: number) =>
  badRequest(
    `${label}[${t}] = ${x} is outside the supported range |value| ≤ ${MAX_ABS_VALUE} (squared distances must fit in 32-bit floats); scale the vectors down`,
  );

/** MAX_ABS_VALUE as a float32 bound: a float32 row value within it came from a number within MAX_ABS_VALUE. */
const MAX_ABS_F32 = Math.fround(MAX_ABS_VALUE);

/**
 * The checks every stored or queried row passes, on n × d float32 rows (binary
 * bodies; packVectors checks its numbers before rounding them): finite (NaN and
 * ±Infinity refused), |value| ≤ MAX_ABS_VALUE, and (cosine) not zero.
 */
export function checkRows(rows: Float32Array, n: number, d: number, cosine: boolean, label: (i: number) => string): void {
  for (let i = 0; i < n; i++) {
    for (let t = i * d; t < (i + 1) * d; t++) {
      const x = rows[t];
      if (!Number.isFinite(x)) throw badRequest(`${label(i)}[${t - i * d}] = ${x} is not a finite 32-bit float`);
      if (Math.abs(x) > MAX_ABS_F32) throw outOfRange(label(i), t - i * d, x);
    }
  }
  if (cosine) checkDirections(rows, n, d, label);
}

/** Refuses a zero row: it has no direction under the cosine metric. */
function checkDirections(rows: Float32Array, n: number, d: number, label: (i: number) => string): void {
  for (let i = 0; i < n; i++) {
    if (dot(rows, i * d, rows, i * d, d) === 0) throw badRequest(`${label(i)} is a zero vector, which has no direction under the cosine metric`);
  }
}
