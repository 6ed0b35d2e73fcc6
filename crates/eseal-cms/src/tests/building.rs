//! Building seals: OpenSSL accepts them, the parser reads them back, sizes hold.

use std::sync::atomic::{AtomicUsize, Ordering};

use der::{Decode, Encode};

use super::super::ess::SigningCertificateV2;
use super::super::*;
use super::support::*;

/// Builds a seal with `kind`, checks it with OpenSSL and with our parser.
fn check_built_signature(kind: KeyKind, expected_alg: &str) {
    let pki = Pki::new(kind);
    let chain = pki.chain();
    let data = b"%PDF-1.7 stand-in for the ByteRange of a sealed document".repeat(50);
    let digest = sha256(&data);
    let der = build_pades_signed_data(&digest, &chain, &pki.signer()).expect("build");

    // The real OpenSSL accepts it.
    let verified = openssl_verify(&pki, &der, &data);
    assert!(verified.ok, "openssl rejected the seal: {}", verified.output);
    assert!(verified.output.contains("Verification successful"), "{}", verified.output);

    // Its structure, as OpenSSL reads it.
    let printed = openssl_print(pki.dir.path(), &der);
    assert!(printed.contains("eContent: <ABSENT>"), "not detached:\n{printed}");
    assert!(printed.contains("id-smime-aa-signingCertificateV2"), "{printed}");
    assert!(!printed.contains("signingTime"), "signing-time present:\n{printed}");
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
    assert_eq!(info.signer_subject().as_deref(), Some(chain.subject().as_str()));
    assert_eq!(info.certificates().len(), 2);
    assert!(info.certificates().contains(&pki.intermediate_der));
    let mut attrs = info.signed_attribute_oids().to_vec();
    attrs.sort();
    let mut expected =
        vec![oids::ID_CONTENT_TYPE, oids::ID_MESSAGE_DIGEST, oids::ID_AA_SIGNING_CERTIFICATE_V2];
    expected.sort();
    assert_eq!(attrs, expected, "signed attributes must be exactly the PAdES B-B three");
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
    assert_eq!(ess.certs[0].hash_algorithm, None, "DEFAULT sha256 must be omitted");
    assert_eq!(ess.certs[0].cert_hash.as_bytes(), chain.fingerprint_sha256());
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
    assert!(matches!(parsed.verify_signature(), Err(CmsError::SignatureInvalid)));

    // One byte of a signed attribute (inside the message digest) → both fail.
    let pos = der.windows(32).position(|w| w == digest).expect("digest in the DER");
    let mut bad_attr = der.clone();
    bad_attr[pos + 5] ^= 0x80;
    assert!(!openssl_verify(&pki, &bad_attr, &data).ok);
    let parsed = SignedDataInfo::parse(&bad_attr).expect("still well-formed");
    assert!(matches!(parsed.verify_signature(), Err(CmsError::SignatureInvalid)));
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
    let content = der::asn1::AnyRef::from_der(&sorted_set).expect("SET").value();
    let header_len = sorted_set.len() - content.len();
    let at = find(&der, content).expect("signed attributes in the DER");

    // Reverse the three attributes in place (same total length).
    let mut reader = der::SliceReader::new(content).expect("reader");
    let mut tlvs = Vec::new();
    while !der::Reader::is_finished(&reader) {
        tlvs.push(
            der::asn1::AnyRef::decode(&mut reader).expect("attribute").to_der().expect("tlv"),
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
        [oids::ID_AA_SIGNING_CERTIFICATE_V2, oids::ID_MESSAGE_DIGEST, oids::ID_CONTENT_TYPE],
        "attributes reported in their encoded order"
    );
    info.verify_signature().expect("signature over the unsorted attributes verifies");
}

#[test]
fn signer_is_called_exactly_once() {
    let pki = Pki::new(KeyKind::P256);
    let signer = CountingSigner { inner: pki.signer(), calls: AtomicUsize::new(0) };
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
            let real = build_pades_signed_data(&[i; 32], &chain, &signer).expect("build").len();
            assert!(estimate >= real, "{kind:?}: estimate {estimate} < real {real}");
            assert!(estimate - real <= 8, "{kind:?}: estimate {estimate} far above {real}");
        }
        // With the whole chain, root included, the bound follows.
        let full = CertificateChain::from_der(vec![
            pki.ee_der.clone(),
            pki.intermediate_der.clone(),
            pki.root_der.clone(),
        ])
        .expect("full chain");
        let real = build_pades_signed_data(&[1; 32], &full, &signer).expect("build").len();
        assert!(signature_size_estimate(&full) >= real);
        assert!(signature_size_estimate(&full) > estimate);
    }
    assert_eq!(TIMESTAMP_RESERVE, 16 * 1024);
}
