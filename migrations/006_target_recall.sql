-- pqvec schema, version 6: target recall and its calibration.

-- JSON {"recall": r, "k": k, "recalibrateAfterGrowth": f} (the last optional), or NULL.
ALTER TABLE collections ADD COLUMN target_recall TEXT;

-- JSON of the last calibration (services/calibration.ts: the settings measured,
-- the one chosen, the codec version it measured), or NULL.
ALTER TABLE collections ADD COLUMN calibration TEXT;
