//! Fixtures of the store tests: a store on a real database (a SQLite file, or a database of its
//! own on the test binary's private PostgreSQL), seals, authorizations and stampings with
//! plausible values, and the one way a stamping is committed.
//!
//! The behavioural tests are written once over [`TestStore`] (a `dyn Store` and what a test
//! needs to reach behind it) and run on both backends with [`on_both_backends!`].

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use eseal_audit::{AuditEvent, EventKind};
use eseal_service::policy::{Authorization, AuthorizationState};
use eseal_service::seal::{Seal, SealState};
use eseal_service::store::{PgOptions, PgStore, SqliteStore, StampingRecord, Store, StoreError};

/// The log origin of the test stores.
pub const ORIGIN: &str = "eseal.test/audit";

pub async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("eseal.db"), ORIGIN).await.expect("open the store")
}

pub fn seal(id: &str) -> Seal {
    Seal {
        id: id.into(),
        name: "示例市行政审批局行政审批专用章".into(),
        organization: "示例市行政审批局".into(),
        kind: "行政审批专用章".into(),
        image_png: vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3],
        // The first certificate differs per seal: a certificate serves one seal only.
        certificate_chain: vec![
            [&[0x30, 0x82, 0x01, 0x0a, 9, 9, 9][..], id.as_bytes()].concat(),
            vec![0x30; 700],
            vec![],
        ],
        key_reference: format!("{id}.key"),
        custodians: vec!["wang".into(), "li".into(), "zhao".into()],
        valid_from: 1_700_000_000,
        valid_until: 1_900_000_000,
        state: SealState::Active,
        registered_at: 1_750_000_000,
    }
}

pub fn authorization(
    id: &str,
    seal_id: &str,
    grantee: &str,
    granted_at: i64,
    expires_at: i64,
) -> Authorization {
    Authorization {
        id: id.into(),
        seal_id: seal_id.into(),
        grantee: grantee.into(),
        granted_by: "wang".into(),
        case_number: format!("审批-2026-{id}"),
        document_sha256: None,
        granted_at,
        expires_at,
        state: AuthorizationState::Active,
    }
}

pub fn stamping(request_id: &str, auth: &Authorization) -> StampingRecord {
    let mut cms = b"cms for ".to_vec();
    cms.extend_from_slice(request_id.as_bytes());
    StampingRecord {
        request_id: request_id.into(),
        principal: auth.grantee.clone(),
        seal_id: auth.seal_id.clone(),
        authorization_id: auth.id.clone(),
        case_number: auth.case_number.clone(),
        input_sha256: sha256(b"input"),
        output_sha256: sha256(request_id.as_bytes()),
        output_size: 123_456,
        signing_time: 1_800_000_100,
        field_name: "Seal1".into(),
        cms_sha256: sha256(&cms),
        cms,
        options_json: r#"{"page":1,"reason":"approved"}"#.into(),
        audit_sequence: 0,
    }
}

pub use super::sha256;

pub fn event(kind: EventKind) -> AuditEvent {
    AuditEvent::new(kind, "tester")
}

pub fn events_for(auth: &Authorization, request_id: &str) -> (AuditEvent, AuditEvent) {
    let mut consumed = AuditEvent::new(EventKind::AuthorizationConsumed, auth.grantee.clone());
    consumed.authorization_id = Some(auth.id.clone());
    consumed.request_id = Some(request_id.into());
    let mut sealed = AuditEvent::new(EventKind::DocumentSealed, auth.grantee.clone());
    sealed.authorization_id = Some(auth.id.clone());
    sealed.request_id = Some(request_id.into());
    sealed.seal_id = Some(auth.seal_id.clone());
    (consumed, sealed)
}

pub async fn commit(
    store: &dyn Store,
    request_id: &str,
    auth: &Authorization,
    now: i64,
) -> Result<StampingRecord, StoreError> {
    let (consumed, sealed) = events_for(auth, request_id);
    store.commit_stamping(&stamping(request_id, auth), consumed, sealed, now).await
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A database of its own on the test binary's private PostgreSQL.
    Postgres,
}

/// The concrete store behind a [`TestStore`].
#[derive(Clone)]
pub enum Concrete {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// A store on a fresh database, usable as `&dyn Store`, that can be opened again and reached
/// with raw SQL (portable statements only) to play what happens behind the service's back.
pub struct TestStore {
    pub backend: Backend,
    pub concrete: Concrete,
    store: Arc<dyn Store>,
    /// The SQLite file's folder (kept alive) or the PostgreSQL URL.
    _dir: Option<tempfile::TempDir>,
    place: String,
}

impl TestStore {
    /// A store on a new empty database.
    pub async fn new(backend: Backend) -> TestStore {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let place = dir.path().display().to_string();
                let concrete = Concrete::Sqlite(open(dir.path()).await);
                TestStore { backend, store: concrete.as_store(), concrete, _dir: Some(dir), place }
            }
            Backend::Postgres => {
                let place = super::postgres::shared().new_database().await;
                let concrete = Concrete::Postgres(open_pg(&place).await);
                TestStore { backend, store: concrete.as_store(), concrete, _dir: None, place }
            }
        }
    }

    /// The same database opened again (as after a restart, or by another node).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        match self.backend {
            Backend::Sqlite => Arc::new(open(Path::new(&self.place)).await),
            Backend::Postgres => Arc::new(open_pg(&self.place).await),
        }
    }

    /// The store as shared by tasks.
    pub fn arc(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// Runs one SQL statement (valid on both backends) on the database; returns the rows changed.
    pub async fn execute(&self, sql: &'static str) -> u64 {
        match &self.concrete {
            Concrete::Sqlite(s) => {
                sqlx::query(sql).execute(s.pool()).await.unwrap().rows_affected()
            }
            Concrete::Postgres(s) => {
                sqlx::query(sql).execute(s.pool()).await.unwrap().rows_affected()
            }
        }
    }

    /// Runs one SQL query (valid on both backends) returning one integer.
    pub async fn scalar(&self, sql: &'static str) -> i64 {
        match &self.concrete {
            Concrete::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await.unwrap(),
            Concrete::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await.unwrap(),
        }
    }
}

impl Concrete {
    fn as_store(&self) -> Arc<dyn Store> {
        match self {
            Concrete::Sqlite(s) => Arc::new(s.clone()),
            Concrete::Postgres(s) => Arc::new(s.clone()),
        }
    }
}

impl Deref for TestStore {
    type Target = dyn Store;
    fn deref(&self) -> &(dyn Store + 'static) {
        &*self.store
    }
}

/// A PostgreSQL store on `url` with the default options.
pub async fn open_pg(url: &str) -> PgStore {
    PgStore::open(url, ORIGIN, PgOptions::default()).await.expect("open the PostgreSQL store")
}

/// Instantiates each named `async fn(TestStore)` of the calling file as a test on each backend:
/// `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::common::store::TestStore::new(super::common::store::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::common::store::TestStore::new(super::common::store::Backend::Postgres).await).await
                }
            )*
        }
    };
}
