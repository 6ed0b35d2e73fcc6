//! Hostile callers at the door, end to end over real mTLS and a real SQLite file: clients
//! without a certificate, floods of refused calls (the rate limit of audited refusals and its
//! summary records), and client certificates revoked by a CRL made by `openssl ca`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::service::*;
use eseal_audit::{AuditRecord, EventKind};
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::{ListSealsRequest, SealTransitionRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

const SEAL: &str = "approval-ec";
const DEPARTMENT: &str = "approval-system";
const CUSTODIAN: &str = "custodian-wang";

/// Polls the audit trail of `db` until `done` holds (at most 20 s).
async fn audit_until(
    db: &Path,
    what: &str,
    done: impl Fn(&[AuditRecord]) -> bool,
) -> Vec<AuditRecord> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let records = audit_records(db).await;
        if done(&records) {
            return records;
        }
        assert!(Instant::now() < deadline, "{what} within 20 s; records:\n{records:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The call_refused records of `principal`.
fn refusals_of<'a>(records: &'a [AuditRecord], principal: &str) -> Vec<&'a AuditRecord> {
    of_kind(records, EventKind::CallRefused)
        .into_iter()
        .filter(|r| r.event.principal == principal)
        .collect()
}

/// The summary records of `principal`, and the refusals they count together.
fn summaries_of<'a>(records: &'a [AuditRecord], principal: &str) -> (Vec<&'a AuditRecord>, u64) {
    let summaries: Vec<&AuditRecord> = of_kind(records, EventKind::RefusalsSummarized)
        .into_iter()
        .filter(|r| r.event.principal == principal)
        .collect();
    let counted = summaries.iter().map(|r| r.event.count.expect("a summary has a count")).sum();
    (summaries, counted)
}

/// The value of `eseal_refusals_summarized_total` on the metrics endpoint at `address`.
async fn summarized_metric(address: std::net::SocketAddr) -> u64 {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .lines()
        .find_map(|l| l.strip_prefix("eseal_refusals_summarized_total "))
        .unwrap_or_else(|| panic!("no eseal_refusals_summarized_total in\n{answer}"))
        .parse()
        .unwrap()
}

async fn list_seals(
    server: &TestServer,
    identity: &ClientIdentity,
) -> Result<usize, tonic::Status> {
    let mut client = SealAdminServiceClient::new(server.channel(Some(identity)).await);
    client.list_seals(ListSealsRequest {}).await.map(|r| r.into_inner().seals.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_certificate_fail_the_handshake_and_add_no_record() {
    let server = TestServer::start().await;
    let before = server.audit().await;

    // At the TLS level: the server's alert is certificate_required.
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    for item in
        x509_parser::pem::Pem::iter_from_buffer(&std::fs::read(keys().join("tls-ca.pem")).unwrap())
    {
        roots.add(rustls::pki_types::CertificateDer::from(item.unwrap().contents)).unwrap();
    }
    let mut tls =
        rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
    for _ in 0..30 {
        let tcp = tokio::net::TcpStream::connect(server.address).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let failure = match connector.connect(name, tcp).await {
            Err(e) => e.to_string(),
            // TLS 1.3: the client finishes first; the server's alert is its next read.
            Ok(mut stream) => {
                let _ = stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
                let mut buffer = [0u8; 64];
                match stream.read(&mut buffer).await {
                    Ok(n) => {
                        panic!("the server answered a client without a certificate ({n} bytes)")
                    }
                    Err(e) => e.to_string(),
                }
            }
        };
        assert!(failure.contains("CertificateRequired"), "{failure}");
    }
    // Over gRPC: no answer of the service, only a transport failure.
    for _ in 0..5 {
        assert_refused_without_certificate(server.address.port()).await;
    }
    // A client with a certificate is served as before, and nothing was recorded.
    assert_eq!(list_seals(&server, &ClientIdentity::archivist()).await.unwrap(), 2);
    let after = server.audit().await;
    assert_eq!(
        after.len(),
        before.len(),
        "no record for connections refused in the handshake: {:#?}",
        &after[before.len()..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_flood_is_summarized_and_starves_no_one() {
    const BURST: usize = 5;
    const FLOOD: usize = 60;
    let server = TestServer::start_with(|c| {
        c.server.refusal_burst = BURST as u32;
        // Practically no refill during the test: the burst is all that is recorded one by one.
        c.server.refusal_refill_per_second = 0.0001;
        c.server.refusal_summary_interval_ms = 200;
        c.metrics = Some(eseal_service::config::MetricsConfig { listen: "127.0.0.1:0".into() });
    })
    .await;
    let baseline = server.audit().await.len();

    // An authenticated principal without the role: every call answered PERMISSION_DENIED.
    let mut department = server.admin(&ClientIdentity::department()).await;
    for i in 0..FLOOD {
        let call = department
            .grant_authorization(grant_request(SEAL, DEPARTMENT, &format!("FLOOD-{i}")))
            .await;
        assert_refused(call, Code::PermissionDenied, &["custodian"]);
    }
    // A certificate of the client CA naming no principal: keyed by its address.
    let stranger = valid_from_tls_ca("stranger", "spiffe://eseal.example/stranger");
    let mut stranger_client = SealAdminServiceClient::new(server.channel(Some(&stranger)).await);
    for _ in 0..FLOOD {
        assert_refused(
            stranger_client.list_seals(ListSealsRequest {}).await,
            Code::Unauthenticated,
            &["names no principal"],
        );
    }

    // Another principal is not starved: its calls are served, its refusal recorded on its own.
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    grant(&mut custodian, grant_request(SEAL, DEPARTMENT, "AFTER-FLOOD")).await;
    let suspend = custodian
        .suspend_seal(SealTransitionRequest { id: SEAL.into(), reason: "try".into() })
        .await;
    assert_refused(suspend, Code::PermissionDenied, &[]);

    // The summaries are written by the timer (no further refusal arrives): poll for them.
    let records =
        audit_until(&server.db, "summaries of every refusal beyond the burst", |records| {
            summaries_of(records, DEPARTMENT).1 + refusals_of(records, DEPARTMENT).len() as u64
                == FLOOD as u64
                && summaries_of(records, "anonymous").1
                    + refusals_of(records, "anonymous").len() as u64
                    == FLOOD as u64
        })
        .await;
    assert_eq!(refusals_of(&records, DEPARTMENT).len(), BURST, "the burst is recorded one by one");
    assert_eq!(refusals_of(&records, "anonymous").len(), BURST);
    let custodian_refusals = refusals_of(&records, CUSTODIAN);
    assert_eq!(custodian_refusals.len(), 1, "the other principal's refusal is recorded on its own");
    assert_eq!(custodian_refusals[0].event.method.as_deref(), Some("SuspendSeal"));

    let (summaries, counted) = summaries_of(&records, DEPARTMENT);
    assert_eq!(counted, (FLOOD - BURST) as u64);
    for summary in &summaries {
        let e = &summary.event;
        assert!(e.method.as_deref().unwrap().starts_with("GrantAuthorization ("), "{e:?}");
        assert!(e.reason.as_deref().unwrap().contains("beyond the audit rate limit"), "{e:?}");
        assert!(e.reason.as_deref().unwrap().contains("permission_denied"), "{e:?}");
        assert_eq!(e.peer.as_deref(), Some("127.0.0.1"));
        assert!(e.interval_start.unwrap() <= e.interval_end.unwrap());
    }
    let (anonymous, counted) = summaries_of(&records, "anonymous");
    assert_eq!(counted, (FLOOD - BURST) as u64);
    assert!(anonymous.iter().all(|r| r.event.peer.as_deref() == Some("127.0.0.1")
        && r.event.reason.as_deref().unwrap().contains("unauthenticated")));

    // At most the bursts and the summaries were added (and the custodian's grant and refusal).
    let added = records.len() - baseline;
    assert_eq!(
        added,
        2 * BURST + summaries.len() + anonymous.len() + 2,
        "{:#?}",
        &records[baseline..]
    );
    // Every refusal record names the caller's address.
    for refusal in of_kind(&records, EventKind::CallRefused) {
        let peer = refusal.event.peer.as_deref().unwrap_or_default();
        assert!(
            peer.starts_with("127.0.0.1:") && peer["127.0.0.1:".len()..].parse::<u16>().is_ok(),
            "{:?}",
            refusal.event
        );
    }
    assert_eq!(
        summarized_metric(server.metrics_address.unwrap()).await,
        2 * (FLOOD - BURST) as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_counted_at_shutdown_are_summarized_before_the_store_closes() {
    let mut server = TestServer::start_with(|c| {
        c.server.refusal_burst = 2;
        c.server.refusal_refill_per_second = 0.0001;
        // No timer fires during the test: only the shutdown writes the summary.
        c.server.refusal_summary_interval_ms = 3_600_000;
    })
    .await;
    let mut department = server.admin(&ClientIdentity::department()).await;
    for i in 0..12 {
        assert_refused(
            department
                .grant_authorization(grant_request(SEAL, DEPARTMENT, &format!("C-{i}")))
                .await,
            Code::PermissionDenied,
            &[],
        );
    }
    assert!(
        summaries_of(&server.audit().await, DEPARTMENT).0.is_empty(),
        "not written before the interval"
    );
    server.stop().await;
    let records = server.audit().await;
    assert_eq!(refusals_of(&records, DEPARTMENT).len(), 2);
    let (summaries, counted) = summaries_of(&records, DEPARTMENT);
    assert_eq!((summaries.len(), counted), (1, 10));
    // And a checkpoint signed after it covers it.
    let last = records.last().unwrap();
    assert_eq!(last.event.event, Some(EventKind::CheckpointSigned));
    assert!(last.sequence > summaries[0].sequence);
}

// ---------------------------------------------------------------------------------------------
// Revocation with a CRL made by `openssl ca`.
// ---------------------------------------------------------------------------------------------

/// An `openssl ca` over the development TLS CA in a temporary folder.
struct OpensslCa {
    dir: tempfile::TempDir,
}

impl OpensslCa {
    fn new() -> OpensslCa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("certs")).unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "1000\n").unwrap();
        std::fs::write(d.join("crlnumber"), "01\n").unwrap();
        let config = format!(
            "[ca]\ndefault_ca = test_ca\n\n[test_ca]\ndir = {dir}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/certs\n\
             certificate = {ca}\nprivate_key = {key}\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\n\
             default_md = sha256\ndefault_days = 30\ndefault_crl_days = 7\npolicy = any\nunique_subject = no\n\
             copy_extensions = copy\ncrl_extensions = crl_ext\n\n[any]\ncommonName = supplied\norganizationName = optional\n\n\
             [client]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n\n\
             [crl_ext]\nauthorityKeyIdentifier = keyid:always\n",
            dir = d.display(),
            ca = keys().join("tls-ca.pem").display(),
            key = keys().join("tls-ca.key").display(),
        );
        std::fs::write(d.join("openssl.cnf"), config).unwrap();
        OpensslCa { dir }
    }

    fn openssl(&self, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A client certificate for `uri` issued (and recorded) by the CA: (identity, its file name).
    fn issue(&self, name: &str, uri: &str) -> ClientIdentity {
        let (key, csr, cert) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        let subject = format!("/O=eseal Test/CN={name}");
        let san = format!("subjectAltName=URI:{uri}");
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-subj",
            &subject,
            "-addext",
            &san,
            "-out",
            &csr,
        ]);
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "openssl.cnf",
            "-extensions",
            "client",
            "-notext",
            "-in",
            &csr,
            "-out",
            &cert,
        ]);
        let d = self.dir.path();
        ClientIdentity {
            cert_pem: std::fs::read(d.join(cert)).unwrap(),
            key_pem: std::fs::read(d.join(key)).unwrap(),
        }
    }

    fn revoke(&self, name: &str) {
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "openssl.cnf",
            "-revoke",
            &format!("{name}.pem"),
        ]);
    }

    /// A CRL of what was revoked so far, written (atomically) to `to` as PEM or DER.
    fn publish(&self, to: &Path, der: bool) {
        self.publish_with(to, der, &[]);
    }

    /// [`OpensslCa::publish`] with more `openssl ca -gencrl` options.
    fn publish_with(&self, to: &Path, der: bool, options: &[&str]) {
        let mut args = vec!["ca", "-batch", "-config", "openssl.cnf", "-gencrl", "-out", "crl.pem"];
        args.extend_from_slice(options);
        self.openssl(&args);
        let staged = to.with_extension("staged");
        if der {
            self.openssl(&[
                "crl",
                "-in",
                "crl.pem",
                "-outform",
                "DER",
                "-out",
                staged.to_str().unwrap(),
            ]);
        } else {
            std::fs::copy(self.dir.path().join("crl.pem"), &staged).unwrap();
        }
        std::fs::rename(&staged, to).unwrap();
    }
}

/// Polls until ListSeals with `identity` gives an answer that `done` accepts (new connection
/// each time: CRLs are checked per call, connections stay).
async fn list_until(
    server: &TestServer,
    identity: &ClientIdentity,
    what: &str,
    done: impl Fn(&Result<usize, tonic::Status>) -> bool,
) -> Result<usize, tonic::Status> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = list_seals(server, identity).await;
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{what} within 20 s: {answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_certificate_is_refused_after_the_crl_changes() {
    let ca = OpensslCa::new();
    let revoked = ca.issue("dept-laptop", DEPARTMENT_URI);
    let other = ca.issue("dept-server", DEPARTMENT_URI);
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("client-ca.crl");
    ca.publish(&crl, false);
    let (crl_for_config, crl_garbage) = (crl.clone(), crl_dir.path().join("not-a-crl"));
    let server = TestServer::start_with(move |c| {
        c.server.client_crls = vec![crl_for_config];
        c.server.client_crl_check_ms = 100;
        c.metrics = Some(eseal_service::config::MetricsConfig { listen: "127.0.0.1:0".into() });
    })
    .await;

    // Before the revocation both work (and the one to revoke is remembered as accepted).
    assert_eq!(list_seals(&server, &revoked).await.unwrap(), 2);
    assert_eq!(list_seals(&server, &other).await.unwrap(), 2);
    // A connection opened before the revocation: its later calls are judged again.
    let mut open_before = SealAdminServiceClient::new(server.channel(Some(&revoked)).await);
    open_before.list_seals(ListSealsRequest {}).await.unwrap();

    // Revoked, and the CRL file replaced (DER this time): picked up by its change.
    ca.revoke("dept-laptop");
    ca.publish(&crl, true);
    let refused =
        list_until(&server, &revoked, "the revoked certificate refused", |a| a.is_err()).await;
    assert_refused(refused, Code::Unauthenticated, &["revoked"]);
    assert_refused(
        open_before.list_seals(ListSealsRequest {}).await,
        Code::Unauthenticated,
        &["revoked"],
    );
    assert_eq!(
        list_seals(&server, &other).await.unwrap(),
        2,
        "another client of the same principal still works"
    );
    assert_eq!(list_seals(&server, &ClientIdentity::department()).await.unwrap(), 2);
    let records = server.audit().await;
    // The record names the certificate: its SHA-256 (of the DER in the PEM openssl wrote).
    let der = x509_parser::pem::parse_x509_pem(&revoked.cert_pem).unwrap().1.contents;
    let fingerprint: String = sha256(&der).iter().map(|b| format!("{b:02x}")).collect();
    assert_refusal_recorded(
        &records,
        "anonymous",
        "ListSeals",
        &["Unauthenticated", "revoked", &format!("SHA-256 {fingerprint}")],
    );

    // A broken file keeps the list in use: still refused, and the failure counted.
    std::fs::write(&crl_garbage, b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
        .unwrap();
    std::fs::rename(&crl_garbage, &crl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = server.metrics_address.unwrap();
    loop {
        let mut stream = tokio::net::TcpStream::connect(metrics).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        if text.lines().any(|l| l == "eseal_client_crl_reload_failures_total 1") {
            break;
        }
        assert!(Instant::now() < deadline, "the bad CRL counted within 20 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_refused(list_seals(&server, &revoked).await, Code::Unauthenticated, &["revoked"]);
    assert_eq!(list_seals(&server, &other).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crl_past_its_next_update_is_still_used_and_reported() {
    let ca = OpensslCa::new();
    let revoked = ca.issue("dept-old", DEPARTMENT_URI);
    let other = ca.issue("dept-new", DEPARTMENT_URI);
    ca.revoke("dept-old");
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("client-ca.crl");
    // Published long ago, due again long ago.
    ca.publish_with(
        &crl,
        false,
        &["-crl_lastupdate", "20200101000000Z", "-crl_nextupdate", "20200108000000Z"],
    );
    let crl_for_config = crl.clone();
    let server = TestServer::start_with(move |c| {
        c.server.client_crls = vec![crl_for_config];
        c.metrics = Some(eseal_service::config::MetricsConfig { listen: "127.0.0.1:0".into() });
    })
    .await;
    // Not an outage: the clients it does not list are served; the ones it lists stay refused.
    assert_eq!(list_seals(&server, &other).await.unwrap(), 2);
    assert_refused(list_seals(&server, &revoked).await, Code::Unauthenticated, &["revoked"]);
    let mut stream = tokio::net::TcpStream::connect(server.metrics_address.unwrap()).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.lines().any(|l| l == "eseal_client_crls_expired 1"), "{text}");
}

#[test]
fn a_crl_not_signed_by_the_client_ca_is_refused_at_start() {
    // A CRL of another CA with the same name: only the signature tells it apart.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let output = Command::new("openssl").args(args).current_dir(d).output().unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/C=CN/O=eseal Development/CN=eseal Development TLS CA",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    std::fs::create_dir(d.join("certs")).unwrap();
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("crlnumber"), "01\n").unwrap();
    std::fs::write(
        d.join("openssl.cnf"),
        format!("[ca]\ndefault_ca = c\n[c]\ndir = {}\ndatabase = $dir/index.txt\ncertificate = $dir/ca.pem\nprivate_key = $dir/ca.key\ncrlnumber = $dir/crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\ncrl_extensions = e\n[e]\nauthorityKeyIdentifier = keyid:always\n", d.display()),
    )
    .unwrap();
    run(&["ca", "-batch", "-config", "openssl.cnf", "-gencrl", "-out", "foreign.crl"]);
    let mut config = dev_config(d);
    config.server.client_crls = vec![d.join("foreign.crl")];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error = runtime
        .block_on(eseal_service::server::start(config))
        .err()
        .expect("the server refuses to start")
        .to_string();
    assert!(
        error.contains("foreign.crl")
            && error.contains("signature does not verify with the client CA's key"),
        "{error}"
    );

    // A client CA file holding two certificates of that name (a re-keyed CA), the other key's
    // first: a CRL is checked against each, and the real CA's is used.
    let both = d.join("client-cas.pem");
    std::fs::write(
        &both,
        [
            std::fs::read(d.join("ca.pem")).unwrap(),
            std::fs::read(keys().join("tls-ca.pem")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let real_crl = d.join("real.crl");
    OpensslCa::new().publish(&real_crl, false);
    let store = d.join("second");
    std::fs::create_dir(&store).unwrap();
    let mut config = dev_config(&store);
    config.server.client_ca = both;
    config.server.client_crls = vec![real_crl];
    let server =
        runtime.block_on(eseal_service::server::start(config)).expect("the real CA's CRL is used");
    runtime.block_on(server.stop()).unwrap();
}

/// `eseal serve --config` as a child process, its log in a file.
struct Child {
    process: std::process::Child,
    log: PathBuf,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Child {
    /// Waits for the log line that says where it listens; returns the port.
    fn port(&self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains("eseal listening")) {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                let address: std::net::SocketAddr = value["fields"]["address"]
                    .as_str()
                    .or(value["address"].as_str())
                    .unwrap()
                    .parse()
                    .unwrap();
                return address.port();
            }
            assert!(Instant::now() < deadline, "the server does not listen within 30 s:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_crls() {
    let ca = OpensslCa::new();
    let revoked = ca.issue("dept-laptop", DEPARTMENT_URI);
    let dir = tempfile::tempdir().unwrap();
    let crl = dir.path().join("client-ca.crl");
    ca.publish(&crl, false);
    let mut config = dev_config(dir.path());
    config.server.client_crls = vec![crl.clone()];
    // No polling during the test: only SIGHUP can bring the new list.
    config.server.client_crl_check_ms = 3_600_000;
    config.log.format = eseal_service::config::LogFormat::Json;
    let config_path = dir.path().join("eseal.toml");
    std::fs::write(&config_path, config_toml(&config)).unwrap();
    let log = dir.path().join("serve.log");
    let process = Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(["serve", "--config", config_path.to_str().unwrap()])
        .env_remove("ESEAL_CONFIG")
        .env("ESEAL_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let child = Child { process, log };
    let port = child.port();
    let call = || async {
        let mut client = SealAdminServiceClient::new(connect(port, Some(&revoked)).await);
        client.list_seals(ListSealsRequest {}).await.map(|r| r.into_inner().seals.len())
    };
    assert_eq!(call().await.unwrap(), 2);

    ca.revoke("dept-laptop");
    ca.publish(&crl, false);
    assert_eq!(call().await.unwrap(), 2, "not polled: the old list is in use until SIGHUP");
    let status =
        Command::new("kill").args(["-HUP", &child.process.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let answer = call().await;
        if answer.is_err() {
            break answer;
        }
        assert!(Instant::now() < deadline, "refused within 20 s of SIGHUP");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_refused(refused, Code::Unauthenticated, &["revoked"]);
    let log = std::fs::read_to_string(&child.log).unwrap();
    assert!(log.contains("SIGHUP") && log.contains("client CRL loaded"), "{log}");
    // SIGHUP did not end it: it still serves.
    wait_serving(port, Duration::from_secs(10)).await;
}
