-- eseal store, SQLite backend: the audit log's Merkle tree and its signed checkpoints.
--
-- Records appended before this migration have no nodes yet: SQL cannot compute SHA-256, so
-- SqliteStore::open adds the missing leaves and subtrees (in one transaction) whenever
-- audit_nodes holds fewer leaves than audit_log holds records.

-- The RFC 9162 tree over audit_log, as its complete (perfect) subtrees: node (level, idx) is
-- the hash of the records with sequence in (idx * 2^level, (idx + 1) * 2^level]; level 0 holds
-- the leaf hashes SHA-256(0x00 || record), leaf idx being record sequence idx + 1. Written in
-- the transaction that appends the record that completes the subtree; never updated.
-- (PostgreSQL: the same columns as SMALLINT / BIGINT / BYTEA and a plain primary key.)
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx   INTEGER NOT NULL CHECK (idx >= 0),
    hash  BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Signed checkpoints (C2SP signed notes), one per tree size. `root` is the tree's root at
-- `size`; `note` the signed note as issued, opaque to the store; `audit_sequence` the sequence
-- of the checkpoint_signed record appended with it. The largest size is the latest checkpoint:
-- the log must never be shorter than it (it is after a restore from an older backup), which
-- every append checks.
CREATE TABLE checkpoints (
    size           INTEGER PRIMARY KEY NOT NULL CHECK (size >= 0),
    root           BLOB    NOT NULL CHECK (length(root) = 32),
    note           TEXT    NOT NULL,
    signed_at      INTEGER NOT NULL,
    audit_sequence INTEGER NOT NULL
);
