//! Operations, end to end over real mTLS: the Prometheus endpoint after stampings and
//! refusals, health following the store and the seal keys, shutdown draining the calls in
//! progress, environment overrides and the startup checks of `eseal serve`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::service::*;
use eseal_audit::EventKind;
use eseal_service::api::proto::audit_service_client::AuditServiceClient;
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::sign_document_request::Part;
use eseal_service::api::proto::signing_service_client::SigningServiceClient;
use eseal_service::api::proto::{GetCheckpointRequest, SignDocumentRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

const SEAL: &str = "approval-ec";
const DEPARTMENT: &str = "approval-system";

/// `GET path` on the metrics endpoint: (status line, body).
async fn http_get(address: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream =
        tokio::net::TcpStream::connect(address).await.expect("connect to the metrics endpoint");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// The value of the sample line `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `check` holds (the probe updates gauges about once a second).
async fn scrape_until(
    address: std::net::SocketAddr,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = http_get(address, "/metrics").await;
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what} within 10 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A SignDocument call that sends its header at once and its document only when `go` fires;
/// answers the call's status when it fails, its request id when it seals.
async fn held_stamping(
    server: &TestServer,
    header: eseal_service::api::proto::SignHeader,
    document: Vec<u8>,
    go: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<Result<String, tonic::Status>> {
    let channel = server.channel(Some(&ClientIdentity::department())).await;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let request_id = header.request_id.clone();
    tx.send(SignDocumentRequest { part: Some(Part::Header(header)) }).await.unwrap();
    tokio::spawn(async move {
        let call = tokio::spawn(async move {
            let mut client = SigningServiceClient::new(channel).max_decoding_message_size(64 << 20);
            let mut answer = client
                .sign_document(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await?
                .into_inner();
            while answer.message().await?.is_some() {}
            Ok(request_id)
        });
        go.notified().await;
        for chunk in document.chunks(256 * 1024) {
            // A call refused already has stopped reading: its answer tells why.
            let message = SignDocumentRequest { part: Some(Part::Chunk(chunk.to_vec())) };
            if tx.send(message).await.is_err() {
                break;
            }
        }
        drop(tx);
        call.await.expect("the call's task ends")
    })
}

/// An authorization used already is one refusal wherever the service finds it out: two
/// stampings under one authorization pass the checks made before the upload together (their
/// documents are held back until both have), so the loser is refused by the store's commit; a
/// third is refused by the policy before its upload. Both refusals carry the same code and
/// message, the same audit reason and the same metric label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_authorization_is_refused_alike_before_the_upload_and_at_the_commit() {
    let mut server = TestServer::start_with(|c| {
        c.metrics = Some(eseal_service::config::MetricsConfig { listen: "127.0.0.1:0".into() })
    })
    .await;
    let metrics = server.metrics_address.expect("a metrics endpoint");
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let document = corpus_bytes("13");
    let id = grant(&mut custodian, grant_request(SEAL, DEPARTMENT, "CASE-R-1")).await.id;

    let go = Arc::new(tokio::sync::Notify::new());
    let racers = [
        held_stamping(
            &server,
            header(SEAL, &id, "race-a", "CASE-R-1"),
            document.clone(),
            Arc::clone(&go),
        )
        .await,
        held_stamping(
            &server,
            header(SEAL, &id, "race-b", "CASE-R-1"),
            document.clone(),
            Arc::clone(&go),
        )
        .await,
    ];
    // Both headers are checked (nothing is consumed before a document arrives), and both calls
    // wait for their documents: neither was refused before its upload.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(racers.iter().all(|r| !r.is_finished()), "both calls wait for their documents");
    go.notify_waiters();
    let mut winners = Vec::new();
    let mut lost = Vec::new();
    for racer in racers {
        match racer.await.expect("the racer's task ends") {
            Ok(request_id) => winners.push(request_id),
            Err(status) => lost.push(status),
        }
    }
    assert_eq!((winners.len(), lost.len()), (1, 1), "one wins, one loses: {lost:?}");
    let at_commit = lost.remove(0);
    let before_upload = try_sign(
        &mut server.signing(&ClientIdentity::department()).await,
        header(SEAL, &id, "race-c", "CASE-R-1"),
        &document,
    )
    .await
    .unwrap_err();

    let expected = format!("authorization {id} was already used (request {})", winners[0]);
    for status in [&at_commit, &before_upload] {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert_eq!(status.message(), expected, "{status:?}");
    }
    let records = server.audit().await;
    let reasons: Vec<String> = of_kind(&records, EventKind::CallRefused)
        .iter()
        .filter_map(|r| r.event.reason.clone())
        .collect();
    assert_eq!(
        reasons,
        vec![format!("FailedPrecondition: {expected}"); 2],
        "one audit reason for both"
    );
    let (_, text) = http_get(metrics, "/metrics").await;
    assert_eq!(
        sample(&text, "eseal_refusals_total{reason=\"authorization_used\"}"),
        Some(2.0),
        "{text}"
    );
    assert!(!text.contains("reason=\"conflict\""), "no refusal counted as a conflict:\n{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_stampings_refusals_and_latencies() {
    let server = TestServer::start_with(|c| {
        c.metrics = Some(eseal_service::config::MetricsConfig { listen: "127.0.0.1:0".into() })
    })
    .await;
    let metrics = server.metrics_address.expect("a metrics endpoint");
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let mut department = server.signing(&ClientIdentity::department()).await;
    let document = corpus_bytes("13");

    let authorization = grant(&mut custodian, grant_request(SEAL, DEPARTMENT, "CASE-M-1")).await.id;
    sign(&mut department, header(SEAL, &authorization, "req-m-1", "CASE-M-1"), &document)
        .await
        .expect("sealed");
    let again =
        sign(&mut department, header(SEAL, &authorization, "req-m-1", "CASE-M-1"), &document)
            .await
            .expect("replayed");
    assert!(again.receipt.replayed);
    let used =
        try_sign(&mut department, header(SEAL, &authorization, "req-m-2", "CASE-M-1"), &document)
            .await
            .unwrap_err();
    assert_eq!(used.code(), Code::FailedPrecondition, "{used:?}");
    let unknown = try_sign(
        &mut department,
        header("made-up-seal", &authorization, "req-m-3", "CASE-M-1"),
        &document,
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    // A department may not read the audit trail: a refusal outside SignDocument.
    let mut as_department =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::department())).await);
    assert_eq!(
        as_department
            .get_checkpoint(GetCheckpointRequest { sign_now: false })
            .await
            .err()
            .map(|e| e.code()),
        Some(Code::PermissionDenied)
    );

    let (status, text) = http_get(metrics, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}")
    };
    expect("eseal_stampings_total{seal=\"approval-ec\",outcome=\"sealed\"}", 1.0);
    expect("eseal_stampings_total{seal=\"approval-ec\",outcome=\"replayed\"}", 1.0);
    expect("eseal_stampings_total{seal=\"approval-ec\",outcome=\"refused\"}", 1.0);
    expect("eseal_stampings_total{seal=\"unknown\",outcome=\"refused\"}", 1.0);
    assert!(!text.contains("made-up-seal"), "a seal that does not exist gets no series:\n{text}");
    expect("eseal_refusals_total{reason=\"authorization_used\"}", 1.0);
    expect("eseal_refusals_total{reason=\"not_found\"}", 1.0);
    expect("eseal_refusals_total{reason=\"permission_denied\"}", 1.0);
    expect("eseal_request_duration_seconds_count{method=\"SignDocument\"}", 4.0);
    expect("eseal_request_duration_seconds_bucket{method=\"SignDocument\",le=\"+Inf\"}", 4.0);
    expect("eseal_request_duration_seconds_count{method=\"GrantAuthorization\"}", 1.0);
    expect("eseal_request_duration_seconds_count{method=\"GetCheckpoint\"}", 1.0);
    assert!(
        sample(&text, "eseal_request_duration_seconds_sum{method=\"SignDocument\"}")
            .is_some_and(|s| s > 0.0),
        "{text}"
    );
    // One new stamping, one commit; the replay and the refusals commit no stamping.
    expect("eseal_store_commit_duration_seconds_count", 1.0);
    assert!(
        sample(&text, "eseal_store_commit_duration_seconds_sum").is_some_and(|s| s > 0.0),
        "{text}"
    );
    assert!(text.contains("# TYPE eseal_request_duration_seconds histogram"));

    // The gauges follow the store: the audit log's size, then a checkpoint's age once signed.
    let records = server.audit().await.len() as f64;
    scrape_until(metrics, "the audit log size", |t| {
        sample(t, "eseal_audit_log_size") == Some(records)
    })
    .await;
    let mut audit =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::archivist())).await);
    audit
        .get_checkpoint(GetCheckpointRequest { sign_now: true })
        .await
        .expect("a checkpoint is signed");
    let text = scrape_until(metrics, "the checkpoint age", |t| {
        sample(t, "eseal_checkpoint_age_seconds").is_some()
    })
    .await;
    assert!(
        sample(&text, "eseal_checkpoint_age_seconds").is_some_and(|age| (0.0..5.0).contains(&age)),
        "{text}"
    );

    // Each active seal's certificate: how long it has left (the sample seal certificate's
    // notAfter, read here with openssl-independent x509 parsing), and not expiring soon.
    let pem = std::fs::read(keys().join("seal-approval-ec.pem")).unwrap();
    let (_, der) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let not_after = der.parse_x509().unwrap().validity().not_after.timestamp() as f64;
    let series = "eseal_seal_certificate_expiry_seconds{seal=\"approval-ec\"}";
    let text =
        scrape_until(metrics, "the seal certificate's expiry", |t| sample(t, series).is_some())
            .await;
    let left = sample(&text, series).unwrap();
    let expected = not_after - eseal_encoding::civil_time::now() as f64;
    assert!((left - expected).abs() < 60.0, "{series} = {left}, expected about {expected}");
    assert_eq!(
        sample(&text, "eseal_seal_certificate_expiring{seal=\"approval-ec\"}"),
        Some(0.0),
        "{text}"
    );

    let (status, _) = http_get(metrics, "/other").await;
    assert!(status.contains("404"), "{status}");
}

/// The health of the node as a whole and of the signing service.
async fn health(server: &TestServer) -> (i32, i32) {
    let mut client = HealthClient::new(server.channel(Some(&ClientIdentity::archivist())).await);
    let mut statuses = Vec::new();
    for service in ["", "eseal.v1.SigningService"] {
        statuses.push(
            client
                .check(HealthCheckRequest { service: service.into() })
                .await
                .expect("health answers")
                .into_inner()
                .status,
        );
    }
    (statuses[0], statuses[1])
}

/// Waits until both statuses are `wanted`.
async fn wait_health(server: &TestServer, wanted: ServingStatus, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (node, signing) = health(server).await;
        if node == wanted as i32 && signing == wanted as i32 {
            return;
        }
        assert!(Instant::now() < deadline, "{why}: still node={node} signing={signing} after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The health of one seal (`eseal.seal.<id>`).
async fn seal_health(server: &TestServer, seal: &str) -> i32 {
    let mut client = HealthClient::new(server.channel(Some(&ClientIdentity::archivist())).await);
    client
        .check(HealthCheckRequest { service: format!("eseal.seal.{seal}") })
        .await
        .expect("health answers for the seal")
        .into_inner()
        .status
}

/// Waits until the seal's health is `wanted`.
async fn wait_seal_health(server: &TestServer, seal: &str, wanted: ServingStatus, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = seal_health(server, seal).await;
        if status == wanted as i32 {
            return;
        }
        assert!(Instant::now() < deadline, "seal {seal}, {why}: still {status} after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A connection of its own to the server's database, for breaking it behind its back.
async fn database(db: &Path) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("open the database")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_store_and_the_seal_keys() {
    // The seal keys in a folder of the test's own, so that one can go missing.
    let key_folder = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(keys()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pk8") {
            std::fs::copy(&path, key_folder.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let directory = key_folder.path().to_path_buf();
    let server = TestServer::start_with(move |c| c.keys.directory = directory).await;
    wait_health(&server, ServingStatus::Serving, "serving at start").await;

    // A key of an active seal goes missing: that seal NOT_SERVING, while the node and the
    // other seal keep serving; back: SERVING.
    let key = key_folder.path().join("seal-approval-ec.pk8");
    let saved = std::fs::read(&key).unwrap();
    wait_seal_health(&server, "approval-ec", ServingStatus::Serving, "serving at start").await;
    std::fs::remove_file(&key).unwrap();
    wait_seal_health(&server, "approval-ec", ServingStatus::NotServing, "its key is missing").await;
    assert_eq!(
        health(&server).await,
        (ServingStatus::Serving as i32, ServingStatus::Serving as i32),
        "one seal's key does not stop the node"
    );
    assert_eq!(
        seal_health(&server, "housing-rsa").await,
        ServingStatus::Serving as i32,
        "the other seal keeps serving"
    );
    std::fs::write(&key, &saved).unwrap();
    wait_seal_health(&server, "approval-ec", ServingStatus::Serving, "the key is back").await;

    // The store fails (its audit log table is gone): NOT_SERVING; repaired: SERVING.
    use sqlx::Executor;
    let mut db = database(&server.db).await;
    db.execute("ALTER TABLE audit_log RENAME TO audit_log_away").await.unwrap();
    wait_health(&server, ServingStatus::NotServing, "the store fails").await;
    db.execute("ALTER TABLE audit_log_away RENAME TO audit_log").await.unwrap();
    wait_health(&server, ServingStatus::Serving, "the store is repaired").await;
    // And the node works: a grant goes through.
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    grant(&mut custodian, grant_request(SEAL, DEPARTMENT, "CASE-H-1")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_call_in_progress_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = extended_config(dir.path());
    // A grace period far longer than the test's patience: a drain that waited for it instead
    // of ending with the call fails the test.
    config.server.shutdown_grace_ms = 3_600_000;
    let running = eseal_service::server::start(config).await.expect("the server starts");
    let port = running.address.port();
    let channel = connect(port, Some(&ClientIdentity::custodian())).await;
    let authorization = grant(
        &mut SealAdminServiceClient::new(channel),
        grant_request(SEAL, DEPARTMENT, "CASE-D-1"),
    )
    .await
    .id;

    // A stamping whose upload is held open half way. The channel holds one message: each send
    // returns only once the transport has taken the one before, so the header and the first
    // quarter are on their way to the server before shutdown begins.
    let document = corpus_bytes("13");
    let (half, rest) = document.split_at(document.len() / 2);
    let (first, second) = half.split_at(half.len() / 2);
    let (upload, uploaded) = tokio::sync::mpsc::channel::<SignDocumentRequest>(1);
    let signing_channel = connect(port, Some(&ClientIdentity::department())).await;
    let mut department =
        eseal_service::api::proto::signing_service_client::SigningServiceClient::new(
            signing_channel.clone(),
        );
    let in_flight = tokio::spawn(async move {
        let mut answer = department
            .sign_document(tokio_stream::wrappers::ReceiverStream::new(uploaded))
            .await?
            .into_inner();
        let mut messages = 0;
        let mut receipt = None;
        while let Some(message) = answer.message().await? {
            messages += 1;
            if let Some(eseal_service::api::proto::sign_document_response::Part::Receipt(r)) =
                message.part
            {
                receipt = Some(r);
            }
        }
        Ok::<_, tonic::Status>((receipt, messages))
    });
    for part in [
        Part::Header(header(SEAL, &authorization, "req-d-1", "CASE-D-1")),
        Part::Chunk(first.to_vec()),
        Part::Chunk(second.to_vec()),
    ] {
        upload.send(SignDocumentRequest { part: Some(part) }).await.unwrap();
    }
    assert!(!in_flight.is_finished(), "the call waits for the rest of the document");
    // The server has the stamping's stream: it answers a later call on the same connection
    // only after reading the frames sent before it. (Shutdown closes a connection at once
    // when it holds no stream the server knows of.)
    let mut health = HealthClient::new(signing_channel.clone());
    let serving = health
        .check(HealthCheckRequest { service: String::new() })
        .await
        .expect("the node answers before shutdown");
    assert_eq!(serving.into_inner().status, ServingStatus::Serving as i32);

    let stop = tokio::spawn(running.stop());
    // New connections are refused once shutdown has begun.
    let deadline = Instant::now() + Duration::from_secs(60);
    while try_connect(port, Some(&ClientIdentity::archivist())).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server still accepts connections 60 s after shutdown began"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new call on the connection in progress is refused (GOAWAY), or at the very least
    // told that the node is not serving (readiness turns NOT_SERVING before the listener
    // closes).
    match health.check(HealthCheckRequest { service: String::new() }).await {
        // Refused by the client's HTTP/2 layer: the connection is closing (a call that crossed
        // the server's GOAWAY is reported as an HTTP/2 GoAway error).
        Err(status) => assert!(
            matches!(status.code(), Code::Unavailable | Code::Cancelled)
                || (status.code() == Code::Internal && format!("{status:?}").contains("GoAway")),
            "{status:?}"
        ),
        Ok(answer) => assert_eq!(answer.into_inner().status, ServingStatus::NotServing as i32),
    }
    assert!(!stop.is_finished(), "the server waits for the call in progress");

    // The call in progress completes.
    upload.send(SignDocumentRequest { part: Some(Part::Chunk(rest.to_vec())) }).await.unwrap();
    drop(upload);
    let (receipt, messages) = in_flight.await.unwrap().expect("the call in progress completes");
    let receipt = receipt.expect("a receipt");
    assert!(
        !receipt.replayed && receipt.output_size > document.len() as u64 && messages >= 2,
        "{receipt:?}"
    );
    // The drain ends with the call, not at the (hour-long) grace period.
    let stopped = tokio::time::timeout(Duration::from_secs(120), stop)
        .await
        .expect("the drain ended with the call, not at the grace period");
    stopped.unwrap().expect("the server stops cleanly");

    // The stamping was committed before the store closed.
    let records = audit_records(&dir.path().join("eseal.db")).await;
    assert_eq!(of_kind(&records, eseal_audit::EventKind::DocumentSealed).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_is_not_its_keys_fails_startup() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = dev_config(dir.path());
    config.server.tls_key = keys().join("client-department.key");
    let error = eseal_service::server::start(config).await.err().expect("refused").to_string();
    assert!(
        error.contains("TLS certificate")
            && error.contains("does not match")
            && error.contains("server.pem")
            && error.contains("client-department.key"),
        "{error}"
    );

    let mut config = dev_config(dir.path());
    config.seed_seals[0].key_reference = "seal-housing-rsa.pk8".into();
    let error = eseal_service::server::start(config).await.err().expect("refused").to_string();
    assert!(
        error.contains("seed seal approval-ec")
            && error.contains("does not match")
            && error.contains("seal-housing-rsa.pk8"),
        "{error}"
    );
    assert!(!dir.path().join("eseal.db").exists(), "nothing is opened before the checks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_fails_startup_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = dev_config(dir.path());
    config.server.client_ca = dir.path().join("no-such-ca.pem");
    let error = eseal_service::server::start(config).await.err().expect("refused").to_string();
    assert_eq!(
        error,
        format!("server.client_ca: {} does not exist", dir.path().join("no-such-ca.pem").display())
    );
    let mut config = dev_config(dir.path());
    config.seed_seals[1].image = dir.path().join("gone.png");
    let error = eseal_service::server::start(config).await.err().expect("refused").to_string();
    assert!(
        error.starts_with("seed_seals[housing-rsa].image: ") && error.contains("gone.png"),
        "{error}"
    );
}

/// `eseal serve` without a configuration file, with `ESEAL__` variables set.
fn serve_with(variables: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eseal"));
    command
        .arg("serve")
        .env_remove("ESEAL_CONFIG")
        .env_remove("ESEAL_LOG")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    for (name, value) in variables {
        command.env(name, value);
    }
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_overrides_configure_serve_and_unknown_keys_fail() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = serve_with(&[("ESEAL__SERVER__LISTN", "127.0.0.1:1".into())]).output().unwrap();
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ESEAL__SERVER__LISTN") && stderr.contains("unknown field `listn`"),
        "{stderr}"
    );

    let db = dir.path().join("store/eseal.db");
    let (log, printed) = (dir.path().join("serve.log"), dir.path().join("serve.out"));
    // Port 0 for both: the server binds free ports itself and prints them.
    let mut child = serve_with(&[
        ("ESEAL__SERVER__LISTEN", "127.0.0.1:0".into()),
        ("ESEAL__METRICS__LISTEN", "127.0.0.1:0".into()),
        ("ESEAL__STORE__SQLITE_PATH", db.display().to_string()),
        ("ESEAL__LOG__FORMAT", "json".into()),
        ("ESEAL__SERVER__SHUTDOWN_GRACE_MS", "5000".into()),
    ])
    .stdout(std::fs::File::create(&printed).unwrap())
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let port =
        logged_address(&printed, LISTENING, &mut child, Duration::from_secs(120)).await.port();
    let metrics_port =
        logged_address(&log, METRICS_AT, &mut child, Duration::from_secs(120)).await.port();
    let serving =
        tokio::time::timeout(Duration::from_secs(30), wait_serving(port, Duration::from_secs(30)))
            .await;
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    if serving.is_err() {
        let _ = child.kill();
        panic!("not serving on the overridden port:\n{}", log_text());
    }
    assert!(db.exists(), "the store is where ESEAL__STORE__SQLITE_PATH says");
    let (status, text) =
        http_get(format!("127.0.0.1:{metrics_port}").parse().unwrap(), "/metrics").await;
    assert!(
        status.contains("200") && text.contains("# TYPE eseal_stampings_total counter"),
        "{status}\n{text}"
    );

    assert!(
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success()
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit 120 s after SIGTERM:\n{}", log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let text = log_text();
    assert!(status.success(), "{status}\n{text}");
    // JSON lines, without terminal colours (the log is a file).
    assert!(!text.contains('\u{1b}'), "no ANSI escapes in a log file:\n{text}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !lines.is_empty()
            && lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{text}"
    );
    assert!(text.contains("shutting down"), "{text}");
}
