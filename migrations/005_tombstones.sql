-- pqvec schema, version 5: dead rows listed, so start-up reads what was
-- deleted instead of every live row. A row is dead once its vector was
-- deleted or replaced (rows are never reused); the live rows of a collection
-- are [0, next_row) less its tombstones. Written in the same transaction as
-- the delete or the replacing upsert.
CREATE TABLE tombstones (
  collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  row            INTEGER NOT NULL,
  PRIMARY KEY (collection_id, row)
) WITHOUT ROWID;

-- The rows below next_row that hold no vector, for the collections there are.
INSERT INTO tombstones (collection_id, row)
WITH RECURSIVE slots (collection_id, row, next_row) AS (
  SELECT id, 0, next_row FROM collections WHERE next_row > 0
  UNION ALL
  SELECT collection_id, row + 1, next_row FROM slots WHERE row + 1 < next_row
)
SELECT collection_id, row FROM slots
WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.collection_id = slots.collection_id AND v.row = slots.row);
