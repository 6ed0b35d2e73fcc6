-- A seal's stampings are counted in the stamping's transaction when the seal has a
-- limit (keys.max_stampings_per_key / max_stampings_per_seal); the index keeps that count cheap.
CREATE INDEX stampings_by_seal ON stampings (seal_id);
