//! VerificationService: the engine's report on a streamed PDF, with each signature looked up
//! in this service's stamping records.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::Subject;
use super::proto::verification_service_server::VerificationService;
use super::proto::{
    LaterChange, SignatureVerification, VerifyDocumentRequest, VerifyDocumentResponse,
};
use crate::auth::{Principal, Role};
use crate::service::spool::Spool;
use crate::service::{ServiceError, ServiceState};
use eseal_verify::{Coverage, SignatureKind, VerificationReport, verify_document_with};

/// The verification service.
pub struct Verification {
    state: Arc<ServiceState>,
}

impl Verification {
    /// The service over shared state.
    pub fn new(state: Arc<ServiceState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl VerificationService for Verification {
    async fn verify_document(
        &self,
        request: Request<Streaming<VerifyDocumentRequest>>,
    ) -> Result<Response<VerifyDocumentResponse>, Status> {
        const METHOD: &str = "VerifyDocument";
        let principal = super::authentication::principal(&request)?;
        let span = tracing::info_span!("rpc", method = METHOD, principal = %principal.name);
        match verify(&self.state, &principal, request.into_inner()).instrument(span).await {
            Ok(reply) => Ok(Response::new(reply)),
            Err(e) => Err(self.state.refuse(&principal.name, METHOD, e, Subject::default()).await),
        }
    }
}

async fn verify(
    state: &Arc<ServiceState>,
    principal: &Principal,
    mut stream: Streaming<VerifyDocumentRequest>,
) -> Result<VerifyDocumentResponse, ServiceError> {
    if !principal.has(Role::Archivist, None) {
        return Err(ServiceError::denied(&principal.name, Role::Archivist, None));
    }
    let settings = &state.settings;
    let mut spool = Spool::new(settings.spool_threshold_bytes, settings.spool_directory.clone());
    while let Some(message) = stream.message().await.map_err(super::signing::upload_failed)? {
        spool.write_within(message.chunk, settings.max_document_bytes)?;
    }
    let document = spool
        .finish()
        .map_err(|e| ServiceError::Internal(format!("cannot spool the document: {e}")))?;
    let document_sha256 = document.sha256().to_vec();
    let anchors = state.anchors.clone();
    // Dropping this call's future (the client went away) sets the flag, and the engine stops.
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let limits = eseal_pdf::Limits::with_cancel(Arc::clone(&cancel.0));
    let (report, revision_digests) = tokio::task::spawn_blocking(move || {
        let report = verify_document_with(&document, &anchors, &limits)?;
        // The SHA-256 of each signed revision: a stamping record matches a signature only when
        // its output is that very revision (the same signature pasted into another PDF does not).
        // One digest per revision, however many signatures cover it.
        let mut by_end = std::collections::HashMap::new();
        let mut digests: Vec<Option<[u8; 32]>> = Vec::new();
        for s in &report.signatures {
            limits.check_cancelled()?;
            digests.push(if s.intact {
                *by_end
                    .entry(s.signed_revision_end)
                    .or_insert_with(|| prefix_sha256(&document, s.signed_revision_end))
            } else {
                None
            });
        }
        Ok::<_, eseal_verify::VerifyError>((report, digests))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("the verification task failed: {e}")))?
    .map_err(|e| ServiceError::InvalidArgument(format!("the document cannot be verified: {e}")))?;
    // The work is done: setting the flag now (when `cancel` drops) changes nothing.
    let mut records = Vec::new();
    for (s, revision) in report.signatures.iter().zip(&revision_digests) {
        let record = match s.signature_sha256.as_deref().and_then(unhex32) {
            Some(digest) => state
                .store
                .stamping_by_cms(&digest)
                .await?
                .filter(|r| Some(r.output_sha256) == *revision),
            None => None,
        };
        records.push(record.map(|r| r.audit_sequence));
    }
    reply(&report, Some(&records), document_sha256)
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// The reply for `report`. `records` holds each signature's stamping record (its audit
/// sequence) in this service, or is None when no service was asked (`eseal verify --offline`):
/// then the JSON has no record match and no signature is listed as unrecorded.
pub fn reply(
    report: &VerificationReport,
    records: Option<&[Option<u64>]>,
    document_sha256: Vec<u8>,
) -> Result<VerifyDocumentResponse, serde_json::Error> {
    let record = |i: usize| records.and_then(|r| r.get(i).copied().flatten());
    let signatures = report
        .signatures
        .iter()
        .enumerate()
        .map(|(i, s)| SignatureVerification {
            field_name: s.field_name.clone(),
            kind: match s.kind {
                SignatureKind::Signature => "signature",
                SignatureKind::DocumentTimestamp => "document_timestamp",
            }
            .into(),
            signer_subject: s.signer.as_ref().map(|c| c.subject.clone()).unwrap_or_default(),
            signer_serial: s.signer.as_ref().map(|c| c.serial.clone()).unwrap_or_default(),
            signer_sha256_fingerprint: s
                .signer
                .as_ref()
                .map(|c| c.sha256_fingerprint.clone())
                .unwrap_or_default(),
            signing_time: s.signing_time.unwrap_or(0),
            intact: s.intact,
            valid: s.valid,
            trusted: s.trusted,
            coverage: match s.coverage {
                Coverage::EntireFile => "entire_file",
                Coverage::EntireRevision => "entire_revision",
                Coverage::Partial => "partial",
            }
            .into(),
            modified_after_signing: s.modified_after_signing,
            audit_record_found: record(i).is_some(),
            audit_sequence: record(i).unwrap_or(0),
            problems: s.problems.clone(),
            indication: s.indication.as_str().into(),
            sub_indication: s.sub_indication.map(|i| i.as_str()).unwrap_or_default().into(),
            trust_problem: s.trust_problem.clone().unwrap_or_default(),
            later_changes: s
                .later_changes
                .iter()
                .map(|c| LaterChange {
                    object: c.object,
                    role: c.role.clone(),
                    description: c.description.clone(),
                    allowed: c.allowed,
                    visual_page: c.visual.as_ref().map_or(0, |v| v.page),
                    visual_rect: c.visual.as_ref().map(|v| v.rect.to_vec()).unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let unrecorded_signatures: Vec<String> = match records {
        Some(_) => report
            .signatures
            .iter()
            .enumerate()
            .filter(|(i, _)| record(*i).is_none())
            .map(|(_, s)| s.field_name.clone())
            .collect(),
        None => Vec::new(),
    };
    Ok(VerifyDocumentResponse {
        all_valid: report.all_valid(),
        report_json: report_json(report, records, &unrecorded_signatures)?,
        signatures,
        document_sha256,
        verdict: report.verdict.as_str().into(),
        unrecorded_signatures,
    })
}

/// The engine's report as JSON with this service's record match added: each signature's
/// "stamping_record" ({"audit_sequence": N}, or null) and the document's "unrecorded_signatures";
/// without records (offline), the engine's report alone.
fn report_json(
    report: &VerificationReport,
    records: Option<&[Option<u64>]>,
    unrecorded: &[String],
) -> Result<String, serde_json::Error> {
    let Some(records) = records else { return serde_json::to_string(report) };
    let mut json = serde_json::to_value(report)?;
    if let Some(signatures) = json.get_mut("signatures").and_then(serde_json::Value::as_array_mut) {
        for (signature, record) in signatures.iter_mut().zip(records) {
            if let Some(object) = signature.as_object_mut() {
                let record =
                    record.map(|sequence| serde_json::json!({ "audit_sequence": sequence }));
                object.insert("stamping_record".into(), record.unwrap_or(serde_json::Value::Null));
            }
        }
    }
    if let Some(object) = json.as_object_mut() {
        object.insert("unrecorded_signatures".into(), serde_json::json!(unrecorded));
    }
    serde_json::to_string(&json)
}

/// Sets its flag when dropped: a verification still running on that flag then stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// SHA-256 of the first `len` bytes of `source`.
fn prefix_sha256(source: &impl eseal_pdf::Source, len: u64) -> Option<[u8; 32]> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0u64;
    while offset < len {
        let want = usize::try_from(len - offset).unwrap_or(usize::MAX).min(buf.len());
        let n = source.read_at(offset, &mut buf[..want]).ok().filter(|n| *n > 0)?;
        context.update(&buf[..n]);
        offset += n as u64;
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    Some(out)
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}
