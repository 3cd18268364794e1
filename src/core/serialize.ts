/**
 * Byte format of trained codecs (stored as BLOBs in SQLite, handed to workers).
 *
 *   offset  size  field
 *   0       4     magic "PQVC"
 *   4       2     format version (uint16, currently 1)
 *   6       2     kind (uint16): 1 = product quantizer
 *   8       4     payload length P in bytes (uint32)
 *   12      P     payload (kind-specific, below)
 *   12+P    4     CRC-32 (IEEE) of bytes [0, 12+P)
 *
 * Product quantizer payload: d, m, nbits (uint32 each), then the ksub × d
 * centroid floats in the ProductQuantizer.centroids layout. All numbers little-endian.
 */
import { QuantizerInputError } from './errors.js';
import { PQGeometry, ProductQuantizer } from './pq.js';

const MAGIC = 0x43565150; // "PQVC" read as a little-endian uint32
const FORMAT_VERSION = 1;
const HEADER = 12;
export const CodecKind = { pq: 1 } as const;

export function serializePQ(pq: ProductQuantizer): Uint8Array {
  const { d, m, nbits } = pq.geometry;
  const payload = 12 + pq.centroids.length * 4;
  const bytes = new Uint8Array(HEADER + payload + 4);
  const view = new DataView(bytes.buffer);
  writeHeader(view, CodecKind.pq, payload);
  view.setUint32(HEADER, d, true);
  view.setUint32(HEADER + 4, m, true);
  view.setUint32(HEADER + 8, nbits, true);
  let o = HEADER + 12;
  for (let i = 0; i < pq.centroids.length; i++, o += 4) view.setFloat32(o, pq.centroids[i], true);
  view.setUint32(HEADER + payload, crc32(bytes, 0, HEADER + payload), true);
  return bytes;
}

export function deserializePQ(bytes: Uint8Array): ProductQuantizer {
  const { view, payload } = readHeader(bytes, CodecKind.pq);
  if (payload < 12) throw corrupt('payload too short');
  const geometry = new PQGeometry(view.getUint32(HEADER, true), view.getUint32(HEADER + 4, true), view.getUint32(HEADER + 8, true));
  const count = geometry.ksub * geometry.d;
  if (payload !== 12 + count * 4) throw corrupt(`payload of ${payload} bytes does not hold ${count} centroid floats`);
  const centroids = new Float32Array(count);
  let o = HEADER + 12;
  for (let i = 0; i < count; i++, o += 4) centroids[i] = view.getFloat32(o, true);
  return new ProductQuantizer(geometry, centroids);
}

function writeHeader(view: DataView, kind: number, payload: number): void {
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, FORMAT_VERSION, true);
  view.setUint16(6, kind, true);
  view.setUint32(8, payload, true);
}

function readHeader(bytes: Uint8Array, kind: number): { view: DataView; payload: number } {
  if (bytes.length < HEADER + 4) throw corrupt(`${bytes.length} bytes is shorter than any codec`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw corrupt('bad magic number');
  const version = view.getUint16(4, true);
  if (version !== FORMAT_VERSION) throw corrupt(`unsupported format version ${version}`);
  if (view.getUint16(6, true) !== kind) throw corrupt(`codec kind ${view.getUint16(6, true)}, expected ${kind}`);
  const payload = view.getUint32(8, true);
  if (bytes.length !== HEADER + payload + 4) throw corrupt(`length ${bytes.length} does not match the header (${HEADER + payload + 4})`);
  if (view.getUint32(HEADER + payload, true) !== crc32(bytes, 0, HEADER + payload)) throw corrupt('checksum mismatch');
  return { view, payload };
}

function corrupt(why: string): QuantizerInputError {
  return new QuantizerInputError(`serialised codec is invalid: ${why}`);
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, as zlib) of bytes[start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
