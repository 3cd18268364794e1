/**
 * How long deleting a collection holds the event loop: a ticker every
 * millisecond records the longest gap between ticks while DELETE
 * /collections/{name} runs and until the collection's rows are gone.
 *
 *   npm run bench:delete [-- --rows 20000 --dimension 784 --rounds 3]
 *
 * The app is built in-process (real SQLite, real workers); rows go in through
 * the API in batches of 1,000. Prints the median of the rounds.
 */
import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp, internalsOf } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { machineSummary } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '20000' },
    dimension: { type: 'string', default: '784' },
    rounds: { type: 'string', default: '3' },
  },
});
const rows = Number(args.rows);
const d = Number(args.dimension);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const maxGaps: number[] = [];
const totals: number[] = [];
for (let round = 0; round < Number(args.rounds); round++) {
  const dir = mkdtempSync(join(tmpdir(), 'pqvec-delete-'));
  // Building the JSON payloads below holds the event loop; load shedding would refuse the DELETE.
  const app = await buildApp(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent', SQLITE_SYNCHRONOUS: 'NORMAL', MAX_EVENT_LOOP_DELAY_MS: '0' }));
  await app.inject({ method: 'POST', url: '/collections', payload: { name: 'big', dimension: d } });
  for (let s = 0; s < rows; s += 1000) {
    const vectors = Array.from({ length: Math.min(1000, rows - s) }, (_, i) => ({
      id: `v${s + i}`,
      vector: Array.from({ length: d }, (_, t) => Math.sin((s + i) * (t + 1))),
      metadata: { i: s + i },
    }));
    await app.inject({ method: 'POST', url: '/collections/big/vectors', payload: { vectors } });
  }
  const left = () => internalsOf(app).store.db.prepare('SELECT COUNT(*) FROM collections').pluck().get() as number;
  let maxGap = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  const r = await app.inject({ method: 'DELETE', url: '/collections/big' });
  if (r.statusCode !== 204) throw new Error(`DELETE answered ${r.statusCode}`);
  while (left() > 0) await new Promise((res) => setTimeout(res, 1));
  totals.push(performance.now() - t0);
  await new Promise((res) => setTimeout(res, 5)); // a last tick measures a stall that ended the deletion
  clearInterval(ticker);
  maxGaps.push(maxGap);
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  `delete ${rows} × ${d}-d: longest event-loop stall ${median(maxGaps).toFixed(1)} ms (rounds: ${maxGaps.map((g) => g.toFixed(1)).join(', ')}), ` +
    `until gone ${median(totals).toFixed(0)} ms (${machineSummary()})`,
);
