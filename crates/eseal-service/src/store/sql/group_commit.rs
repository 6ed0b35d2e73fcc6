// The group commit shared by the SQL backends, `include!`d into each backend's `batch`
// module (see the `sql` module's documentation and each `batch` module's): names resolve in
// the backend's module (`Conn`, `DbPool`, `begin_write`, the append path).

use std::collections::{HashMap, HashSet};

use sqlx::{AssertSqlSafe, Row};
use tokio::sync::{mpsc, oneshot};

use super::{
    Conn, DbPool, append_in_memory, authorization_from_row, begin_write, log_len_and_latest_checkpoint, not_active, put_leaves,
    restored_backup,
};
use eseal_audit::AuditEvent;
use eseal_audit::merkle::Hash;
use crate::policy::{Authorization, AuthorizationState};
use crate::seal::SealState;
use crate::store::sql::{placeholders, rows};
use crate::store::{StampingLimits, StampingRecord, StoreError, signed, unsigned};

/// At most this many waiting writes share one transaction.
pub(super) const MAX_BATCH: usize = 1024;

/// Rows per multi-row `INSERT` into `audit_log` (3 parameters each).
const RECORDS_PER_INSERT: usize = 256;
/// Rows per multi-row `INSERT` into `stampings` (14 parameters each).
const STAMPINGS_PER_INSERT: usize = 64;
/// Identifiers per `IN (...)` lookup.
const IDS_PER_QUERY: usize = 256;
/// Consumptions per `UPDATE` (3 parameters each).
const CONSUMPTIONS_PER_UPDATE: usize = 256;

/// A write waiting for the next group commit. (An `Append` is the most frequent write: its
/// event stays unboxed, one allocation fewer per record.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(super) enum Write {
    /// An audit record for an event without a state change.
    Append(AuditEvent),
    /// A new authorization and its record.
    Grant(Box<Authorization>, AuditEvent),
    /// A stamping: consume, two records, the stamping row.
    Stamping(Box<StampingRecord>, AuditEvent, AuditEvent),
}

/// What a committed write returns.
#[derive(Debug)]
pub(super) enum Written {
    /// The sequence number of the write's (last) audit record.
    Sequence(u64),
    /// The stamping as stored.
    Stamping(Box<StampingRecord>),
}

/// A write, its time, and where to answer.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) write: Write,
    pub(super) now: i64,
    pub(super) reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// The writer: runs until every sender is dropped. `limits` are read for each batch (they
/// are set at start, after the writer is running).
pub(super) async fn run(pool: DbPool, origin: String, mut waiting: mpsc::Receiver<Pending>, limits: std::sync::Arc<std::sync::RwLock<StampingLimits>>) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let limits = limits.read().unwrap_or_else(|p| p.into_inner()).clone();
        match commit(&pool, &origin, &batch, &limits).await {
            Ok(outcomes) => {
                for (pending, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = pending.reply.send(outcome);
                }
            }
            Err(e) => {
                for pending in batch {
                    let _ = pending.reply.send(Err(e.duplicate()));
                }
            }
        }
    }
}

/// The records and rows a batch writes at its end, in the order of their sequence numbers.
struct Log {
    origin: String,
    /// The log's length before the batch.
    start: u64,
    /// (sequence, time, canonical JSON) of each new record.
    records: Vec<(u64, i64, Vec<u8>)>,
    /// The leaf hash of each new record.
    leaves: Vec<Hash>,
}

impl Log {
    /// Numbers and encodes the next record.
    fn append(&mut self, event: AuditEvent, now: i64) -> u64 {
        let sequence = self.start + 1 + self.records.len() as u64;
        let (bytes, leaf) = append_in_memory(&self.origin, sequence, event, now);
        self.records.push((sequence, now, bytes));
        self.leaves.push(leaf);
        sequence
    }
}

/// Applies `batch` in one transaction; `Err` when the transaction as a whole failed.
async fn commit(pool: &DbPool, origin: &str, batch: &[Pending], limits: &StampingLimits) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
    let mut tx = begin_write(pool).await?;
    let (len, checkpointed) = log_len_and_latest_checkpoint(&mut tx).await?;
    if let Some(size) = checkpointed.filter(|&size| size > len) {
        return Err(restored_backup(len, size));
    }
    let seal_ids: Vec<&str> = batch
        .iter()
        .filter_map(|p| match &p.write {
            Write::Grant(a, _) => Some(a.seal_id.as_str()),
            Write::Stamping(s, _, _) => Some(s.seal_id.as_str()),
            Write::Append(_) => None,
        })
        .collect();
    let seal_states = seal_states(&mut tx, &seal_ids).await?;
    let request_ids: Vec<&str> =
        batch.iter().filter_map(|p| if let Write::Stamping(s, _, _) = &p.write { Some(s.request_id.as_str()) } else { None }).collect();
    let mut taken_requests = recorded_requests(&mut tx, &request_ids).await?;
    let authorization_ids: HashSet<&str> =
        batch.iter().filter_map(|p| if let Write::Stamping(s, _, _) = &p.write { Some(s.authorization_id.as_str()) } else { None }).collect();
    // Read once under the write lock and consumed in memory, in batch order: nothing else can
    // change them until the commit, and one UPDATE at the end writes every consumption.
    let mut authorizations = authorizations_by_id(&mut tx, &authorization_ids).await?;
    let mut consumptions = Vec::new();

    let mut log = Log { origin: origin.to_string(), start: len, records: Vec::new(), leaves: Vec::new() };
    let mut stampings = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for pending in batch {
        let now = pending.now;
        let outcome = match &pending.write {
            Write::Append(event) => Ok(Written::Sequence(log.append(event.clone(), now))),
            Write::Grant(authorization, audit) => match seal_usable(&seal_states, &authorization.seal_id) {
                Err(refusal) => Err(refusal),
                Ok(()) => match insert_authorization(&mut tx, authorization).await? {
                    Err(refusal) => Err(refusal),
                    Ok(()) => {
                        // Only a stamping of the same batch could name it (one that started
                        // before the grant was answered, so it will be refused as unknown
                        // or find it here, as it would have found the row).
                        if authorization_ids.contains(&authorization.id.as_str()) {
                            authorizations.insert(authorization.id.clone(), (**authorization).clone());
                        }
                        Ok(Written::Sequence(log.append(audit.clone(), now)))
                    }
                },
            },
            Write::Stamping(stamping, consumed, sealed) => {
                let refusal = match seal_usable(&seal_states, &stamping.seal_id) {
                    Err(refusal) => Some(refusal),
                    Ok(()) if taken_requests.contains(&(stamping.principal.clone(), stamping.request_id.clone())) => {
                        Some(StoreError::AlreadyExists { what: "stamping", id: stamping.request_id.clone() })
                    }
                    Ok(()) => match limit_reached(&mut tx, limits, &stamping.seal_id, &stampings).await? {
                        Some(refusal) => Some(refusal),
                        None => consume(&mut authorizations, stamping, now).err(),
                    },
                };
                match refusal {
                    Some(refusal) => Err(refusal),
                    None => {
                        taken_requests.insert((stamping.principal.clone(), stamping.request_id.clone()));
                        consumptions.push((stamping.authorization_id.as_str(), now, stamping.request_id.as_str()));
                        log.append(consumed.clone(), now);
                        let audit_sequence = log.append(sealed.clone(), now);
                        let record = StampingRecord { audit_sequence, ..(**stamping).clone() };
                        stampings.push(record.clone());
                        Ok(Written::Stamping(Box::new(record)))
                    }
                }
            }
        };
        outcomes.push(outcome);
    }
    write_consumptions(&mut tx, &consumptions).await?;
    // The records first: each stamping row refers to its record.
    insert_records(&mut tx, &log.records).await?;
    insert_stampings(&mut tx, &stampings).await?;
    put_leaves(&mut tx, len, &log.leaves).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// The states of the seals among `ids` that exist.
async fn seal_states(conn: &mut Conn, ids: &[&str]) -> Result<HashMap<String, SealState>, StoreError> {
    let mut unique: Vec<&str> = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let mut states = HashMap::new();
    for chunk in unique.chunks(IDS_PER_QUERY) {
        let sql = format!("SELECT id, state FROM seals WHERE id IN ({})", placeholders(chunk.len()));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let state: String = row.try_get(1)?;
            let state = SealState::parse(&state).ok_or_else(|| super::corrupt(&format!("unknown seal state {state:?}")))?;
            states.insert(row.try_get(0)?, state);
        }
    }
    Ok(states)
}

/// The (principal, request id) pairs of stampings recorded under any of `ids` (request ids
/// are each principal's own: the caller matches the pair).
async fn recorded_requests(conn: &mut Conn, ids: &[&str]) -> Result<HashSet<(String, String)>, StoreError> {
    let mut taken = HashSet::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let sql = format!("SELECT principal, request_id FROM stampings WHERE request_id IN ({})", placeholders(chunk.len()));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            taken.insert((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(taken)
}

/// Whether the seal exists and is active, as read at the start of the batch (the batch holds
/// the backend's write lock, which every change of a seal takes too).
fn seal_usable(states: &HashMap<String, SealState>, id: &str) -> Result<(), StoreError> {
    match states.get(id) {
        Some(state) => crate::policy::check_seal_state(id, *state).map_err(StoreError::Refused),
        None => Err(StoreError::NotFound { what: "seal", id: id.to_string() }),
    }
}

/// Inserts a new authorization: the inner `Err` is the refusal of this grant alone (its id is
/// taken, which `ON CONFLICT DO NOTHING` reports as no row inserted: PostgreSQL would abort the
/// whole transaction on a failed statement); the outer one a failure of the database.
async fn insert_authorization(conn: &mut Conn, authorization: &Authorization) -> Result<Result<(), StoreError>, StoreError> {
    let (closed_at, consumed_by, revoked_by) = match &authorization.state {
        AuthorizationState::Active => (None, None, None),
        AuthorizationState::Consumed { at, request_id } => (Some(*at), Some(request_id.as_str()), None),
        AuthorizationState::Revoked { at, by } => (Some(*at), None, Some(by.as_str())),
    };
    let inserted = sqlx::query(concat!(
        "INSERT INTO authorizations (",
        authorization_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING"
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
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Err(StoreError::AlreadyExists { what: "authorization", id: authorization.id.clone() }));
    }
    Ok(Ok(()))
}

/// The refusal of a stamping with a seal that has made as many stampings as its limit allows:
/// those committed and those of this batch before it (`batch`), counted under the write lock
/// (SQLite's, or the log head row's on PostgreSQL), so concurrent stampings on any node cannot
/// overshoot.
async fn limit_reached(conn: &mut Conn, limits: &StampingLimits, seal_id: &str, batch: &[StampingRecord]) -> Result<Option<StoreError>, StoreError> {
    let Some(max) = limits.limit(seal_id) else {
        return Ok(None);
    };
    let committed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stampings WHERE seal_id = $1").bind(seal_id).fetch_one(&mut *conn).await?;
    let made = unsigned(committed, "stamping count")? + batch.iter().filter(|s| s.seal_id == seal_id).count() as u64;
    Ok((made >= max).then(|| StoreError::LimitReached { seal: seal_id.to_string(), max }))
}

/// The authorizations among `ids` that exist, by id.
async fn authorizations_by_id(conn: &mut Conn, ids: &HashSet<&str>) -> Result<HashMap<String, Authorization>, StoreError> {
    let mut unique: Vec<&str> = ids.iter().copied().collect();
    unique.sort_unstable();
    let mut found = HashMap::with_capacity(unique.len());
    for chunk in unique.chunks(IDS_PER_QUERY) {
        let sql = format!("SELECT {} FROM authorizations WHERE id IN ({})", authorization_columns!(), placeholders(chunk.len()));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let authorization = authorization_from_row(&row)?;
            found.insert(authorization.id.clone(), authorization);
        }
    }
    Ok(found)
}

/// Consumes the stamping's authorization in `authorizations` (the batch's view of them): only
/// an active one, unexpired at `now`. `Err` says why it cannot be consumed.
fn consume(authorizations: &mut HashMap<String, Authorization>, stamping: &StampingRecord, now: i64) -> Result<(), StoreError> {
    let id = &stamping.authorization_id;
    match authorizations.get_mut(id) {
        Some(authorization) => {
            crate::policy::check_usable(authorization, Some(now)).map_err(StoreError::Refused)?;
            authorization.state = AuthorizationState::Consumed { at: now, request_id: stamping.request_id.clone() };
            Ok(())
        }
        None => Err(not_active(None, id, Some(now))),
    }
}

/// Writes the batch's consumptions (authorization id, time, request id), many per statement.
/// Each was decided under the write lock from the rows read at the batch's start, so each
/// must change exactly one row; anything else is a broken invariant and fails the whole batch.
async fn write_consumptions(conn: &mut Conn, consumptions: &[(&str, i64, &str)]) -> Result<(), StoreError> {
    for chunk in consumptions.chunks(CONSUMPTIONS_PER_UPDATE) {
        // VALUES columns are named column1.. by both SQLite and PostgreSQL.
        let sql = format!(
            "UPDATE authorizations SET state = 'consumed', closed_at = c.column2, consumed_by_request = c.column3 \
             FROM (VALUES {}) AS c \
             WHERE authorizations.id = c.column1 AND authorizations.state = 'active' AND authorizations.expires_at >= c.column2",
            rows(chunk.len(), 3)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (id, now, request_id) in chunk {
            query = query.bind(*id).bind(*now).bind(*request_id);
        }
        let changed = query.execute(&mut *conn).await?.rows_affected();
        if changed != chunk.len() as u64 {
            let ids: Vec<&str> = chunk.iter().map(|(id, ..)| *id).collect();
            return Err(super::corrupt(&format!(
                "consuming authorizations {} changed {changed} rows instead of {} although the batch held the write lock",
                ids.join(", "),
                chunk.len()
            )));
        }
    }
    Ok(())
}

/// Inserts the batch's audit records, several rows per statement.
async fn insert_records(conn: &mut Conn, records: &[(u64, i64, Vec<u8>)]) -> Result<(), StoreError> {
    for chunk in records.chunks(RECORDS_PER_INSERT) {
        let sql = format!("INSERT INTO audit_log (sequence, time, record) VALUES {}", rows(chunk.len(), 3));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (sequence, time, bytes) in chunk {
            query = query.bind(signed(*sequence, "audit sequence")?).bind(*time).bind(bytes.as_slice());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts the batch's stampings, several rows per statement (their request ids were checked
/// to be free under the backend's write lock).
async fn insert_stampings(conn: &mut Conn, stampings: &[StampingRecord]) -> Result<(), StoreError> {
    for chunk in stampings.chunks(STAMPINGS_PER_INSERT) {
        let sql = format!("INSERT INTO stampings ({}) VALUES {}", stamping_columns!(), rows(chunk.len(), 14));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for s in chunk {
            query = query
                .bind(&s.request_id)
                .bind(&s.principal)
                .bind(&s.seal_id)
                .bind(&s.authorization_id)
                .bind(&s.case_number)
                .bind(&s.input_sha256[..])
                .bind(&s.output_sha256[..])
                .bind(signed(s.output_size, "output size")?)
                .bind(s.signing_time)
                .bind(&s.field_name)
                .bind(&s.cms)
                .bind(&s.cms_sha256[..])
                .bind(&s.options_json)
                .bind(signed(s.audit_sequence, "audit sequence")?);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
