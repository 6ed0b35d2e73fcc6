//! Hostile input: truncation, corruption, garbage. Never a panic.

use cms::content_info::ContentInfo;
use der::{Decode, Encode};

use super::super::*;
use super::support::*;

#[test]
fn truncated_signatures_are_errors() {
    let pdf = corpus_file(PYHANKO_PDF);
    let signature = &pdf_signatures(&pdf)[0];
    let der_len = SignedDataInfo::parse(&signature.contents).expect("parses").der_len();
    let der = &signature.contents[..der_len];
    for len in 0..der_len {
        assert!(SignedDataInfo::parse(&der[..len]).is_err(), "prefix of {len} bytes accepted");
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
    assert!(matches!(SignedDataInfo::parse(&der), Err(CmsError::Malformed(_))));
}

/// Byte ranges of a DER signature that its signature depends on: the signed
/// attributes, the signature value, the signer's public key.
fn protected_ranges(der: &[u8]) -> Vec<std::ops::Range<usize>> {
    let info = SignedDataInfo::parse(der).expect("sample parses");
    let signed_data = decode_signed_data(&der[..info.der_len()]);
    let signer_info = &signed_data.signer_infos.0.as_slice()[0];
    let attrs = signer_info.signed_attrs.as_ref().expect("attrs").to_der().expect("der");
    let attrs = der::asn1::AnyRef::from_der(&attrs).expect("SET").value().to_vec();
    let cert =
        x509_cert::Certificate::from_der(info.signer_certificate().expect("signer")).expect("cert");
    let key = cert.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
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
    assert!(errors > 100, "corruption should mostly be caught: {errors} errors");
    assert!(caught_in_protected > 50, "too few flips hit signed bytes: {caught_in_protected}");

    // Pure garbage and small structures.
    for len in [0usize, 1, 2, 5, 64, 1000] {
        let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(SignedDataInfo::parse(&garbage).is_err());
    }
    assert!(SignedDataInfo::parse(&[0x30, 0x80, 0, 0]).is_err(), "BER indefinite length");
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
    assert!(matches!(SignedDataInfo::parse(&der), Err(CmsError::NotSignedData(_))));
}
