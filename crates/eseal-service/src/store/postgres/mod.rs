//! The PostgreSQL backend: several service nodes on one database, through a pool.
//!
//! Every write transaction starts by locking the one row of `audit_head` (`SELECT ... FOR
//! UPDATE`, see `migrations/postgres/0001_init.sql`): the writes of every node are serialized
//! on it, as SQLite's `BEGIN IMMEDIATE` serializes the writers of one file. Under that lock the
//! log's length, the latest checkpoint, the seals' states and the Merkle frontier are read
//! fresh (READ COMMITTED gives each statement a snapshot taken after the lock was granted), so
//! no node numbers a record from a stale view: one contiguous log, one tree. Nothing about the
//! log is cached in memory. Taking the head lock before any row lock also means two writers
//! can never wait on each other in opposite orders (no deadlock).
//!
//! A statement that fails aborts the whole PostgreSQL transaction, so the group commit
//! ([`batch`]) only issues statements that cannot fail on a refused write: conditional
//! `UPDATE ... WHERE state = 'active'`, `INSERT ... ON CONFLICT DO NOTHING`, and checks made
//! under the lock.
//!
//! A lost database surfaces as [`StoreError::Unavailable`]; the pool reconnects by itself when
//! it is back, and the writer task answers every caller of a failed batch and goes on.

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::sql::{
    append_in_memory, inserting, migrator, not_active, restored_backup, tree_error, within_log,
};
use super::{
    AuthorizationFilter, AuthorizationStateFilter, Page, StampingRecord, Store, StoreError,
    StoredCheckpoint, corrupt, decode_chain, decode_token, digest, encode_chain, encode_token,
    key_fingerprints, signed, unsigned,
};
use crate::policy::{Authorization, AuthorizationState};
use crate::seal::{Seal, SealState};
use eseal_audit::merkle::{self, Hash, HashStore, MerkleTree, NodeMap};
use eseal_audit::{AuditError, AuditEvent, EventKind};

/// The migrations of the PostgreSQL backend (`migrations/postgres/`), embedded in the binary,
/// listed by hand as the SQLite ones are (a unit test checks the list against the folder).
/// sqlx's migrator holds an advisory lock while it runs: nodes starting together migrate once.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../../../migrations/postgres/0001_init.sql")),
    (
        2,
        "request ids per principal",
        include_str!("../../../../../migrations/postgres/0002_request_ids_per_principal.sql"),
    ),
    (3, "seal keys", include_str!("../../../../../migrations/postgres/0003_seal_keys.sql")),
];

/// The most tree nodes one statement fetches or inserts (two or three bound parameters each;
/// PostgreSQL allows 65535).
const NODES_PER_QUERY: usize = 256;

mod batch;

/// How the PostgreSQL store uses its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgOptions {
    /// How many connections the pool opens at most.
    pub max_connections: u32,
    /// How long a call waits for a connection (a new one included) before it fails with
    /// [`StoreError::Unavailable`]: how fast a node answers while the database is down.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { max_connections: 16, acquire_timeout: Duration::from_secs(3) }
    }
}

/// The store in a PostgreSQL database, shareable by several service nodes.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    origin: String,
    /// The group-commit writer of appends, grants and stampings ([`batch`]).
    writer: mpsc::Sender<batch::Pending>,
    /// Most stampings per seal, enforced by the writer.
    limits: std::sync::Arc<std::sync::RwLock<super::StampingLimits>>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// brings its schema up to date. `origin` is the audit log's name, written into every
    /// record; every node sharing the database must use the same one. The URL's password is
    /// never part of an error message.
    pub async fn open(url: &str, origin: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("eseal");
        let place = format!(
            "PostgreSQL at {}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or("(default database)")
        );
        let pool = PgPoolOptions::new()
            // At least two: the group-commit writer holds one for each batch, and the reads of
            // a call must not wait for it.
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to {place}: {e}")))?;
        migrator(MIGRATIONS)
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("cannot migrate {place}: {e}")))?;
        let (writer, waiting) = mpsc::channel(4 * batch::MAX_BATCH);
        let limits = std::sync::Arc::default();
        tokio::spawn(batch::run(
            pool.clone(),
            origin.to_string(),
            waiting,
            std::sync::Arc::clone(&limits),
        ));
        Ok(PgStore { pool, origin: origin.to_string(), writer, limits })
    }

    /// The connection pool, for diagnostics and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The audit log's origin given at opening.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Locks the log head row for the rest of the caller's transaction: waits for the write
/// transaction of any other node (or of this one) to end first.
async fn lock_log_head(conn: &mut PgConnection) -> Result<(), StoreError> {
    let head: Option<i16> = sqlx::query_scalar("SELECT id FROM audit_head WHERE id = 1 FOR UPDATE")
        .fetch_optional(&mut *conn)
        .await?;
    match head {
        Some(_) => Ok(()),
        None => Err(corrupt("the audit_head row is missing: writes cannot be serialized")),
    }
}

/// The store the shared code implements.
type ThisStore = PgStore;
/// The connection type of the shared code.
type Conn = PgConnection;
/// The database of the shared code.
type Db = Postgres;
/// The row type of the shared code.
type DbRow = PgRow;
/// The pool type of the shared code.
type DbPool = PgPool;

/// How the tree's wanted nodes are joined to `audit_nodes` (PostgreSQL's `CROSS JOIN` takes no
/// join condition; its planner picks the lookups by itself).
const NODE_JOIN: &str = "JOIN";

/// Starts a write transaction holding the log head lock from the start ([`lock_log_head`]).
async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    lock_log_head(&mut tx).await?;
    Ok(tx)
}

include!("../sql/backend.rs");

#[cfg(test)]
mod tests {
    /// Every file of `migrations/postgres/` is embedded, under the version and description of
    /// its name, with its current text.
    #[test]
    fn embedded_migrations_match_the_folder() {
        crate::store::sql::assert_embedded_migrations_match(
            "../../migrations/postgres",
            super::MIGRATIONS,
        );
    }
}
