//! Several `eseal serve` nodes on one PostgreSQL (a private one per test binary, see
//! tests/common/postgres.rs), over real mTLS on loopback:
//! * 1,000 authorizations, each attempted four times at once through two nodes: exactly one
//!   stamping each, and one contiguous audit log that verifies (records, tree, the checkpoints
//!   both nodes signed);
//! * one node killed with SIGKILL under load: the other keeps serving, every stamping a client
//!   received is stored, nothing is stored twice, the log verifies;
//! * PostgreSQL stopped and started again under load: calls fail fast with UNAVAILABLE during the
//!   outage and succeed after it (retried with the same request id), with no stamping missing or
//!   recorded twice.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::postgres::{Cluster, shared};
use common::service::*;
use common::store::open_pg;
use eseal::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal::api::proto::signing_service_client::SigningServiceClient;
use eseal::audit::log_check::check_log;
use eseal::audit::{AuditRecord, EventKind, LogVerifier};
use eseal::store::Store;
use tokio::sync::Semaphore;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const SEAL: &str = "approval-ec";

/// An in-process node on the database at `url`, signing checkpoints often so that the nodes
/// race to save them.
async fn node(url: &str) -> TestServer {
    TestServer::start_with(|config| {
        config.store.url = Some(url.to_string());
        config.store.acquire_timeout_ms = 1000;
        config.audit.checkpoint_interval_ms = 200;
    })
    .await
}

/// The whole log as stored at `url`, checked by the library's whole-log check (contiguous
/// sequences from 1, every record readable and of this log, every checkpoint's signature and
/// root); fails the test on any problem. Returns the records and the number of checkpoints.
async fn verified_log(url: &str) -> (Vec<AuditRecord>, u64) {
    let store = open_pg(url).await;
    let records = store.audit_records(1, u32::MAX).await.unwrap();
    let notes: Vec<String> = store.checkpoints().await.unwrap().into_iter().map(|c| c.note).collect();
    let verifier = LogVerifier::from_verifier_key(&vkey()).unwrap();
    let report = check_log(&records, &notes, &verifier);
    assert!(report.ok(), "the log does not verify: {:?}", report.problems);
    assert_eq!(store.audit_len().await.unwrap(), records.len() as u64);
    store.close().await;
    (records.iter().map(|(_, bytes)| AuditRecord::from_json(bytes).unwrap()).collect(), report.checkpoints_verified)
}

/// A sign header with a seal small enough for the one-page 1 KB corpus file (08), the cheapest
/// to seal.
fn small_header(authorization: &str, request_id: &str, case: &str) -> eseal::api::proto::SignHeader {
    let mut header = header(SEAL, authorization, request_id, case);
    if let Some(rect) = header.placement.as_mut().and_then(|p| p.rect.as_mut()) {
        (rect.x, rect.y, rect.width, rect.height) = (5.0, 5.0, 15.0, 15.0);
    }
    header
}

/// Whether a failed call may succeed when retried: the node or the database was unreachable.
fn retryable(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::Unknown)
}

/// Asks the node at `port` to sign a checkpoint of the log as it is now (the whole-log check
/// wants every record covered).
async fn sign_checkpoint(port: u16) {
    let channel = connect(port, Some(&ClientIdentity::archivist())).await;
    let mut audit = eseal::api::proto::audit_service_client::AuditServiceClient::new(channel);
    audit.get_checkpoint(eseal::api::proto::GetCheckpointRequest { sign_now: true }).await.unwrap();
}

/// The request ids of the `document_sealed` records; fails on a request id sealed twice.
fn sealed_request_ids(records: &[AuditRecord]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for record in of_kind(records, EventKind::DocumentSealed) {
        let id = record.event.request_id.clone().expect("a document_sealed record names its request");
        assert!(ids.insert(id.clone()), "request {id} sealed twice");
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_consume_each_of_1000_authorizations_once() {
    const AUTHORIZATIONS: usize = 1000;
    const ATTEMPTS: usize = 4;
    let url = shared().new_database().await;
    let started = Instant::now();
    let nodes = [node(&url).await, node(&url).await];
    let custodian = ClientIdentity::custodian();
    let admins = [nodes[0].admin(&custodian).await, nodes[1].admin(&custodian).await];

    // Grants through both nodes, 32 at a time.
    let limit = Arc::new(Semaphore::new(32));
    let mut grants = tokio::task::JoinSet::new();
    for i in 0..AUTHORIZATIONS {
        let mut admin = admins[i % 2].clone();
        let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
        grants.spawn(async move {
            let _permit = permit;
            let case = format!("审批-2026-P{i:04}");
            (grant(&mut admin, grant_request(SEAL, "approval-system", &case)).await.id, case)
        });
    }
    let authorizations = grants.join_all().await;
    let granted = started.elapsed();

    // Every authorization four times at once, two attempts through each node; 16
    // authorizations (64 calls) in flight.
    let department = ClientIdentity::department();
    let signers = [nodes[0].signing(&department).await, nodes[1].signing(&department).await];
    let document = Arc::new(corpus_bytes("08"));
    let limit = Arc::new(Semaphore::new(16));
    let mut races = tokio::task::JoinSet::new();
    for (k, (id, case)) in authorizations.iter().enumerate() {
        let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
        let (id, case, signers, document) = (id.clone(), case.clone(), signers.clone(), Arc::clone(&document));
        races.spawn(async move {
            let _permit = permit;
            let attempt = |j: usize| {
                let mut client = signers[j % 2].clone();
                let header = small_header(&id, &format!("race-{k}-{j}"), &case);
                let document = Arc::clone(&document);
                async move { (format!("race-{k}-{j}"), sign(&mut client, header, &document).await) }
            };
            let (a, b, c, d) = tokio::join!(attempt(0), attempt(1), attempt(2), attempt(3));
            (id, [a, b, c, d])
        });
    }
    let mut winners: BTreeMap<String, (String, Sealed)> = BTreeMap::new();
    let mut refused = 0;
    for (id, outcomes) in races.join_all().await {
        for (request_id, outcome) in outcomes {
            match outcome {
                Ok(sealed) => {
                    if let Some((other, _)) = winners.insert(id.clone(), (request_id.clone(), sealed)) {
                        panic!("authorization {id} was consumed twice: by {other} and by {request_id}");
                    }
                }
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition, "{request_id}: {}", status.message());
                    assert!(status.message().contains("already used"), "{request_id}: {}", status.message());
                    refused += 1;
                }
            }
        }
    }
    let raced = started.elapsed() - granted;
    assert_eq!(winners.len(), AUTHORIZATIONS, "exactly one stamping per authorization");
    assert_eq!(refused, AUTHORIZATIONS * (ATTEMPTS - 1));

    // One more checkpoint from each node, then stop them.
    for n in &nodes {
        sign_checkpoint(n.address.port()).await;
    }
    for mut n in nodes {
        n.stop().await;
    }

    let (records, checkpoints) = verified_log(&url).await;
    assert!(checkpoints >= 2, "both nodes signed checkpoints ({checkpoints} verified)");
    assert_eq!(of_kind(&records, EventKind::AuthorizationGranted).len(), AUTHORIZATIONS);
    assert_eq!(of_kind(&records, EventKind::AuthorizationConsumed).len(), AUTHORIZATIONS);
    let sealed = sealed_request_ids(&records);
    assert_eq!(sealed, winners.values().map(|(request_id, _)| request_id.clone()).collect::<BTreeSet<_>>());
    let store = open_pg(&url).await;
    for (request_id, received) in winners.values() {
        let stored = store.stamping("approval-system", request_id).await.unwrap().unwrap_or_else(|| panic!("{request_id} has no stamping"));
        assert_eq!(stored.output_sha256.to_vec(), received.receipt.output_sha256);
    }
    eprintln!(
        "two nodes: {AUTHORIZATIONS} grants in {granted:?}, {} SignDocument calls in {raced:?}, {} records, {checkpoints} checkpoints",
        AUTHORIZATIONS * ATTEMPTS,
        records.len()
    );
}

/// A running `eseal serve` process on the PostgreSQL at `url` (given with `--store`); killed
/// (SIGKILL) when dropped.
struct NodeProcess {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl NodeProcess {
    async fn start(dir: &Path, name: &str, url: &str) -> NodeProcess {
        let port = free_port();
        let data = dir.join(name);
        std::fs::create_dir_all(&data).unwrap();
        let mut config = dev_config(&data);
        config.server.listen = format!("127.0.0.1:{port}");
        config.audit.checkpoint_interval_ms = 200;
        config.store.acquire_timeout_ms = 1000;
        let file = data.join("eseal.toml");
        std::fs::write(&file, config_toml(&config)).unwrap();
        let log = data.join("serve.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_eseal"))
            .args(["serve", "--config", file.to_str().unwrap(), "--store", url])
            .env_remove("ESEAL_CONFIG")
            .env_remove("ESEAL_STORE")
            .current_dir(&data)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start eseal serve");
        let node = NodeProcess { child: Some(child), port, log };
        wait_serving(port, Duration::from_secs(30)).await;
        // The line is printed once the server has started, which may be just after it answers.
        let deadline = Instant::now() + Duration::from_secs(5);
        let named = "store PostgreSQL postgres://eseal@127.0.0.1";
        let mut text = std::fs::read_to_string(&node.log).unwrap_or_default();
        while !text.contains(named) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            text = std::fs::read_to_string(&node.log).unwrap_or_default();
        }
        assert!(text.contains(named), "eseal serve names its store:\n{text}");
        node
    }

    /// SIGKILL, and reap.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            assert!(!child.wait().unwrap().success());
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The clients of one worker: a custodian's and a department's, to each node.
struct Clients {
    admins: Vec<SealAdminServiceClient<Channel>>,
    signers: Vec<SigningServiceClient<Channel>>,
}

impl Clients {
    async fn to(ports: &[u16]) -> Clients {
        let mut clients = Clients { admins: Vec::new(), signers: Vec::new() };
        for &port in ports {
            clients.admins.push(SealAdminServiceClient::new(connect(port, Some(&ClientIdentity::custodian())).await));
            clients.signers.push(
                SigningServiceClient::new(connect(port, Some(&ClientIdentity::department())).await).max_decoding_message_size(64 << 20),
            );
        }
        clients
    }
}

/// What one worker of a load saw.
#[derive(Default)]
struct Seen {
    /// Request ids whose sealed document was received in full, with the SHA-256 received.
    received: Vec<(String, Vec<u8>)>,
    /// Every failed call: (the node it went to, its status).
    failures: Vec<(usize, tonic::Status)>,
    /// Successes after `counting` was set (the node killed, the database back).
    after_counting: usize,
}

/// One worker: grants and seals in a loop until `stop`, preferring node `worker % nodes`;
/// a failed call is retried (the same request id, so a stamping committed before the failure
/// replays) on the next node after a short pause, for at most `patience`.
async fn worker(
    worker: usize,
    ports: Vec<u16>,
    counting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    patience: Duration,
    document: Arc<Vec<u8>>,
) -> Seen {
    let mut clients = Clients::to(&ports).await;
    let mut seen = Seen::default();
    let mut target = worker % ports.len();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let case = format!("负载-{worker}-{n}");
        let request_id = format!("load-{worker}-{n}");
        let deadline = Instant::now() + patience;
        let authorization = loop {
            match clients.admins[target].grant_authorization(grant_request(SEAL, "approval-system", &case)).await {
                Ok(a) => break a.into_inner().id,
                Err(status) => {
                    assert!(retryable(&status), "worker {worker}: grant refused: {status:?}");
                    assert!(Instant::now() < deadline, "worker {worker}: no grant within {patience:?}: {status:?}");
                    seen.failures.push((target, status));
                    target = (target + 1) % ports.len();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        loop {
            match try_sign(&mut clients.signers[target], small_header(&authorization, &request_id, &case), &document).await {
                Ok(sealed) => {
                    seen.received.push((request_id.clone(), sealed.receipt.output_sha256));
                    if counting.load(Ordering::SeqCst) {
                        seen.after_counting += 1;
                    }
                    break;
                }
                Err(status) => {
                    assert!(Instant::now() < deadline, "worker {worker}: {request_id} not sealed within {patience:?}: {status:?}");
                    assert!(retryable(&status), "worker {worker}: {request_id} refused: {status:?}");
                    seen.failures.push((target, status));
                    target = (target + 1) % ports.len();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    seen
}

/// Every stamping a client received is stored with the bytes received, and the log (which
/// verifies) seals each request id once and exactly those stored.
async fn assert_nothing_lost_or_doubled(url: &str, seen: &[Seen]) -> usize {
    let store = open_pg(url).await;
    let mut received = BTreeSet::new();
    for (request_id, sha256) in seen.iter().flat_map(|s| &s.received) {
        assert!(received.insert(request_id.clone()), "{request_id} received twice by its worker");
        let stored = store.stamping("approval-system", request_id).await.unwrap().unwrap_or_else(|| panic!("{request_id} was received but is not stored"));
        assert_eq!(&stored.output_sha256.to_vec(), sha256, "{request_id}: the stored stamping is the one received");
    }
    store.close().await;
    let (records, _) = verified_log(url).await;
    let sealed = sealed_request_ids(&records);
    assert_eq!(sealed, received, "every stamping received is in the log once, and nothing else was sealed");
    assert_eq!(of_kind(&records, EventKind::AuthorizationConsumed).len(), sealed.len());
    sealed.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_nothing_and_the_other_keeps_serving() {
    const WORKERS: usize = 6;
    let url = shared().new_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut doomed = NodeProcess::start(dir.path(), "node-a", &url).await;
    let survivor = NodeProcess::start(dir.path(), "node-b", &url).await;
    let ports = vec![doomed.port, survivor.port];
    let (killed, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let document = Arc::new(corpus_bytes("08"));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        workers.spawn(worker(w, ports.clone(), Arc::clone(&killed), Arc::clone(&stop), Duration::from_secs(20), Arc::clone(&document)));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    killed.store(true, Ordering::SeqCst);
    doomed.kill9();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = workers.join_all().await;
    sign_checkpoint(survivor.port).await;

    let after: usize = seen.iter().map(|s| s.after_counting).sum();
    assert!(after >= WORKERS, "the surviving node kept serving: {after} stampings after the kill");
    for (node, status) in seen.iter().flat_map(|s| &s.failures) {
        assert_eq!(*node, 0, "only calls to the killed node fail: {status:?}");
    }
    let total = assert_nothing_lost_or_doubled(&url, &seen).await;
    eprintln!("node killed: {total} stampings, {after} after the kill, {} failed calls retried", seen.iter().map(|s| s.failures.len()).sum::<usize>());
    drop(survivor);
}

/// Waits (up to 10 s) until the node on `port` reports `wanted` for itself (health service "").
async fn wait_node_health(port: u16, wanted: ServingStatus, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = HealthClient::new(connect(port, Some(&ClientIdentity::archivist())).await);
    loop {
        let status = client.check(HealthCheckRequest { service: String::new() }).await.map(|r| r.into_inner().status);
        if status.as_ref().is_ok_and(|&s| s == wanted as i32) {
            return;
        }
        assert!(Instant::now() < deadline, "{why}: health still {status:?} after 10 s, expected {wanted:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_means_unavailable_then_success() {
    const WORKERS: usize = 4;
    // A cluster of its own: the other tests of this binary keep theirs running.
    let cluster = Arc::new(Cluster::start());
    let url = cluster.new_database().await;
    let nodes = [node(&url).await, node(&url).await];
    let ports: Vec<u16> = nodes.iter().map(|n| n.address.port()).collect();
    let (recovered, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let document = Arc::new(corpus_bytes("08"));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        workers.spawn(worker(w, ports.clone(), Arc::clone(&recovered), Arc::clone(&stop), Duration::from_secs(30), Arc::clone(&document)));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let paused = Instant::now();
    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.pause()).await.unwrap();
    // While it is down, a call fails fast and says why.
    let mut admin = SealAdminServiceClient::new(connect(ports[0], Some(&ClientIdentity::custodian())).await);
    let asked = Instant::now();
    let status = admin.grant_authorization(grant_request(SEAL, "approval-system", "停机-1")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("database is unavailable"), "{}", status.message());
    assert!(asked.elapsed() < Duration::from_secs(5), "failed fast: {:?}", asked.elapsed());
    // Health turns NOT_SERVING (the readiness probe reads the store about once a second)...
    wait_node_health(ports[0], ServingStatus::NotServing, "the database is down").await;
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(paused.elapsed())).await;
    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.resume()).await.unwrap();
    let resumed = Instant::now();
    recovered.store(true, Ordering::SeqCst);
    // ... and back to SERVING by itself once it returns.
    wait_node_health(ports[0], ServingStatus::Serving, "the database is back").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = workers.join_all().await;
    sign_checkpoint(ports[1]).await;
    for mut n in nodes {
        n.stop().await;
    }

    let failures: Vec<&tonic::Status> = seen.iter().flat_map(|s| &s.failures).map(|(_, s)| s).collect();
    assert!(!failures.is_empty(), "the outage was noticed");
    for status in &failures {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
    let after: usize = seen.iter().map(|s| s.after_counting).sum();
    assert!(after >= WORKERS, "stampings succeed again once the database is back ({after})");
    let total = assert_nothing_lost_or_doubled(&url, &seen).await;
    eprintln!(
        "outage: {total} stampings, {} UNAVAILABLE answers, {after} successes in the {:?} after the restart",
        failures.len(),
        resumed.elapsed()
    );
    if std::env::var_os("ESEAL_TEST_VERBOSE").is_some() {
        eprintln!("{}", cluster.log());
    }
}
