-- eseal store, PostgreSQL backend: the schema of migrations/sqlite/0001_init.sql and
-- 0002_merkle.sql in one step (there is no PostgreSQL database from before the tree), with
-- BIGINT for INTEGER and BYTEA for BLOB, plus the log head row every writer locks.
--
-- Several nodes share one database. Every write transaction starts by locking the one row of
-- audit_head (SELECT ... FOR UPDATE): the appends of all nodes are serialized on it, so the
-- log is one contiguous sequence with one Merkle tree. Sequence numbers are MAX(sequence) + 1
-- read under that lock, never a database SEQUENCE (which leaves gaps on rollback).

-- The log head: exactly one row, the lock of every write.
CREATE TABLE audit_head (
    id SMALLINT PRIMARY KEY NOT NULL CHECK (id = 1)
);
INSERT INTO audit_head (id) VALUES (1);

-- The audit trail: one row per record, numbered from 1 without gaps; `record` is the
-- record's canonical JSON (RFC 8785), the bytes hashed into the Merkle tree.
CREATE TABLE audit_log (
    sequence BIGINT PRIMARY KEY NOT NULL CHECK (sequence >= 1),
    time     BIGINT NOT NULL,
    record   BYTEA  NOT NULL
);

-- Registered seals; `certificate_chain` as in the SQLite schema (length-prefixed DER).
CREATE TABLE seals (
    id                TEXT   PRIMARY KEY NOT NULL,
    name              TEXT   NOT NULL,
    organization      TEXT   NOT NULL,
    kind              TEXT   NOT NULL,
    image_png         BYTEA  NOT NULL,
    certificate_chain BYTEA  NOT NULL,
    key_reference     TEXT   NOT NULL,
    valid_from        BIGINT NOT NULL,
    valid_until       BIGINT NOT NULL,
    state             TEXT   NOT NULL CHECK (state IN ('active', 'suspended', 'revoked')),
    registered_at     BIGINT NOT NULL
);

-- The principals who may authorize stampings with a seal, in the order given at registration.
CREATE TABLE seal_custodians (
    seal_id   TEXT   NOT NULL REFERENCES seals (id),
    principal TEXT   NOT NULL,
    position  BIGINT NOT NULL,
    PRIMARY KEY (seal_id, principal)
);

-- One authorization permits exactly one stamping.
CREATE TABLE authorizations (
    id                  TEXT   PRIMARY KEY NOT NULL,
    seal_id             TEXT   NOT NULL REFERENCES seals (id),
    grantee             TEXT   NOT NULL,
    granted_by          TEXT   NOT NULL,
    case_number         TEXT   NOT NULL,
    document_sha256     BYTEA  NULL,
    granted_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    state               TEXT   NOT NULL CHECK (state IN ('active', 'consumed', 'revoked')),
    closed_at           BIGINT NULL,
    consumed_by_request TEXT   NULL,
    revoked_by          TEXT   NULL
);

CREATE INDEX authorizations_by_time    ON authorizations (granted_at DESC, id DESC);
CREATE INDEX authorizations_by_seal    ON authorizations (seal_id, granted_at DESC, id DESC);
CREATE INDEX authorizations_by_grantee ON authorizations (grantee, granted_at DESC, id DESC);
CREATE INDEX authorizations_by_state   ON authorizations (state, expires_at);

-- Stampings as committed: enough to prove each one and to replay it byte for byte.
CREATE TABLE stampings (
    request_id       TEXT   PRIMARY KEY NOT NULL,
    principal        TEXT   NOT NULL,
    seal_id          TEXT   NOT NULL REFERENCES seals (id),
    authorization_id TEXT   NOT NULL UNIQUE REFERENCES authorizations (id),
    case_number      TEXT   NOT NULL,
    input_sha256     BYTEA  NOT NULL,
    output_sha256    BYTEA  NOT NULL,
    output_size      BIGINT NOT NULL,
    signing_time     BIGINT NOT NULL,
    field_name       TEXT   NOT NULL,
    cms              BYTEA  NOT NULL,
    cms_sha256       BYTEA  NOT NULL,
    options_json     TEXT   NOT NULL,
    audit_sequence   BIGINT NOT NULL REFERENCES audit_log (sequence)
);

CREATE INDEX stampings_by_cms ON stampings (cms_sha256);
-- A seal with a stamping limit (keys.max_stampings_per_key) has its stampings counted in each
-- stamping's transaction.
CREATE INDEX stampings_by_seal ON stampings (seal_id);

-- The RFC 9162 tree over audit_log as its complete subtrees (see migrations/sqlite/0002).
CREATE TABLE audit_nodes (
    level BIGINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx   BIGINT NOT NULL CHECK (idx >= 0),
    hash  BYTEA  NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- Signed checkpoints, one per tree size; the largest is the latest, and the log must never
-- be shorter than it (see migrations/sqlite/0002).
CREATE TABLE checkpoints (
    size           BIGINT PRIMARY KEY NOT NULL CHECK (size >= 0),
    root           BYTEA  NOT NULL CHECK (length(root) = 32),
    note           TEXT   NOT NULL,
    signed_at      BIGINT NOT NULL,
    audit_sequence BIGINT NOT NULL
);
