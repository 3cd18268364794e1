-- pqvec schema, version 4: per-field value indexes.
-- JSON array of the metadata paths ("label", "author.country") whose values
-- the service indexes in memory for filters (rebuilt from vectors.metadata at
-- start-up); [] indexes none.
ALTER TABLE collections ADD COLUMN indexed_fields TEXT NOT NULL DEFAULT '[]';
