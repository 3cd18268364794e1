import { describe, expect, it } from 'vitest';
import type { Neighbours } from '../../src/pool/compute-pool.js';
import { recallAgainstExact } from '../../src/services/evaluation.js';

const list = (...ids: number[]): Neighbours => ({ ids: Float64Array.from(ids), dist: Float64Array.from(ids, (_, i) => i) });

describe('recall against exact search', () => {
  it('counts recall@1 and k-recall@k over the first k of each list', () => {
    const exact = [list(1, 2, 3, 4), list(5, 6, 7, 8)];
    const approx = [list(1, 3, 9, 2), list(6, 5, 7, 8)];
    // query 0: first matches, {1, 3} of {1, 2, 3} in the top 3; query 1: first differs, {6, 5, 7} all in.
    expect(recallAgainstExact(exact, approx, null, 3)).toEqual({ recall1: 0.5, recallAtK: (2 / 3 + 1) / 2 });
  });

  it("leaves a sampled query's own row out of both lists", () => {
    const exact = [list(7, 1, 2)];
    const approx = [list(1, 7, 2)];
    expect(recallAgainstExact(exact, approx, Int32Array.of(7), 2)).toEqual({ recall1: 1, recallAtK: 1 });
    expect(recallAgainstExact(exact, approx, null, 2)).toEqual({ recall1: 0, recallAtK: 1 });
  });

  it('counts a query with no exact neighbour as recalled', () => {
    expect(recallAgainstExact([list()], [list()], null, 5)).toEqual({ recall1: 0, recallAtK: 1 });
  });
});
