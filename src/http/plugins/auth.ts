/**
 * API keys. With API_KEYS or READ_ONLY_API_KEYS set, every route but the public
 * ones (health, readiness, metrics, the API documentation) needs
 * `Authorization: Bearer <key>` or `x-api-key: <key>`: no key or an unknown one
 * → 401; a read-only key on a route that changes anything → 403. Read-only keys
 * may list and read (GET) and search (query, evaluate); snapshots need a full key.
 *
 * Keys are compared as SHA-256 digests with timingSafeEqual against every
 * configured key, so the time taken does not depend on how much of a key matched
 * or which key it was. Keys are never logged (the logger redacts both headers).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errorBody } from '../responses.js';

export interface AuthOptions {
  apiKeys: string[];
  readOnlyApiKeys: string[];
}

/** Routes anyone may call (orchestrators, scrapers, people reading the docs). */
const PUBLIC = /^\/(health|ready|metrics|openapi\.json|docs)(\/|$)/;

/** Route patterns a read-only key may POST to: searches, which change nothing. */
const READ_ONLY_POSTS = new Set(['/collections/:name/query', '/collections/:name/evaluate']);

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = request.headers.authorization;
  if (typeof auth !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  return m?.[1];
}

async function auth(app: FastifyInstance, options: AuthOptions): Promise<void> {
  const keys = [
    ...options.apiKeys.map((k) => ({ digest: digest(k), readOnly: false })),
    ...options.readOnlyApiKeys.map((k) => ({ digest: digest(k), readOnly: true })),
  ];
  if (keys.length === 0) {
    app.log.warn('no API keys are set (API_KEYS, READ_ONLY_API_KEYS): every route is open to anyone who can reach the port');
    return;
  }
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (PUBLIC.test(path)) return;
    const key = presentedKey(request);
    if (key === undefined) {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer')
        .send(errorBody('unauthorized', 'an API key is required: Authorization: Bearer <key> or x-api-key: <key>'));
    }
    const presented = digest(key);
    let readOnly: boolean | undefined;
    for (const k of keys) {
      // No early exit: every key is compared whatever matched.
      if (timingSafeEqual(k.digest, presented) && readOnly === undefined) readOnly = k.readOnly;
    }
    if (readOnly === undefined) return reply.status(401).header('www-authenticate', 'Bearer').send(errorBody('unauthorized', 'unknown API key'));
    if (!readOnly) return;
    const route = request.routeOptions.url ?? '';
    const reads = request.method === 'GET' || request.method === 'HEAD' || (request.method === 'POST' && READ_ONLY_POSTS.has(route));
    if (!reads || route.startsWith('/snapshots')) {
      return reply.status(403).send(errorBody('forbidden', `a read-only API key cannot ${request.method} ${route || path}`));
    }
  });
}

export default fp(auth, { name: 'auth' });
