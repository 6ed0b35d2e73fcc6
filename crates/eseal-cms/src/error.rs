//! The one error type of the CMS module.

use thiserror::Error;

/// Everything that can go wrong while building or reading a CMS signature.
///
/// Messages are written for an operator or a verification report: they say
/// what was wrong with which input, never how the code failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The private key could not be loaded (not PKCS#8, wrong curve, bad RSA size, ...).
    #[error("seal private key rejected: {0}")]
    InvalidPrivateKey(String),

    /// The private key is of a kind this service cannot seal with.
    #[error("unsupported seal key type: {0} (only ECDSA P-256 and RSA keys are supported)")]
    UnsupportedKeyType(String),

    /// The signer (software key or HSM) failed to produce a signature.
    #[error("signing failed: {0}")]
    SigningFailed(String),

    /// The signature made by the seal key does not verify with the seal
    /// certificate's public key: the key and certificate do not belong together.
    #[error(
        "the seal key does not match the seal certificate (self-check of the signature failed)"
    )]
    KeyCertificateMismatch,

    /// A certificate chain with no certificate in it.
    #[error("the certificate chain is empty")]
    EmptyChain,

    /// A certificate of the chain is not a valid X.509 certificate.
    #[error("certificate #{index} of the chain is not a valid X.509 certificate: {reason}")]
    InvalidCertificate {
        /// Position in the chain, 0 being the seal certificate.
        index: usize,
        /// What the decoder said.
        reason: String,
    },

    /// The PEM bundle could not be read.
    #[error("invalid PEM certificate bundle: {0}")]
    InvalidPem(String),

    /// The chain is not ordered seal certificate → issuer → issuer's issuer.
    #[error(
        "certificate chain out of order: certificate #{index} was not issued by certificate #{next}"
    )]
    ChainOrder {
        /// The certificate whose issuer does not match.
        index: usize,
        /// The certificate expected to be its issuer.
        next: usize,
    },

    /// The seal certificate's public key is of a kind this service cannot seal with.
    #[error("unsupported seal certificate public key: {0} (only EC P-256 and RSA are supported)")]
    UnsupportedCertificateKey(String),

    /// A CMS structure could not be encoded (should not happen with valid certificates).
    #[error("could not encode the CMS signature: {0}")]
    Encoding(String),

    /// The signature container is not well-formed DER CMS SignedData.
    #[error("malformed CMS signature: {0}")]
    Malformed(String),

    /// The container is a CMS ContentInfo, but not SignedData.
    #[error("CMS content is not SignedData but {0}")]
    NotSignedData(String),

    /// PAdES signatures carry exactly one SignerInfo.
    #[error("expected exactly one signer in the CMS signature, found {0}")]
    SignerCount(usize),

    /// The digest algorithm is unknown or not supported.
    #[error("unsupported digest algorithm {0}")]
    UnsupportedDigestAlgorithm(String),

    /// The signature algorithm is unknown or not supported (or does not fit the key).
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(String),

    /// The certificate that made the signature is not in the container.
    #[error("the signer's certificate is not included in the CMS signature")]
    SignerCertificateNotFound,

    /// The SignerInfo has no signed attributes (a bare PKCS#7 signature over the document).
    #[error("the signature has no signed attributes")]
    MissingSignedAttributes,

    /// The mandatory message-digest signed attribute is missing or malformed.
    #[error("the message-digest signed attribute is missing or malformed")]
    MissingMessageDigest,

    /// The content-type signed attribute contradicts the encapsulated content type.
    #[error(
        "the content-type signed attribute ({attribute}) does not match the content type ({content})"
    )]
    ContentTypeMismatch {
        /// Value of the content-type attribute.
        attribute: String,
        /// eContentType of the SignedData.
        content: String,
    },

    /// The message digest does not match the encapsulated content (timestamp tokens).
    #[error("the message-digest attribute does not match the encapsulated content")]
    ContentDigestMismatch,

    /// The cryptographic signature is wrong.
    #[error("the signature value does not verify with the signer's public key")]
    SignatureInvalid,

    /// A RFC 3161 TSTInfo could not be decoded.
    #[error("malformed timestamp token: {0}")]
    InvalidTimestamp(String),
}

impl CmsError {
    /// Wraps a DER decoding error met while reading a signature.
    pub(crate) fn malformed(e: impl core::fmt::Display) -> Self {
        CmsError::Malformed(e.to_string())
    }

    /// Wraps a DER encoding error met while building a signature.
    pub(crate) fn encoding(e: impl core::fmt::Display) -> Self {
        CmsError::Encoding(e.to_string())
    }
}
