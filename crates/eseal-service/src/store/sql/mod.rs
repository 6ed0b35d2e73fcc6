//! What the SQL backends share. Their tables are the same (only the column types differ), and
//! so is almost all of their SQL; sqlx gives each database its own connection and row types,
//! so the shared code over those types is written once in two files that each backend
//! `include!`s, after naming its types (`ThisStore`, `Conn`, `Db`, `DbRow`, `DbPool`), how a
//! write transaction begins (`begin_write`) and how the tree's nodes are joined (`NODE_JOIN`):
//! * `backend.rs`: the readers of rows, the append path and the Merkle tree's storage, and the
//!   whole [`Store`](super::Store) implementation;
//! * `group_commit.rs`: the writer task that batches appends, grants and stampings.
//!
//! This module holds the rest: the column lists and the rules that do not touch the database.

/// The columns of `authorizations`, in the order [`authorization_from_row`] reads them.
macro_rules! authorization_columns {
    () => {
        "id, seal_id, grantee, granted_by, case_number, document_sha256, granted_at, expires_at, state, closed_at, consumed_by_request, revoked_by"
    };
}

/// The columns of `seals`, in the order [`seal_from_row`] reads them.
macro_rules! seal_columns {
    () => {
        "id, name, organization, kind, image_png, certificate_chain, key_reference, valid_from, valid_until, state, registered_at"
    };
}

/// The columns of `stampings`, in the order [`stamping_from_row`] reads them.
macro_rules! stamping_columns {
    () => {
        "request_id, principal, seal_id, authorization_id, case_number, input_sha256, output_sha256, output_size, signing_time, field_name, cms, cms_sha256, options_json, audit_sequence"
    };
}

/// The columns of `checkpoints`, in the order [`checkpoint_from_row`] reads them.
macro_rules! checkpoint_columns {
    () => {
        "size, root, note, signed_at"
    };
}

use crate::policy::Authorization;
use eseal_audit::merkle::{self, Hash};
use eseal_audit::{AuditError, AuditEvent, AuditRecord};

use std::fmt::Write as _;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::{StoreError, corrupt};

/// The refusal of every append when the log is shorter than the latest checkpoint.
pub(super) fn restored_backup(len: u64, checkpoint: u64) -> StoreError {
    StoreError::Conflict(format!(
        "the audit log holds {len} records but checkpoint {checkpoint} was signed: the store was restored from an older backup; \
         appending would fork the log"
    ))
}

/// The canonical JSON of record `sequence` and its leaf hash.
pub(super) fn append_in_memory(
    origin: &str,
    sequence: u64,
    event: AuditEvent,
    now: i64,
) -> (Vec<u8>, Hash) {
    let record = AuditRecord { sequence, time: now, origin: origin.to_string(), event };
    let bytes = record.to_canonical_json();
    let leaf = merkle::leaf_hash(&bytes);
    (bytes, leaf)
}

/// A tree operation that failed on stored data (the arguments are checked before).
pub(super) fn tree_error(error: AuditError) -> StoreError {
    match error {
        AuditError::MissingNode { level, index } => {
            corrupt(&format!("the audit tree has no node at level {level}, index {index}"))
        }
        other => StoreError::Database(format!("audit tree: {other}")),
    }
}

/// Refuses a tree size larger than the log.
pub(super) fn within_log(size: u64, len: u64) -> Result<(), StoreError> {
    if size > len {
        return Err(StoreError::Conflict(format!(
            "tree size {size} is larger than the audit log ({len} records)"
        )));
    }
    Ok(())
}

/// Maps an insertion error: a unique violation means the record exists already.
pub(super) fn inserting(what: &'static str, id: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            StoreError::AlreadyExists { what, id: id.to_string() }
        }
        _ => error.into(),
    }
}

/// Why an authorization cannot be consumed or revoked: missing, refused by the policy as the
/// store holds it now (used, revoked, expired at `now`), or changed by a concurrent call.
pub(super) fn not_active(
    authorization: Option<Authorization>,
    id: &str,
    now: Option<i64>,
) -> StoreError {
    let Some(authorization) = authorization else {
        return StoreError::NotFound { what: "authorization", id: id.to_string() };
    };
    match crate::policy::check_usable(&authorization, now) {
        Err(refusal) => StoreError::Refused(refusal),
        Ok(()) => StoreError::Conflict(format!(
            "authorization {} changed concurrently; try again",
            authorization.id
        )),
    }
}

/// `$1, $2, ..., $n`.
pub(super) fn placeholders(n: usize) -> String {
    let mut text = String::with_capacity(5 * n);
    for i in 1..=n {
        let separator = if i == 1 { "" } else { ", " };
        let _ = write!(text, "{separator}${i}");
    }
    text
}

/// `($1, ..., $w), ($w+1, ...), ...`: `n` rows of `width` placeholders.
pub(super) fn rows(n: usize, width: usize) -> String {
    let mut text = String::with_capacity(n * width * 5);
    for row in 0..n {
        text.push_str(if row == 0 { "(" } else { ", (" });
        for column in 1..=width {
            let separator = if column == 1 { "" } else { ", " };
            let _ = write!(text, "{separator}${}", row * width + column);
        }
        text.push(')');
    }
    text
}

/// The migrator over a backend's embedded migrations: (version, description, SQL) as
/// `sqlx::migrate!` would read them from the files `<version>_<description>.sql`.
pub(super) fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Checks that `migrations` embeds every file of `folder` (relative to the crate), under the
/// version and description of its name, with its current text.
#[cfg(test)]
pub(super) fn assert_embedded_migrations_match(folder: &str, migrations: &[(i64, &str, &str)]) {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let stem = name.strip_suffix(".sql").unwrap();
            let (version, description) = stem.split_once('_').unwrap();
            (
                version.parse().unwrap(),
                description.replace('_', " "),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    let embedded: Vec<(i64, String, String)> =
        migrations.iter().map(|&(v, d, s)| (v, d.to_string(), s.to_string())).collect();
    assert_eq!(embedded, files);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholders(1), "$1");
        assert_eq!(placeholders(3), "$1, $2, $3");
        assert_eq!(rows(1, 2), "($1, $2)");
        assert_eq!(rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
