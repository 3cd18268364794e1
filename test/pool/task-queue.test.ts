import { afterAll, describe, expect, it, vi } from 'vitest';
import { FlatCodec } from '../../src/core/codec.js';
import { ProductQuantizer } from '../../src/core/pq.js';
import { ComputePool, inBackground } from '../../src/pool/compute-pool.js';
import { RequestFirstQueue, WorkerSlots, isBackground } from '../../src/pool/task-queue.js';
import type { TaskName } from '../../src/pool/tasks.js';
import { blobs } from '../helpers/data.js';

type Item = { background: boolean; id: number };
/** A waiting task as ComputePool queues it: background by its name (or a background scope). */
const task = (name: TaskName, id: number, marked = false): Item => ({ background: isBackground(name, marked), id });
const idOf = (t: Item | null): number => t!.id;
const ids = (q: RequestFirstQueue<Item>): number[] => {
  const out: number[] = [];
  for (let t = q.shift(); t !== null; t = q.shift()) out.push(t.id);
  return out;
};

describe('RequestFirstQueue', () => {
  it('gives request tasks a worker before background tasks, each kind first in first out', () => {
    const q = new RequestFirstQueue<Item>(
      () => 0,
      100,
      () => 0,
    );
    q.push(task('trainSubspace', 1));
    q.push(task('crossWithReconstruction', 2));
    q.push(task('scan', 3));
    q.push(task('trainSubspace', 4));
    q.push(task('rerank', 5));
    q.push(task('encode', 6));
    expect(q.size).toBe(6);
    expect(ids(q)).toEqual([3, 5, 6, 1, 2, 4]);
    expect(q.size).toBe(0);
  });

  it('lets a background task that has waited the maximum go next, one per interval: a backlog that aged together does not pass requests at once', () => {
    let now = 0;
    const q = new RequestFirstQueue<Item>(
      () => 0,
      100,
      () => now,
    );
    for (let i = 1; i <= 5; i++) q.push(task('trainCoarse', i)); // a training job's burst at t = 0
    now = 50;
    for (let i = 11; i <= 16; i++) q.push(task('scan', i));
    expect(idOf(q.shift())).toBe(11);
    now = 100; // every background task has waited 100 ms: one goes, then requests again
    expect([q.shift(), q.shift(), q.shift()].map(idOf)).toEqual([1, 12, 13]);
    now = 150;
    expect(idOf(q.shift())).toBe(14);
    now = 200; // 100 ms since the last one went ahead
    expect([q.shift(), q.shift()].map(idOf)).toEqual([2, 15]);
    // With no request waiting, background tasks go in order (and do not count as going ahead).
    expect(ids(q)).toEqual([16, 3, 4, 5]);
  });

  it('does not let aged background tasks pass a request while a background task holds a worker', () => {
    let now = 0;
    let running = 0;
    const q = new RequestFirstQueue<Item>(
      () => running,
      100,
      () => now,
    );
    for (let i = 1; i <= 4; i++) q.push(task('trainSubspace', i));
    now = 5000;
    q.push(task('scan', 10));
    running = 1; // the training's other tasks run: it is not starved, so the query goes first although 1–4 aged 5 s
    expect(idOf(q.shift())).toBe(10);
    q.push(task('scan', 11));
    running = 0;
    expect([q.shift(), q.shift()].map(idOf)).toEqual([1, 11]);
  });

  it('treats a task started in a background scope (ComputePool.inBackground) as background whatever its name', () => {
    const q = new RequestFirstQueue<Item>(
      () => 0,
      100,
      () => 0,
    );
    q.push(task('trainSubspace', 1));
    q.push(task('scan', 2, true));
    q.push(task('scan', 3));
    expect(ids(q)).toEqual([3, 1, 2]);
  });

  it('removes a task (aborted while waiting) from its kind', () => {
    const q = new RequestFirstQueue<Item>(
      () => 0,
      100,
      () => 0,
    );
    const gone = task('scan', 2);
    q.push(task('scan', 1));
    q.push(gone);
    q.push(task('trainSubspace', 3));
    expect(q.remove(gone)).toBe(true);
    expect(q.remove(gone)).toBe(false);
    expect(q.size).toBe(2);
    expect(ids(q)).toEqual([1, 3]);
  });
});

/** Two slots on a clock the test moves (1 s request reserve, 100 ms ageing), and the order their tasks started in. */
function clockedSlots() {
  const clock = { now: 0 };
  const slots = new WorkerSlots(2, 1000, 100, () => clock.now);
  const started: string[] = [];
  const go = (name: string, background: boolean) => slots.acquire(background).then(() => started.push(name));
  return { clock, slots, started, go };
}

describe('WorkerSlots', () => {
  it('hands out one slot per worker; waiting tasks start in RequestFirstQueue order as slots come back', async () => {
    const slots = new WorkerSlots(2, 0, 100, () => 0);
    const started: string[] = [];
    const go = (name: string, background: boolean) => slots.acquire(background).then(() => started.push(name));
    await go('train 1', true);
    await go('train 2', true);
    const waiting = [go('train 3', true), go('train 4', true), go('query', false)];
    expect(slots.waiting).toBe(3);
    slots.release(true); // train 1 settled: the query goes, though trains 3 and 4 came first
    await waiting[2];
    expect(started).toEqual(['train 1', 'train 2', 'query']);
    slots.release(true);
    slots.release(false);
    await Promise.all(waiting);
    expect(started).toEqual(['train 1', 'train 2', 'query', 'train 3', 'train 4']);
    expect(slots.waiting).toBe(0);
  });

  it('while requests come, leaves one slot to them: background tasks wait for a slot beyond that until the reserve lapses', async () => {
    vi.useFakeTimers();
    try {
      const { clock, slots, started, go } = clockedSlots();
      await go('query 1', false);
      slots.release(false);
      clock.now = 10;
      await go('train 1', true);
      const train2 = go('train 2', true); // a query ran 10 ms ago: the second slot stays free for the next
      await Promise.resolve();
      expect(slots.waiting).toBe(1);
      clock.now = 20;
      await go('query 2', false); // finds the free slot at once
      slots.release(false);
      expect(started).toEqual(['query 1', 'train 1', 'query 2']);
      clock.now = 1020; // 1 s since query 2 started: the reserve lapses and train 2 takes the slot
      await vi.advanceTimersByTimeAsync(1000);
      await train2;
      expect(started).toEqual(['query 1', 'train 1', 'query 2', 'train 2']);
      // One slot: nothing is reserved.
      const one = new WorkerSlots(1, 1000, 100, () => clock.now);
      await one.acquire(false);
      one.release(false);
      await one.acquire(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('starts an overdue background task under requests that keep every slot busy (one at a time, never starved)', async () => {
    vi.useFakeTimers();
    try {
      const { clock, slots, started, go } = clockedSlots();
      await go('query 0', false);
      await go('query 1', false);
      void go('train 1', true);
      void go('train 2', true);
      // Saturating requests: one is always waiting when a slot comes back, every 30 ms.
      for (let q = 2; q < 12; q++) {
        void go(`query ${q}`, false);
        clock.now += 30;
        slots.release(false);
        await vi.advanceTimersByTimeAsync(0);
      }
      // The oldest training task went at the first release after it had waited 100 ms (the
      // fourth, at 120 ms); the second waits while it holds a slot, queries taking the other.
      expect(started.slice(0, 6)).toEqual(['query 0', 'query 1', 'query 2', 'query 3', 'query 4', 'train 1']);
      expect(started.slice(6)).toEqual(['query 5', 'query 6', 'query 7', 'query 8', 'query 9', 'query 10']);
      slots.release(true); // train 1 settled: train 2 has aged since, and goes at once
      await vi.advanceTimersByTimeAsync(0);
      expect(started.at(-1)).toBe('train 2');
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses waiting and later tasks once closed', async () => {
    const slots = new WorkerSlots(1, 0, 100, () => 0);
    await slots.acquire(true);
    const waiting = slots.acquire(false);
    slots.close(new Error('closed'));
    await expect(waiting).rejects.toThrow('closed');
    await expect(slots.acquire(false)).rejects.toThrow('closed');
    slots.release(true); // the running task settles afterwards: nothing starts
    expect(slots.waiting).toBe(0);
  });

  it('drops a waiting task whose signal aborts (rejected with its reason, no slot held), and refuses one already aborted', async () => {
    const slots = new WorkerSlots(1, 0, 100, () => 0);
    await slots.acquire(false);
    const controller = new AbortController();
    const gone = slots.acquire(false, controller.signal);
    const next = slots.acquire(false);
    controller.abort(new Error('client gone'));
    await expect(gone).rejects.toThrow('client gone');
    expect(slots.waiting).toBe(1);
    slots.release(false);
    await next;
    await expect(slots.acquire(false, AbortSignal.abort(new Error('late')))).rejects.toThrow('late');
  });
});

describe('ComputePool task order (real workers)', () => {
  const pool = new ComputePool({ threads: 2 });
  afterAll(() => pool.close());

  it("runs a request's task before background tasks queued ahead of it, abort signals and all (as training and requests carry them)", async () => {
    const d = 64;
    const x = blobs(2_000, d, 10, 5);
    const codec = new FlatCodec(ProductQuantizer.train(x, 2_000, d, { m: 8 }, { iterations: 3 }).pq);
    await pool.encode(codec, x, 100); // workers up, codec cached
    const n = 300;
    const A = new Float64Array(n * n).fill(1);
    // A training's compute: eight products of four tasks each (one runs — a request just ran, so
    // a worker is kept for the next — thirty-one wait), then an encode (a request) behind them.
    const job = new AbortController();
    const request = new AbortController();
    const training = pool.trainCompute(job.signal);
    const background = Array.from({ length: 8 }, () => training.matmulABt(A, A, n, n, n));
    expect(pool.stats().queued).toBe(31);
    let waitingWhenEncoded = -1;
    await pool.encode(codec, x, 100, request.signal).then(() => {
      waitingWhenEncoded = pool.stats().queued;
    });
    await Promise.all(background);
    // It waits for the tasks running when it came, not for the thirty. (Before, tasks with a
    // signal waited in piscina's own FIFO, which passes over the task queue: 0 were left.)
    expect(waitingWhenEncoded).toBeGreaterThanOrEqual(24);
  });

  it("queues the tasks of a background scope behind them (a calibration's searches wait like training)", async () => {
    const d = 64;
    const x = blobs(2_000, d, 10, 5);
    const codec = new FlatCodec(ProductQuantizer.train(x, 2_000, d, { m: 8 }, { iterations: 3 }).pq);
    await pool.encode(codec, x, 100);
    const n = 300;
    const A = new Float64Array(n * n).fill(1);
    const background = Array.from({ length: 8 }, () => pool.matmulABt(A, A, n, n, n));
    let waitingWhenEncoded = -1;
    await inBackground(() => pool.encode(codec, x, 100)).then(() => {
      waitingWhenEncoded = pool.stats().queued;
    });
    await Promise.all(background);
    // Behind (nearly) all thirty, first in first out among background tasks.
    expect(waitingWhenEncoded).toBeLessThanOrEqual(4);
  });
});
