/**
 * Seeded pseudo-random numbers for training (xoshiro128**, seeded through splitmix32).
 * Deterministic across platforms: only 32-bit integer arithmetic.
 */

/** Mixes a 32-bit value (splitmix32 finaliser); also used to derive independent seeds. */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** A seed for stream `stream` of a generator seeded with `seed` (e.g. one per PQ sub-space). */
export function deriveSeed(seed: number, stream: number): number {
  return mix32(mix32(seed >>> 0) ^ Math.imul(stream + 1, 0x85ebca6b));
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    this.s0 = x = mix32(x);
    this.s1 = x = mix32(x);
    this.s2 = x = mix32(x);
    this.s3 = mix32(x);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Uniform unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias. */
  nextInt(n: number): number {
    if (n <= 0) throw new RangeError(`nextInt needs n > 0, got ${n}`);
    return Math.floor(this.nextFloat() * n);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * `count` distinct indices drawn uniformly from [0, n), in increasing order
 * (sorted so that gathering the rows walks memory forwards).
 */
export function sampleIndices(n: number, count: number, rng: Rng): Int32Array {
  if (count > n) throw new RangeError(`cannot sample ${count} of ${n} items`);
  if (count === n) {
    const all = new Int32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    return all;
  }
  // Partial Fisher–Yates over a permutation array.
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + rng.nextInt(n - i);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm.slice(0, count).sort();
}
