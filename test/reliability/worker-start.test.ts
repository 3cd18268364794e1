/**
 * A worker thread terminated while it loads the worker module must not take the
 * process with it. Piscina looks handlers up with require(); on Node ≥ 20.19,
 * require() of an ES module graph aborts the process (V8 fatal error "IsGraphAsync
 * must be used on an instantiated module", exit 134) when the worker is
 * terminated mid-instantiation — closing a pool while its workers start did it
 * within 50 rounds. The pool now loads a CommonJS entry (src/pool/worker-entry.cts).
 * Checked in a child process, since the failure is the process dying.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROUNDS = Number(process.env.WORKER_START_ROUNDS ?? 150);
const POOL = resolve(import.meta.dirname, '../../dist/src/pool/compute-pool.js');

describe('worker start-up', () => {
  it(`closing a pool while its workers load never aborts the process (${ROUNDS} pools)`, () => {
    const script = `
      const { ComputePool } = await import(${JSON.stringify(POOL)});
      let seed = 7;
      const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
      for (let i = 0; i < ${ROUNDS}; i++) {
        const pool = new ComputePool({ threads: 2 });
        // Anywhere from "just spawned" to "module loaded": the window the abort needed.
        await new Promise((r) => setTimeout(r, next() * 120));
        await pool.close();
      }
      console.log('done');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 240_000 });
    expect(r.stderr).not.toMatch(/FATAL ERROR/);
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    expect(r.stdout.trim()).toBe('done');
  });
});
