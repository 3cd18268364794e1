/**
 * Recall-versus-speed plot (SVG, no dependencies): 10-recall@10 against queries
 * per second on one thread, log-scaled. One line per quantizer setting, from ADC
 * only through each re-rank factor; FAISS's figures for the same settings as
 * hollow markers.
 */
import type { Anchors } from './anchors.js';

export interface Point {
  qps: number;
  recall: number;
  label: string;
}

export interface Series {
  name: string;
  colour: string;
  points: Point[];
  hollow: boolean;
}

export const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function recallPlot(
  rows: { quantizer: string; m: number; recall10at10: number; searchMsPerQuery: number }[],
  reranked: { quantizer: string; m: number; rerank: number; recall10at10: number; msPerQuery: number }[],
  anchors: Anchors | null,
): string {
  const series: Series[] = rows.map((r, i) => ({
    name: `${r.quantizer.toUpperCase()}${r.m}`,
    colour: COLOURS[i % COLOURS.length],
    hollow: false,
    points: [
      { qps: 1000 / r.searchMsPerQuery, recall: r.recall10at10, label: 'ADC' },
      ...reranked
        .filter((x) => x.quantizer === r.quantizer && x.m === r.m)
        .map((x) => ({ qps: 1000 / x.msPerQuery, recall: x.recall10at10, label: `×${x.rerank}` })),
    ],
  }));
  rows.forEach((r, i) => {
    const a = anchors?.rows
      .filter((x) => x.quantizer === r.quantizer && x.m === r.m && x.nbits === 8)
      .sort((x, y) => (y.opqIterations ?? 0) - (x.opqIterations ?? 0))[0];
    if (a)
      series.push({
        name: `FAISS ${a.faissFactory}`,
        colour: series[i].colour,
        hollow: true,
        points: [{ qps: 1000 / a.searchMsPerQuery, recall: a.recall10at10, label: '' }],
      });
  });
  return svgPlot(series, 'Fashion-MNIST: 10-recall@10 vs queries/s (one thread, 60k × 784-d)');
}

/** The plot itself: one polyline per series with more than one point, log-scaled queries/s. */
export function svgPlot(series: Series[], title: string): string {
  const all = series.flatMap((s) => s.points);
  const W = 760;
  const H = 480;
  const pad = { left: 60, right: 220, top: 30, bottom: 50 };
  const lx = (v: number) => Math.log10(v);
  const xMin = Math.floor(lx(Math.min(...all.map((p) => p.qps))) * 4) / 4;
  const xMax = Math.ceil(lx(Math.max(...all.map((p) => p.qps))) * 4) / 4;
  const yMin = Math.max(0, Math.floor(Math.min(...all.map((p) => p.recall)) * 10) / 10);
  const X = (qps: number) => pad.left + ((lx(qps) - xMin) / (xMax - xMin || 1)) * (W - pad.left - pad.right);
  const Y = (r: number) => H - pad.bottom - ((r - yMin) / (1 - yMin || 1)) * (H - pad.top - pad.bottom);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${pad.left}" y="18" font-size="14">${title}</text>`);
  for (let r = yMin; r <= 1.0001; r += 0.1) {
    out.push(`<line x1="${pad.left}" x2="${W - pad.right}" y1="${Y(r)}" y2="${Y(r)}" stroke="#ddd"/>`);
    out.push(`<text x="${pad.left - 8}" y="${Y(r) + 4}" text-anchor="end">${r.toFixed(1)}</text>`);
  }
  for (let e = Math.ceil(xMin); e <= xMax; e++) {
    for (const mul of [1, 2, 5]) {
      const v = mul * 10 ** e;
      if (lx(v) < xMin || lx(v) > xMax) continue;
      out.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${pad.top}" y2="${H - pad.bottom}" stroke="#eee"/>`);
      out.push(`<text x="${X(v)}" y="${H - pad.bottom + 16}" text-anchor="middle">${v}</text>`);
    }
  }
  out.push(`<text x="${(pad.left + W - pad.right) / 2}" y="${H - 12}" text-anchor="middle">queries per second (log)</text>`);
  out.push(`<text transform="translate(16 ${(H - pad.bottom + pad.top) / 2}) rotate(-90)" text-anchor="middle">10-recall@10</text>`);
  series.forEach((s, i) => {
    if (s.points.length > 1) {
      out.push(
        `<polyline fill="none" stroke="${s.colour}" stroke-width="1.5" points="${s.points.map((p) => `${X(p.qps).toFixed(1)},${Y(p.recall).toFixed(1)}`).join(' ')}"/>`,
      );
    }
    for (const p of s.points) {
      const fill = s.hollow ? 'white' : s.colour;
      out.push(
        `<circle cx="${X(p.qps).toFixed(1)}" cy="${Y(p.recall).toFixed(1)}" r="4" fill="${fill}" stroke="${s.colour}" stroke-width="2"><title>${s.name} ${p.label}: ${p.recall.toFixed(3)} at ${p.qps.toFixed(0)} q/s</title></circle>`,
      );
      if (p.label) out.push(`<text x="${X(p.qps) + 6}" y="${Y(p.recall) - 6}" font-size="10" fill="${s.colour}">${p.label}</text>`);
    }
    const ly = pad.top + 10 + i * 18;
    out.push(`<circle cx="${W - pad.right + 20}" cy="${ly}" r="4" fill="${s.hollow ? 'white' : s.colour}" stroke="${s.colour}" stroke-width="2"/>`);
    out.push(`<text x="${W - pad.right + 30}" y="${ly + 4}">${s.name}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
