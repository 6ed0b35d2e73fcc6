//! VerificationService: the engine's report on a streamed PDF, with each signature looked up
//! in this service's stamping records.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::proto::verification_service_server::VerificationService;
use super::proto::{SignatureVerification, VerifyDocumentRequest, VerifyDocumentResponse};
use super::spool::Spool;
use super::{ApiError, ServiceState, Subject};
use crate::auth::{Principal, Role};
use crate::verify::{Coverage, SignatureKind, verify_document_with};

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
    async fn verify_document(&self, request: Request<Streaming<VerifyDocumentRequest>>) -> Result<Response<VerifyDocumentResponse>, Status> {
        const METHOD: &str = "VerifyDocument";
        let principal = self.state.caller(&request, METHOD).await?;
        let span = tracing::info_span!("rpc", method = METHOD, principal = %principal.name);
        match verify(&self.state, &principal, request.into_inner()).instrument(span).await {
            Ok(reply) => Ok(Response::new(reply)),
            Err(e) => Err(self.state.refuse(&principal.name, METHOD, e, Subject::default()).await),
        }
    }
}

async fn verify(state: &Arc<ServiceState>, principal: &Principal, mut stream: Streaming<VerifyDocumentRequest>) -> Result<VerifyDocumentResponse, ApiError> {
    if !principal.has(Role::Archivist, None) {
        return Err(ApiError::denied(&principal.name, Role::Archivist, None));
    }
    let config = &state.config.server;
    let mut spool = Spool::new(config.spool_threshold_bytes, config.spool_directory.clone());
    while let Some(message) = stream.message().await.map_err(super::signing::upload_failed)? {
        spool.write_within(message.chunk, config.max_document_bytes)?;
    }
    let document = spool.finish().map_err(|e| ApiError::Internal(format!("cannot spool the document: {e}")))?;
    let document_sha256 = document.sha256().to_vec();
    let anchors = state.anchors.clone();
    // Dropping this call's future (the client went away) sets the flag, and the engine stops.
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let limits = crate::pdf::Limits::with_cancel(Arc::clone(&cancel.0));
    let (report, revision_digests) = tokio::task::spawn_blocking(move || {
        let report = verify_document_with(&document, &anchors, &limits)?;
        // The SHA-256 of each signed revision: a stamping record matches a signature only when
        // its output is that very revision (the same signature pasted into another PDF does not).
        // One digest per revision, however many signatures cover it.
        let mut by_end = std::collections::HashMap::new();
        let mut digests: Vec<Option<[u8; 32]>> = Vec::new();
        for s in &report.signatures {
            limits.check_cancelled()?;
            digests.push(if s.intact { *by_end.entry(s.signed_revision_end).or_insert_with(|| prefix_sha256(&document, s.signed_revision_end)) } else { None });
        }
        Ok::<_, crate::verify::VerifyError>((report, digests))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the verification task failed: {e}")))?
    .map_err(|e| ApiError::InvalidArgument(format!("the document cannot be verified: {e}")))?;
    // The work is done: setting the flag now (when `cancel` drops) changes nothing.
    let mut signatures = Vec::new();
    for (s, revision) in report.signatures.iter().zip(&revision_digests) {
        let record = match s.signature_sha256.as_deref().and_then(unhex32) {
            Some(digest) => state.store.stamping_by_cms(&digest).await?.filter(|r| Some(r.output_sha256) == *revision),
            None => None,
        };
        signatures.push(SignatureVerification {
            field_name: s.field_name.clone(),
            kind: match s.kind {
                SignatureKind::Signature => "signature",
                SignatureKind::DocumentTimestamp => "document_timestamp",
            }
            .into(),
            signer_subject: s.signer.as_ref().map(|c| c.subject.clone()).unwrap_or_default(),
            signer_serial: s.signer.as_ref().map(|c| c.serial.clone()).unwrap_or_default(),
            signer_sha256_fingerprint: s.signer.as_ref().map(|c| c.sha256_fingerprint.clone()).unwrap_or_default(),
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
            audit_record_found: record.is_some(),
            audit_sequence: record.map(|r| r.audit_sequence).unwrap_or(0),
            problems: s.problems.clone(),
        });
    }
    Ok(VerifyDocumentResponse {
        all_valid: report.all_valid(),
        report_json: serde_json::to_string(&report).map_err(|e| ApiError::Internal(e.to_string()))?,
        signatures,
        document_sha256,
    })
}

/// Sets its flag when dropped: a verification still running on that flag then stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// SHA-256 of the first `len` bytes of `source`.
fn prefix_sha256(source: &impl crate::pdf::Source, len: u64) -> Option<[u8; 32]> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
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
