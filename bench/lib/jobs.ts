/** Waiting for the in-process service's jobs (the benchmarks that call CollectionService directly). */
import type { CollectionService } from '../../src/services/collections.js';
import type { JobView } from '../../src/services/types.js';

/** Polls a job every `everyMs` until it has ended; returns it, succeeded or failed. */
export async function jobEnded(service: CollectionService, name: string, id: string, everyMs = 50): Promise<JobView> {
  for (;;) {
    const j = service.job(name, id);
    if (j.state === 'succeeded' || j.state === 'failed') return j;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
