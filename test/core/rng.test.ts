import { describe, expect, it } from 'vitest';
import { Rng, deriveSeed, sampleIndices } from '../../src/core/rng.js';

describe('Rng', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 100 }, () => a.nextU32());
    const sb = Array.from({ length: 100 }, () => b.nextU32());
    const sc = Array.from({ length: 100 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it('draws floats in [0, 1) and ints in [0, n) roughly uniformly', () => {
    const rng = new Rng(1);
    const hist = new Array(10).fill(0);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < 20000; i++) {
      const f = rng.nextFloat();
      lo = Math.min(lo, f);
      hi = Math.max(hi, f);
      hist[rng.nextInt(10)]++;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    for (const h of hist) expect(Math.abs(h - 2000)).toBeLessThan(200);
  });

  it('derives distinct seeds per stream', () => {
    const seeds = new Set(Array.from({ length: 64 }, (_, j) => deriveSeed(1234, j)));
    expect(seeds.size).toBe(64);
  });

  it('samples distinct sorted indices', () => {
    const s = sampleIndices(1000, 100, new Rng(3));
    expect(s.length).toBe(100);
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThan(s[i - 1]);
    expect(s[99]).toBeLessThan(1000);
    expect(() => sampleIndices(10, 11, new Rng(3))).toThrow(RangeError);
  });
});
