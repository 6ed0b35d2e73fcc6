//! Checking a signature value with a certificate's public key, via `ring`.
//!
//! Shared by the parser (verifying signatures of any tool) and the builder
//! (checking its own signature before handing it out).

use der::Sequence;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::algorithms::{DigestAlgorithm, SignatureAlgorithm, oid_display};
use super::error::CmsError;
use super::oids;

/// Resolves a SignerInfo's `signatureAlgorithm` (with its `digestAlgorithm`,
/// needed when a tool writes the bare key algorithm, e.g. `rsaEncryption`).
pub(crate) fn resolve_signature_algorithm(
    alg: &AlgorithmIdentifierOwned,
    digest: DigestAlgorithm,
) -> Result<SignatureAlgorithm, CmsError> {
    use DigestAlgorithm::*;
    Ok(match alg.oid {
        // Adobe and older tools name the key algorithm and let digestAlgorithm give the hash.
        oids::RSA_ENCRYPTION => SignatureAlgorithm::RsaPkcs1v15(digest),
        oids::SHA1_WITH_RSA => SignatureAlgorithm::RsaPkcs1v15(Sha1),
        oids::SHA256_WITH_RSA => SignatureAlgorithm::RsaPkcs1v15(Sha256),
        oids::SHA384_WITH_RSA => SignatureAlgorithm::RsaPkcs1v15(Sha384),
        oids::SHA512_WITH_RSA => SignatureAlgorithm::RsaPkcs1v15(Sha512),
        oids::ID_EC_PUBLIC_KEY => SignatureAlgorithm::Ecdsa(digest),
        oids::ECDSA_WITH_SHA256 => SignatureAlgorithm::Ecdsa(Sha256),
        oids::ECDSA_WITH_SHA384 => SignatureAlgorithm::Ecdsa(Sha384),
        oids::ECDSA_WITH_SHA512 => SignatureAlgorithm::Ecdsa(Sha512),
        oids::ID_RSASSA_PSS => SignatureAlgorithm::RsaPss(pss_hash(alg)?),
        oids::ID_ED25519 => SignatureAlgorithm::Ed25519,
        other => return Err(CmsError::UnsupportedSignatureAlgorithm(oid_display(&other))),
    })
}

/// Verifies `signature` over `message` with the key of `spki`.
pub(crate) fn verify_with_spki(
    spki: &SubjectPublicKeyInfoOwned,
    alg: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CmsError> {
    let ring_alg = ring_algorithm(spki, alg)?;
    UnparsedPublicKey::new(ring_alg, spki.subject_public_key.raw_bytes())
        .verify(message, signature)
        .map_err(|_| CmsError::SignatureInvalid)
}

/// Picks ring's verification algorithm for this key and signature algorithm.
fn ring_algorithm(
    spki: &SubjectPublicKeyInfoOwned,
    alg: SignatureAlgorithm,
) -> Result<&'static dyn VerificationAlgorithm, CmsError> {
    use DigestAlgorithm::*;
    use SignatureAlgorithm::*;
    let key_oid = spki.algorithm.oid;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
    let is_rsa = key_oid == oids::RSA_ENCRYPTION || key_oid == oids::ID_RSASSA_PSS;
    let chosen: Option<&'static dyn VerificationAlgorithm> = match alg {
        Ecdsa(d) if key_oid == oids::ID_EC_PUBLIC_KEY => match (curve, d) {
            (Some(oids::SECP256R1), Sha256) => Some(&signature::ECDSA_P256_SHA256_ASN1),
            (Some(oids::SECP256R1), Sha384) => Some(&signature::ECDSA_P256_SHA384_ASN1),
            (Some(oids::SECP384R1), Sha256) => Some(&signature::ECDSA_P384_SHA256_ASN1),
            (Some(oids::SECP384R1), Sha384) => Some(&signature::ECDSA_P384_SHA384_ASN1),
            _ => None,
        },
        RsaPkcs1v15(d) if is_rsa => Some(match d {
            Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        }),
        RsaPss(d) if is_rsa => match d {
            Sha256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
            Sha384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
            Sha512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
            Sha1 => None,
        },
        Ed25519 if key_oid == oids::ID_ED25519 => Some(&signature::ED25519),
        _ => None,
    };
    chosen.ok_or_else(|| {
        let key = match curve {
            Some(c) => format!("{} on {}", oid_display(&key_oid), oid_display(&c)),
            None => oid_display(&key_oid),
        };
        CmsError::UnsupportedSignatureAlgorithm(format!("{alg} with a {key} key"))
    })
}

/// `RSASSA-PSS-params` (RFC 4055). Every field has a DEFAULT (SHA-1 based),
/// so each is optional here and the defaults are applied by [`pss_hash`].
#[derive(Sequence)]
struct RsaPssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// The hash of an RSASSA-PSS AlgorithmIdentifier, if its parameters are ones
/// `ring` verifies: MGF1 with the same hash, salt as long as the hash, trailer 1.
fn pss_hash(alg: &AlgorithmIdentifierOwned) -> Result<DigestAlgorithm, CmsError> {
    let unsupported =
        |why: &str| CmsError::UnsupportedSignatureAlgorithm(format!("rsassa-pss {why}"));
    let params: RsaPssParams = alg
        .parameters
        .as_ref()
        .ok_or_else(|| unsupported("without parameters"))?
        .decode_as()
        .map_err(|e| unsupported(&format!("with malformed parameters: {e}")))?;
    let hash = match &params.hash_algorithm {
        Some(h) => DigestAlgorithm::from_oid(&h.oid)?,
        None => DigestAlgorithm::Sha1,
    };
    if hash == DigestAlgorithm::Sha1 {
        return Err(unsupported("with SHA-1"));
    }
    let mgf_hash = match &params.mask_gen_algorithm {
        Some(mgf) if mgf.oid == oids::ID_MGF1 => mgf
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
            .map(|h| DigestAlgorithm::from_oid(&h.oid)),
        Some(_) => {
            return Err(unsupported("with a mask generation function other than MGF1"));
        }
        None => Some(Ok(DigestAlgorithm::Sha1)),
    };
    if !matches!(mgf_hash, Some(Ok(h)) if h == hash) {
        return Err(unsupported("with an MGF1 hash different from the message hash"));
    }
    let salt = params.salt_length.unwrap_or(20);
    if usize::try_from(salt).ok() != Some(hash.output_len()) {
        return Err(unsupported(&format!("with a salt length of {salt}")));
    }
    if params.trailer_field.unwrap_or(1) != 1 {
        return Err(unsupported("with a trailer field other than 1"));
    }
    Ok(hash)
}
