/**
 * The order in which tasks waiting for a worker get one. Piscina's own queue
 * is first in, first out: a training job queues dozens of tasks at once
 * (sub-space k-means, encoding ranges), and a query arriving behind them
 * waited for all of them — seconds, on two workers. Here tasks of requests
 * (searches, the encoding of an upsert) go before background work (training,
 * evaluation's error pass, start-up list builds), each kind in arrival order;
 * when no background task has had a worker for BACKGROUND_TASK_MAX_WAIT_MS
 * (and the oldest has waited that long), one goes next anyway, so training
 * still moves under a steady stream of queries — one background task per
 * interval, not a whole backlog that aged together. A task
 * started in a background scope (ComputePool.inBackground: a calibration's
 * searches) is background whatever its name.
 */
import { type TaskQueue, queueOptionsSymbol } from 'piscina';
import { BACKGROUND_TASK_MAX_WAIT_MS } from '../tunables.js';
import type { TaskName } from './tasks.js';

/** What piscina queues: its TaskInfo, which carries the name the task was run with. */
type Task = Parameters<TaskQueue['push']>[0];

/** Worker tasks that answer a request: what goes first. */
export const REQUEST_TASKS: ReadonlySet<TaskName> = new Set<TaskName>(['scan', 'ivfScan', 'exactScan', 'rerank', 'matchRows', 'encode', 'readRows']);

/** A FIFO of tasks with an O(1) shift (a head index; compacted as it advances). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** Puts an item back at the head. */
  unshift(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
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

interface Waiting {
  task: Task;
  since: number;
}

/** Piscina's TaskQueue: request tasks first, then background tasks, each FIFO; a background task waiting too long goes next. */
export class RequestFirstQueue implements TaskQueue {
  private readonly requests = new Fifo<Waiting>();
  private readonly background = new Fifo<Waiting>();
  /** When each task was first queued. */
  private readonly seen = new WeakMap<Task, number>();
  /** When a background task last went ahead of waiting requests (ageing counts from here too). */
  private lastJump = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxWaitMs = BACKGROUND_TASK_MAX_WAIT_MS,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  get size(): number {
    return this.requests.size + this.background.size;
  }

  push(task: Task): void {
    const lane = isRequest(task) ? this.requests : this.background;
    const since = this.seen.get(task);
    if (since === undefined) {
      this.seen.set(task, this.now());
      lane.push({ task, since: this.now() });
    } else {
      // Piscina pushes back a task it shifted and found no free worker for (without an abort signal):
      // it was its lane's head, and keeps its place and its age.
      lane.unshift({ task, since });
    }
  }

  unshift(task: Task): void {
    this.push(task);
  }

  shift(): Task | null {
    const oldest = this.background.peek();
    const now = this.now();
    const overdue = oldest !== undefined && now - Math.max(oldest.since, this.lastJump) >= this.maxWaitMs;
    if (this.requests.size > 0 && !overdue) return this.requests.shift()?.task ?? null;
    if (this.requests.size > 0) this.lastJump = now;
    return (this.background.size > 0 ? this.background : this.requests).shift()?.task ?? null;
  }

  remove(task: Task): void {
    (isRequest(task) ? this.requests : this.background).remove((w) => w.task === task);
  }
}

/** What ComputePool attaches (under piscina's queue-options symbol) to a task run in a background scope. */
export const BACKGROUND_TASK = Object.freeze({ background: true });

function isRequest(task: Task): boolean {
  if ((task as unknown as Record<symbol, unknown>)[queueOptionsSymbol] === BACKGROUND_TASK) return false;
  return REQUEST_TASKS.has((task as Task & { name: TaskName }).name);
}
