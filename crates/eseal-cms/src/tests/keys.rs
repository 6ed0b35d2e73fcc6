//! Seal keys, certificate chains and small helpers.

use std::process::Command;

use rcgen::KeyPair;

use super::super::tst::parse_generalized_time;
use super::super::*;
use super::support::*;

#[test]
fn signer_detects_key_types() {
    let p256 = Pki::new(KeyKind::P256);
    assert_eq!(p256.signer().key_description(), "ECDSA P-256");
    let dir = tempfile::tempdir().expect("temp dir");
    let rsa = KeyPair::from_pkcs8_pem_and_sign_algo(
        &openssl_rsa_key(3072, dir.path()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .expect("rsa");
    let signer = RingSigner::from_pkcs8(&rsa.serialize_der()).expect("rsa signer");
    assert_eq!(signer.key_description(), "RSA 3072");
    assert!(!format!("{signer:?}").contains("PRIVATE"));

    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("p384");
    let err = RingSigner::from_pkcs8(&p384.serialize_der()).expect_err("P-384 refused");
    assert!(matches!(err, CmsError::UnsupportedKeyType(_)), "{err}");
    assert!(err.to_string().contains("secp384r1"), "{err}");
    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed25519");
    let err = RingSigner::from_pkcs8(&ed.serialize_der()).expect_err("Ed25519 refused");
    assert!(matches!(err, CmsError::UnsupportedKeyType(_)), "{err}");

    for garbage in [&b""[..], b"\x30\x03\x02\x01\x00", b"-----BEGIN PRIVATE KEY-----"] {
        let err = RingSigner::from_pkcs8(garbage).expect_err("garbage refused");
        assert!(matches!(err, CmsError::InvalidPrivateKey(_)), "{err}");
    }
}

#[test]
fn chain_from_pem_and_its_facts() {
    let pki = Pki::new(KeyKind::P256);
    let read = |name: &str| std::fs::read_to_string(pki.path(name)).expect("pem");
    let bundle =
        format!("seal bundle\n{}{}{}", read("ee.pem"), read("intermediate.pem"), read("root.pem"));
    let chain = CertificateChain::from_pem(&bundle).expect("pem chain");
    assert_eq!(chain.certificates().len(), 3);
    assert_eq!(chain.end_entity_der(), &pki.ee_der[..]);
    assert_eq!(chain.key_type(), SealKeyType::EcdsaP256);
    assert_eq!(chain.signature_algorithm(), SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256));
    assert_eq!(chain.fingerprint_sha256(), sha256(&pki.ee_der));
    assert_eq!(chain.fingerprint_hex().len(), 64);
    assert_eq!(chain.serial_hex(), "9a01020304050607");
    assert!(chain.subject().contains("CN=Test Seal"), "{}", chain.subject());
    assert!(chain.subject().contains("O=Example Municipality"), "{}", chain.subject());
    assert!(chain.issuer().contains("CN=Test Intermediate CA"), "{}", chain.issuer());

    // OpenSSL agrees on the fingerprint and serial.
    let out = Command::new(OPENSSL)
        .args(["x509", "-noout", "-serial", "-fingerprint", "-sha256", "-in"])
        .arg(pki.path("ee.pem"))
        .output()
        .expect("openssl x509");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase().replace(':', "");
    assert!(text.contains(&format!("serial={}", chain.serial_hex())), "{text}");
    assert!(text.contains(&chain.fingerprint_hex()), "{text}");

    let rsa = Pki::new(KeyKind::Rsa(2048));
    assert_eq!(rsa.chain().key_type(), SealKeyType::Rsa { bits: 2048 });
}

#[test]
fn chain_errors() {
    let pki = Pki::new(KeyKind::P256);
    assert!(matches!(CertificateChain::from_der(vec![]), Err(CmsError::EmptyChain)));
    let reversed =
        CertificateChain::from_der(vec![pki.intermediate_der.clone(), pki.ee_der.clone()]);
    assert!(matches!(reversed, Err(CmsError::ChainOrder { index: 0, next: 1 })));
    let bad = CertificateChain::from_der(vec![pki.ee_der.clone(), b"not a cert".to_vec()]);
    assert!(matches!(bad, Err(CmsError::InvalidCertificate { index: 1, .. })));
    assert!(matches!(CertificateChain::from_pem("no pem here"), Err(CmsError::InvalidPem(_))));
    let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert!(matches!(CertificateChain::from_pem(broken), Err(CmsError::InvalidPem(_))));

    for kind in [KeyKind::P384, KeyKind::Ed25519] {
        let other = Pki::new(kind);
        let err = CertificateChain::from_der(vec![other.ee_der.clone()]).expect_err("refused");
        assert!(matches!(err, CmsError::UnsupportedCertificateKey(_)), "{kind:?}: {err}");
    }
}

#[test]
fn generalized_time_with_and_without_fraction() {
    assert_eq!(parse_generalized_time(b"19700101000000Z").ok(), Some(0));
    assert_eq!(parse_generalized_time(b"20201101000000Z").ok(), Some(1_604_188_800));
    assert_eq!(parse_generalized_time(b"20240229123456.789Z").ok(), Some(1_709_210_096));
    assert!(parse_generalized_time(b"20240229123456").is_err());
    assert!(parse_generalized_time(b"20241329123456Z").is_err());
    assert!(parse_generalized_time(b"2024022912345xZ").is_err());
    assert!(parse_generalized_time(b"20240229123456.Z").is_err());
    assert!(parse_generalized_time(b"").is_err());
}

#[test]
fn digest_helpers() {
    let whole = DigestAlgorithm::Sha384.digest([&b"hello world"[..]]);
    let chunked = DigestAlgorithm::Sha384.digest([&b"hello"[..], b" ", b"world"]);
    assert_eq!(whole, chunked);
    let mut streaming = DigestAlgorithm::Sha384.start();
    streaming.update(b"hello ");
    streaming.update(b"world");
    assert_eq!(streaming.finish(), whole);
    assert_eq!(whole.len(), DigestAlgorithm::Sha384.output_len());
    assert_eq!(DigestAlgorithm::Sha256.to_string(), "sha256 (2.16.840.1.101.3.4.2.1)");
    assert_eq!(DigestAlgorithm::from_oid(&oids::ID_SHA512).ok(), Some(DigestAlgorithm::Sha512));
    assert!(matches!(
        DigestAlgorithm::from_oid(&oids::ID_DATA),
        Err(CmsError::UnsupportedDigestAlgorithm(_))
    ));
}
