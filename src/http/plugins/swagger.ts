/** OpenAPI document generated from the route schemas; served at /openapi.json, browsable at /docs. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export const API_VERSION = '0.1.0';

async function openapi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'pqvec',
        version: API_VERSION,
        description:
          'Vector similarity search with product quantization. Errors always have the body {"error": {"code", "message"}}.',
      },
      tags: [
        { name: 'collections', description: 'Create, inspect and delete collections' },
        { name: 'vectors', description: 'Write, read and delete vectors' },
        { name: 'search', description: 'Nearest-neighbour queries' },
        { name: 'training', description: 'Codebook training jobs' },
        { name: 'service', description: 'Health' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(openapi, { name: 'openapi' });
