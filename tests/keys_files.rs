//! Encrypted seal key files: the file gives the key away in no encoding; the service stamps with
//! them, refuses plaintext keys outside development, reports a seal whose file needs another
//! KEK as unavailable while the others work, and keeps stamping while `eseal keys rotate-kek`
//! re-seals the folder under a new KEK. Also: registering a seal whose certificate does not
//! match its key is refused.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::keys::*;
use common::service::*;
use eseal_service::api::proto::RegisterSealRequest;
use eseal_service::config::Config;
use eseal_service::keys::{Kek, KeyError, KeyRing, KeyStore, envelope};
use tonic::Code;

const KEK_A: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";
const KEK_B: &str = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";

use common::hex;

/// Every `window`-byte run of `needle` (a key leaks even when only part of it is written).
fn windows(needle: &[u8], window: usize) -> impl Iterator<Item = &[u8]> {
    needle.windows(window.min(needle.len()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The raw private scalar of a P-256 PKCS#8 key: the OCTET STRING of ECPrivateKey
/// (`02 01 01 04 20` then 32 bytes).
fn ec_scalar(pkcs8: &[u8]) -> Vec<u8> {
    let at = pkcs8
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
        .expect("an ECPrivateKey in the PKCS#8");
    pkcs8[at + 5..at + 37].to_vec()
}

#[test]
fn an_encrypted_key_file_holds_the_key_in_no_encoding() {
    let kek = Kek::parse(KEK_A.as_bytes(), "test").unwrap();
    for name in ["seal-approval-ec", "seal-housing-rsa"] {
        let der = std::fs::read(keys().join(format!("{name}.pk8"))).unwrap();
        let pem = std::fs::read_to_string(keys().join(format!("{name}.key"))).unwrap();
        let file = envelope::seal(&der, &kek).unwrap();
        assert_eq!(
            &envelope::open(&file, &[Kek::parse(KEK_A.as_bytes(), "test").unwrap()], name).unwrap()
                [..],
            &der[..],
            "{name}: round trip"
        );

        let mut secrets: Vec<Vec<u8>> = vec![der.clone()];
        if name.ends_with("-ec") {
            secrets.push(ec_scalar(&der));
        }
        for secret in &secrets {
            for piece in windows(secret, 12) {
                assert!(
                    !contains(&file, piece),
                    "{name}: 12 bytes of the key in DER/raw appear in the file"
                );
            }
            let text =
                [hex(secret), hex(secret).to_uppercase(), eseal_encoding::base64::encode(secret)];
            for encoded in text {
                for piece in windows(encoded.as_bytes(), 16) {
                    assert!(
                        !contains(&file, piece),
                        "{name}: the key's hex or base64 appears in the file"
                    );
                }
            }
        }
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(
                !contains(&file, line.as_bytes()),
                "{name}: a line of the PEM appears in the file"
            );
        }
    }
}

#[test]
fn wrong_kek_tampering_and_plaintext_outside_development_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let der = std::fs::read(keys().join("seal-approval-ec.pk8")).unwrap();
    let a = Kek::parse(KEK_A.as_bytes(), "a").unwrap();
    std::fs::write(dir.path().join("sealed.key.enc"), envelope::seal(&der, &a).unwrap()).unwrap();
    let mut tampered = envelope::seal(&der, &a).unwrap();
    let last = tampered.len() - 20;
    tampered[last] ^= 0x40;
    std::fs::write(dir.path().join("tampered.key.enc"), tampered).unwrap();
    std::fs::write(dir.path().join("plain.pk8"), &der).unwrap();

    let right = KeyRing::files(dir.path(), vec![Kek::parse(KEK_A.as_bytes(), "a").unwrap()], false);
    assert!(right.signer("sealed.key.enc").is_ok());
    let wrong = KeyRing::files(dir.path(), vec![Kek::parse(KEK_B.as_bytes(), "b").unwrap()], false);
    let e = wrong.signer("sealed.key.enc").err().expect("the wrong KEK is refused");
    assert!(matches!(e, KeyError::WrongKek { .. }) && e.to_string().contains(&a.id_hex()), "{e}");
    let e = right.signer("tampered.key.enc").err().expect("a tampered file is refused");
    assert!(matches!(e, KeyError::Tampered { .. }) && e.to_string().contains("tampered"), "{e}");
    let e = right.signer("plain.pk8").err().expect("plaintext is refused outside development");
    assert!(
        matches!(e, KeyError::PlaintextRefused { .. })
            && e.to_string().contains("development = true"),
        "{e}"
    );
    let development = KeyRing::files(dir.path(), vec![], true);
    assert!(development.signer("plain.pk8").is_ok(), "development accepts plaintext keys");
}

/// A key folder with both sample seal keys encrypted (approval-ec under `ec_kek`, housing-rsa
/// under `rsa_kek`) through `eseal keys encrypt`, and KEK files `kek-a`, `kek-b`.
fn encrypted_folder(dir: &Path, ec_kek: &str, rsa_kek: &str) {
    std::fs::write(dir.join("kek-a"), format!("{KEK_A}\n")).unwrap();
    std::fs::write(dir.join("kek-b"), format!("{KEK_B}\n")).unwrap();
    for (name, kek) in [("seal-approval-ec", ec_kek), ("seal-housing-rsa", rsa_kek)] {
        let input = keys().join(format!("{name}.key"));
        let output = dir.join(format!("{name}.key.enc"));
        let out = eseal(
            0,
            &[
                "keys",
                "encrypt",
                input.to_str().unwrap(),
                "-o",
                output.to_str().unwrap(),
                "--kek-file",
                dir.join(kek).to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "eseal keys encrypt: {}", text(&out));
    }
}

/// Production mode over the encrypted folder `dir`: the sample seals' keys are the `.key.enc`
/// files, opened with `kek` (and `previous`).
fn encrypted_config(dir: &Path, kek: &str, previous: Option<&str>) -> Config {
    let mut config = dev_config(dir);
    config.development = false;
    config.keys.directory = dir.to_path_buf();
    config.keys.kek_file = Some(dir.join(kek));
    config.keys.previous_kek_file = previous.map(|p| dir.join(p));
    for seed in &mut config.seed_seals {
        seed.key_reference = seed.key_reference.replace(".pk8", ".key.enc");
    }
    config
}

async fn stamp(port: u16, seal: &str, case: &str) -> Result<Sealed, tonic::Status> {
    let mut custodian =
        eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient::new(
            connect(port, Some(&ClientIdentity::custodian())).await,
        );
    let authorization =
        grant(&mut custodian, grant_request(seal, "approval-system", case)).await.id;
    let mut signing = eseal_service::api::proto::signing_service_client::SigningServiceClient::new(
        connect(port, Some(&ClientIdentity::department())).await,
    )
    .max_decoding_message_size(64 << 20);
    sign(
        &mut signing,
        header(seal, &authorization, &format!("req-{case}"), case),
        &corpus_bytes("01"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_whose_file_needs_another_kek_is_unavailable_and_the_others_stamp() {
    let dir = tempfile::tempdir().unwrap();
    encrypted_folder(dir.path(), "kek-a", "kek-b");
    // First start during a rotation: both KEKs configured, both seals registered.
    let server = start(encrypted_config(dir.path(), "kek-a", Some("kek-b"))).await;
    stamp(server.address.port(), "approval-ec", "KEK-1").await.expect("approval-ec (KEK A) stamps");
    stamp(server.address.port(), "housing-rsa", "KEK-2")
        .await
        .expect("housing-rsa (previous KEK B) stamps");
    server.stop().await.unwrap();

    // Restarted with KEK A only: housing-rsa's file needs B.
    let server = start(encrypted_config(dir.path(), "kek-a", None)).await;
    let port = server.address.port();
    assert_eq!(health(archivist(port).await, "eseal.seal.housing-rsa").await.unwrap(), NOT_SERVING);
    assert_eq!(health(archivist(port).await, "eseal.seal.approval-ec").await.unwrap(), SERVING);
    let b = Kek::parse(KEK_B.as_bytes(), "b").unwrap().id_hex();
    assert_refused(
        stamp(port, "housing-rsa", "KEK-3").await,
        Code::Unavailable,
        &["seal housing-rsa is unavailable", "sealed under KEK", &b],
    );
    stamp(port, "approval-ec", "KEK-4").await.expect("the other seal keeps stamping");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_keeps_stamping_while_rotate_kek_reseals_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    encrypted_folder(dir.path(), "kek-a", "kek-a");
    // More key files (copies of the EC seal's), so that the rotation takes a while file by file.
    const EXTRA: usize = 60;
    let ec = std::fs::read(dir.path().join("seal-approval-ec.key.enc")).unwrap();
    let names: Vec<String> =
        ["seal-approval-ec.key.enc".to_string(), "seal-housing-rsa.key.enc".to_string()]
            .into_iter()
            .chain((0..EXTRA).map(|i| format!("extra-{i:03}.key.enc")))
            .collect();
    for name in &names[2..] {
        std::fs::write(dir.path().join(name), &ec).unwrap();
    }
    let server = start(encrypted_config(dir.path(), "kek-a", None)).await;
    let port = server.address.port();
    let rotating = Arc::new(AtomicBool::new(true));
    let stamper = {
        let rotating = Arc::clone(&rotating);
        tokio::spawn(async move {
            let mut made = 0;
            while rotating.load(Ordering::SeqCst) || made < 3 {
                stamp(
                    port,
                    if made % 2 == 0 { "approval-ec" } else { "housing-rsa" },
                    &format!("ROT-{made}"),
                )
                .await
                .expect("stamping during the rotation");
                made += 1;
            }
            made
        })
    };
    let folder = dir.path().to_str().unwrap().to_string();
    let (old, new) = (dir.path().join("kek-a"), dir.path().join("kek-b"));
    let rotation = tokio::task::spawn_blocking(move || {
        eseal(
            0,
            &[
                "keys",
                "rotate-kek",
                "--directory",
                &folder,
                "--old-kek-file",
                old.to_str().unwrap(),
                "--new-kek-file",
                new.to_str().unwrap(),
            ],
        )
    });
    // The server's key ring keeps the keys it has loaded; a fresh key ring (as a node starting
    // now has) reads every file while the rotation rewrites them: each one opens, under the
    // old KEK or the new one, and some reads see the folder half rotated.
    let keks = || {
        vec![Kek::parse(KEK_B.as_bytes(), "b").unwrap(), Kek::parse(KEK_A.as_bytes(), "a").unwrap()]
    };
    let (a_id, b_id) = (
        Kek::parse(KEK_A.as_bytes(), "a").unwrap().id_hex(),
        Kek::parse(KEK_B.as_bytes(), "b").unwrap().id_hex(),
    );
    let mut half_rotated = 0;
    while !rotation.is_finished() {
        let ring = KeyRing::files(dir.path(), keks(), false);
        let (mut under_a, mut under_b) = (0, 0);
        for name in &names {
            let kek = envelope::kek_id_of(&std::fs::read(dir.path().join(name)).unwrap());
            under_a += usize::from(kek.as_ref() == Some(&a_id));
            under_b += usize::from(kek.as_ref() == Some(&b_id));
            ring.signer(name).unwrap_or_else(|e| panic!("{name} read during the rotation: {e}"));
        }
        half_rotated += usize::from(under_a > 0 && under_b > 0);
        tokio::task::yield_now().await;
    }
    let out = rotation.await.unwrap();
    assert!(out.status.success(), "rotate-kek: {}", text(&out));
    assert!(text(&out).contains(&format!("{} key file(s)", names.len())), "{}", text(&out));
    assert!(half_rotated > 0, "no read saw the folder half rotated");
    rotating.store(false, Ordering::SeqCst);
    assert!(stamper.await.unwrap() >= 3);
    server.stop().await.unwrap();

    let b = Kek::parse(KEK_B.as_bytes(), "b").unwrap().id_hex();
    for name in ["seal-approval-ec.key.enc", "seal-housing-rsa.key.enc"] {
        assert_eq!(
            envelope::kek_id_of(&std::fs::read(dir.path().join(name)).unwrap()),
            Some(b.clone()),
            "{name} is under the new KEK"
        );
    }
    // A node restarted with the new KEK stamps with both seals.
    let server = start(encrypted_config(dir.path(), "kek-b", None)).await;
    stamp(server.address.port(), "approval-ec", "ROT-after-1")
        .await
        .expect("approval-ec after the rotation");
    stamp(server.address.port(), "housing-rsa", "ROT-after-2")
        .await
        .expect("housing-rsa after the rotation");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_seal_whose_certificate_does_not_fit_its_key_is_refused() {
    // approval-ec's key serves no seal yet: a key serves one seal only.
    let server = TestServer::start_with(|c| c.seed_seals.retain(|s| s.id != "approval-ec")).await;
    let mut admin = server.admin(&ClientIdentity::seal_admin()).await;
    let request = |id: &str, chain: &str, key: &str| RegisterSealRequest {
        id: id.into(),
        name: "错配测试章".into(),
        organization: "示例市测试局".into(),
        kind: "测试专用章".into(),
        image_png: std::fs::read(keys().join("seal-approval-ec.png")).unwrap(),
        certificate_chain: x509_parser::pem::Pem::iter_from_buffer(chain.as_bytes())
            .map(|p| p.unwrap().contents)
            .collect(),
        key_reference: key.into(),
        custodians: vec!["custodian-wang".into()],
        valid_from: 0,
        valid_until: 0,
    };
    let housing_chain = std::fs::read_to_string(keys().join("seal-housing-rsa-chain.pem")).unwrap();
    let refused =
        admin.register_seal(request("mismatch", &housing_chain, "seal-approval-ec.pk8")).await;
    assert_refused(
        refused,
        Code::InvalidArgument,
        &["public key", "does not match", "seal-approval-ec.pk8"],
    );

    // The right key, but a certificate without a signing key usage.
    let spki = {
        use x509_parser::prelude::FromDer;
        let der = x509_parser::pem::parse_x509_pem(
            std::fs::read(keys().join("seal-approval-ec.pem")).unwrap().as_slice(),
        )
        .unwrap()
        .1
        .contents;
        let (_, certificate) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
        certificate.public_key().raw.to_vec()
    };
    let no_usage = seal_chain_for(
        &spki,
        "无签名用途",
        vec![rcgen::KeyUsagePurpose::KeyAgreement],
        in_a_year(),
    );
    let refused = admin.register_seal(request("no-usage", &no_usage, "seal-approval-ec.pk8")).await;
    assert_refused(refused, Code::InvalidArgument, &["digitalSignature"]);
    // The right key and usages, but a chain to no configured seal CA.
    let impostor = impostor_chain_for(&spki, "冒名专用章");
    let refused = admin.register_seal(request("impostor", &impostor, "seal-approval-ec.pk8")).await;
    assert_refused(refused, Code::InvalidArgument, &["not usable for seals"]);
    // The same key with a certificate of the real seal CA is accepted: the refusals were about
    // the certificates.
    let fitting = seal_chain_for(&spki, "正确专用章", seal_usages(), in_a_year());
    admin
        .register_seal(request("fitting", &fitting, "seal-approval-ec.pk8"))
        .await
        .expect("a fitting certificate registers");
    // The key is now fitting's, for good: another fitting certificate of it registers no
    // second seal.
    let again = seal_chain_for(&spki, "再次专用章", seal_usages(), in_a_year());
    let refused = admin.register_seal(request("fitting-2", &again, "seal-approval-ec.pk8")).await;
    assert_refused(
        refused,
        Code::FailedPrecondition,
        &["key reference is already registered to seal fitting"],
    );
    // Nothing was registered by the refused calls.
    for id in ["mismatch", "no-usage", "impostor", "fitting-2"] {
        assert_eq!(
            admin
                .get_seal(eseal_service::api::proto::GetSealRequest { id: id.into() })
                .await
                .unwrap_err()
                .code(),
            Code::NotFound
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_stops_at_its_stamping_limit_even_under_concurrency() {
    const LIMIT: u64 = 3;
    const ATTEMPTS: usize = 8;
    let server = TestServer::start_with(|config| {
        config.keys.max_stampings_per_seal.insert("approval-ec".into(), LIMIT);
    })
    .await;
    let port = server.address.port();
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let mut grants = Vec::new();
    for i in 0..ATTEMPTS {
        let case = format!("LIMIT-{i}");
        grants.push((
            grant(&mut custodian, grant_request("approval-ec", "approval-system", &case)).await.id,
            case,
        ));
    }
    let document = Arc::new(corpus_bytes("01"));
    let mut tasks = Vec::new();
    for (i, (authorization, case)) in grants.into_iter().enumerate() {
        let document = Arc::clone(&document);
        tasks.push(tokio::spawn(async move {
            let mut signing =
                eseal_service::api::proto::signing_service_client::SigningServiceClient::new(
                    connect(port, Some(&ClientIdentity::department())).await,
                )
                .max_decoding_message_size(64 << 20);
            sign(
                &mut signing,
                header("approval-ec", &authorization, &format!("limit-{i}"), &case),
                &document,
            )
            .await
        }));
    }
    let mut sealed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => sealed += 1,
            refused => {
                assert_refused(
                    refused,
                    Code::FailedPrecondition,
                    &["approval-ec", "all 3 stampings", "nothing was consumed"],
                );
            }
        }
    }
    assert_eq!(sealed, LIMIT as usize, "exactly the limit is stamped");
    // Other seals are not limited.
    let authorization =
        grant(&mut custodian, grant_request("housing-rsa", "approval-system", "LIMIT-RSA"))
            .await
            .id;
    let mut signing = server.signing(&ClientIdentity::department()).await;
    sign(&mut signing, header("housing-rsa", &authorization, "limit-rsa", "LIMIT-RSA"), &document)
        .await
        .expect("housing-rsa has no limit");
}

#[test]
fn seal_keygen_writes_an_encrypted_key_and_a_csr_the_service_can_use() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kek-a"), format!("{KEK_A}\n")).unwrap();
    let mut config = dev_config(dir.path());
    config.development = false;
    config.keys.directory = dir.path().to_path_buf();
    config.keys.kek_file = Some(dir.path().join("kek-a"));
    let config_path = dir.path().join("eseal.toml");
    std::fs::write(&config_path, config_toml(&config)).unwrap();
    let csr = dir.path().join("new.csr");
    let args = [
        "seal",
        "keygen",
        "--config",
        config_path.to_str().unwrap(),
        "--store",
        "file",
        "--name",
        "new-seal.key.enc",
        "--subject",
        "CN=新章,O=示例市测试局,C=CN",
        "--csr",
        csr.to_str().unwrap(),
    ];
    let out = eseal(0, &args);
    assert!(out.status.success(), "eseal seal keygen: {}", text(&out));
    assert!(text(&out).contains("key reference: new-seal.key.enc"), "{}", text(&out));
    assert!(
        std::fs::read_to_string(&csr).unwrap().starts_with("-----BEGIN CERTIFICATE REQUEST-----")
    );
    let file = std::fs::read(dir.path().join("new-seal.key.enc")).unwrap();
    assert_eq!(
        envelope::kek_id_of(&file),
        Some(Kek::parse(KEK_A.as_bytes(), "a").unwrap().id_hex())
    );
    // Again: the file exists, nothing is overwritten.
    let again = eseal(0, &args);
    assert!(!again.status.success() && text(&again).contains("exists already"), "{}", text(&again));
    assert_eq!(std::fs::read(dir.path().join("new-seal.key.enc")).unwrap(), file);
}

#[test]
fn keys_encrypt_reads_the_kek_from_an_environment_variable_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_eseal"))
            .args(args)
            .env("TEST_ESEAL_KEK", KEK_B)
            .env("ESEAL_LOG", "warn")
            .output()
            .expect("run eseal")
    };
    let output = dir.path().join("rsa.key.enc");
    let input = keys().join("seal-housing-rsa.pk8");
    let out = run(&[
        "keys",
        "encrypt",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--kek-env",
        "TEST_ESEAL_KEK",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let ring = KeyRing::files(dir.path(), vec![Kek::parse(KEK_B.as_bytes(), "b").unwrap()], false);
    assert!(
        ring.signer("rsa.key.enc").is_ok(),
        "the key encrypted under the KEK of the environment opens"
    );
    // Not a key, an already encrypted file, an unset variable: refused, nothing written.
    let certificate = keys().join("seal-ca.pem");
    for (args, words) in [
        (
            vec![certificate.to_str().unwrap(), "-o", "x.enc", "--kek-env", "TEST_ESEAL_KEK"],
            "not a PKCS#8",
        ),
        (
            vec![output.to_str().unwrap(), "-o", "y.enc", "--kek-env", "TEST_ESEAL_KEK"],
            "already encrypted",
        ),
        (
            vec![input.to_str().unwrap(), "-o", "z.enc", "--kek-env", "NO_SUCH_ESEAL_VARIABLE"],
            "is not set",
        ),
    ] {
        let mut full = vec!["keys", "encrypt"];
        full.extend(args);
        let out = run(&full);
        assert_eq!(out.status.code(), Some(2), "{full:?}: {}", text(&out));
        assert!(text(&out).contains(words), "{full:?}: {}", text(&out));
    }
}
