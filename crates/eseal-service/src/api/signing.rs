//! SigningService: one stamping per call, consuming one authorization atomically with its
//! audit record; a retry with the same request id replays the same bytes.

use std::sync::Arc;

use bytes::Bytes;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::limits::Bounded;
use super::proto::sign_document_request::Part as RequestPart;
use super::proto::sign_document_response::Part as ResponsePart;
use super::proto::signing_service_server::SigningService;
use super::proto::{self, SignDocumentRequest, SignDocumentResponse, SignHeader, StampingReceipt};
use super::spool::{Spool, Spooled, slices};
use super::{ApiError, LoadedSeal, ServiceState, Subject};
use crate::auth::{Principal, Role};
use crate::metrics::Outcome;
use crate::policy::{self, StampingRequest};
use crate::stamp;
use crate::store::StampingRecord;
use eseal_audit::{AuditEvent, EventKind};
use eseal_encoding::civil_time::now;
use eseal_encoding::hex;
use eseal_pdf::{Corner, Placement, SealOptions, SealRect, Source, Unit};

/// Bytes per response chunk.
const CHUNK: usize = 1 << 20;

/// The signing service.
pub struct Signing {
    state: Arc<ServiceState>,
}

impl Signing {
    /// The service over shared state.
    pub fn new(state: Arc<ServiceState>) -> Self {
        Self { state }
    }
}

/// The options of a stamping as stored for its replay.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct StoredOptions {
    page: i64,
    rect: Option<(f64, f64, f64, f64, String, String)>,
    reason: String,
    location: String,
    contact_info: String,
    certify: bool,
    field_name: String,
    signing_time: i64,
    /// Bytes reserved in /Contents. Absent in records made while every seal kept room for a
    /// timestamp: their replays reserve that again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contents_size: Option<usize>,
}

impl StoredOptions {
    fn from_header(
        header: &SignHeader,
        signing_time: i64,
        contents_size: usize,
    ) -> Result<Self, ApiError> {
        let placement = header.placement.unwrap_or_default();
        let rect = match &placement.rect {
            None => None,
            Some(r) => {
                let unit = match proto::Unit::try_from(r.unit) {
                    Ok(proto::Unit::Millimetres) => "mm",
                    Ok(_) => "pt",
                    Err(_) => {
                        return Err(ApiError::InvalidArgument(format!("unknown unit {}", r.unit)));
                    }
                };
                let corner = match proto::Corner::try_from(r.corner) {
                    Ok(proto::Corner::BottomRight) => "bottom-right",
                    Ok(proto::Corner::TopLeft) => "top-left",
                    Ok(proto::Corner::TopRight) => "top-right",
                    Ok(_) => "bottom-left",
                    Err(_) => {
                        return Err(ApiError::InvalidArgument(format!(
                            "unknown corner {}",
                            r.corner
                        )));
                    }
                };
                Some((r.x, r.y, r.width, r.height, unit.to_string(), corner.to_string()))
            }
        };
        let page = match (placement.page, &placement.rect) {
            (0, None) => 1,
            (0, Some(_)) => -1,
            (p, _) => p,
        };
        Ok(StoredOptions {
            page,
            rect,
            reason: header.reason.clone(),
            location: header.location.clone(),
            contact_info: header.contact_info.clone(),
            certify: header.certify,
            field_name: header.field_name.clone(),
            signing_time,
            contents_size: Some(contents_size),
        })
    }

    fn seal_options<'a>(&self, seal: &'a LoadedSeal) -> SealOptions<'a> {
        let optional = |s: &String| (!s.is_empty()).then(|| s.clone());
        let rect = self.rect.as_ref().map(|(x, y, width, height, unit, corner)| SealRect {
            x: *x,
            y: *y,
            width: *width,
            height: *height,
            unit: if unit == "mm" { Unit::Millimetres } else { Unit::Points },
            corner: match corner.as_str() {
                "bottom-right" => Corner::BottomRight,
                "top-left" => Corner::TopLeft,
                "top-right" => Corner::TopRight,
                _ => Corner::BottomLeft,
            },
        });
        SealOptions {
            field_name: optional(&self.field_name),
            placement: Placement { page: self.page, rect },
            image: Some(&seal.image),
            signing_time: self.signing_time,
            reason: optional(&self.reason),
            location: optional(&self.location),
            contact_info: optional(&self.contact_info),
            certify: self.certify,
            contents_size: self
                .contents_size
                .unwrap_or_else(|| stamp::contents_size_with_timestamp_room(&seal.chain)),
            reserve_fields: Vec::new(),
        }
    }
}

type ResponseStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<SignDocumentResponse, Status>> + Send>,
>;

#[tonic::async_trait]
impl SigningService for Signing {
    type SignDocumentStream = ResponseStream;

    async fn sign_document(
        &self,
        request: Request<Streaming<SignDocumentRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        const METHOD: &str = "SignDocument";
        let state = Arc::clone(&self.state);
        let principal = super::authentication::principal(&request)?;
        let mut stream = request.into_inner();
        let header = match stream.message().await? {
            Some(SignDocumentRequest { part: Some(RequestPart::Header(h)) }) => h,
            _ => {
                let e = ApiError::InvalidArgument("the first message must be the header (seal_id, authorization_id, request_id, ...)".into());
                return Err(state.refuse(&principal.name, METHOD, e, Subject::default()).await);
            }
        };
        let subject = Subject {
            seal_id: Some(header.seal_id.clone()),
            authorization_id: Some(header.authorization_id.clone()),
            request_id: Some(header.request_id.clone()),
            case_number: Some(header.case_number.clone()),
        };
        // Oversized fields are refused before anything else sees them (a log span, a lookup).
        if let Err(e) = header.check_bounds() {
            state.metrics.stamping("unknown", Outcome::Refused);
            return Err(state.refuse(&principal.name, METHOD, e, subject).await);
        }
        let span = tracing::info_span!("SignDocument", request_id = %header.request_id, seal = %header.seal_id, principal = %principal.name, outcome = tracing::field::Empty);
        let result = sign(&state, &principal, header, stream).instrument(span.clone()).await;
        let seal_id = subject.seal_id.as_deref().unwrap_or_default();
        match result {
            Ok(Stamped { response, outcome }) => {
                span.record("outcome", outcome.as_str());
                tracing::info!(parent: &span, "document sealed");
                state.metrics.stamping(seal_id, outcome);
                Ok(response)
            }
            Err(e) => {
                span.record("outcome", Outcome::Refused.as_str());
                // Only seals that exist get a series of their own: a caller naming made-up
                // seals must not grow the metrics.
                let known = matches!(state.recent_seal(seal_id).await, Ok(Some(_)));
                state.metrics.stamping(if known { seal_id } else { "unknown" }, Outcome::Refused);
                Err(state.refuse(&principal.name, METHOD, e, subject).await)
            }
        }
    }
}

/// A stamping request that succeeded: the answer to stream, and whether it was new.
struct Stamped {
    response: Response<ResponseStream>,
    outcome: Outcome,
}

async fn sign(
    state: &Arc<ServiceState>,
    principal: &Principal,
    header: SignHeader,
    stream: Streaming<SignDocumentRequest>,
) -> Result<Stamped, ApiError> {
    for (field, value) in [
        ("seal_id", &header.seal_id),
        ("authorization_id", &header.authorization_id),
        ("request_id", &header.request_id),
        ("case_number", &header.case_number),
    ] {
        if value.trim().is_empty() {
            return Err(ApiError::InvalidArgument(format!("the header's {field} is empty")));
        }
    }
    let returned = proto::ReturnedBytes::try_from(header.returned_bytes).map_err(|_| {
        ApiError::InvalidArgument(format!(
            "unknown returned_bytes {}: use 0 (the sealed document) or 1 (the update only)",
            header.returned_bytes
        ))
    })?;
    if !principal.has(Role::Department, Some(&header.seal_id)) {
        return Err(ApiError::denied(&principal.name, Role::Department, Some(&header.seal_id)));
    }

    // One read for both: a retry of a stamping whose answer was lost (the same bytes again,
    // nothing consumed), and the authorization the request names. Request ids are the
    // caller's own: another principal's never answers here.
    let (done, authorization) = state
        .store
        .stamping_and_authorization(&principal.name, &header.request_id, &header.authorization_id)
        .await?;
    if let Some(done) = done {
        let same_request =
            done.seal_id == header.seal_id && done.authorization_id == header.authorization_id;
        if !same_request {
            return Err(ApiError::RequestIdReused(header.request_id.clone()));
        }
        let document = receive(state, stream).await?;
        if document.sha256() != done.input_sha256 {
            // Same caller, seal and authorization, another document: what stands in the way
            // is the authorization, used already for the recorded one.
            return Err(policy::PolicyError::AlreadyUsed {
                id: done.authorization_id,
                request_id: done.request_id,
            }
            .into());
        }
        return replay(state, done, document, returned).await;
    }

    // Every rule but the document binding is checked before the upload: nothing is received
    // for a request that cannot succeed.
    let authorization = authorization.ok_or_else(|| ApiError::NotFound {
        what: "authorization",
        id: header.authorization_id.clone(),
    })?;
    let seal = state
        .recent_seal(&header.seal_id)
        .await?
        .ok_or_else(|| ApiError::NotFound { what: "seal", id: header.seal_id.clone() })?;
    let loaded = state.loaded_seal(&seal)?;
    let certificate = Some(loaded.certificate_validity);
    let request = |digest| StampingRequest {
        principal: &principal.name,
        seal_id: &header.seal_id,
        case_number: &header.case_number,
        document_sha256: digest,
    };
    policy::check_stamping(&authorization, &seal, certificate, &request(None), now())?;

    let document = receive(state, stream).await?;
    let input_sha256 = document.sha256();
    let signing_time = now();
    if let Err(refusal) = policy::check_stamping(
        &authorization,
        &seal,
        certificate,
        &request(Some(&input_sha256)),
        signing_time,
    ) {
        // A retry racing its own original finds the authorization used by itself: replay.
        return match already_done(state, principal, &header, &input_sha256).await? {
            Some(done) => replay(state, done, document, returned).await,
            None => Err(refusal.into()),
        };
    }

    let options =
        StoredOptions::from_header(&header, signing_time, stamp::contents_size(&loaded.chain))?;
    let options_json =
        serde_json::to_string(&options).map_err(|e| ApiError::Internal(e.to_string()))?;
    let engine_seal = Arc::clone(&loaded);
    let (document, update, stamped) = run_engine(document, move |document| {
        let original = document.hash.clone();
        stamp::seal_update(
            document,
            original,
            &options.seal_options(&engine_seal),
            &engine_seal.chain,
            engine_seal.signer.as_ref(),
        )
    })
    .await?;

    let record = StampingRecord {
        request_id: header.request_id.clone(),
        principal: principal.name.clone(),
        seal_id: seal.id.clone(),
        authorization_id: authorization.id.clone(),
        case_number: header.case_number.clone(),
        input_sha256,
        output_sha256: stamped.document.output_sha256,
        output_size: stamped.document.output_len,
        signing_time,
        field_name: stamped.document.field_name.clone(),
        cms_sha256: sha256(&stamped.cms),
        cms: stamped.cms,
        options_json,
        audit_sequence: 0,
    };
    let event = |kind| {
        let mut e = AuditEvent::new(kind, principal.name.clone());
        e.seal_id = Some(seal.id.clone());
        e.authorization_id = Some(authorization.id.clone());
        e.request_id = Some(header.request_id.clone());
        e.case_number = Some(header.case_number.clone());
        e.input_sha256 = Some(hex(&input_sha256));
        e.seal_certificate_sha256 = Some(loaded.chain.fingerprint_hex());
        e
    };
    let mut sealed = event(EventKind::DocumentSealed);
    sealed.output_sha256 = Some(hex(&record.output_sha256));
    // The durable step: nothing is sent before it commits.
    let committing = std::time::Instant::now();
    let committed = state
        .store
        .commit_stamping(&record, event(EventKind::AuthorizationConsumed), sealed, now())
        .await;
    state.metrics.store_commit(committing.elapsed());
    let record = match committed {
        Ok(record) => record,
        Err(e) => {
            // The same request may have committed meanwhile (a concurrent retry): replay it.
            return match already_done(state, principal, &header, &input_sha256).await? {
                Some(done) => replay(state, done, document, returned).await,
                None => Err(e.into()),
            };
        }
    };
    let (document, update) =
        keep_document(state, document, update, &record.output_sha256, record.audit_sequence)
            .await?;
    Ok(Stamped {
        response: respond(
            receipt(&record, &loaded, false, document.len()),
            document,
            update,
            returned,
        ),
        outcome: Outcome::Sealed,
    })
}

/// Receives the document chunks that follow the header, within the configured limit.
async fn receive(
    state: &ServiceState,
    mut stream: Streaming<SignDocumentRequest>,
) -> Result<Spooled, ApiError> {
    let config = &state.config.server;
    let mut spool = Spool::new(config.spool_threshold_bytes, config.spool_directory.clone());
    while let Some(message) = stream.message().await.map_err(upload_failed)? {
        match message.part {
            Some(RequestPart::Chunk(chunk)) => {
                spool.write_within(chunk, config.max_document_bytes)?
            }
            _ => {
                return Err(ApiError::InvalidArgument(
                    "only document chunks may follow the header".into(),
                ));
            }
        }
    }
    if spool.is_empty() {
        return Err(ApiError::InvalidArgument("no document was sent after the header".into()));
    }
    spool.finish().map_err(|e| ApiError::Internal(format!("cannot spool the document: {e}")))
}

/// A broken upload: cancelled by the client, or not decodable.
pub fn upload_failed(status: Status) -> ApiError {
    if status.code() == tonic::Code::Cancelled {
        ApiError::Cancelled
    } else {
        ApiError::InvalidArgument(format!("the upload failed: {}", status.message()))
    }
}

/// The recorded stamping of the header's request id, when this principal already made it with
/// this seal, authorization and document; a request id this principal used for another
/// request is refused.
async fn already_done(
    state: &ServiceState,
    principal: &Principal,
    header: &SignHeader,
    input_sha256: &[u8; 32],
) -> Result<Option<StampingRecord>, ApiError> {
    let request_id = &header.request_id;
    match state.store.stamping(&principal.name, request_id).await? {
        Some(done)
            if done.seal_id != header.seal_id
                || done.authorization_id != header.authorization_id
                || done.input_sha256 != *input_sha256 =>
        {
            Err(ApiError::RequestIdReused(request_id.clone()))
        }
        other => Ok(other),
    }
}

/// Documents up to this size are sealed on the calling task (well under a millisecond for a
/// typical approval document); larger ones on the blocking pool, so that reading a spooled
/// file never holds up the runtime's workers.
const INLINE_SEAL_BYTES: u64 = 1 << 20;

/// Runs the engine over `document`: inline when small, on the blocking pool otherwise.
/// Returns the document with the engine's result.
async fn run_engine<T, F>(document: Spooled, work: F) -> Result<(Spooled, Vec<u8>, T), ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Spooled) -> Result<(Vec<u8>, T), stamp::StampError> + Send + 'static,
{
    if document.len() <= INLINE_SEAL_BYTES {
        let (update, result) = work(&document)?;
        return Ok((document, update, result));
    }
    let (document, result) = tokio::task::spawn_blocking(move || {
        let result = work(&document);
        (document, result)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the sealing task failed: {e}")))?;
    let (update, result) = result?;
    Ok((document, update, result))
}

async fn replay(
    state: &Arc<ServiceState>,
    done: StampingRecord,
    document: Spooled,
    returned: proto::ReturnedBytes,
) -> Result<Stamped, ApiError> {
    let seal = state
        .recent_seal(&done.seal_id)
        .await?
        .ok_or_else(|| ApiError::NotFound { what: "seal", id: done.seal_id.clone() })?;
    let loaded = state.loaded_seal(&seal)?;
    let options: StoredOptions = serde_json::from_str(&done.options_json)
        .map_err(|e| ApiError::Internal(format!("stored options unreadable: {e}")))?;
    let engine_seal = Arc::clone(&loaded);
    let cms = done.cms.clone();
    let (document, update, sealed) = run_engine(document, move |document| {
        let original = document.hash.clone();
        stamp::replay_update(
            document,
            original,
            &options.seal_options(&engine_seal),
            &engine_seal.chain,
            &cms,
        )
    })
    .await?;
    if sealed.output_sha256 != done.output_sha256 {
        return Err(ApiError::Internal(format!(
            "the replay of request {} does not reproduce the recorded document",
            done.request_id
        )));
    }
    tracing::info!(request_id = %done.request_id, "stamping replayed");
    let (document, update) =
        keep_document(state, document, update, &done.output_sha256, done.audit_sequence).await?;
    Ok(Stamped {
        response: respond(
            receipt(&done, &loaded, true, document.len()),
            document,
            update,
            returned,
        ),
        outcome: Outcome::Replayed,
    })
}

/// Keeps the sealed document (the received bytes, then the update) as `<SHA-256 hex>.pdf` in
/// `[archive] keep_documents_dir`, when it is configured, for archive exports. Called after the
/// stamping committed and before anything is sent: a document is released only once kept. A
/// failure fails the call; the same request again replays the stamping and keeps it then.
async fn keep_document(
    state: &ServiceState,
    document: Spooled,
    update: Vec<u8>,
    output_sha256: &[u8; 32],
    sequence: u64,
) -> Result<(Spooled, Vec<u8>), ApiError> {
    let Some(dir) = state.config.archive.keep_documents_dir.clone() else {
        return Ok((document, update));
    };
    let expected = *output_sha256;
    let (document, update, written) = tokio::task::spawn_blocking(move || {
        let written = write_kept(&dir, &document, &update, &expected);
        (document, update, written)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the task keeping the document failed: {e}")))?;
    written.map_err(|e| {
        ApiError::Internal(format!(
            "the document was sealed (audit record #{sequence}) but could not be kept in archive.keep_documents_dir: {e}; send the same request again to receive it"
        ))
    })?;
    Ok((document, update))
}

/// Writes `document` then `update` to `dir/<hex of expected>.pdf`: into a temporary file beside
/// it, checked against `expected`, synced, then renamed (the folder never holds half a
/// document). A file already there with the right size is kept as it is (a replay).
fn write_kept(
    dir: &std::path::Path,
    document: &Spooled,
    update: &[u8],
    expected: &[u8; 32],
) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(format!("{}.pdf", hex(expected)));
    let len = document.len() + update.len() as u64;
    if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == len) {
        return Ok(());
    }
    // Sealed documents are the service's own: the folder is created 0700, the files 0600
    // (NamedTempFile's mode, kept by the rename).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < document.len() {
        let want = CHUNK.min((document.len() - offset) as usize);
        let read = document.read_at(offset, &mut buffer[..want])?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the spooled document ended early",
            ));
        }
        digest.update(&buffer[..read]);
        file.write_all(&buffer[..read])?;
        offset += read as u64;
    }
    digest.update(update);
    file.write_all(update)?;
    if digest.finish().as_ref() != expected {
        return Err(std::io::Error::other(
            "the bytes to keep do not hash to the recorded output SHA-256",
        ));
    }
    file.as_file().sync_all()?;
    file.persist(&path).map_err(|e| e.error)?;
    // The rename itself is durable once the folder is synced.
    std::fs::File::open(dir)?.sync_all()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

fn receipt(
    record: &StampingRecord,
    seal: &LoadedSeal,
    replayed: bool,
    input_size: u64,
) -> StampingReceipt {
    StampingReceipt {
        audit_sequence: record.audit_sequence,
        input_sha256: record.input_sha256.to_vec(),
        output_sha256: record.output_sha256.to_vec(),
        signing_time: record.signing_time,
        seal_id: record.seal_id.clone(),
        seal_certificate: seal.chain.end_entity_der().to_vec(),
        output_size: record.output_size,
        field_name: record.field_name.clone(),
        replayed,
        request_id: record.request_id.clone(),
        input_size,
    }
}

/// Streams the receipt, then the original bytes (unless the client asked for the update only),
/// then the update. A document held in memory is answered from a ready list of messages; a
/// spooled one is read chunk by chunk as the client takes them, so that at most a few chunks
/// are in memory.
fn respond(
    receipt: StampingReceipt,
    document: Spooled,
    update: Vec<u8>,
    returned: proto::ReturnedBytes,
) -> Response<ResponseStream> {
    let send = |part| Ok(SignDocumentResponse { part: Some(part) });
    let update = Bytes::from(update);
    // The update alone is answered as a document held in memory with no bytes of its own.
    let document = if returned == proto::ReturnedBytes::UpdateOnly {
        Ok(Vec::new())
    } else {
        document.into_memory()
    };
    let document = match document {
        Ok(bytes) => {
            let mut messages = vec![send(ResponsePart::Receipt(receipt))];
            messages.extend(
                slices(Bytes::from(bytes), CHUNK)
                    .chain(slices(update, CHUNK))
                    .map(|chunk| send(ResponsePart::Chunk(chunk))),
            );
            return Response::new(Box::pin(tokio_stream::iter(messages)));
        }
        Err(spooled) => spooled,
    };
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        if tx.send(send(ResponsePart::Receipt(receipt))).await.is_err() {
            return;
        }
        let len = document.len();
        let mut offset = 0u64;
        while offset < len {
            let mut buf = vec![0u8; CHUNK.min((len - offset) as usize)];
            let read = match document.read_at(offset, &mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx
                        .send(Err(Status::internal("the spooled document could not be read back")))
                        .await;
                    return;
                }
                Ok(n) => n,
            };
            buf.truncate(read);
            offset += read as u64;
            if tx.send(send(ResponsePart::Chunk(Bytes::from(buf)))).await.is_err() {
                return;
            }
        }
        for chunk in slices(update, CHUNK) {
            if tx.send(send(ResponsePart::Chunk(chunk))).await.is_err() {
                return;
            }
        }
    });
    Response::new(Box::pin(ReceiverStream::new(rx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records written before the reserve was stored read as "no reserve recorded" (replayed
    /// with the old timestamp room); new ones keep theirs.
    #[test]
    fn stored_options_read_old_records_and_keep_the_reserve()
    -> Result<(), Box<dyn std::error::Error>> {
        let old = r#"{"page":-1,"rect":null,"reason":"","location":"","contact_info":"","certify":false,"field_name":"","signing_time":1795000000}"#;
        let parsed: StoredOptions = serde_json::from_str(old)?;
        assert_eq!(parsed.contents_size, None);
        let header = SignHeader { seal_id: "s".into(), ..Default::default() };
        let new =
            StoredOptions::from_header(&header, 1_795_000_000, 2_345).map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&new)?;
        assert!(json.contains(r#""contents_size":2345"#), "{json}");
        assert_eq!(serde_json::from_str::<StoredOptions>(&json)?, new);
        Ok(())
    }
}
