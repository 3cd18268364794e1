/**
 * How the pool's failures reach the caller: a full queue, a worker that went
 * away, a task that failed inside a worker. Errors cross the thread boundary as
 * structured clones (PortableError), so they are rebuilt here by name and code.
 */
import { QuantizerInputError } from '../core/errors.js';
import type { PortableError } from './tasks.js';

/** The pool's queue is full: the caller should shed the request (503) rather than wait. */
export class PoolOverloadedError extends Error {
  override name = 'PoolOverloadedError';
  constructor(limit: number) {
    super(`the worker pool has ${limit} tasks waiting (MAX_QUEUED_TASKS); try again shortly`);
  }
}

/** The worker running a task stopped (crashed, ran out of memory, was terminated); the pool has started a replacement. */
export class WorkerExitedError extends Error {
  override name = 'WorkerExitedError';
  constructor(task: string, cause: unknown) {
    super(`the worker thread running ${task} stopped (${cause instanceof Error ? cause.message : String(cause)}); it has been replaced`, { cause });
  }
}

/**
 * A task failed inside a worker. Errors cross the thread boundary as structured
 * clones; this keeps the task name, the message and the code (e.g. SQLITE_FULL)
 * so the log and the HTTP layer can tell what happened.
 */
export class WorkerTaskError extends Error {
  override name = 'WorkerTaskError';
  readonly code: string | undefined;
  constructor(task: string, cause: unknown) {
    const e = cause as { message?: unknown; code?: unknown } | null;
    const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(cause);
    super(`worker task ${task} failed: ${message}`, { cause });
    this.code = typeof e?.code === 'string' ? e.code : undefined;
  }
}

/**
 * The error a worker's PortableError stands for: bad input found by the core
 * inside a task stays a QuantizerInputError (the client's fault, 400); anything
 * else, a corrupt stored codec included, is a WorkerTaskError (internal, 500, or
 * a storage failure by its SQLite code).
 */
export function fromWorker(task: string, err: PortableError): Error {
  if (err?.name === 'QuantizerInputError') return new QuantizerInputError(err.message);
  return new WorkerTaskError(task, err);
}

/** Whether a task failed because its worker thread went away (piscina's messages, Node's out-of-memory code). */
export function workerStopped(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return /^worker exited with code|^Terminating worker thread/.test(err.message) || (err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY';
}
