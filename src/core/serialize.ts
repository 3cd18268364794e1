/**
 * Byte format of trained codecs (stored as BLOBs in SQLite, handed to workers).
 *
 *   offset  size  field
 *   0       4     magic "PQVC"
 *   4       2     format version (uint16): 2 for a codec of packed codes, else 1
 *                 (so a server that predates packing still reads every codec it can use)
 *   6       2     kind (uint16): 1 = product quantizer, 2 = OPQ (rotation + PQ),
 *                 3 = IVF (optional rotation, coarse quantizer, residual PQ)
 *   8       4     payload length P in bytes (uint32)
 *   12      P     payload (kind-specific, below)
 *   12+P    4     CRC-32 (IEEE) of bytes [0, 12+P)
 *
 * Product quantizer payload (kind 1): d, m, nbits (uint32 each), in version 2
 * then flags (uint32; bit 0: codes packed two per byte, code-layout.ts), then
 * the ksub × d centroid floats in the ProductQuantizer.centroids layout. A
 * version-1 codec's codes are one byte per sub-quantizer whatever nbits (4-bit
 * codecs written before packing existed load as such).
 * OPQ payload (kind 2): d (uint32), the d × d rotation directions (float32,
 * Rotation.directions layout), then a product quantizer payload.
 * IVF payload (kind 3): d, nlist, rotated (uint32 each; rotated = 1 when a
 * rotation follows), the d × d rotation if rotated, the nlist × d coarse
 * centroids (CoarseQuantizer.centroids layout), then a product quantizer payload.
 * Additive quantizers (kind 4 = residual, 5 = local search; format version 3,
 * which older servers refuse): d, M (codebooks), nbits (8), beam (rq) or
 * encoding ILS rounds (lsq), norm levels L (0 or 256; uint32 each),
 * the M × 256 × d codeword floats (AdditiveQuantizer.codebooks layout), then
 * the L norm levels (float32).
 * IVF + additive (kind 7 = IVF + rq, 8 = IVF + lsq; format version 3): d,
 * nlist (uint32 each), the nlist × d coarse centroids, then an additive
 * payload (as kinds 4 / 5 from its d on) of the residuals' quantizer.
 * LOPQ (kind 6, format version 3): d, nlist, R (distinct rotations, the global
 * one first; uint32 each), the nlist cells' rotation indices (uint32 each), the
 * R × d × d rotation floats (each in the Rotation.directions layout), the
 * nlist × d coarse centroids, then a product quantizer payload (with flags).
 * All numbers little-endian.
 */
import { ADDITIVE_K, ADDITIVE_NBITS, type AdditiveKind, AdditiveQuantizer, NORM_LEVELS, NormQuantizer } from './additive.js';
import { type Codec, makeCodec } from './codec.js';
import { CorruptCodecError } from './errors.js';
import { CoarseQuantizer } from './ivf.js';
import { PQGeometry, ProductQuantizer } from './pq.js';
import { LocalIVFCodec, LocalRotations } from './lopq.js';
import { Rotation } from './rotation.js';

const MAGIC = 0x43565150; // "PQVC" read as a little-endian uint32
const FORMAT_VERSION = 2;
/** Version 3: additive quantizers (kinds 4, 5; with IVF 7, 8) and LOPQ (kind 6). */
const ADDITIVE_VERSION = 3;
/** Version 1: no flags in the product quantizer payload, byte codes only. */
const UNPACKED_VERSION = 1;
/** Flags bit: codes packed two per byte. */
const PACKED_FLAG = 1;
const HEADER = 12;
export const CodecKind = { pq: 1, opq: 2, ivf: 3, rq: 4, lsq: 5, lopq: 6, ivfRq: 7, ivfLsq: 8 } as const;
/** The additive payload's fields: d, M, nbits, beam, norm levels. */
const ADDITIVE_FIELDS = 20;

/** The format version a codec is written in: 2 only where version 1 cannot say it (packed codes). */
function versionOf(pq: ProductQuantizer): number {
  return pq.packed ? FORMAT_VERSION : UNPACKED_VERSION;
}

/** Bytes of the quantizer's fields (d, m, nbits, and flags from version 2 on). */
const pqFieldBytes = (version: number): number => (version === UNPACKED_VERSION ? 12 : 16);

function pqPayloadBytes(pq: ProductQuantizer): number {
  return pqFieldBytes(versionOf(pq)) + pq.centroids.length * 4;
}

function writePQ(view: DataView, o: number, pq: ProductQuantizer, version = versionOf(pq)): void {
  const { d, m, nbits, packed } = pq.geometry;
  view.setUint32(o, d, true);
  view.setUint32(o + 4, m, true);
  view.setUint32(o + 8, nbits, true);
  if (version !== UNPACKED_VERSION) view.setUint32(o + 12, packed ? PACKED_FLAG : 0, true);
  writeFloats(view, o + pqFieldBytes(version), pq.centroids);
}

function readPQ(view: DataView, o: number, bytes: number, version: number): ProductQuantizer {
  const fields = pqFieldBytes(version);
  if (bytes < fields) throw corrupt('payload too short');
  const flags = version === UNPACKED_VERSION ? 0 : view.getUint32(o + 12, true);
  if ((flags & ~PACKED_FLAG) !== 0) throw corrupt(`unknown quantizer flags ${flags}`);
  let geometry: PQGeometry;
  try {
    geometry = new PQGeometry(view.getUint32(o, true), view.getUint32(o + 4, true), view.getUint32(o + 8, true), (flags & PACKED_FLAG) !== 0);
  } catch (err) {
    throw corrupt(err instanceof Error ? err.message : String(err));
  }
  const count = geometry.ksub * geometry.d;
  if (bytes !== fields + count * 4) throw corrupt(`payload of ${bytes} bytes does not hold ${count} centroid floats`);
  return new ProductQuantizer(geometry, readFloats(view, o + fields, count));
}

function writeFloats(view: DataView, o: number, values: Float32Array): void {
  for (let i = 0; i < values.length; i++, o += 4) view.setFloat32(o, values[i], true);
}

function readFloats(view: DataView, o: number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++, o += 4) out[i] = view.getFloat32(o, true);
  return out;
}

function additivePayloadBytes(q: AdditiveQuantizer): number {
  return ADDITIVE_FIELDS + (q.codebooks.length + (q.norm?.levels.length ?? 0)) * 4;
}

/** An additive codec, flat (kinds 4, 5) or behind IVF (kinds 7, 8). */
function writeAdditive(q: AdditiveQuantizer, coarse: CoarseQuantizer | null): Uint8Array {
  const prefix = coarse === null ? 0 : 8 + coarse.centroids.length * 4;
  const payload = prefix + additivePayloadBytes(q);
  const bytes = new Uint8Array(HEADER + payload + 4);
  const view = new DataView(bytes.buffer);
  const kind = coarse === null ? CodecKind[q.kind] : q.kind === 'rq' ? CodecKind.ivfRq : CodecKind.ivfLsq;
  writeHeader(view, ADDITIVE_VERSION, kind, payload);
  if (coarse !== null) {
    view.setUint32(HEADER, coarse.d, true);
    view.setUint32(HEADER + 4, coarse.nlist, true);
    writeFloats(view, HEADER + 8, coarse.centroids);
  }
  const o = HEADER + prefix;
  const levels = q.norm?.levels ?? new Float32Array(0);
  for (const [i, v] of [q.d, q.stages, q.nbits, q.beam, levels.length].entries()) view.setUint32(o + 4 * i, v, true);
  writeFloats(view, o + ADDITIVE_FIELDS, q.codebooks);
  writeFloats(view, o + ADDITIVE_FIELDS + q.codebooks.length * 4, levels);
  view.setUint32(HEADER + payload, crc32(bytes, 0, HEADER + payload), true);
  return bytes;
}

/** The additive payload of `bytes` bytes at o. */
function readAdditive(view: DataView, o: number, bytes: number, kind: AdditiveKind): AdditiveQuantizer {
  if (bytes < ADDITIVE_FIELDS) throw corrupt('payload too short');
  const [d, stages, nbits, beam, levels] = Array.from({ length: 5 }, (_, i) => view.getUint32(o + 4 * i, true));
  if (nbits !== ADDITIVE_NBITS) throw corrupt(`additive codes of ${nbits} bits`);
  if (levels !== 0 && levels !== NORM_LEVELS) throw corrupt(`${levels} norm levels`);
  const count = stages * ADDITIVE_K * d;
  if (bytes !== ADDITIVE_FIELDS + (count + levels) * 4)
    throw corrupt(`payload of ${bytes} bytes does not hold ${count} codeword and ${levels} norm floats`);
  try {
    const codebooks = readFloats(view, o + ADDITIVE_FIELDS, count);
    const norm = levels === 0 ? null : new NormQuantizer(readFloats(view, o + ADDITIVE_FIELDS + count * 4, levels));
    return new AdditiveQuantizer(kind, d, stages, codebooks, norm, beam);
  } catch (err) {
    throw corrupt(err instanceof Error ? err.message : String(err));
  }
}

/** An IVF + additive payload (kinds 7, 8): d, nlist, the coarse centroids, then the additive payload. */
function readIVFAdditive(view: DataView, payload: number, kind: AdditiveKind): Codec {
  if (payload < 8) throw corrupt('payload too short');
  const d = view.getUint32(HEADER, true);
  const nlist = view.getUint32(HEADER + 4, true);
  const prefix = 8 + nlist * d * 4;
  if (payload < prefix)
    throw corrupt(`payload of ${payload} bytes is shorter than the ${prefix} bytes its dimension (${d}) and nlist (${nlist}) need`);
  const q = readAdditive(view, HEADER + prefix, payload - prefix, kind);
  if (q.d !== d) throw corrupt(`a ${d}-d codec around a ${q.d}-d quantizer`);
  try {
    return makeCodec(q, null, new CoarseQuantizer(nlist, d, readFloats(view, HEADER + 8, nlist * d)));
  } catch (err) {
    throw corrupt(err instanceof Error ? err.message : String(err));
  }
}

function writeLocal(codec: LocalIVFCodec): Uint8Array {
  const { local, quantizer: pq } = codec;
  const { d, nlist } = local.coarse;
  const prefix = 12 + nlist * 4 + (local.matrices.length + local.coarse.centroids.length) * 4;
  const payload = prefix + pqFieldBytes(ADDITIVE_VERSION) + pq.centroids.length * 4;
  const bytes = new Uint8Array(HEADER + payload + 4);
  const view = new DataView(bytes.buffer);
  writeHeader(view, ADDITIVE_VERSION, CodecKind.lopq, payload);
  let o = HEADER;
  for (const v of [d, nlist, local.count, ...local.cellMatrix]) {
    view.setUint32(o, v, true);
    o += 4;
  }
  writeFloats(view, o, local.matrices);
  writeFloats(view, o + local.matrices.length * 4, local.coarse.centroids);
  writePQ(view, HEADER + prefix, pq, ADDITIVE_VERSION);
  view.setUint32(HEADER + payload, crc32(bytes, 0, HEADER + payload), true);
  return bytes;
}

function readLocal(view: DataView, payload: number): LocalIVFCodec {
  if (payload < 12) throw corrupt('payload too short');
  const [d, nlist, count] = [0, 1, 2].map((i) => view.getUint32(HEADER + 4 * i, true));
  const prefix = 12 + nlist * 4 + (count * d * d + nlist * d) * 4;
  if (payload < prefix) throw corrupt(`payload of ${payload} bytes is shorter than the ${prefix} bytes its dimension, cells and rotations need`);
  const cellMatrix = new Int32Array(nlist);
  for (let l = 0; l < nlist; l++) cellMatrix[l] = view.getUint32(HEADER + 12 + 4 * l, true);
  const o = HEADER + 12 + nlist * 4;
  const pq = readPQ(view, HEADER + prefix, payload - prefix, ADDITIVE_VERSION);
  if (pq.d !== d) throw corrupt(`a ${d}-d codec around a ${pq.d}-d quantizer`);
  try {
    const coarse = new CoarseQuantizer(nlist, d, readFloats(view, o + count * d * d * 4, nlist * d));
    return new LocalIVFCodec(pq, new LocalRotations(coarse, readFloats(view, o, count * d * d), cellMatrix));
  } catch (err) {
    throw corrupt(err instanceof Error ? err.message : String(err));
  }
}

/** The bytes of a codec: kind 1 for plain PQ, 2 with a rotation in front, 3 with IVF, 4/5 for additive quantizers (7/8 with IVF), 6 for LOPQ. */
export function serializeCodec(codec: Codec): Uint8Array {
  if (codec.quantizer instanceof AdditiveQuantizer) return writeAdditive(codec.quantizer, codec.kind === 'ivf' ? codec.coarse : null);
  if (codec instanceof LocalIVFCodec) return writeLocal(codec);
  const { quantizer: pq, rotation } = codec;
  const coarse = codec.kind === 'ivf' ? codec.coarse : null;
  const rotationBytes = rotation === null ? 0 : rotation.directions.length * 4;
  const prefix = coarse !== null ? 12 + rotationBytes + coarse.centroids.length * 4 : rotation !== null ? 4 + rotationBytes : 0;
  const payload = prefix + pqPayloadBytes(pq);
  const bytes = new Uint8Array(HEADER + payload + 4);
  const view = new DataView(bytes.buffer);
  let o = HEADER;
  if (coarse !== null) {
    writeHeader(view, versionOf(pq), CodecKind.ivf, payload);
    view.setUint32(o, coarse.d, true);
    view.setUint32(o + 4, coarse.nlist, true);
    view.setUint32(o + 8, rotation === null ? 0 : 1, true);
    o += 12;
  } else {
    writeHeader(view, versionOf(pq), rotation === null ? CodecKind.pq : CodecKind.opq, payload);
    if (rotation !== null) {
      view.setUint32(o, rotation.d, true);
      o += 4;
    }
  }
  if (rotation !== null) {
    writeFloats(view, o, rotation.directions);
    o += rotationBytes;
  }
  if (coarse !== null) writeFloats(view, o, coarse.centroids);
  writePQ(view, HEADER + prefix, pq);
  view.setUint32(HEADER + payload, crc32(bytes, 0, HEADER + payload), true);
  return bytes;
}

export function deserializeCodec(bytes: Uint8Array): Codec {
  const { view, payload, kind, version } = readHeader(bytes);
  const additive = kind === CodecKind.rq || kind === CodecKind.ivfRq ? 'rq' : kind === CodecKind.lsq || kind === CodecKind.ivfLsq ? 'lsq' : null;
  if ((additive !== null || kind === CodecKind.lopq) !== (version === ADDITIVE_VERSION))
    throw corrupt(`codec kind ${kind} in format version ${version}`);
  if (kind === CodecKind.ivfRq || kind === CodecKind.ivfLsq) return readIVFAdditive(view, payload, additive!);
  if (additive !== null) return makeCodec(readAdditive(view, HEADER, payload, additive));
  if (kind === CodecKind.lopq) return readLocal(view, payload);
  if (kind === CodecKind.pq) return makeCodec(readPQ(view, HEADER, payload, version));
  const fields = kind === CodecKind.ivf ? 3 : 1;
  if (payload < 4 * fields) throw corrupt('payload too short');
  const d = view.getUint32(HEADER, true);
  const nlist = kind === CodecKind.ivf ? view.getUint32(HEADER + 4, true) : 0;
  const rotated = kind === CodecKind.opq || view.getUint32(HEADER + 8, true) === 1;
  let o = HEADER + 4 * fields;
  const prefix = 4 * fields + (rotated ? d * d * 4 : 0) + nlist * d * 4;
  if (payload < prefix)
    throw corrupt(`payload of ${payload} bytes is shorter than the ${prefix} bytes its dimension (${d}) and nlist (${nlist}) need`);
  const pq = readPQ(view, HEADER + prefix, payload - prefix, version);
  if (pq.d !== d) throw corrupt(`a ${d}-d codec around a ${pq.d}-d quantizer`);
  let rotation: Rotation | null = null;
  if (rotated) {
    rotation = new Rotation(d, readFloats(view, o, d * d));
    o += d * d * 4;
  }
  let coarse: CoarseQuantizer | null = null;
  if (kind === CodecKind.ivf) {
    try {
      coarse = new CoarseQuantizer(nlist, d, readFloats(view, o, nlist * d));
    } catch (err) {
      throw corrupt(err instanceof Error ? err.message : String(err));
    }
  }
  return makeCodec(pq, rotation, coarse);
}

function writeHeader(view: DataView, version: number, kind: number, payload: number): void {
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, version, true);
  view.setUint16(6, kind, true);
  view.setUint32(8, payload, true);
}

function readHeader(bytes: Uint8Array): { view: DataView; payload: number; kind: number; version: number } {
  if (bytes.length < HEADER + 4) throw corrupt(`${bytes.length} bytes is shorter than any codec`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw corrupt('bad magic number');
  const version = view.getUint16(4, true);
  if (version !== FORMAT_VERSION && version !== UNPACKED_VERSION && version !== ADDITIVE_VERSION)
    throw corrupt(`unsupported format version ${version}`);
  const kind = view.getUint16(6, true);
  if (!(Object.values(CodecKind) as number[]).includes(kind)) throw corrupt(`unknown codec kind ${kind}`);
  const payload = view.getUint32(8, true);
  if (bytes.length !== HEADER + payload + 4) throw corrupt(`length ${bytes.length} does not match the header (${HEADER + payload + 4})`);
  if (view.getUint32(HEADER + payload, true) !== crc32(bytes, 0, HEADER + payload)) throw corrupt('checksum mismatch');
  return { view, payload, kind, version };
}

function corrupt(why: string): CorruptCodecError {
  return new CorruptCodecError(`serialised codec is invalid: ${why}`);
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
