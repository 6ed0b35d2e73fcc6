//! Digest and signature algorithms understood by the module, and their mapping
//! to OIDs and to `ring`.

use core::fmt;

use der::asn1::ObjectIdentifier;
use ring::digest;

use super::error::CmsError;
use super::oids;

/// A message digest algorithm found in (or used for) a CMS signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-1: still found in old signatures; a verifier should flag it as weak.
    Sha1,
    /// SHA-256 (what this service seals with).
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// Maps a digest OID to the algorithm.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self, CmsError> {
        match *oid {
            oids::ID_SHA1 => Ok(Self::Sha1),
            oids::ID_SHA256 => Ok(Self::Sha256),
            oids::ID_SHA384 => Ok(Self::Sha384),
            oids::ID_SHA512 => Ok(Self::Sha512),
            _ => Err(CmsError::UnsupportedDigestAlgorithm(oid_display(oid))),
        }
    }

    /// The algorithm's OID.
    pub fn oid(&self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::ID_SHA1,
            Self::Sha256 => oids::ID_SHA256,
            Self::Sha384 => oids::ID_SHA384,
            Self::Sha512 => oids::ID_SHA512,
        }
    }

    /// Conventional name ("sha256", ...), as OpenSSL prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of a digest in bytes.
    pub fn output_len(&self) -> usize {
        self.ring_algorithm().output_len()
    }

    /// Starts a streaming digest (e.g. over the chunks of a PDF `/ByteRange`).
    pub fn start(&self) -> Digester {
        Digester { context: digest::Context::new(self.ring_algorithm()) }
    }

    /// Digests the concatenation of `chunks` in one call.
    pub fn digest<'a>(&self, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        let mut d = self.start();
        for chunk in chunks {
            d.update(chunk);
        }
        d.finish()
    }

    fn ring_algorithm(&self) -> &'static digest::Algorithm {
        match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    /// `sha256 (2.16.840.1.101.3.4.2.1)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.oid())
    }
}

/// An incremental digest computation, created by [`DigestAlgorithm::start`].
#[derive(Clone)]
pub struct Digester {
    context: digest::Context,
}

impl Digester {
    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.context.update(data);
    }

    /// Ends the computation and returns the digest.
    pub fn finish(self) -> Vec<u8> {
        self.context.finish().as_ref().to_vec()
    }
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digester").field("algorithm", &self.context.algorithm()).finish()
    }
}

/// The algorithm of a CMS signature value, resolved to what is needed to verify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with the given hash.
    RsaPkcs1v15(DigestAlgorithm),
    /// RSASSA-PSS with the given hash (MGF1 with the same hash, salt as long as the hash).
    RsaPss(DigestAlgorithm),
    /// ECDSA with the given hash, DER-encoded `(r, s)`.
    Ecdsa(DigestAlgorithm),
    /// Pure Ed25519 (RFC 8419).
    Ed25519,
}

impl SignatureAlgorithm {
    /// Conventional name: "ecdsa-with-SHA256", "sha256WithRSAEncryption", "rsassa-pss", "ed25519".
    pub fn name(&self) -> &'static str {
        use DigestAlgorithm::*;
        match self {
            Self::RsaPkcs1v15(Sha1) => "sha1WithRSAEncryption",
            Self::RsaPkcs1v15(Sha256) => "sha256WithRSAEncryption",
            Self::RsaPkcs1v15(Sha384) => "sha384WithRSAEncryption",
            Self::RsaPkcs1v15(Sha512) => "sha512WithRSAEncryption",
            Self::RsaPss(_) => "rsassa-pss",
            Self::Ecdsa(Sha1) => "ecdsa-with-SHA1",
            Self::Ecdsa(Sha256) => "ecdsa-with-SHA256",
            Self::Ecdsa(Sha384) => "ecdsa-with-SHA384",
            Self::Ecdsa(Sha512) => "ecdsa-with-SHA512",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The hash the signature is computed with (SHA-512 for Ed25519, which hashes internally).
    pub fn digest(&self) -> DigestAlgorithm {
        match self {
            Self::RsaPkcs1v15(d) | Self::RsaPss(d) | Self::Ecdsa(d) => *d,
            Self::Ed25519 => DigestAlgorithm::Sha512,
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    /// The conventional name, plus the hash for RSA-PSS.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RsaPss(d) => write!(f, "rsassa-pss ({})", d.name()),
            other => f.write_str(other.name()),
        }
    }
}

/// Shows an OID by name where one is known, else dotted.
pub(crate) fn oid_display(oid: &ObjectIdentifier) -> String {
    match const_oid::db::DB.by_oid(oid) {
        Some(name) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}
