-- pqvec schema, version 2: automatic training.

-- JSON {"minVectors": n, "retrainAfterGrowth": f} (retrainAfterGrowth optional), or NULL.
ALTER TABLE collections ADD COLUMN auto_train TEXT;

-- Live vectors under the active codec when it was switched in (retrainAfterGrowth
-- compares the live count against it); NULL until trained.
ALTER TABLE collections ADD COLUMN vectors_at_training INTEGER;
