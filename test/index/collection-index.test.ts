import { describe, expect, it } from 'vitest';
import { readBlocked } from '../../src/core/code-layout.js';
import { FlatCodec } from '../../src/core/codec.js';
import { ProductQuantizer } from '../../src/core/pq.js';
import { CollectionIndex } from '../../src/index/collection-index.js';
import { INITIAL_CAPACITY } from '../../src/tunables.js';
import { blobs } from '../helpers/data.js';

describe('CollectionIndex with packed 4-bit codes', () => {
  it('keeps the flat codes in the blocked layout through activation, appends and growth', () => {
    const d = 12;
    const n = INITIAL_CAPACITY + 1234; // appends grow the buffers past the initial capacity
    const x = blobs(n, d, 9, 4);
    const { pq } = ProductQuantizer.train(x, 600, d, { m: 7, nbits: 4 }, { iterations: 5 });
    const codec = new FlatCodec(pq);
    const codes = codec.encode(x, n);
    expect(codec.codeSize).toBe(4);
    // Trained on the first 1,000 rows, then rows arrive in uneven batches.
    const index = CollectionIndex.load(1000, [5], { id: 1, version: 1, codec }, codes.subarray(0, 1000 * 4));
    for (let r = 1000; r < n; ) {
      const count = Math.min(n - r, 333 + (r % 7));
      index.append(count, codes.subarray(r * 4, (r + count) * 4), r === 1000 ? [7] : []);
      r += count;
    }
    expect(index.rowCount).toBe(n);
    expect(index.liveCount).toBe(n - 2);
    expect(index.capacity).toBeGreaterThanOrEqual(n);
    expect(Buffer.from(readBlocked(index.codes!, 0, n, 4))).toEqual(Buffer.from(codes));
  });
});
