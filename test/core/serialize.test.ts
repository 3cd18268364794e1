import { describe, expect, it } from 'vitest';
import { QuantizerInputError } from '../../src/core/errors.js';
import { ProductQuantizer } from '../../src/core/pq.js';
import { FlatCodec } from '../../src/core/codec.js';
import { Rotation } from '../../src/core/rotation.js';
import { crc32, deserializeCodec, serializeCodec } from '../../src/core/serialize.js';
import { blobs } from '../helpers/data.js';

describe('codec serialisation', () => {
  const d = 24;
  const x = blobs(1500, d, 20, 2);
  const { pq } = ProductQuantizer.train(x, 1500, d, { m: 5, nbits: 7 }, { iterations: 10 });

  it('round-trips to identical codes and centroids', () => {
    const bytes = serializeCodec(new FlatCodec(pq));
    const codec = deserializeCodec(bytes);
    expect(codec.rotation).toBeNull();
    const back = codec.pq;
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

  it('computes the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
