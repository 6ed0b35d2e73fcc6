-- Request ids are chosen by clients: each principal has its own, so the stampings table is
-- keyed by (principal, request_id). Another principal's request id is none of a caller's
-- business (it neither collides with it nor learns that it exists).
--
-- SQLite cannot change a primary key: the table is rebuilt with the same columns, and every
-- row is kept as it is (the replay of an old stamping reads the same row).
CREATE TABLE stampings_by_principal (
    request_id       TEXT    NOT NULL,
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
    audit_sequence   INTEGER NOT NULL REFERENCES audit_log (sequence),
    PRIMARY KEY (principal, request_id)
);

INSERT INTO stampings_by_principal (request_id, principal, seal_id, authorization_id, case_number, input_sha256, output_sha256,
                                    output_size, signing_time, field_name, cms, cms_sha256, options_json, audit_sequence)
SELECT request_id, principal, seal_id, authorization_id, case_number, input_sha256, output_sha256,
       output_size, signing_time, field_name, cms, cms_sha256, options_json, audit_sequence
FROM stampings;

DROP TABLE stampings;
ALTER TABLE stampings_by_principal RENAME TO stampings;

CREATE INDEX stampings_by_cms ON stampings (cms_sha256);
CREATE INDEX stampings_by_seal ON stampings (seal_id);
-- The group commit looks up a batch's request ids (of any principal) in one query.
CREATE INDEX stampings_by_request_id ON stampings (request_id);
