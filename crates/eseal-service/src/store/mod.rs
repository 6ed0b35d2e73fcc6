//! Persistence of the service behind one trait, [`Store`], with one backend per database:
//! [`SqliteStore`] (embedded, the default) and [`PgStore`] (PostgreSQL, shared by several
//! service nodes).
//!
//! Every state change (a seal registered or moved, an authorization granted, revoked or
//! consumed, a document sealed) appends its audit record in the same transaction as the
//! change: a record is never written for a change that did not happen, and no change happens
//! without its record. The store numbers the records (from 1, without gaps) and keeps their
//! canonical JSON; what they say is the caller's business ([`eseal_audit`]).
//!
//! The SQL is kept portable (`$1` placeholders, INTEGER/TEXT/BLOB columns, no backend-specific
//! functions outside connection setup) so that both backends run the same code (module `sql`);
//! migrations are kept per backend under `migrations/<backend>/`.

#[macro_use]
mod sql;
mod postgres;
mod sqlite;

pub mod offline;
pub use postgres::{PgOptions, PgStore};
pub use sqlite::SqliteStore;

use thiserror::Error;

use crate::policy::{Authorization, PolicyError};
use crate::seal::{Seal, SealState};
use eseal_audit::AuditEvent;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The record does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked for: `"seal"`, `"authorization"` or `"stamping"`.
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// A record with this identifier exists already.
    #[error("{what} {id} already exists")]
    AlreadyExists {
        /// What was inserted: `"seal"`, `"authorization"` or `"stamping"`.
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// The state changed under us in a way no rule names (an authorization changed while it
    /// was being revoked, a seal not in the state a transition starts from), or a request
    /// contradicts itself or the stored data (a custodian listed twice, a page token the store
    /// did not issue: check tokens first with [`Page::is_valid_token`] to answer those as bad
    /// arguments, a tree size beyond the log). The message says what. A refusal a rule of the
    /// policy names is [`StoreError::Refused`].
    #[error("{0}")]
    Conflict(String),
    /// A rule of the policy refused the change when the store applied it to the state it
    /// holds (an authorization consumed, revoked or expired since the caller checked it, a
    /// seal suspended meanwhile): the same refusal the policy gives before.
    #[error(transparent)]
    Refused(PolicyError),
    /// The seal has made every stamping its key is permitted
    /// (keys.max_stampings_per_key / max_stampings_per_seal).
    #[error(
        "seal {seal} has made all {max} stampings its key is permitted (keys.max_stampings_per_key / max_stampings_per_seal); nothing was consumed: register a new seal (new key and certificate) or raise the limit"
    )]
    LimitReached {
        /// The seal.
        seal: String,
        /// Its limit.
        max: u64,
    },
    /// The seal's key reference, certificate or public key is registered to another seal
    /// (revoked or not): a key serves one seal, for good.
    #[error(
        "the {what} is already registered to seal {seal}; a key and its certificate serve one seal only, for good: register a new key and certificate"
    )]
    KeyInUse {
        /// `"key reference"`, `"certificate"` or `"public key"`.
        what: &'static str,
        /// The seal that holds it.
        seal: String,
    },
    /// The database failed; the message is the driver's.
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be reached (refused or lost connection, no connection free in
    /// time, server shutting down); the same call may succeed once it is back. A connection
    /// lost while a change was being committed leaves its outcome unknown to the caller: a
    /// retry with the same request id finds it stored (and replays it) or makes it. The
    /// message says what failed.
    #[error("the database is unavailable ({0}); try again when it is back")]
    Unavailable(String),
}

impl StoreError {
    /// The same error again (for answering every append of a failed group commit).
    pub fn duplicate(&self) -> StoreError {
        match self {
            StoreError::NotFound { what, id } => StoreError::NotFound { what, id: id.clone() },
            StoreError::AlreadyExists { what, id } => {
                StoreError::AlreadyExists { what, id: id.clone() }
            }
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            StoreError::Refused(e) => StoreError::Refused(e.clone()),
            StoreError::LimitReached { seal, max } => {
                StoreError::LimitReached { seal: seal.clone(), max: *max }
            }
            StoreError::KeyInUse { what, seal } => {
                StoreError::KeyInUse { what, seal: seal.clone() }
            }
            StoreError::Database(m) => StoreError::Database(m.clone()),
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if connection_lost(&error) {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Database(error.to_string())
        }
    }
}

/// Whether `error` means the database could not be reached or the connection was lost, as
/// opposed to a statement it refused: the pool found no working connection in time, the
/// socket failed, or the server says it cannot take connections or is shutting down
/// (SQLSTATE class 08, connection exception, and 57P01..57P03, admin or crash shutdown and
/// cannot connect now).
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => {
            e.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P0"))
        }
        _ => false,
    }
}

/// A stamping as recorded: enough to prove it and to replay it byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampingRecord {
    /// The client's request id (unique per principal).
    pub request_id: String,
    /// The principal that asked for the stamping.
    pub principal: String,
    /// The seal used.
    pub seal_id: String,
    /// The authorization consumed (each is consumed by at most one stamping).
    pub authorization_id: String,
    /// The case number.
    pub case_number: String,
    /// SHA-256 of the document received.
    pub input_sha256: [u8; 32],
    /// SHA-256 of the sealed document returned.
    pub output_sha256: [u8; 32],
    /// Size of the sealed document in bytes.
    pub output_size: u64,
    /// The signing time written into the signature (Unix seconds).
    pub signing_time: i64,
    /// The name of the signature field.
    pub field_name: String,
    /// The DER signature (CMS SignedData) embedded in the PDF.
    pub cms: Vec<u8>,
    /// SHA-256 of `cms`, for lookup by signature (verification).
    pub cms_sha256: [u8; 32],
    /// The seal options (placement, reason, ...) for replay; opaque to the store.
    pub options_json: String,
    /// The sequence number of the `document_sealed` audit record; filled in by
    /// [`Store::commit_stamping`] (the value passed in is ignored).
    pub audit_sequence: u64,
}

/// The most stampings a seal (its key) may make (`[keys] max_stampings_per_key`, `max_stampings_per_seal`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StampingLimits {
    /// For every seal without its own limit.
    pub default: Option<u64>,
    /// Per seal id.
    pub per_seal: std::collections::BTreeMap<String, u64>,
}

impl StampingLimits {
    /// No limit at all.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.per_seal.is_empty()
    }

    /// The limit of `seal_id`, if any.
    pub fn limit(&self, seal_id: &str) -> Option<u64> {
        self.per_seal.get(seal_id).copied().or(self.default)
    }
}

/// A signed checkpoint as stored: the tree head at `size` and the signed note over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size (number of records) it covers.
    pub size: u64,
    /// The root of the tree at `size` ([`Store::tree_root`]).
    pub root: [u8; 32],
    /// The C2SP signed note as issued; opaque to the store.
    pub note: String,
    /// When it was signed (Unix seconds).
    pub signed_at: i64,
}

/// Which authorizations to list; every field is optional and they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizationFilter {
    /// Only those for this seal.
    pub seal_id: Option<String>,
    /// Only those in this state.
    pub state: Option<AuthorizationStateFilter>,
    /// Only those granted to this principal.
    pub grantee: Option<String>,
    /// Only those granted at or after this time (Unix seconds, inclusive).
    pub granted_after: Option<i64>,
    /// Only those granted before this time (Unix seconds, exclusive).
    pub granted_before: Option<i64>,
}

/// The state an authorization is in, for listing. Expiry is not stored (an expired
/// authorization is still `active` in the table), so the filters that depend on it carry the
/// time to judge it at, with the rule of [`crate::policy`]: expired when `now > expires_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorizationStateFilter {
    /// Active and not expired at `now` (`expires_at >= now`).
    Active {
        /// The time to judge expiry at (Unix seconds).
        now: i64,
    },
    /// Consumed by a stamping.
    Consumed,
    /// Revoked by a custodian.
    Revoked,
    /// Still active in the table but expired at `now` (`expires_at < now`).
    Expired {
        /// The time to judge expiry at (Unix seconds).
        now: i64,
    },
}

/// One page of a listing: newest first (granted_at descending, then id descending).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// How many items at most; 0 means [`Page::DEFAULT_SIZE`], and more than
    /// [`Page::MAX_SIZE`] is capped.
    pub size: u32,
    /// Where to continue: the token returned with the previous page, or `None` for the first.
    /// Tokens are opaque and stay valid when items are inserted meanwhile (keyset paging).
    pub token: Option<String>,
}

impl Page {
    /// The page size used when none is asked.
    pub const DEFAULT_SIZE: u32 = 50;
    /// The largest page size served.
    pub const MAX_SIZE: u32 = 1000;

    /// The first page of `size` items.
    pub fn first(size: u32) -> Page {
        Page { size, token: None }
    }

    /// Whether `token` is one the store issued (well-formed); a listing with any other token
    /// fails with `Conflict`. Lets the caller answer a bad token as a bad argument.
    pub fn is_valid_token(token: &str) -> bool {
        decode_token(token).is_ok()
    }

    /// The size actually served.
    pub fn effective_size(&self) -> u32 {
        match self.size {
            0 => Page::DEFAULT_SIZE,
            n => n.min(Page::MAX_SIZE),
        }
    }
}

/// The persistence of the service. Times (`now`) are passed in by the caller, which owns the
/// clock; each method that changes state appends its audit record, numbered by the store, in
/// the same transaction, and returns that record's sequence number.
///
/// The store also keeps the audit log's RFC 9162 Merkle tree ([`eseal_audit::merkle`]): each
/// append adds the record's leaf and the subtrees it completes in the same transaction, so the
/// roots and proofs below cost `O(log n)` reads. Every append refuses (`Conflict`) when the log
/// is shorter than the latest saved checkpoint: the store was restored from an older backup,
/// and appending would fork the signed log.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Registers a seal (with its custodians) and appends `audit`. `AlreadyExists` if the id
    /// is taken. Returns the audit record's sequence number.
    async fn register_seal(
        &self,
        seal: &Seal,
        audit: AuditEvent,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// The seal with this id, if any.
    async fn seal(&self, id: &str) -> Result<Option<Seal>, StoreError>;

    /// All seals, ordered by id.
    async fn list_seals(&self) -> Result<Vec<Seal>, StoreError>;

    /// Compare-and-set: moves the seal from `from` to `to` only if it is in `from`, and
    /// appends `audit`. `Conflict` if it is in another state (or `from == to`, or `from` is
    /// the final state revoked); `NotFound` if absent. Returns the audit sequence number.
    async fn set_seal_state(
        &self,
        id: &str,
        from: SealState,
        to: SealState,
        audit: AuditEvent,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// Stores a new authorization and appends `audit`. `AlreadyExists` on a duplicate id,
    /// `NotFound` if the seal does not exist, `Conflict` if it is not active (suspended or
    /// revoked meanwhile). Returns the audit sequence number.
    async fn grant(
        &self,
        authorization: &Authorization,
        audit: AuditEvent,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// The authorization with this id, if any.
    async fn authorization(&self, id: &str) -> Result<Option<Authorization>, StoreError>;

    /// One page of the authorizations matching `filter`, newest first, and the token of the
    /// next page (`None` on the last page). `Conflict` for a token the store did not issue.
    async fn list_authorizations(
        &self,
        filter: &AuthorizationFilter,
        page: &Page,
    ) -> Result<(Vec<Authorization>, Option<String>), StoreError>;

    /// Revokes an ACTIVE authorization on behalf of `by` and appends `audit` (`Conflict` if it
    /// is consumed or revoked already, `NotFound` if absent). Returns the authorization as
    /// now stored and the audit sequence number.
    async fn revoke_authorization(
        &self,
        id: &str,
        by: &str,
        audit: AuditEvent,
        now: i64,
    ) -> Result<(Authorization, u64), StoreError>;

    /// The stamping `principal` made under this request id, if any (request ids are each
    /// principal's own).
    async fn stamping(
        &self,
        principal: &str,
        request_id: &str,
    ) -> Result<Option<StampingRecord>, StoreError>;

    /// The stamping `principal` recorded under `request_id` and the authorization
    /// `authorization_id` (each if any), read together in one snapshot: what a stamping request
    /// is checked against before its document is received.
    async fn stamping_and_authorization(
        &self,
        principal: &str,
        request_id: &str,
        authorization_id: &str,
    ) -> Result<(Option<StampingRecord>, Option<Authorization>), StoreError>;

    /// The stamping whose CMS signature has this SHA-256, if any.
    async fn stamping_by_cms(
        &self,
        cms_sha256: &[u8; 32],
    ) -> Result<Option<StampingRecord>, StoreError>;

    /// THE atomic step of one seal, one authorization, in one transaction:
    /// 1. consume the authorization (only if it is active and not expired at `now`);
    ///    otherwise `Conflict` saying why (already used, revoked, expired), or `NotFound`;
    /// 2. append the audit records `consumed` and then `sealed`;
    /// 3. insert the stamping with `audit_sequence` = the `sealed` record's sequence
    ///    (`AlreadyExists` if the principal used the request id already).
    ///
    /// Nothing of it is visible if any step fails. Returns the stored record.
    async fn commit_stamping(
        &self,
        stamping: &StampingRecord,
        consumed: AuditEvent,
        sealed: AuditEvent,
        now: i64,
    ) -> Result<StampingRecord, StoreError>;

    /// Appends one record for an event without a state change (refusals, checkpoints).
    /// Returns its sequence number.
    async fn append_audit(&self, event: AuditEvent, now: i64) -> Result<u64, StoreError>;

    /// At most `limit` records from `from_sequence` on, ascending: (sequence, canonical JSON).
    async fn audit_records(
        &self,
        from_sequence: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Like [`Store::audit_records`], and no more records than fit in `max_bytes` of record
    /// bytes in all; the first record is returned whatever its size, so that paging always
    /// moves on.
    async fn audit_records_within(
        &self,
        from_sequence: u64,
        limit: u32,
        max_bytes: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// The number of records in the log (which is also the last sequence number).
    async fn audit_len(&self) -> Result<u64, StoreError>;

    /// Closes the store's connections once the calls in progress are done (at shutdown).
    async fn close(&self) {}

    /// Sets the most stampings each seal may make, enforced by [`Store::commit_stamping`]
    /// in its transaction (`Conflict` saying so, nothing consumed). A backend that cannot
    /// enforce limits refuses any (the default), rather than ignoring them.
    fn set_stamping_limits(&self, limits: StampingLimits) -> Result<(), StoreError> {
        if limits.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Conflict("this store backend does not enforce stamping limits".into()))
        }
    }

    /// The RFC 9162 root of the first `size` records (0 gives the empty tree's root).
    /// `Conflict` when `size` is larger than the log.
    async fn tree_root(&self, size: u64) -> Result<[u8; 32], StoreError>;

    /// The inclusion proof of record `sequence` (from 1; leaf index `sequence - 1`) in the tree
    /// of the first `size` records, as [`eseal_audit::verify_inclusion`] checks it. `NotFound`
    /// when the record does not exist; `Conflict` when `size` is larger than the log or the
    /// record is not among the first `size`.
    async fn inclusion_proof(&self, sequence: u64, size: u64) -> Result<Vec<[u8; 32]>, StoreError>;

    /// The consistency proof from the tree of `old_size` records to the tree of `new_size`, as
    /// [`eseal_audit::verify_consistency`] checks it: empty when the sizes are equal or
    /// `old_size` is 0. `Conflict` when `new_size` is larger than the log or
    /// `old_size > new_size`.
    async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<[u8; 32]>, StoreError>;

    /// At most `limit` stored leaf hashes from record `from_sequence` on, ascending:
    /// (sequence, `SHA-256(0x00 || record)`).
    async fn leaf_hashes(
        &self,
        from_sequence: u64,
        limit: u32,
    ) -> Result<Vec<(u64, [u8; 32])>, StoreError>;

    /// The checkpoint of the largest size, if any was saved.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The checkpoint signed at exactly this size, if any.
    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Every checkpoint, ascending by size.
    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// Stores a checkpoint the caller signed over `tree_root(size)`, and appends its
    /// `checkpoint_signed` audit record (`audit`, whose event must be that kind), in one
    /// transaction; returns the record's sequence number.
    ///
    /// Refuses (`Conflict`) when `size` is smaller than the latest checkpoint's, equal with
    /// another root, or larger than the log, or when `root` is not the stored tree's root at
    /// `size`. Saving again the very checkpoint stored at that size (same root and note: a
    /// retry) changes nothing and returns the sequence of the record appended the first time;
    /// the same size and root with another note is refused too (one checkpoint per size).
    async fn save_checkpoint(
        &self,
        checkpoint: &StoredCheckpoint,
        audit: AuditEvent,
        now: i64,
    ) -> Result<u64, StoreError>;
}

/// Encodes a certificate chain for storage: each certificate as a 4-byte big-endian length
/// followed by its DER bytes, concatenated.
fn encode_chain(chain: &[Vec<u8>]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(chain.iter().map(|c| c.len() + 4).sum());
    for certificate in chain {
        let length = u32::try_from(certificate.len()).map_err(|_| {
            StoreError::Database("a certificate of the chain is larger than 4 GiB".into())
        })?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(certificate);
    }
    Ok(out)
}

/// Decodes what [`encode_chain`] wrote.
fn decode_chain(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut chain = Vec::new();
    while !bytes.is_empty() {
        let (length, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("certificate chain: truncated length"))?;
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            return Err(corrupt("certificate chain: truncated certificate"));
        }
        let (certificate, rest) = rest.split_at(length);
        chain.push(certificate.to_vec());
        bytes = rest;
    }
    Ok(chain)
}

/// The page token for the position after (granted_at, id): hex of `"<granted_at>:<id>"`.
fn encode_token(granted_at: i64, id: &str) -> String {
    format!("{granted_at}:{id}").bytes().map(|b| format!("{b:02x}")).collect()
}

/// Reads a token written by [`encode_token`].
fn decode_token(token: &str) -> Result<(i64, String), StoreError> {
    let bad =
        || StoreError::Conflict(format!("page token {token:?} was not issued by this service"));
    if token.len() % 2 != 0 || !token.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (granted_at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((granted_at.parse().map_err(|_| bad())?, id.to_string()))
}

/// SHA-256 of a seal's certificate (the chain's first, DER) and of its public key
/// (SubjectPublicKeyInfo, DER): how the registry knows a key whatever reference names it.
/// `None` for what cannot be read.
fn key_fingerprints(chain: &[Vec<u8>]) -> (Option<[u8; 32]>, Option<[u8; 32]>) {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let sha256 = |bytes: &[u8]| {
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        out
    };
    let Some(certificate) = chain.first() else {
        return (None, None);
    };
    let public_key =
        X509Certificate::from_der(certificate).ok().map(|(_, c)| sha256(c.public_key().raw));
    (Some(sha256(certificate)), public_key)
}

/// A stored value that cannot be read back.
fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("corrupt stored data: {what}"))
}

/// A stored 32-byte digest.
fn digest(bytes: Vec<u8>, column: &str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| corrupt(&format!("{column} is {} bytes, not 32", bytes.len())))
}

/// A stored non-negative integer.
fn unsigned(value: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(&format!("{column} is negative ({value})")))
}

/// A non-negative integer to store (databases have signed 64-bit integers).
fn signed(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Database(format!("{what} {value} is too large to store")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_round_trip() {
        let chain = vec![vec![0x30, 0x03, 1, 2, 3], vec![], vec![0xff; 300]];
        let encoded = encode_chain(&chain).unwrap();
        assert_eq!(&encoded[..4], &[0, 0, 0, 5]);
        assert_eq!(encoded.len(), 5 + 300 + 3 * 4, "three lengths, one of them 0");
        assert_eq!(decode_chain(&encoded).unwrap(), chain);
        assert_eq!(decode_chain(&[]).unwrap(), Vec::<Vec<u8>>::new());
        assert!(decode_chain(&encoded[..encoded.len() - 1]).is_err());
        assert!(decode_chain(&[0, 0, 1]).is_err());
    }

    #[test]
    fn token_round_trip_and_rejects_garbage() {
        let token = encode_token(1_800_000_000, "auth:42/é");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode_token(&token).unwrap(), (1_800_000_000, "auth:42/é".to_string()));
        assert!(Page::is_valid_token(&token));
        assert_eq!(decode_token(&encode_token(-5, "")).unwrap(), (-5, String::new()));
        for garbage in ["", "abc", "zz", "3132", "é1", &encode_token(0, "x")[2..]] {
            assert!(matches!(decode_token(garbage), Err(StoreError::Conflict(_))), "{garbage:?}");
            assert!(!Page::is_valid_token(garbage));
        }
    }

    #[test]
    fn page_sizes() {
        assert_eq!(Page::first(0).effective_size(), Page::DEFAULT_SIZE);
        assert_eq!(Page::first(3).effective_size(), 3);
        assert_eq!(Page::first(u32::MAX).effective_size(), Page::MAX_SIZE);
    }

    #[test]
    fn conversions() {
        assert!(digest(vec![0; 31], "x").is_err());
        assert_eq!(digest(vec![7; 32], "x").unwrap(), [7; 32]);
        assert!(unsigned(-1, "x").is_err());
        assert!(signed(u64::MAX, "x").is_err());
        assert_eq!(signed(5, "x").unwrap(), 5);
    }
}
