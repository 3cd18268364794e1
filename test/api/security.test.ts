/** API keys (full and read-only), CORS, and what errors and logs may show. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type TestApp, makeApp } from '../helpers/app.js';

const FULL = 'full-key-0123456789abcdef';
const READ = 'read-key-0123456789abcdef';

describe('API keys', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp(undefined, { API_KEYS: `${FULL},another-full-key-xyz0123`, READ_ONLY_API_KEYS: READ });
    // What the read-only key reads: a collection of its own, so the tests run in any order.
    const full = { authorization: `Bearer ${FULL}` };
    await t.app.inject({
      method: 'POST',
      url: '/collections',
      headers: full,
      payload: { name: 'ro', dimension: 2, quantizer: { type: 'pq', m: 1, nbits: 1 } },
    });
    await t.app.inject({
      method: 'POST',
      url: '/collections/ro/vectors',
      headers: full,
      payload: {
        vectors: [
          { id: 'a', vector: [1, 2] },
          { id: 'b', vector: [2, 1] },
        ],
      },
    });
  });
  afterAll(() => t.destroy());

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string> = {}, body?: unknown) =>
    t.app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: body as object }) });
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  it('refuses requests without a key or with an unknown one (401), with the standard body', async () => {
    const attempts: Record<string, string>[] = [
      {},
      bearer('wrong-key-0123456789abcdef'),
      { 'x-api-key': 'nope' },
      { authorization: `Basic ${FULL}` },
    ];
    for (const headers of attempts) {
      const r = await call('GET', '/collections', headers);
      expect(r.statusCode).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer');
      expect(r.json().error.code).toBe('unauthorized');
      expect(r.body).not.toContain(FULL);
    }
    // Unknown routes do not reveal themselves to callers without a key.
    expect((await call('GET', '/no/such/route')).statusCode).toBe(401);
  });

  it('accepts a full key as a Bearer token or in x-api-key, for every route', async () => {
    expect(
      (await call('POST', '/collections', bearer(FULL), { name: 'k', dimension: 2, quantizer: { type: 'pq', m: 1, nbits: 1 } })).statusCode,
    ).toBe(201);
    expect(
      (
        await call(
          'POST',
          '/collections/k/vectors',
          { 'x-api-key': FULL },
          {
            vectors: [
              { id: 'a', vector: [1, 2] },
              { id: 'b', vector: [2, 1] },
            ],
          },
        )
      ).statusCode,
    ).toBe(200);
    expect((await call('GET', '/collections/k', { 'x-api-key': 'another-full-key-xyz0123' })).statusCode).toBe(200);
    expect((await call('POST', '/snapshots', bearer(FULL))).statusCode).toBe(201);
  });

  it('lets a read-only key read, query and evaluate, and nothing else (403)', async () => {
    const ro = bearer(READ);
    expect((await call('GET', '/collections', ro)).statusCode).toBe(200);
    expect((await call('GET', '/collections/ro/vectors/a', ro)).statusCode).toBe(200);
    expect((await call('POST', '/collections/ro/query', ro, { vector: [1, 2], k: 1 })).statusCode).toBe(200);
    const writes: [Parameters<typeof call>[0], string, unknown][] = [
      ['POST', '/collections', { name: 'x', dimension: 2 }],
      ['POST', '/collections/ro/vectors', { vectors: [{ id: 'c', vector: [1, 1] }] }],
      ['DELETE', '/collections/ro/vectors/a', undefined],
      ['PATCH', '/collections/ro', { autoTrain: null }],
      ['POST', '/collections/ro/train', {}],
      ['DELETE', '/collections/ro', undefined],
      ['POST', '/snapshots', undefined],
      ['GET', '/snapshots', undefined],
    ];
    for (const [method, url, body] of writes) {
      const r = await call(method, url, ro, body);
      expect(r.statusCode, `${method} ${url}`).toBe(403);
      expect(r.json().error.code).toBe('forbidden');
    }
    expect((await call('GET', '/collections/ro', bearer(FULL))).json().count).toBe(2);
  });

  it('leaves health, readiness, metrics and the docs open', async () => {
    for (const url of ['/health', '/ready', '/metrics', '/openapi.json', '/docs/']) {
      expect((await call('GET', url)).statusCode, url).toBe(200);
    }
  });

  it('documents both schemes in OpenAPI, with the probes exempt', async () => {
    const doc = (await call('GET', '/openapi.json')).json();
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['apiKeyHeader', 'bearerAuth']);
    expect(doc.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/collections'].post.responses['401']).toBeDefined();
  });
});

describe('configuration of keys and origins', () => {
  it('refuses short keys and a key that is both full and read-only, without echoing the key', () => {
    expect(() => loadConfig({ API_KEYS: 'short' })).toThrow(/API_KEYS.*16–256 printable ASCII/s);
    try {
      loadConfig({ API_KEYS: FULL, READ_ONLY_API_KEYS: FULL });
      expect.unreachable();
    } catch (err) {
      expect(String(err)).toMatch(/both API_KEYS and READ_ONLY_API_KEYS/);
      expect(String(err)).not.toContain(FULL);
    }
    expect(() => loadConfig({ CORS_ORIGINS: 'not a url' })).toThrow(/CORS_ORIGINS/);
  });
});

describe('CORS', () => {
  it('is off unless CORS_ORIGINS lists origins', async () => {
    const t = await makeApp();
    const r = await t.app.inject({
      method: 'OPTIONS',
      url: '/collections',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    await t.destroy();
  });

  it('answers preflights for the listed origins only', async () => {
    const t = await makeApp(undefined, { CORS_ORIGINS: 'https://app.example, http://localhost:3000' });
    const pre = (origin: string) =>
      t.app.inject({
        method: 'OPTIONS',
        url: '/collections',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
    const ok = await pre('https://app.example');
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(String(ok.headers['access-control-allow-headers'])).toMatch(/authorization/);
    expect((await pre('https://evil.example')).headers['access-control-allow-origin']).toBeUndefined();
    await t.destroy();
  });
});

describe('error bodies', () => {
  it('never carry stack traces or file paths, even for an internal error', async () => {
    const t = await makeApp();
    t.app.get('/boom', async () => {
      throw new Error(`failed at ${__filename}`);
    });
    const r = await t.app.inject({ method: 'GET', url: '/boom' });
    expect(r.statusCode).toBe(500);
    expect(r.json()).toEqual({ error: { code: 'internal_error', message: 'internal error; the service log has the details' } });
    await t.destroy();
  });
});
