-- Request ids are chosen by clients: each principal has its own, so the stampings table is
-- keyed by (principal, request_id) (see migrations/sqlite/0004). Every row is kept.
ALTER TABLE stampings DROP CONSTRAINT stampings_pkey;
ALTER TABLE stampings ADD PRIMARY KEY (principal, request_id);
