/**
 * Loads Fashion-MNIST (Debian package dataset-fashion-mnist) as float32 vectors
 * and the exact top-100 ground truth from ../shared/datasets/fashion-mnist/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export const FASHION_DIR = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const BASE_FILE = 'train-images-idx3-ubyte.gz';
const QUERY_FILE = 't10k-images-idx3-ubyte.gz';

/** Repository root, whether running from bench/ (TypeScript) or dist/bench/ (compiled). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();
export const GROUND_TRUTH_FILE = resolve(REPO_ROOT, '..', 'shared', 'datasets', 'fashion-mnist', 'gt100.i32');

export interface Dataset {
  d: number;
  nBase: number;
  nQuery: number;
  /** nBase × d, row-major. */
  base: Float32Array;
  /** nQuery × d, row-major. */
  queries: Float32Array;
  /** nQuery × 100 base indices, nearest first. */
  groundTruth: Int32Array;
  gtK: number;
}

export class DatasetMissingError extends Error {}

function readIdxImages(path: string): { n: number; d: number; data: Float32Array } {
  const buf = gunzipSync(readFileSync(path));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0) !== 0x00000803) throw new Error(`${path}: not an IDX image file`);
  const n = view.getUint32(4);
  const d = view.getUint32(8) * view.getUint32(12);
  const pixels = buf.subarray(16, 16 + n * d);
  const data = new Float32Array(n * d);
  for (let i = 0; i < data.length; i++) data[i] = pixels[i];
  return { n, d, data };
}

/** The class labels (0–9) of the 60,000 base images, in order. */
export function loadFashionMnistLabels(): Uint8Array {
  const path = join(FASHION_DIR, 'train-labels-idx1-ubyte.gz');
  if (!existsSync(path)) throw new DatasetMissingError(`Fashion-MNIST labels not found at ${path}.`);
  const buf = gunzipSync(readFileSync(path));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0) !== 0x00000801) throw new Error(`${path}: not an IDX label file`);
  return Uint8Array.from(buf.subarray(8, 8 + view.getUint32(4)));
}

export function loadFashionMnist(): Dataset {
  const basePath = join(FASHION_DIR, BASE_FILE);
  const queryPath = join(FASHION_DIR, QUERY_FILE);
  if (!existsSync(basePath) || !existsSync(queryPath)) {
    throw new DatasetMissingError(
      `Fashion-MNIST not found under ${FASHION_DIR}.\n` +
        `Install it with:  apt-get update && apt-get install -y dataset-fashion-mnist\n` +
        `(or point FASHION_MNIST_DIR at a folder holding ${BASE_FILE} and ${QUERY_FILE}).`,
    );
  }
  if (!existsSync(GROUND_TRUTH_FILE)) {
    throw new DatasetMissingError(`Ground truth not found at ${GROUND_TRUTH_FILE} (the shared/ folder beside the checkout).`);
  }
  const base = readIdxImages(basePath);
  const queries = readIdxImages(queryPath);
  const gtBytes = readFileSync(GROUND_TRUTH_FILE);
  const gtK = 100;
  const groundTruth = new Int32Array(queries.n * gtK);
  const gtView = new DataView(gtBytes.buffer, gtBytes.byteOffset, gtBytes.byteLength);
  for (let i = 0; i < groundTruth.length; i++) groundTruth[i] = gtView.getInt32(i * 4, true);
  return { d: base.d, nBase: base.n, nQuery: queries.n, base: base.data, queries: queries.data, groundTruth, gtK };
}

/** loadFashionMnist(), or exit with status 2 and the install instructions when the data is missing. */
export function loadFashionMnistOrExit(): Dataset {
  try {
    return loadFashionMnist();
  } catch (e) {
    if (e instanceof DatasetMissingError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
}
