/** OpenAPI document generated from the route schemas; served at /openapi.json, browsable at /docs. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export const API_VERSION = '0.1.0';

/** z.int() documents ±(2⁵³ − 1) bounds; they say nothing to a reader, so the document leaves them out. */
function dropSafeIntegerBounds(node: unknown): void {
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.minimum === Number.MIN_SAFE_INTEGER) delete o.minimum;
  if (o.maximum === Number.MAX_SAFE_INTEGER) delete o.maximum;
  for (const v of Object.values(o)) dropSafeIntegerBounds(v);
}

/**
 * Components no operation reaches, left out: the library emits every schema
 * with an id twice (as request, "…Input", and as response), and each of ours
 * is used in one direction only.
 */
function dropUnusedComponents(doc: { components?: { schemas?: Record<string, unknown> } }): void {
  const schemas = doc.components?.schemas;
  if (schemas === undefined) return;
  const reached = new Set<string>();
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const ref = (node as { $ref?: unknown }).$ref;
    if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) {
      const name = ref.slice('#/components/schemas/'.length);
      if (!reached.has(name)) {
        reached.add(name);
        visit(schemas[name]);
      }
    }
    for (const v of Object.values(node)) visit(v);
  };
  visit({ ...doc, components: { ...doc.components, schemas: {} } });
  for (const name of Object.keys(schemas)) if (!reached.has(name)) delete schemas[name];
}

/**
 * A request-only component keeps the library's "…Input" name only where a
 * response component has the plain name; otherwise it takes the name its id
 * gave it ("Filter", not "FilterInput"), and every reference follows.
 */
function plainInputNames(doc: { components?: { schemas?: Record<string, unknown> } }): void {
  const schemas = doc.components?.schemas;
  if (schemas === undefined) return;
  const renamed = new Map<string, string>();
  for (const name of Object.keys(schemas)) {
    const plain = name.replace(/Input$/, '');
    if (plain !== name && !(plain in schemas)) renamed.set(`#/components/schemas/${name}`, `#/components/schemas/${plain}`);
  }
  if (renamed.size === 0) return;
  const rewrite = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (typeof o.$ref === 'string' && renamed.has(o.$ref)) o.$ref = renamed.get(o.$ref);
    for (const v of Object.values(o)) rewrite(v);
  };
  rewrite(doc);
  for (const [from, to] of renamed) {
    const [a, b] = [from, to].map((r) => r.slice('#/components/schemas/'.length));
    schemas[b] = schemas[a];
    delete schemas[a];
  }
}

type OptionalBody = { required?: boolean; content: Record<string, { schema: { nullable?: boolean } } | undefined> };

/**
 * @fastify/swagger marks every request body required; a body whose schema
 * admits null (train, evaluate) may be left out, since Fastify hands the
 * validator null for a missing body.
 */
function markOptionalBodies(doc: { paths?: Record<string, Record<string, { requestBody?: OptionalBody }>> }): void {
  for (const operations of Object.values(doc.paths ?? {})) {
    for (const { requestBody } of Object.values(operations)) {
      if (requestBody?.content['application/json']?.schema.nullable === true) requestBody.required = false;
    }
  }
}

declare module 'fastify' {
  interface FastifySchema {
    /** A route whose body is raw bytes (application/octet-stream): the body's description, for the document only (no validation). */
    binaryBody?: string;
  }
}

/** Route schemas are zod: the library turns them into JSON Schema; a binaryBody becomes an application/octet-stream request body. */
const transform: typeof jsonSchemaTransform = (input) => {
  const out = jsonSchemaTransform(input);
  const binary = (input.schema as { binaryBody?: string }).binaryBody;
  if (binary === undefined) return out;
  const { binaryBody: _, ...schema } = out.schema as Record<string, unknown>;
  return { ...out, schema: { ...schema, consumes: ['application/octet-stream'], body: { type: 'string', format: 'binary', description: binary } } };
};

async function openapi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    // Schemas with an id (.meta({ id })) become components.
    transform,
    transformObject: (input) => {
      const doc = jsonSchemaTransformObject(input);
      dropSafeIntegerBounds(doc);
      // The document is OpenAPI 3 (the union the library returns also admits Swagger 2).
      dropUnusedComponents(doc as Parameters<typeof dropUnusedComponents>[0]);
      plainInputNames(doc as Parameters<typeof plainInputNames>[0]);
      markOptionalBodies(doc as Parameters<typeof markOptionalBodies>[0]);
      return doc;
    },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'pqvec',
        version: API_VERSION,
        description:
          'Vector similarity search with product quantization. Errors always have the body {"error": {"code", "message"}}. ' +
          'When the service has API keys (API_KEYS, READ_ONLY_API_KEYS), every route but /health, /ready and /metrics needs one, ' +
          'as `Authorization: Bearer <key>` or `x-api-key: <key>`; read-only keys may only read, query and evaluate.',
      },
      // Relative: the service that serves the document (whatever its HOST and PORT) is the one it describes.
      servers: [{ url: '/', description: 'This service' }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'x-api-key: <API key>' },
        },
      },
      security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
      tags: [
        { name: 'collections', description: 'Create, inspect and delete collections' },
        { name: 'vectors', description: 'Write, read and delete vectors' },
        { name: 'search', description: 'Nearest-neighbour queries' },
        { name: 'training', description: 'Codebook training jobs' },
        { name: 'snapshots', description: 'Consistent copies of the database, taken while serving' },
        { name: 'service', description: 'Liveness, readiness and metrics' },
      ],
    },
  });
  // The docs page's Authorize dialog offers both key schemes and keeps the key across reloads.
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: true } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(openapi, { name: 'openapi' });
