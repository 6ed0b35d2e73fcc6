//! Verdicts in the terms of ETSI EN 319 102-1 (signature validation): one indication and
//! sub-indication per signature, computed from the facts the verifier established, and one
//! verdict for the document.
//!
//! Indications are written as the standard writes them ("TOTAL-PASSED", "TOTAL-FAILED",
//! "INDETERMINATE"), sub-indications likewise ("HASH_FAILURE", "OUT_OF_BOUNDS_NO_POE", ...).

use serde::Serialize;

/// The main status indication of a signature (EN 319 102-1, 5.1.3).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub enum Indication {
    /// Every check passed.
    #[serde(rename = "TOTAL-PASSED")]
    TotalPassed,
    /// The signature is proven invalid (broken bytes, forged value, proven-bad certificate).
    #[serde(rename = "TOTAL-FAILED")]
    TotalFailed,
    /// The facts available do not allow a pass or a fail (no chain to a trust anchor, no
    /// proof of existence while the certificate was valid, ...).
    #[serde(rename = "INDETERMINATE")]
    Indeterminate,
}

impl Indication {
    /// As the standard writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Indication::TotalPassed => "TOTAL-PASSED",
            Indication::TotalFailed => "TOTAL-FAILED",
            Indication::Indeterminate => "INDETERMINATE",
        }
    }
}

/// The sub-indications this verifier can produce (EN 319 102-1, table 5), named as there.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubIndication {
    /// TOTAL-FAILED: the ByteRange or the signature dictionary is malformed, the signature does
    /// not cover a complete revision, or the CMS does not parse.
    FormatFailure,
    /// TOTAL-FAILED: the digest of the signed bytes is not the signed one.
    HashFailure,
    /// TOTAL-FAILED: the signature value does not verify with the signer's public key.
    SigCryptoFailure,
    /// TOTAL-FAILED: the signer's certificate is revoked (reserved: no revocation data is
    /// checked yet).
    Revoked,
    /// TOTAL-FAILED: a trusted timestamp proves the signature existed before the certificate
    /// was valid. (EXPIRED, its counterpart, needs a lower bound of the signing time, such as a
    /// content timestamp, which this verifier does not read: a timestamp after the expiry only
    /// leaves the signing time unproven, OUT_OF_BOUNDS_NO_POE.)
    NotYetValid,
    /// INDETERMINATE: the signer's certificate is not in the signature.
    NoSigningCertificateFound,
    /// INDETERMINATE: the chain reaches no configured trust anchor.
    NoCertificateChainFound,
    /// INDETERMINATE: the chain fails for another reason (constraints, unusable certificate).
    CertificateChainGeneralFailure,
    /// INDETERMINATE: the signer's key usage does not allow signing documents.
    SigConstraintsFailure,
    /// INDETERMINATE: the certificate is outside its validity now, and no trusted timestamp
    /// proves the signature existed while it was valid (the claimed /M proves nothing).
    OutOfBoundsNoPoe,
    /// INDETERMINATE: SHA-1, no longer reliable, and no proof the signature existed before.
    CryptoConstraintsFailureNoPoe,
}

impl SubIndication {
    /// As the standard writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SubIndication::FormatFailure => "FORMAT_FAILURE",
            SubIndication::HashFailure => "HASH_FAILURE",
            SubIndication::SigCryptoFailure => "SIG_CRYPTO_FAILURE",
            SubIndication::Revoked => "REVOKED",
            SubIndication::NotYetValid => "NOT_YET_VALID",
            SubIndication::NoSigningCertificateFound => "NO_SIGNING_CERTIFICATE_FOUND",
            SubIndication::NoCertificateChainFound => "NO_CERTIFICATE_CHAIN_FOUND",
            SubIndication::CertificateChainGeneralFailure => "CERTIFICATE_CHAIN_GENERAL_FAILURE",
            SubIndication::SigConstraintsFailure => "SIG_CONSTRAINTS_FAILURE",
            SubIndication::OutOfBoundsNoPoe => "OUT_OF_BOUNDS_NO_POE",
            SubIndication::CryptoConstraintsFailureNoPoe => "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
        }
    }
}

/// What the chain validation found, at the time it was validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainFinding {
    /// The chain reaches a trust anchor and allows signing at the validation time.
    Trusted,
    /// The signature carries no signer certificate.
    NoSignerCertificate,
    /// No path to a trust anchor.
    NoChain,
    /// The key usage does not allow signing.
    UsageNotAllowed,
    /// Another chain failure.
    GeneralFailure,
    /// A trusted timestamp (a proof of existence) lies before the certificate's validity.
    NotYetValidAtProvenTime,
    /// The certificate is outside its validity at the validation time: now, without a proof
    /// of existence (it may be valid at the claimed signing time, which proves nothing), or a
    /// proof of existence after it expired (the signature may be older, but nothing shows it).
    OutOfBoundsNoProof,
    /// The certificate is revoked (not produced yet: no revocation data is checked).
    Revoked,
}

/// The facts a signature's verdict is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureFacts {
    /// The signature dictionary, its ByteRange (a complete revision, the gap exactly
    /// /Contents) and the CMS are well-formed.
    pub well_formed: bool,
    /// The digest of the signed bytes (or a document timestamp's imprint) matches.
    pub digest_matches: bool,
    /// The signature value verifies with the signer's public key.
    pub signature_verifies: bool,
    /// The digest algorithm is SHA-1.
    pub weak_digest: bool,
    /// The chain validation.
    pub chain: ChainFinding,
}

/// The verdict on one signature: structure first, then the bytes, then the signature value,
/// then proven certificate failures (TOTAL-FAILED); then the chain and the time questions
/// (INDETERMINATE); else TOTAL-PASSED. Changes after signing are not part of it: they are a
/// finding on the document.
pub fn signature_verdict(facts: &SignatureFacts) -> (Indication, Option<SubIndication>) {
    use Indication::*;
    use SubIndication::*;
    let sub = if !facts.well_formed {
        FormatFailure
    } else if !facts.digest_matches {
        HashFailure
    } else if !facts.signature_verifies {
        SigCryptoFailure
    } else {
        match facts.chain {
            ChainFinding::Revoked => Revoked,
            ChainFinding::NotYetValidAtProvenTime => NotYetValid,
            ChainFinding::NoSignerCertificate => NoSigningCertificateFound,
            ChainFinding::NoChain => NoCertificateChainFound,
            ChainFinding::UsageNotAllowed => SigConstraintsFailure,
            ChainFinding::GeneralFailure => CertificateChainGeneralFailure,
            ChainFinding::OutOfBoundsNoProof => OutOfBoundsNoPoe,
            ChainFinding::Trusted if facts.weak_digest => CryptoConstraintsFailureNoPoe,
            ChainFinding::Trusted => return (TotalPassed, None),
        }
    };
    let indication = match sub {
        FormatFailure | HashFailure | SigCryptoFailure | Revoked | NotYetValid => TotalFailed,
        _ => Indeterminate,
    };
    (indication, Some(sub))
}

/// The verdict on a document, with a precedence: `Failed` over `ChangedAfterSigning` over
/// `Indeterminate` over `Passed`. A proven-bad signature is the strongest finding, a proven
/// change after signing the next; "cannot tell" only when nothing is proven wrong.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DocumentVerdict {
    /// There are signatures, every one is TOTAL-PASSED, and nothing changed after any of
    /// them except allowed changes.
    Passed,
    /// No signature at all, or a signature is TOTAL-FAILED.
    Failed,
    /// A later revision changed the document in a way a signature does not permit.
    ChangedAfterSigning,
    /// No signature failed and nothing was changed, but some signature is INDETERMINATE.
    Indeterminate,
}

impl DocumentVerdict {
    /// From each signature's indication and whether a disallowed change follows it.
    pub fn of(signatures: impl IntoIterator<Item = (Indication, bool)>) -> DocumentVerdict {
        let (mut any, mut failed, mut changed, mut indeterminate) = (false, false, false, false);
        for (indication, modified_after_signing) in signatures {
            any = true;
            failed |= indication == Indication::TotalFailed;
            indeterminate |= indication == Indication::Indeterminate;
            changed |= modified_after_signing;
        }
        match () {
            _ if !any || failed => DocumentVerdict::Failed,
            _ if changed => DocumentVerdict::ChangedAfterSigning,
            _ if indeterminate => DocumentVerdict::Indeterminate,
            _ => DocumentVerdict::Passed,
        }
    }

    /// As serialised ("passed", "failed", "changed_after_signing", "indeterminate").
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentVerdict::Passed => "passed",
            DocumentVerdict::Failed => "failed",
            DocumentVerdict::ChangedAfterSigning => "changed_after_signing",
            DocumentVerdict::Indeterminate => "indeterminate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ChainFinding as C;
    use super::Indication::*;
    use super::SubIndication::*;
    use super::*;

    fn facts(
        well_formed: bool,
        digest_matches: bool,
        signature_verifies: bool,
        weak_digest: bool,
        chain: ChainFinding,
    ) -> SignatureFacts {
        SignatureFacts { well_formed, digest_matches, signature_verifies, weak_digest, chain }
    }

    #[test]
    fn each_combination_of_facts_has_its_verdict() {
        let table: &[(SignatureFacts, Indication, Option<SubIndication>)] = &[
            (facts(true, true, true, false, C::Trusted), TotalPassed, None),
            // Structure before bytes before the signature value before the chain.
            (facts(false, false, false, true, C::NoChain), TotalFailed, Some(FormatFailure)),
            (facts(true, false, false, false, C::Trusted), TotalFailed, Some(HashFailure)),
            (facts(true, false, true, false, C::NoChain), TotalFailed, Some(HashFailure)),
            (facts(true, true, false, false, C::Trusted), TotalFailed, Some(SigCryptoFailure)),
            (
                facts(true, true, false, false, C::OutOfBoundsNoProof),
                TotalFailed,
                Some(SigCryptoFailure),
            ),
            (facts(true, true, true, false, C::Revoked), TotalFailed, Some(Revoked)),
            (
                facts(true, true, true, false, C::NotYetValidAtProvenTime),
                TotalFailed,
                Some(NotYetValid),
            ),
            (
                facts(true, true, true, false, C::NoSignerCertificate),
                Indeterminate,
                Some(NoSigningCertificateFound),
            ),
            (
                facts(true, true, true, false, C::NoChain),
                Indeterminate,
                Some(NoCertificateChainFound),
            ),
            (
                facts(true, true, true, true, C::NoChain),
                Indeterminate,
                Some(NoCertificateChainFound),
            ),
            (
                facts(true, true, true, false, C::UsageNotAllowed),
                Indeterminate,
                Some(SigConstraintsFailure),
            ),
            (
                facts(true, true, true, false, C::GeneralFailure),
                Indeterminate,
                Some(CertificateChainGeneralFailure),
            ),
            (
                facts(true, true, true, false, C::OutOfBoundsNoProof),
                Indeterminate,
                Some(OutOfBoundsNoPoe),
            ),
            (
                facts(true, true, true, true, C::Trusted),
                Indeterminate,
                Some(CryptoConstraintsFailureNoPoe),
            ),
        ];
        for (facts, indication, sub) in table {
            assert_eq!(signature_verdict(facts), (*indication, *sub), "{facts:?}");
        }
    }

    #[test]
    fn the_document_verdict_follows_its_precedence() {
        use DocumentVerdict as D;
        let table: &[(&[(Indication, bool)], DocumentVerdict)] = &[
            (&[], D::Failed),
            (&[(TotalPassed, false)], D::Passed),
            (&[(TotalPassed, false), (TotalPassed, false)], D::Passed),
            (&[(TotalPassed, true)], D::ChangedAfterSigning),
            (&[(Indeterminate, false), (TotalPassed, false)], D::Indeterminate),
            (&[(Indeterminate, false), (TotalPassed, true)], D::ChangedAfterSigning),
            (&[(TotalFailed, false), (Indeterminate, true)], D::Failed),
            (&[(TotalPassed, true), (TotalFailed, false)], D::Failed),
        ];
        for (signatures, verdict) in table {
            assert_eq!(DocumentVerdict::of(signatures.iter().copied()), *verdict, "{signatures:?}");
        }
    }

    #[test]
    fn verdicts_serialise_as_the_standard_writes_them() {
        assert_eq!(serde_json::to_value(TotalPassed).unwrap(), "TOTAL-PASSED");
        assert_eq!(serde_json::to_value(TotalFailed).unwrap(), "TOTAL-FAILED");
        assert_eq!(serde_json::to_value(OutOfBoundsNoPoe).unwrap(), "OUT_OF_BOUNDS_NO_POE");
        assert_eq!(
            serde_json::to_value(CryptoConstraintsFailureNoPoe).unwrap(),
            "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
        );
        assert_eq!(
            serde_json::to_value(DocumentVerdict::ChangedAfterSigning).unwrap(),
            "changed_after_signing"
        );
        for sub in [
            FormatFailure,
            HashFailure,
            SigCryptoFailure,
            Revoked,
            NotYetValid,
            NoSigningCertificateFound,
            NoCertificateChainFound,
            CertificateChainGeneralFailure,
            SigConstraintsFailure,
            OutOfBoundsNoPoe,
            CryptoConstraintsFailureNoPoe,
        ] {
            assert_eq!(serde_json::to_value(sub).unwrap(), sub.as_str());
        }
        for indication in [TotalPassed, TotalFailed, Indeterminate] {
            assert_eq!(serde_json::to_value(indication).unwrap(), indication.as_str());
        }
    }
}
