/**
 * The order in which tasks waiting for a worker get one. ComputePool hands
 * piscina at most one task per worker (WorkerSlots): the rest wait here, not
 * in piscina, whose queue is first in, first out and is passed over anyway by
 * tasks that carry an abort signal (piscina parks those in a FIFO of its own,
 * drained first) — every training and request task carries one. A training
 * job queues dozens of tasks at once (sub-space k-means, encoding ranges), and
 * a query arriving behind them waited for all of them: 43.8 s of a 48 s PQ16
 * training on Fashion-MNIST (npm run bench:training-latency, two workers).
 *
 * Here tasks of requests (searches, the encoding of an upsert) go before
 * background work (training, evaluation's error pass, start-up list builds),
 * each kind in arrival order. When no background task holds a worker and the
 * oldest has waited BACKGROUND_TASK_MAX_WAIT_MS, one goes next anyway, so
 * training still moves under a steady stream of queries — one background task
 * at a time, not a whole backlog that aged together. A query waits for the
 * first worker to come free, and while queries keep coming a training leaves
 * one worker to them (WorkerSlots), unless queries keep every worker busy:
 * then it gets a worker as its tasks age, one task at a time. A task started in a background scope
 * (ComputePool.inBackground: a calibration's searches) is background whatever
 * its name.
 */
import { BACKGROUND_TASK_MAX_WAIT_MS, REQUEST_RESERVE_MS } from '../tunables.js';
import type { TaskName } from './tasks.js';

/** Worker tasks that answer a request: what goes first. */
export const REQUEST_TASKS: ReadonlySet<TaskName> = new Set<TaskName>(['scan', 'ivfScan', 'exactScan', 'rerank', 'matchRows', 'encode', 'readRows']);

/** Whether a task queues as background work: started in a background scope (`marked`), or not a request's task by name. */
export function isBackground(name: TaskName, marked: boolean): boolean {
  return marked || !REQUEST_TASKS.has(name);
}

/** A FIFO with an O(1) shift (a head index; compacted as it advances). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes the first item that matches (an aborted task); false when none does. */
  remove(match: (item: T) => boolean): boolean {
    for (let i = this.head; i < this.items.length; i++) {
      if (!match(this.items[i])) continue;
      this.items.splice(i, 1);
      return true;
    }
    return false;
  }
}

/** What waits in the queue: whether it is background work, and anything else its owner needs. */
export interface Queued {
  readonly background: boolean;
}

interface Waiting<T> {
  item: T;
  since: number;
}

/** Request items first, then background items, each FIFO; an aged background item passes requests while no background work runs. */
export class RequestFirstQueue<T extends Queued> {
  private readonly requests = new Fifo<Waiting<T>>();
  private readonly background = new Fifo<Waiting<T>>();
  /** When a background item last went ahead of waiting requests (ageing counts from here too). */
  private lastJump = Number.NEGATIVE_INFINITY;

  constructor(
    /** Background tasks holding a worker now: while any does, background work is not starved. */
    private readonly runningBackground: () => number,
    private readonly maxWaitMs = BACKGROUND_TASK_MAX_WAIT_MS,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  get size(): number {
    return this.requests.size + this.background.size;
  }

  push(item: T): void {
    (item.background ? this.background : this.requests).push({ item, since: this.now() });
  }

  /** Background items waiting. */
  get backgroundSize(): number {
    return this.background.size;
  }

  /**
   * The next item to start. With `background` false (WorkerSlots keeps a slot
   * for requests) a background item goes only when overdue: else requests that
   * keep every slot busy would hold it back for as long as they come.
   */
  shift(background = true): T | null {
    const now = this.now();
    if (now >= this.overdueAt()) {
      if (this.requests.size > 0) this.lastJump = now;
      return this.background.shift()!.item;
    }
    if (this.requests.size > 0) return this.requests.shift()!.item;
    return background ? (this.background.shift()?.item ?? null) : null;
  }

  /** When the oldest background item may pass waiting requests (Infinity while none waits or one holds a worker). */
  overdueAt(): number {
    const oldest = this.background.peek();
    if (oldest === undefined || this.runningBackground() > 0) return Number.POSITIVE_INFINITY;
    return Math.max(oldest.since, this.lastJump) + this.maxWaitMs;
  }

  /** Removes an item (aborted while waiting); false when it is not waiting. */
  remove(item: T): boolean {
    return (item.background ? this.background : this.requests).remove((w) => w.item === item);
  }
}

interface Waiter extends Queued {
  start(): void;
  fail(reason: unknown): void;
}

/**
 * One slot per worker: a task takes a slot before it goes to piscina and
 * gives it back when it settles, so piscina always has a free worker for it
 * and the order among waiting tasks is RequestFirstQueue's. While requests
 * come (a request task started within REQUEST_RESERVE_MS), background tasks
 * hold at most all slots but one, so the next query finds a worker instead of
 * waiting for a training task to end (seconds: a sub-space k-means); with one
 * slot nothing is reserved.
 */
export class WorkerSlots {
  private free: number;
  private background = 0;
  private lastRequest = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  /** Set by close: what every later acquire is refused with. */
  private closed: Error | null = null;
  private readonly queue: RequestFirstQueue<Waiter>;

  constructor(
    private readonly slots: number,
    private readonly reserveMs = REQUEST_RESERVE_MS,
    maxWaitMs = BACKGROUND_TASK_MAX_WAIT_MS,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.free = slots;
    this.queue = new RequestFirstQueue<Waiter>(() => this.background, maxWaitMs, now);
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.queue.size;
  }

  /** Resolves once the task holds a slot; rejects with the signal's reason if it is aborted first (it then holds none). */
  acquire(background: boolean, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.closed !== null) return Promise.reject(this.closed);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        if (this.queue.remove(waiter)) reject(signal!.reason);
      };
      const waiter: Waiter = {
        background,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (reason) => {
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.dispatch();
    });
  }

  /** Gives back a slot taken by acquire (its task settled) and starts the next waiting tasks. */
  release(background: boolean): void {
    this.free++;
    if (background) this.background--;
    this.dispatch();
  }

  /** Refuses every waiting and later task with `reason` (the pool is closing: nothing more goes to its workers). */
  close(reason: Error): void {
    this.closed = reason;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (let w = this.queue.shift(); w !== null; w = this.queue.shift()) w.fail(reason);
  }

  /** Starts waiting tasks while slots are free (background ones only outside the requests' reserve). */
  private dispatch(): void {
    if (this.closed !== null) return;
    for (;;) {
      if (this.free === 0) return;
      const w = this.queue.shift(this.backgroundMayStart());
      if (w === null) break;
      this.free--;
      if (w.background) this.background++;
      else this.lastRequest = this.now();
      w.start();
    }
    // A background task held back by the reserve starts when it is overdue or the reserve lapses, if no release comes first.
    if (this.timer === null && this.queue.backgroundSize > 0) {
      const wait = Math.min(this.lastRequest + this.reserveMs, this.queue.overdueAt()) - this.now();
      this.timer = setTimeout(
        () => {
          this.timer = null;
          this.dispatch();
        },
        Math.max(1, wait),
      );
      this.timer.unref();
    }
  }

  /** Whether a background task may take a free slot now: it leaves one free, or no request came within the reserve (or there is one slot). */
  private backgroundMayStart(): boolean {
    return this.slots === 1 || this.free > 1 || this.now() - this.lastRequest >= this.reserveMs;
  }
}
