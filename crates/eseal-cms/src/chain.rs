//! The seal's certificate chain and what the signature needs to know about it.

use core::fmt;

use der::Decode;
use der::asn1::{ObjectIdentifier, UintRef};
use ring::digest;
use x509_cert::Certificate;

use super::algorithms::{DigestAlgorithm, SignatureAlgorithm, oid_display};
use super::error::CmsError;
use super::oids;

/// Smallest and largest RSA modulus the seal can sign with (`ring`'s signing limits).
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 4096;

/// The kind of key the seal certificate certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealKeyType {
    /// ECDSA on P-256: signs with ecdsa-with-SHA256.
    EcdsaP256,
    /// RSA with a modulus of `bits` bits: signs with sha256WithRSAEncryption.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
}

impl SealKeyType {
    /// The CMS signature algorithm used with this key.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        match self {
            SealKeyType::EcdsaP256 => SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
            SealKeyType::Rsa { .. } => SignatureAlgorithm::RsaPkcs1v15(DigestAlgorithm::Sha256),
        }
    }

    /// Largest signature value this key can produce, in bytes.
    pub fn max_signature_len(&self) -> usize {
        match self {
            // SEQUENCE { INTEGER r, INTEGER s }: each integer is at most 32 bytes
            // plus a sign byte plus 2 header bytes; 2 more for the SEQUENCE header.
            SealKeyType::EcdsaP256 => 2 + 2 * (2 + 33),
            SealKeyType::Rsa { bits } => bits.div_ceil(8),
        }
    }
}

impl fmt::Display for SealKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealKeyType::EcdsaP256 => f.write_str("ECDSA P-256"),
            SealKeyType::Rsa { bits } => write!(f, "RSA {bits}"),
        }
    }
}

/// The seal certificate first, then the certificates that issued it, in order.
///
/// Construction checks that every certificate decodes, that each one was
/// issued (by name) by the next, and that the seal certificate's key is one
/// this service can sign with.
#[derive(Clone)]
pub struct CertificateChain {
    // Invariant (established by `from_der`): `der` and `parsed` are non-empty
    // and index-aligned, so `[0]` is always the seal certificate.
    der: Vec<Vec<u8>>,
    parsed: Vec<Certificate>,
    key_type: SealKeyType,
    fingerprint: [u8; 32],
    /// [`signature_size_estimate`](super::signature_size_estimate), computed on first use:
    /// it depends on the chain only, and assembling a dummy signature for every seal showed
    /// in profiles.
    pub(super) signature_size: std::sync::OnceLock<usize>,
}

impl CertificateChain {
    /// Builds a chain from DER certificates, seal certificate first.
    pub fn from_der(certificates: Vec<Vec<u8>>) -> Result<CertificateChain, CmsError> {
        if certificates.is_empty() {
            return Err(CmsError::EmptyChain);
        }
        let parsed = certificates
            .iter()
            .enumerate()
            .map(|(index, der)| {
                Certificate::from_der(der)
                    .map_err(|e| CmsError::InvalidCertificate { index, reason: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (index, pair) in parsed.windows(2).enumerate() {
            if pair[0].tbs_certificate.issuer != pair[1].tbs_certificate.subject {
                return Err(CmsError::ChainOrder { index, next: index + 1 });
            }
        }
        let key_type = seal_key_type(&parsed[0])?;
        let fingerprint = sha256(&certificates[0]);
        Ok(CertificateChain {
            der: certificates,
            parsed,
            key_type,
            fingerprint,
            signature_size: std::sync::OnceLock::new(),
        })
    }

    /// Builds a chain from a PEM bundle (`-----BEGIN CERTIFICATE-----` blocks,
    /// seal certificate first). Blocks with other labels are ignored.
    pub fn from_pem(pem: &str) -> Result<CertificateChain, CmsError> {
        let mut certificates = Vec::new();
        for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
            let block = block.map_err(|e| CmsError::InvalidPem(e.to_string()))?;
            if block.label == "CERTIFICATE" {
                certificates.push(block.contents);
            }
        }
        if certificates.is_empty() {
            return Err(CmsError::InvalidPem("no CERTIFICATE block in the bundle".to_owned()));
        }
        Self::from_der(certificates)
    }

    /// All certificates, DER, seal certificate first.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.der
    }

    /// The seal (end-entity) certificate, DER.
    pub fn end_entity_der(&self) -> &[u8] {
        &self.der[0]
    }

    /// The key type of the seal certificate.
    pub fn key_type(&self) -> SealKeyType {
        self.key_type
    }

    /// The CMS signature algorithm the seal signs with.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.key_type.signature_algorithm()
    }

    /// SHA-256 of the seal certificate's DER.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// SHA-256 of the seal certificate, lowercase hex without separators.
    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint)
    }

    /// Subject of the seal certificate (RFC 4514 string, e.g. `CN=Seal,O=Example`).
    pub fn subject(&self) -> String {
        self.end_entity().tbs_certificate.subject.to_string()
    }

    /// Issuer of the seal certificate (RFC 4514 string).
    pub fn issuer(&self) -> String {
        self.end_entity().tbs_certificate.issuer.to_string()
    }

    /// Serial number of the seal certificate, lowercase hex without the DER sign byte.
    pub fn serial_hex(&self) -> String {
        serial_hex(self.end_entity().tbs_certificate.serial_number.as_bytes())
    }

    /// The decoded seal certificate.
    pub(crate) fn end_entity(&self) -> &Certificate {
        &self.parsed[0]
    }

    /// All decoded certificates, seal certificate first.
    pub(crate) fn parsed(&self) -> &[Certificate] {
        &self.parsed
    }
}

impl fmt::Debug for CertificateChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateChain")
            .field("subject", &self.subject())
            .field("serial", &self.serial_hex())
            .field("key_type", &self.key_type)
            .field("len", &self.der.len())
            .finish()
    }
}

/// What the seal certificate's SubjectPublicKeyInfo allows us to sign with.
fn seal_key_type(cert: &Certificate) -> Result<SealKeyType, CmsError> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    match spki.algorithm.oid {
        oids::ID_EC_PUBLIC_KEY => {
            let curve: Option<ObjectIdentifier> =
                spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as().ok());
            match curve {
                Some(oids::SECP256R1) => Ok(SealKeyType::EcdsaP256),
                Some(other) => Err(CmsError::UnsupportedCertificateKey(format!(
                    "EC key on curve {}",
                    oid_display(&other)
                ))),
                None => Err(CmsError::UnsupportedCertificateKey(
                    "EC key without a named curve".to_owned(),
                )),
            }
        }
        oids::RSA_ENCRYPTION => {
            let bits = rsa_modulus_bits(spki.subject_public_key.raw_bytes())?;
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(CmsError::UnsupportedCertificateKey(format!(
                    "RSA key of {bits} bits (must be {RSA_MIN_BITS} to {RSA_MAX_BITS})"
                )));
            }
            Ok(SealKeyType::Rsa { bits })
        }
        other => Err(CmsError::UnsupportedCertificateKey(oid_display(&other))),
    }
}

/// Bit length of the modulus of a DER `RSAPublicKey ::= SEQUENCE { modulus, publicExponent }`.
fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Result<usize, CmsError> {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: UintRef<'a>,
        #[allow(dead_code)]
        public_exponent: UintRef<'a>,
    }
    let key = RsaPublicKey::from_der(rsa_public_key).map_err(|e| {
        CmsError::UnsupportedCertificateKey(format!("RSA public key does not decode: {e}"))
    })?;
    // UintRef strips leading zero bytes, so the first byte is significant.
    let bytes = key.modulus.as_bytes();
    Ok(match bytes.first() {
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    })
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

use eseal_encoding::hex;

/// Hex of a DER INTEGER's content bytes, without the 0x00 sign byte a
/// positive serial with its high bit set carries (as OpenSSL prints serials).
pub(crate) fn serial_hex(content: &[u8]) -> String {
    match content {
        [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => hex(rest),
        _ => hex(content),
    }
}
