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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::postgres::{Cluster, shared};
use common::service::*;
use common::store::open_pg;
use eseal_audit::check_log;
use eseal_audit::{AuditRecord, EventKind, LogVerifier};
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::signing_service_client::SigningServiceClient;
use eseal_service::store::Store;
use tokio::sync::Semaphore;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const SEAL: &str = "approval-ec";
/// Generous bound on waiting for something the test can observe; fails loudly when exceeded.
const PATIENCE: Duration = Duration::from_secs(120);

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
    let notes: Vec<String> =
        store.checkpoints().await.unwrap().into_iter().map(|c| c.note).collect();
    let verifier = LogVerifier::from_verifier_key(&vkey()).unwrap();
    let report = check_log(&records, &notes, &verifier);
    assert!(report.ok(), "the log does not verify: {:?}", report.problems);
    assert_eq!(store.audit_len().await.unwrap(), records.len() as u64);
    store.close().await;
    (
        records.iter().map(|(_, bytes)| AuditRecord::from_json(bytes).unwrap()).collect(),
        report.checkpoints_verified,
    )
}

/// A sign header with a seal small enough for the one-page 1 KB corpus file (08), the cheapest
/// to seal.
fn small_header(
    authorization: &str,
    request_id: &str,
    case: &str,
) -> eseal_service::api::proto::SignHeader {
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
    let mut audit =
        eseal_service::api::proto::audit_service_client::AuditServiceClient::new(channel);
    audit
        .get_checkpoint(eseal_service::api::proto::GetCheckpointRequest { sign_now: true })
        .await
        .unwrap();
}

/// The request ids of the `document_sealed` records; fails on a request id sealed twice.
fn sealed_request_ids(records: &[AuditRecord]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for record in of_kind(records, EventKind::DocumentSealed) {
        let id =
            record.event.request_id.clone().expect("a document_sealed record names its request");
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
        let (id, case, signers, document) =
            (id.clone(), case.clone(), signers.clone(), Arc::clone(&document));
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
                    if let Some((other, _)) =
                        winners.insert(id.clone(), (request_id.clone(), sealed))
                    {
                        panic!(
                            "authorization {id} was consumed twice: by {other} and by {request_id}"
                        );
                    }
                }
                Err(status) => {
                    assert_eq!(
                        status.code(),
                        Code::FailedPrecondition,
                        "{request_id}: {}",
                        status.message()
                    );
                    assert!(
                        status.message().contains("already used"),
                        "{request_id}: {}",
                        status.message()
                    );
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
    assert_eq!(
        sealed,
        winners.values().map(|(request_id, _)| request_id.clone()).collect::<BTreeSet<_>>()
    );
    let store = open_pg(&url).await;
    for (request_id, received) in winners.values() {
        let stored = store
            .stamping("approval-system", request_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{request_id} has no stamping"));
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
    /// Starts `eseal serve` on port 0 (it binds a free port itself and prints it).
    async fn start(dir: &Path, name: &str, url: &str) -> NodeProcess {
        let data = dir.join(name);
        std::fs::create_dir_all(&data).unwrap();
        let config = dev_config(&data);
        assert_eq!(config.server.listen, "127.0.0.1:0");
        let mut config = config;
        config.audit.checkpoint_interval_ms = 200;
        config.store.acquire_timeout_ms = 1000;
        let file = data.join("eseal.toml");
        std::fs::write(&file, config_toml(&config)).unwrap();
        let log = data.join("serve.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_eseal"))
            .args(["serve", "--config", file.to_str().unwrap(), "--store", url])
            .env_remove("ESEAL_CONFIG")
            .env_remove("ESEAL_STORE")
            .current_dir(&data)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start eseal serve");
        let port = logged_address(&log, LISTENING, &mut child, PATIENCE).await.port();
        let node = NodeProcess { child: Some(child), port, log };
        wait_serving(port, PATIENCE).await;
        // The listening line names the store.
        let text = std::fs::read_to_string(&node.log).unwrap_or_default();
        let named = format!("store PostgreSQL {url}");
        assert!(
            text.lines().any(|l| l.starts_with(LISTENING) && l.ends_with(&named)),
            "eseal serve names its store:\n{text}"
        );
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
            clients.admins.push(SealAdminServiceClient::new(
                connect(port, Some(&ClientIdentity::custodian())).await,
            ));
            clients.signers.push(
                SigningServiceClient::new(connect(port, Some(&ClientIdentity::department())).await)
                    .max_decoding_message_size(64 << 20),
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

/// What all the workers of a load have seen so far, for the test to wait on.
#[derive(Default)]
struct Progress {
    /// Stampings received in full.
    received: AtomicUsize,
    /// Of those, received after `counting` was set.
    after_counting: AtomicUsize,
    /// Failed calls.
    failures: AtomicUsize,
}

impl Progress {
    /// Waits until `what` (read from self) reaches `at_least`; fails after [`PATIENCE`].
    async fn wait(&self, what: fn(&Progress) -> &AtomicUsize, at_least: usize, why: &str) {
        let deadline = Instant::now() + PATIENCE;
        while what(self).load(Ordering::SeqCst) < at_least {
            assert!(
                Instant::now() < deadline,
                "{why}: {} of {at_least} after {PATIENCE:?}",
                what(self).load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
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
    progress: Arc<Progress>,
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
            match clients.admins[target]
                .grant_authorization(grant_request(SEAL, "approval-system", &case))
                .await
            {
                Ok(a) => break a.into_inner().id,
                Err(status) => {
                    assert!(retryable(&status), "worker {worker}: grant refused: {status:?}");
                    assert!(
                        Instant::now() < deadline,
                        "worker {worker}: no grant within {patience:?}: {status:?}"
                    );
                    seen.failures.push((target, status));
                    progress.failures.fetch_add(1, Ordering::SeqCst);
                    target = (target + 1) % ports.len();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        loop {
            match try_sign(
                &mut clients.signers[target],
                small_header(&authorization, &request_id, &case),
                &document,
            )
            .await
            {
                Ok(sealed) => {
                    seen.received.push((request_id.clone(), sealed.receipt.output_sha256));
                    progress.received.fetch_add(1, Ordering::SeqCst);
                    if counting.load(Ordering::SeqCst) {
                        seen.after_counting += 1;
                        progress.after_counting.fetch_add(1, Ordering::SeqCst);
                    }
                    break;
                }
                Err(status) => {
                    assert!(
                        Instant::now() < deadline,
                        "worker {worker}: {request_id} not sealed within {patience:?}: {status:?}"
                    );
                    assert!(
                        retryable(&status),
                        "worker {worker}: {request_id} refused: {status:?}"
                    );
                    seen.failures.push((target, status));
                    progress.failures.fetch_add(1, Ordering::SeqCst);
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
        let stored = store
            .stamping("approval-system", request_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{request_id} was received but is not stored"));
        assert_eq!(
            &stored.output_sha256.to_vec(),
            sha256,
            "{request_id}: the stored stamping is the one received"
        );
    }
    store.close().await;
    let (records, _) = verified_log(url).await;
    let sealed = sealed_request_ids(&records);
    assert_eq!(
        sealed, received,
        "every stamping received is in the log once, and nothing else was sealed"
    );
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
    let progress = Arc::new(Progress::default());
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        workers.spawn(worker(
            w,
            ports.clone(),
            Arc::clone(&killed),
            Arc::clone(&stop),
            PATIENCE,
            Arc::clone(&document),
            Arc::clone(&progress),
        ));
    }
    // A stamping held open on the doomed node at the kill: its header and the start of its
    // document sent (each send into the one-message channel returns once the transport took
    // the one before), the rest never.
    let mut custodian =
        SealAdminServiceClient::new(connect(doomed.port, Some(&ClientIdentity::custodian())).await);
    let held = grant(&mut custodian, grant_request(SEAL, "approval-system", "负载-held")).await.id;
    let large = corpus_bytes("01");
    let (upload, uploaded) = tokio::sync::mpsc::channel(1);
    let mut signer =
        SigningServiceClient::new(connect(doomed.port, Some(&ClientIdentity::department())).await);
    let held_call = tokio::spawn(async move {
        signer
            .sign_document(tokio_stream::wrappers::ReceiverStream::new(uploaded))
            .await?
            .into_inner()
            .message()
            .await
    });
    let mut parts = vec![eseal_service::api::proto::sign_document_request::Part::Header(
        small_header(&held, "load-held", "负载-held"),
    )];
    parts.extend(
        large
            .chunks(32 * 1024)
            .take(3)
            .map(|c| eseal_service::api::proto::sign_document_request::Part::Chunk(c.to_vec())),
    );
    for part in parts {
        upload
            .send(eseal_service::api::proto::SignDocumentRequest { part: Some(part) })
            .await
            .unwrap();
    }
    // Kill once the load is under way: every worker could have received a stamping.
    progress.wait(|p| &p.received, WORKERS, "stampings before the kill").await;
    killed.store(true, Ordering::SeqCst);
    doomed.kill9();
    let held_outcome = tokio::time::timeout(PATIENCE, held_call)
        .await
        .expect("the held call notices the kill")
        .unwrap();
    assert!(
        held_outcome.as_ref().is_err_and(retryable),
        "the call in flight at the kill fails (retryably): {held_outcome:?}"
    );
    drop(upload);
    // The survivor serves the load: every worker could have been answered by it.
    progress.wait(|p| &p.after_counting, WORKERS, "stampings after the kill").await;
    stop.store(true, Ordering::SeqCst);
    let seen = workers.join_all().await;
    sign_checkpoint(survivor.port).await;

    let after: usize = seen.iter().map(|s| s.after_counting).sum();
    assert!(after >= WORKERS, "the surviving node kept serving: {after} stampings after the kill");
    for (node, status) in seen.iter().flat_map(|s| &s.failures) {
        assert_eq!(*node, 0, "only calls to the killed node fail: {status:?}");
    }
    let total = assert_nothing_lost_or_doubled(&url, &seen).await;
    // The held stamping was cut before the server had its document: nothing stored.
    let store = open_pg(&url).await;
    assert!(
        store.stamping("approval-system", "load-held").await.unwrap().is_none(),
        "the half upload stored no stamping"
    );
    store.close().await;
    eprintln!(
        "node killed: {total} stampings, {after} after the kill, {} failed calls retried",
        seen.iter().map(|s| s.failures.len()).sum::<usize>()
    );
    drop(survivor);
}

/// Waits (up to [`PATIENCE`]) until the node on `port` reports `wanted` for itself (health
/// service "").
async fn wait_node_health(port: u16, wanted: ServingStatus, why: &str) {
    let deadline = Instant::now() + PATIENCE;
    let mut client = HealthClient::new(connect(port, Some(&ClientIdentity::archivist())).await);
    loop {
        let status = client
            .check(HealthCheckRequest { service: String::new() })
            .await
            .map(|r| r.into_inner().status);
        if status.as_ref().is_ok_and(|&s| s == wanted as i32) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{why}: health still {status:?} after {PATIENCE:?}, expected {wanted:?}"
        );
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
    let progress = Arc::new(Progress::default());
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        workers.spawn(worker(
            w,
            ports.clone(),
            Arc::clone(&recovered),
            Arc::clone(&stop),
            PATIENCE,
            Arc::clone(&document),
            Arc::clone(&progress),
        ));
    }
    progress.wait(|p| &p.received, WORKERS, "stampings before the outage").await;
    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.pause()).await.unwrap();
    // While it is down, a call fails fast and says why.
    let mut admin =
        SealAdminServiceClient::new(connect(ports[0], Some(&ClientIdentity::custodian())).await);
    // (The database stays down until this answer arrives: a call that waited for it would
    // never end.)
    let answer = tokio::time::timeout(
        PATIENCE,
        admin.grant_authorization(grant_request(SEAL, "approval-system", "停机-1")),
    )
    .await;
    let status = answer.expect("the call fails instead of waiting for the database").unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("database is unavailable"), "{}", status.message());
    // Health turns NOT_SERVING (the readiness probe reads the store about once a second)...
    wait_node_health(ports[0], ServingStatus::NotServing, "the database is down").await;
    // The workers see the outage before the database returns.
    progress.wait(|p| &p.failures, 1, "failed calls during the outage").await;
    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.resume()).await.unwrap();
    let resumed = Instant::now();
    recovered.store(true, Ordering::SeqCst);
    // ... and back to SERVING by itself once it returns.
    wait_node_health(ports[0], ServingStatus::Serving, "the database is back").await;
    progress.wait(|p| &p.after_counting, WORKERS, "stampings after the outage").await;
    stop.store(true, Ordering::SeqCst);
    let seen = workers.join_all().await;
    sign_checkpoint(ports[1]).await;
    for mut n in nodes {
        n.stop().await;
    }

    let failures: Vec<&tonic::Status> =
        seen.iter().flat_map(|s| &s.failures).map(|(_, s)| s).collect();
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
