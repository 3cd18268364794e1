-- pqvec schema, version 1.
-- Rows of a collection are slots numbered 0, 1, 2, … in insertion order and
-- never reused: an upsert of an existing id writes a new row and the old row
-- dies. A row's vector never changes, so its codes never need rewriting except
-- when the collection switches codec.

CREATE TABLE collections (
  id               INTEGER PRIMARY KEY,
  name             TEXT    NOT NULL UNIQUE,
  dimension        INTEGER NOT NULL CHECK (dimension > 0),
  metric           TEXT    NOT NULL CHECK (metric IN ('l2', 'ip', 'cosine')),
  quantizer        TEXT    NOT NULL,                 -- JSON: {"type": "pq", "m": 16, "nbits": 8}
  created_at       TEXT    NOT NULL,
  next_row         INTEGER NOT NULL DEFAULT 0,       -- rows [0, next_row) have been allocated
  active_codec_id  INTEGER,                          -- NULL until trained
  added_since_training INTEGER NOT NULL DEFAULT 0    -- upserts since the active codec was trained
);

-- Trained codecs (serialised quantizers, src/core/serialize.ts).
CREATE TABLE codecs (
  id             INTEGER PRIMARY KEY,
  collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  version        INTEGER NOT NULL,                   -- 1, 2, … per collection
  bytes          BLOB    NOT NULL,
  relative_mse   REAL,                               -- over the vectors encoded at training
  train_vectors  INTEGER NOT NULL,                   -- vectors the codebook was trained on
  train_seconds  REAL    NOT NULL,
  created_at     TEXT    NOT NULL,
  UNIQUE (collection_id, version)
);

-- Full vectors (float32 little-endian, dimension × 4 bytes) and metadata.
CREATE TABLE vectors (
  collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  row            INTEGER NOT NULL,
  external_id    TEXT    NOT NULL,
  vector         BLOB    NOT NULL,
  metadata       TEXT,                               -- JSON object or NULL
  PRIMARY KEY (collection_id, row)
);
CREATE UNIQUE INDEX vectors_by_external_id ON vectors (collection_id, external_id);

-- Codes under a codec, in segments of 1024 rows: codes of rows
-- [segment × 1024, segment × 1024 + length(codes) / code_size), row-major.
-- Loading a million codes reads ~1000 BLOBs, not a million rows.
CREATE TABLE code_segments (
  codec_id  INTEGER NOT NULL REFERENCES codecs(id) ON DELETE CASCADE,
  segment   INTEGER NOT NULL,
  codes     BLOB    NOT NULL,
  PRIMARY KEY (codec_id, segment)
);

-- Background jobs (training).
CREATE TABLE jobs (
  id             TEXT    PRIMARY KEY,
  collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  kind           TEXT    NOT NULL,                   -- 'train'
  state          TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
  phase          TEXT    NOT NULL,
  progress       REAL    NOT NULL DEFAULT 0,
  params         TEXT    NOT NULL,                   -- JSON
  result         TEXT,                               -- JSON
  error          TEXT,                               -- JSON {"code", "message"}
  created_at     TEXT    NOT NULL,
  started_at     TEXT,
  finished_at    TEXT
);
CREATE INDEX jobs_by_collection ON jobs (collection_id, created_at);
