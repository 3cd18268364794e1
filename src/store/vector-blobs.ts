/**
 * Vectors are stored as float32 little-endian BLOBs (dimension × 4 bytes).
 * Every platform Node.js runs this service on is little-endian; this is checked
 * once at start-up so a big-endian host fails loudly instead of corrupting data.
 */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function assertLittleEndian(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('pqvec stores float32 vectors little-endian and needs a little-endian host');
}

/** The BLOB for one vector: a view on the same memory, no copy. */
export function vectorToBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Copies a vector BLOB into out at offset o (floats). */
export function blobInto(blob: Uint8Array, out: Float32Array, o: number): void {
  new Uint8Array(out.buffer, out.byteOffset + o * 4, blob.byteLength).set(blob);
}

export function blobToVector(blob: Uint8Array): Float32Array {
  const v = new Float32Array(blob.byteLength / 4);
  blobInto(blob, v, 0);
  return v;
}
