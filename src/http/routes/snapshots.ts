import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { SnapshotService } from '../../services/snapshots.js';
import { ErrorBody } from '../schemas/common.js';
import { Snapshot, SnapshotList, SnapshotParams } from '../schemas/snapshots.js';
import { routeSchema } from '../zod.js';

const tags = ['snapshots'];

export default async function snapshotRoutes(app: FastifyInstance, options: { snapshots: SnapshotService }): Promise<void> {
  const { snapshots } = options;

  app.post(
    '/snapshots',
    {
      schema: routeSchema({
        operationId: 'createSnapshot',
        summary: 'Write a consistent copy of the database',
        description:
          "SQLite's online backup: the service keeps serving reads and writes meanwhile, and the copy holds every write acknowledged before the request. Written into DATA_DIR/snapshots/. Restore by starting the service on a data directory whose pqvec.sqlite is this file.",
        tags,
        response: { 201: Snapshot, 507: ErrorBody },
      }),
    },
    async (_request, reply) => reply.status(201).send(await snapshots.create()),
  );

  app.get(
    '/snapshots',
    { schema: routeSchema({ operationId: 'listSnapshots', summary: 'List snapshots', tags, response: { 200: SnapshotList } }) },
    async () => ({
      snapshots: snapshots.list(),
    }),
  );

  app.get<{ Params: z.infer<typeof SnapshotParams> }>(
    '/snapshots/:name',
    {
      schema: routeSchema({
        operationId: 'downloadSnapshot',
        summary: 'Download a snapshot',
        tags,
        params: SnapshotParams,
        response: { 200: { binary: 'application/vnd.sqlite3', description: 'The SQLite database file.' }, 404: ErrorBody },
      }),
    },
    async (request, reply) => {
      const path = snapshots.path(request.params.name);
      return reply
        .type('application/vnd.sqlite3')
        .header('content-disposition', `attachment; filename="${request.params.name}"`)
        .send(createReadStream(path));
    },
  );

  app.delete<{ Params: z.infer<typeof SnapshotParams> }>(
    '/snapshots/:name',
    {
      schema: routeSchema({
        operationId: 'deleteSnapshot',
        summary: 'Delete a snapshot',
        tags,
        params: SnapshotParams,
        response: { 204: null, 404: ErrorBody },
      }),
    },
    async (request, reply) => {
      snapshots.remove(request.params.name);
      return reply.status(204).send();
    },
  );
}
