//! Helpers of the service tests (tests/service_*.rs): a real server on loopback with real mTLS
//! and a real SQLite file, clients with a chosen identity (the keys-sample ones, or certificates
//! made at test time with rcgen), the calls the tests make, and a read-only look at the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One day.
pub const DAY: Duration = Duration::from_secs(86_400);

use eseal_audit::{AuditRecord, EventKind};
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::sign_document_request::Part as RequestPart;
use eseal_service::api::proto::sign_document_response::Part as ResponsePart;
use eseal_service::api::proto::signing_service_client::SigningServiceClient;
use eseal_service::api::proto::{
    self, Authorization, GrantAuthorizationRequest, Placement, SealRect, SignDocumentRequest,
    SignHeader, StampingReceipt,
};
use eseal_service::config::{Config, PrincipalConfig};
use eseal_service::server::RunningServer;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Status};

use super::repo;

/// The keys-sample folder.
pub fn keys() -> PathBuf {
    repo().join("keys-sample")
}

/// The SAN URIs of the keys-sample client certificates (and of the test-time ones).
pub const DEPARTMENT_URI: &str = "spiffe://eseal.example/department/approval-system";
pub const CUSTODIAN_URI: &str = "spiffe://eseal.example/custodian/wang";
/// A second department principal that only the test configurations know (`permit-system`).
pub const SECOND_DEPARTMENT: &str = "permit-system";
pub const SECOND_DEPARTMENT_URI: &str = "spiffe://eseal.example/department/permit-system";
/// A principal that is both a department and a custodian of approval-ec (`dual-chen`), to try
/// a custodian authorizing its own stamping.
pub const DUAL_ROLE: &str = "dual-chen";
pub const DUAL_ROLE_URI: &str = "spiffe://eseal.example/dual/chen";

/// A client identity: certificate and key, PEM.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl ClientIdentity {
    /// `keys-sample/<name>.pem` and `.key` (e.g. `client-department`).
    pub fn sample(name: &str) -> ClientIdentity {
        let dir = keys();
        ClientIdentity {
            cert_pem: std::fs::read(dir.join(format!("{name}.pem"))).unwrap(),
            key_pem: std::fs::read(dir.join(format!("{name}.key"))).unwrap(),
        }
    }

    pub fn department() -> ClientIdentity {
        Self::sample("client-department")
    }
    pub fn custodian() -> ClientIdentity {
        Self::sample("client-custodian")
    }
    pub fn seal_admin() -> ClientIdentity {
        Self::sample("client-seal-admin")
    }
    pub fn archivist() -> ClientIdentity {
        Self::sample("client-archivist")
    }
}

fn client_params(
    cn: &str,
    uri: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "eseal Test");
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.subject_alt_names =
        vec![rcgen::SanType::URI(rcgen::string::Ia5String::try_from(uri).unwrap())];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    params
}

/// The real development TLS CA (keys-sample/tls-ca.*) as an rcgen issuer: its subject written
/// exactly as in tls-ca.pem (C PrintableString, O and CN UTF8String, in that order) so that
/// certificates it issues chain to it.
fn tls_ca_issuer() -> rcgen::Issuer<'static, rcgen::KeyPair> {
    let key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(keys().join("tls-ca.key")).unwrap())
            .unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CountryName,
        rcgen::DnValue::PrintableString(rcgen::string::PrintableString::try_from("CN").unwrap()),
    );
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "eseal Development");
    params.distinguished_name.push(rcgen::DnType::CommonName, "eseal Development TLS CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    rcgen::Issuer::new(params, key)
}

/// A client certificate issued at test time by the real development TLS CA.
pub fn issued_by_tls_ca(
    cn: &str,
    uri: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> ClientIdentity {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert =
        client_params(cn, uri, not_before, not_after).signed_by(&key, &tls_ca_issuer()).unwrap();
    ClientIdentity { cert_pem: cert.pem().into_bytes(), key_pem: key.serialize_pem().into_bytes() }
}

/// A currently valid client certificate issued by the real development TLS CA.
pub fn valid_from_tls_ca(cn: &str, uri: &str) -> ClientIdentity {
    let now = SystemTime::now();
    issued_by_tls_ca(cn, uri, now - DAY, now + 30 * DAY)
}

/// A client certificate naming `uri` from a CA made up at test time whose common name is
/// `ca_name` (give the real TLS CA's name, `eseal Development TLS CA`, for an impostor that
/// only a signature check can tell apart).
pub fn from_foreign_ca(ca_name: &str, cn: &str, uri: &str) -> ClientIdentity {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = rcgen::CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name.push(
        rcgen::DnType::CountryName,
        rcgen::DnValue::PrintableString(rcgen::string::PrintableString::try_from("CN").unwrap()),
    );
    ca.distinguished_name.push(rcgen::DnType::OrganizationName, "eseal Development");
    ca.distinguished_name.push(rcgen::DnType::CommonName, ca_name);
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let now = SystemTime::now();
    let cert = client_params(cn, uri, now - DAY, now + 30 * DAY).signed_by(&key, &issuer).unwrap();
    ClientIdentity { cert_pem: cert.pem().into_bytes(), key_pem: key.serialize_pem().into_bytes() }
}

/// The development configuration over a fresh store in `dir`, listening on 127.0.0.1:0.
pub fn dev_config(dir: &Path) -> Config {
    let mut config = Config::development(&repo());
    config.server.listen = "127.0.0.1:0".into();
    config.store.sqlite_path = dir.join("eseal.db");
    // Tests that count audit records sign checkpoints only when they ask for one.
    config.audit.checkpoint_interval_ms = 3_600_000;
    config
}

/// [`dev_config`] plus the test-only principals: a second department (`permit-system`) and a
/// principal that is department and custodian of approval-ec at once (`dual-chen`).
pub fn extended_config(dir: &Path) -> Config {
    let mut config = dev_config(dir);
    let principal = PrincipalConfig::recognised_by_uri;
    config.principals.push(PrincipalConfig {
        department: vec!["*".into()],
        ..principal(SECOND_DEPARTMENT, SECOND_DEPARTMENT_URI)
    });
    config.principals.push(PrincipalConfig {
        department: vec!["approval-ec".into()],
        custodian: vec!["approval-ec".into()],
        ..principal(DUAL_ROLE, DUAL_ROLE_URI)
    });
    for seed in &mut config.seed_seals {
        if seed.id == "approval-ec" {
            seed.custodians.push(DUAL_ROLE.into());
        }
    }
    config
}

/// A server started in-process on a fresh store.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub address: SocketAddr,
    /// The Prometheus endpoint, when the configuration has `[metrics]`.
    pub metrics_address: Option<SocketAddr>,
    running: Option<RunningServer>,
}

impl TestServer {
    /// Starts the development configuration (as changed by `adjust`) in a fresh tempdir.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = extended_config(dir.path());
        adjust(&mut config);
        let db = config.store.sqlite_path.clone();
        let running = eseal_service::server::start(config).await.expect("the server starts");
        TestServer {
            dir,
            db,
            address: running.address,
            metrics_address: running.metrics_address,
            running: Some(running),
        }
    }

    /// Starts the extended development configuration in a fresh tempdir.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A channel with `identity` (none: no client certificate).
    pub async fn channel(&self, identity: Option<&ClientIdentity>) -> Channel {
        connect(self.address.port(), identity).await
    }

    pub async fn signing(&self, identity: &ClientIdentity) -> SigningServiceClient<Channel> {
        SigningServiceClient::new(self.channel(Some(identity)).await)
            .max_decoding_message_size(64 << 20)
    }

    pub async fn admin(&self, identity: &ClientIdentity) -> SealAdminServiceClient<Channel> {
        SealAdminServiceClient::new(self.channel(Some(identity)).await)
    }

    /// Stops the server (the store file stays for inspection).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("the server stops cleanly");
        }
    }

    /// The audit trail as stored.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        audit_records(&self.db).await
    }
}

/// Installs the ring provider for rustls (once; later calls are no-ops).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A channel to `https://127.0.0.1:port` verifying the server as `localhost` against tls-ca,
/// presenting `identity` when given.
pub async fn connect(port: u16, identity: Option<&ClientIdentity>) -> Channel {
    try_connect(port, identity)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to 127.0.0.1:{port}: {e}"))
}

/// Like [`connect`], returning the error.
pub async fn try_connect(
    port: u16,
    identity: Option<&ClientIdentity>,
) -> Result<Channel, tonic::transport::Error> {
    try_connect_with(port, identity, |endpoint| endpoint).await
}

/// Like [`try_connect`], with the endpoint's settings changed by `adjust`.
pub async fn try_connect_with(
    port: u16,
    identity: Option<&ClientIdentity>,
    adjust: impl FnOnce(tonic::transport::Endpoint) -> tonic::transport::Endpoint,
) -> Result<Channel, tonic::transport::Error> {
    install_provider();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(keys().join("tls-ca.pem")).unwrap()))
        .domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(Identity::from_pem(&id.cert_pem, &id.key_pem));
    }
    adjust(
        Channel::from_shared(format!("https://127.0.0.1:{port}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_timeout(Duration::from_secs(5)),
    )
    .connect()
    .await
}

/// Asserts that a client without a certificate is not served at `port`: the TLS handshake
/// fails (in TLS 1.3 the client may finish its side first and see the server's alert, or the
/// closed connection, on its first call), and no call gets an answer of the service. Returns
/// what the client saw. (tests/service_hostile_auth.rs checks the alert itself.)
pub async fn assert_refused_without_certificate(port: u16) -> String {
    match try_connect(port, None).await {
        Err(e) => format!("{e:?}"),
        Ok(channel) => match SealAdminServiceClient::new(channel)
            .list_seals(proto::ListSealsRequest {})
            .await
        {
            Ok(answer) => panic!("a client without a certificate was answered: {answer:?}"),
            Err(status) => {
                assert!(
                    matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled)
                        && std::error::Error::source(&status).is_some(),
                    "a transport failure, not an answer of the service: {status:?}"
                );
                format!("{status:?}")
            }
        },
    }
}

pub use super::sha256;

/// Reads a corpus file.
pub fn corpus_bytes(prefix: &str) -> Vec<u8> {
    std::fs::read(super::corpus(prefix)).unwrap()
}

/// A grant request for the default department principal.
pub fn grant_request(seal: &str, grantee: &str, case: &str) -> GrantAuthorizationRequest {
    GrantAuthorizationRequest {
        seal_id: seal.into(),
        grantee: grantee.into(),
        case_number: case.into(),
        document_sha256: Vec::new(),
        valid_for_seconds: 0,
    }
}

/// Grants `request` as the client `admin` (a custodian's), panicking on refusal.
pub async fn grant(
    admin: &mut SealAdminServiceClient<Channel>,
    request: GrantAuthorizationRequest,
) -> Authorization {
    admin.grant_authorization(request).await.expect("the grant succeeds").into_inner()
}

/// A visible seal 40 mm wide, 20 mm from the bottom-right corner of the last page.
pub fn visible_placement() -> Placement {
    Placement {
        page: -1,
        rect: Some(SealRect {
            x: 20.0,
            y: 20.0,
            width: 40.0,
            height: 40.0,
            unit: proto::Unit::Millimetres as i32,
            corner: proto::Corner::BottomRight as i32,
        }),
    }
}

/// A sign header.
pub fn header(seal: &str, authorization: &str, request_id: &str, case: &str) -> SignHeader {
    SignHeader {
        seal_id: seal.into(),
        authorization_id: authorization.into(),
        request_id: request_id.into(),
        placement: Some(visible_placement()),
        reason: "准予行政许可".into(),
        location: "示例市政务服务中心".into(),
        case_number: case.into(),
        contact_info: String::new(),
        certify: false,
        field_name: String::new(),
        returned_bytes: 0,
    }
}

/// [`header`] asking for the update alone instead of the whole sealed document.
pub fn update_only(header: SignHeader) -> SignHeader {
    SignHeader { returned_bytes: proto::ReturnedBytes::UpdateOnly as i32, ..header }
}

/// What a successful SignDocument returned: the receipt and every byte of the sealed document.
#[derive(Clone, Debug)]
pub struct Sealed {
    pub receipt: StampingReceipt,
    pub document: Vec<u8>,
}

/// Streams `header` then `document` in 256 KiB chunks, and collects the answer: the receipt,
/// then every chunk (appended to `document` when the header asks for the update only). A broken answer (no receipt first, a chunk before it, a document whose size
/// or SHA-256 is not the receipt's) is an error of code DATA_LOSS; nothing counts as received
/// unless all of it arrived and matches the receipt.
pub async fn try_sign(
    client: &mut SigningServiceClient<Channel>,
    header: SignHeader,
    document: &[u8],
) -> Result<Sealed, Status> {
    let header_returned_update_only =
        header.returned_bytes == proto::ReturnedBytes::UpdateOnly as i32;
    let mut messages = vec![SignDocumentRequest { part: Some(RequestPart::Header(header)) }];
    messages.extend(
        document
            .chunks(256 * 1024)
            .map(|c| SignDocumentRequest { part: Some(RequestPart::Chunk(c.to_vec())) }),
    );
    let mut stream = client.sign_document(tokio_stream::iter(messages)).await?.into_inner();
    let receipt = match stream.message().await? {
        Some(proto::SignDocumentResponse { part: Some(ResponsePart::Receipt(r)) }) => r,
        other => {
            return Err(Status::data_loss(format!(
                "the first answer must be the receipt, not {other:?}"
            )));
        }
    };
    if receipt.input_size != document.len() as u64 {
        return Err(Status::data_loss(format!(
            "the receipt says {} bytes were received, not {}",
            receipt.input_size,
            document.len()
        )));
    }
    // Asked for the update alone: the sealed document is the document sent followed by it.
    let mut out = if header_returned_update_only { document.to_vec() } else { Vec::new() };
    while let Some(message) = stream.message().await? {
        match message.part {
            Some(ResponsePart::Chunk(c)) => out.extend_from_slice(&c),
            other => {
                return Err(Status::data_loss(format!(
                    "only chunks may follow the receipt, not {other:?}"
                )));
            }
        }
    }
    if out.len() as u64 != receipt.output_size || sha256(&out).to_vec() != receipt.output_sha256 {
        return Err(Status::data_loss(format!(
            "received {} bytes that do not match the receipt ({} bytes)",
            out.len(),
            receipt.output_size
        )));
    }
    Ok(Sealed { receipt, document: out })
}

/// [`try_sign`], failing the test on a broken answer; also checks that the receipt names the
/// document sent and that the sealed document is an incremental update of it.
pub async fn sign(
    client: &mut SigningServiceClient<Channel>,
    header: SignHeader,
    document: &[u8],
) -> Result<Sealed, Status> {
    match try_sign(client, header, document).await {
        Err(s) if s.code() == Code::DataLoss && s.message().contains("receipt") => {
            panic!("broken SignDocument answer: {}", s.message())
        }
        Err(s) => Err(s),
        Ok(sealed) => {
            assert_eq!(
                sealed.receipt.input_sha256,
                sha256(document).to_vec(),
                "the receipt names the document sent"
            );
            assert!(
                sealed.document.starts_with(document),
                "the sealed document is an incremental update of the one sent"
            );
            Ok(sealed)
        }
    }
}

/// Asserts that `result` is a refusal with `code` whose message contains every one of `words`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    words: &[&str],
) -> Status {
    let status = match result {
        Ok(v) => panic!("expected {code:?} ({words:?}), the call succeeded: {v:?}"),
        Err(s) => s,
    };
    assert_eq!(
        status.code(),
        code,
        "expected {code:?} ({words:?}), got {:?}: {}",
        status.code(),
        status.message()
    );
    for w in words {
        assert!(
            status.message().contains(w),
            "the {code:?} message should contain {w:?}: {}",
            status.message()
        );
    }
    status
}

/// A read-only pool on the store file (the server may still be running: WAL allows it).
pub async fn read_only(db: &Path) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db).read_only(true);
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open the store read-only")
}

/// Every audit record of the store at `db`, in order, parsed; checks they are numbered from 1
/// without gaps.
pub async fn audit_records(db: &Path) -> Vec<AuditRecord> {
    use sqlx::Row;
    let pool = read_only(db).await;
    let rows = sqlx::query("SELECT sequence, record FROM audit_log ORDER BY sequence")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    let records: Vec<AuditRecord> = rows
        .iter()
        .map(|row| {
            let sequence: i64 = row.get(0);
            let bytes: Vec<u8> = row.get(1);
            let record = AuditRecord::from_json(&bytes)
                .unwrap_or_else(|e| panic!("audit record {sequence}: {e}"));
            assert_eq!(record.sequence as i64, sequence, "the record's sequence is its row's");
            record
        })
        .collect();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.sequence, i as u64 + 1, "audit sequence numbers run from 1 without gaps");
    }
    records
}

/// The records of `kind`.
pub fn of_kind(records: &[AuditRecord], kind: EventKind) -> Vec<&AuditRecord> {
    records.iter().filter(|r| r.event.event == Some(kind)).collect()
}

/// Asserts that the trail holds a `call_refused` record of `method` by `principal` whose
/// reason contains every one of `words`.
#[track_caller]
pub fn assert_refusal_recorded(
    records: &[AuditRecord],
    principal: &str,
    method: &str,
    words: &[&str],
) {
    let found = of_kind(records, EventKind::CallRefused).into_iter().any(|r| {
        r.event.method.as_deref() == Some(method)
            && r.event.principal == principal
            && r.event
                .reason
                .as_deref()
                .is_some_and(|reason| words.iter().all(|w| reason.contains(w)))
    });
    if !found {
        let refusals: Vec<String> = of_kind(records, EventKind::CallRefused)
            .iter()
            .map(|r| format!("{} {:?} {:?}", r.event.principal, r.event.method, r.event.reason))
            .collect();
        panic!(
            "no call_refused record of {method} by {principal} with {words:?}; refusals recorded:\n{}",
            refusals.join("\n")
        );
    }
}

/// What `eseal serve` prints once it listens: `eseal is listening on ADDR (mTLS), ...`.
pub const LISTENING: &str = "eseal is listening on ";
/// What it logs (info) when it serves metrics: `metrics at http://ADDR/metrics`.
pub const METRICS_AT: &str = "metrics at http://";

/// The address that `log` (the output of a child `eseal serve` told to listen on port 0)
/// shows after `prefix`: the port the child bound itself, so no other process can take it
/// between choice and use. Fails when the child exits first or after `within`.
pub async fn logged_address(
    log: &Path,
    prefix: &str,
    child: &mut std::process::Child,
    within: Duration,
) -> SocketAddr {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let address = text.lines().filter_map(|l| l.split_once(prefix)).find_map(|(_, rest)| {
            rest.split(|c: char| c.is_whitespace() || c == '/' || c == '"').next()?.parse().ok()
        });
        if let Some(address) = address {
            return address;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("eseal serve exited ({status}) before printing {prefix:?}:\n{text}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "eseal serve printed no {prefix:?} within {within:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the gRPC health service at `port` answers SERVING over mTLS (archivist identity).
pub async fn wait_serving(port: u16, within: Duration) {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let deadline = tokio::time::Instant::now() + within;
    let identity = ClientIdentity::archivist();
    loop {
        if let Ok(channel) = try_connect(port, Some(&identity)).await {
            let mut health = HealthClient::new(channel);
            if let Ok(answer) = health.check(HealthCheckRequest { service: String::new() }).await {
                if answer.into_inner().status == ServingStatus::Serving as i32 {
                    return;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server on port {port} is not serving after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `config` written as the TOML that `eseal serve --config` reads (absolute paths throughout).
pub fn config_toml(config: &Config) -> String {
    toml::to_string(config).expect("the configuration serialises as TOML")
}

/// Runs the `eseal` binary against the server on `port` (from the source tree, so that the
/// keys-sample identities are found).
pub fn eseal(port: u16, args: &[&str]) -> std::process::Output {
    eseal_in(port, Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Runs the `eseal` binary in `cwd` against the server on `port`.
pub fn eseal_in(port: u16, cwd: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(args)
        .env("ESEAL_SERVER", format!("https://localhost:{port}"))
        .env("ESEAL_LOG", "warn")
        .current_dir(cwd)
        .output()
        .expect("run eseal")
}

/// What a command printed, stdout then stderr.
pub fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The development audit log's verifier key.
pub fn vkey() -> String {
    std::fs::read_to_string(super::repo().join("keys-sample/audit-log.vkey"))
        .unwrap()
        .trim()
        .to_string()
}
