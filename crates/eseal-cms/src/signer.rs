//! The seal key: a one-method trait so that HSM-held keys can plug in later,
//! and its software implementation on `ring`.

use core::fmt;

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Reader, SliceReader, Tagged};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use spki::AlgorithmIdentifierRef;

use super::algorithms::oid_display;
use super::error::CmsError;
use super::oids;

/// Signs bytes with a seal's private key.
///
/// `message` is the whole to-be-signed data (the DER of the signed
/// attributes); the implementation hashes it with SHA-256 and returns the
/// signature in the form CMS carries it: a DER `ECDSA-Sig-Value` for ECDSA,
/// the raw PKCS#1 v1.5 signature for RSA.
pub trait Signer: Send + Sync {
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CmsError>;
}

/// A software seal key held in memory by `ring`.
pub struct RingSigner {
    key: RingKey,
    rng: SystemRandom,
}

enum RingKey {
    EcdsaP256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl RingSigner {
    /// Loads an unencrypted PKCS#8 DER private key: ECDSA P-256 or RSA (2048 to 4096 bits).
    ///
    /// The key type is read from the PKCS#8 `privateKeyAlgorithm`, so a wrong
    /// key gives a precise error instead of "not ECDSA, not RSA either".
    pub fn from_pkcs8(der: &[u8]) -> Result<RingSigner, CmsError> {
        let rng = SystemRandom::new();
        let (alg_oid, curve) = pkcs8_algorithm(der)?;
        let key = match alg_oid {
            oids::ID_EC_PUBLIC_KEY if curve == Some(oids::SECP256R1) => RingKey::EcdsaP256(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
                    .map_err(|e| CmsError::InvalidPrivateKey(format!("ECDSA P-256 key: {e}")))?,
            ),
            oids::ID_EC_PUBLIC_KEY => {
                let curve =
                    curve.map(|c| oid_display(&c)).unwrap_or_else(|| "no named curve".to_owned());
                return Err(CmsError::UnsupportedKeyType(format!("EC key on curve {curve}")));
            }
            oids::RSA_ENCRYPTION => RingKey::Rsa(
                RsaKeyPair::from_pkcs8(der)
                    .map_err(|e| CmsError::InvalidPrivateKey(format!("RSA key: {e}")))?,
            ),
            other => return Err(CmsError::UnsupportedKeyType(oid_display(&other))),
        };
        Ok(RingSigner { key, rng })
    }

    /// Short description of the key ("ECDSA P-256", "RSA 3072"), for logs.
    pub fn key_description(&self) -> String {
        match &self.key {
            RingKey::EcdsaP256(_) => "ECDSA P-256".to_owned(),
            RingKey::Rsa(k) => format!("RSA {}", k.public().modulus_len() * 8),
        }
    }
}

impl Signer for RingSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CmsError> {
        match &self.key {
            RingKey::EcdsaP256(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| CmsError::SigningFailed("ECDSA signing failed".to_owned())),
            RingKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| CmsError::SigningFailed("RSA signing failed".to_owned()))?;
                Ok(sig)
            }
        }
    }
}

impl fmt::Debug for RingSigner {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingSigner").field("key", &self.key_description()).finish_non_exhaustive()
    }
}

/// Reads `privateKeyAlgorithm` (and the EC named curve) from a PKCS#8 `PrivateKeyInfo`:
/// `SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier, privateKey OCTET STRING, ... }`.
fn pkcs8_algorithm(der: &[u8]) -> Result<(ObjectIdentifier, Option<ObjectIdentifier>), CmsError> {
    let bad = |e: der::Error| CmsError::InvalidPrivateKey(format!("not a PKCS#8 private key: {e}"));
    let mut reader = SliceReader::new(der).map_err(bad)?;
    let header = der::Header::decode(&mut reader).map_err(bad)?;
    if header.tag != der::Tag::Sequence {
        return Err(CmsError::InvalidPrivateKey(
            "not a PKCS#8 private key (expected a DER SEQUENCE; PEM must be decoded first)"
                .to_owned(),
        ));
    }
    reader
        .read_nested(header.length, |r| {
            let _version = AnyRef::decode(r)?;
            let alg = AlgorithmIdentifierRef::decode(r)?;
            // The rest (private key, attributes, public key) is ring's business.
            let rest = r.remaining_len();
            r.read_slice(rest)?;
            let curve = match alg.parameters {
                Some(p) if p.tag() == der::Tag::ObjectIdentifier => Some(p.decode_as()?),
                _ => None,
            };
            Ok((alg.oid, curve))
        })
        .map_err(bad)
}
