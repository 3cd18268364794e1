import { describe, expect, it } from 'vitest';
import { autoNlist, autoTrainDue, defaultM, effectiveNprobe, planTraining } from '../../src/services/training-plan.js';
import { refusal } from '../helpers/refusal.js';

const MiB = 1024 * 1024;
const plan = (over: Partial<Parameters<typeof planTraining>[0]> = {}) =>
  planTraining({
    name: 'c',
    dimension: 32,
    quantizer: { type: 'pq', m: 4, nbits: 8 },
    live: 10_000,
    sampleSize: undefined,
    limits: { maxTrainingSampleBytes: 512 * MiB },
    ...over,
  });

describe('training plan', () => {
  it('keeps the configured settings when the data suffices: 256 rows per centroid at most', () => {
    expect(plan()).toEqual({ nbits: 8, nlist: null, sampleCap: 65_536, notes: [] });
  });

  it('lowers nbits left automatic to fit the data, with a note; refuses when nbits was set', () => {
    const p = plan({ quantizer: { type: 'pq', m: 4, nbits: 8, autoNbits: true }, live: 100 });
    expect(p.nbits).toBe(6);
    expect(p.notes).toEqual(['nbits lowered from 8 to 6: 100 vectors cannot train 256 centroids per sub-space']);
    const r = refusal(() => plan({ live: 100 }));
    expect(r.status).toBe(422);
    expect(r.code).toBe('insufficient_data');
  });

  it('chooses nlist when left to the service, refuses a fixed nlist above the vector count', () => {
    const p = plan({ quantizer: { type: 'pq', m: 4, nbits: 8, ivf: { nlist: null } }, live: 60_000 });
    expect(p.nlist).toBe(512);
    expect(p.notes).toEqual(['nlist 512 chosen automatically for 60000 vectors']);
    expect(p.sampleCap).toBe(256 * 512);
    expect(refusal(() => plan({ quantizer: { type: 'pq', m: 4, nbits: 4, ivf: { nlist: 1024 } }, live: 1000 })).code).toBe('insufficient_data');
  });

  it('fits the sample into MAX_TRAINING_SAMPLE_MB, and refuses when even one row per centroid does not fit', () => {
    expect(plan({ dimension: 16_384 }).sampleCap).toBe(8192); // 512 MiB / (16,384 × 4 bytes)
    const r = refusal(() => plan({ dimension: 16_384, limits: { maxTrainingSampleBytes: 8 * MiB } }));
    expect(r.status).toBe(422);
    expect(r.details).toEqual({ limit: 'MAX_TRAINING_SAMPLE_MB', max: 8 * MiB, value: 256 * 16_384 * 4 });
  });

  it('refuses a sampleSize below one vector per centroid', () => {
    const r = refusal(() => plan({ sampleSize: 100 }));
    expect(r.status).toBe(400);
    expect(r.message).toBe('sampleSize must be at least 256 (one vector per centroid), got 100');
  });
});

describe('automatic training', () => {
  const state = { trained: false, live: 999, vectorsAtTraining: null, addedSinceTraining: 999, autoFailedAt: null };
  it('is due once an untrained collection reaches minVectors', () => {
    expect(autoTrainDue({ minVectors: 1000 }, state)).toBe(false);
    expect(autoTrainDue({ minVectors: 1000 }, { ...state, live: 1000 })).toBe(true);
    expect(autoTrainDue(null, { ...state, live: 1000 })).toBe(false);
  });

  it('is due again once the collection grows by retrainAfterGrowth', () => {
    const trained = { trained: true, live: 1999, vectorsAtTraining: 1000, addedSinceTraining: 999, autoFailedAt: null };
    expect(autoTrainDue({ minVectors: 10, retrainAfterGrowth: 2 }, trained)).toBe(false);
    expect(autoTrainDue({ minVectors: 10, retrainAfterGrowth: 2 }, { ...trained, live: 2000 })).toBe(true);
    expect(autoTrainDue({ minVectors: 10 }, { ...trained, live: 1_000_000 })).toBe(false);
  });

  it('after a failure, waits until the collection has grown 10 % past it', () => {
    const failed = { ...state, live: 1050, autoFailedAt: 1000 };
    expect(autoTrainDue({ minVectors: 1000 }, failed)).toBe(false);
    expect(autoTrainDue({ minVectors: 1000 }, { ...failed, live: 1100 })).toBe(true);
  });
});

describe('defaults', () => {
  it('m, nprobe and nlist', () => {
    expect([defaultM(4), defaultM(200), defaultM(784)]).toEqual([1, 25, 64]);
    expect([effectiveNprobe(256), effectiveNprobe(64), effectiveNprobe(4), effectiveNprobe(256, 300)]).toEqual([16, 8, 4, 256]);
    expect([autoNlist(1), autoNlist(300), autoNlist(60_000)]).toEqual([1, 4, 512]);
    // Capped for the training time at 10M vectors (4·√n would be 8,192 there).
    expect([autoNlist(200_000), autoNlist(262_144), autoNlist(10_000_000), autoNlist(1e12)]).toEqual([1024, 2048, 2048, 2048]);
  });
});
