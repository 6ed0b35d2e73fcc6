//! Tests of the CMS module: signatures built here checked by the real
//! `openssl cms`, signatures made by OpenSSL and pyHanko read back, and
//! hostile input.
//!
//! The test PKI (root → intermediate → seal) is generated at run time with
//! rcgen; RSA keys come from `openssl genpkey`, since rcgen on ring cannot
//! generate them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use tempfile::TempDir;

use super::ess::SigningCertificateV2;
use super::tst::parse_generalized_time;
use super::*;

const OPENSSL: &str = "/usr/bin/openssl";
const PYHANKO_PDF: &str = "06_pyhanko_signed_pades_lta_dss.pdf";

/// Serial of the seal certificate: high bit set, so DER adds a sign byte.
const EE_SERIAL: [u8; 8] = [0x9a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07];

// ---------------------------------------------------------------- test PKI

/// The kinds of seal keys the tests use.
#[derive(Clone, Copy, Debug)]
enum KeyKind {
    P256,
    P384,
    Ed25519,
    Rsa(u32),
}

/// A root → intermediate → seal PKI in a temp dir.
struct Pki {
    dir: TempDir,
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    ee_der: Vec<u8>,
    /// PKCS#8 DER of the seal key.
    ee_key_der: Vec<u8>,
}

impl Pki {
    fn new(kind: KeyKind) -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("root key");
        let root_params = ca_params("Test Root CA", 1);
        let root = root_params.self_signed(&root_key).expect("root cert");
        let root_issuer = Issuer::new(root_params, root_key);

        let int_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("int key");
        let int_params = ca_params("Test Intermediate CA", 2);
        let intermediate = int_params
            .signed_by(&int_key, &root_issuer)
            .expect("int cert");
        let int_issuer = Issuer::new(int_params, int_key);

        let ee_key = seal_key(kind, dir.path());
        let mut ee_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ee_params
            .distinguished_name
            .push(DnType::CommonName, "Test Seal");
        ee_params
            .distinguished_name
            .push(DnType::OrganizationName, "Example Municipality");
        ee_params.serial_number = Some(SerialNumber::from_slice(&EE_SERIAL));
        ee_params.is_ca = IsCa::ExplicitNoCa;
        ee_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        let ee = ee_params.signed_by(&ee_key, &int_issuer).expect("ee cert");

        let pki = Pki {
            dir,
            root_der: root.der().to_vec(),
            intermediate_der: intermediate.der().to_vec(),
            ee_der: ee.der().to_vec(),
            ee_key_der: ee_key.serialize_der(),
        };
        std::fs::write(pki.path("root.pem"), root.pem()).expect("write root");
        std::fs::write(pki.path("ee.pem"), ee.pem()).expect("write ee");
        std::fs::write(pki.path("intermediate.pem"), intermediate.pem()).expect("write int");
        std::fs::write(pki.path("ee.key"), ee_key.serialize_pem()).expect("write key");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Seal certificate and intermediate (the root is the trust anchor).
    fn chain(&self) -> CertificateChain {
        CertificateChain::from_der(vec![self.ee_der.clone(), self.intermediate_der.clone()])
            .expect("chain")
    }

    fn signer(&self) -> RingSigner {
        RingSigner::from_pkcs8(&self.ee_key_der).expect("signer")
    }
}

fn ca_params(cn: &str, serial: u8) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.serial_number = Some(SerialNumber::from_slice(&[serial]));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn seal_key(kind: KeyKind, dir: &Path) -> KeyPair {
    match kind {
        KeyKind::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("p256"),
        KeyKind::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("p384"),
        // ring writes PKCS#8 v2 Ed25519 keys, which OpenSSL 3.0 cannot load:
        // let OpenSSL make it (v1), which ring reads too.
        KeyKind::Ed25519 => KeyPair::from_pkcs8_pem_and_sign_algo(
            &openssl_key(&["-algorithm", "ED25519"], dir),
            &rcgen::PKCS_ED25519,
        )
        .expect("ed25519"),
        KeyKind::Rsa(bits) => KeyPair::from_pkcs8_pem_and_sign_algo(
            &openssl_rsa_key(bits, dir),
            &rcgen::PKCS_RSA_SHA256,
        )
        .expect("rsa"),
    }
}

fn openssl_rsa_key(bits: u32, dir: &Path) -> String {
    let bits = format!("rsa_keygen_bits:{bits}");
    openssl_key(&["-algorithm", "RSA", "-pkeyopt", &bits], dir)
}

/// A fresh PKCS#8 PEM private key from `openssl genpkey`.
fn openssl_key(args: &[&str], dir: &Path) -> String {
    let out = dir.join("genpkey.pem");
    let status = Command::new(OPENSSL)
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&out)
        .output()
        .expect("run openssl genpkey");
    assert!(
        status.status.success(),
        "openssl genpkey {args:?} failed: {status:?}"
    );
    std::fs::read_to_string(out).expect("read key")
}

// ---------------------------------------------------------------- helpers

struct OpensslResult {
    ok: bool,
    output: String,
}

/// `openssl cms -verify` of a detached DER signature over `data`.
fn openssl_verify(pki: &Pki, signature: &[u8], data: &[u8]) -> OpensslResult {
    std::fs::write(pki.path("sig.der"), signature).expect("write sig");
    std::fs::write(pki.path("data.bin"), data).expect("write data");
    let out = Command::new(OPENSSL)
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-in")
        .arg(pki.path("sig.der"))
        .arg("-content")
        .arg(pki.path("data.bin"))
        .arg("-CAfile")
        .arg(pki.path("root.pem"))
        .args(["-out", "/dev/null"])
        .output()
        .expect("run openssl cms -verify");
    OpensslResult {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// `openssl cms -cmsout -print` of a DER CMS structure.
fn openssl_print(dir: &Path, der: &[u8]) -> String {
    let path = dir.join("print.der");
    std::fs::write(&path, der).expect("write der");
    let out = Command::new(OPENSSL)
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
        .arg(&path)
        .output()
        .expect("run openssl cms -print");
    assert!(out.status.success(), "openssl could not print the CMS");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `openssl cms -sign` (detached, DER) with the PKI's seal key; `extra` adds options.
fn openssl_sign(pki: &Pki, data: &[u8], extra: &[&str]) -> Vec<u8> {
    std::fs::write(pki.path("data.bin"), data).expect("write data");
    let out = Command::new(OPENSSL)
        .args(["cms", "-sign", "-binary", "-outform", "DER"])
        .arg("-in")
        .arg(pki.path("data.bin"))
        .arg("-signer")
        .arg(pki.path("ee.pem"))
        .arg("-inkey")
        .arg(pki.path("ee.key"))
        .arg("-certfile")
        .arg(pki.path("intermediate.pem"))
        .arg("-out")
        .arg(pki.path("openssl-sig.der"))
        .args(extra)
        .output()
        .expect("run openssl cms -sign");
    assert!(
        out.status.success(),
        "openssl cms -sign {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(pki.path("openssl-sig.der")).expect("read openssl signature")
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&DigestAlgorithm::Sha256.digest([data]));
    out
}

/// A signer that counts its calls.
struct CountingSigner {
    inner: RingSigner,
    calls: AtomicUsize,
}

impl Signer for CountingSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CmsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(message)
    }
}

/// The SignerInfo of a DER ContentInfo(SignedData), decoded with the cms crate.
fn decode_signed_data(der: &[u8]) -> SignedData {
    ContentInfo::from_der(der)
        .expect("content info")
        .content
        .decode_as()
        .expect("signed data")
}

/// Deterministic pseudo-random numbers for the fuzz-style tests (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------- building

/// Builds a seal with `kind`, checks it with OpenSSL and with our parser.
fn check_built_signature(kind: KeyKind, expected_alg: &str) {
    let pki = Pki::new(kind);
    let chain = pki.chain();
    let data = b"%PDF-1.7 stand-in for the ByteRange of a sealed document".repeat(50);
    let digest = sha256(&data);
    let der = build_pades_signed_data(&digest, &chain, &pki.signer()).expect("build");

    // The real OpenSSL accepts it.
    let verified = openssl_verify(&pki, &der, &data);
    assert!(
        verified.ok,
        "openssl rejected the seal: {}",
        verified.output
    );
    assert!(
        verified.output.contains("Verification successful"),
        "{}",
        verified.output
    );

    // Its structure, as OpenSSL reads it.
    let printed = openssl_print(pki.dir.path(), &der);
    assert!(
        printed.contains("eContent: <ABSENT>"),
        "not detached:\n{printed}"
    );
    assert!(
        printed.contains("id-smime-aa-signingCertificateV2"),
        "{printed}"
    );
    assert!(
        !printed.contains("signingTime"),
        "signing-time present:\n{printed}"
    );
    assert!(printed.contains(expected_alg), "{printed}");

    // Our parser reads back what was meant.
    let info = SignedDataInfo::parse(&der).expect("parse own signature");
    info.verify_signature().expect("own signature verifies");
    assert_eq!(info.der_len(), der.len());
    assert_eq!(info.digest_algorithm(), DigestAlgorithm::Sha256);
    assert_eq!(info.signature_algorithm_name(), expected_alg);
    assert_eq!(info.message_digest(), Some(&digest[..]));
    assert_eq!(info.content_type(), oids::ID_DATA);
    assert!(info.encapsulated_content().is_none());
    assert_eq!(info.signer_certificate(), Some(&pki.ee_der[..]));
    assert_eq!(info.signer_subject(), Some(chain.subject().as_str()));
    assert_eq!(info.certificates().len(), 2);
    assert!(info.certificates().contains(&pki.intermediate_der));
    let mut attrs = info.signed_attribute_oids().to_vec();
    attrs.sort();
    let mut expected = vec![
        oids::ID_CONTENT_TYPE,
        oids::ID_MESSAGE_DIGEST,
        oids::ID_AA_SIGNING_CERTIFICATE_V2,
    ];
    expected.sort();
    assert_eq!(
        attrs, expected,
        "signed attributes must be exactly the PAdES B-B three"
    );
    assert!(!info.has_signing_time());
    assert!(info.has_signing_certificate_v2());
    assert_eq!(info.signing_certificate_v2_matches(), Some(true));
    assert!(info.unsigned_attribute_oids().is_empty());
    assert!(info.signature_timestamp().is_none());

    // Encoding details DER and the RFCs pin down.
    let signed_data = decode_signed_data(&der);
    assert_eq!(signed_data.version, cms::content_info::CmsVersion::V1);
    let signer_info = &signed_data.signer_infos.0.as_slice()[0];
    assert_eq!(signer_info.version, cms::content_info::CmsVersion::V1);
    assert!(matches!(
        signer_info.sid,
        cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(_)
    ));
    match kind {
        KeyKind::Rsa(_) => assert_eq!(
            signer_info.signature_algorithm.parameters,
            Some(der::Any::null()),
            "sha256WithRSAEncryption takes NULL parameters"
        ),
        _ => assert_eq!(
            signer_info.signature_algorithm.parameters, None,
            "ecdsa-with-SHA256 takes no parameters"
        ),
    }
    let ess = signer_info
        .signed_attrs
        .as_ref()
        .expect("signed attrs")
        .iter()
        .find(|a| a.oid == oids::ID_AA_SIGNING_CERTIFICATE_V2)
        .expect("ESS attribute");
    let ess: SigningCertificateV2 = ess.values.as_slice()[0].decode_as().expect("ESS decodes");
    assert_eq!(ess.certs.len(), 1);
    assert_eq!(
        ess.certs[0].hash_algorithm, None,
        "DEFAULT sha256 must be omitted"
    );
    assert_eq!(
        ess.certs[0].cert_hash.as_bytes(),
        chain.fingerprint_sha256()
    );
    assert!(ess.certs[0].issuer_serial.is_some());

    // Tampering: one byte of the data → OpenSSL fails, and the digest the
    // caller compares no longer matches.
    let mut bad_data = data.clone();
    bad_data[10] ^= 1;
    let verified = openssl_verify(&pki, &der, &bad_data);
    assert!(!verified.ok, "openssl accepted tampered data");
    assert_ne!(info.message_digest(), Some(&sha256(&bad_data)[..]));

    // One byte of the signature value (the last field of the DER) → both fail.
    let mut bad_sig = der.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 0x01;
    let verified = openssl_verify(&pki, &bad_sig, &data);
    assert!(!verified.ok, "openssl accepted a tampered signature");
    let parsed = SignedDataInfo::parse(&bad_sig).expect("still well-formed");
    assert!(matches!(
        parsed.verify_signature(),
        Err(CmsError::SignatureInvalid)
    ));

    // One byte of a signed attribute (inside the message digest) → both fail.
    let pos = der
        .windows(32)
        .position(|w| w == digest)
        .expect("digest in the DER");
    let mut bad_attr = der.clone();
    bad_attr[pos + 5] ^= 0x80;
    assert!(!openssl_verify(&pki, &bad_attr, &data).ok);
    let parsed = SignedDataInfo::parse(&bad_attr).expect("still well-formed");
    assert!(matches!(
        parsed.verify_signature(),
        Err(CmsError::SignatureInvalid)
    ));
}

#[test]
fn p256_seal_verifies_with_openssl_and_parser() {
    check_built_signature(KeyKind::P256, "ecdsa-with-SHA256");
}

#[test]
fn rsa3072_seal_verifies_with_openssl_and_parser() {
    check_built_signature(KeyKind::Rsa(3072), "sha256WithRSAEncryption");
}

#[test]
fn rsa2048_seal_verifies_with_openssl_and_parser() {
    check_built_signature(KeyKind::Rsa(2048), "sha256WithRSAEncryption");
}

/// Other tools do not always DER-sort the signed attributes; the signature is
/// over the bytes as they were encoded, so the verifier must not re-sort them.
#[test]
fn unsorted_signed_attributes_still_verify() {
    // RSA, so the re-made signature has the same length and fits in place.
    let pki = Pki::new(KeyKind::Rsa(2048));
    let signer = pki.signer();
    let mut der = build_pades_signed_data(&[5; 32], &pki.chain(), &signer).expect("build");
    let signed_data = decode_signed_data(&der);
    let sorted_set = signed_data.signer_infos.0.as_slice()[0]
        .signed_attrs
        .as_ref()
        .expect("signed attrs")
        .to_der()
        .expect("encode");
    let content = der::asn1::AnyRef::from_der(&sorted_set)
        .expect("SET")
        .value();
    let header_len = sorted_set.len() - content.len();
    let at = find(&der, content).expect("signed attributes in the DER");

    // Reverse the three attributes in place (same total length).
    let mut reader = der::SliceReader::new(content).expect("reader");
    let mut tlvs = Vec::new();
    while !der::Reader::is_finished(&reader) {
        tlvs.push(
            der::asn1::AnyRef::decode(&mut reader)
                .expect("attribute")
                .to_der()
                .expect("tlv"),
        );
    }
    tlvs.reverse();
    let reversed: Vec<u8> = tlvs.concat();
    der[at..at + reversed.len()].copy_from_slice(&reversed);
    let mut to_be_signed = sorted_set[..header_len].to_vec();
    to_be_signed.extend_from_slice(&reversed);
    let signature = signer.sign(&to_be_signed).expect("sign");
    let sig_at = der.len() - signature.len();
    der[sig_at..].copy_from_slice(&signature);

    let info = SignedDataInfo::parse(&der).expect("parse");
    assert_eq!(
        info.signed_attribute_oids(),
        [
            oids::ID_AA_SIGNING_CERTIFICATE_V2,
            oids::ID_MESSAGE_DIGEST,
            oids::ID_CONTENT_TYPE
        ],
        "attributes reported in their encoded order"
    );
    info.verify_signature()
        .expect("signature over the unsorted attributes verifies");
}

#[test]
fn signer_is_called_exactly_once() {
    let pki = Pki::new(KeyKind::P256);
    let signer = CountingSigner {
        inner: pki.signer(),
        calls: AtomicUsize::new(0),
    };
    build_pades_signed_data(&[7u8; 32], &pki.chain(), &signer).expect("build");
    assert_eq!(signer.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn key_not_matching_the_certificate_is_refused() {
    let pki = Pki::new(KeyKind::P256);
    let other = Pki::new(KeyKind::P256);
    let err = build_pades_signed_data(&[7u8; 32], &pki.chain(), &other.signer())
        .expect_err("a foreign key must not seal");
    assert!(matches!(err, CmsError::KeyCertificateMismatch), "{err}");
}

#[test]
fn signer_errors_are_passed_through() {
    struct Failing;
    impl Signer for Failing {
        fn sign(&self, _: &[u8]) -> Result<Vec<u8>, CmsError> {
            Err(CmsError::SigningFailed("HSM offline".to_owned()))
        }
    }
    let pki = Pki::new(KeyKind::P256);
    let err = build_pades_signed_data(&[7u8; 32], &pki.chain(), &Failing).expect_err("fails");
    assert!(err.to_string().contains("HSM offline"), "{err}");
}

#[test]
fn size_estimate_bounds_the_real_size() {
    for kind in [KeyKind::P256, KeyKind::Rsa(2048), KeyKind::Rsa(3072)] {
        let pki = Pki::new(kind);
        let chain = pki.chain();
        let estimate = signature_size_estimate(&chain);
        let signer = pki.signer();
        // ECDSA signatures vary in length (70–72 bytes): try several.
        for i in 0..20u8 {
            let real = build_pades_signed_data(&[i; 32], &chain, &signer)
                .expect("build")
                .len();
            assert!(
                estimate >= real,
                "{kind:?}: estimate {estimate} < real {real}"
            );
            assert!(
                estimate - real <= 8,
                "{kind:?}: estimate {estimate} far above {real}"
            );
        }
        // With the whole chain, root included, the bound follows.
        let full = CertificateChain::from_der(vec![
            pki.ee_der.clone(),
            pki.intermediate_der.clone(),
            pki.root_der.clone(),
        ])
        .expect("full chain");
        let real = build_pades_signed_data(&[1; 32], &full, &signer)
            .expect("build")
            .len();
        assert!(signature_size_estimate(&full) >= real);
        assert!(signature_size_estimate(&full) > estimate);
    }
    assert_eq!(TIMESTAMP_RESERVE, 16 * 1024);
}

// ---------------------------------------------------------------- keys and chains

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

    for garbage in [
        &b""[..],
        b"\x30\x03\x02\x01\x00",
        b"-----BEGIN PRIVATE KEY-----",
    ] {
        let err = RingSigner::from_pkcs8(garbage).expect_err("garbage refused");
        assert!(matches!(err, CmsError::InvalidPrivateKey(_)), "{err}");
    }
}

#[test]
fn chain_from_pem_and_its_facts() {
    let pki = Pki::new(KeyKind::P256);
    let read = |name: &str| std::fs::read_to_string(pki.path(name)).expect("pem");
    let bundle = format!(
        "seal bundle\n{}{}{}",
        read("ee.pem"),
        read("intermediate.pem"),
        read("root.pem")
    );
    let chain = CertificateChain::from_pem(&bundle).expect("pem chain");
    assert_eq!(chain.certificates().len(), 3);
    assert_eq!(chain.end_entity_der(), &pki.ee_der[..]);
    assert_eq!(chain.key_type(), SealKeyType::EcdsaP256);
    assert_eq!(
        chain.signature_algorithm(),
        SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256)
    );
    assert_eq!(chain.fingerprint_sha256(), sha256(&pki.ee_der));
    assert_eq!(chain.fingerprint_hex().len(), 64);
    assert_eq!(chain.serial_hex(), "9a01020304050607");
    assert!(
        chain.subject().contains("CN=Test Seal"),
        "{}",
        chain.subject()
    );
    assert!(
        chain.subject().contains("O=Example Municipality"),
        "{}",
        chain.subject()
    );
    assert!(
        chain.issuer().contains("CN=Test Intermediate CA"),
        "{}",
        chain.issuer()
    );

    // OpenSSL agrees on the fingerprint and serial.
    let out = Command::new(OPENSSL)
        .args([
            "x509",
            "-noout",
            "-serial",
            "-fingerprint",
            "-sha256",
            "-in",
        ])
        .arg(pki.path("ee.pem"))
        .output()
        .expect("openssl x509");
    let text = String::from_utf8_lossy(&out.stdout)
        .to_lowercase()
        .replace(':', "");
    assert!(
        text.contains(&format!("serial={}", chain.serial_hex())),
        "{text}"
    );
    assert!(text.contains(&chain.fingerprint_hex()), "{text}");

    let rsa = Pki::new(KeyKind::Rsa(2048));
    assert_eq!(rsa.chain().key_type(), SealKeyType::Rsa { bits: 2048 });
}

#[test]
fn chain_errors() {
    let pki = Pki::new(KeyKind::P256);
    assert!(matches!(
        CertificateChain::from_der(vec![]),
        Err(CmsError::EmptyChain)
    ));
    let reversed =
        CertificateChain::from_der(vec![pki.intermediate_der.clone(), pki.ee_der.clone()]);
    assert!(matches!(
        reversed,
        Err(CmsError::ChainOrder { index: 0, next: 1 })
    ));
    let bad = CertificateChain::from_der(vec![pki.ee_der.clone(), b"not a cert".to_vec()]);
    assert!(matches!(
        bad,
        Err(CmsError::InvalidCertificate { index: 1, .. })
    ));
    assert!(matches!(
        CertificateChain::from_pem("no pem here"),
        Err(CmsError::InvalidPem(_))
    ));
    let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        CertificateChain::from_pem(broken),
        Err(CmsError::InvalidPem(_))
    ));

    for kind in [KeyKind::P384, KeyKind::Ed25519] {
        let other = Pki::new(kind);
        let err = CertificateChain::from_der(vec![other.ee_der.clone()]).expect_err("refused");
        assert!(
            matches!(err, CmsError::UnsupportedCertificateKey(_)),
            "{kind:?}: {err}"
        );
    }
}

// ---------------------------------------------------------------- signatures by OpenSSL

#[test]
fn parses_and_verifies_openssl_signatures() {
    let data = b"signed by openssl".repeat(10);
    let cases: &[(KeyKind, &[&str], &str, DigestAlgorithm)] = &[
        (
            KeyKind::P256,
            &["-md", "sha256"],
            "ecdsa-with-SHA256",
            DigestAlgorithm::Sha256,
        ),
        (
            KeyKind::P256,
            &["-md", "sha384"],
            "ecdsa-with-SHA384",
            DigestAlgorithm::Sha384,
        ),
        (
            KeyKind::P384,
            &["-md", "sha384"],
            "ecdsa-with-SHA384",
            DigestAlgorithm::Sha384,
        ),
        (
            KeyKind::Rsa(2048),
            &["-md", "sha512"],
            "sha512WithRSAEncryption",
            DigestAlgorithm::Sha512,
        ),
        (
            KeyKind::Rsa(2048),
            &[
                "-md",
                "sha256",
                "-keyopt",
                "rsa_padding_mode:pss",
                "-keyopt",
                "rsa_pss_saltlen:digest",
            ],
            "rsassa-pss",
            DigestAlgorithm::Sha256,
        ),
        (
            KeyKind::Rsa(2048),
            &[
                "-md",
                "sha384",
                "-keyopt",
                "rsa_padding_mode:pss",
                "-keyopt",
                "rsa_pss_saltlen:digest",
            ],
            "rsassa-pss",
            DigestAlgorithm::Sha384,
        ),
        // -keyid: the signer is designated by subjectKeyIdentifier.
        (
            KeyKind::P256,
            &["-md", "sha256", "-keyid"],
            "ecdsa-with-SHA256",
            DigestAlgorithm::Sha256,
        ),
    ];
    for (kind, args, alg, digest) in cases {
        let pki = Pki::new(*kind);
        let der = openssl_sign(&pki, &data, args);
        let info = SignedDataInfo::parse(&der)
            .unwrap_or_else(|e| panic!("{kind:?} {args:?}: parse failed: {e}"));
        info.verify_signature()
            .unwrap_or_else(|e| panic!("{kind:?} {args:?}: verify failed: {e}"));
        assert_eq!(info.signature_algorithm_name(), *alg, "{kind:?} {args:?}");
        assert_eq!(info.digest_algorithm(), *digest, "{kind:?} {args:?}");
        assert_eq!(info.message_digest(), Some(&digest.digest([&data[..]])[..]));
        assert_eq!(
            info.signer_certificate(),
            Some(&pki.ee_der[..]),
            "{kind:?} {args:?}"
        );
        // OpenSSL adds signing-time (and SMIMECapabilities).
        assert!(info.has_signing_time());

        let mut bad = der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let parsed = SignedDataInfo::parse(&bad).expect("still well-formed");
        assert!(
            matches!(parsed.verify_signature(), Err(CmsError::SignatureInvalid)),
            "{kind:?} {args:?}: tampered signature accepted"
        );
    }
}

/// OpenSSL 3.0 cannot make Ed25519 CMS signatures, so the Ed25519 path of the
/// verifier is checked directly with a ring signature.
#[test]
fn ed25519_signature_values_verify() {
    let pki = Pki::new(KeyKind::Ed25519);
    let key = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pki.ee_key_der)
        .expect("ed25519 key");
    let cert = x509_cert::Certificate::from_der(&pki.ee_der).expect("cert");
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let message = b"signed attributes stand-in";
    let signature = key.sign(message).as_ref().to_vec();
    verify::verify_with_spki(spki, SignatureAlgorithm::Ed25519, message, &signature)
        .expect("Ed25519 verifies");
    let mut bad = signature.clone();
    bad[0] ^= 1;
    assert!(matches!(
        verify::verify_with_spki(spki, SignatureAlgorithm::Ed25519, message, &bad),
        Err(CmsError::SignatureInvalid)
    ));
    // An algorithm that does not fit the key is named, not just "invalid".
    let err = verify::verify_with_spki(
        spki,
        SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
        message,
        &signature,
    )
    .expect_err("ECDSA with an Ed25519 key");
    assert!(
        matches!(err, CmsError::UnsupportedSignatureAlgorithm(_)),
        "{err}"
    );
}

#[test]
fn pss_with_a_salt_ring_cannot_check_is_reported() {
    let pki = Pki::new(KeyKind::Rsa(2048));
    let der = openssl_sign(
        &pki,
        b"data",
        &[
            "-md",
            "sha256",
            "-keyopt",
            "rsa_padding_mode:pss",
            "-keyopt",
            "rsa_pss_saltlen:max",
        ],
    );
    let err = SignedDataInfo::parse(&der).expect_err("max salt is not verifiable by ring");
    assert!(
        matches!(err, CmsError::UnsupportedSignatureAlgorithm(_)),
        "{err}"
    );
    assert!(err.to_string().contains("salt"), "{err}");
}

// ---------------------------------------------------------------- pyHanko PAdES B-LTA

/// A signature dictionary of the corpus file: its `/Contents` and `/ByteRange`.
struct PdfSignature {
    kind: &'static str,
    contents: Vec<u8>,
    byte_range: [usize; 4],
}

fn corpus_file(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()))
}

/// Crude extraction: each `/Contents <hex>` followed, in the same dictionary,
/// by a `/ByteRange [...]` and `/Type /Sig` or `/Type /DocTimeStamp`.
fn pdf_signatures(pdf: &[u8]) -> Vec<PdfSignature> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = find(&pdf[at..], b"/Contents <") {
        let start = at + pos + b"/Contents <".len();
        let end = start + find(&pdf[start..], b">").expect("end of hex string");
        let dict_end = end + find(&pdf[end..], b">>").expect("end of dictionary");
        let dict = &pdf[end..dict_end];
        at = end;
        let kind = if find(dict, b"/Type /DocTimeStamp").is_some() {
            "DocTimeStamp"
        } else if find(dict, b"/Type /Sig").is_some() {
            "Sig"
        } else {
            continue;
        };
        let hex = &pdf[start..end];
        let contents = hex
            .chunks(2)
            .map(|pair| {
                u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex")
            })
            .collect();
        let br_start = find(dict, b"/ByteRange [").expect("ByteRange") + b"/ByteRange [".len();
        let br_end = br_start + find(&dict[br_start..], b"]").expect("]");
        let numbers: Vec<usize> = std::str::from_utf8(&dict[br_start..br_end])
            .expect("ascii")
            .split_whitespace()
            .map(|n| n.parse().expect("number"))
            .collect();
        found.push(PdfSignature {
            kind,
            contents,
            byte_range: numbers.try_into().expect("four numbers"),
        });
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn byte_range_digest(pdf: &[u8], algorithm: DigestAlgorithm, br: [usize; 4]) -> Vec<u8> {
    algorithm.digest([&pdf[br[0]..br[0] + br[1]], &pdf[br[2]..br[2] + br[3]]])
}

#[test]
fn pyhanko_pades_lta_signature_and_document_timestamp() {
    let pdf = corpus_file(PYHANKO_PDF);
    let signatures = pdf_signatures(&pdf);
    let kinds: Vec<_> = signatures.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, ["Sig", "DocTimeStamp"]);

    // The signature (RSA, by pyHanko), zero-padded in /Contents.
    let sig = &signatures[0];
    assert!(
        sig.contents.ends_with(&[0, 0, 0, 0]),
        "expected zero padding"
    );
    let info = SignedDataInfo::parse(&sig.contents).expect("pyHanko signature parses");
    assert!(info.der_len() < sig.contents.len());
    info.verify_signature().expect("pyHanko signature verifies");
    assert_eq!(info.digest_algorithm(), DigestAlgorithm::Sha256);
    assert_eq!(info.signature_algorithm_name(), "sha256WithRSAEncryption");
    assert_eq!(info.content_type(), oids::ID_DATA);
    let expected = byte_range_digest(&pdf, info.digest_algorithm(), sig.byte_range);
    assert_eq!(
        info.message_digest(),
        Some(&expected[..]),
        "digest of the /ByteRange"
    );
    assert_eq!(
        info.signed_attribute_oids(),
        [
            oids::ID_CONTENT_TYPE,
            oids::ID_MESSAGE_DIGEST,
            oids::ID_AA_SIGNING_CERTIFICATE_V2
        ]
    );
    assert!(!info.has_signing_time());
    assert_eq!(info.signing_certificate_v2_matches(), Some(true));
    assert_eq!(info.certificates().len(), 3);
    let signer = info.signer_subject().expect("signer certificate found");
    assert!(signer.contains("Example Inc"), "{signer}");
    assert_eq!(
        info.unsigned_attribute_oids(),
        [oids::ID_AA_TIME_STAMP_TOKEN]
    );

    // Its signature timestamp: a token over the signature value.
    let token = info
        .signature_timestamp()
        .expect("signature timestamp present")
        .expect("token parses");
    assert_eq!(token.content_type(), oids::ID_CT_TST_INFO);
    token.verify_signature().expect("token signature verifies");
    assert!(token.has_signing_time());
    let tst = token.tst_info().expect("TSTInfo");
    assert_eq!(tst.hash_algorithm, DigestAlgorithm::Sha256);
    assert!(
        tst.imprint_matches(info.signature_value()),
        "imprint is not of the signature"
    );
    assert!(!tst.imprint_matches(b"something else"));
    // pyHanko's test data is dated 2020-11-01.
    assert!(
        (1_604_188_800..1_604_275_200).contains(&tst.gen_time),
        "{}",
        tst.gen_time
    );

    // The document timestamp: a bare RFC 3161 token over the /ByteRange.
    let doc_ts = &signatures[1];
    let info = SignedDataInfo::parse(&doc_ts.contents).expect("doc timestamp parses");
    info.verify_signature().expect("doc timestamp verifies");
    assert_eq!(info.content_type(), oids::ID_CT_TST_INFO);
    let tst = info.tst_info().expect("TSTInfo");
    let expected = byte_range_digest(&pdf, tst.hash_algorithm, doc_ts.byte_range);
    assert_eq!(tst.hashed_message, expected, "imprint of the /ByteRange");
    assert!(tst.gen_time >= 1_604_188_800, "{}", tst.gen_time);
    assert!(!tst.serial_hex.is_empty());
    assert!(info.signature_timestamp().is_none());
}

// ---------------------------------------------------------------- hostile input

#[test]
fn truncated_signatures_are_errors() {
    let pdf = corpus_file(PYHANKO_PDF);
    let signature = &pdf_signatures(&pdf)[0];
    let der_len = SignedDataInfo::parse(&signature.contents)
        .expect("parses")
        .der_len();
    let der = &signature.contents[..der_len];
    for len in 0..der_len {
        assert!(
            SignedDataInfo::parse(&der[..len]).is_err(),
            "prefix of {len} bytes accepted"
        );
        // The same prefix zero-padded back to size: a damaged /Contents whose
        // outer header is intact, so the inner decoders meet the zeros.
        // Damage confined to the unsigned timestamp token leaves the
        // signature readable, but then the token must be found broken.
        let mut padded = der[..len].to_vec();
        padded.resize(der_len, 0);
        if let Ok(info) = SignedDataInfo::parse(&padded) {
            let token_intact = match info.signature_timestamp() {
                Some(Ok(token)) => {
                    token.verify_signature().is_ok()
                        && token
                            .tst_info()
                            .is_some_and(|t| t.imprint_matches(info.signature_value()))
                }
                Some(Err(_)) => false,
                None => true,
            };
            assert!(
                info.verify_signature().is_err() || !token_intact,
                "zero-padded prefix of {len} bytes accepted as intact"
            );
        }
    }
}

#[test]
fn trailing_bytes_other_than_zero_are_errors() {
    let pki = Pki::new(KeyKind::P256);
    let mut der = build_pades_signed_data(&[3; 32], &pki.chain(), &pki.signer()).expect("build");
    der.extend_from_slice(&[0; 100]);
    assert!(SignedDataInfo::parse(&der).is_ok(), "zero padding is fine");
    der.push(1);
    assert!(matches!(
        SignedDataInfo::parse(&der),
        Err(CmsError::Malformed(_))
    ));
}

/// Byte ranges of a DER signature that its signature depends on: the signed
/// attributes, the signature value, the signer's public key.
fn protected_ranges(der: &[u8]) -> Vec<std::ops::Range<usize>> {
    let info = SignedDataInfo::parse(der).expect("sample parses");
    let signed_data = decode_signed_data(&der[..info.der_len()]);
    let signer_info = &signed_data.signer_infos.0.as_slice()[0];
    let attrs = signer_info
        .signed_attrs
        .as_ref()
        .expect("attrs")
        .to_der()
        .expect("der");
    let attrs = der::asn1::AnyRef::from_der(&attrs)
        .expect("SET")
        .value()
        .to_vec();
    let cert =
        x509_cert::Certificate::from_der(info.signer_certificate().expect("signer")).expect("cert");
    let key = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    [attrs.as_slice(), info.signature_value(), key.as_slice()]
        .iter()
        .map(|part| {
            let at = find(der, part).expect("part in the DER");
            at..at + part.len()
        })
        .collect()
}

#[test]
fn random_corruption_never_panics() {
    let pdf = corpus_file(PYHANKO_PDF);
    let pyhanko = pdf_signatures(&pdf).swap_remove(0).contents;
    let pki = Pki::new(KeyKind::P256);
    let own = build_pades_signed_data(&[9; 32], &pki.chain(), &pki.signer()).expect("build");
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut errors = 0;
    let mut caught_in_protected = 0;
    for sample in [&pyhanko, &own] {
        let protected = protected_ranges(sample);
        for _ in 0..1500 {
            let mut bytes = sample.clone();
            let mut touches_protected = false;
            for _ in 0..=rng.below(3) {
                let i = rng.below(bytes.len());
                let new = match rng.below(3) {
                    0 => bytes[i] ^ (1 << rng.below(8)),
                    1 => 0xff,
                    _ => rng.next() as u8,
                };
                if new != bytes[i] && protected.iter().any(|r| r.contains(&i)) {
                    touches_protected = true;
                }
                bytes[i] = new;
            }
            match SignedDataInfo::parse(&bytes) {
                Ok(info) => {
                    let verified = info.verify_signature().is_ok();
                    // Whatever else a flip does, one in the signed bytes, the
                    // signature value or the signer's key must be caught.
                    assert!(
                        !(verified && touches_protected),
                        "a change to a signed byte went unnoticed"
                    );
                    if touches_protected {
                        caught_in_protected += 1;
                    }
                    // Exercise the token path too.
                    if let Some(Ok(token)) = info.signature_timestamp() {
                        let _ = token.verify_signature();
                    }
                }
                Err(_) => errors += 1,
            }
        }
    }
    assert!(
        errors > 100,
        "corruption should mostly be caught: {errors} errors"
    );
    assert!(
        caught_in_protected > 50,
        "too few flips hit signed bytes: {caught_in_protected}"
    );

    // Pure garbage and small structures.
    for len in [0usize, 1, 2, 5, 64, 1000] {
        let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(SignedDataInfo::parse(&garbage).is_err());
    }
    assert!(
        SignedDataInfo::parse(&[0x30, 0x80, 0, 0]).is_err(),
        "BER indefinite length"
    );
    assert!(SignedDataInfo::parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
}

#[test]
fn content_info_that_is_not_signed_data_is_reported() {
    let content_info = ContentInfo {
        content_type: oids::ID_DATA,
        content: der::Any::encode_from(
            &der::asn1::OctetString::new(b"x".to_vec()).expect("octets"),
        )
        .expect("any"),
    };
    let der = content_info.to_der().expect("encode");
    assert!(matches!(
        SignedDataInfo::parse(&der),
        Err(CmsError::NotSignedData(_))
    ));
}

// ---------------------------------------------------------------- small pieces

#[test]
fn generalized_time_with_and_without_fraction() {
    assert_eq!(parse_generalized_time(b"19700101000000Z").ok(), Some(0));
    assert_eq!(
        parse_generalized_time(b"20201101000000Z").ok(),
        Some(1_604_188_800)
    );
    assert_eq!(
        parse_generalized_time(b"20240229123456.789Z").ok(),
        Some(1_709_210_096)
    );
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
    assert_eq!(
        DigestAlgorithm::Sha256.to_string(),
        "sha256 (2.16.840.1.101.3.4.2.1)"
    );
    assert_eq!(
        DigestAlgorithm::from_oid(&oids::ID_SHA512).ok(),
        Some(DigestAlgorithm::Sha512)
    );
    assert!(matches!(
        DigestAlgorithm::from_oid(&oids::ID_DATA),
        Err(CmsError::UnsupportedDigestAlgorithm(_))
    ));
}
