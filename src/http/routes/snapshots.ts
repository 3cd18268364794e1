import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { SnapshotService } from '../../services/snapshots.js';
import { error, json, file, guarded, noContent } from '../responses.js';
import { Snapshot, SnapshotList, SnapshotParams } from '../schemas/snapshots.js';

const tags = ['snapshots'];
const notFound = error('No such snapshot (snapshot_not_found).');

const snapshotRoutes: FastifyPluginAsyncZod<{ snapshots: SnapshotService }> = async (app, options) => {
  const { snapshots } = options;

  app.post(
    '/snapshots',
    {
      schema: {
        operationId: 'createSnapshot',
        summary: 'Write a consistent copy of the database',
        description:
          "SQLite's online backup: the service keeps serving reads and writes meanwhile, and the copy holds every write acknowledged before the request. Written into DATA_DIR/snapshots/. Restore by starting the service on a data directory whose pqvec.sqlite is this file.",
        tags,
        response: guarded({ 201: json(Snapshot, 'The snapshot, complete.'), 507: error('The disk is full (insufficient_storage).') }),
      },
    },
    async (_request, reply) => reply.status(201).send(await snapshots.create()),
  );

  app.get(
    '/snapshots',
    {
      schema: {
        operationId: 'listSnapshots',
        summary: 'List snapshots',
        description: 'The snapshots in DATA_DIR/snapshots/, newest first.',
        tags,
        response: guarded({ 200: json(SnapshotList, 'The snapshots, newest first.') }),
      },
    },
    async () => ({ snapshots: snapshots.list() }),
  );

  app.get(
    '/snapshots/:name',
    {
      schema: {
        operationId: 'downloadSnapshot',
        summary: 'Download a snapshot',
        description: 'The SQLite file, as an attachment named after the snapshot.',
        tags,
        params: SnapshotParams,
        response: guarded({ 200: file('application/vnd.sqlite3', 'The SQLite database file.'), 404: notFound }),
      },
    },
    async (request, reply) => {
      const path = snapshots.path(request.params.name);
      return reply
        .type('application/vnd.sqlite3')
        .header('content-disposition', `attachment; filename="${request.params.name}"`)
        .send(createReadStream(path));
    },
  );

  app.delete(
    '/snapshots/:name',
    {
      schema: {
        operationId: 'deleteSnapshot',
        summary: 'Delete a snapshot',
        description: 'Removes the file from DATA_DIR/snapshots/.',
        tags,
        params: SnapshotParams,
        response: guarded({ 204: noContent, 404: notFound }),
      },
    },
    async (request, reply) => {
      snapshots.remove(request.params.name);
      return reply.status(204).send();
    },
  );
};

export default snapshotRoutes;
