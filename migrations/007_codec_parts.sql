-- pqvec schema, version 7: codecs larger than one BLOB may be.
-- better-sqlite3 binds and reads BLOBs of at most V8's longest string (~512 MiB),
-- and an LOPQ codec of 256 cells at d = 784 is 632 MB. codecs.bytes holds the
-- first CODEC_PART_BYTES of a codec, parts 1, 2, … the rest in order
-- (store.ts insertCodec / codec). Codecs stored before this have no parts.
CREATE TABLE codec_parts (
  codec_id  INTEGER NOT NULL REFERENCES codecs(id) ON DELETE CASCADE,
  part      INTEGER NOT NULL,
  bytes     BLOB    NOT NULL,
  PRIMARY KEY (codec_id, part)
);
