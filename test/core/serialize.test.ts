import { describe, expect, it } from 'vitest';
import { QuantizerInputError } from '../../src/core/errors.js';
import { unpackCodes } from '../../src/core/code-layout.js';
import { ProductQuantizer } from '../../src/core/pq.js';
import { FlatCodec, productQuantizerOf } from '../../src/core/codec.js';
import { Rotation } from '../../src/core/rotation.js';
import { crc32, deserializeCodec, serializeCodec } from '../../src/core/serialize.js';
import type { AdditiveQuantizer } from '../../src/core/additive.js';
import { trainLocalSearchQuantizer } from '../../src/core/lsq.js';
import { trainResidualQuantizer } from '../../src/core/residual.js';
import { inlineCompute } from '../../src/core/rotation.js';
import { blobs } from '../helpers/data.js';

describe('codec serialisation', () => {
  const d = 24;
  const x = blobs(1500, d, 20, 2);
  const { pq } = ProductQuantizer.train(x, 1500, d, { m: 5, nbits: 7 }, { iterations: 10 });

  it('round-trips to identical codes and centroids', () => {
    const bytes = serializeCodec(new FlatCodec(pq));
    const codec = deserializeCodec(bytes);
    expect(codec.rotation).toBeNull();
    const back = productQuantizerOf(codec);
    expect(back.geometry.d).toBe(d);
    expect(back.m).toBe(5);
    expect(back.nbits).toBe(7);
    expect(Array.from(back.geometry.offsets)).toEqual(Array.from(pq.geometry.offsets));
    expect(Buffer.from(back.centroids.buffer)).toEqual(Buffer.from(pq.centroids.buffer));
    expect(Buffer.from(back.encode(x, 1500))).toEqual(Buffer.from(pq.encode(x, 1500)));
    expect(Buffer.from(serializeCodec(codec))).toEqual(Buffer.from(bytes));
  });

  it('rejects corrupted, truncated or foreign bytes', () => {
    const bytes = serializeCodec(new FlatCodec(pq));
    const flipped = bytes.slice();
    flipped[100] ^= 1;
    expect(() => deserializeCodec(flipped)).toThrow(/checksum mismatch/);
    expect(() => deserializeCodec(bytes.subarray(0, bytes.length - 8))).toThrow(QuantizerInputError);
    expect(() => deserializeCodec(new Uint8Array(40))).toThrow(/bad magic/);
    expect(() => deserializeCodec(new Uint8Array(3))).toThrow(/shorter than any codec/);
  });

  it('round-trips an OPQ codec: rotation and quantizer', () => {
    const rotation = new Rotation(
      d,
      Float32Array.from({ length: d * d }, (_, i) => Math.sin(i)),
    );
    const codec = new FlatCodec(pq, rotation);
    const bytes = serializeCodec(codec);
    const back = deserializeCodec(bytes);
    expect(back.type).toBe('opq');
    expect(Buffer.from(back.rotation!.directions.buffer)).toEqual(Buffer.from(rotation.directions.buffer));
    expect(Buffer.from(back.encode(x, 1500))).toEqual(Buffer.from(codec.encode(x, 1500)));
    expect(Buffer.from(serializeCodec(back))).toEqual(Buffer.from(bytes));
    expect(() => deserializeCodec(bytes.subarray(0, 200))).toThrow(QuantizerInputError);
  });

  it('keeps 4-bit codes packed two per byte, and loads version-1 codecs (one byte per code) as they were written', () => {
    const { pq: pq4 } = ProductQuantizer.train(x, 1500, d, { m: 5, nbits: 4 }, { iterations: 5 });
    expect(pq4.packed).toBe(true);
    expect(pq4.codeSize).toBe(3);
    // Packed codecs are written as format version 2, others as version 1 (which older servers read).
    expect(serializeCodec(new FlatCodec(pq4))[4]).toBe(2);
    expect(serializeCodec(new FlatCodec(pq))[4]).toBe(1);
    const back = productQuantizerOf(deserializeCodec(serializeCodec(new FlatCodec(pq4))));
    expect(back.packed).toBe(true);
    expect(Buffer.from(back.encode(x, 100))).toEqual(Buffer.from(pq4.encode(x, 100)));

    // The same codebooks as a version-1 codec: no flags field in the quantizer payload.
    const v2 = serializeCodec(new FlatCodec(pq4));
    const payload = v2.length - 16 - 4; // without the header's 12 bytes, the flags' 4 and the CRC's 4
    const v1 = new Uint8Array(12 + payload + 4);
    v1.set(v2.subarray(0, 24)); // header, d, m, nbits
    v1.set(v2.subarray(28, v2.length - 4), 24); // the centroids
    const view = new DataView(v1.buffer);
    view.setUint16(4, 1, true);
    view.setUint32(8, payload, true);
    view.setUint32(12 + payload, crc32(v1, 0, 12 + payload), true);
    const old = deserializeCodec(v1);
    expect(old.quantizer.packed).toBe(false);
    expect(old.codeSize).toBe(5);
    const bytes = old.encode(x, 100);
    expect(bytes.length).toBe(500);
    expect(Array.from(unpackCodes(pq4.encode(x, 100), 100, 5))).toEqual(Array.from(bytes));
    expect(old.decode(bytes, 100)).toEqual(pq4.decode(pq4.encode(x, 100), 100));
    // Written again it stays byte-coded (flags 0).
    expect(deserializeCodec(serializeCodec(old)).quantizer.packed).toBe(false);
    // Unknown flags are refused.
    const flagged = v2.slice();
    new DataView(flagged.buffer).setUint32(24, 2, true);
    new DataView(flagged.buffer).setUint32(flagged.length - 4, crc32(flagged, 0, flagged.length - 4), true);
    expect(() => deserializeCodec(flagged)).toThrow(/unknown quantizer flags/);
  });

  it('round-trips a residual quantizer (format version 3, kind 4): codebooks, beam and norm levels; refuses a kind in the wrong version', async () => {
    for (const norm of [true, false]) {
      const { quantizer } = await trainResidualQuantizer(x, 1500, d, { m: 3, beam: 2, norm }, { iterations: 3 }, inlineCompute);
      const bytes = serializeCodec(new FlatCodec(quantizer));
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      expect([view.getUint16(4, true), view.getUint16(6, true)]).toEqual([3, 4]);
      const back = deserializeCodec(bytes);
      expect(back.type).toBe('rq');
      const q = back.quantizer as AdditiveQuantizer;
      expect([q.d, q.stages, q.beam, q.codeSize]).toEqual([d, 3, 2, norm ? 4 : 3]);
      expect(Buffer.from(q.codebooks.buffer)).toEqual(Buffer.from(quantizer.codebooks.buffer));
      expect(q.norm === null ? null : Array.from(q.norm.levels)).toEqual(quantizer.norm === null ? null : Array.from(quantizer.norm.levels));
      expect(Buffer.from(q.encode(x, 300))).toEqual(Buffer.from(quantizer.encode(x, 300)));
      expect(Buffer.from(serializeCodec(back))).toEqual(Buffer.from(bytes));
    }
    // A product quantizer's kind under version 3, or the residual kind under version 2: refused (the checksum redone).
    const relabel = (b: Uint8Array, version: number, kind: number) => {
      const c = b.slice();
      const v = new DataView(c.buffer);
      v.setUint16(4, version, true);
      v.setUint16(6, kind, true);
      v.setUint32(c.length - 4, crc32(c, 0, c.length - 4), true);
      return c;
    };
    // A local-search quantizer: kind 5, the same payload.
    const lsq = (await trainLocalSearchQuantizer(x, 1500, d, { m: 2, norm: true }, { iterations: 1 }, inlineCompute)).quantizer;
    const lsqBytes = serializeCodec(new FlatCodec(lsq));
    expect(new DataView(lsqBytes.buffer).getUint16(6, true)).toBe(5);
    const lsqBack = deserializeCodec(lsqBytes);
    expect(lsqBack.type).toBe('lsq');
    expect(Buffer.from(lsqBack.quantizer.encode(x, 200))).toEqual(Buffer.from(lsq.encode(x, 200)));
    const rq = serializeCodec(
      new FlatCodec((await trainResidualQuantizer(x, 1500, d, { m: 2, norm: true }, { iterations: 2 }, inlineCompute)).quantizer),
    );
    expect(() => deserializeCodec(relabel(rq, 2, 4))).toThrow(/codec kind 4 in format version 2/);
    expect(() => deserializeCodec(relabel(serializeCodec(new FlatCodec(pq)), 3, 1))).toThrow(/codec kind 1 in format version 3/);
  });

  it('computes the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
