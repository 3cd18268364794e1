-- pqvec schema, version 3: collections are deleted in the background.
-- DELETE /collections/{name} marks the collection (and renames it, so the name
-- is free at once); its vectors, codes and jobs are then removed in small
-- transactions that leave the event loop free between them, and the removal
-- resumes at start-up if the process stopped half-way.
ALTER TABLE collections ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;
