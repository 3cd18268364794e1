/**
 * IVF benchmark on Fashion-MNIST: IVF256 + PQ32 (and OPQ32 in front, LOPQ's
 * rotation per cell with --quantizers lopq, or an additive quantizer of the
 * residuals with rq / lsq: m codebooks + the norm byte) with nprobe 1–64, ADC only and with
 * exact re-ranking, beside FAISS's IVF256,PQ32 figures. Each setting's relative
 * MSE is reported on the base vectors (trained on) and on the 10,000 query
 * images (held out).
 *
 *   npm run bench:ivf [-- --quantizers pq,opq --nlist 256 --m 32 --nprobe 1,2,4,8,16,32,64
 *                        --rerank 4,10 --threads 2 --queries 10000]
 *
 * Training uses the worker pool (all cores unless --threads); encoding and search
 * run on one thread, one query at a time, k = 10, as FAISS's figures do.
 * Re-ranking reads the candidates' vectors from memory here (the service reads
 * them from SQLite). Writes bench/results/ivf-fashion-mnist.json (--out) and
 * bench/results/ivf-recall-vs-qps.svg (named after --out).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LIST_ID_BYTES } from '../src/core/codec.js';
import { l2sq } from '../src/core/distance.js';
import { TopK } from '../src/core/topk.js';
import { trainCodec } from '../src/core/train.js';
import { ScanSession, arenaOf } from '../src/core/wasm/scan.js';
import { InvertedLists } from '../src/index/inverted-lists.js';
import { ComputePool } from '../src/pool/compute-pool.js';
import { type IvfAnchorRow, loadAnchors } from './lib/anchors.js';
import { REPO_ROOT, loadFashionMnistOrExit } from './lib/fashion-mnist.js';
import { COLOURS, type Series, svgPlot } from './lib/plot.js';
import { addRecall, emptyRecall, finishRecall } from './lib/recall.js';
import { machineSummary } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    quantizers: { type: 'string', default: 'pq,opq' },
    nlist: { type: 'string', default: '256' },
    m: { type: 'string', default: '32' },
    nprobe: { type: 'string', default: '1,2,4,8,16,32,64' },
    rerank: { type: 'string', default: '4,10' },
    'opq-iterations': { type: 'string' },
    threads: { type: 'string' },
    queries: { type: 'string' },
    out: { type: 'string', default: resolve(REPO_ROOT, 'bench/results/ivf-fashion-mnist.json') },
  },
});

type IvfQuantizer = 'pq' | 'opq' | 'lopq' | 'rq' | 'lsq';

interface IvfRow {
  quantizer: IvfQuantizer;
  nlist: number;
  m: number;
  nprobe: number;
  rerank: number | null;
  recall1: number;
  recall10at10: number;
  msPerQuery: number;
  faiss: { faissFactory: string; recall1: number; recall10at10: number; msPerQuery: number } | null;
}

interface IvfSetting {
  quantizer: IvfQuantizer;
  nlist: number;
  m: number;
  /** Code bytes per vector besides the list id (rq / lsq: m + the norm byte). */
  codeBytes: number;
  trainSeconds: number;
  encodeMicrosPerVector: number;
  relativeMse: number;
  /** Relative MSE of the 10,000 query images, encoded but not trained on (how vectors added after training are coded). */
  heldOutRelativeMse: number;
  /** Entries per list: smallest, median, largest. */
  listSizes: [number, number, number];
}

/** The rotation in front of a setting's name: OPQm, or LOPQm for per-cell rotations. */
function prefix(quantizer: string, m: number): string {
  return quantizer === 'opq' ? `OPQ${m},` : quantizer === 'lopq' ? `LOPQ${m},` : '';
}

/** A setting's name in FAISS's factory style: IVF256,PQ16, OPQ16,IVF256,PQ16, IVF256,RQ15 (+ its norm byte). */
function settingName(quantizer: IvfQuantizer, nlist: number, m: number): string {
  const codes = quantizer === 'rq' || quantizer === 'lsq' ? `${quantizer.toUpperCase()}${m}` : `PQ${m}`;
  return `${prefix(quantizer, m)}IVF${nlist},${codes}`;
}

/** The FAISS anchor row's name for a setting; null for rq / lsq, which the anchors do not hold. */
function faissFactory(quantizer: IvfQuantizer, nlist: number, m: number, rerank: number | null): string | null {
  if (quantizer === 'rq' || quantizer === 'lsq') return null;
  return `${prefix(quantizer, m)}IVF${nlist},PQ${m}np${rerank === null ? '' : ',RFlat'}`;
}

async function main(): Promise<void> {
  const ds = loadFashionMnistOrExit();
  const anchors = loadAnchors();
  const nQueries = Math.min(ds.nQuery, Number(args.queries ?? ds.nQuery));
  const pool = new ComputePool(args.threads ? { threads: Number(args.threads) } : {});
  const nprobes = args.nprobe.split(',').map(Number);
  const factors: (number | null)[] = [null, ...(args.rerank === '' ? [] : args.rerank.split(',').map(Number))];
  const settings: IvfSetting[] = [];
  const rows: IvfRow[] = [];
  let ms = 0;
  for (let i = 0; i < ds.nBase * ds.d; i++) ms += ds.base[i] * ds.base[i];
  ms /= ds.nBase;
  console.log(`Fashion-MNIST: ${ds.nBase} base, ${nQueries} queries, d = ${ds.d}; ${machineSummary()}; training on ${pool.threads} threads`);
  try {
    for (const quantizer of args.quantizers.split(',') as IvfQuantizer[])
      for (const nlist of args.nlist.split(',').map(Number))
        for (const m of args.m.split(',').map(Number)) {
          const t0 = performance.now();
          const rotation = args['opq-iterations'] ? { iterations: Number(args['opq-iterations']) } : {};
          const { codec } = await trainCodec(ds.base, ds.nBase, ds.d, { type: quantizer, m, nbits: 8, nlist }, { rotation }, pool.trainCompute());
          const trainSeconds = (performance.now() - t0) / 1000;
          if (codec.kind !== 'ivf') throw new Error('an nlist was given: expected an IVF codec');
          const t1 = performance.now();
          const codes = codec.encode(ds.base, ds.nBase);
          const encodeMicrosPerVector = ((performance.now() - t1) * 1000) / ds.nBase;
          const rec = codec.decode(codes, ds.nBase);
          let err = 0;
          for (let i = 0; i < rec.length; i++) err += (rec[i] - ds.base[i]) ** 2;
          const held = codec.decode(codec.encode(ds.queries, ds.nQuery), ds.nQuery);
          let heldErr = 0;
          let heldNorm = 0;
          for (let i = 0; i < held.length; i++) {
            heldErr += (held[i] - ds.queries[i]) ** 2;
            heldNorm += ds.queries[i] ** 2;
          }
          const lists = InvertedLists.build(nlist, codec.codeSize, codes, ds.nBase, new Uint8Array(ds.nBase)).lists.view();
          const sizes = Array.from(lists.sizes).sort((a, b) => a - b);
          settings.push({
            quantizer,
            nlist,
            m,
            codeBytes: codec.codeSize - LIST_ID_BYTES,
            trainSeconds,
            encodeMicrosPerVector,
            relativeMse: err / ds.nBase / ms,
            heldOutRelativeMse: heldErr / heldNorm,
            listSizes: [sizes[0], sizes[sizes.length >> 1], sizes[sizes.length - 1]],
          });
          console.log(
            `${settingName(quantizer, nlist, m)}: trained in ${trainSeconds.toFixed(1)} s, relative MSE ${settings.at(-1)!.relativeMse.toFixed(4)} (held-out ${settings.at(-1)!.heldOutRelativeMse.toFixed(4)})`,
          );

          const searcher = codec.ivfSearcher('l2');
          // Cells scanned by the WebAssembly kernel, as the workers do (the lists' codes are in a code arena).
          const kernels = ScanSession.open(arenaOf(lists.codes)!, lists.codes, codec.quantizer.m);
          for (const factor of factors)
            for (const nprobe of nprobes) {
              const sums = emptyRecall();
              const kc = factor === null ? 10 : 10 * factor;
              const t = performance.now();
              for (let q = 0; q < nQueries; q++) {
                const heap = new TopK(kc);
                const tq = codec.transformQuery(ds.queries, q * ds.d);
                searcher.search(tq.q, tq.qo, lists, nprobe, heap, null, false, kernels);
                let ids = heap.drainSorted().ids;
                if (factor !== null) {
                  const best = new TopK(10);
                  for (const row of ids) best.push(l2sq(ds.queries, q * ds.d, ds.base, row * ds.d, ds.d), row);
                  ids = best.drainSorted().ids;
                }
                addRecall(sums, ids, ds.groundTruth, q, ds.gtK);
              }
              const msPerQuery = (performance.now() - t) / nQueries;
              const { recall1, recall10at10 } = finishRecall(sums);
              const factory = faissFactory(quantizer, nlist, m, factor);
              const a: IvfAnchorRow | undefined =
                factory === null ? undefined : anchors?.ivf.find((x) => x.faissFactory === factory && x.nprobe === nprobe && x.rerank === factor);
              rows.push({
                quantizer,
                nlist,
                m,
                nprobe,
                rerank: factor,
                recall1,
                recall10at10,
                msPerQuery,
                faiss: a ? { faissFactory: a.faissFactory, recall1: a.recall1, recall10at10: a.recall10at10, msPerQuery: a.msPerQuery } : null,
              });
            }
          kernels?.close();
        }
  } finally {
    await pool.close();
  }
  console.log('\n| setting | train s | rel. MSE | held-out rel. MSE | encode µs/vec | list sizes min/median/max |\n|---|---|---|---|---|---|');
  for (const s of settings) {
    console.log(
      `| ${settingName(s.quantizer, s.nlist, s.m)} | ${s.trainSeconds.toFixed(1)} | ${s.relativeMse.toFixed(4)} | ${s.heldOutRelativeMse.toFixed(4)} | ${s.encodeMicrosPerVector.toFixed(1)} | ${s.listSizes.join(' / ')} |`,
    );
  }
  console.log('\n| setting | rerank | nprobe | recall@1 | 10-recall@10 (FAISS) | ms/query (FAISS) |\n|---|---|---|---|---|---|');
  for (const r of rows) {
    const f = r.faiss;
    const mark = f ? (r.recall10at10 >= f.recall10at10 ? ' ✓' : ' ✗') : '';
    console.log(
      `| ${settingName(r.quantizer, r.nlist, r.m)} | ${r.rerank ?? '–'} | ${r.nprobe} | ${r.recall1.toFixed(3)} | ` +
        `${r.recall10at10.toFixed(4)} (${f ? f.recall10at10.toFixed(4) : '–'})${mark} | ${r.msPerQuery.toFixed(3)} (${f ? f.msPerQuery.toFixed(3) : '–'}) |`,
    );
  }
  const result = { dataset: 'fashion-mnist', date: new Date().toISOString(), machine: machineSummary(), queries: nQueries, k: 10, settings, rows };
  mkdirSync(resolve(args.out, '..'), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${args.out}`);
  const plot = resolve(args.out, '..', `${basename(args.out).replace(/(-fashion-mnist)?\.json$/, '')}-recall-vs-qps.svg`);
  writeFileSync(plot, ivfPlot(rows));
  console.log(`wrote ${plot}`);
}

/** One line per setting and re-rank factor through its nprobe values; FAISS's as hollow markers. */
function ivfPlot(rows: IvfRow[]): string {
  const key = (r: IvfRow): string => `${settingName(r.quantizer, r.nlist, r.m)}|${r.rerank ?? 'ADC'}`;
  const keys = [...new Set(rows.map(key))];
  const series: Series[] = [];
  keys.forEach((k, i) => {
    const [name, rerank] = k.split('|');
    const mine = rows.filter((r) => key(r) === k);
    const label = rerank === 'ADC' ? 'ADC' : `re-rank ×${rerank}`;
    const colour = COLOURS[i % COLOURS.length];
    series.push({
      name: `${name} ${label}`,
      colour,
      hollow: false,
      points: mine.map((r) => ({ qps: 1000 / r.msPerQuery, recall: r.recall10at10, label: `${r.nprobe}` })),
    });
    const theirs = mine.filter((r) => r.faiss !== null);
    if (theirs.length > 0) {
      series.push({
        name: `FAISS ${label}`,
        colour,
        hollow: true,
        points: theirs.map((r) => ({ qps: 1000 / r.faiss!.msPerQuery, recall: r.faiss!.recall10at10, label: '' })),
      });
    }
  });
  return svgPlot(series, 'Fashion-MNIST IVF: 10-recall@10 vs queries/s by nprobe (one thread)');
}

await main();
