//! The store's Merkle tree and checkpoints on both backends (a real SQLite file, a private
//! PostgreSQL; see tests/common/store.rs): roots, proofs
//! and leaf hashes checked against a tree computed independently from the stored records, the
//! checkpoint rules, the restored-backup guard, the rebuild of a database migrated from before
//! the tree, and a rough append throughput (printed, not asserted).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use eseal_audit::merkle::{
    EMPTY_ROOT, MemoryStore, MerkleTree, leaf_hash, verify_consistency, verify_inclusion,
};
use eseal_audit::{AuditEvent, AuditRecord, EventKind};
use eseal_audit::{Checkpoint, LogSigner};
use eseal_service::policy::{Authorization, AuthorizationState, PolicyError};
use eseal_service::seal::SealState;
mod common;

use common::store::{ORIGIN, TestStore, commit, event, open, seal};
use eseal_service::store::{Store, StoreError, StoredCheckpoint};

/// An authorization for the department `dept`, granted at 100.
fn authorization(id: &str, seal_id: &str, expires_at: i64) -> Authorization {
    common::store::authorization(id, seal_id, "dept", 100, expires_at)
}

fn refusal(i: usize) -> AuditEvent {
    let mut refusal = event(EventKind::CallRefused);
    refusal.reason = Some(format!("refusal {i}"));
    refusal
}

/// The tree computed here from the stored records' bytes, independently of the store's nodes;
/// also checks the records are numbered 1..=N.
async fn independent_tree(store: &dyn Store) -> (MerkleTree<MemoryStore>, Vec<Vec<u8>>) {
    let rows = store.audit_records(1, u32::MAX).await.unwrap();
    let mut tree = MerkleTree::in_memory();
    let mut records = Vec::new();
    for (i, (sequence, bytes)) in rows.into_iter().enumerate() {
        assert_eq!(sequence, i as u64 + 1);
        assert_eq!(AuditRecord::from_json(&bytes).unwrap().sequence, sequence);
        tree.append(leaf_hash(&bytes)).unwrap();
        records.push(bytes);
    }
    (tree, records)
}

/// Mixed operations: seals, grants, stampings (successes and refusals), revocations, seal
/// state changes, refusals. Returns the number of records.
async fn mixed_operations(store: &dyn Store) -> u64 {
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    store.register_seal(&seal("s2"), event(EventKind::SealRegistered), 2).await.unwrap();
    let mut auths = Vec::new();
    for i in 0..8 {
        let a = authorization(
            &format!("a{i}"),
            if i % 2 == 0 { "s1" } else { "s2" },
            if i == 7 { 150 } else { 10_000 },
        );
        store.grant(&a, event(EventKind::AuthorizationGranted), 100 + i).await.unwrap();
        auths.push(a);
    }
    for (i, a) in auths.iter().enumerate().take(5) {
        commit(store, &format!("req-{i}"), a, 200).await.unwrap();
    }
    // Refused: used again, expired, unknown; each refusal audited as the service does.
    assert!(matches!(
        commit(store, "req-again", &auths[0], 201).await,
        Err(StoreError::Refused(PolicyError::AlreadyUsed { .. }))
    ));
    store.append_audit(refusal(0), 201).await.unwrap();
    assert!(matches!(
        commit(store, "req-expired", &auths[7], 201).await,
        Err(StoreError::Refused(PolicyError::Expired { .. }))
    ));
    store.append_audit(refusal(1), 201).await.unwrap();
    assert!(matches!(
        commit(store, "req-ghost", &authorization("ghost", "s1", 10_000), 201).await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .revoke_authorization("a5", "wang", event(EventKind::AuthorizationRevoked), 202)
        .await
        .unwrap();
    assert!(matches!(
        commit(store, "req-revoked", &auths[5], 203).await,
        Err(StoreError::Refused(PolicyError::Revoked { .. }))
    ));
    store
        .set_seal_state(
            "s2",
            SealState::Active,
            SealState::Suspended,
            event(EventKind::SealSuspended),
            204,
        )
        .await
        .unwrap();
    assert!(
        store
            .set_seal_state(
                "s2",
                SealState::Active,
                SealState::Suspended,
                event(EventKind::SealSuspended),
                204
            )
            .await
            .is_err()
    );
    store
        .set_seal_state(
            "s2",
            SealState::Suspended,
            SealState::Active,
            event(EventKind::SealResumed),
            205,
        )
        .await
        .unwrap();
    commit(store, "req-6", &auths[6], 206).await.unwrap();
    for i in 2..7 {
        store.append_audit(refusal(i), 207).await.unwrap();
    }
    store.audit_len().await.unwrap()
}

/// A checkpoint over the store's tree at `size`, signed as the service signs them.
async fn signed_checkpoint(
    store: &dyn Store,
    signer: &LogSigner,
    size: u64,
    signed_at: i64,
) -> StoredCheckpoint {
    let root = store.tree_root(size).await.unwrap();
    let note = signer.sign(&Checkpoint { origin: ORIGIN.into(), size, root }).unwrap();
    StoredCheckpoint { size, root, note, signed_at }
}

fn signer() -> LogSigner {
    LogSigner::from_seed("eseal.test/log", &[7; 32]).unwrap()
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(message)) => message,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

async fn roots_proofs_and_leaves_match_an_independent_tree(fixture: TestStore) {
    let store = &*fixture;
    assert_eq!(store.tree_root(0).await.unwrap(), EMPTY_ROOT);
    let n = mixed_operations(store).await;
    assert_eq!(n, 2 + 8 + 10 + 2 + 1 + 2 + 2 + 5, "records of the mixed operations");
    let (reference, records) = independent_tree(store).await;
    assert_eq!(reference.size(), n);

    for size in 0..=n {
        let root = store.tree_root(size).await.unwrap();
        assert_eq!(root, reference.root(size).unwrap(), "root at {size}");
        for sequence in 1..=size {
            let proof = store.inclusion_proof(sequence, size).await.unwrap();
            let leaf = leaf_hash(&records[sequence as usize - 1]);
            assert!(
                verify_inclusion(&leaf, sequence - 1, size, &proof, &root),
                "inclusion of {sequence} in {size}"
            );
            assert_eq!(proof, reference.inclusion_proof(sequence - 1, size).unwrap());
        }
    }
    for new in 1..=n {
        let new_root = store.tree_root(new).await.unwrap();
        for old in 0..=new {
            let old_root = store.tree_root(old).await.unwrap();
            let proof = store.consistency_proof(old, new).await.unwrap();
            assert!(
                verify_consistency(old, new, &old_root, &new_root, &proof),
                "consistency {old} -> {new}"
            );
        }
    }

    // Leaf hashes, paged.
    let leaves = store.leaf_hashes(1, u32::MAX).await.unwrap();
    let expected: Vec<(u64, [u8; 32])> =
        records.iter().enumerate().map(|(i, r)| (i as u64 + 1, leaf_hash(r))).collect();
    assert_eq!(leaves, expected);
    assert_eq!(store.leaf_hashes(5, 3).await.unwrap(), expected[4..7].to_vec());
    assert_eq!(store.leaf_hashes(0, 2).await.unwrap(), expected[..2].to_vec());
    assert!(store.leaf_hashes(n + 1, 10).await.unwrap().is_empty());
    assert!(store.leaf_hashes(u64::MAX, 10).await.unwrap().is_empty());

    // Bad arguments: errors saying why, never a panic.
    assert!(conflict(store.tree_root(n + 1).await).contains("larger than the audit log"));
    assert!(conflict(store.tree_root(u64::MAX).await).contains("larger than the audit log"));
    assert!(matches!(
        store.inclusion_proof(0, n).await,
        Err(StoreError::NotFound { what: "audit record", .. })
    ));
    assert!(matches!(
        store.inclusion_proof(n + 1, n).await,
        Err(StoreError::NotFound { what: "audit record", .. })
    ));
    assert!(matches!(
        store.inclusion_proof(u64::MAX, u64::MAX).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(conflict(store.inclusion_proof(5, 4).await).contains("not in the tree of size 4"));
    assert!(conflict(store.inclusion_proof(1, n + 1).await).contains("larger than the audit log"));
    assert!(
        conflict(store.consistency_proof(3, n + 1).await).contains("larger than the audit log")
    );
    assert!(conflict(store.consistency_proof(5, 4).await).contains("smaller"));
    assert!(conflict(store.consistency_proof(u64::MAX, u64::MAX).await).contains("larger"));

    // Reopened: the same tree.
    store.close().await;
    let reopened = fixture.reopen().await;
    let store = &*reopened;
    assert_eq!(store.tree_root(n).await.unwrap(), reference.current_root().unwrap());
}

async fn checkpoints_are_saved_with_their_record_and_refused_when_wrong(fixture: TestStore) {
    let store = &*fixture;
    let signer = signer();
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    assert_eq!(store.checkpoints().await.unwrap(), vec![]);
    for i in 0..6 {
        store.append_audit(refusal(i), 10).await.unwrap();
    }

    let first = signed_checkpoint(store, &signer, 6, 1000).await;
    // The note is a real signed checkpoint over the stored root.
    let opened = signer.verifier().verify_note(&first.note).unwrap();
    assert_eq!((opened.size, opened.root), (6, store.tree_root(6).await.unwrap()));

    // Refused: a wrong root, a size beyond the log, another kind of record. Nothing appended.
    let wrong_root = StoredCheckpoint { root: [9; 32], ..first.clone() };
    assert!(
        conflict(
            store.save_checkpoint(&wrong_root, event(EventKind::CheckpointSigned), 1000).await
        )
        .contains("root")
    );
    let too_large = StoredCheckpoint { size: 7, ..first.clone() };
    assert!(
        conflict(store.save_checkpoint(&too_large, event(EventKind::CheckpointSigned), 1000).await)
            .contains("larger")
    );
    assert!(
        conflict(store.save_checkpoint(&first, event(EventKind::CallRefused), 1000).await)
            .contains("checkpoint_signed")
    );
    assert_eq!(store.audit_len().await.unwrap(), 6);
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);

    // Accepted: exactly one checkpoint_signed record appended, in the same transaction.
    let sequence =
        store.save_checkpoint(&first, event(EventKind::CheckpointSigned), 1000).await.unwrap();
    assert_eq!(sequence, 7);
    assert_eq!(store.audit_len().await.unwrap(), 7);
    let (_, records) = independent_tree(store).await;
    assert_eq!(
        AuditRecord::from_json(&records[6]).unwrap().event.event,
        Some(EventKind::CheckpointSigned)
    );
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(first.clone()));
    assert_eq!(store.checkpoint(6).await.unwrap(), Some(first.clone()));
    assert_eq!(store.checkpoint(7).await.unwrap(), None);
    assert_eq!(store.checkpoint(u64::MAX).await.unwrap(), None);

    // The same checkpoint again (a retry): nothing new, the first record's sequence.
    assert_eq!(
        store.save_checkpoint(&first, event(EventKind::CheckpointSigned), 1001).await.unwrap(),
        7
    );
    assert_eq!(store.audit_len().await.unwrap(), 7);
    // The same size with another root, or the same root with another note: refused.
    assert!(
        conflict(
            store.save_checkpoint(&wrong_root, event(EventKind::CheckpointSigned), 1001).await
        )
        .contains("another root")
    );
    let other_note = StoredCheckpoint { note: format!("{}extra", first.note), ..first.clone() };
    assert!(
        conflict(
            store.save_checkpoint(&other_note, event(EventKind::CheckpointSigned), 1001).await
        )
        .contains("another note")
    );

    // More records, a second checkpoint; then a smaller size than the latest is refused,
    // even with the right root.
    for i in 6..10 {
        store.append_audit(refusal(i), 11).await.unwrap();
    }
    let second = signed_checkpoint(store, &signer, 11, 2000).await;
    assert_eq!(
        store.save_checkpoint(&second, event(EventKind::CheckpointSigned), 2000).await.unwrap(),
        12
    );
    let smaller = signed_checkpoint(store, &signer, 9, 2001).await;
    assert!(
        conflict(store.save_checkpoint(&smaller, event(EventKind::CheckpointSigned), 2001).await)
            .contains("smaller")
    );
    let stale = signed_checkpoint(store, &signer, 6, 2001).await;
    assert!(
        conflict(store.save_checkpoint(&stale, event(EventKind::CheckpointSigned), 2001).await)
            .contains("smaller")
    );
    assert_eq!(store.audit_len().await.unwrap(), 12);

    assert_eq!(
        store.checkpoints().await.unwrap(),
        vec![first.clone(), second.clone()],
        "ascending by size"
    );
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(second.clone()));
    let proof = store.consistency_proof(first.size, second.size).await.unwrap();
    assert!(verify_consistency(first.size, second.size, &first.root, &second.root, &proof));
    let (reference, _) = independent_tree(store).await;
    assert_eq!(store.tree_root(12).await.unwrap(), reference.current_root().unwrap());

    // Checkpoints survive reopening.
    store.close().await;
    let reopened = fixture.reopen().await;
    let store = &*reopened;
    assert_eq!(store.checkpoints().await.unwrap(), vec![first, second]);
}

/// A restored backup is played by removing the tail of the log (records and their nodes)
/// under a checkpoint that covers it: every append path is then refused, and nothing is
/// appended.
async fn appends_are_refused_when_the_log_is_shorter_than_the_latest_checkpoint(
    fixture: TestStore,
) {
    let store = &*fixture;
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    let a1 = authorization("a1", "s1", 10_000);
    store.grant(&a1, event(EventKind::AuthorizationGranted), 100).await.unwrap();
    for i in 0..3 {
        store.append_audit(refusal(i), 10).await.unwrap();
    }
    let root5 = store.tree_root(5).await.unwrap();
    for i in 3..6 {
        store.append_audit(refusal(i), 10).await.unwrap();
    }
    let checkpoint = signed_checkpoint(store, &signer(), 8, 1000).await;
    assert_eq!(
        store.save_checkpoint(&checkpoint, event(EventKind::CheckpointSigned), 1000).await.unwrap(),
        9
    );

    // The log as it was at 5 records: rows and nodes beyond removed, the checkpoint kept.
    fixture.execute("DELETE FROM audit_log WHERE sequence > 5").await;
    fixture.execute("DELETE FROM audit_nodes WHERE (idx + 1) << CAST(level AS INTEGER) > 5").await;
    assert_eq!(store.audit_len().await.unwrap(), 5);
    assert_eq!(store.tree_root(5).await.unwrap(), root5, "what is left is intact");

    let expected = "the audit log holds 5 records but checkpoint 8 was signed: the store was restored from an older backup; \
                    appending would fork the log";
    assert_eq!(conflict(store.append_audit(refusal(9), 20).await), expected);
    assert_eq!(
        conflict(store.register_seal(&seal("s2"), event(EventKind::SealRegistered), 20).await),
        expected
    );
    assert_eq!(
        conflict(
            store
                .set_seal_state(
                    "s1",
                    SealState::Active,
                    SealState::Suspended,
                    event(EventKind::SealSuspended),
                    20
                )
                .await
        ),
        expected
    );
    let a2 = authorization("a2", "s1", 10_000);
    assert_eq!(
        conflict(store.grant(&a2, event(EventKind::AuthorizationGranted), 20).await),
        expected
    );
    assert_eq!(conflict(commit(store, "req-1", &a1, 20).await), expected);
    assert_eq!(
        conflict(
            store
                .revoke_authorization("a1", "wang", event(EventKind::AuthorizationRevoked), 20)
                .await
        ),
        expected
    );
    let again = StoredCheckpoint { size: 5, root: root5, ..checkpoint.clone() };
    assert_eq!(
        conflict(store.save_checkpoint(&again, event(EventKind::CheckpointSigned), 20).await),
        expected
    );

    // Nothing of it happened.
    assert_eq!(store.audit_len().await.unwrap(), 5);
    assert_eq!(store.seal("s2").await.unwrap(), None);
    assert_eq!(store.seal("s1").await.unwrap().unwrap().state, SealState::Active);
    assert_eq!(store.authorization("a1").await.unwrap().unwrap().state, AuthorizationState::Active);
    assert_eq!(store.authorization("a2").await.unwrap(), None);
    assert_eq!(store.stamping("dept", "req-1").await.unwrap(), None);
    // Proofs against the checkpointed size cannot be produced; the remaining log still reads.
    assert!(conflict(store.tree_root(8).await).contains("larger than the audit log"));
    assert!(conflict(store.inclusion_proof(1, 8).await).contains("larger than the audit log"));
    assert_eq!(store.leaf_hashes(1, 100).await.unwrap().len(), 5);
    // Still refused after reopening.
    store.close().await;
    let reopened = fixture.reopen().await;
    let store = &*reopened;
    assert_eq!(conflict(store.append_audit(refusal(10), 30).await), expected);
}

/// Records removed behind the service's back, nodes left in place, no checkpoint over them:
/// the append would put a different record at a leaf that exists; it is refused.
async fn appends_are_refused_when_the_tree_is_longer_than_the_log(fixture: TestStore) {
    let store = &*fixture;
    for i in 0..6 {
        store.append_audit(refusal(i), 10).await.unwrap();
    }
    fixture.execute("DELETE FROM audit_log WHERE sequence > 4").await;
    let message = conflict(store.append_audit(refusal(6), 20).await);
    assert!(message.contains("appending would fork the log"), "{message}");
    assert_eq!(store.audit_len().await.unwrap(), 4);
    assert_eq!(store.leaf_hashes(1, 100).await.unwrap().len(), 4, "only the leaves of the log");
    let (reference, _) = independent_tree(store).await;
    assert_eq!(store.tree_root(4).await.unwrap(), reference.current_root().unwrap());
}

/// Checkpoints saved while appends run concurrently: each is accepted, each covers a prefix of
/// the final log, consecutive ones are provably consistent. The overlap is made to happen and
/// shown: each checkpoint is saved only once the log has grown past the size it signs, and its
/// record lands after those appends.
async fn checkpoints_under_concurrent_appends(fixture: TestStore) {
    let store = fixture.arc();
    let signer = signer();
    let appended = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (store, appended, stop) =
            (Arc::clone(&store), Arc::clone(&appended), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                store.append_audit(refusal(t * 1_000_000 + i), 10).await.unwrap();
                appended.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut saved = Vec::new();
    for i in 0..10 {
        let size = store.audit_len().await.unwrap();
        let checkpoint = signed_checkpoint(&*store, &signer, size, 1000 + i).await;
        // Appends complete between the checkpoint's reading of the log and its save.
        while store.audit_len().await.unwrap() <= size {
            assert!(
                Instant::now() < deadline,
                "no append completed while checkpoint {i} (size {size}) was pending"
            );
            tokio::task::yield_now().await;
        }
        let sequence = store
            .save_checkpoint(&checkpoint, event(EventKind::CheckpointSigned), 1000 + i)
            .await
            .unwrap();
        assert!(
            sequence > size + 1,
            "checkpoint {i} of size {size}: its record ({sequence}) follows appends made meanwhile"
        );
        saved.push(checkpoint);
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.checkpoints().await.unwrap(), saved);
    let (reference, records) = independent_tree(&*store).await;
    assert_eq!(reference.size(), (appended.load(Ordering::SeqCst) + saved.len()) as u64);
    let kinds = records
        .iter()
        .filter(|r| {
            AuditRecord::from_json(r).unwrap().event.event == Some(EventKind::CheckpointSigned)
        })
        .count();
    assert_eq!(kinds, saved.len());
    for pair in saved.windows(2) {
        assert!(pair[0].size < pair[1].size);
        let proof = store.consistency_proof(pair[0].size, pair[1].size).await.unwrap();
        assert!(verify_consistency(
            pair[0].size,
            pair[1].size,
            &pair[0].root,
            &pair[1].root,
            &proof
        ));
    }
    for checkpoint in &saved {
        assert_eq!(checkpoint.root, reference.root(checkpoint.size).unwrap());
    }
}

/// Two stores on one database (two nodes) saving the same checkpoint at once, several times
/// each: the first save appends its record, every other one is a retry that changes nothing
/// and answers that record's sequence; a different note for the same size is refused.
async fn the_same_checkpoint_saved_by_two_nodes_at_once(fixture: TestStore) {
    let nodes = [fixture.arc(), fixture.reopen().await];
    for i in 0..5 {
        nodes[0].append_audit(refusal(i), 10).await.unwrap();
    }
    let checkpoint = signed_checkpoint(&*nodes[0], &signer(), 5, 1000).await;
    let mut saves = Vec::new();
    for k in 0..8 {
        let (store, checkpoint) = (Arc::clone(&nodes[k % 2]), checkpoint.clone());
        saves.push(tokio::spawn(async move {
            store.save_checkpoint(&checkpoint, event(EventKind::CheckpointSigned), 1000).await
        }));
    }
    let mut sequences = BTreeSet::new();
    for save in saves {
        sequences.insert(save.await.unwrap().unwrap());
    }
    assert_eq!(
        sequences.into_iter().collect::<Vec<_>>(),
        [6],
        "one record, the others answered with its sequence"
    );
    assert_eq!(nodes[1].audit_len().await.unwrap(), 6);
    assert_eq!(nodes[1].checkpoints().await.unwrap(), std::slice::from_ref(&checkpoint));
    let other = StoredCheckpoint { note: format!("{}x", checkpoint.note), ..checkpoint };
    assert!(
        conflict(nodes[1].save_checkpoint(&other, event(EventKind::CheckpointSigned), 1001).await)
            .contains("another note")
    );
}

/// A seal suspended (or revoked) while a document was being sealed: the commit is refused,
/// the authorization stays unused, and nothing is written.
async fn a_seal_suspended_during_sealing_consumes_nothing(fixture: TestStore) {
    let store = &*fixture;
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    let a = authorization("a1", "s1", 10_000);
    store.grant(&a, event(EventKind::AuthorizationGranted), 2).await.unwrap();
    store
        .set_seal_state(
            "s1",
            SealState::Active,
            SealState::Suspended,
            event(EventKind::SealSuspended),
            3,
        )
        .await
        .unwrap();
    let before = store.audit_len().await.unwrap();
    // The policy's refusal, as the service would have given it before the upload.
    match commit(store, "req-1", &a, 4).await {
        Err(StoreError::Refused(PolicyError::SealSuspended { seal })) => assert_eq!(seal, "s1"),
        other => panic!("expected the seal's suspension, got {other:?}"),
    }
    assert_eq!(
        store.authorization("a1").await.unwrap().unwrap().state,
        eseal_service::policy::AuthorizationState::Active
    );
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert!(store.stamping("dept", "req-1").await.unwrap().is_none());
}

on_both_backends!(
    roots_proofs_and_leaves_match_an_independent_tree,
    checkpoints_are_saved_with_their_record_and_refused_when_wrong,
    appends_are_refused_when_the_log_is_shorter_than_the_latest_checkpoint,
    appends_are_refused_when_the_tree_is_longer_than_the_log,
    checkpoints_under_concurrent_appends,
    the_same_checkpoint_saved_by_two_nodes_at_once,
    a_seal_suspended_during_sealing_consumes_nothing,
);

// SQLite alone: the rebuild of a database from before the tree, and the throughput printout.

/// A database written before migration 0002 (records, no nodes) gets its tree on opening;
/// so does one that lost part of its nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_adds_the_nodes_of_records_that_have_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let n = mixed_operations(&store).await;
    let (reference, _) = independent_tree(&store).await;
    // Back to the schema of 0001: no tree tables, migration 2 not applied.
    for sql in [
        "DROP TABLE audit_nodes",
        "DROP TABLE checkpoints",
        "DELETE FROM _sqlx_migrations WHERE version = 2",
    ] {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    store.close().await;

    let store = open(dir.path()).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(versions, [1, 2, 3, 4, 5], "every migration applied, 0002 again");
    for size in 0..=n {
        assert_eq!(
            store.tree_root(size).await.unwrap(),
            reference.root(size).unwrap(),
            "root at {size}"
        );
    }
    let nodes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_nodes")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(nodes as u64, 2 * n - u64::from(n.count_ones()), "every complete subtree, once");

    // Part of the tree lost (the last 7 leaves and what covers them): added again.
    sqlx::query("DELETE FROM audit_nodes WHERE (idx + 1) << level > $1")
        .bind(n as i64 - 7)
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let store = open(dir.path()).await;
    for size in 0..=n {
        assert_eq!(
            store.tree_root(size).await.unwrap(),
            reference.root(size).unwrap(),
            "root at {size}"
        );
    }
    // And the log continues on it.
    store.append_audit(refusal(99), 300).await.unwrap();
    let (reference, _) = independent_tree(&store).await;
    assert_eq!(store.tree_root(n + 1).await.unwrap(), reference.current_root().unwrap());
}

/// Rough throughput of single-record appends (one transaction and one fsync each), printed
/// for BENCHMARKS.md: `cargo test --release --test store_merkle -- --nocapture throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_throughput() {
    const APPENDS: usize = 5000;
    const TASKS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()).await);

    let start = Instant::now();
    for i in 0..APPENDS {
        store.append_audit(refusal(i), 10).await.unwrap();
    }
    let sequential = start.elapsed();

    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in (t..APPENDS).step_by(TASKS) {
                store.append_audit(refusal(APPENDS + i), 10).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let concurrent = start.elapsed();

    for (what, elapsed) in
        [("sequential", sequential), (&format!("{TASKS}-way concurrent"), concurrent)]
    {
        eprintln!(
            "append_audit x {APPENDS}, {what}: {} ms, {:.0} appends/s",
            elapsed.as_millis(),
            APPENDS as f64 / elapsed.as_secs_f64()
        );
    }
    let (reference, _) = independent_tree(&*store).await;
    assert_eq!(reference.size(), 2 * APPENDS as u64);
    assert_eq!(
        store.tree_root(2 * APPENDS as u64).await.unwrap(),
        reference.current_root().unwrap()
    );
}
