/** OpenAPI document generated from the route schemas; served at /openapi.json, browsable at /docs. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export const API_VERSION = '0.1.0';

async function openapi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    // Shared schemas (the error body) appear under components.schemas by their $id.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
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
