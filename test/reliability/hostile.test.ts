/**
 * Hostile input. Property-based (fast-check, fixed seeds): thousands of
 * malformed and hostile requests to every route, in process (app.inject):
 * wrong types, huge and non-finite numbers in raw JSON text, deep and huge
 * JSON, unicode / NUL / lone surrogates / SQL-looking strings in names, ids and
 * filters, unknown filter operators, wrong content types, truncated and
 * wrongly-typed bodies, huge knobs, unknown routes and methods, malformed URLs.
 *
 * Properties: no response is 5xx; every 4xx body is {"error": {"code":
 * string, "message": string}}; the app stays alive (GET /health 200); the
 * protected collections, which the generators only read, are unchanged.
 * Writes the generators aim at a throwaway collection ("junk") may succeed:
 * that is allowed, they never touch the protected ones.
 *
 * Then the same over a real socket (a server process): malformed HTTP request
 * lines, a 20 KB header, no Host, smuggling-shaped framing; the server answers
 * with the JSON error body or closes the connection, never hangs, and keeps
 * serving.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, makeApp, waitForJob } from '../helpers/app.js';
import { type ServerProcess, call, seededRandom, startServer } from '../helpers/server.js';

const fileStarted = performance.now();
const D = 8;
const SEED = 42;

type Method = NonNullable<InjectOptions['method']>;
interface Req {
  method: Method;
  url: string;
  headers?: Record<string, string>;
  payload?: string;
  /** What the generator meant to send, for reports. */
  what: string;
}

// ---------------------------------------------------------------------------
// Building blocks

/** Strings that have broken services before. */
const NASTY: string[] = [
  "'; DROP TABLE vectors; --",
  '" OR 1=1 --',
  "') OR ('1'='1",
  '1; SELECT * FROM collections',
  'x" UNION SELECT name, sql FROM sqlite_master --',
  '$."a"',
  '$.a[0]',
  "json_extract(metadata, '$')",
  '%',
  '%25',
  '%00',
  '\u0000',
  'a\u0000b',
  's\ud800',
  '\udc00x',
  '\ud83d',
  '😀',
  '👨‍👩‍👧‍👦',
  '\u200f\u202eevil\u202c',
  'مرحبا',
  '\ufeffbom',
  '\u0085\u2028\u2029',
  'e\u0301',
  '\\',
  '\\u0000',
  '../../etc/passwd',
  '..',
  '.',
  '/',
  '?x=1',
  '#frag',
  ' ',
  '\t\r\n',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'null',
  'undefined',
  'NaN',
  '<script>alert(1)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log-injection string, sent as it is
  '${jndi:ldap://x}',
  '{{7*7}}',
  'A'.repeat(65),
  'é'.repeat(100),
];

const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ unit: anyUnit, maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.tuple(fc.stringMatching(/^[a-z0-9_-]{1,10}$/), lone).map(([a, b]) => a + b) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 100, max: 600 }), fc.constantFrom('x', 'é', '中', '😀', '\u0000', '%', '/')).map(([n, c]) => c.repeat(n)),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{60,70}$/) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NASTY), fc.constantFrom(...NASTY)).map(([a, b]) => a + b) },
);

/** No lone UTF-16 surrogates. */
function isWellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** Percent-encodes a path segment; lone surrogates become their (invalid) 3-byte UTF-8 forms, like a sloppy client would send. */
function encodeSegment(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(s[i]);
    }
  }
  return out;
}

/** A segment as sent: percent-encoded (most), or raw (reads only: characters the client did not encode). */
const segment = (s: string, raw: boolean): string => (raw ? s : encodeSegment(s));

/** Whether a request could change the protected collections: it must not (mutations go to junk only). */
function touchesProtected(r: Req): boolean {
  if (r.method === 'GET' || r.method === 'HEAD') return false;
  let decoded = r.url;
  try {
    decoded = decodeURIComponent(r.url);
  } catch {
    // keep the raw form
  }
  // A POST that only reads (query, evaluate) may name them.
  if (r.method === 'POST' && /^\/collections\/prot(-exact)?\/(query|evaluate)(\?|$)/.test(r.url)) return false;
  return /prot/i.test(r.url) || /prot/i.test(decoded);
}

const json = { 'content-type': 'application/json' };

/** Valid bodies per route, to corrupt. */
const TEMPLATES: { method: Method; url: string; body: unknown }[] = [
  {
    method: 'POST',
    url: '/collections',
    body: {
      name: 'h_new',
      dimension: D,
      metric: 'l2',
      quantizer: { type: 'pq', m: 4, nbits: 4, ivf: { nlist: 4 } },
      autoTrain: { minVectors: 100, retrainAfterGrowth: 2 },
    },
  },
  { method: 'PATCH', url: '/collections/junk', body: { autoTrain: { minVectors: 1000, retrainAfterGrowth: 2 } } },
  {
    method: 'POST',
    url: '/collections/junk/vectors',
    body: { vectors: [{ id: 'j-new', vector: [1, 2, 3, 4, 5, 6, 7, 8], metadata: { group: 1, tag: 't', nested: { a: [1, 2] } } }] },
  },
  {
    method: 'POST',
    url: '/collections/prot/query',
    body: { vector: [1, 2, 3, 4, 5, 6, 7, 8], k: 10, rerank: 4, nprobe: 8, filter: { group: 1, tag: { in: ['a', 'b'] } } },
  },
  {
    method: 'POST',
    url: '/collections/prot-exact/query',
    body: {
      vectors: [
        [1, 2, 3, 4, 5, 6, 7, 8],
        [0, 0, 0, 0, 0, 0, 0, 1],
      ],
      k: 5,
      filter: { flag: true },
    },
  },
  { method: 'POST', url: '/collections/prot/evaluate', body: { sampleSize: 10, k: 5, rerank: 2, nprobe: 4, seed: 1 } },
  { method: 'POST', url: '/collections/prot/evaluate', body: { queries: [[1, 2, 3, 4, 5, 6, 7, 8]], k: 3 } },
  { method: 'POST', url: '/collections/junk/train', body: { sampleSize: 30, iterations: 5, opqIterations: 1, coarseIterations: 2, seed: 1 } },
];

type Path = (string | number)[];
function pathsOf(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (v !== null && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      const p = [...prefix, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      pathsOf(child, p, out);
    }
  }
  return out;
}

function mutate(body: unknown, path: Path, op: 'replace' | 'delete' | 'add', value: unknown): unknown {
  const copy = structuredClone(body) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (op === 'replace') parent[last] = value;
  else if (op === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if (Array.isArray(parent)) parent.push(value);
  else parent[`x_${String(last)}`] = value;
  return copy;
}

/** Odd values a field can be given. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    null,
    true,
    false,
    '',
    '0',
    '10',
    'l2',
    [],
    {},
    [[]],
    [null],
    { in: [] },
    -1,
    0,
    1.5,
    2 ** 31,
    2 ** 53,
    -(2 ** 53),
    1e308,
    5e-324,
    Number.MAX_SAFE_INTEGER + 2,
  ),
  hostileString,
);

/** Number tokens as raw JSON text (some are not valid JSON at all). */
const NUMBER_TOKENS = [
  '1e400',
  '-1e400',
  '1e-400',
  '-0',
  '-0.0',
  '0e0',
  '3.5e38',
  '-3.5e38',
  '3.4028235e38',
  '3.4028234663852886e38',
  '1e16',
  '1.0000001e16',
  '1e17',
  '1e308',
  '1.7976931348623157e308',
  '4294967295',
  '4294967296',
  '9007199254740993',
  '-9007199254740993',
  '1e21',
  '0.1',
  '1.5',
  '-1',
  '0',
  '1',
  '2147483648',
  `1${'0'.repeat(400)}`,
  `0.${'0'.repeat(400)}1`,
  '1E+2',
  '-1E-2',
  '65536',
  '65537',
  '1000',
  '1001',
  '100',
  '101',
  // not JSON:
  '00',
  '01',
  '+1',
  '.5',
  '5.',
  'NaN',
  'Infinity',
  '-Infinity',
  '0x10',
  '1_000',
  '1e',
  '--1',
];

const NUMBER_SLOTS: { method: Method; url: string; text: string }[] = [
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[§,0,0,0,0,0,0,0],"k":3}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[1,1,1,1,1,1,1,1],"k":§}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[1,1,1,1,1,1,1,1],"rerank":§}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[1,1,1,1,1,1,1,1],"nprobe":§}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[1,1,1,1,1,1,1,1],"filter":{"group":§}}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[1,1,1,1,1,1,1,1],"filter":{"group":{"in":[§, 2]}}}' },
  { method: 'POST', url: '/collections/prot-exact/query', text: '{"vectors":[[1,1,1,1,1,1,1,§]],"k":2}' },
  { method: 'POST', url: '/collections/prot/evaluate', text: '{"sampleSize":§}' },
  { method: 'POST', url: '/collections/prot/evaluate', text: '{"seed":§,"sampleSize":5}' },
  { method: 'POST', url: '/collections/prot/evaluate', text: '{"queries":[[§,1,1,1,1,1,1,1]],"k":2}' },
  { method: 'POST', url: '/collections/junk/vectors', text: '{"vectors":[{"id":"n1","vector":[§,1,1,1,1,1,1,1]}]}' },
  { method: 'POST', url: '/collections/junk/vectors', text: '{"vectors":[{"id":"n2","vector":[1,1,1,1,1,1,1,1],"metadata":{"v":§}}]}' },
  { method: 'POST', url: '/collections', text: '{"name":"num_c","dimension":§}' },
  { method: 'POST', url: '/collections', text: '{"name":"num_m","dimension":8,"quantizer":{"type":"pq","m":§}}' },
  { method: 'POST', url: '/collections', text: '{"name":"num_b","dimension":8,"quantizer":{"type":"pq","nbits":§}}' },
  { method: 'POST', url: '/collections', text: '{"name":"num_l","dimension":8,"quantizer":{"type":"pq","ivf":{"nlist":§}}}' },
  { method: 'PATCH', url: '/collections/junk', text: '{"autoTrain":{"minVectors":§}}' },
  { method: 'PATCH', url: '/collections/junk', text: '{"autoTrain":{"minVectors":5000,"retrainAfterGrowth":§}}' },
  { method: 'POST', url: '/collections/junk/train', text: '{"iterations":§,"sampleSize":30}' },
  { method: 'POST', url: '/collections/junk/train', text: '{"sampleSize":§}' },
  { method: 'POST', url: '/collections/junk/train', text: '{"seed":§,"sampleSize":30,"iterations":2}' },
  { method: 'POST', url: '/collections/junk/train', text: '{"opqIterations":§,"coarseIterations":§,"sampleSize":30,"iterations":2}' },
];

/** `depth` levels of arrays, objects or both around a scalar, as JSON text. */
function nested(depth: number, kind: 'array' | 'object' | 'mixed'): string {
  if (kind === 'array') return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  if (kind === 'object') return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const half = Math.floor(depth / 2);
  return `${'[{"a":'.repeat(half)}1${'}]'.repeat(half)}`;
}

const DEEP_SLOTS: { method: Method; url: string; text: string }[] = [
  { method: 'POST', url: '/collections/junk/vectors', text: '{"vectors":[{"id":"deep","vector":[1,1,1,1,1,1,1,1],"metadata":{"m":§}}]}' },
  { method: 'POST', url: '/collections/junk/vectors', text: '{"vectors":[{"id":"deep2","vector":[1,1,1,1,1,1,1,1],"metadata":§}]}' },
  { method: 'POST', url: '/collections/junk/vectors', text: '{"vectors":[{"id":"deep3","vector":§}]}' },
  { method: 'POST', url: '/collections/junk/vectors', text: '{"vectors":§}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[1,1,1,1,1,1,1,1],"filter":{"group":§}}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[1,1,1,1,1,1,1,1],"filter":{"group":{"in":§}}}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":[1,1,1,1,1,1,1,1],"filter":§}' },
  { method: 'POST', url: '/collections/prot/query', text: '{"vector":§}' },
  { method: 'POST', url: '/collections/prot-exact/query', text: '{"vectors":§}' },
  { method: 'POST', url: '/collections/prot/evaluate', text: '{"queries":§}' },
  { method: 'POST', url: '/collections/prot/query', text: '§' },
  { method: 'POST', url: '/collections', text: '{"name":"deep_c","dimension":8,"quantizer":§}' },
  { method: 'PATCH', url: '/collections/junk', text: '{"autoTrain":§}' },
  { method: 'POST', url: '/collections/junk/train', text: '§' },
];

const vec = (x: number) => Array.from({ length: D }, (_, i) => x + i);

/** Huge requests (bodies from a few KB to a few MB). */
const hugeRequest: fc.Arbitrary<Req> = fc.oneof(
  fc.integer({ min: 9, max: 50_000 }).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/prot/query',
    headers: json,
    payload: JSON.stringify({ vector: Array(n).fill(0.5) }),
    what: `query with a ${n}-value vector`,
  })),
  fc.integer({ min: 9, max: 20_000 }).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/junk/vectors',
    headers: json,
    payload: JSON.stringify({ vectors: [{ id: 'big', vector: Array(n).fill(1) }] }),
    what: `upsert of a ${n}-value vector`,
  })),
  fc.constantFrom(999, 1000, 1001, 5000).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/prot-exact/query',
    headers: json,
    payload: JSON.stringify({ vectors: Array.from({ length: n }, (_, i) => vec(i)), k: 2 }),
    what: `${n} queries in one request`,
  })),
  fc.tuple(fc.constantFrom(999, 1000, 1001, 3000), fc.constantFrom('int', 'str', 'mixed', 'long')).map(([n, kind]) => {
    const values = Array.from({ length: n }, (_, i) =>
      kind === 'int' ? i : kind === 'str' ? `v${i}` : kind === 'long' ? `${'s'.repeat(100)}${i}` : [i, `v${i}`, i % 2 === 0][i % 3],
    );
    return {
      method: 'POST' as Method,
      url: '/collections/prot/query',
      headers: json,
      payload: JSON.stringify({ vector: vec(0), k: 5, filter: { group: { in: values } } }),
      what: `filter with ${n} ${kind} \`in\` values`,
    };
  }),
  fc.integer({ min: 60, max: 600 }).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/prot/query',
    headers: json,
    payload: JSON.stringify({
      vector: vec(0),
      filter: Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, { in: Array.from({ length: 10 }, (_, j) => j) }])),
    }),
    what: `filter with ${n} fields`,
  })),
  fc.constantFrom(65_000, 65_536, 70_000, 1_000_000).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/junk/vectors',
    headers: json,
    payload: JSON.stringify({ vectors: [{ id: 'meta', vector: vec(0), metadata: { s: 'x'.repeat(n) } }] }),
    what: `metadata of ${n} bytes`,
  })),
  fc.constantFrom(1000, 5000, 20_000).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/junk/vectors',
    headers: json,
    payload: JSON.stringify({
      vectors: [{ id: 'keys', vector: vec(0), metadata: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])) }],
    }),
    what: `metadata with ${n} keys`,
  })),
  fc.constantFrom(511, 512, 513, 600, 5000).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/junk/vectors',
    headers: json,
    payload: JSON.stringify({ vectors: [{ id: 'i'.repeat(n), vector: vec(0) }] }),
    what: `id of ${n} characters`,
  })),
  fc.constantFrom(1000, 10_000).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/prot/query',
    headers: json,
    payload: JSON.stringify({ vector: vec(0), ...Object.fromEntries(Array.from({ length: n }, (_, i) => [`u${i}`, i])) }),
    what: `${n} unknown keys`,
  })),
  fc.constantFrom(100_000, 2_000_000).map((n) => ({
    method: 'POST' as Method,
    url: '/collections',
    headers: json,
    payload: JSON.stringify({ name: 'n'.repeat(n), dimension: 8 }),
    what: `a ${n}-character collection name`,
  })),
  fc.integer({ min: 2000, max: 5000 }).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/junk/vectors',
    headers: json,
    payload: JSON.stringify({ vectors: Array.from({ length: n }, (_, i) => ({ id: `bulk-${i}`, vector: vec(i), metadata: { i } })) }),
    what: `upsert of ${n} vectors`,
  })),
  fc.constantFrom(1001, 100_001).map((n) => ({
    method: 'POST' as Method,
    url: '/collections/junk/vectors',
    headers: json,
    payload: JSON.stringify({ vectors: Array.from({ length: n }, (_, i) => ({ id: `dup`, vector: [i] })) }),
    what: `${n} items with one repeated id`,
  })),
);

const FILTER_SPECS: unknown[] = [
  { gt: 1 },
  { $gt: 1 },
  { $where: 'sleep(1000)' },
  { $ne: null },
  { eq: 1 },
  { in: [] },
  { in: [null] },
  { in: [{}] },
  { in: [[1]] },
  { in: 'x' },
  { in: 1 },
  { in: [1], nin: [2] },
  { in: [1], extra: true },
  null,
  [],
  [1, 2],
  {},
  { a: { b: 1 } },
  "' OR 1=1 --",
  '"; DROP TABLE vectors; --',
  "$.group') OR 1=1 --",
  '%',
  '\u0000',
  's\ud800',
  1e308,
  -0,
  true,
  false,
  1.5,
  { in: ["'); DELETE FROM vectors; --", 1, true] },
];

const filterRequest: fc.Arbitrary<Req> = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.oneof(hostileString, fc.constantFrom('group', 'tag', 'flag', 'i', '$where', 'a.b', '$.group', 'json_extract')),
        fc.oneof(fc.constantFrom(...FILTER_SPECS), oddValue),
      ),
      { minLength: 0, maxLength: 5 },
    ),
    fc.constantFrom('/collections/prot/query', '/collections/prot-exact/query'),
    fc.boolean(),
  )
  .map(([fields, url, asProto]) => {
    // Object.fromEntries handles "__proto__" as an own key, as JSON.parse would.
    const filter = Object.fromEntries(fields);
    const text = JSON.stringify({ vector: vec(1), k: 5, filter: asProto ? { ...filter, ['__proto__']: { in: [1] } } : filter });
    return { method: 'POST' as Method, url, headers: json, payload: text, what: `filter ${text.slice(0, 200)}` };
  });

const CONTENT_TYPES: (string | undefined)[] = [
  undefined,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/xml',
  '',
  'application/jsonx',
  'APPLICATION/JSON',
  '*/*',
  'application/json;;;',
  'application/octet-stream',
  'text/json',
  'application/json; boundary=--',
  'application/json',
];

const bodyText: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.constantFrom<[string, string]>(
    ['', 'empty'],
    [' ', 'one space'],
    ['\n\t', 'whitespace'],
    ['[]', 'array'],
    ['"string"', 'string'],
    ['null', 'null'],
    ['42', 'number'],
    ['true', 'boolean'],
    ['{', 'open brace'],
    ['}', 'close brace'],
    ['{"a":1}garbage', 'trailing garbage'],
    ['{"a":1}{"b":2}', 'two objects'],
    ['\ufeff{}', 'BOM'],
    ['{"k":1,"k":2}', 'duplicate keys'],
    ['{"__proto__":{"polluted":1}}', '__proto__'],
    ['{"constructor":{"prototype":{"polluted":1}}}', 'constructor.prototype'],
    ["{'a':1}", 'single quotes'],
    ['{a:1}', 'unquoted key'],
    ['{"a":1,}', 'trailing comma'],
    ['{"a":"\\x41"}', 'bad escape'],
    ['{"a":"\\ud800"}', 'escaped lone surrogate'],
    ['\u0000', 'NUL'],
    ['%7B%7D', 'url-encoded'],
    ['a=1&b=2', 'form'],
    ['<x/>', 'xml'],
  ),
  fc.tuple(fc.constantFrom(...TEMPLATES), fc.double({ min: 0, max: 1, noNaN: true })).map(([t, f]): [string, string] => {
    const s = JSON.stringify(t.body);
    const cut = Math.floor(s.length * f);
    return [s.slice(0, cut), `truncated at ${cut}/${s.length}`];
  }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b): [string, string] => [Buffer.from(b).toString('latin1'), 'random bytes']),
);

const bodyRequest: fc.Arbitrary<Req> = fc
  .tuple(fc.constantFrom(...TEMPLATES), fc.constantFrom(...CONTENT_TYPES), bodyText)
  .map(([t, ct, [payload, kind]]) => ({
    method: t.method,
    url: t.url,
    headers: (ct === undefined ? {} : { 'content-type': ct }) as Record<string, string>,
    payload,
    what: `${kind} body as ${ct ?? 'no content type'}`,
  }));

const KNOB_TOKENS = [
  '1e9',
  '2147483648',
  '4294967296',
  '9007199254740993',
  '1e308',
  '-1',
  '0',
  '1.5',
  '"10"',
  'true',
  'null',
  '[]',
  '{}',
  '1000',
  '1001',
  '65536',
  '65537',
  '100',
  '101',
  '-0',
  '1e400',
];
const KNOBS: { method: Method; url: string; base: Record<string, unknown>; keys: string[] }[] = [
  { method: 'POST', url: '/collections/prot/query', base: { vector: vec(0) }, keys: ['k', 'rerank', 'nprobe'] },
  { method: 'POST', url: '/collections/prot-exact/query', base: { vectors: [vec(0), vec(1)] }, keys: ['k', 'rerank', 'nprobe'] },
  { method: 'POST', url: '/collections/prot/evaluate', base: {}, keys: ['sampleSize', 'k', 'rerank', 'nprobe', 'seed'] },
  { method: 'POST', url: '/collections/junk/train', base: { sampleSize: 30 }, keys: ['iterations', 'opqIterations', 'coarseIterations', 'seed'] },
];
const knobRequest: fc.Arbitrary<Req> = fc
  .tuple(
    fc.constantFrom(...KNOBS),
    fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    fc.array(fc.constantFrom(...KNOB_TOKENS), { minLength: 3, maxLength: 3 }),
  )
  .map(([knob, picks, tokens]) => {
    const keys = [...new Set(picks.map((p) => knob.keys[p % knob.keys.length]))];
    const base = JSON.stringify(knob.base);
    const extra = keys.map((k, i) => `"${k}":${tokens[i]}`).join(',');
    const text = base === '{}' ? `{${extra}}` : `${base.slice(0, -1)},${extra}}`;
    return { method: knob.method, url: knob.url, headers: json, payload: text, what: `knobs ${text.slice(0, 200)}` };
  });

const METHODS: Method[] = [
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'HEAD',
  'TRACE',
  'PROPFIND',
  'SEARCH',
  'PURGE',
  'CONNECT',
  'LOCK',
  'MKCOL',
  'REPORT',
] as Method[];
const PATH_PARTS = [
  'collections',
  'prot',
  'prot-exact',
  'junk',
  'vectors',
  'query',
  'jobs',
  'train',
  'evaluate',
  'health',
  'ready',
  'metrics',
  'docs',
  'openapi.json',
  'snapshots',
  '',
  '.',
  '..',
  '%2e%2e',
  '%2F',
  'v1',
  '*',
];
const routeRequest: fc.Arbitrary<Req> = fc
  .tuple(
    fc.constantFrom(...METHODS),
    fc.array(fc.oneof(fc.constantFrom(...PATH_PARTS), hostileString.map(encodeSegment)), { minLength: 0, maxLength: 7 }),
    fc.oneof(
      fc.constant(''),
      fc.constantFrom('?', '?a=1&a=2', '?__proto__[x]=1', '?k=1e400', `?${'q'.repeat(5000)}`, '?%', '#x', '/', '//', '?x=%E0%A4%A'),
    ),
    fc.constantFrom<[string | undefined, string | undefined]>(
      [undefined, undefined],
      ['application/json', '{}'],
      ['application/json', '{"vector":[1,1,1,1,1,1,1,1]}'],
      ['text/plain', 'x'],
    ),
  )
  .map(([method, parts, tail, [ct, payload]]) => ({
    method,
    url: `/${parts.join('/')}${tail}`,
    headers: (ct === undefined ? {} : { 'content-type': ct }) as Record<string, string>,
    payload,
    what: `${method} to a made-up route`,
  }));

const BAD_ESCAPES = [
  '%',
  '%E0%A4%A',
  '%zz',
  '%ED%A0%80',
  '%C0%AF',
  '%FF',
  '%00',
  '%%',
  '%E2%82',
  '%F0%9F%98',
  '%2',
  '%u00e9',
  '%25%',
  '%C3%28',
  '%F8%88%80%80%80',
  '%EF%BF%BE',
  '%0A%0D',
];
const URL_SLOTS: { method: Method; url: string; payload?: string }[] = [
  { method: 'GET', url: '/collections/§' },
  { method: 'GET', url: '/collections/prot/vectors/§' },
  { method: 'GET', url: '/collections/prot/jobs/§' },
  { method: 'GET', url: '/collections/prot/jobs?§' },
  { method: 'GET', url: '/§' },
  { method: 'GET', url: '/collections?§=1' },
  { method: 'GET', url: '/collections/prot/vectors/p1?x=§' },
  { method: 'DELETE', url: '/collections/junk/vectors/§' },
  { method: 'DELETE', url: '/collections/§' },
  { method: 'PATCH', url: '/collections/§', payload: '{"autoTrain":null}' },
  { method: 'POST', url: '/collections/§/query', payload: '{"vector":[1,1,1,1,1,1,1,1]}' },
  { method: 'POST', url: '/collections/§/vectors', payload: '{"vectors":[{"id":"u","vector":[1,1,1,1,1,1,1,1]}]}' },
  { method: 'POST', url: '/collections/§/train', payload: '{}' },
];
const urlRequest: fc.Arbitrary<Req> = fc
  .tuple(
    fc.constantFrom(...URL_SLOTS),
    fc.array(fc.oneof(fc.constantFrom(...BAD_ESCAPES), fc.stringMatching(/^[a-z0-9]{0,4}$/)), { minLength: 1, maxLength: 4 }),
  )
  .map(([slot, pieces]) => ({
    method: slot.method,
    url: slot.url.replace('§', pieces.join('')),
    headers: slot.payload === undefined ? {} : json,
    payload: slot.payload,
    what: `malformed URL`,
  }));

/** Hostile strings in every place a string goes: URL segments (names, ids, job ids), bodies (names, ids, metadata, filter). */
const stringRequest: fc.Arbitrary<Req> = fc.tuple(hostileString, fc.nat({ max: 11 }), fc.boolean()).map(([s, where, raw]): Req => {
  const q = JSON.stringify;
  switch (where) {
    case 0:
      return { method: 'GET', url: `/collections/${segment(s, raw)}`, what: 'name in a GET URL' };
    case 1:
      return { method: 'GET', url: `/collections/${segment(s, raw)}/vectors/p1`, what: 'name in a vector URL' };
    case 2:
      return { method: 'GET', url: `/collections/prot/vectors/${segment(s, raw)}`, what: 'id in a GET URL' };
    case 3:
      return { method: 'GET', url: `/collections/prot/jobs/${segment(s, raw)}`, what: 'job id in a URL' };
    case 4:
      return { method: 'DELETE', url: `/collections/junk/vectors/${encodeSegment(s)}`, what: 'id in a DELETE URL' };
    case 5:
      return { method: 'DELETE', url: `/collections/${encodeSegment(s)}`, what: 'name in a DELETE URL' };
    case 6:
      return { method: 'POST', url: '/collections', headers: json, payload: q({ name: s, dimension: D }), what: 'name in a create body' };
    case 7:
      return {
        method: 'POST',
        url: '/collections/junk/vectors',
        headers: json,
        payload: q({ vectors: [{ id: s, vector: vec(3), metadata: { [s]: s } }] }),
        what: 'id and metadata in an upsert',
      };
    case 8:
      return {
        method: 'POST',
        url: '/collections/prot/query',
        headers: json,
        payload: q({ vector: vec(2), k: 3, filter: { [s]: s } }),
        what: 'filter field and value',
      };
    case 9:
      return {
        method: 'POST',
        url: '/collections/prot-exact/query',
        headers: json,
        payload: q({ vector: vec(2), k: 3, filter: { tag: { in: [s, 1, true] } } }),
        what: 'filter `in` value',
      };
    case 10:
      return {
        method: 'POST',
        url: `/collections/${encodeSegment(s)}/query`,
        headers: json,
        payload: q({ vector: vec(2) }),
        what: 'name in a query URL',
      };
    default:
      return {
        method: 'PATCH',
        url: `/collections/${encodeSegment(s)}`,
        headers: json,
        payload: q({ autoTrain: null }),
        what: 'name in a PATCH URL',
      };
  }
});

const typeRequest: fc.Arbitrary<Req> = fc
  .tuple(
    fc.nat({ max: TEMPLATES.length - 1 }),
    fc.nat(),
    fc.constantFrom<'replace' | 'delete' | 'add'>('replace', 'replace', 'replace', 'delete', 'add'),
    oddValue,
  )
  .map(([ti, pi, op, value]) => {
    const t = TEMPLATES[ti];
    const paths = pathsOf(t.body);
    const path = paths[pi % paths.length];
    const body = mutate(t.body, path, op, value);
    return {
      method: t.method,
      url: t.url,
      headers: json,
      payload: JSON.stringify(body) ?? 'null',
      what: `${op} ${path.join('.')} in ${t.method} ${t.url}`,
    };
  });

const numberRequest: fc.Arbitrary<Req> = fc.tuple(fc.constantFrom(...NUMBER_SLOTS), fc.constantFrom(...NUMBER_TOKENS)).map(([slot, token]) => ({
  method: slot.method,
  url: slot.url,
  headers: json,
  payload: slot.text.replaceAll('§', token),
  what: `number ${token.length > 20 ? `${token.slice(0, 12)}…(${token.length} chars)` : token} in ${slot.text}`,
}));

const deepRequest: fc.Arbitrary<Req> = fc
  .tuple(
    fc.constantFrom(...DEEP_SLOTS),
    fc.integer({ min: 100, max: 5000 }),
    fc.constantFrom<'array' | 'object' | 'mixed'>('array', 'object', 'mixed'),
  )
  .map(([slot, depth, kind]) => ({
    method: slot.method,
    url: slot.url,
    headers: json,
    payload: slot.text.replace('§', nested(depth, kind)),
    what: `${kind} nested ${depth} deep in ${slot.text}`,
  }));

// ---------------------------------------------------------------------------

const CATEGORIES: { name: string; arb: fc.Arbitrary<Req>; runs: number }[] = [
  { name: 'wrong types', arb: typeRequest, runs: 500 },
  { name: 'huge and non-finite numbers', arb: numberRequest, runs: 400 },
  { name: 'deep JSON', arb: deepRequest, runs: 150 },
  { name: 'huge JSON', arb: hugeRequest, runs: 100 },
  { name: 'unicode, NUL, SQL in names, ids, filters', arb: stringRequest, runs: 600 },
  { name: 'filters with unknown operators and odd values', arb: filterRequest, runs: 300 },
  { name: 'content types, truncated, empty and wrongly-typed bodies', arb: bodyRequest, runs: 300 },
  { name: 'huge k, rerank, nprobe and training knobs', arb: knobRequest, runs: 200 },
  { name: 'unknown routes and methods', arb: routeRequest, runs: 300 },
  { name: 'malformed URLs', arb: urlRequest, runs: 200 },
];

function describeReq(r: Req): string {
  const body = r.payload === undefined ? '' : ` body(${r.payload.length} chars): ${JSON.stringify(r.payload.slice(0, 160))}`;
  const ct = r.headers?.['content-type'];
  return `${r.what}: ${r.method} ${r.url.length > 200 ? `${r.url.slice(0, 200)}…` : r.url}${ct === undefined ? '' : ` [${ct}]`}${body}`;
}

/** Why a response breaks the contract, or null. */
function violation(method: string, status: number, body: string): string | null {
  if (status >= 500) return `status ${status}`;
  if (status >= 400 && method !== 'HEAD') {
    try {
      const b = JSON.parse(body);
      if (typeof b?.error?.code !== 'string' || typeof b?.error?.message !== 'string')
        return `status ${status} without {"error": {"code", "message"}}`;
    } catch {
      return `status ${status} with a body that is not JSON`;
    }
  }
  return null;
}

describe('hostile input, in process (fast-check)', () => {
  let t: TestApp;
  const histogram: Record<string, Record<string, number>> = {};
  let sent = 0;
  let notSent = 0;
  let snapshot: unknown;

  /** The protected collections as the API shows them: views, some vectors, some answers, jobs. */
  async function protectedState(): Promise<unknown> {
    const get = async (url: string, body?: unknown) => {
      const r = await t.app.inject(body === undefined ? { method: 'GET', url } : { method: 'POST', url, payload: body as object });
      return { status: r.statusCode, body: r.json() };
    };
    const state: Record<string, unknown> = {};
    for (const name of ['prot', 'prot-exact']) {
      state[name] = await get(`/collections/${name}`);
      state[`${name} jobs`] = await get(`/collections/${name}/jobs`);
      for (const id of ['p0', 'p1', 'p77', 'p150', 'p299']) state[`${name}/${id}`] = await get(`/collections/${name}/vectors/${id}`);
      state[`${name} query`] = await get(`/collections/${name}/query`, { vectors: [vec(0), vec(5), vec(-3)], k: 20 });
      state[`${name} filtered`] = await get(`/collections/${name}/query`, { vector: vec(1), k: 20, filter: { group: { in: [1, 3] } } });
    }
    return state;
  }

  async function resetJunk(): Promise<void> {
    await t.app.inject({ method: 'DELETE', url: '/collections/junk' });
    const r = await t.app.inject({
      method: 'POST',
      url: '/collections',
      payload: { name: 'junk', dimension: D, quantizer: { type: 'pq', m: 4, nbits: 4 } },
    });
    expect(r.statusCode, r.body).toBe(201);
    const vectors = Array.from({ length: 40 }, (_, i) => ({ id: `j${i}`, vector: vec(i % 7).map((x) => x * (1 + i / 40)), metadata: { i } }));
    expect((await t.app.inject({ method: 'POST', url: '/collections/junk/vectors', payload: { vectors } })).statusCode).toBe(200);
  }

  beforeAll(async () => {
    t = await makeApp();
    const rng = seededRandom(SEED);
    for (const [name, train] of [
      ['prot', true],
      ['prot-exact', false],
    ] as const) {
      const r = await t.req('POST', '/collections', { name, dimension: D, quantizer: { type: 'pq', m: 4, nbits: 4 } });
      expect(r.statusCode, r.body).toBe(201);
      const vectors = Array.from({ length: 300 }, (_, i) => ({
        id: `p${i}`,
        vector: Array.from({ length: D }, () => Math.fround(rng() * 10 - 5)),
        metadata: { i, group: i % 5, tag: ['a', 'b', 'c'][i % 3], flag: i % 2 === 0, text: `row ${i} ✓` },
      }));
      expect((await t.req('POST', `/collections/${name}/vectors`, { vectors })).statusCode).toBe(200);
      if (train) {
        const job = (await t.req('POST', `/collections/${name}/train`, { seed: 3 })).json().job;
        expect((await waitForJob(t, name, job.id)).state).toBe('succeeded');
      }
    }
    await resetJunk();
    snapshot = await protectedState();
  });

  afterAll(async () => {
    await t?.destroy();
    const total: Record<string, number> = {};
    for (const h of Object.values(histogram)) for (const [s, n] of Object.entries(h)) total[s] = (total[s] ?? 0) + n;
    console.log(
      `[reliability] hostile (in process): ${sent} requests sent (${notSent} refused by the injector itself); status codes ${JSON.stringify(total)}`,
    );
    for (const [c, h] of Object.entries(histogram)) console.log(`[reliability]   ${c}: ${JSON.stringify(h)}`);
    console.log(`[reliability] hostile.test.ts (in process): ${((performance.now() - fileStarted) / 1000).toFixed(1)} s`);
  });

  CATEGORIES.forEach(({ name, arb, runs }, ci) => {
    it(`${name}: never 5xx, every 4xx is {"error": {"code", "message"}} (${runs} runs)`, async () => {
      await resetJunk();
      histogram[name] ??= {};
      const h = histogram[name];
      await fc.assert(
        fc.asyncProperty(arb, async (r) => {
          if (touchesProtected(r)) r = { ...r, method: 'GET', what: `${r.what} (as GET: it named a protected collection)` };
          let res: Awaited<ReturnType<typeof t.app.inject>>;
          try {
            res = await t.app.inject({ method: r.method, url: r.url, headers: r.headers, payload: r.payload });
          } catch (err) {
            // light-my-request refuses some requests before the app sees them (an unknown method, say).
            notSent++;
            h['not sent'] = (h['not sent'] ?? 0) + 1;
            if (/must be equal to one of the allowed values|Invalid URL|ERR_INVALID/i.test(String(err))) return;
            throw err;
          }
          sent++;
          h[res.statusCode] = (h[res.statusCode] ?? 0) + 1;
          const v = violation(r.method, res.statusCode, res.body);
          if (v !== null) throw new Error(`${v}\n  request: ${describeReq(r)}\n  response: ${res.statusCode} ${res.body.slice(0, 300)}`);
        }),
        { seed: SEED + ci, numRuns: runs },
      );
      expect((await t.req('GET', '/health')).statusCode).toBe(200);
    });
  });

  it('odd but legal ids and metadata keys round-trip exactly: upsert, GET by URL, DELETE, 404 (150 runs)', async () => {
    await resetJunk();
    histogram['odd legal ids round-trip'] ??= {};
    const h = histogram['odd legal ids round-trip'];
    const wellFormed = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      fc.constantFrom(...NASTY.filter((s) => isWellFormed(s) && s.length <= 512)),
      fc.tuple(fc.integer({ min: 100, max: 512 }), fc.constantFrom('x', 'é', '中', '/', '%', '?', '#', ' ', '\u0000')).map(([n, c]) => c.repeat(n)),
      fc.integer({ min: 1, max: 256 }).map((n) => '😀'.repeat(n)),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        // "." and ".." are dot segments to every URL parser (light-my-request and fetch resolve them away): no client can name them in a path.
        wellFormed.filter((s) => s.length <= 512 && isWellFormed(s) && s !== '.' && s !== '..'),
        async (id) => {
          const vector = vec(n++ % 11);
          const metadata = { [id]: id, id, n };
          const steps: [string, number, string][] = [];
          const step = async (method: Method, url: string, body?: unknown) => {
            const r = await t.app.inject(body === undefined ? { method, url } : { method, url, payload: body as object });
            sent++;
            h[r.statusCode] = (h[r.statusCode] ?? 0) + 1;
            steps.push([`${method} ${url.slice(0, 120)}`, r.statusCode, r.body.slice(0, 200)]);
            return r;
          };
          const url = `/collections/junk/vectors/${encodeSegment(id)}`;
          const put = await step('POST', '/collections/junk/vectors', { vectors: [{ id, vector, metadata }] });
          const got = await step('GET', url);
          const del = await step('DELETE', url);
          const gone = await step('GET', url);
          const ok =
            put.statusCode === 200 &&
            got.statusCode === 200 &&
            got.json().id === id &&
            JSON.stringify(got.json().vector) === JSON.stringify(vector) &&
            JSON.stringify(got.json().metadata) === JSON.stringify(metadata) &&
            del.statusCode === 204 &&
            gone.statusCode === 404 &&
            violation('GET', gone.statusCode, gone.body) === null;
          if (!ok)
            throw new Error(
              `id ${JSON.stringify(id)} (${id.length} units) did not round-trip:\n${steps.map((s) => `  ${s[0]} → ${s[1]} ${s[2]}`).join('\n')}`,
            );
        },
      ),
      { seed: SEED + 100, numRuns: 150 },
    );
  });

  it(`sent at least 3,000 hostile requests`, () => {
    expect(sent).toBeGreaterThanOrEqual(3000);
  });

  it('is alive afterwards, and the protected collections are unchanged', async () => {
    const health = await t.req('GET', '/health');
    expect(health.statusCode, health.body).toBe(200);
    expect(await protectedState()).toEqual(snapshot);
  });
});

// ---------------------------------------------------------------------------

interface RawOutcome {
  /** Bytes the server sent before closing or the timeout. */
  data: Buffer;
  closed: boolean;
}

/** Writes raw bytes on a fresh connection; waits for the server to answer and close, half-closing after 2 s of silence. */
function rawExchange(port: number, bytes: Buffer, waitMs = 2000): Promise<RawOutcome> {
  return new Promise((res) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    let closed = false;
    const finish = () => {
      clearTimeout(t1);
      clearTimeout(t2);
      socket.destroy();
      res({ data: Buffer.concat(chunks), closed });
    };
    socket.on('data', (c) => {
      chunks.push(c);
      if (completeResponse(Buffer.concat(chunks))) finish();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('connect', () => socket.write(bytes));
    const t1 = setTimeout(() => {
      if (!closed) socket.end();
    }, waitMs);
    const t2 = setTimeout(finish, waitMs + 3000);
  });
}

interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function parseResponse(data: Buffer): ParsedResponse | null {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = data.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(m[1]), headers, body: body.toString('utf8') };
}

/** The payload of a chunked body (as far as it goes). */
function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at, 'latin1');
    if (eol < 0) break;
    const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function completeResponse(data: Buffer): boolean {
  const p = parseResponse(data);
  if (p === null || p.headers['content-length'] === undefined) return false;
  return Buffer.byteLength(p.body) >= Number(p.headers['content-length']);
}

const RAW_CASES: { name: string; bytes: string | Buffer; mayBeAccepted?: boolean }[] = [
  { name: 'garbage request line', bytes: 'GARBAGE\r\n\r\n' },
  { name: 'a 20 KB header', bytes: `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n` },
  { name: 'a 20 KB request line', bytes: `GET /collections/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n` },
  { name: 'no Host header', bytes: 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n' },
  { name: 'HTTP/1.0 without Host', bytes: 'GET /health HTTP/1.0\r\n\r\n', mayBeAccepted: true },
  { name: 'HTTP/9.9', bytes: 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n' },
  { name: 'unknown method', bytes: 'FOO /health HTTP/1.1\r\nHost: x\r\n\r\n' },
  { name: 'space in the target', bytes: 'GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n' },
  { name: 'NUL in the target', bytes: 'GET /hea\u0000lth HTTP/1.1\r\nHost: x\r\n\r\n' },
  { name: 'header without a colon', bytes: 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n' },
  { name: 'bare LF line endings', bytes: 'GET /health HTTP/1.1\nHost: x\n\n', mayBeAccepted: true },
  {
    name: 'Content-Length and Transfer-Encoding',
    bytes:
      'POST /collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  },
  {
    name: 'two Content-Lengths',
    bytes: 'POST /collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
  },
  { name: 'negative Content-Length', bytes: 'POST /collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n' },
  {
    name: 'bad chunk size',
    bytes: 'POST /collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n',
  },
  {
    name: 'body shorter than Content-Length, then half-close',
    bytes: 'POST /collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":',
  },
  { name: 'TLS ClientHello on the plain port', bytes: Buffer.from(`160301002e0100002a0303${'00'.repeat(32)}000002002f0100`, 'hex') },
  {
    name: 'invalid bytes in a header value',
    bytes: Buffer.concat([Buffer.from('GET /health HTTP/1.1\r\nHost: x\r\nX-A: '), Buffer.from([0x00, 0x01, 0x7f]), Buffer.from('\r\n\r\n')]),
  },
  {
    name: 'absolute-form target to another host',
    bytes: 'GET http://example.com/health HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n',
    mayBeAccepted: true,
  },
  { name: 'bad percent-encoding in the target', bytes: 'GET /collections/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' },
];

describe('hostile input over a raw socket (server process)', () => {
  let dir = '';
  let server: ServerProcess;
  const outcomes: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pqvec-hostile-'));
    server = await startServer(dir);
  });
  afterAll(async () => {
    await server?.kill();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    for (const o of outcomes) console.log(`[reliability]   raw: ${o}`);
    console.log(`[reliability] hostile.test.ts (total): ${((performance.now() - fileStarted) / 1000).toFixed(1)} s`);
  });

  it.each(RAW_CASES.map((c) => [c.name, c] as const))('%s: a JSON error body or a clean close, then still serving', async (_name, c) => {
    const port = Number(new URL(server.url).port);
    const out = await rawExchange(port, Buffer.isBuffer(c.bytes) ? c.bytes : Buffer.from(c.bytes, 'latin1'));
    const parsed = parseResponse(out.data);
    const summary =
      out.data.length === 0
        ? out.closed
          ? 'closed without a response'
          : 'no response and no close (hang)'
        : parsed === null
          ? `unparseable response ${JSON.stringify(out.data.toString('latin1').slice(0, 200))}`
          : `${parsed.status} ${JSON.stringify(parsed.body.slice(0, 200))}`;
    outcomes.push(`${c.name} → ${summary}`);
    // Never a hang.
    expect(out.closed || parsed !== null, `${c.name}: ${summary}`).toBe(true);
    if (out.data.length > 0) {
      expect(parsed, `${c.name}: ${summary}`).not.toBeNull();
      const accepted = c.mayBeAccepted === true && parsed!.status >= 200 && parsed!.status < 300;
      if (!accepted) {
        expect(parsed!.status, `${c.name}: ${summary}`).toBeGreaterThanOrEqual(400);
        expect(parsed!.status, `${c.name}: ${summary}`).toBeLessThan(500);
        expect(violation('GET', parsed!.status, parsed!.body), `${c.name}: ${summary}`).toBeNull();
      }
    }
    const health = await call(server.url, 'GET', '/health', undefined, { timeoutMs: 5000 });
    expect(health.status).toBe(200);
  });

  it('still serves after all of it, and the process is alive', async () => {
    expect(server.alive).toBe(true);
    expect((await call(server.url, 'GET', '/health')).status).toBe(200);
  });
});
