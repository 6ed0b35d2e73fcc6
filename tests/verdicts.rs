//! The verifier's verdict per signature in ETSI EN 319 102-1 terms, and the document verdict,
//! on real sealed files: a clean seal, an altered byte, a corrupted signature value, a
//! self-made certificate copying the seal's subject (made by openssl), an expired seal
//! certificate without a timestamp, a key usage that does not allow signing, and a disallowed
//! change after signing.

mod common;

use common::*;
use eseal::cms::{CertificateChain, RingSigner, SignedDataInfo};
use eseal::pdf::object::Stream;
use eseal::pdf::{Dictionary, Document, Object, ObjectId};
use eseal::verify::{DocumentVerdict, Indication, SignatureReport, SubIndication, TrustAnchors, VerificationReport, verify_document};

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

fn verify(pdf: &[u8]) -> VerificationReport {
    verify_document(&pdf.to_vec(), &anchors()).unwrap()
}

fn seal1(report: &VerificationReport) -> &SignatureReport {
    report.signatures.iter().find(|s| s.field_name == "Seal1").expect("Seal1 is reported")
}

/// Corpus file 13 sealed by `chain` and `signer` with the EC seal's picture, claiming
/// `signing_time` as /M.
fn seal_with(chain: &CertificateChain, signer: &RingSigner, signing_time: i64) -> Vec<u8> {
    let input = std::fs::read(corpus("13")).unwrap();
    let ec = Seal::ec();
    let mut options = ec.options(1, 10.0, 20.0);
    options.signing_time = signing_time;
    let mut out = Vec::new();
    eseal::stamp::seal(&input, &mut out, &options, chain, signer).unwrap();
    out
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A P-256 key (PKCS#8 DER) and a self-signed certificate with `subject` (openssl -subj form),
/// a seal's key usages and no CA flag, made by openssl in `dir`.
pub fn openssl_self_signed(dir: &std::path::Path, subject: &str) -> (RingSigner, CertificateChain) {
    let key = dir.join("impostor-key.pem");
    let pk8 = dir.join("impostor.pk8");
    let cert = dir.join("impostor.pem");
    let openssl = tool("openssl");
    let out = run(&openssl, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&openssl, &["pkcs8", "-topk8", "-nocrypt", "-in", key.to_str().unwrap(), "-outform", "DER", "-out", pk8.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(
        &openssl,
        &[
            "req", "-x509", "-new", "-utf8", "-days", "365", "-key", key.to_str().unwrap(), "-subj", subject,
            "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature,nonRepudiation",
            "-out", cert.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let signer = RingSigner::from_pkcs8(&std::fs::read(&pk8).unwrap()).unwrap();
    (signer, CertificateChain::from_pem(&std::fs::read_to_string(&cert).unwrap()).unwrap())
}

/// The sample EC seal's subject, in openssl's -subj form.
pub const EC_SEAL_SUBJECT: &str = "/C=CN/O=示例市行政审批局/CN=示例市行政审批局行政审批专用章";

#[test]
fn a_clean_seal_is_total_passed_and_the_document_passes() {
    let ec = Seal::ec();
    let sealed = seal_with(&ec.chain, &ec.signer, now() - 60);
    let report = verify(&sealed);
    let seal = seal1(&report);
    assert_eq!((seal.indication, seal.sub_indication), (Indication::TotalPassed, None), "{seal:#?}");
    assert!(seal.trusted && seal.trust_problem.is_none(), "{seal:#?}");
    assert_eq!(seal.trust_time_source.as_deref(), Some("verification time"), "no timestamp: the chain is checked now");
    assert_eq!(report.verdict, DocumentVerdict::Passed);
    assert!(report.all_valid());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "passed");
    assert_eq!(json["signatures"][0]["indication"], "TOTAL-PASSED");
    assert_eq!(json["signatures"][0]["sub_indication"], serde_json::Value::Null);
}

#[test]
fn an_altered_byte_is_total_failed_hash_failure() {
    let ec = Seal::ec();
    let mut sealed = seal_with(&ec.chain, &ec.signer, now() - 60);
    // A byte of the header comment: the file reads the same, only the digest tells.
    let at = sealed.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(sealed[at], b'%');
    sealed[at + 1] ^= 0x01;
    let report = verify(&sealed);
    let seal = seal1(&report);
    assert_eq!((seal.indication, seal.sub_indication), (Indication::TotalFailed, Some(SubIndication::HashFailure)), "{seal:#?}");
    assert_eq!(report.verdict, DocumentVerdict::Failed);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["signatures"][0]["indication"], "TOTAL-FAILED");
    assert_eq!(json["signatures"][0]["sub_indication"], "HASH_FAILURE");
}

#[test]
fn a_corrupted_signature_value_is_total_failed_sig_crypto_failure() {
    let rsa = Seal::rsa();
    let mut sealed = seal_with(&rsa.chain, &rsa.signer, now() - 60);
    let doc = Document::open(sealed.clone()).unwrap();
    let field = eseal::pdf::signature_fields(&doc).unwrap().into_iter().find(|f| f.name == "Seal1").unwrap();
    let range: Vec<usize> = field.dict.get(b"ByteRange").unwrap().as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as usize).collect();
    let Some(Object::String(contents, _)) = field.dict.get(b"Contents") else { panic!("no /Contents") };
    let value = SignedDataInfo::parse(contents).unwrap().signature_value().to_vec();
    let at = contents.windows(value.len()).position(|w| w == value.as_slice()).expect("the signature value is in /Contents");
    // The last byte of the RSA signature value, as two hex digits in the gap after '<'.
    let hex_at = range[1] + 1 + 2 * (at + value.len() - 1);
    sealed[hex_at + 1] = if sealed[hex_at + 1] == b'0' { b'1' } else { b'0' };
    let report = verify(&sealed);
    let seal = seal1(&report);
    assert!(seal.intact, "the signed bytes are unchanged: {seal:#?}");
    assert_eq!((seal.indication, seal.sub_indication), (Indication::TotalFailed, Some(SubIndication::SigCryptoFailure)), "{seal:#?}");
    assert_eq!(report.verdict, DocumentVerdict::Failed);
}

#[test]
fn a_self_made_certificate_copying_the_seal_subject_is_indeterminate_no_chain() {
    let dir = temp();
    let (signer, chain) = openssl_self_signed(dir.path(), EC_SEAL_SUBJECT);
    let sealed = seal_with(&chain, &signer, now() - 60);
    let report = verify(&sealed);
    let seal = seal1(&report);
    let genuine = eseal::verify::certificate_facts(Seal::ec().chain.end_entity_der()).unwrap();
    assert_eq!(seal.signer.as_ref().map(|c| c.subject.as_str()), Some(genuine.subject.as_str()), "the subject is the seal's");
    assert!(seal.intact && seal.valid && !seal.trusted, "{seal:#?}");
    assert_eq!((seal.indication, seal.sub_indication), (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)), "{seal:#?}");
    assert_eq!(report.verdict, DocumentVerdict::Indeterminate);
    assert!(!report.all_valid(), "an untrusted signature does not pass");
}

#[test]
fn an_expired_seal_certificate_without_timestamp_is_indeterminate_out_of_bounds_no_poe() {
    // A seal certificate of the development seal CA, valid from a day ago until an hour ago;
    // the signature claims a time within that validity.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let expired = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let pem = keys::seal_chain_for(&rcgen::PublicKeyData::subject_public_key_info(&key), "过期测试专用章", keys::seal_usages(), expired);
    let chain = CertificateChain::from_pem(&pem).unwrap();
    let signer = RingSigner::from_pkcs8(&key.serialize_der()).unwrap();
    let sealed = seal_with(&chain, &signer, now() - 2 * 3600);
    let report = verify(&sealed);
    let seal = seal1(&report);
    assert!(seal.intact && seal.valid && !seal.trusted, "{seal:#?}");
    assert_eq!((seal.indication, seal.sub_indication), (Indication::Indeterminate, Some(SubIndication::OutOfBoundsNoPoe)), "{seal:#?}");
    assert_eq!(seal.trust_time_source.as_deref(), Some("verification time"));
    let problem = seal.trust_problem.as_deref().unwrap_or_default();
    assert!(problem.contains("expired") && problem.contains("claimed signing time"), "{problem}");
    assert_eq!(report.verdict, DocumentVerdict::Indeterminate);

    // The same certificate, still valid: the claimed time no longer matters.
    let fresh = keys::seal_chain_for(&rcgen::PublicKeyData::subject_public_key_info(&key), "过期测试专用章", keys::seal_usages(), keys::in_a_year());
    let sealed = seal_with(&CertificateChain::from_pem(&fresh).unwrap(), &signer, now() - 2 * 3600);
    assert_eq!(seal1(&verify(&sealed)).indication, Indication::TotalPassed);
}

#[test]
fn a_key_usage_that_does_not_allow_signing_is_indeterminate_sig_constraints_failure() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let pem = keys::seal_chain_for(&rcgen::PublicKeyData::subject_public_key_info(&key), "加密专用章", vec![rcgen::KeyUsagePurpose::KeyEncipherment], keys::in_a_year());
    let signer = RingSigner::from_pkcs8(&key.serialize_der()).unwrap();
    let sealed = seal_with(&CertificateChain::from_pem(&pem).unwrap(), &signer, now() - 60);
    let report = verify(&sealed);
    let seal = seal1(&report);
    assert_eq!((seal.indication, seal.sub_indication), (Indication::Indeterminate, Some(SubIndication::SigConstraintsFailure)), "{seal:#?}");
}

#[test]
fn a_disallowed_change_after_signing_makes_the_document_changed_after_signing() {
    let ec = Seal::ec();
    let sealed = seal_with(&ec.chain, &ec.signer, now() - 60);
    let doc = Document::open(sealed.clone()).unwrap();
    let page = doc.page(0).unwrap();
    let content_id = ObjectId::new(doc.next_object_number().unwrap(), 0);
    let mut page_dict = page.dict.clone();
    page_dict.set(b"Contents".to_vec(), Object::Reference(content_id));
    let content = Object::Stream(Stream { dict: Dictionary::new(), data: b"0 g 50 700 400 40 re f".to_vec() });
    let changed = append_update(&sealed, &[(page.id, Object::Dictionary(page_dict)), (content_id, content)], None);
    let report = verify(&changed);
    let seal = seal1(&report);
    // The signature itself still passes: the change is a finding on the document.
    assert_eq!(seal.indication, Indication::TotalPassed, "{seal:#?}");
    assert!(seal.modified_after_signing);
    assert_eq!(report.verdict, DocumentVerdict::ChangedAfterSigning);
}
