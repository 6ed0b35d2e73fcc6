//! Seal keys in a PKCS#11 token (SoftHSM2, a token made for the run): generated in the token as
//! sensitive and non-extractable, used for real stampings over mTLS that pyHanko and pdfsig
//! validate, many at once through the session pool; a wrong PIN makes only the seals in that
//! token unavailable.

mod common;

use std::sync::Arc;

use common::keys::*;
use common::service::*;
use common::{pdfsig, pyhanko_validate};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use eseal_service::config::Config;
use eseal_service::keys::KeyAlgorithm;
use eseal_service::keys::csr::{KeyHome, keygen};
use tonic::Code;

/// Makes a key labelled `label` in the main test token through `eseal seal keygen`'s code
/// path; returns its key reference and the chain of a certificate issued for its CSR.
fn token_key(dir: &std::path::Path, label: &str, algorithm: KeyAlgorithm) -> (String, String) {
    let pin = write_pin(dir, "pin", PIN);
    let config = eseal_service::config::KeysConfig {
        directory: dir.into(),
        pkcs11: Some(pkcs11_config(&tokens().main, &pin)),
        ..Default::default()
    };
    let made = keygen(
        &config,
        KeyHome::Pkcs11,
        label,
        algorithm,
        &format!("CN={label},O=示例市测试局,C=CN"),
    )
    .expect("keygen in the token");
    assert_eq!(made.reference, format!("pkcs11:label={label}"));
    let der = x509_parser::pem::parse_x509_pem(made.csr_pem.as_bytes()).unwrap().1.contents;
    use x509_parser::prelude::FromDer;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .expect("a PKCS#10 request");
    let spki = csr.certification_request_info.subject_pki.raw.to_vec();
    (
        made.reference,
        seal_chain_for(&spki, &format!("{label} 测试专用章"), seal_usages(), in_a_year()),
    )
}

/// A production-mode configuration (no plaintext keys) whose only seals are `seeds`, with the
/// main test token.
fn token_config(dir: &std::path::Path, seeds: Vec<eseal_service::config::SeedSeal>) -> Config {
    let mut config = dev_config(dir);
    config.development = false;
    config.keys.directory = dir.to_path_buf();
    config.keys.pkcs11 = Some(pkcs11_config(&tokens().main, &write_pin(dir, "pin", PIN)));
    config.seed_seals = seeds;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_seals_stamp_corpus_documents_that_pyhanko_and_pdfsig_validate() {
    let dir = tempfile::tempdir().unwrap();
    let (ec_reference, ec_chain) = token_key(dir.path(), "stamp-ec", KeyAlgorithm::EcdsaP256);
    let (rsa_reference, rsa_chain) = token_key(dir.path(), "stamp-rsa", KeyAlgorithm::Rsa3072);
    let seeds = vec![
        seed(dir.path(), "token-ec", &ec_chain, &ec_reference),
        seed(dir.path(), "token-rsa", &rsa_chain, &rsa_reference),
    ];
    let server = start(token_config(dir.path(), seeds)).await;
    let port = server.address.port();
    let mut custodian =
        SealAdminClient::new(connect(port, Some(&ClientIdentity::custodian())).await);
    let mut signing = SigningClient::new(connect(port, Some(&ClientIdentity::department())).await)
        .max_decoding_message_size(64 << 20);
    for seal in ["token-ec", "token-rsa"] {
        assert_eq!(
            health(archivist(port).await, &format!("eseal.seal.{seal}")).await.unwrap(),
            SERVING,
            "{seal} is serving"
        );
        for corpus in ["01", "13"] {
            let case = format!("HSM-{seal}-{corpus}");
            let authorization =
                grant(&mut custodian, grant_request(seal, "approval-system", &case)).await.id;
            let sealed = sign(
                &mut signing,
                header(seal, &authorization, &format!("req-{seal}-{corpus}"), &case),
                &corpus_bytes(corpus),
            )
            .await
            .unwrap_or_else(|s| panic!("{seal} on corpus {corpus}: {s:?}"));
            let path = dir.path().join(format!("{seal}-{corpus}.pdf"));
            std::fs::write(&path, &sealed.document).unwrap();
            let (valid, total, text) = pdfsig(&path);
            assert!(
                valid.last() == Some(&true) && total,
                "{seal} {corpus}: pdfsig does not validate the seal:\n{text}"
            );
            let (verdicts, text) = pyhanko_validate(&path, true);
            let ours = verdicts.last().unwrap_or_else(|| {
                panic!("{seal} {corpus}: pyHanko reports no signature:\n{text}")
            });
            assert!(
                ours.intact() && ours.trusted() && ours.untouched(),
                "{seal} {corpus}: pyHanko: {}\n{text}",
                ours.line
            );
        }
    }
    server.stop().await.unwrap();
}

#[test]
fn token_keys_are_sensitive_non_extractable_and_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = token_key(dir.path(), "locked-ec", KeyAlgorithm::EcdsaP256);
    // Our own session on the token, as anyone holding the PIN could open one.
    let context = cryptoki::context::Pkcs11::new(MODULE).unwrap();
    match context.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    )) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = context
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| context.get_token_info(*s).unwrap().label().trim_end() == tokens().main)
        .expect("the main test token");
    let session = context.open_ro_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::from(PIN))) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(e) => panic!("login: {e}"),
    }
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"locked-ec".to_vec()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1, "one private key labelled locked-ec");
    let info = session.get_attribute_info(keys[0], &[AttributeType::Value]).unwrap();
    assert!(
        matches!(info.as_slice(), [AttributeInfo::Sensitive]),
        "CKA_VALUE must be refused as sensitive, got {info:?}"
    );
    let read = session
        .get_attributes(
            keys[0],
            &[
                AttributeType::Value,
                AttributeType::Extractable,
                AttributeType::Sensitive,
                AttributeType::NeverExtractable,
            ],
        )
        .unwrap();
    assert!(
        !read.iter().any(|a| matches!(a, Attribute::Value(_))),
        "the private value came out of the token: {read:?}"
    );
    assert!(
        read.contains(&Attribute::Extractable(false)),
        "CKA_EXTRACTABLE must be false: {read:?}"
    );
    assert!(read.contains(&Attribute::Sensitive(true)), "CKA_SENSITIVE must be true: {read:?}");
    assert!(
        read.contains(&Attribute::NeverExtractable(true)),
        "CKA_NEVER_EXTRACTABLE must be true: {read:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_eight_concurrent_stampings_through_the_token_all_succeed() {
    const STAMPINGS: usize = 48;
    let dir = tempfile::tempdir().unwrap();
    let (reference, chain) = token_key(dir.path(), "busy-ec", KeyAlgorithm::EcdsaP256);
    let mut config =
        token_config(dir.path(), vec![seed(dir.path(), "token-busy", &chain, &reference)]);
    // Fewer sessions than requests: the pool must share them, not fail or serialize wrongly.
    if let Some(p) = config.keys.pkcs11.as_mut() {
        p.sessions = 4;
    }
    let server = start(config).await;
    let port = server.address.port();
    let mut custodian =
        SealAdminClient::new(connect(port, Some(&ClientIdentity::custodian())).await);
    let mut grants = Vec::new();
    for i in 0..STAMPINGS {
        let case = format!("HSM-BUSY-{i:03}");
        grants.push((
            grant(&mut custodian, grant_request("token-busy", "approval-system", &case)).await.id,
            case,
        ));
    }
    let document = Arc::new(corpus_bytes("01"));
    let mut tasks = Vec::new();
    for (i, (authorization, case)) in grants.into_iter().enumerate() {
        let document = Arc::clone(&document);
        tasks.push(tokio::spawn(async move {
            // A connection per request: the calls really run side by side.
            let mut signing =
                SigningClient::new(connect(port, Some(&ClientIdentity::department())).await)
                    .max_decoding_message_size(64 << 20);
            sign(
                &mut signing,
                header("token-busy", &authorization, &format!("busy-{i}"), &case),
                &document,
            )
            .await
        }));
    }
    let anchors = eseal_verify::TrustAnchors::from_pem(
        &std::fs::read_to_string(keys().join("root-ca.pem")).unwrap(),
    )
    .unwrap();
    let mut sealed = 0;
    for task in tasks {
        let result =
            task.await.unwrap().unwrap_or_else(|s| panic!("a concurrent stamping failed: {s:?}"));
        let report = eseal_verify::verify_document(&result.document, &anchors).unwrap();
        let last = report.signatures.last().expect("a signature");
        assert!(last.intact && last.valid && last.trusted, "{last:#?}");
        sealed += 1;
    }
    assert_eq!(sealed, STAMPINGS);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_makes_only_the_token_seals_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = dev_config(dir.path());
    // The token seal is already registered (as after an earlier start); now the PIN is wrong.
    preregister(&config, "token-locked", "pkcs11:label=never-unlocked").await;
    config.keys.pkcs11 =
        Some(pkcs11_config(&tokens().spare, &write_pin(dir.path(), "wrong-pin", "00000000")));
    let server = start(config).await;
    let port = server.address.port();
    assert_eq!(
        health(archivist(port).await, "eseal.seal.token-locked").await.unwrap(),
        NOT_SERVING
    );
    assert_eq!(health(archivist(port).await, "eseal.seal.approval-ec").await.unwrap(), SERVING);
    assert_eq!(
        health(archivist(port).await, "").await.unwrap(),
        SERVING,
        "the service as a whole serves"
    );

    let mut custodian =
        SealAdminClient::new(connect(port, Some(&ClientIdentity::custodian())).await);
    let mut signing = SigningClient::new(connect(port, Some(&ClientIdentity::department())).await)
        .max_decoding_message_size(64 << 20);
    let locked =
        grant(&mut custodian, grant_request("token-locked", "approval-system", "PIN-1")).await.id;
    let refused =
        sign(&mut signing, header("token-locked", &locked, "pin-1", "PIN-1"), &corpus_bytes("01"))
            .await;
    assert_refused(
        refused,
        Code::Unavailable,
        &["seal token-locked is unavailable", "refused the PIN"],
    );
    let working =
        grant(&mut custodian, grant_request("approval-ec", "approval-system", "PIN-2")).await.id;
    sign(&mut signing, header("approval-ec", &working, "pin-2", "PIN-2"), &corpus_bytes("01"))
        .await
        .expect("the other seals keep stamping");
    server.stop().await.unwrap();
}

type SealAdminClient = eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient<
    tonic::transport::Channel,
>;
type SigningClient = eseal_service::api::proto::signing_service_client::SigningServiceClient<
    tonic::transport::Channel,
>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_key_in_the_token_signs_checkpoints_its_verifier_key_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, chain) = token_key(dir.path(), "logkey-seal", KeyAlgorithm::EcdsaP256);
    let mut config =
        token_config(dir.path(), vec![seed(dir.path(), "logkey-seal", &chain, &reference)]);
    // An Ed25519 key made in the token (CKM_EC_EDWARDS_KEY_PAIR_GEN), sensitive and
    // non-extractable like the seal keys.
    let settings =
        eseal_service::keys::token_settings(&config.keys).unwrap().expect("a token is configured");
    let token = eseal_service::keys::Token::open(&settings).expect("the test token opens");
    let public_key = token.generate_ed25519("audit-log").expect("an Ed25519 key in SoftHSM2");
    let vkey = eseal_audit::LogVerifier::new(&config.store.audit_origin, public_key)
        .unwrap()
        .verifier_key();
    assert_ne!(vkey, common::service::vkey(), "not the sample key");

    // A seal key is not a log key: the start fails and says why.
    config.audit.log_key = None;
    config.audit.log_key_reference = Some(reference.clone());
    let error = eseal_service::server::start(config.clone())
        .await
        .err()
        .expect("an EC key refused as the log key")
        .to_string();
    assert!(
        error.starts_with(&format!("audit log key (audit.log_key_reference = {reference}): "))
            && error.contains("not an Ed25519"),
        "{error}"
    );

    config.audit.log_key_reference = Some("pkcs11:label=audit-log".into());
    let server = start(config.clone()).await;
    let port = server.address.port();
    let mut custodian =
        SealAdminClient::new(connect(port, Some(&ClientIdentity::custodian())).await);
    grant(&mut custodian, grant_request("logkey-seal", "approval-system", "CASE-LOGKEY-HSM")).await;
    let mut audit = eseal_service::api::proto::audit_service_client::AuditServiceClient::new(
        archivist(port).await,
    );
    let checkpoint = audit
        .get_checkpoint(eseal_service::api::proto::GetCheckpointRequest { sign_now: true })
        .await
        .unwrap()
        .into_inner();
    assert!(checkpoint.size >= 2, "{checkpoint:?}");
    let verify = eseal(port, &["audit", "verify", "--log-key", &vkey]);
    assert!(
        verify.status.success() && text(&verify).contains("the log verifies"),
        "{}",
        text(&verify)
    );
    let wrong = eseal(port, &["audit", "verify", "--log-key", &common::service::vkey()]);
    assert!(
        !wrong.status.success(),
        "the sample key does not verify the token's checkpoints: {}",
        text(&wrong)
    );
    server.stop().await.unwrap();
}

#[test]
fn seal_keygen_through_the_command_line_makes_a_token_key_and_its_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = token_config(dir.path(), vec![]);
    let config_path = dir.path().join("eseal.toml");
    std::fs::write(&config_path, config_toml(&config)).unwrap();
    let csr = dir.path().join("cli-rsa.csr");
    let args = [
        "seal",
        "keygen",
        "--config",
        config_path.to_str().unwrap(),
        "--store",
        "pkcs11",
        "--name",
        "cli-rsa",
        "--algorithm",
        "rsa3072",
        "--subject",
        "CN=命令行专用章,O=示例市测试局,C=CN",
        "--csr",
        csr.to_str().unwrap(),
    ];
    // SOFTHSM2_CONF is inherited: the same test tokens.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(args)
        .env("ESEAL_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("key reference: pkcs11:label=cli-rsa"), "{}", text(&out));
    let der = x509_parser::pem::parse_x509_pem(&std::fs::read(&csr).unwrap()).unwrap().1.contents;
    use x509_parser::prelude::FromDer;
    let (_, request) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .expect("a PKCS#10 request");
    let spki = &request.certification_request_info.subject_pki;
    assert_eq!(spki.algorithm.algorithm.to_id_string(), "1.2.840.113549.1.1.1", "an RSA key");
    assert!(
        matches!(spki.parsed(), Ok(x509_parser::public_key::PublicKey::RSA(rsa)) if rsa.key_size() == 3072)
    );
    let openssl = std::process::Command::new("openssl")
        .args(["req", "-in", csr.to_str().unwrap(), "-noout", "-verify"])
        .output()
        .unwrap();
    assert!(
        openssl.status.success(),
        "openssl: the request's self-signature does not verify: {}",
        text(&openssl)
    );
    // The label is taken now: a second run refuses, naming it.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(args)
        .env("ESEAL_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("already holds an object labelled \"cli-rsa\""),
        "{}",
        text(&again)
    );
}
