//! The SQLite backend: one database file, a small pool of connections.
//!
//! Durability and concurrency: WAL journal, `synchronous = FULL` (a committed stamping
//! survives a power cut), foreign keys on, a busy timeout of 10 s. Every write transaction
//! starts with `BEGIN IMMEDIATE`, which takes the database's write lock up front: writers
//! queue on the busy timeout instead of failing with `SQLITE_BUSY` when a read lock would have
//! to be upgraded, and the audit sequence read inside the transaction cannot race. Readers are
//! never blocked (WAL); multi-query reads run in a deferred transaction for one snapshot.
//!
//! The audit log's Merkle tree lives in `audit_nodes` (see `migrations/sqlite/0002_merkle.sql`):
//! every append path goes through [`SqliteStore::append`], which checks the restored-backup
//! guard, numbers and inserts the record, and adds its leaf with [`put_leaves`] (reading only
//! the frontier nodes [`merkle::nodes_for_append`] lists, writing [`merkle::append_nodes`]).
//! Roots and proofs fetch exactly the nodes the `merkle::nodes_for_*` functions list, in one
//! query per 256 nodes, and compute over a [`NodeMap`].
//!
//! Databases migrated from before the tree (records without nodes) get their missing leaves
//! and subtrees computed by [`SqliteStore::open`], in one transaction, before it returns.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};
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

/// The migrations of the SQLite backend (`migrations/sqlite/`), embedded in the binary.
///
/// Listed by hand rather than with `sqlx::migrate!`, which needs sqlx's `macros` (or `derive`)
/// feature. Same effect: versions and SQL (hence checksums) as the macro would read them from
/// the file names `<version>_<description>.sql`; a unit test checks the list against the folder.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../../../migrations/sqlite/0001_init.sql")),
    (2, "merkle", include_str!("../../../../../migrations/sqlite/0002_merkle.sql")),
    (
        3,
        "stampings by seal",
        include_str!("../../../../../migrations/sqlite/0003_stampings_by_seal.sql"),
    ),
    (
        4,
        "request ids per principal",
        include_str!("../../../../../migrations/sqlite/0004_request_ids_per_principal.sql"),
    ),
    (5, "seal keys", include_str!("../../../../../migrations/sqlite/0005_seal_keys.sql")),
];

/// How long a connection waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections the pool keeps at most. Writes are serialised by SQLite anyway; the
/// others serve concurrent reads.
const MAX_CONNECTIONS: u32 = 4;

/// The most tree nodes one statement fetches or inserts (two or three bound parameters each;
/// SQLite allows 32766). Every operation of the tree reads fewer (a consistency proof about
/// 2 log2(n) + 64); a single append writes at most 64.
const NODES_PER_QUERY: usize = 256;

/// How many records [`SqliteStore::open`] hashes per batch when it adds missing leaves.
const REBUILD_BATCH: u32 = 4096;

mod batch;

/// Creates the database file at `path` with mode 0600 when it does not exist, and sets 0600 on
/// it and on its `-wal` and `-shm` files when they do (an existing file with wider modes is
/// tightened, with a warning). SQLite creates the WAL and shared-memory files with the
/// database file's mode, so all three stay readable by the owner only, whatever the umask.
fn owner_only_files(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    // create_new: an existing database is never truncated nor replaced.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(metadata) = std::fs::metadata(&file) else { continue };
        let mode = metadata.permissions().mode() & 0o777;
        if mode != 0o600 {
            if mode & 0o077 != 0 {
                tracing::warn!(file = %file.display(), mode = format!("{mode:o}"), "the store file was readable by others: set to 0600");
            }
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// The store in one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    origin: String,
    /// The group-commit writer of appends, grants and stampings ([`batch`]).
    writer: mpsc::Sender<batch::Pending>,
    /// Most stampings per seal, enforced by the writer.
    limits: std::sync::Arc<std::sync::RwLock<super::StampingLimits>>,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `path` and brings its schema up to date.
    /// `origin` is the audit log's name, written into every record (e.g. `eseal.local/audit`).
    /// The database file is readable by its owner only (see [`owner_only_files`]).
    pub async fn open(path: &Path, origin: &str) -> Result<SqliteStore, StoreError> {
        owner_only_files(path).map_err(|e| {
            StoreError::Database(format!(
                "cannot create {} readable by its owner only: {e}",
                path.display()
            ))
        })?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // A ping before every use costs a round trip to the connection's thread; a local
            // file has no connection to lose.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        migrator(MIGRATIONS)
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("cannot migrate {}: {e}", path.display())))?;
        let (writer, waiting) = mpsc::channel(4 * batch::MAX_BATCH);
        let limits = std::sync::Arc::default();
        tokio::spawn(batch::run(
            pool.clone(),
            origin.to_string(),
            waiting,
            std::sync::Arc::clone(&limits),
        ));
        let store = SqliteStore { pool, origin: origin.to_string(), writer, limits };
        store.complete_tree().await?;
        Ok(store)
    }

    /// Adds the leaves (and the subtrees they complete) of the records that have none: the
    /// records of a database written before migration 0002, which SQL could not hash. One
    /// write transaction, so a crash leaves either no new node or all of them; nothing to do
    /// (two cheap reads) when the tree is complete, as it always is after the first opening.
    ///
    /// A tree longer than the log (records deleted behind the service's back) is left as it
    /// is: reads stop at the log's length, and the next append is refused.
    async fn complete_tree(&self) -> Result<(), StoreError> {
        let (leaves, records) = tree_and_log_len(&self.pool).await?;
        if leaves >= records {
            return Ok(());
        }
        let mut tx = self.write().await?;
        // Again under the write lock: another process may have done it meanwhile.
        let (mut leaves, records) = tree_and_log_len(&mut *tx).await?;
        while leaves < records {
            let rows = sqlx::query("SELECT sequence, record FROM audit_log WHERE sequence > $1 ORDER BY sequence LIMIT $2")
                .bind(signed(leaves, "audit sequence")?)
                .bind(i64::from(REBUILD_BATCH))
                .fetch_all(&mut *tx)
                .await?;
            let mut hashes = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                let sequence = unsigned(row.try_get(0)?, "audit_log.sequence")?;
                if sequence != leaves + 1 + i as u64 {
                    return Err(corrupt(&format!(
                        "audit_log has no record {} (the next is {sequence})",
                        leaves + 1 + i as u64
                    )));
                }
                hashes.push(merkle::leaf_hash(&row.try_get::<Vec<u8>, _>(1)?));
            }
            if hashes.is_empty() {
                break;
            }
            put_leaves(&mut tx, leaves, &hashes).await?;
            leaves += hashes.len() as u64;
        }
        tx.commit().await?;
        Ok(())
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

    /// One append in a transaction of its own (one fsync per record): the baseline that
    /// group commit is measured against. The service uses [`Store::append_audit`].
    pub async fn append_audit_alone(&self, event: AuditEvent, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let sequence = self.append(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(sequence)
    }
}

/// The number of leaves in the stored tree and of records in the log.
async fn tree_and_log_len<'c, E>(executor: E) -> Result<(u64, u64), StoreError>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    let row = sqlx::query(
        "SELECT (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_nodes WHERE level = 0), (SELECT COALESCE(MAX(sequence), 0) FROM audit_log)",
    )
    .fetch_one(executor)
    .await?;
    Ok((
        unsigned(row.try_get(0)?, "audit_nodes.idx")?,
        unsigned(row.try_get(1)?, "audit_log.sequence")?,
    ))
}

/// The store the shared code implements.
type ThisStore = SqliteStore;
/// The connection type of the shared code.
type Conn = SqliteConnection;
/// The database of the shared code.
type Db = Sqlite;
/// The row type of the shared code.
type DbRow = SqliteRow;
/// The pool type of the shared code.
type DbPool = SqlitePool;

/// How the tree's wanted nodes are joined to `audit_nodes`: SQLite's `CROSS JOIN` keeps the
/// constant table as the outer loop (one primary-key lookup per wanted node).
const NODE_JOIN: &str = "CROSS JOIN";

/// Starts a write transaction holding the database's write lock from the start
/// (`BEGIN IMMEDIATE`): writers queue on the busy timeout instead of failing to upgrade a read
/// lock, and the log's length read inside cannot race.
async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, StoreError> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

include!("../sql/backend.rs");

#[cfg(test)]
mod tests {
    /// Every file of `migrations/sqlite/` is embedded, under the version and description of
    /// its name, with its current text.
    #[test]
    fn embedded_migrations_match_the_folder() {
        crate::store::sql::assert_embedded_migrations_match(
            "../../migrations/sqlite",
            super::MIGRATIONS,
        );
    }
}
