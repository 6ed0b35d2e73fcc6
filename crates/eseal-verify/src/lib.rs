//! The archivist's signature report: for every signature of a PDF, whether it is intact,
//! cryptographically valid, trusted at its signing time, and what the file changed after it.
//!
//! It reads the document through [`eseal_pdf`] and the signatures through [`eseal_cms`];
//! it knows nothing of the service.
//!
//! ```no_run
//! use eseal_verify::{TrustAnchors, verify_document};
//!
//! let anchors = TrustAnchors::from_pem(&std::fs::read_to_string("root-ca.pem")?)?;
//! let bytes = std::fs::read("sealed.pdf")?;
//! let report = verify_document(&&bytes[..], &anchors)?;
//! println!("{:?}: {} signature(s)", report.verdict, report.signatures.len());
//! for problem in &report.problems {
//!     println!("problem: {problem}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod diff;
mod trust;
mod verdict;

use std::collections::HashMap;

use serde::Serialize;
use thiserror::Error;

use eseal_cms::SignedDataInfo;
use eseal_pdf::XrefEntry;
use eseal_pdf::{Document, Limits, Object, ObjectId, PdfError, Prefix, Source};
use eseal_pdf::{decode_text_string, parse_pdf_date};

pub use diff::{Change, VisualArea};
pub use trust::{Purpose, TrustAnchors, TrustFailure, TrustFailureKind, key_usage_permits_signing};
pub use verdict::{
    ChainFinding, DocumentVerdict, Indication, SignatureFacts, SubIndication, signature_verdict,
};

/// Why a document could not be verified at all (individual signature problems are reported,
/// not raised).
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The PDF cannot be read.
    #[error(transparent)]
    Pdf(#[from] PdfError),
}

/// How much of the file a signature covers.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Every byte of the file but its own /Contents.
    EntireFile,
    /// A complete earlier revision; later revisions follow.
    EntireRevision,
    /// Something else: the byte range is not a revision of this file.
    Partial,
}

/// What kind of signature.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    /// An approval or certification signature (/Type /Sig).
    Signature,
    /// An RFC 3161 document timestamp (/Type /DocTimeStamp).
    DocumentTimestamp,
}

impl SignatureKind {
    /// What the signer's certificate must be fit for.
    fn purpose(self) -> Purpose {
        match self {
            SignatureKind::Signature => Purpose::DocumentSigning,
            SignatureKind::DocumentTimestamp => Purpose::Timestamping,
        }
    }
}

/// Facts about a certificate.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number in hex.
    pub serial: String,
    /// SHA-256 of the DER certificate, hex.
    pub sha256_fingerprint: String,
    /// Start of validity (Unix seconds).
    pub not_before: i64,
    /// End of validity (Unix seconds).
    pub not_after: i64,
}

/// The report for one signature.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureReport {
    /// Fully qualified field name.
    pub field_name: String,
    /// Signature or document timestamp.
    pub kind: SignatureKind,
    /// /SubFilter.
    pub sub_filter: String,
    /// The signer's certificate, when found.
    pub signer: Option<CertificateFacts>,
    /// /M as written (PDF date), if any.
    pub signing_time_text: Option<String>,
    /// /M in Unix seconds, or for a document timestamp its genTime.
    pub signing_time: Option<i64>,
    /// genTime of a signature timestamp, if the signature carries one.
    pub timestamp_time: Option<i64>,
    /// Digest algorithm of the CMS.
    pub digest_algorithm: Option<String>,
    /// Signature algorithm of the CMS.
    pub signature_algorithm: Option<String>,
    /// The /ByteRange.
    pub byte_range: Vec<u64>,
    /// The ByteRange starts at 0, its gap is exactly the /Contents string, and the digest
    /// over it matches the signed one.
    pub intact: bool,
    /// The CMS signature verifies (and the signature is intact).
    pub valid: bool,
    /// The signer's chain leads to a configured trust anchor at the validation time
    /// (`trust_time`) and its key usage allows signing.
    pub trusted: bool,
    /// Why it is not trusted, when it is not.
    pub trust_problem: Option<String>,
    /// The time (Unix seconds) at which the chain was validated.
    pub trust_time: Option<i64>,
    /// Where that time comes from: "signature timestamp" or "document timestamp" (a trusted TSA
    /// proves the signature existed then), or "verification time" (no such proof: the signer's
    /// claimed /M is not one).
    pub trust_time_source: Option<String>,
    /// The ETSI EN 319 102-1 indication: TOTAL-PASSED, TOTAL-FAILED or INDETERMINATE.
    /// Changes after signing are not part of it (see `modified_after_signing`).
    pub indication: Indication,
    /// The sub-indication when not TOTAL-PASSED (HASH_FAILURE, NO_CERTIFICATE_CHAIN_FOUND, ...).
    pub sub_indication: Option<SubIndication>,
    /// Whole file, whole revision, or partial.
    pub coverage: Coverage,
    /// The revision the signature covers ends at this offset.
    pub signed_revision_end: u64,
    /// Objects later revisions changed.
    pub later_changes: Vec<Change>,
    /// Whether any later change is not permitted (a modification after signing).
    pub modified_after_signing: bool,
    /// /Reason as text.
    pub reason: Option<String>,
    /// /Location.
    pub location: Option<String>,
    /// DocMDP permission (1, 2 or 3) when this is a certification signature.
    pub certification: Option<i64>,
    /// SHA-256 of the DER signature (the /Contents without padding), hex: what a signing
    /// service can look up in its records.
    pub signature_sha256: Option<String>,
    /// Problems found, in plain words.
    pub problems: Vec<String>,
}

/// The report for a document.
#[derive(Clone, Debug, Serialize)]
pub struct VerificationReport {
    /// Size of the file.
    pub file_size: u64,
    /// The verdict on the document: passed only when there are signatures, every one is
    /// TOTAL-PASSED and none is followed by a disallowed change.
    pub verdict: DocumentVerdict,
    /// Every signature and document timestamp, in field order.
    pub signatures: Vec<SignatureReport>,
    /// Problems of the document as a whole, in plain words (any one makes it not valid).
    pub problems: Vec<String>,
}

impl VerificationReport {
    /// Whether the document verdict is "passed".
    pub fn all_valid(&self) -> bool {
        self.verdict == DocumentVerdict::Passed
    }
}

/// Verifies every signature of the document in `source` against `anchors`.
pub fn verify_document<S: Source>(
    source: &S,
    anchors: &TrustAnchors,
) -> Result<VerificationReport, VerifyError> {
    verify_document_with(source, anchors, &Limits::default())
}

/// Verifies like [`verify_document`], within `limits`: reading stops with an error naming the
/// limit it reached, or [`PdfError::Cancelled`] once `limits.cancel` is set.
///
/// Several fields whose /V is one signature dictionary are one signature: it is verified once,
/// under the first field's name, and the other fields are a problem of that signature and of
/// the document, which is then not valid (a signature shown as several fields is what a forged
/// field or widget would use). Each signed revision is opened once, however many signatures
/// cover it.
pub fn verify_document_with<S: Source>(
    source: &S,
    anchors: &TrustAnchors,
    limits: &Limits,
) -> Result<VerificationReport, VerifyError> {
    let doc = Document::open_with(source, limits.clone())?;
    let fields = eseal_pdf::signature_fields(&doc)?;
    stopped(&doc)?;
    let file_size = source.len();
    let mut first_field: HashMap<ObjectId, usize> = HashMap::new();
    let mut distinct: Vec<(&eseal_pdf::SignatureField, Vec<&str>)> = Vec::new();
    for field in &fields {
        match field.signature.and_then(|id| first_field.get(&id).copied()) {
            Some(first) => distinct[first].1.push(&field.name),
            None => {
                if let Some(id) = field.signature {
                    first_field.insert(id, distinct.len());
                }
                distinct.push((field, Vec::new()));
            }
        }
    }
    if distinct.len() > limits.signatures {
        return Err(PdfError::Limit(format!(
            "the document has more than {} signatures (the signature limit)",
            limits.signatures
        ))
        .into());
    }
    let verified_fields: Vec<&eseal_pdf::SignatureField> =
        distinct.iter().map(|(field, _)| *field).collect();
    let mut revisions: HashMap<u64, Option<Document<Prefix<'_, &S>>>> = HashMap::new();
    let mut signatures = Vec::new();
    let mut problems = Vec::new();
    for (field, others) in distinct {
        limits.check_cancelled()?;
        let signed = match signed_revision_end(field, file_size) {
            Some(end) if end < file_size && ends_revision(source, end) => {
                let revision = match revisions.entry(end) {
                    std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(match doc.revision(end) {
                            Ok(revision) => revision,
                            Err(e @ (PdfError::Cancelled | PdfError::Limit(_))) => {
                                return Err(e.into());
                            }
                            Err(_) => None,
                        })
                    }
                };
                revision.as_ref()
            }
            _ => None,
        };
        let mut report = verify_one(&doc, field, signed, anchors, limits);
        stopped(&doc)?;
        if let Some(signed) = signed {
            stopped(signed)?;
        }
        if !others.is_empty() {
            let problem = format!(
                "the fields {} carry the same signature dictionary as field {:?}: one signature shown as several fields",
                others.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "),
                field.name
            );
            report.problems.push(problem.clone());
            problems.push(problem);
        }
        signatures.push(report);
    }
    stopped(&doc)?;
    proofs_from_document_timestamps(&verified_fields, &mut signatures, anchors);
    // A problem of the document as a whole (one signature shown as several fields) fails it.
    let verdict = match problems.is_empty() {
        true => {
            DocumentVerdict::of(signatures.iter().map(|s| (s.indication, s.modified_after_signing)))
        }
        false => DocumentVerdict::Failed,
    };
    Ok(VerificationReport { file_size, verdict, signatures, problems })
}

/// Fails when reading `doc` reached a limit or was cancelled: reads that failed so may have
/// been skipped on the way as damage, and the report would then be wrong.
fn stopped<T: Source>(doc: &Document<T>) -> Result<(), PdfError> {
    doc.limits().check_cancelled()?;
    doc.exceeded().map_or(Ok(()), Err)
}

/// Where the revision a signature's /ByteRange covers ends, when the range makes sense.
fn signed_revision_end(field: &eseal_pdf::SignatureField, file_size: u64) -> Option<u64> {
    let range = byte_range(field);
    range.get(2).zip(range.get(3)).and_then(|(b, c)| b.checked_add(*c)).filter(|e| *e <= file_size)
}

fn byte_range(field: &eseal_pdf::SignatureField) -> Vec<u64> {
    field
        .dict
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .unwrap_or_default()
        .iter()
        .map(|v| v.as_i64().and_then(|i| u64::try_from(i).ok()).unwrap_or(u64::MAX))
        .collect()
}

fn text_of(dict: &eseal_pdf::Dictionary, key: &[u8]) -> Option<String> {
    match dict.get(key) {
        Some(Object::String(s, _)) => Some(decode_text_string(s)),
        _ => None,
    }
}

/// `signed_doc` is the signed revision (the file as the signature covered it), when the
/// signature covers a complete earlier revision: everything the report says about the
/// signature comes from there, never from later revisions.
fn verify_one<S: Source>(
    doc: &Document<&S>,
    field: &eseal_pdf::SignatureField,
    signed_doc: Option<&Document<Prefix<'_, &S>>>,
    anchors: &TrustAnchors,
    limits: &Limits,
) -> SignatureReport {
    let source = *doc.source();
    let file_size = source.len();
    let range = byte_range(field);
    let covered_end = signed_revision_end(field, file_size);
    let (certification, signed_dict) =
        signed_dictionary(doc, field, signed_doc, &range, covered_end, file_size);
    let mut report =
        new_report(field, signed_dict.as_ref().ok(), &range, covered_end, certification);
    if let Err(problem) = &signed_dict {
        report.problems.push(problem.clone());
    }
    let Some(contents) = (match field.dict.get(b"Contents") {
        Some(Object::String(s, _)) => Some(s.clone()),
        _ => None,
    }) else {
        report.problems.push("the signature dictionary has no /Contents string".into());
        return report;
    };
    let range_ok = signed_dict.is_ok() && range_is_the_contents_gap(source, &range, &contents);
    if !range_ok {
        report.problems.push(
            "the /ByteRange does not start at 0 or its gap is not exactly the /Contents string"
                .into(),
        );
    }

    let cms = match SignedDataInfo::parse(&contents) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(format!("the signature (CMS) does not parse: {e}"));
            return report;
        }
    };
    report.signature_sha256 = contents
        .get(..cms.der_len())
        .map(|der| hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()));
    report.digest_algorithm = Some(cms.digest_algorithm().name().to_string());
    report.signature_algorithm = Some(cms.signature_algorithm_name().to_string());
    if let Some(cert) = cms.signer_certificate() {
        report.signer = anchors.certificate_facts(cert);
    }

    let tst_missing = range_ok && check_intact(&mut report, source, &range, &cms, limits);
    let weak = cms.digest_algorithm() == eseal_cms::DigestAlgorithm::Sha1;
    let signature_verifies = check_signature_value(&mut report, &cms, weak);
    let now = now();
    check_signature_timestamp(&mut report, &cms, anchors, now);
    let chain = check_chain(&mut report, &cms, anchors, now);
    report.trusted = chain == ChainFinding::Trusted;
    if range_ok {
        check_coverage_and_later_changes(&mut report, doc, signed_doc, covered_end, file_size);
    }
    if report.modified_after_signing {
        report.problems.push(
            "the document was modified after signing in ways a signature does not permit".into(),
        );
    }
    let facts = SignatureFacts {
        well_formed: range_ok && report.coverage != Coverage::Partial && !tst_missing,
        digest_matches: report.intact,
        signature_verifies,
        weak_digest: weak,
        chain,
    };
    (report.indication, report.sub_indication) = signature_verdict(&facts);
    report
}

/// The signed dictionary and the certification it makes, both read in the signed revision
/// (the whole file when the signature covers it), or why there is none.
fn signed_dictionary<S: Source>(
    doc: &Document<&S>,
    field: &eseal_pdf::SignatureField,
    signed_doc: Option<&Document<Prefix<'_, &S>>>,
    range: &[u64],
    covered_end: Option<u64>,
    file_size: u64,
) -> (Option<i64>, Result<eseal_pdf::Dictionary, String>) {
    let signed = match (covered_end, signed_doc) {
        (Some(end), _) if end == file_size => signed_signature_dict(doc, field, range, true)
            .map(|d| (eseal_pdf::docmdp_permission(doc, &d), d)),
        (_, Some(signed)) => signed_signature_dict(signed, field, range, false)
            .map(|d| (eseal_pdf::docmdp_permission(signed, &d), d)),
        _ => Err("the signature does not cover a complete revision of the file".to_string()),
    };
    match signed {
        Ok((certification, dict)) => (certification, Ok(dict)),
        Err(problem) => (None, Err(problem)),
    }
}

/// The report before any check: what the signed dictionary claims (time, reason,
/// certification) when there is one (`/Contents` is read from the current one either way),
/// and a verdict of "malformed" that only the end of the checks replaces.
fn new_report(
    field: &eseal_pdf::SignatureField,
    signed_dict: Option<&eseal_pdf::Dictionary>,
    range: &[u64],
    covered_end: Option<u64>,
    certification: Option<i64>,
) -> SignatureReport {
    let unverified = eseal_pdf::Dictionary::new();
    let dict = signed_dict.unwrap_or(&unverified);
    let kind = if dict.has_type(b"DocTimeStamp") || field.dict.has_type(b"DocTimeStamp") {
        SignatureKind::DocumentTimestamp
    } else {
        SignatureKind::Signature
    };
    SignatureReport {
        field_name: field.name.clone(),
        kind,
        sub_filter: dict
            .get(b"SubFilter")
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default(),
        signer: None,
        signing_time_text: text_of(dict, b"M"),
        signing_time: match dict.get(b"M") {
            Some(Object::String(s, _)) => parse_pdf_date(s),
            _ => None,
        },
        timestamp_time: None,
        digest_algorithm: None,
        signature_algorithm: None,
        byte_range: range.to_vec(),
        intact: false,
        valid: false,
        trusted: false,
        trust_problem: None,
        trust_time: None,
        trust_time_source: None,
        // Until the end of the checks: a signature that stops early is malformed.
        indication: Indication::TotalFailed,
        sub_indication: Some(SubIndication::FormatFailure),
        coverage: Coverage::Partial,
        signed_revision_end: covered_end.unwrap_or(0),
        later_changes: Vec::new(),
        modified_after_signing: false,
        reason: text_of(dict, b"Reason"),
        location: text_of(dict, b"Location"),
        certification,
        signature_sha256: None,
        problems: Vec::new(),
    }
}

/// Whether `range` is `[0, a, b, c]` within the file with its gap exactly the `/Contents`
/// string.
fn range_is_the_contents_gap<S: Source>(source: &S, range: &[u64], contents: &[u8]) -> bool {
    match range {
        [0, a, b, c] => {
            *a <= *b
                && b.checked_add(*c).is_some_and(|end| end <= source.len())
                && gap_is_contents(source, *a, *b, contents)
        }
        _ => false,
    }
}

/// Intact: the digest of the byte ranges is what the signature signed, or what the document
/// timestamp's token imprints. Returns whether a document timestamp lacks its token.
fn check_intact<S: Source>(
    report: &mut SignatureReport,
    source: &S,
    range: &[u64],
    cms: &SignedDataInfo,
    limits: &Limits,
) -> bool {
    let kind = report.kind;
    let claimed = match kind {
        SignatureKind::Signature => Some((cms.digest_algorithm(), cms.message_digest())),
        SignatureKind::DocumentTimestamp => {
            cms.tst_info().map(|tst| (tst.hash_algorithm, Some(tst.hashed_message.as_slice())))
        }
    };
    let tst_missing = kind == SignatureKind::DocumentTimestamp && claimed.is_none();
    if let Some(tst) = cms.tst_info().filter(|_| kind == SignatureKind::DocumentTimestamp) {
        report.signing_time = Some(tst.gen_time);
    }
    match claimed.map(|(algorithm, expected)| {
        hash_ranges(source, range, algorithm, limits).map(|digest| expected == Some(digest.as_slice()))
    }) {
        Some(Err(e)) => report.problems.push(format!("the signed bytes cannot be read: {e}")),
        Some(Ok(true)) => report.intact = true,
        Some(Ok(false)) | None => report.problems.push(match kind {
            SignatureKind::Signature => "the document digest does not match the signed digest: the signed bytes were altered".into(),
            SignatureKind::DocumentTimestamp => "the timestamp's message imprint does not match the document".into(),
        }),
    }
    tst_missing
}

/// The signature value against the signer's key; valid only when also intact and not over a
/// `weak` digest. Returns whether the value verifies.
fn check_signature_value(report: &mut SignatureReport, cms: &SignedDataInfo, weak: bool) -> bool {
    let verified = cms.verify_signature();
    let signature_verifies = verified.is_ok();
    match verified {
        Ok(()) if weak => report
            .problems
            .push("the signature uses SHA-1, which no longer protects against forgery".into()),
        Ok(()) => report.valid = report.intact,
        Err(e) => report.problems.push(format!("the signature value does not verify: {e}")),
    }
    signature_verifies
}

/// A signature timestamp sits in unsigned attributes: anyone can attach one. Its time is a
/// proof of existence only when it verifies, covers this signature value and comes from a TSA
/// whose chain is trusted `now`.
fn check_signature_timestamp(
    report: &mut SignatureReport,
    cms: &SignedDataInfo,
    anchors: &TrustAnchors,
    now: i64,
) {
    let Some(Ok(ts)) = cms.signature_timestamp() else { return };
    let tst = ts.tst_info();
    let sound = ts.verify_signature().is_ok()
        && tst.is_some_and(|t| t.imprint_matches(cms.signature_value()));
    let trusted_tsa = ts
        .signer_certificate()
        .is_some_and(|c| anchors.check(c, ts.certificates(), now, Purpose::Timestamping).is_ok());
    match (sound, trusted_tsa) {
        (true, true) => report.timestamp_time = tst.map(|t| t.gen_time),
        (false, _) => report
            .problems
            .push("the signature timestamp does not verify against this signature".into()),
        (true, false) => report.problems.push(
            "the signature timestamp's authority is not trusted; its time is not used".into(),
        ),
    }
}

/// The signer's chain at the validation time: a trusted timestamp's (a proof that the signature
/// existed then), else `now`. The time the signer claims (/M, or a document timestamp's own
/// genTime) proves nothing: a chain valid then but not now gives OUT_OF_BOUNDS_NO_POE.
fn check_chain(
    report: &mut SignatureReport,
    cms: &SignedDataInfo,
    anchors: &TrustAnchors,
    now: i64,
) -> ChainFinding {
    let Some(cert) = cms.signer_certificate() else {
        report.trust_problem = Some("the signer certificate is not in the signature".into());
        return ChainFinding::NoSignerCertificate;
    };
    let proven = report.timestamp_time.map(|t| (t, "signature timestamp"));
    let (finding, at, source_of_time, problem) = chain_finding(
        anchors,
        cert,
        cms.certificates(),
        report.kind.purpose(),
        proven,
        report.signing_time,
        now,
    );
    report.trust_time = Some(at);
    report.trust_time_source = Some(source_of_time.into());
    report.trust_problem = problem;
    finding
}

/// Coverage (the whole file, or a complete earlier revision), and for a revision what the
/// later ones changed, judged against the signature's certification.
fn check_coverage_and_later_changes<S: Source>(
    report: &mut SignatureReport,
    doc: &Document<&S>,
    signed_doc: Option<&Document<Prefix<'_, &S>>>,
    covered_end: Option<u64>,
    file_size: u64,
) {
    match (covered_end, signed_doc) {
        (Some(end), _) if end == file_size => report.coverage = Coverage::EntireFile,
        (Some(end), Some(signed)) => {
            report.coverage = Coverage::EntireRevision;
            if doc.xref().startxref < end {
                report.modified_after_signing = true;
                report.problems.push(
                    "bytes follow the signed revision without being a revision of the file".into(),
                );
            }
            match diff::changes_since(signed, doc, end, report.certification) {
                Ok(changes) => {
                    report.modified_after_signing |= changes.iter().any(|c| !c.allowed);
                    report.later_changes = changes;
                }
                Err(e) => {
                    report.modified_after_signing = true;
                    report.problems.push(format!("later revisions cannot be compared: {e}"));
                }
            }
        }
        _ => {}
    }
}

/// A document timestamp that passes proves that the revision it covers, and every signature
/// in it, existed at its genTime: a proof of existence for a signature whose certificate is
/// out of its validity now. Latest revisions first, so that a document timestamp proven by a
/// later one proves earlier signatures in turn (PAdES-LTA).
fn proofs_from_document_timestamps(
    fields: &[&eseal_pdf::SignatureField],
    reports: &mut [SignatureReport],
    anchors: &TrustAnchors,
) {
    let mut order: Vec<usize> = (0..reports.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(reports[i].signed_revision_end));
    for i in order {
        if reports[i].sub_indication != Some(SubIndication::OutOfBoundsNoPoe) {
            continue;
        }
        let end = reports[i].signed_revision_end;
        let proof = reports
            .iter()
            .enumerate()
            .filter(|(j, t)| {
                *j != i
                    && t.kind == SignatureKind::DocumentTimestamp
                    && t.indication == Indication::TotalPassed
                    && t.signed_revision_end >= end
            })
            .filter_map(|(_, t)| t.signing_time)
            .min();
        let (Some(at), Some(field)) = (proof, fields.get(i)) else { continue };
        let Some(Object::String(contents, _)) = field.dict.get(b"Contents") else { continue };
        let Ok(cms) = SignedDataInfo::parse(contents) else { continue };
        let Some(cert) = cms.signer_certificate() else { continue };
        let report = &mut reports[i];
        let (chain, at, source_of_time, problem) = chain_finding(
            anchors,
            cert,
            cms.certificates(),
            report.kind.purpose(),
            Some((at, "document timestamp")),
            report.signing_time,
            now(),
        );
        report.trusted = chain == ChainFinding::Trusted;
        report.trust_time = Some(at);
        report.trust_time_source = Some(source_of_time.into());
        report.trust_problem = problem;
        // Out of bounds is reached only when the signature is well-formed, intact and verifies.
        let facts = SignatureFacts {
            well_formed: true,
            digest_matches: true,
            signature_verifies: true,
            weak_digest: cms.digest_algorithm() == eseal_cms::DigestAlgorithm::Sha1,
            chain,
        };
        (report.indication, report.sub_indication) = signature_verdict(&facts);
    }
}

/// Validates the signer's chain: at the proven time (and where its proof comes from) when
/// there is one, else now; when it fails now only for being outside its validity, the claimed
/// time tells whether the chain is otherwise sound (OUT_OF_BOUNDS_NO_POE) or fails for another
/// reason (that reason). Returns the finding, the validation time, where that time comes from,
/// and the problem.
fn chain_finding(
    anchors: &TrustAnchors,
    cert: &[u8],
    intermediates: &[Vec<u8>],
    purpose: Purpose,
    proven: Option<(i64, &'static str)>,
    claimed: Option<i64>,
    now: i64,
) -> (ChainFinding, i64, &'static str, Option<String>) {
    let other = |kind: TrustFailureKind| match kind {
        TrustFailureKind::NoChain => ChainFinding::NoChain,
        TrustFailureKind::Usage => ChainFinding::UsageNotAllowed,
        _ => ChainFinding::GeneralFailure,
    };
    if let Some((at, proof)) = proven {
        return match anchors.validate(cert, intermediates, at, purpose) {
            Ok(()) => (ChainFinding::Trusted, at, proof, None),
            Err(f) => {
                let (finding, reason) = match f.kind {
                    TrustFailureKind::Expired => (
                        ChainFinding::OutOfBoundsNoProof,
                        format!(
                            "{} (the {proof}'s time); nothing proves the signature existed before",
                            f.reason
                        ),
                    ),
                    TrustFailureKind::NotYetValid => (
                        ChainFinding::NotYetValidAtProvenTime,
                        format!(
                            "{} (the {proof}'s time): the signature existed before its certificate was valid",
                            f.reason
                        ),
                    ),
                    kind => (other(kind), f.reason),
                };
                (finding, at, proof, Some(reason))
            }
        };
    }
    match anchors.validate(cert, intermediates, now, purpose) {
        Ok(()) => (ChainFinding::Trusted, now, "verification time", None),
        Err(f) if matches!(f.kind, TrustFailureKind::Expired | TrustFailureKind::NotYetValid) => {
            match claimed.map(|t| anchors.validate(cert, intermediates, t, purpose)) {
                Some(Err(g))
                    if !matches!(
                        g.kind,
                        TrustFailureKind::Expired | TrustFailureKind::NotYetValid
                    ) =>
                {
                    (other(g.kind), now, "verification time", Some(g.reason))
                }
                Some(Ok(())) => (
                    ChainFinding::OutOfBoundsNoProof,
                    now,
                    "verification time",
                    Some(format!(
                        "{} (now); it was valid at the claimed signing time, but no trusted timestamp proves the signature existed then",
                        f.reason
                    )),
                ),
                _ => (
                    ChainFinding::OutOfBoundsNoProof,
                    now,
                    "verification time",
                    Some(format!(
                        "{}, and no trusted timestamp proves the signature existed while it was valid",
                        f.reason
                    )),
                ),
            }
        }
        Err(f) => (other(f.kind), now, "verification time", Some(f.reason)),
    }
}

/// The signature dictionary as the signed revision holds it. It must be an object stored in
/// the file (not in an object stream), starting before the /Contents gap with the gap inside
/// it, and its /ByteRange must be the one being verified: a later revision cannot substitute
/// a dictionary of its own (with another /M, /Reason or /Reference) for the signed one.
/// `current` says that `signed` is the document `field` was read from (the signature covers
/// the whole file): the field's dictionary is then the signed one, read already.
fn signed_signature_dict<T: Source>(
    signed: &Document<T>,
    field: &eseal_pdf::SignatureField,
    range: &[u64],
    current: bool,
) -> Result<eseal_pdf::Dictionary, String> {
    let not_signed = || "the signature dictionary is not part of the bytes it signs".to_string();
    let (holder, direct) = match (field.signature, field.field) {
        (Some(id), _) => (id, false),
        (None, Some(id)) => (id, true),
        (None, None) => return Err(not_signed()),
    };
    let Some(&XrefEntry::InFile { offset, generation }) = signed.xref().entries.get(&holder.number)
    else {
        return Err(not_signed());
    };
    let gap_start = *range.get(1).ok_or_else(not_signed)?;
    if generation != holder.generation
        || offset >= gap_start
        || gap_start - offset > 16 * 1024 * 1024
    {
        return Err(not_signed());
    }
    let before_gap = signed
        .source()
        .read_range(offset, (gap_start - offset) as usize)
        .map_err(|_| not_signed())?;
    if before_gap.windows(6).any(|w| w == b"endobj") {
        return Err(not_signed());
    }
    if current {
        return Ok(field.dict.clone());
    }
    let object = signed.object(holder).map_err(|_| not_signed())?;
    let dict = if direct {
        object.as_dict().and_then(|f| f.get(b"V")).and_then(Object::as_dict).cloned()
    } else {
        object.as_dict().cloned()
    }
    .ok_or_else(not_signed)?;
    let same = |key: &[u8]| dict.get(key) == field.dict.get(key);
    if !same(b"ByteRange") || !same(b"Contents") {
        return Err(not_signed());
    }
    Ok(dict)
}

/// Whether offset `end` closes a revision: the bytes before it end with `%%EOF` and an
/// optional end of line.
fn ends_revision<S: Source>(source: &S, end: u64) -> bool {
    let start = end.saturating_sub(16);
    let Ok(tail) = source.read_range(start, (end - start) as usize) else { return false };
    let trimmed = tail
        .strip_suffix(b"\r\n")
        .or_else(|| tail.strip_suffix(b"\n"))
        .or_else(|| tail.strip_suffix(b"\r"))
        .unwrap_or(&tail);
    trimmed.ends_with(b"%%EOF")
}

/// The gap of the byte range must be exactly `<hex digits>` decoding to `contents`.
fn gap_is_contents<S: Source>(source: &S, start: u64, end: u64, contents: &[u8]) -> bool {
    let len = end - start;
    if !(2..=64 * 1024 * 1024).contains(&len) {
        return false;
    }
    let Ok(gap) = source.read_range(start, len as usize) else { return false };
    if gap.first() != Some(&b'<') || gap.last() != Some(&b'>') {
        return false;
    }
    eseal_pdf::hex_digits(&gap[1..gap.len() - 1]).is_some_and(|bytes| bytes == contents)
}

fn hash_ranges<S: Source>(
    source: &S,
    range: &[u64],
    algorithm: eseal_cms::DigestAlgorithm,
    limits: &Limits,
) -> std::io::Result<Vec<u8>> {
    let mut digester = algorithm.start();
    let mut buf = vec![0u8; 64 * 1024];
    for pair in range.chunks(2) {
        let (mut offset, end) = (pair[0], pair[0].saturating_add(pair[1]));
        while offset < end {
            if limits.is_cancelled() {
                return Err(std::io::Error::other("cancelled"));
            }
            let want = usize::try_from(end - offset).unwrap_or(usize::MAX).min(buf.len());
            let n = source.read_at(offset, &mut buf[..want])?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the byte range runs past the end of the file",
                ));
            }
            digester.update(&buf[..n]);
            offset += n as u64;
        }
    }
    Ok(digester.finish())
}

/// Facts about a DER certificate, if it parses.
pub fn certificate_facts(der: &[u8]) -> Option<CertificateFacts> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let fingerprint = ring::digest::digest(&ring::digest::SHA256, der);
    Some(CertificateFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().replace(':', ""),
        sha256_fingerprint: hex(fingerprint.as_ref()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

use eseal_encoding::civil_time::now;
use eseal_encoding::hex;
