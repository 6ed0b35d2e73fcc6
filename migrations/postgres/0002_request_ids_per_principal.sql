-- Request ids are chosen by clients: each principal has its own, so the stampings table is
-- keyed by (principal, request_id) (see migrations/sqlite/0004). Every row is kept.
ALTER TABLE stampings DROP CONSTRAINT stampings_pkey;
ALTER TABLE stampings ADD PRIMARY KEY (principal, request_id);
-- The group commit looks up a batch's request ids (of any principal) in one query.
CREATE INDEX stampings_by_request_id ON stampings (request_id);
