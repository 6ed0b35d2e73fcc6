//! Group commit of the frequent writes: audit appends, grants and stampings.
//!
//! Group commit (the code is the SQLite backend's, `store/sql/group_commit.rs`): one task (the writer) takes every
//! write that is waiting, applies them in one transaction that starts by locking the log head
//! (so the batches of all nodes are serialized), commits once, and only then answers each
//! caller. Each
//! write keeps its own outcome: one that is refused (an authorization already used, a seal
//! suspended meanwhile, a request id taken) changes nothing and the others still commit. A
//! database failure fails the whole batch, and every caller hears it: nothing of it is
//! visible.
//!
//! PostgreSQL aborts the whole transaction on the first failed statement, so a refused write
//! must never be a failed statement: authorizations are inserted with `ON CONFLICT DO NOTHING`,
//! and seals, request ids and the authorizations to consume are checked with reads under the
//! lock, then consumed with one conditional `UPDATE ... FROM (VALUES ...)`. A failed batch (the database lost, say) is answered to every caller
//! with the error and the writer goes on with the next one: it never stops while the store is
//! open.
//!
//! Why: a stamping made in its own transaction holds the log head lock for about fifteen round
//! trips to the database and one WAL flush, and every node's writes queue on that lock. In a
//! batch, a stamping costs no statement of its own: the reads, the consumptions, the audit
//! records, the stampings and the Merkle tree nodes take a few statements for the whole batch.
//!
//! Each write is applied with the rules of its [`Store`](super::super::Store) method:
//! * a stamping consumes its authorization only if it is active and unexpired, and only while
//!   its seal is active; its two records (`authorization_consumed`, `document_sealed`) are
//!   consecutive;
//! * a grant is stored only while its seal exists and is active;
//! * an append is always written.

include!("../sql/group_commit.rs");
