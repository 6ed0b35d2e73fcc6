//! The SQLite backend: one database file, a small pool of connections.
//!
//! Durability and concurrency: WAL journal, `synchronous = FULL` (a committed stamping
//! survives a power cut), foreign keys on, a busy timeout of 10 s. Every write transaction
//! starts with `BEGIN IMMEDIATE`, which takes the database's write lock up front: writers
//! queue on the busy timeout instead of failing with `SQLITE_BUSY` when a read lock would have
//! to be upgraded, and the audit sequence read inside the transaction cannot race. Readers are
//! never blocked (WAL); multi-query reads run in a deferred transaction for one snapshot.

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlSafeStr, Sqlite, Transaction};

use super::{
    AuthorizationFilter, AuthorizationStateFilter, Page, StampingRecord, Store, StoreError, corrupt, decode_chain, decode_token, digest,
    encode_chain, encode_token, signed, unsigned,
};
use crate::audit::{AuditEvent, AuditRecord};
use crate::policy::{Authorization, AuthorizationState, PolicyError};
use crate::seal::{Seal, SealState};

/// The migrations of the SQLite backend (`migrations/sqlite/`), embedded in the binary.
///
/// Listed by hand rather than with `sqlx::migrate!`, which needs sqlx's `macros` (or `derive`)
/// feature. Same effect: versions and SQL (hence checksums) as the macro would read them from
/// the file names `<version>_<description>.sql`; a unit test checks the list against the folder.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "init", include_str!("../../migrations/sqlite/0001_init.sql"))];

/// The migrator over [`MIGRATIONS`].
fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}

/// How long a connection waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections the pool keeps at most. Writes are serialised by SQLite anyway; the
/// others serve concurrent reads.
const MAX_CONNECTIONS: u32 = 4;

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

/// The store in one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    origin: String,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `path` and brings its schema up to date.
    /// `origin` is the audit log's name, written into every record (e.g. `eseal.local/audit`).
    pub async fn open(path: &Path, origin: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        migrator().run(&pool).await.map_err(|e| StoreError::Database(format!("cannot migrate {}: {e}", path.display())))?;
        Ok(SqliteStore { pool, origin: origin.to_string() })
    }

    /// The connection pool, for diagnostics and tests (e.g. reading pragmas).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The audit log's origin given at opening.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction holding the write lock from the start.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Appends one audit record within the caller's transaction.
    async fn append(&self, conn: &mut SqliteConnection, event: AuditEvent, now: i64) -> Result<u64, StoreError> {
        let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(sequence), 0) + 1 FROM audit_log").fetch_one(&mut *conn).await?;
        let sequence = unsigned(next, "audit_log.sequence")?;
        let record = AuditRecord { sequence, time: now, origin: self.origin.clone(), event };
        sqlx::query("INSERT INTO audit_log (sequence, time, record) VALUES ($1, $2, $3)")
            .bind(next)
            .bind(now)
            .bind(record.to_canonical_json())
            .execute(&mut *conn)
            .await?;
        Ok(sequence)
    }
}

/// Maps an insertion error: a unique violation means the record exists already.
fn inserting(what: &'static str, id: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::AlreadyExists { what, id: id.to_string() },
        _ => error.into(),
    }
}

/// Reads a seal row (without its custodians).
fn seal_from_row(row: &SqliteRow) -> Result<Seal, StoreError> {
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
fn authorization_from_row(row: &SqliteRow) -> Result<Authorization, StoreError> {
    let id: String = row.try_get(0)?;
    let state: String = row.try_get(8)?;
    let closed_at: Option<i64> = row.try_get(9)?;
    let consumed_by: Option<String> = row.try_get(10)?;
    let revoked_by: Option<String> = row.try_get(11)?;
    let state = match (state.as_str(), closed_at, consumed_by, revoked_by) {
        ("active", _, _, _) => AuthorizationState::Active,
        ("consumed", Some(at), Some(request_id), _) => AuthorizationState::Consumed { at, request_id },
        ("revoked", Some(at), _, Some(by)) => AuthorizationState::Revoked { at, by },
        (other, ..) => return Err(corrupt(&format!("authorization {id} has state {other:?} without its details"))),
    };
    let document_sha256 = match row.try_get::<Option<Vec<u8>>, _>(5)? {
        Some(bytes) => Some(digest(bytes, "authorizations.document_sha256")?),
        None => None,
    };
    Ok(Authorization {
        id,
        seal_id: row.try_get(1)?,
        grantee: row.try_get(2)?,
        granted_by: row.try_get(3)?,
        case_number: row.try_get(4)?,
        document_sha256,
        granted_at: row.try_get(6)?,
        expires_at: row.try_get(7)?,
        state,
    })
}

/// Reads a stamping row.
fn stamping_from_row(row: &SqliteRow) -> Result<StampingRecord, StoreError> {
    Ok(StampingRecord {
        request_id: row.try_get(0)?,
        principal: row.try_get(1)?,
        seal_id: row.try_get(2)?,
        authorization_id: row.try_get(3)?,
        case_number: row.try_get(4)?,
        input_sha256: digest(row.try_get(5)?, "stampings.input_sha256")?,
        output_sha256: digest(row.try_get(6)?, "stampings.output_sha256")?,
        output_size: unsigned(row.try_get(7)?, "stampings.output_size")?,
        signing_time: row.try_get(8)?,
        field_name: row.try_get(9)?,
        cms: row.try_get(10)?,
        cms_sha256: digest(row.try_get(11)?, "stampings.cms_sha256")?,
        options_json: row.try_get(12)?,
        audit_sequence: unsigned(row.try_get(13)?, "stampings.audit_sequence")?,
    })
}

/// The authorization with this id, read within a transaction or from the pool.
async fn fetch_authorization(conn: &mut SqliteConnection, id: &str) -> Result<Option<Authorization>, StoreError> {
    let row = sqlx::query(concat!("SELECT ", authorization_columns!(), " FROM authorizations WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(authorization_from_row).transpose()
}

/// Why an authorization that is not (or no longer) usable cannot be consumed or revoked, in
/// the words of [`PolicyError`].
fn not_active(authorization: Option<Authorization>, id: &str, now: Option<i64>) -> StoreError {
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

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn register_seal(&self, seal: &Seal, audit: AuditEvent, now: i64) -> Result<u64, StoreError> {
        for (i, custodian) in seal.custodians.iter().enumerate() {
            if seal.custodians[..i].contains(custodian) {
                return Err(StoreError::Conflict(format!("custodian {custodian} is listed twice for seal {}", seal.id)));
            }
        }
        let chain = encode_chain(&seal.certificate_chain)?;
        let mut tx = self.write().await?;
        sqlx::query(concat!("INSERT INTO seals (", seal_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .bind(&seal.id)
            .bind(&seal.name)
            .bind(&seal.organization)
            .bind(&seal.kind)
            .bind(&seal.image_png)
            .bind(chain)
            .bind(&seal.key_reference)
            .bind(seal.valid_from)
            .bind(seal.valid_until)
            .bind(seal.state.as_str())
            .bind(seal.registered_at)
            .execute(&mut *tx)
            .await
            .map_err(inserting("seal", &seal.id))?;
        for (position, custodian) in seal.custodians.iter().enumerate() {
            sqlx::query("INSERT INTO seal_custodians (seal_id, principal, position) VALUES ($1, $2, $3)")
                .bind(&seal.id)
                .bind(custodian)
                .bind(signed(position as u64, "custodian position")?)
                .execute(&mut *tx)
                .await?;
        }
        let sequence = self.append(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(sequence)
    }

    async fn seal(&self, id: &str) -> Result<Option<Seal>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) =
            sqlx::query(concat!("SELECT ", seal_columns!(), " FROM seals WHERE id = $1")).bind(id).fetch_optional(&mut *tx).await?
        else {
            return Ok(None);
        };
        let mut seal = seal_from_row(&row)?;
        let custodians = sqlx::query_scalar("SELECT principal FROM seal_custodians WHERE seal_id = $1 ORDER BY position")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        seal.custodians = custodians;
        Ok(Some(seal))
    }

    async fn list_seals(&self) -> Result<Vec<Seal>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(concat!("SELECT ", seal_columns!(), " FROM seals ORDER BY id")).fetch_all(&mut *tx).await?;
        let custodians =
            sqlx::query("SELECT seal_id, principal FROM seal_custodians ORDER BY seal_id, position").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut seals = rows.iter().map(seal_from_row).collect::<Result<Vec<_>, _>>()?;
        for row in &custodians {
            let seal_id: String = row.try_get(0)?;
            let principal: String = row.try_get(1)?;
            if let Ok(i) = seals.binary_search_by(|s| s.id.as_str().cmp(&seal_id)) {
                seals[i].custodians.push(principal);
            }
        }
        Ok(seals)
    }

    async fn set_seal_state(&self, id: &str, from: SealState, to: SealState, audit: AuditEvent, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let changed = if from == to || from == SealState::Revoked {
            0
        } else {
            sqlx::query("UPDATE seals SET state = $1 WHERE id = $2 AND state = $3")
                .bind(to.as_str())
                .bind(id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
        };
        if changed == 0 {
            let current: Option<String> =
                sqlx::query_scalar("SELECT state FROM seals WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            tx.rollback().await?;
            return Err(match current {
                None => StoreError::NotFound { what: "seal", id: id.to_string() },
                Some(current) => {
                    StoreError::Conflict(format!("seal {id} is {current}; it cannot go from {} to {}", from.as_str(), to.as_str()))
                }
            });
        }
        let sequence = self.append(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(sequence)
    }

    async fn grant(&self, authorization: &Authorization, audit: AuditEvent, now: i64) -> Result<u64, StoreError> {
        let (closed_at, consumed_by, revoked_by) = match &authorization.state {
            AuthorizationState::Active => (None, None, None),
            AuthorizationState::Consumed { at, request_id } => (Some(*at), Some(request_id.as_str()), None),
            AuthorizationState::Revoked { at, by } => (Some(*at), None, Some(by.as_str())),
        };
        let mut tx = self.write().await?;
        sqlx::query(concat!(
            "INSERT INTO authorizations (",
            authorization_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&authorization.id)
        .bind(&authorization.seal_id)
        .bind(&authorization.grantee)
        .bind(&authorization.granted_by)
        .bind(&authorization.case_number)
        .bind(authorization.document_sha256.as_ref().map(|d| &d[..]))
        .bind(authorization.granted_at)
        .bind(authorization.expires_at)
        .bind(authorization.state.as_str())
        .bind(closed_at)
        .bind(consumed_by)
        .bind(revoked_by)
        .execute(&mut *tx)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(e) if e.is_foreign_key_violation() => {
                StoreError::NotFound { what: "seal", id: authorization.seal_id.clone() }
            }
            _ => inserting("authorization", &authorization.id)(error),
        })?;
        let sequence = self.append(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(sequence)
    }

    async fn authorization(&self, id: &str) -> Result<Option<Authorization>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        fetch_authorization(&mut conn, id).await
    }

    async fn list_authorizations(
        &self,
        filter: &AuthorizationFilter,
        page: &Page,
    ) -> Result<(Vec<Authorization>, Option<String>), StoreError> {
        let size = page.effective_size();
        let after = page.token.as_deref().map(decode_token).transpose()?;
        let (state, active_at, expired_at) = match filter.state {
            None => (None, None, None),
            Some(AuthorizationStateFilter::Active { now }) => (Some("active"), Some(now), None),
            Some(AuthorizationStateFilter::Consumed) => (Some("consumed"), None, None),
            Some(AuthorizationStateFilter::Revoked) => (Some("revoked"), None, None),
            Some(AuthorizationStateFilter::Expired { now }) => (Some("active"), None, Some(now)),
        };
        // One fixed statement: each filter is `($n IS NULL OR ...)`, so no SQL is built at run
        // time. Paging is by key (granted_at, id), strictly after the previous page's last item.
        let rows = sqlx::query(concat!(
            "SELECT ",
            authorization_columns!(),
            " FROM authorizations",
            " WHERE ($1 IS NULL OR seal_id = $1)",
            " AND ($2 IS NULL OR grantee = $2)",
            " AND ($3 IS NULL OR granted_at >= $3)",
            " AND ($4 IS NULL OR granted_at < $4)",
            " AND ($5 IS NULL OR state = $5)",
            " AND ($6 IS NULL OR expires_at >= $6)",
            " AND ($7 IS NULL OR expires_at < $7)",
            " AND ($8 IS NULL OR granted_at < $8 OR (granted_at = $8 AND id < $9))",
            " ORDER BY granted_at DESC, id DESC",
            " LIMIT $10"
        ))
        .bind(filter.seal_id.as_deref())
        .bind(filter.grantee.as_deref())
        .bind(filter.granted_after)
        .bind(filter.granted_before)
        .bind(state)
        .bind(active_at)
        .bind(expired_at)
        .bind(after.as_ref().map(|(granted_at, _)| *granted_at))
        .bind(after.as_ref().map(|(_, id)| id.as_str()))
        .bind(i64::from(size) + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows.iter().map(authorization_from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > size as usize {
            items.truncate(size as usize);
            items.last().map(|last| encode_token(last.granted_at, &last.id))
        } else {
            None
        };
        Ok((items, next))
    }

    async fn revoke_authorization(&self, id: &str, by: &str, audit: AuditEvent, now: i64) -> Result<(Authorization, u64), StoreError> {
        let mut tx = self.write().await?;
        let changed =
            sqlx::query("UPDATE authorizations SET state = 'revoked', closed_at = $1, revoked_by = $2 WHERE id = $3 AND state = 'active'")
                .bind(now)
                .bind(by)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let current = fetch_authorization(&mut tx, id).await?;
        if changed == 0 {
            tx.rollback().await?;
            return Err(not_active(current, id, None));
        }
        let Some(authorization) = current else {
            return Err(corrupt(&format!("authorization {id} vanished while being revoked")));
        };
        let sequence = self.append(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok((authorization, sequence))
    }

    async fn stamping(&self, request_id: &str) -> Result<Option<StampingRecord>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", stamping_columns!(), " FROM stampings WHERE request_id = $1"))
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stamping_from_row).transpose()
    }

    async fn stamping_by_cms(&self, cms_sha256: &[u8; 32]) -> Result<Option<StampingRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            stamping_columns!(),
            " FROM stampings WHERE cms_sha256 = $1 ORDER BY signing_time, request_id LIMIT 1"
        ))
        .bind(&cms_sha256[..])
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stamping_from_row).transpose()
    }

    async fn commit_stamping(
        &self,
        stamping: &StampingRecord,
        consumed: AuditEvent,
        sealed: AuditEvent,
        now: i64,
    ) -> Result<StampingRecord, StoreError> {
        let output_size = signed(stamping.output_size, "output size")?;
        let mut tx = self.write().await?;
        // 1. Consume: only an active, unexpired authorization; the row itself is the lock.
        let changed = sqlx::query(
            "UPDATE authorizations SET state = 'consumed', closed_at = $1, consumed_by_request = $2 \
             WHERE id = $3 AND state = 'active' AND expires_at >= $1",
        )
        .bind(now)
        .bind(&stamping.request_id)
        .bind(&stamping.authorization_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            let current = fetch_authorization(&mut tx, &stamping.authorization_id).await?;
            tx.rollback().await?;
            return Err(not_active(current, &stamping.authorization_id, Some(now)));
        }
        // 2. The two records, in this order.
        self.append(&mut tx, consumed, now).await?;
        let sequence = self.append(&mut tx, sealed, now).await?;
        // 3. The stamping, pointing at its `document_sealed` record.
        let record = StampingRecord { audit_sequence: sequence, ..stamping.clone() };
        sqlx::query(concat!(
            "INSERT INTO stampings (",
            stamping_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&record.request_id)
        .bind(&record.principal)
        .bind(&record.seal_id)
        .bind(&record.authorization_id)
        .bind(&record.case_number)
        .bind(&record.input_sha256[..])
        .bind(&record.output_sha256[..])
        .bind(output_size)
        .bind(record.signing_time)
        .bind(&record.field_name)
        .bind(&record.cms)
        .bind(&record.cms_sha256[..])
        .bind(&record.options_json)
        .bind(signed(sequence, "audit sequence")?)
        .execute(&mut *tx)
        .await
        .map_err(inserting("stamping", &record.request_id))?;
        tx.commit().await?;
        Ok(record)
    }

    async fn append_audit(&self, event: AuditEvent, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let sequence = self.append(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(sequence)
    }

    async fn audit_records(&self, from_sequence: u64, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        // Sequences beyond i64 cannot exist; asking from there yields nothing.
        let Ok(from) = i64::try_from(from_sequence) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query("SELECT sequence, record FROM audit_log WHERE sequence >= $1 ORDER BY sequence LIMIT $2")
            .bind(from)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok((unsigned(row.try_get(0)?, "audit_log.sequence")?, row.try_get(1)?))).collect()
    }

    async fn audit_len(&self) -> Result<u64, StoreError> {
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(sequence), 0) FROM audit_log").fetch_one(&self.pool).await?;
        unsigned(last, "audit_log.sequence")
    }
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Every file of `migrations/sqlite/` is embedded, under the version and description of its
    /// name, with its current text.
    #[test]
    fn embedded_migrations_match_the_folder() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_str().unwrap().to_string();
                let stem = name.strip_suffix(".sql").unwrap();
                let (version, description) = stem.split_once('_').unwrap();
                (version.parse().unwrap(), description.replace('_', " "), std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        files.sort();
        let embedded: Vec<(i64, String, String)> = MIGRATIONS.iter().map(|&(v, d, s)| (v, d.to_string(), s.to_string())).collect();
        assert_eq!(embedded, files);
    }
}
