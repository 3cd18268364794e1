import { z } from 'zod';

export const SnapshotName = z
  .string()
  .regex(/^pqvec-\d{8}T\d{6}Z-[0-9a-f]{8}\.sqlite$/, 'must be a snapshot name as GET /snapshots lists them')
  .describe("A snapshot's file name, as POST /snapshots returned it.");

export const SnapshotParams = z.object({ name: SnapshotName });

export const Snapshot = z
  .object({
    name: z.string(),
    bytes: z.int().describe('Size of the file.'),
    createdAt: z.string().describe('When it was completed (ISO 8601).'),
  })
  .meta({ id: 'Snapshot' });

export const SnapshotList = z.object({ snapshots: z.array(Snapshot).describe('Newest first.') });
