//! Helpers of the seal-key tests (tests/keys_*.rs): a SoftHSM2 token made for the test run,
//! seal certificates issued at test time by the development seal CA for keys the tests make,
//! seal configurations over them, and the per-seal health.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once, when the module is initialised in the process:
//! `scripts/test.sh` points it at a configuration generated for the run (a fresh token folder).
//! Without it, or without SoftHSM2, the PKCS#11 tests fail: they never pass without running.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use eseal_service::config::{Config, Pkcs11Config, SeedSeal};
use tonic::transport::Channel;

use super::service::{ClientIdentity, DAY, keys};

/// SoftHSM2's PKCS#11 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of the test tokens.
pub const PIN: &str = "87654321";
/// The security officer PIN of the test tokens.
pub const SO_PIN: &str = "12345678";

/// The test tokens: made once per test binary, before the module is first initialised in the
/// process (SoftHSM2 lists the tokens present at that moment).
pub struct Tokens {
    /// The token the seal keys are generated in.
    pub main: String,
    /// A token no test ever logs in to with the right PIN (for the wrong-PIN test: once one
    /// session of a process is logged in, PKCS#11 answers any later login "already logged in").
    pub spare: String,
}

/// The test tokens, initialised on first use.
pub fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let conf = std::env::var_os("SOFTHSM2_CONF").unwrap_or_else(|| {
            panic!("SOFTHSM2_CONF is not set: run the tests through scripts/test.sh, which installs SoftHSM2 and generates a token configuration for the run")
        });
        assert!(Path::new(&conf).is_file(), "SOFTHSM2_CONF names {conf:?}, which is not a file: run scripts/test.sh");
        assert!(Path::new(MODULE).is_file(), "SoftHSM2's module {MODULE} is missing: run scripts/test.sh (it installs Debian's softhsm2)");
        // Labels unique to this process: several test binaries share the run's token folder.
        let pid = std::process::id();
        let tokens = Tokens { main: format!("eseal-main-{pid}"), spare: format!("eseal-spare-{pid}") };
        for label in [&tokens.main, &tokens.spare] {
            let out = std::process::Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN])
                .output()
                .unwrap_or_else(|e| panic!("softhsm2-util cannot run ({e}): run scripts/test.sh, which installs softhsm2"));
            assert!(out.status.success(), "softhsm2-util --init-token failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        tokens
    })
}

/// `[keys.pkcs11]` for the test token `label`, the PIN in the file `pin_file`.
pub fn pkcs11_config(label: &str, pin_file: &Path) -> Pkcs11Config {
    Pkcs11Config {
        module: MODULE.into(),
        token_label: label.into(),
        pin_file: Some(pin_file.into()),
        pin_env: None,
        sessions: 8,
    }
}

/// Writes `pin` to `dir/name` and returns the path.
pub fn write_pin(dir: &Path, name: &str, pin: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{pin}\n")).unwrap();
    path
}

/// A public key rcgen can certify: the SubjectPublicKeyInfo a key store reports.
struct Spki {
    key: Vec<u8>,
    algorithm: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for Spki {
    fn der_bytes(&self) -> &[u8] {
        &self.key
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm
    }
}

/// `C=CN, O=organization, CN=common_name`, written as keys-sample writes names (C a
/// PrintableString, O and CN UTF8String, in that order).
fn name(organization: &str, common_name: &str) -> rcgen::DistinguishedName {
    let mut name = rcgen::DistinguishedName::new();
    name.push(
        rcgen::DnType::CountryName,
        rcgen::DnValue::PrintableString(rcgen::string::PrintableString::try_from("CN").unwrap()),
    );
    name.push(rcgen::DnType::OrganizationName, organization);
    name.push(rcgen::DnType::CommonName, common_name);
    name
}

/// The subject key identifier of keys-sample/seal-ca.pem.
fn seal_ca_key_id() -> Vec<u8> {
    use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
    let der = x509_parser::pem::parse_x509_pem(&std::fs::read(keys().join("seal-ca.pem")).unwrap())
        .unwrap()
        .1
        .contents;
    let (_, ca) = X509Certificate::from_der(&der).unwrap();
    ca.extensions()
        .iter()
        .find_map(|e| {
            if let ParsedExtension::SubjectKeyIdentifier(id) = e.parsed_extension() {
                Some(id.0.to_vec())
            } else {
                None
            }
        })
        .expect("seal-ca.pem has a subject key identifier")
}

/// The development seal CA (keys-sample/seal-ca.*) as an rcgen issuer, its subject written
/// exactly as in seal-ca.pem.
pub fn seal_ca() -> rcgen::Issuer<'static, rcgen::KeyPair> {
    let key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(keys().join("seal-ca.key")).unwrap())
            .unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = name("eseal Development", "eseal Development Seal Issuing CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    // The authority key identifier of what it issues must be seal-ca.pem's own subject key
    // identifier (OpenSSL's SHA-1), not rcgen's default: path builders such as pyHanko's
    // match on it.
    params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(seal_ca_key_id());
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    rcgen::Issuer::new(params, key)
}

/// A seal certificate chain (PEM: the new certificate, then seal-ca.pem) for the public key
/// `spki` (DER SubjectPublicKeyInfo), issued by the development seal CA with `usages`, valid
/// from a day ago until `not_after`.
pub fn seal_chain_for(
    spki: &[u8],
    common_name: &str,
    usages: Vec<rcgen::KeyUsagePurpose>,
    not_after: SystemTime,
) -> String {
    let certificate = issue(spki, common_name, usages, not_after, &seal_ca());
    format!("{certificate}{}", std::fs::read_to_string(keys().join("seal-ca.pem")).unwrap())
}

/// Like [`seal_chain_for`] with the seal usages, but from an impostor CA made up now that bears
/// the development seal CA's name: only a signature check tells it apart.
pub fn impostor_chain_for(spki: &[u8], common_name: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = name("eseal Development", "eseal Development Seal Issuing CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca = params.self_signed(&key).unwrap();
    let certificate =
        issue(spki, common_name, seal_usages(), in_a_year(), &rcgen::Issuer::new(params, key));
    format!("{certificate}{}", ca.pem())
}

/// A seal certificate (PEM) for `spki`, issued by `issuer`.
fn issue(
    spki: &[u8],
    common_name: &str,
    usages: Vec<rcgen::KeyUsagePurpose>,
    not_after: SystemTime,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> String {
    use x509_parser::prelude::FromDer;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).unwrap();
    let algorithm = if info.algorithm.algorithm.to_id_string() == "1.2.840.10045.2.1" {
        &rcgen::PKCS_ECDSA_P256_SHA256
    } else {
        &rcgen::PKCS_RSA_SHA256
    };
    let key = Spki { key: info.subject_public_key.data.to_vec(), algorithm };
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = name("示例市测试局", common_name);
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = usages;
    params.use_authority_key_identifier_extension = true;
    params.not_before = (SystemTime::now() - DAY).into();
    params.not_after = not_after.into();
    params.signed_by(&key, issuer).unwrap().pem()
}

/// The usual seal key usages: digitalSignature and nonRepudiation.
pub fn seal_usages() -> Vec<rcgen::KeyUsagePurpose> {
    vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::ContentCommitment]
}

/// A seed seal `id` whose chain is written to `dir/<id>-chain.pem`, with the approval-ec picture.
pub fn seed(dir: &Path, id: &str, chain_pem: &str, key_reference: &str) -> SeedSeal {
    let chain = dir.join(format!("{id}-chain.pem"));
    std::fs::write(&chain, chain_pem).unwrap();
    SeedSeal {
        id: id.into(),
        name: format!("{id} 测试专用章"),
        organization: "示例市测试局".into(),
        kind: "测试专用章".into(),
        image: keys().join("seal-approval-ec.png"),
        certificate_chain: chain,
        key_reference: key_reference.into(),
        custodians: vec!["custodian-wang".into()],
    }
}

/// Starts a server on `config` (its own store), panicking with the error when it cannot.
pub async fn start(config: Config) -> eseal_service::server::RunningServer {
    match eseal_service::server::start(config).await {
        Ok(server) => server,
        Err(e) => panic!("the server does not start: {e}"),
    }
}

/// The health status of the service `name` (e.g. `eseal.seal.approval-ec`) as an archivist sees it.
pub async fn health(channel: Channel, name: &str) -> Result<i32, tonic::Status> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    Ok(HealthClient::new(channel)
        .check(HealthCheckRequest { service: name.into() })
        .await?
        .into_inner()
        .status)
}

/// SERVING, as the health protocol numbers it.
pub const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
/// NOT_SERVING.
pub const NOT_SERVING: i32 =
    tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;

/// An archivist's channel to `port`.
pub async fn archivist(port: u16) -> Channel {
    super::service::connect(port, Some(&ClientIdentity::archivist())).await
}

/// A year from now.
pub fn in_a_year() -> SystemTime {
    SystemTime::now() + 365 * DAY
}

/// Short waits of the tests.
pub const SHORT: Duration = Duration::from_secs(10);

/// Registers a seal `id` with `key_reference` directly in the store of `config` (as an earlier
/// start would have), with the housing-rsa chain and picture: for seals whose key will not load.
pub async fn preregister(config: &Config, id: &str, key_reference: &str) {
    use eseal_audit::{AuditEvent, EventKind};
    use eseal_service::seal::{Seal, SealState};
    use eseal_service::store::Store;
    // A certificate of its own (made here, never used to sign): a certificate serves one seal
    // only, and the seeds hold the sample ones.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let certificate_chain = vec![
        rcgen::CertificateParams::new(vec![format!("{id}.test")])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec(),
    ];
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let seal = Seal {
        id: id.into(),
        name: format!("{id} 测试专用章"),
        organization: "示例市测试局".into(),
        kind: "测试专用章".into(),
        image_png: std::fs::read(keys().join("seal-housing-rsa.png")).unwrap(),
        certificate_chain,
        key_reference: key_reference.into(),
        custodians: vec!["custodian-wang".into()],
        valid_from: now - 86_400,
        valid_until: now + 365 * 86_400,
        state: SealState::Active,
        registered_at: now,
    };
    let store = eseal_service::store::SqliteStore::open(
        &config.store.sqlite_path,
        &config.store.audit_origin,
    )
    .await
    .unwrap();
    let mut event = AuditEvent::new(EventKind::SealRegistered, "test-setup");
    event.seal_id = Some(id.into());
    store.register_seal(&seal, event, now).await.unwrap();
    store.close().await;
}
