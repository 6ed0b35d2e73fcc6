-- A seal's key serves that seal only, for good (see migrations/sqlite/0005): the fingerprints
-- of each seal's certificate and public key, filled in by registration (NULL for seals
-- registered before), and the indexes of the check registration makes under the write lock.
ALTER TABLE seals ADD COLUMN certificate_sha256 BYTEA NULL;
ALTER TABLE seals ADD COLUMN public_key_sha256 BYTEA NULL;

CREATE INDEX seals_by_key_reference ON seals (key_reference);
CREATE INDEX seals_by_certificate ON seals (certificate_sha256);
CREATE INDEX seals_by_public_key ON seals (public_key_sha256);
