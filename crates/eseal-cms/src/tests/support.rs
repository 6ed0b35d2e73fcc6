//! Shared test fixtures: a generated PKI, OpenSSL runners, the corpus.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::Decode;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use tempfile::TempDir;

use super::super::*;
use super::corpus;

pub(super) const OPENSSL: &str = "/usr/bin/openssl";
pub(super) const PYHANKO_PDF: &str = "06_pyhanko_signed_pades_lta_dss.pdf";

/// Serial of the seal certificate: high bit set, so DER adds a sign byte.
pub(super) const EE_SERIAL: [u8; 8] = [0x9a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07];

// ---------------------------------------------------------------- test PKI

/// The kinds of seal keys the tests use.
#[derive(Clone, Copy, Debug)]
pub(super) enum KeyKind {
    P256,
    P384,
    Ed25519,
    Rsa(u32),
}

/// A root → intermediate → seal PKI in a temp dir.
pub(super) struct Pki {
    pub(super) dir: TempDir,
    pub(super) root_der: Vec<u8>,
    pub(super) intermediate_der: Vec<u8>,
    pub(super) ee_der: Vec<u8>,
    /// PKCS#8 DER of the seal key.
    pub(super) ee_key_der: Vec<u8>,
}

impl Pki {
    pub(super) fn new(kind: KeyKind) -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("root key");
        let root_params = ca_params("Test Root CA", 1);
        let root = root_params.self_signed(&root_key).expect("root cert");
        let root_issuer = Issuer::new(root_params, root_key);

        let int_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("int key");
        let int_params = ca_params("Test Intermediate CA", 2);
        let intermediate = int_params.signed_by(&int_key, &root_issuer).expect("int cert");
        let int_issuer = Issuer::new(int_params, int_key);

        let ee_key = seal_key(kind, dir.path());
        let mut ee_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ee_params.distinguished_name.push(DnType::CommonName, "Test Seal");
        ee_params.distinguished_name.push(DnType::OrganizationName, "Example Municipality");
        ee_params.serial_number = Some(SerialNumber::from_slice(&EE_SERIAL));
        ee_params.is_ca = IsCa::ExplicitNoCa;
        ee_params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
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

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Seal certificate and intermediate (the root is the trust anchor).
    pub(super) fn chain(&self) -> CertificateChain {
        CertificateChain::from_der(vec![self.ee_der.clone(), self.intermediate_der.clone()])
            .expect("chain")
    }

    pub(super) fn signer(&self) -> RingSigner {
        RingSigner::from_pkcs8(&self.ee_key_der).expect("signer")
    }
}

pub(super) fn ca_params(cn: &str, serial: u8) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.serial_number = Some(SerialNumber::from_slice(&[serial]));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

pub(super) fn seal_key(kind: KeyKind, dir: &Path) -> KeyPair {
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

pub(super) fn openssl_rsa_key(bits: u32, dir: &Path) -> String {
    let bits = format!("rsa_keygen_bits:{bits}");
    openssl_key(&["-algorithm", "RSA", "-pkeyopt", &bits], dir)
}

/// A fresh PKCS#8 PEM private key from `openssl genpkey`.
pub(super) fn openssl_key(args: &[&str], dir: &Path) -> String {
    let out = dir.join("genpkey.pem");
    let status = Command::new(OPENSSL)
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&out)
        .output()
        .expect("run openssl genpkey");
    assert!(status.status.success(), "openssl genpkey {args:?} failed: {status:?}");
    std::fs::read_to_string(out).expect("read key")
}

// ---------------------------------------------------------------- helpers

pub(super) struct OpensslResult {
    pub(super) ok: bool,
    pub(super) output: String,
}

/// `openssl cms -verify` of a detached DER signature over `data`.
pub(super) fn openssl_verify(pki: &Pki, signature: &[u8], data: &[u8]) -> OpensslResult {
    std::fs::write(pki.path("sig.der"), signature).expect("write sig");
    std::fs::write(pki.path("data.bin"), data).expect("write data");
    let out = Command::new(OPENSSL)
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any"])
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
pub(super) fn openssl_print(dir: &Path, der: &[u8]) -> String {
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
pub(super) fn openssl_sign(pki: &Pki, data: &[u8], extra: &[&str]) -> Vec<u8> {
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

pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&DigestAlgorithm::Sha256.digest([data]));
    out
}

/// A signer that counts its calls.
pub(super) struct CountingSigner {
    pub(super) inner: RingSigner,
    pub(super) calls: AtomicUsize,
}

impl Signer for CountingSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CmsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(message)
    }
}

/// The SignerInfo of a DER ContentInfo(SignedData), decoded with the cms crate.
pub(super) fn decode_signed_data(der: &[u8]) -> SignedData {
    ContentInfo::from_der(der).expect("content info").content.decode_as().expect("signed data")
}

/// Deterministic pseudo-random numbers for the fuzz-style tests (xorshift64*).
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A signature dictionary of the corpus file: its `/Contents` and `/ByteRange`.
pub(super) struct PdfSignature {
    pub(super) kind: &'static str,
    pub(super) contents: Vec<u8>,
    pub(super) byte_range: [usize; 4],
}

pub(super) fn corpus_file(name: &str) -> Vec<u8> {
    let path = corpus::corpus(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()))
}

/// Crude extraction: each `/Contents <hex>` followed, in the same dictionary,
/// by a `/ByteRange [...]` and `/Type /Sig` or `/Type /DocTimeStamp`.
pub(super) fn pdf_signatures(pdf: &[u8]) -> Vec<PdfSignature> {
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

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn byte_range_digest(pdf: &[u8], algorithm: DigestAlgorithm, br: [usize; 4]) -> Vec<u8> {
    algorithm.digest([&pdf[br[0]..br[0] + br[1]], &pdf[br[2]..br[2] + br[3]]])
}
