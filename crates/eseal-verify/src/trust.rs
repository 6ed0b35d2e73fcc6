//! Certificate path validation for signing certificates, at a given validation time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

/// id-kp-documentSigning (RFC 9336), DER value bytes of 1.3.6.1.5.5.7.3.36.
const DOCUMENT_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];
/// id-kp-emailProtection (1.3.6.1.5.5.7.3.4), which many signing certificates carry instead.
const EMAIL_PROTECTION: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04];
/// anyExtendedKeyUsage (2.5.29.37.0).
const ANY_EKU: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
/// id-kp-timeStamping (1.3.6.1.5.5.7.3.8), required of a timestamping authority.
const TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// What the end-entity certificate is checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Signing documents (document signing, e-mail protection or any EKU, when an EKU is present).
    DocumentSigning,
    /// Issuing RFC 3161 timestamps (timeStamping EKU required).
    Timestamping,
}

/// Validations remembered at most; the memo starts over when full.
const MEMO_ENTRIES: usize = 4096;

/// Validation results by the hash of what they depend on (see [`memo_key`]).
type Memo = Arc<Mutex<HashMap<[u8; 32], Result<(), TrustFailure>>>>;

/// What reports show of a certificate, by the SHA-256 of its DER.
type FactsMemo = Arc<Mutex<HashMap<[u8; 32], super::CertificateFacts>>>;

/// The certificates a verifier trusts as roots.
///
/// Clones share a memo of validations: an archive holds thousands of documents sealed under
/// one chain, and validating it again (a P-384 root signature costs more than the rest of a
/// document's verification) would give the same answer for the same certificates, time and
/// purpose. They share the facts reports show of each certificate likewise.
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    roots: Vec<Vec<u8>>,
    memo: Memo,
    facts: FactsMemo,
}

impl TrustAnchors {
    /// No trusted roots: every chain is reported untrusted.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts the given DER certificates.
    pub fn from_der(roots: Vec<Vec<u8>>) -> Self {
        Self { roots, memo: Arc::default(), facts: Arc::default() }
    }

    /// Trusts every certificate of a PEM bundle.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let mut roots = Vec::new();
        for item in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
            let item = item.map_err(|e| format!("bad PEM: {e}"))?;
            if item.label == "CERTIFICATE" {
                roots.push(item.contents);
            }
        }
        if roots.is_empty() {
            return Err("no CERTIFICATE in the PEM text".into());
        }
        Ok(Self::from_der(roots))
    }

    /// Whether there are no roots.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The facts of DER certificate `der` ([`super::certificate_facts`]), read once per
    /// certificate.
    pub fn certificate_facts(&self, der: &[u8]) -> Option<super::CertificateFacts> {
        let mut key = [0u8; 32];
        key.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
        if let Some(known) = self.facts.lock().ok().and_then(|facts| facts.get(&key).cloned()) {
            return Some(known);
        }
        let facts = super::certificate_facts(der)?;
        if let Ok(mut memo) = self.facts.lock() {
            if memo.len() >= MEMO_ENTRIES {
                memo.clear();
            }
            memo.insert(key, facts.clone());
        }
        Some(facts)
    }

    /// Validates `end_entity` up to a trusted root through `intermediates` at `time` (Unix
    /// seconds), and checks that the end entity may sign (digitalSignature or
    /// nonRepudiation). Returns a reason when it is not trusted.
    pub fn check(
        &self,
        end_entity: &[u8],
        intermediates: &[Vec<u8>],
        time: i64,
        purpose: Purpose,
    ) -> Result<(), String> {
        self.validate(end_entity, intermediates, time, purpose).map_err(|f| f.reason)
    }

    /// Like [`TrustAnchors::check`], with the class of the failure: what a verdict needs to
    /// tell "no chain" from "expired" from "not allowed to sign".
    pub fn validate(
        &self,
        end_entity: &[u8],
        intermediates: &[Vec<u8>],
        time: i64,
        purpose: Purpose,
    ) -> Result<(), TrustFailure> {
        let key = memo_key(end_entity, intermediates, time, purpose);
        if let Some(known) = self.memo.lock().ok().and_then(|memo| memo.get(&key).cloned()) {
            return known;
        }
        let result = self.validate_afresh(end_entity, intermediates, time, purpose);
        if let Ok(mut memo) = self.memo.lock() {
            if memo.len() >= MEMO_ENTRIES {
                memo.clear();
            }
            memo.insert(key, result.clone());
        }
        result
    }

    fn validate_afresh(
        &self,
        end_entity: &[u8],
        intermediates: &[Vec<u8>],
        time: i64,
        purpose: Purpose,
    ) -> Result<(), TrustFailure> {
        // No certificate at hand names the signer's issuer (a self-made certificate, whatever
        // its extensions say): no chain, before any other property of the certificate.
        if !self.issuer_in_reach(end_entity, intermediates) {
            return Err(TrustFailure { kind: TrustFailureKind::NoChain, reason: "the chain does not lead to a trusted root (no trusted or supplied certificate is its issuer)".into() });
        }
        key_usage_permits_signing(end_entity).map_err(|reason| {
            let kind = if reason.contains("does not parse") {
                TrustFailureKind::Other
            } else {
                TrustFailureKind::Usage
            };
            TrustFailure { kind, reason }
        })?;
        if self.roots.is_empty() {
            return Err(TrustFailure {
                kind: TrustFailureKind::NoChain,
                reason: "no trust anchors are configured".into(),
            });
        }
        let root_ders: Vec<CertificateDer<'_>> =
            self.roots.iter().map(|der| CertificateDer::from(der.as_slice())).collect();
        let anchors: Vec<TrustAnchor<'_>> =
            root_ders.iter().filter_map(|der| webpki::anchor_from_trusted_cert(der).ok()).collect();
        let ee_der = CertificateDer::from(end_entity);
        let ee = webpki::EndEntityCert::try_from(&ee_der).map_err(|e| TrustFailure {
            kind: TrustFailureKind::Other,
            reason: format!("the signer certificate is unusable: {e}"),
        })?;
        let intermediates: Vec<CertificateDer<'_>> =
            intermediates.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
        let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(time).unwrap_or(0)));
        let mut last = String::new();
        let usages = match purpose {
            Purpose::DocumentSigning => [DOCUMENT_SIGNING, EMAIL_PROTECTION, ANY_EKU]
                .map(webpki::KeyUsage::required_if_present)
                .to_vec(),
            // webpki applies the usage to every certificate of the path, and a CA certificate
            // rarely lists timeStamping: the end entity's is required separately, below.
            Purpose::Timestamping => vec![webpki::KeyUsage::required_if_present(TIME_STAMPING)],
        };
        if purpose == Purpose::Timestamping && !has_time_stamping_usage(end_entity) {
            return Err(TrustFailure {
                kind: TrustFailureKind::Usage,
                reason: "the timestamping certificate lacks the timeStamping extended key usage"
                    .into(),
            });
        }
        for usage in usages {
            match ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &intermediates,
                at,
                usage,
                None,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(webpki::Error::RequiredEkuNotFoundContext(_)) => {
                    last = match purpose {
                        Purpose::DocumentSigning => {
                            "the signer certificate's extended key usage allows no document signing"
                        }
                        Purpose::Timestamping => {
                            "the timestamping certificate lacks the timeStamping extended key usage"
                        }
                    }
                    .into();
                }
                Err(e) => return Err(describe(e)),
            }
        }
        Err(TrustFailure { kind: TrustFailureKind::Usage, reason: last })
    }
}

/// What a validation depends on besides the roots: every certificate (length-prefixed, in
/// order), the time and the purpose, hashed.
fn memo_key(end_entity: &[u8], intermediates: &[Vec<u8>], time: i64, purpose: Purpose) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&[purpose as u8]);
    context.update(&time.to_be_bytes());
    for der in std::iter::once(end_entity).chain(intermediates.iter().map(Vec::as_slice)) {
        context.update(&(der.len() as u64).to_be_bytes());
        context.update(der);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

impl TrustAnchors {
    /// Whether a root or another supplied certificate bears the end entity's issuer name (as
    /// path building compares names: byte for byte), or the end entity is itself a root. An
    /// unparsable end entity is left to the path validation to describe.
    fn issuer_in_reach(&self, end_entity: &[u8], intermediates: &[Vec<u8>]) -> bool {
        let Ok((_, ee)) = X509Certificate::from_der(end_entity) else { return true };
        let issuer = ee.issuer().as_raw();
        let subject_is_issuer = |der: &Vec<u8>| {
            X509Certificate::from_der(der).is_ok_and(|(_, c)| c.subject().as_raw() == issuer)
        };
        self.roots.iter().any(|r| r.as_slice() == end_entity || subject_is_issuer(r))
            || intermediates.iter().filter(|c| c.as_slice() != end_entity).any(subject_is_issuer)
    }
}

/// Why a chain is not trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustFailure {
    /// The class of the failure.
    pub kind: TrustFailureKind,
    /// The reason, in plain words.
    pub reason: String,
}

/// The classes of chain failures a verdict tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustFailureKind {
    /// No path to a configured trust anchor (unknown issuer, an issuer's signature that does
    /// not verify, no anchors at all).
    NoChain,
    /// A certificate of the chain had expired at the validation time.
    Expired,
    /// A certificate of the chain was not yet valid at the validation time.
    NotYetValid,
    /// The signer's (extended) key usage does not allow this use.
    Usage,
    /// Anything else (unparsable certificate, constraints, unsupported algorithm).
    Other,
}

fn describe(e: webpki::Error) -> TrustFailure {
    let (kind, reason) = match e {
        webpki::Error::UnknownIssuer => {
            (TrustFailureKind::NoChain, "the chain does not lead to a trusted root".into())
        }
        webpki::Error::InvalidSignatureForPublicKey => (
            TrustFailureKind::NoChain,
            "the chain does not lead to a trusted root (an issuer's signature does not verify)"
                .into(),
        ),
        webpki::Error::CertExpired { .. } => (
            TrustFailureKind::Expired,
            "a certificate of the chain had expired at the validation time".into(),
        ),
        webpki::Error::CertNotValidYet { .. } => (
            TrustFailureKind::NotYetValid,
            "a certificate of the chain was not yet valid at the validation time".into(),
        ),
        other => (TrustFailureKind::Other, format!("the chain does not validate: {other}")),
    };
    TrustFailure { kind, reason }
}

/// Whether the certificate's extended key usage lists timeStamping.
fn has_time_stamping_usage(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(
        |(_, cert)| matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.time_stamping),
    )
}

/// Checks the end entity's KeyUsage extension (webpki does not): digitalSignature or
/// nonRepudiation must be set when the extension is present.
pub fn key_usage_permits_signing(end_entity: &[u8]) -> Result<(), String> {
    let (_, cert) = X509Certificate::from_der(end_entity)
        .map_err(|e| format!("the signer certificate does not parse: {e}"))?;
    match cert.key_usage() {
        Ok(Some(ku)) if !(ku.value.digital_signature() || ku.value.non_repudiation()) => Err(
            "the signer certificate's key usage allows neither digitalSignature nor nonRepudiation"
                .into(),
        ),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("the signer certificate's key usage does not parse: {e}")),
    }
}
