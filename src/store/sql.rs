//! What the SQL backends share: the column lists of their (identical) tables, the readers of
//! their rows (one macro instantiated per backend's row type, since sqlx's rows differ by type
//! but not by how they are read), and the rules that do not touch the database.

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

/// Defines the readers of rows of type `$row` (`checkpoint_from_row`, `seal_from_row`,
/// `authorization_from_row`, `authorization_at`, `stamping_from_row`, `stamping_at`) and
/// `STAMPING_COLUMNS` in the calling backend's module.
macro_rules! row_readers {
    ($row:ty) => {
        /// Reads a checkpoint row.
        fn checkpoint_from_row(row: &$row) -> Result<StoredCheckpoint, StoreError> {
            Ok(StoredCheckpoint {
                size: unsigned(row.try_get(0)?, "checkpoints.size")?,
                root: digest(row.try_get(1)?, "checkpoints.root")?,
                note: row.try_get(2)?,
                signed_at: row.try_get(3)?,
            })
        }

        /// Reads a seal row (without its custodians).
        fn seal_from_row(row: &$row) -> Result<Seal, StoreError> {
            let state: String = row.try_get(9)?;
            Ok(Seal {
                id: row.try_get(0)?,
                name: row.try_get(1)?,
                organization: row.try_get(2)?,
                kind: row.try_get(3)?,
                image_png: row.try_get(4)?,
                certificate_chain: decode_chain(&row.try_get::<Vec<u8>, _>(5)?)?,
                key_reference: row.try_get(6)?,
                custodians: Vec::new(),
                valid_from: row.try_get(7)?,
                valid_until: row.try_get(8)?,
                state: SealState::parse(&state).ok_or_else(|| corrupt(&format!("unknown seal state {state:?}")))?,
                registered_at: row.try_get(10)?,
            })
        }

        /// Reads an authorization row.
        fn authorization_from_row(row: &$row) -> Result<Authorization, StoreError> {
            authorization_at(row, 0)
        }

        /// Reads an authorization from the columns of `row` starting at `base`.
        fn authorization_at(row: &$row, base: usize) -> Result<Authorization, StoreError> {
            let column = |i: usize| base + i;
            let id: String = row.try_get(column(0))?;
            let state: String = row.try_get(column(8))?;
            let closed_at: Option<i64> = row.try_get(column(9))?;
            let consumed_by: Option<String> = row.try_get(column(10))?;
            let revoked_by: Option<String> = row.try_get(column(11))?;
            let state = match (state.as_str(), closed_at, consumed_by, revoked_by) {
                ("active", _, _, _) => AuthorizationState::Active,
                ("consumed", Some(at), Some(request_id), _) => AuthorizationState::Consumed { at, request_id },
                ("revoked", Some(at), _, Some(by)) => AuthorizationState::Revoked { at, by },
                (other, ..) => return Err(corrupt(&format!("authorization {id} has state {other:?} without its details"))),
            };
            let document_sha256 = match row.try_get::<Option<Vec<u8>>, _>(column(5))? {
                Some(bytes) => Some(digest(bytes, "authorizations.document_sha256")?),
                None => None,
            };
            Ok(Authorization {
                id,
                seal_id: row.try_get(column(1))?,
                grantee: row.try_get(column(2))?,
                granted_by: row.try_get(column(3))?,
                case_number: row.try_get(column(4))?,
                document_sha256,
                granted_at: row.try_get(column(6))?,
                expires_at: row.try_get(column(7))?,
                state,
            })
        }

        /// Reads a stamping row.
        fn stamping_from_row(row: &$row) -> Result<StampingRecord, StoreError> {
            stamping_at(row, 0)
        }

        /// Reads a stamping from the columns of `row` starting at `base`.
        fn stamping_at(row: &$row, base: usize) -> Result<StampingRecord, StoreError> {
            let column = |i: usize| base + i;
            Ok(StampingRecord {
                request_id: row.try_get(column(0))?,
                principal: row.try_get(column(1))?,
                seal_id: row.try_get(column(2))?,
                authorization_id: row.try_get(column(3))?,
                case_number: row.try_get(column(4))?,
                input_sha256: digest(row.try_get(column(5))?, "stampings.input_sha256")?,
                output_sha256: digest(row.try_get(column(6))?, "stampings.output_sha256")?,
                output_size: unsigned(row.try_get(column(7))?, "stampings.output_size")?,
                signing_time: row.try_get(column(8))?,
                field_name: row.try_get(column(9))?,
                cms: row.try_get(column(10))?,
                cms_sha256: digest(row.try_get(column(11))?, "stampings.cms_sha256")?,
                options_json: row.try_get(column(12))?,
                audit_sequence: unsigned(row.try_get(column(13))?, "stampings.audit_sequence")?,
            })
        }

        /// How many columns [`stamping_at`] reads.
        const STAMPING_COLUMNS: usize = 14;
    };
}

use crate::audit::merkle::{self, Hash};
use crate::audit::{AuditError, AuditEvent, AuditRecord};
use crate::policy::{Authorization, AuthorizationState, PolicyError};

use std::fmt::Write as _;

use super::{StoreError, corrupt};

/// The refusal of every append when the log is shorter than the latest checkpoint.
pub(super) fn restored_backup(len: u64, checkpoint: u64) -> StoreError {
    StoreError::Conflict(format!(
        "the audit log holds {len} records but checkpoint {checkpoint} was signed: the store was restored from an older backup; \
         appending would fork the log"
    ))
}

/// The canonical JSON of record `sequence` and its leaf hash.
pub(super) fn append_in_memory(origin: &str, sequence: u64, event: AuditEvent, now: i64) -> (Vec<u8>, Hash) {
    let record = AuditRecord { sequence, time: now, origin: origin.to_string(), event };
    let bytes = record.to_canonical_json();
    let leaf = merkle::leaf_hash(&bytes);
    (bytes, leaf)
}

/// A tree operation that failed on stored data (the arguments are checked before).
pub(super) fn tree_error(error: AuditError) -> StoreError {
    match error {
        AuditError::MissingNode { level, index } => corrupt(&format!("the audit tree has no node at level {level}, index {index}")),
        other => StoreError::Database(format!("audit tree: {other}")),
    }
}

/// Refuses a tree size larger than the log.
pub(super) fn within_log(size: u64, len: u64) -> Result<(), StoreError> {
    if size > len {
        return Err(StoreError::Conflict(format!("tree size {size} is larger than the audit log ({len} records)")));
    }
    Ok(())
}

/// Maps an insertion error: a unique violation means the record exists already.
pub(super) fn inserting(what: &'static str, id: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::AlreadyExists { what, id: id.to_string() },
        _ => error.into(),
    }
}

/// Why an authorization that is not (or no longer) usable cannot be consumed or revoked, in
/// the words of [`PolicyError`].
pub(super) fn not_active(authorization: Option<Authorization>, id: &str, now: Option<i64>) -> StoreError {
    let Some(authorization) = authorization else {
        return StoreError::NotFound { what: "authorization", id: id.to_string() };
    };
    let id = authorization.id;
    let reason = match authorization.state {
        AuthorizationState::Consumed { request_id, .. } => PolicyError::AlreadyUsed { id, request_id },
        AuthorizationState::Revoked { by, .. } => PolicyError::Revoked { id, by },
        AuthorizationState::Active => match now {
            Some(now) if now > authorization.expires_at => PolicyError::Expired { id, expired_at: authorization.expires_at },
            _ => return StoreError::Conflict(format!("authorization {id} changed concurrently; try again")),
        },
    };
    StoreError::Conflict(reason.to_string())
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
