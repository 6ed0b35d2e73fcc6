//! The verifier's verdict per signature in ETSI EN 319 102-1 terms, and the document verdict,
//! on real sealed files: a clean seal, an altered byte, a corrupted signature value, a
//! self-made certificate copying the seal's subject (made by openssl), an expired seal
//! certificate without a timestamp, a key usage that does not allow signing, and a disallowed
//! change after signing.

mod common;
#[path = "common/forgeries.rs"]
mod forgeries;

use common::*;
use eseal_cms::{CertificateChain, RingSigner};
use eseal_verify::{
    DocumentVerdict, Indication, SignatureReport, SubIndication, TrustAnchors, VerificationReport,
    verify_document,
};
use forgeries::*;

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

fn verify(pdf: &[u8]) -> VerificationReport {
    verify_document(&pdf.to_vec(), &anchors()).unwrap()
}

fn seal1(report: &VerificationReport) -> &SignatureReport {
    report.signatures.iter().find(|s| s.field_name == "Seal1").expect("Seal1 is reported")
}

#[test]
fn a_clean_seal_is_total_passed_and_the_document_passes() {
    let ec = Seal::ec();
    let sealed = seal_with(&ec.chain, &ec.signer, now() - 60);
    let report = verify(&sealed);
    let seal = seal1(&report);
    assert_eq!(
        (seal.indication, seal.sub_indication),
        (Indication::TotalPassed, None),
        "{seal:#?}"
    );
    assert!(seal.trusted && seal.trust_problem.is_none(), "{seal:#?}");
    assert_eq!(
        seal.trust_time_source.as_deref(),
        Some("verification time"),
        "no timestamp: the chain is checked now"
    );
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
    alter_a_signed_byte(&mut sealed);
    let report = verify(&sealed);
    let seal = seal1(&report);
    assert_eq!(
        (seal.indication, seal.sub_indication),
        (Indication::TotalFailed, Some(SubIndication::HashFailure)),
        "{seal:#?}"
    );
    assert_eq!(report.verdict, DocumentVerdict::Failed);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["signatures"][0]["indication"], "TOTAL-FAILED");
    assert_eq!(json["signatures"][0]["sub_indication"], "HASH_FAILURE");
}

#[test]
fn a_corrupted_signature_value_is_total_failed_sig_crypto_failure() {
    for seal in [Seal::rsa(), Seal::ec()] {
        let mut sealed = seal_with(&seal.chain, &seal.signer, now() - 60);
        corrupt_signature_value(&mut sealed, "Seal1");
        let report = verify(&sealed);
        let seal1 = seal1(&report);
        assert!(seal1.intact, "{}: the signed bytes are unchanged: {seal1:#?}", seal.name);
        assert_eq!(
            (seal1.indication, seal1.sub_indication),
            (Indication::TotalFailed, Some(SubIndication::SigCryptoFailure)),
            "{}: {seal1:#?}",
            seal.name
        );
        assert_eq!(report.verdict, DocumentVerdict::Failed);
    }
}

#[test]
fn a_self_made_certificate_copying_the_seal_subject_is_indeterminate_no_chain() {
    let dir = temp();
    let sealed = sealed_by_impostor(dir.path());
    let report = verify(&sealed);
    let seal = seal1(&report);
    let genuine = eseal_verify::certificate_facts(Seal::ec().chain.end_entity_der()).unwrap();
    let signer = seal.signer.as_ref().expect("the signer certificate is reported");
    assert_eq!(signer.subject, genuine.subject, "the subject is the seal's");
    assert_eq!(signer.issuer, genuine.subject, "self-signed");
    assert!(seal.intact && seal.valid && !seal.trusted, "{seal:#?}");
    assert_eq!(
        (seal.indication, seal.sub_indication),
        (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)),
        "{seal:#?}"
    );
    assert_eq!(report.verdict, DocumentVerdict::Indeterminate);
    assert!(!report.all_valid(), "an untrusted signature does not pass");

    // The same with openssl's default extensions (a CA certificate) and with a key usage that
    // does not allow signing: still no chain, whatever else is wrong with the certificate.
    for extensions in [&[][..], &["-addext", "keyUsage=critical,keyCertSign"][..]] {
        let dir = temp();
        let (signer, chain) = openssl_self_signed_with(dir.path(), EC_SEAL_SUBJECT, extensions);
        let report = verify(&seal_with(&chain, &signer, now() - 60));
        let seal = seal1(&report);
        assert_eq!(
            (seal.indication, seal.sub_indication),
            (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)),
            "{extensions:?}: {seal:#?}"
        );
    }
}

#[test]
fn an_expired_seal_certificate_without_timestamp_is_indeterminate_out_of_bounds_no_poe() {
    let report = verify(&sealed_with_expired_certificate());
    let seal = seal1(&report);
    assert!(seal.intact && seal.valid && !seal.trusted, "{seal:#?}");
    assert_eq!(
        (seal.indication, seal.sub_indication),
        (Indication::Indeterminate, Some(SubIndication::OutOfBoundsNoPoe)),
        "{seal:#?}"
    );
    assert_eq!(
        seal.trust_time_source.as_deref(),
        Some("verification time"),
        "the claimed /M is no proof of existence"
    );
    let problem = seal.trust_problem.as_deref().unwrap_or_default();
    assert!(problem.contains("expired") && problem.contains("claimed signing time"), "{problem}");
    assert_eq!(report.verdict, DocumentVerdict::Indeterminate);
}

#[test]
fn a_key_usage_that_does_not_allow_signing_is_indeterminate_sig_constraints_failure() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let pem = keys::seal_chain_for(
        &rcgen::PublicKeyData::subject_public_key_info(&key),
        "加密专用章",
        vec![rcgen::KeyUsagePurpose::KeyEncipherment],
        keys::in_a_year(),
    );
    let signer = RingSigner::from_pkcs8(&key.serialize_der()).unwrap();
    let sealed = seal_with(&CertificateChain::from_pem(&pem).unwrap(), &signer, now() - 60);
    let report = verify(&sealed);
    let seal = seal1(&report);
    assert_eq!(
        (seal.indication, seal.sub_indication),
        (Indication::Indeterminate, Some(SubIndication::SigConstraintsFailure)),
        "{seal:#?}"
    );
}

#[test]
fn a_disallowed_change_after_signing_makes_the_document_changed_after_signing() {
    let ec = Seal::ec();
    let sealed = seal_with(&ec.chain, &ec.signer, now() - 60);
    let report = verify(&rewrite_page_content(&sealed));
    let seal = seal1(&report);
    // The signature itself still passes: the change is a finding on the document.
    assert_eq!(seal.indication, Indication::TotalPassed, "{seal:#?}");
    assert!(seal.modified_after_signing);
    assert_eq!(report.verdict, DocumentVerdict::ChangedAfterSigning);
}

#[test]
fn a_chain_from_an_impostor_ca_bearing_the_seal_ca_name_is_indeterminate_no_chain() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let pem = keys::impostor_chain_for(
        &rcgen::PublicKeyData::subject_public_key_info(&key),
        "冒名专用章",
    );
    let signer = RingSigner::from_pkcs8(&key.serialize_der()).unwrap();
    let report =
        verify(&seal_with(&CertificateChain::from_pem(&pem).unwrap(), &signer, now() - 60));
    let seal = seal1(&report);
    assert_eq!(
        (seal.indication, seal.sub_indication),
        (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)),
        "{seal:#?}"
    );
}

#[test]
fn a_document_timestamp_before_the_expiry_proves_the_expired_seal_existed() {
    let sealed = sealed_with_expired_certificate();
    // The seal claims two hours ago; its certificate expired an hour ago.
    let dir = temp();
    let proven = with_document_timestamp(&sealed, dir.path(), now() - 90 * 60);
    let report = verify(&proven);
    let seal = seal1(&report);
    let timestamp = report
        .signatures
        .iter()
        .find(|s| s.kind == eseal_verify::SignatureKind::DocumentTimestamp)
        .expect("the document timestamp");
    assert_eq!(timestamp.indication, Indication::TotalPassed, "{timestamp:#?}");
    assert_eq!(
        (seal.indication, seal.sub_indication),
        (Indication::TotalPassed, None),
        "{seal:#?}"
    );
    assert_eq!(seal.trust_time_source.as_deref(), Some("document timestamp"));
    assert_eq!(seal.trust_time, timestamp.signing_time);
    assert_eq!(report.verdict, DocumentVerdict::Passed, "{report:#?}");

    // A document timestamp made after the expiry proves nothing about the seal.
    let dir = temp();
    let late = with_document_timestamp(&sealed, dir.path(), now() - 30 * 60);
    let report = verify(&late);
    let seal = seal1(&report);
    assert_eq!(
        (seal.indication, seal.sub_indication),
        (Indication::Indeterminate, Some(SubIndication::OutOfBoundsNoPoe)),
        "{seal:#?}"
    );
    assert_eq!(report.verdict, DocumentVerdict::Indeterminate);
}
