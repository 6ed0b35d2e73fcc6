//! kill -9 during a run of stampings: the real `eseal serve` binary, a config file, eight
//! clients granting and sealing in a loop, plus two calls held open at the kill (an upload
//! half sent, and an answer whose receipt was read but not its document); SIGKILL once the
//! clients have received stampings and both held calls are in place; a restart on the same
//! SQLite file. Then: no authorization consumed without its stamping and audit records, no
//! audit record without its consumption, every grant a client was answered survived, and every
//! sealed document a client received in full has its record and replays byte for byte. The
//! requests that were in flight at the kill complete on retry, exactly once each: the half
//! upload as a first stamping, the unread answer as a replay.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::service::*;
use eseal_audit::{AuditRecord, EventKind};
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::sign_document_request::Part as RequestPart;
use eseal_service::api::proto::sign_document_response::Part as ResponsePart;
use eseal_service::api::proto::signing_service_client::SigningServiceClient;
use eseal_service::api::proto::{SignDocumentRequest, SignDocumentResponse};
use eseal_service::config::Config;

const SEAL: &str = "approval-ec";
const WORKERS: usize = 8;
/// The documents the workers seal take turns among the first three of the list.
const WORKER_DOCUMENTS: usize = 3;
/// Generous bound on waiting for something the test can observe; fails loudly when exceeded.
const PATIENCE: Duration = Duration::from_secs(120);

/// A running `eseal serve`; killed (SIGKILL) when dropped.
struct ServerProcess {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl ServerProcess {
    /// Writes the development configuration (store `db`, listening on port 0: the server
    /// binds a free port itself and prints it) as TOML in `dir`, starts the binary with it and
    /// waits until its health service answers.
    async fn start(dir: &Path, db: &Path, name: &str) -> ServerProcess {
        let mut config = Config::development(&common::repo());
        config.server.listen = "127.0.0.1:0".into();
        config.store.sqlite_path = db.to_path_buf();
        // The test counts audit records: no background checkpoints.
        config.audit.checkpoint_interval_ms = 3_600_000;
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, config_toml(&config)).unwrap();
        // The file is what the binary will read: check it says what we meant.
        let loaded = Config::load(&file).expect("the written configuration loads");
        assert_eq!(loaded.server.listen, config.server.listen);
        assert_eq!(loaded.store.sqlite_path, db);
        assert_eq!(loaded.principals.len(), 4);
        assert_eq!(loaded.seed_seals.len(), 2);

        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_eseal"))
            .args(["serve", "--config", file.to_str().unwrap()])
            .env_remove("ESEAL_CONFIG")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start eseal serve");
        let mut child = child;
        let port = logged_address(&log, LISTENING, &mut child, PATIENCE).await.port();
        let mut server = ServerProcess { child: Some(child), port, log };
        tokio::select! {
            _ = wait_serving(port, PATIENCE) => {}
            _ = server.exited() => panic!("eseal serve exited at start:\n{}", server.log_text()),
        }
        server
    }

    /// Resolves when the process has exited.
    async fn exited(&mut self) {
        loop {
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reap.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let status = child.wait().unwrap();
            assert!(!status.success(), "killed by a signal");
        }
    }

    /// SIGTERM: the server stops cleanly and exits 0.
    async fn terminate(&mut self) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        tokio::time::timeout(PATIENCE, self.exited()).await.unwrap_or_else(|_| {
            panic!("eseal serve did not stop on SIGTERM:\n{}", self.log_text())
        });
        let status = self.child.take().unwrap().wait().unwrap();
        assert!(
            status.success(),
            "eseal serve exits 0 on SIGTERM ({status}):\n{}",
            self.log_text()
        );
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One SignDocument a client sent.
#[derive(Clone, Debug)]
struct Attempt {
    request_id: String,
    authorization_id: String,
    case: String,
    document: usize,
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Authorizations whose grant was answered.
    granted: Vec<String>,
    /// Every SignDocument sent (answered or not).
    attempted: Vec<Attempt>,
    /// Those answered in full: receipt, every chunk, matching SHA-256.
    received: Vec<(Attempt, Sealed)>,
    /// Errors before the kill (there must be none).
    early_errors: Vec<String>,
}

/// Grants and seals in a loop until a call fails (the kill); counts the documents received
/// in full in `progress`.
async fn client_loop(
    worker: usize,
    port: u16,
    killed: Arc<AtomicBool>,
    documents: Arc<Vec<Vec<u8>>>,
    progress: Arc<AtomicUsize>,
) -> Seen {
    let mut seen = Seen::default();
    let mut admin =
        SealAdminServiceClient::new(connect(port, Some(&ClientIdentity::custodian())).await);
    let mut signer =
        SigningServiceClient::new(connect(port, Some(&ClientIdentity::department())).await)
            .max_decoding_message_size(64 << 20);
    for n in 0.. {
        let case = format!("审批-CRASH-{worker}-{n}");
        let authorization =
            match admin.grant_authorization(grant_request(SEAL, "approval-system", &case)).await {
                Ok(a) => a.into_inner().id,
                Err(e) => {
                    if !killed.load(Ordering::SeqCst) {
                        seen.early_errors.push(format!("grant {case}: {e:?}"));
                    }
                    break;
                }
            };
        seen.granted.push(authorization.clone());
        let attempt = Attempt {
            request_id: format!("crash-{worker}-{n}"),
            authorization_id: authorization,
            case,
            document: (worker + n) % WORKER_DOCUMENTS,
        };
        seen.attempted.push(attempt.clone());
        let header = header(SEAL, &attempt.authorization_id, &attempt.request_id, &attempt.case);
        match try_sign(&mut signer, header, &documents[attempt.document]).await {
            Ok(sealed) => {
                seen.received.push((attempt, sealed));
                progress.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                if !killed.load(Ordering::SeqCst) {
                    seen.early_errors.push(format!("sign {}: {e:?}", attempt.request_id));
                }
                break;
            }
        }
    }
    seen
}

/// A SignDocument whose header and the start of its document were sent, with the request
/// stream kept open: the server cannot have the whole document at the kill. The channel holds
/// one message, so each send returns only once the transport has taken the one before.
async fn hold_upload(
    port: u16,
    attempt: &Attempt,
    document: &[u8],
) -> (
    tokio::sync::mpsc::Sender<SignDocumentRequest>,
    tokio::task::JoinHandle<Result<Option<SignDocumentResponse>, tonic::Status>>,
) {
    let mut signer =
        SigningServiceClient::new(connect(port, Some(&ClientIdentity::department())).await);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let call = tokio::spawn(async move {
        let mut answer = signer
            .sign_document(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        answer.message().await
    });
    let header = header(SEAL, &attempt.authorization_id, &attempt.request_id, &attempt.case);
    let mut parts = vec![RequestPart::Header(header)];
    parts.extend(document.chunks(32 * 1024).take(3).map(|c| RequestPart::Chunk(c.to_vec())));
    assert!(document.len() > 3 * 32 * 1024, "the held upload leaves part of its document unsent");
    for part in parts {
        tx.send(SignDocumentRequest { part: Some(part) })
            .await
            .expect("the held upload's stream is open");
    }
    (tx, call)
}

/// A SignDocument sent whole, whose receipt was read (so the stamping is committed) but not the
/// sealed document that follows it. The client's stream window (64 KiB, less than the whole
/// document the server returns) keeps the server from finishing the answer before the kill.
async fn hold_answer(
    port: u16,
    attempt: &Attempt,
    document: &[u8],
) -> tonic::Streaming<SignDocumentResponse> {
    let channel = try_connect_with(port, Some(&ClientIdentity::department()), |e| {
        e.initial_stream_window_size(65_535)
    })
    .await
    .unwrap();
    let mut signer = SigningServiceClient::new(channel).max_decoding_message_size(64 << 20);
    assert!(document.len() > 4 * 65_535, "the held answer is larger than the client's window");
    let header = header(SEAL, &attempt.authorization_id, &attempt.request_id, &attempt.case);
    let mut messages = vec![SignDocumentRequest { part: Some(RequestPart::Header(header)) }];
    messages.extend(
        document
            .chunks(256 * 1024)
            .map(|c| SignDocumentRequest { part: Some(RequestPart::Chunk(c.to_vec())) }),
    );
    let mut answer = signer
        .sign_document(tokio_stream::iter(messages))
        .await
        .expect("the held answer starts")
        .into_inner();
    match answer.message().await.expect("the held answer's receipt") {
        Some(SignDocumentResponse { part: Some(ResponsePart::Receipt(receipt)) }) => {
            assert!(!receipt.replayed && receipt.audit_sequence > 0, "{receipt:?}");
        }
        other => panic!("the held answer starts with its receipt, not {other:?}"),
    }
    answer
}

/// The stored facts, read-only.
struct Stored {
    /// id -> (state, consumed_by_request)
    authorizations: BTreeMap<String, (String, Option<String>)>,
    /// request_id -> (authorization_id, output_sha256, audit_sequence)
    stampings: BTreeMap<String, (String, Vec<u8>, i64)>,
    audit: Vec<AuditRecord>,
}

async fn read_store(db: &Path) -> Stored {
    use sqlx::Row;
    let pool = read_only(db).await;
    let authorizations = sqlx::query("SELECT id, state, consumed_by_request FROM authorizations")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>(0), (r.get::<String, _>(1), r.get::<Option<String>, _>(2))))
        .collect();
    let stampings = sqlx::query(
        "SELECT request_id, authorization_id, output_sha256, audit_sequence FROM stampings",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (r.get::<String, _>(0), (r.get::<String, _>(1), r.get::<Vec<u8>, _>(2), r.get::<i64, _>(3)))
    })
    .collect();
    pool.close().await;
    Stored { authorizations, stampings, audit: audit_records(db).await }
}

/// The invariants of one seal, one authorization over the whole store; returns the number of
/// stampings.
fn check_consistency(s: &Stored) -> usize {
    let consumed: BTreeMap<&str, &str> = s
        .authorizations
        .iter()
        .filter(|(_, (state, _))| state == "consumed")
        .map(|(id, (_, by))| {
            (id.as_str(), by.as_deref().expect("a consumed authorization names its request"))
        })
        .collect();
    // No authorization consumed without its stamping.
    for (id, request) in &consumed {
        let (auth, ..) = s.stampings.get(*request).unwrap_or_else(|| {
            panic!("authorization {id} is consumed by {request}, which has no stamping record")
        });
        assert_eq!(auth, id, "the stamping of {request} is for {id}");
    }
    // Every stamping: its authorization consumed by it, its two audit records, in order.
    for (request, (auth, output, sequence)) in &s.stampings {
        assert_eq!(
            consumed.get(auth.as_str()),
            Some(&request.as_str()),
            "stamping {request} consumed authorization {auth}"
        );
        let sealed = &s.audit[*sequence as usize - 1];
        assert_eq!(
            sealed.event.event,
            Some(EventKind::DocumentSealed),
            "stamping {request} points at its document_sealed record"
        );
        assert_eq!(sealed.event.request_id.as_deref(), Some(request.as_str()));
        assert_eq!(sealed.event.authorization_id.as_deref(), Some(auth.as_str()));
        let hex: String = output.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sealed.event.output_sha256.as_deref(), Some(hex.as_str()));
        let consumption = &s.audit[*sequence as usize - 2];
        assert_eq!(
            consumption.event.event,
            Some(EventKind::AuthorizationConsumed),
            "stamping {request}: its consumption record precedes"
        );
        assert_eq!(consumption.event.authorization_id.as_deref(), Some(auth.as_str()));
        assert_eq!(consumption.event.request_id.as_deref(), Some(request.as_str()));
    }
    // No audit record of a consumption or a stamping without it.
    let consumed_records = of_kind(&s.audit, EventKind::AuthorizationConsumed);
    let sealed_records = of_kind(&s.audit, EventKind::DocumentSealed);
    for r in consumed_records.iter().chain(&sealed_records) {
        let request = r.event.request_id.as_deref().expect("the record names its request");
        let auth = r.event.authorization_id.as_deref().expect("the record names its authorization");
        let (stored_auth, ..) = s.stampings.get(request).unwrap_or_else(|| {
            panic!("audit record {} ({:?}) has no stamping", r.sequence, r.event.event)
        });
        assert_eq!(stored_auth, auth);
        assert_eq!(
            consumed.get(auth),
            Some(&request),
            "audit record {}: authorization {auth} is consumed by {request}",
            r.sequence
        );
    }
    assert_eq!(consumed.len(), s.stampings.len());
    assert_eq!(consumed_records.len(), s.stampings.len());
    assert_eq!(sealed_records.len(), s.stampings.len());
    // Grants and their records match one to one.
    let granted_records: BTreeSet<&str> = of_kind(&s.audit, EventKind::AuthorizationGranted)
        .iter()
        .map(|r| r.event.authorization_id.as_deref().unwrap())
        .collect();
    let stored: BTreeSet<&str> = s.authorizations.keys().map(String::as_str).collect();
    assert_eq!(granted_records, stored, "every authorization has its grant record and vice versa");
    s.stampings.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_stampings_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eseal.db");
    // The workers take turns among the first three; the held calls use the larger 01 and 04.
    let documents = Arc::new(vec![
        corpus_bytes("13"),
        corpus_bytes("10"),
        corpus_bytes("01"),
        corpus_bytes("04"),
    ]);

    let mut first = ServerProcess::start(dir.path(), &db, "first").await;
    let killed = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        workers.spawn(client_loop(
            w,
            first.port,
            Arc::clone(&killed),
            Arc::clone(&documents),
            Arc::clone(&progress),
        ));
    }
    // The two calls held open at the kill, each with an authorization of its own.
    let mut admin =
        SealAdminServiceClient::new(connect(first.port, Some(&ClientIdentity::custodian())).await);
    let mut held = Vec::new();
    for (name, document) in [("held-upload", 2), ("held-answer", 3)] {
        let case = format!("审批-CRASH-{name}");
        let authorization =
            grant(&mut admin, grant_request(SEAL, "approval-system", &case)).await.id;
        held.push(Attempt {
            request_id: name.into(),
            authorization_id: authorization,
            case,
            document,
        });
    }
    let (upload_stream, upload_call) = hold_upload(first.port, &held[0], &documents[2]).await;
    let mut answer = hold_answer(first.port, &held[1], &documents[3]).await;
    // Kill once every worker could have received a stamping (and so some are mid-call).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while progress.load(Ordering::SeqCst) < WORKERS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} stampings received within {PATIENCE:?}:\n{}",
            progress.load(Ordering::SeqCst),
            first.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed.store(true, Ordering::SeqCst);
    first.kill9();
    let mut seen = Vec::new();
    let collect = async {
        while let Some(joined) = workers.join_next().await {
            seen.push(joined.expect("no client panics"));
        }
    };
    tokio::time::timeout(PATIENCE, collect).await.expect("the clients notice the kill");
    // The held calls were cut: the upload without any answer, the answer before its end.
    let upload = tokio::time::timeout(PATIENCE, upload_call)
        .await
        .expect("the held upload notices the kill")
        .unwrap();
    assert!(upload.is_err(), "the held upload ends in an error, not {upload:?}");
    drop(upload_stream);
    let rest = tokio::time::timeout(PATIENCE, async {
        loop {
            match answer.message().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the held answer notices the kill");
    assert!(rest.is_err(), "the held answer ends in an error, not complete: {rest:?}");
    seen.push(Seen { attempted: held.clone(), ..Seen::default() });

    let early: Vec<&String> = seen.iter().flat_map(|s| &s.early_errors).collect();
    assert!(early.is_empty(), "no call failed before the kill: {early:#?}\n{}", first.log_text());
    let granted: Vec<&String> = seen.iter().flat_map(|s| &s.granted).collect();
    let attempted: Vec<&Attempt> = seen.iter().flat_map(|s| &s.attempted).collect();
    let received: Vec<&(Attempt, Sealed)> = seen.iter().flat_map(|s| &s.received).collect();
    eprintln!(
        "before the kill: {} grants answered, {} stampings sent, {} received in full",
        granted.len(),
        attempted.len(),
        received.len()
    );
    assert!(
        received.len() >= WORKERS,
        "the run did some stampings before the kill ({} received)",
        received.len()
    );

    // Restart on the same file.
    let mut second = ServerProcess::start(dir.path(), &db, "second").await;
    let before = read_store(&db).await;
    let stamped = check_consistency(&before);
    assert!(
        stamped >= received.len(),
        "every received document is stored ({stamped} stampings, {} received)",
        received.len()
    );
    for id in &granted {
        assert!(
            before.authorizations.contains_key(*id),
            "the answered grant {id} survived the kill"
        );
    }
    for (attempt, sealed) in &received {
        let (auth, output, sequence) = before
            .stampings
            .get(&attempt.request_id)
            .unwrap_or_else(|| panic!("received {} has no stamping record", attempt.request_id));
        assert_eq!(auth, &attempt.authorization_id);
        assert_eq!(
            output,
            &sha256(&sealed.document).to_vec(),
            "{}: the stored output is the one received",
            attempt.request_id
        );
        assert_eq!(*sequence as u64, sealed.receipt.audit_sequence);
    }

    // Every received request replays byte for byte, writing nothing.
    let mut signer =
        SigningServiceClient::new(connect(second.port, Some(&ClientIdentity::department())).await)
            .max_decoding_message_size(64 << 20);
    for (attempt, sealed) in &received {
        let header = header(SEAL, &attempt.authorization_id, &attempt.request_id, &attempt.case);
        let again = sign(&mut signer, header, &documents[attempt.document])
            .await
            .unwrap_or_else(|e| panic!("retry of {}: {e:?}", attempt.request_id));
        assert!(again.receipt.replayed, "{} replays", attempt.request_id);
        assert!(
            again.document == sealed.document,
            "{}: the replay is byte-identical",
            attempt.request_id
        );
        assert_eq!(again.receipt.audit_sequence, sealed.receipt.audit_sequence);
    }
    assert_eq!(audit_records(&db).await.len(), before.audit.len(), "replays write nothing");

    // The requests in flight at the kill: a retry completes each, once: a replay when it had
    // committed (its answer was lost), a first stamping otherwise.
    let received_ids: BTreeSet<&str> =
        received.iter().map(|(a, _)| a.request_id.as_str()).collect();
    let (mut replayed_lost, mut first_stampings) = (0, 0);
    for attempt in attempted.iter().filter(|a| !received_ids.contains(a.request_id.as_str())) {
        let committed = before.stampings.contains_key(&attempt.request_id);
        let header = header(SEAL, &attempt.authorization_id, &attempt.request_id, &attempt.case);
        let again = sign(&mut signer, header, &documents[attempt.document])
            .await
            .unwrap_or_else(|e| panic!("retry of in-flight {}: {e:?}", attempt.request_id));
        assert_eq!(
            again.receipt.replayed, committed,
            "{}: replayed exactly when it had been committed",
            attempt.request_id
        );
        if committed {
            replayed_lost += 1;
            assert_eq!(before.stampings[&attempt.request_id].1, again.receipt.output_sha256);
        } else {
            first_stampings += 1;
        }
    }
    eprintln!(
        "in flight at the kill: {} (of which {replayed_lost} had committed)",
        attempted.len() - received.len()
    );
    // The held calls: the half upload had stored nothing, the unread answer had committed.
    assert!(!before.stampings.contains_key("held-upload"), "the half upload stored no stamping");
    assert_eq!(
        before.authorizations[&held[0].authorization_id].1, None,
        "the half upload consumed nothing"
    );
    assert!(
        before.stampings.contains_key("held-answer"),
        "the stamping whose receipt was read is stored"
    );
    assert!(
        replayed_lost >= 1 && first_stampings >= 1,
        "in flight at the kill: {replayed_lost} committed, {first_stampings} not"
    );
    assert_eq!(
        stamped,
        received.len() + replayed_lost,
        "every stamping stored before the retries is one a client asked for"
    );
    let after = read_store(&db).await;
    assert_eq!(check_consistency(&after), attempted.len(), "one stamping per request");
    for attempt in &attempted {
        assert!(
            after.stampings.contains_key(&attempt.request_id),
            "{} is stamped after its retry",
            attempt.request_id
        );
    }
    assert_eq!(after.stampings.len(), attempted.len(), "no stamping the clients did not ask for");

    // The audit log survived the kill whole: after a checkpoint signed now, the log verifies
    // offline with the log key (contiguous, every leaf and root recomputed, nothing unsigned),
    // and every received stamping's sealed record is in it.
    let mut audit = eseal_service::api::proto::audit_service_client::AuditServiceClient::new(
        connect(second.port, Some(&ClientIdentity::archivist())).await,
    );
    audit
        .get_checkpoint(eseal_service::api::proto::GetCheckpointRequest { sign_now: true })
        .await
        .expect("a checkpoint is signed after the restart");
    let vkey = std::fs::read_to_string(common::repo().join("keys-sample/audit-log.vkey")).unwrap();
    let verify = Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(["audit", "verify", "--db", db.to_str().unwrap(), "--log-key", vkey.trim()])
        .output()
        .expect("run eseal audit verify");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && report.contains("the log verifies"),
        "{report}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let records = audit_records(&db).await;
    for (attempt, sealed) in &received {
        let record = &records[(sealed.receipt.audit_sequence - 1) as usize];
        assert_eq!(record.event.event, Some(EventKind::DocumentSealed), "{}", attempt.request_id);
        assert_eq!(record.event.request_id.as_deref(), Some(attempt.request_id.as_str()));
    }

    second.terminate().await;
}
