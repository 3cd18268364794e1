/**
 * The binary upsert body (`POST /collections/{name}/vectors/bulk`,
 * application/octet-stream): records one after another, little-endian, no
 * header and no padding —
 *   u16       L, the id's length in bytes (1 … MAX_ID_BYTES)
 *   L bytes   the id, UTF-8 (at most HARD_LIMITS.maxIdLength characters)
 *   d × f32   the vector, IEEE 754 single precision
 * Pure: parsing and its 400s, no I/O. Values are checked afterwards with the
 * JSON path's checks (vector-input.ts).
 */
import { HARD_LIMITS } from '../tunables.js';
import { badRequest, limitExceeded } from './errors.js';

/** Longest id in bytes: maxIdLength characters of up to 4 UTF-8 bytes each. */
export const MAX_ID_BYTES = 4 * HARD_LIMITS.maxIdLength;

export interface VectorRecords {
  ids: string[];
  /** n × d float32 rows, in record order. */
  data: Float32Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses the records of a body for a collection of dimension d, at most maxVectors of them. */
export function parseVectorRecords(body: Uint8Array, d: number, maxVectors: number): VectorRecords {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const vectorBytes = 4 * d;
  // Every record holds at least 2 + 1 + 4d bytes: the count is bounded before anything is allocated.
  const most = Math.floor(body.byteLength / (3 + vectorBytes));
  if (body.byteLength === 0)
    throw badRequest('the body holds no records; each is a u16 id length, the id in UTF-8 and d float32 values, little-endian');
  const ids: string[] = [];
  const data = new Float32Array(Math.min(most, maxVectors + 1) * d);
  let at = 0;
  while (at < body.byteLength) {
    const i = ids.length;
    if (i === maxVectors) {
      throw limitExceeded(400, 'maxVectorsPerRequest', maxVectors, countRecords(view, at, d, i), 'the number of vectors in the request');
    }
    const where = `record ${i} (byte ${at})`;
    if (at + 2 > body.byteLength) throw badRequest(`${where}: the body ends inside the id length`);
    const length = view.getUint16(at, true);
    if (length === 0 || length > MAX_ID_BYTES) throw badRequest(`${where}: id length ${length}; it must be 1–${MAX_ID_BYTES} bytes`);
    const end = at + 2 + length + vectorBytes;
    if (end > body.byteLength) {
      throw badRequest(
        `${where}: the body ends ${end - body.byteLength} bytes short of the record (id of ${length} bytes, then ${d} float32 values)`,
      );
    }
    let id: string;
    try {
      id = utf8.decode(body.subarray(at + 2, at + 2 + length));
    } catch {
      throw badRequest(`${where}: the id is not valid UTF-8`);
    }
    if (id.length > HARD_LIMITS.maxIdLength) throw badRequest(`${where}: the id has ${id.length} characters; at most ${HARD_LIMITS.maxIdLength}`);
    ids.push(id);
    const from = at + 2 + length;
    for (let t = 0; t < d; t++) data[i * d + t] = view.getFloat32(from + 4 * t, true);
    at = end;
  }
  return { ids, data: data.subarray(0, ids.length * d) };
}

/** How many records the rest of the body holds (for the limit's message), stopping at the first malformed one. */
function countRecords(view: DataView, at: number, d: number, before: number): number {
  let n = before;
  while (at + 2 <= view.byteLength) {
    const end = at + 2 + view.getUint16(at, true) + 4 * d;
    if (end > view.byteLength) break;
    n++;
    at = end;
  }
  return n;
}
