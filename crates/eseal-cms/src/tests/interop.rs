//! Signatures made by other tools: OpenSSL and pyHanko.

use der::Decode;

use super::super::*;
use super::support::*;

#[test]
fn parses_and_verifies_openssl_signatures() {
    let data = b"signed by openssl".repeat(10);
    let cases: &[(KeyKind, &[&str], &str, DigestAlgorithm)] = &[
        (KeyKind::P256, &["-md", "sha256"], "ecdsa-with-SHA256", DigestAlgorithm::Sha256),
        (KeyKind::P256, &["-md", "sha384"], "ecdsa-with-SHA384", DigestAlgorithm::Sha384),
        (KeyKind::P384, &["-md", "sha384"], "ecdsa-with-SHA384", DigestAlgorithm::Sha384),
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
        (KeyKind::P256, &["-md", "sha256", "-keyid"], "ecdsa-with-SHA256", DigestAlgorithm::Sha256),
    ];
    for (kind, args, alg, digest) in cases {
        let pki = Pki::new(*kind);
        let der = openssl_sign(&pki, &data, args);
        let info = SignedDataInfo::parse(&der)
            .unwrap_or_else(|e| panic!("{kind:?} {args:?}: parse failed: {e}"));
        info.verify_signature().unwrap_or_else(|e| panic!("{kind:?} {args:?}: verify failed: {e}"));
        assert_eq!(info.signature_algorithm_name(), *alg, "{kind:?} {args:?}");
        assert_eq!(info.digest_algorithm(), *digest, "{kind:?} {args:?}");
        assert_eq!(info.message_digest(), Some(&digest.digest([&data[..]])[..]));
        assert_eq!(info.signer_certificate(), Some(&pki.ee_der[..]), "{kind:?} {args:?}");
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
    assert!(matches!(err, CmsError::UnsupportedSignatureAlgorithm(_)), "{err}");
}

#[test]
fn pss_with_a_salt_ring_cannot_check_is_reported() {
    let pki = Pki::new(KeyKind::Rsa(2048));
    let der = openssl_sign(
        &pki,
        b"data",
        &["-md", "sha256", "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:max"],
    );
    let err = SignedDataInfo::parse(&der).expect_err("max salt is not verifiable by ring");
    assert!(matches!(err, CmsError::UnsupportedSignatureAlgorithm(_)), "{err}");
    assert!(err.to_string().contains("salt"), "{err}");
}

// ---------------------------------------------------------------- pyHanko PAdES B-LTA
#[test]
fn pyhanko_pades_lta_signature_and_document_timestamp() {
    let pdf = corpus_file(PYHANKO_PDF);
    let signatures = pdf_signatures(&pdf);
    let kinds: Vec<_> = signatures.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, ["Sig", "DocTimeStamp"]);

    // The signature (RSA, by pyHanko), zero-padded in /Contents.
    let sig = &signatures[0];
    assert!(sig.contents.ends_with(&[0, 0, 0, 0]), "expected zero padding");
    let info = SignedDataInfo::parse(&sig.contents).expect("pyHanko signature parses");
    assert!(info.der_len() < sig.contents.len());
    info.verify_signature().expect("pyHanko signature verifies");
    assert_eq!(info.digest_algorithm(), DigestAlgorithm::Sha256);
    assert_eq!(info.signature_algorithm_name(), "sha256WithRSAEncryption");
    assert_eq!(info.content_type(), oids::ID_DATA);
    let expected = byte_range_digest(&pdf, info.digest_algorithm(), sig.byte_range);
    assert_eq!(info.message_digest(), Some(&expected[..]), "digest of the /ByteRange");
    assert_eq!(
        info.signed_attribute_oids(),
        [oids::ID_CONTENT_TYPE, oids::ID_MESSAGE_DIGEST, oids::ID_AA_SIGNING_CERTIFICATE_V2]
    );
    assert!(!info.has_signing_time());
    assert_eq!(info.signing_certificate_v2_matches(), Some(true));
    assert_eq!(info.certificates().len(), 3);
    let signer = info.signer_subject().expect("signer certificate found");
    assert!(signer.contains("Example Inc"), "{signer}");
    assert_eq!(info.unsigned_attribute_oids(), [oids::ID_AA_TIME_STAMP_TOKEN]);

    // Its signature timestamp: a token over the signature value.
    let token =
        info.signature_timestamp().expect("signature timestamp present").expect("token parses");
    assert_eq!(token.content_type(), oids::ID_CT_TST_INFO);
    token.verify_signature().expect("token signature verifies");
    assert!(token.has_signing_time());
    let tst = token.tst_info().expect("TSTInfo");
    assert_eq!(tst.hash_algorithm, DigestAlgorithm::Sha256);
    assert!(tst.imprint_matches(info.signature_value()), "imprint is not of the signature");
    assert!(!tst.imprint_matches(b"something else"));
    // pyHanko's test data is dated 2020-11-01.
    assert!((1_604_188_800..1_604_275_200).contains(&tst.gen_time), "{}", tst.gen_time);

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
