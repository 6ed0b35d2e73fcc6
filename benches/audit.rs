//! Audit trail benchmark: durable appends per second with group commit against one record per
//! transaction (same store, same run), inclusion-proof latency on a 1,000,000-record log, and
//! verifying that whole log from scratch.
//!
//! Run: `cargo bench --bench audit` (the 1M-record log is built once in
//! target/bench-data/audit-1m.db and reused; delete it to rebuild).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eseal_audit::check_log;
use eseal_audit::{AuditEvent, EventKind, LogSigner, verify_inclusion};
use eseal_service::checkpoints::Checkpointer;
use eseal_service::store::{SqliteStore, Store};

const ORIGIN: &str = "eseal.bench/audit";

fn event(i: u64) -> AuditEvent {
    let mut e = AuditEvent::new(EventKind::CallRefused, "bench-client");
    e.method = Some("SignDocument".into());
    e.reason = Some(format!("FailedPrecondition: authorization auth-{i:032x} was already used"));
    e.request_id = Some(format!("req-{i}"));
    e
}

/// `total` appends from `tasks` concurrent tasks; returns appends per second.
async fn appends(store: Arc<SqliteStore>, total: u64, tasks: u64, grouped: bool) -> f64 {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut i = t;
            while i < total {
                let result = if grouped {
                    store.append_audit(event(i), 1_800_000_000).await
                } else {
                    store.append_audit_alone(event(i), 1_800_000_000).await
                };
                result.expect("append");
                i += tasks;
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench-data folder");

    // 1. Durable appends per second (WAL, synchronous=FULL: every commit is an fsync).
    let dir = tempfile::tempdir_in(&data).expect("temp dir");
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("appends.db"), ORIGIN).await.expect("store"));
    let baseline = appends(Arc::clone(&store), 2_000, 64, false).await;
    let grouped = appends(Arc::clone(&store), 40_000, 256, true).await;
    println!("appends, one record per transaction (64 tasks):   {baseline:>9.0} /s");
    println!("appends, group commit (256 tasks):               {grouped:>9.0} /s");
    println!(
        "ratio group / single:                            {:>9.1}x  (target: >= 10,000 /s with group commit)",
        grouped / baseline
    );

    // 2. A 1,000,000-record log: inclusion proofs against a signed checkpoint.
    const N: u64 = 1_000_000;
    let path = data.join("audit-1m.db");
    let big = Arc::new(SqliteStore::open(&path, ORIGIN).await.expect("store"));
    let have = big.audit_len().await.expect("len");
    if have < N {
        let started = Instant::now();
        appends(Arc::clone(&big), N - have, 512, true).await;
        println!("built the {N}-record log in {:.1} s", started.elapsed().as_secs_f64());
    }
    // The log key lives beside the reused log, so that its checkpoints verify on later runs.
    let key_path = data.join("audit-1m.pk8");
    let signer = match std::fs::read(&key_path) {
        Ok(der) => LogSigner::from_pkcs8(ORIGIN, &der).expect("log key"),
        Err(_) => {
            let (signer, der) = LogSigner::generate(ORIGIN).expect("log key");
            std::fs::write(&key_path, der).expect("write the log key");
            signer
        }
    };
    let verifier = signer.verifier();
    let checkpointer = Checkpointer::new(Arc::clone(&big) as Arc<dyn Store>, signer, None);
    let checkpoint =
        checkpointer.sign_if_grown(1_800_000_000).await.expect("checkpoint").expect("a checkpoint");
    let size = checkpoint.size;
    let mut latencies = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..10_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let sequence = 1 + state % size;
        let started = Instant::now();
        let proof = big.inclusion_proof(sequence, size).await.expect("proof");
        latencies.push(started.elapsed());
        let record = big.audit_records(sequence, 1).await.expect("record");
        assert!(
            verify_inclusion(
                &eseal_audit::leaf_hash(&record[0].1),
                sequence - 1,
                size,
                &proof,
                &checkpoint.root
            ),
            "proof {sequence}"
        );
    }
    latencies.sort();
    println!(
        "inclusion proof on {size} records (10,000 random): p50 {:?}  p99 {:?}  max {:?}  (target p99 < 1 ms)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );

    // 3. Verifying the whole log from scratch: read every record, recompute every leaf and the
    //    root, check the checkpoint's signature, contiguity.
    let started = Instant::now();
    let mut records = Vec::with_capacity(size as usize + 1);
    loop {
        let page = big.audit_records(records.len() as u64 + 1, 50_000).await.expect("records");
        if page.is_empty() {
            break;
        }
        records.extend(page);
    }
    let read = started.elapsed();
    let report = check_log(&records, std::slice::from_ref(&checkpoint.note), &verifier);
    assert!(report.ok(), "{:?}", report.problems);
    println!(
        "verify {} records from scratch: {:.2} s (read {:.2} s, check {:.2} s)  (target < 10 s)",
        records.len(),
        started.elapsed().as_secs_f64(),
        read.as_secs_f64(),
        (started.elapsed() - read).as_secs_f64()
    );
}
