//! Group commit of the frequent writes: audit appends, grants and stampings.
//!
//! One task (the writer) takes every write that is waiting, applies them in one `BEGIN
//! IMMEDIATE` transaction, commits once (one fsync), and only then answers each caller. The
//! code is shared with the PostgreSQL backend (`store/sql/group_commit.rs`). Each
//! write keeps its own outcome: one that is refused (an authorization already used, a seal
//! suspended meanwhile, a request id taken) changes nothing and the others still commit. A
//! database failure fails the whole batch, and every caller hears it: nothing of it is
//! visible.
//!
//! Why: a stamping made in its own transaction takes the write lock for about fifteen round
//! trips to SQLite's worker thread and one fsync; under load the service spent more time
//! handing work between threads than sealing. In a batch, a stamping costs no statement of its
//! own: the batch reads the seals, request ids and authorizations it names once, decides each
//! stamping in memory in batch order under the write lock, and writes the consumptions, the
//! audit records, the stampings and the Merkle tree nodes with a few statements.
//!
//! Each write is applied with the rules of its [`Store`](super::super::Store) method:
//! * a stamping consumes its authorization only if it is active and unexpired, and only while
//!   its seal is active; its two records (`authorization_consumed`, `document_sealed`) are
//!   consecutive;
//! * a grant is stored only while its seal exists and is active;
//! * an append is always written.

include!("../sql/group_commit.rs");
