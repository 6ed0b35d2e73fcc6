-- eseal store, SQLite backend: initial schema.
--
-- Portable on purpose: INTEGER / TEXT / BLOB columns only, so that the PostgreSQL migration
-- (migrations/postgres/) can mirror it with BIGINT / TEXT / BYTEA. Times are Unix seconds.

-- The audit trail: one row per record, numbered from 1 without gaps. `record` holds the
-- record's canonical JSON (RFC 8785), the bytes that are hashed into the Merkle tree.
CREATE TABLE audit_log (
    sequence INTEGER PRIMARY KEY NOT NULL,
    time     INTEGER NOT NULL,
    record   BLOB    NOT NULL
);

-- Registered seals. `certificate_chain` is the seal certificate first, then its issuing chain,
-- each certificate as a 4-byte big-endian length followed by its DER bytes, concatenated.
CREATE TABLE seals (
    id                TEXT    PRIMARY KEY NOT NULL,
    name              TEXT    NOT NULL,
    organization      TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    image_png         BLOB    NOT NULL,
    certificate_chain BLOB    NOT NULL,
    key_reference     TEXT    NOT NULL,
    valid_from        INTEGER NOT NULL,
    valid_until       INTEGER NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('active', 'suspended', 'revoked')),
    registered_at     INTEGER NOT NULL
);

-- The principals who may authorize stampings with a seal, in the order given at registration.
CREATE TABLE seal_custodians (
    seal_id   TEXT    NOT NULL REFERENCES seals (id),
    principal TEXT    NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (seal_id, principal)
);

-- One authorization permits exactly one stamping. `closed_at` is when it was consumed or
-- revoked; `consumed_by_request` / `revoked_by` say by what or whom.
CREATE TABLE authorizations (
    id                  TEXT    PRIMARY KEY NOT NULL,
    seal_id             TEXT    NOT NULL REFERENCES seals (id),
    grantee             TEXT    NOT NULL,
    granted_by          TEXT    NOT NULL,
    case_number         TEXT    NOT NULL,
    document_sha256     BLOB    NULL,
    granted_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('active', 'consumed', 'revoked')),
    closed_at           INTEGER NULL,
    consumed_by_request TEXT    NULL,
    revoked_by          TEXT    NULL
);

-- Listing is newest first (granted_at DESC, id DESC), optionally filtered.
CREATE INDEX authorizations_by_time    ON authorizations (granted_at DESC, id DESC);
CREATE INDEX authorizations_by_seal    ON authorizations (seal_id, granted_at DESC, id DESC);
CREATE INDEX authorizations_by_grantee ON authorizations (grantee, granted_at DESC, id DESC);
CREATE INDEX authorizations_by_state   ON authorizations (state, expires_at);

-- Stampings as committed: enough to prove each one and to replay it byte for byte.
CREATE TABLE stampings (
    request_id       TEXT    PRIMARY KEY NOT NULL,
    principal        TEXT    NOT NULL,
    seal_id          TEXT    NOT NULL REFERENCES seals (id),
    authorization_id TEXT    NOT NULL UNIQUE REFERENCES authorizations (id),
    case_number      TEXT    NOT NULL,
    input_sha256     BLOB    NOT NULL,
    output_sha256    BLOB    NOT NULL,
    output_size      INTEGER NOT NULL,
    signing_time     INTEGER NOT NULL,
    field_name       TEXT    NOT NULL,
    cms              BLOB    NOT NULL,
    cms_sha256       BLOB    NOT NULL,
    options_json     TEXT    NOT NULL,
    audit_sequence   INTEGER NOT NULL REFERENCES audit_log (sequence)
);

CREATE INDEX stampings_by_cms ON stampings (cms_sha256);
