//! SigningService: translates a SignDocument call into a stamping order for the use case
//! (crate::service::stamping) and its result into a receipt followed by the sealed bytes.

use std::sync::Arc;

use bytes::Bytes;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::Subject;
use super::limits::Bounded;
use super::proto::sign_document_request::Part as RequestPart;
use super::proto::sign_document_response::Part as ResponsePart;
use super::proto::signing_service_server::SigningService;
use super::proto::{self, SignDocumentRequest, SignDocumentResponse, SignHeader, StampingReceipt};
use crate::metrics::Outcome;
use crate::service::spool::{Spool, Spooled, slices};
use crate::service::stamping::{self, Appearance, Stamping, StampingOrder};
use crate::service::{ServiceError, ServiceState};
use eseal_pdf::{Corner, SealRect, Source, Unit};

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
                let e = ServiceError::InvalidArgument("the first message must be the header (seal_id, authorization_id, request_id, ...)".into());
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

/// The call, translated: the header into an order, the chunks into the document the use case
/// asks for, its result into the answer.
async fn sign(
    state: &ServiceState,
    principal: &crate::auth::Principal,
    header: SignHeader,
    stream: Streaming<SignDocumentRequest>,
) -> Result<Stamped, ServiceError> {
    let returned = proto::ReturnedBytes::try_from(header.returned_bytes).map_err(|_| {
        ServiceError::InvalidArgument(format!(
            "unknown returned_bytes {}: use 0 (the sealed document) or 1 (the update only)",
            header.returned_bytes
        ))
    })?;
    let order = order(header)?;
    let stamping = stamping::stamp(state, principal, &order, receive(state, stream)).await?;
    let outcome = if stamping.replayed { Outcome::Replayed } else { Outcome::Sealed };
    Ok(Stamped { response: respond(stamping, returned), outcome })
}

/// The stamping order a header makes: every id present, the placement's enums known, page 0
/// meaning the default (the first page, or the last for a rectangle).
fn order(header: SignHeader) -> Result<StampingOrder, ServiceError> {
    for (field, value) in [
        ("seal_id", &header.seal_id),
        ("authorization_id", &header.authorization_id),
        ("request_id", &header.request_id),
        ("case_number", &header.case_number),
    ] {
        if value.trim().is_empty() {
            return Err(ServiceError::InvalidArgument(format!("the header's {field} is empty")));
        }
    }
    let placement = header.placement.unwrap_or_default();
    let rect = match &placement.rect {
        None => None,
        Some(r) => {
            let unit = match proto::Unit::try_from(r.unit) {
                Ok(proto::Unit::Millimetres) => Unit::Millimetres,
                Ok(_) => Unit::Points,
                Err(_) => {
                    return Err(ServiceError::InvalidArgument(format!("unknown unit {}", r.unit)));
                }
            };
            let corner = match proto::Corner::try_from(r.corner) {
                Ok(proto::Corner::BottomRight) => Corner::BottomRight,
                Ok(proto::Corner::TopLeft) => Corner::TopLeft,
                Ok(proto::Corner::TopRight) => Corner::TopRight,
                Ok(_) => Corner::BottomLeft,
                Err(_) => {
                    return Err(ServiceError::InvalidArgument(format!(
                        "unknown corner {}",
                        r.corner
                    )));
                }
            };
            Some(SealRect { x: r.x, y: r.y, width: r.width, height: r.height, unit, corner })
        }
    };
    let page = match (placement.page, &rect) {
        (0, None) => 1,
        (0, Some(_)) => -1,
        (p, _) => p,
    };
    Ok(StampingOrder {
        seal_id: header.seal_id,
        authorization_id: header.authorization_id,
        request_id: header.request_id,
        case_number: header.case_number,
        appearance: Appearance {
            page,
            rect,
            reason: header.reason,
            location: header.location,
            contact_info: header.contact_info,
            certify: header.certify,
            field_name: header.field_name,
        },
    })
}

/// Receives the document chunks that follow the header, within the configured limit.
async fn receive(
    state: &ServiceState,
    mut stream: Streaming<SignDocumentRequest>,
) -> Result<Spooled, ServiceError> {
    let settings = &state.settings;
    let mut spool = Spool::new(settings.spool_threshold_bytes, settings.spool_directory.clone());
    while let Some(message) = stream.message().await.map_err(upload_failed)? {
        match message.part {
            Some(RequestPart::Chunk(chunk)) => {
                spool.write_within(chunk, settings.max_document_bytes)?
            }
            _ => {
                return Err(ServiceError::InvalidArgument(
                    "only document chunks may follow the header".into(),
                ));
            }
        }
    }
    if spool.is_empty() {
        return Err(ServiceError::InvalidArgument("no document was sent after the header".into()));
    }
    spool.finish().map_err(|e| ServiceError::Internal(format!("cannot spool the document: {e}")))
}

/// A broken upload: cancelled by the client, or not decodable.
pub fn upload_failed(status: Status) -> ServiceError {
    if status.code() == tonic::Code::Cancelled {
        ServiceError::Cancelled
    } else {
        ServiceError::InvalidArgument(format!("the upload failed: {}", status.message()))
    }
}

/// The receipt of a stamping, new or replayed.
fn receipt(stamping: &Stamping) -> StampingReceipt {
    let (record, seal) = (&stamping.record, &stamping.seal);
    StampingReceipt {
        audit_sequence: record.audit_sequence,
        input_sha256: record.input_sha256.to_vec(),
        output_sha256: record.output_sha256.to_vec(),
        signing_time: record.signing_time,
        seal_id: record.seal_id.clone(),
        seal_certificate: seal.chain.end_entity_der().to_vec(),
        output_size: record.output_size,
        field_name: record.field_name.clone(),
        replayed: stamping.replayed,
        request_id: record.request_id.clone(),
        input_size: stamping.document.len(),
    }
}

/// Streams the receipt, then the original bytes (unless the client asked for the update only),
/// then the update. A document held in memory is answered from a ready list of messages; a
/// spooled one is read chunk by chunk as the client takes them, so that at most a few chunks
/// are in memory.
fn respond(stamping: Stamping, returned: proto::ReturnedBytes) -> Response<ResponseStream> {
    let receipt = receipt(&stamping);
    let Stamping { document, update, .. } = stamping;
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
