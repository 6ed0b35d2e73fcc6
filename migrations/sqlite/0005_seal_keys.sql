-- A seal's key serves that seal only, for good: a key reference, a seal certificate or a
-- public key registered to one seal (revoked or not) is never registered to another.
-- Registration checks it in its write transaction (which holds the write lock: two
-- registrations cannot both pass); these columns and indexes make the check a lookup.
--
-- The fingerprints are SHA-256 of the end-entity certificate (DER) and of its
-- SubjectPublicKeyInfo. SQL cannot compute them: seals registered before this migration have
-- NULL here and registration fills them in (in the same transaction) before it checks.
-- Not UNIQUE: a database may hold such duplicates from before, which must not stop it opening.
ALTER TABLE seals ADD COLUMN certificate_sha256 BLOB NULL;
ALTER TABLE seals ADD COLUMN public_key_sha256 BLOB NULL;

CREATE INDEX seals_by_key_reference ON seals (key_reference);
CREATE INDEX seals_by_certificate ON seals (certificate_sha256);
CREATE INDEX seals_by_public_key ON seals (public_key_sha256);
