//! Documents a verifier must not pass, made for the verdict tests: sealed with a self-made
//! certificate (openssl), with an expired certificate, with an altered byte, with a corrupted
//! signature value, or changed after signing. Included by path (`#[path]`) by the test files
//! that use it, next to `mod common`.
#![allow(dead_code)]

use crate::common::*;
use eseal_cms::{CertificateChain, RingSigner, SignedDataInfo};
use eseal_pdf::Stream;
use eseal_pdf::{Dictionary, Document, Object, ObjectId};

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Corpus file 13 sealed by `chain` and `signer` with the EC seal's picture, claiming
/// `signing_time` as /M.
pub fn seal_with(chain: &CertificateChain, signer: &RingSigner, signing_time: i64) -> Vec<u8> {
    let input = std::fs::read(corpus("13")).unwrap();
    let ec = Seal::ec();
    let mut options = ec.options(1, 10.0, 20.0);
    options.signing_time = signing_time;
    let mut out = Vec::new();
    eseal_service::stamp::seal(&input, &mut out, &options, chain, signer).unwrap();
    out
}

/// The sample EC seal's subject, in openssl's -subj form.
pub const EC_SEAL_SUBJECT: &str = "/C=CN/O=示例市行政审批局/CN=示例市行政审批局行政审批专用章";

/// A P-256 key and a self-signed certificate with `subject` (openssl -subj form), a seal's key
/// usages and no CA flag, made by openssl in `dir`.
pub fn openssl_self_signed(dir: &std::path::Path, subject: &str) -> (RingSigner, CertificateChain) {
    openssl_self_signed_with(
        dir,
        subject,
        &[
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "keyUsage=critical,digitalSignature,nonRepudiation",
        ],
    )
}

/// Like [`openssl_self_signed`], with `extensions` (openssl req arguments) instead of the
/// seal's; none: openssl's defaults (a CA certificate).
pub fn openssl_self_signed_with(
    dir: &std::path::Path,
    subject: &str,
    extensions: &[&str],
) -> (RingSigner, CertificateChain) {
    let key = dir.join("impostor-key.pem");
    let pk8 = dir.join("impostor.pk8");
    let cert = dir.join("impostor.pem");
    let openssl = tool("openssl");
    let out = run(
        &openssl,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            key.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(
        &openssl,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            key.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            pk8.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-utf8",
        "-days",
        "365",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        subject,
        "-out",
        cert.to_str().unwrap(),
    ];
    args.extend_from_slice(extensions);
    let out = run(&openssl, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let signer = RingSigner::from_pkcs8(&std::fs::read(&pk8).unwrap()).unwrap();
    (signer, CertificateChain::from_pem(&std::fs::read_to_string(&cert).unwrap()).unwrap())
}

/// Corpus file 13 sealed with a self-made certificate copying the EC seal's subject.
pub fn sealed_by_impostor(dir: &std::path::Path) -> Vec<u8> {
    let (signer, chain) = openssl_self_signed(dir, EC_SEAL_SUBJECT);
    seal_with(&chain, &signer, now() - 60)
}

/// Corpus file 13 sealed with a certificate of the development seal CA that expired an hour
/// ago (valid from a day ago), claiming a time two hours ago, within its validity.
pub fn sealed_with_expired_certificate() -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let expired = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let pem = keys::seal_chain_for(
        &rcgen::PublicKeyData::subject_public_key_info(&key),
        "过期测试专用章",
        keys::seal_usages(),
        expired,
    );
    let signer = RingSigner::from_pkcs8(&key.serialize_der()).unwrap();
    seal_with(&CertificateChain::from_pem(&pem).unwrap(), &signer, now() - 2 * 3600)
}

/// Flips a bit of the header comment (the line after %PDF-x.y): the file reads the same,
/// only the digest tells.
pub fn alter_a_signed_byte(pdf: &mut [u8]) {
    let at = pdf.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(pdf[at], b'%', "a comment line follows the header");
    pdf[at + 1] ^= 0x01;
}

/// Changes the last byte of `field`'s signature value (in the /Contents hex), leaving the
/// signed bytes alone.
pub fn corrupt_signature_value(pdf: &mut [u8], field: &str) {
    let doc = Document::open(pdf.to_vec()).unwrap();
    let field = eseal_pdf::signature_fields(&doc)
        .unwrap()
        .into_iter()
        .find(|f| f.name == field)
        .expect("the field");
    let range: Vec<usize> = field
        .dict
        .get(b"ByteRange")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as usize)
        .collect();
    let Some(Object::String(contents, _)) = field.dict.get(b"Contents") else {
        panic!("no /Contents")
    };
    let value = SignedDataInfo::parse(contents).unwrap().signature_value().to_vec();
    let at = contents
        .windows(value.len())
        .position(|w| w == value.as_slice())
        .expect("the signature value is in /Contents");
    // Two hex digits per byte, after the gap's '<'; the low digit of the value's last byte.
    let hex_at = range[1] + 1 + 2 * (at + value.len() - 1) + 1;
    pdf[hex_at] = if pdf[hex_at] == b'0' { b'1' } else { b'0' };
}

/// A later revision giving page 1 new content (a black bar over the text): a change no
/// signature permits.
pub fn rewrite_page_content(pdf: &[u8]) -> Vec<u8> {
    let doc = Document::open(pdf.to_vec()).unwrap();
    let page = doc.page(0).unwrap();
    let content_id = ObjectId::new(doc.next_object_number().unwrap(), 0);
    let mut page_dict = page.dict.clone();
    page_dict.set(b"Contents".to_vec(), Object::Reference(content_id));
    let content = Object::Stream(Stream {
        dict: Dictionary::new(),
        data: b"0 g 50 700 400 40 re f".to_vec(),
    });
    append_update(pdf, &[(page.id, Object::Dictionary(page_dict)), (content_id, content)], None)
}

/// A timestamping authority's certificate (PEM, from the development seal CA, valid from a day
/// ago for a year, timeStamping usage) and RSA key (PKCS#8 DER, made by openssl: pyHanko's
/// test TSA signs with RSA only), written to `dir`.
pub fn tsa(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let pem = dir.join("tsa-key.pem");
    let out = run(
        &tool("openssl"),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            pem.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(&pem).unwrap()).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "eseal Development");
    params.distinguished_name.push(rcgen::DnType::CommonName, "eseal Test TSA");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::TimeStamping];
    params.use_authority_key_identifier_extension = true;
    params.not_before = (std::time::SystemTime::now() - service::DAY).into();
    params.not_after = keys::in_a_year().into();
    let certificate = params.signed_by(&key, &keys::seal_ca()).unwrap();
    let (cert_path, key_path) = (dir.join("tsa.pem"), dir.join("tsa.pk8"));
    std::fs::write(&cert_path, certificate.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_der()).unwrap();
    (cert_path, key_path)
}

/// `pdf` with a document timestamp added by pyHanko (tests/python/document_timestamp.py) from
/// the TSA of [`tsa`], at `gen_time`.
pub fn with_document_timestamp(pdf: &[u8], dir: &std::path::Path, gen_time: i64) -> Vec<u8> {
    let (cert, key) = tsa(dir);
    let (input, output) = (dir.join("to-timestamp.pdf"), dir.join("timestamped.pdf"));
    std::fs::write(&input, pdf).unwrap();
    let python = pyhanko().with_file_name("python");
    let script = repo().join("tests/python/document_timestamp.py");
    let issuer = service::keys().join("seal-ca.pem");
    let out = run(
        &python,
        &[
            script.to_str().unwrap(),
            input.to_str().unwrap(),
            output.to_str().unwrap(),
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            issuer.to_str().unwrap(),
            &gen_time.to_string(),
        ],
    );
    assert!(
        out.status.success(),
        "pyHanko's document timestamp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&output).unwrap()
}
