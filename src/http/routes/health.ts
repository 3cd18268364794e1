import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorBody } from '../schemas/common.js';
import { routeSchema } from '../zod.js';

const Health = z.object({ status: z.literal('ok'), database: z.literal('ok'), workers: z.int() });

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/health',
    {
      schema: routeSchema({
        summary: 'Liveness: the database and the worker pool answer',
        tags: ['service'],
        response: { 200: Health, 503: ErrorBody },
      }),
    },
    async (_request, reply) => {
      let database = false;
      try {
        database = app.store.db.prepare('SELECT 1 AS ok').get() !== undefined;
      } catch {
        database = false;
      }
      const workers = await app.pool.ping();
      if (!database || !workers) {
        const down = [!database && 'database', !workers && 'worker pool'].filter(Boolean).join(' and ');
        return reply.status(503).send({ error: { code: 'unavailable', message: `${down} did not answer` } });
      }
      return { status: 'ok' as const, database: 'ok' as const, workers: app.pool.threads };
    },
  );
}
