//! AuditService: records, signed checkpoints and proofs for archivists. Proofs are only given
//! against checkpointed sizes, so that every proof ends in a signature.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::Subject;
use super::limits::Bounded;
use super::proto::audit_service_server::AuditService;
use super::proto::{
    AuditRecordBytes, CheckpointResponse, ConsistencyProofResponse, GetCheckpointRequest,
    GetConsistencyProofRequest, GetInclusionProofRequest, GetRecordsRequest, GetRecordsResponse,
    InclusionProofResponse,
};
use crate::auth::{Principal, Role};
use crate::service::{ServiceError, ServiceState};
use crate::store::StoredCheckpoint;
use eseal_audit::ProofFile;
use eseal_encoding::civil_time::now;

/// The audit service.
pub struct Audit {
    state: Arc<ServiceState>,
}

impl Audit {
    /// The service over shared state.
    pub fn new(state: Arc<ServiceState>) -> Self {
        Self { state }
    }

    /// Authenticates, requires the archivist role, runs `body`; refusals are audited.
    async fn call<T: Bounded, R>(
        &self,
        method: &'static str,
        request: Request<T>,
        body: impl AsyncFnOnce(&ServiceState, T) -> Result<R, ServiceError>,
    ) -> Result<Response<R>, Status> {
        let principal: Principal = super::authentication::principal(&request)?;
        self.state.require(&principal, Role::Archivist, None, method).await?;
        if let Err(e) = request.get_ref().check_bounds() {
            return Err(self.state.refuse(&principal.name, method, e, Subject::default()).await);
        }
        let span = tracing::info_span!("rpc", method, principal = %principal.name);
        match body(&self.state, request.into_inner()).instrument(span).await {
            Ok(reply) => Ok(Response::new(reply)),
            Err(e) => Err(self.state.refuse(&principal.name, method, e, Subject::default()).await),
        }
    }
}

/// Record bytes in one GetRecords answer (beyond its first record): the answer stays under
/// gRPC's default 4 MiB message limit whatever the records hold.
pub const GET_RECORDS_MAX_BYTES: u64 = 3 << 20;

/// The checkpoint of exactly `size`, or of the latest when `size` is 0.
async fn checkpointed(state: &ServiceState, size: u64) -> Result<StoredCheckpoint, ServiceError> {
    let found = if size == 0 {
        state.store.latest_checkpoint().await?
    } else {
        state.store.checkpoint(size).await?
    };
    found.ok_or_else(|| {
        ServiceError::FailedPrecondition(if size == 0 {
            "no checkpoint has been signed yet; ask GetCheckpoint with sign_now".into()
        } else {
            format!("tree size {size} is not checkpointed: proofs are given only against signed checkpoints (see checkpointed_sizes)")
        })
    })
}

async fn record(state: &ServiceState, sequence: u64) -> Result<AuditRecordBytes, ServiceError> {
    let found = state.store.audit_records(sequence, 1).await?;
    match found.into_iter().next() {
        Some((s, record)) if s == sequence => Ok(AuditRecordBytes { sequence, record }),
        _ => Err(ServiceError::NotFound { what: "audit record", id: sequence.to_string() }),
    }
}

#[tonic::async_trait]
impl AuditService for Audit {
    async fn get_checkpoint(
        &self,
        request: Request<GetCheckpointRequest>,
    ) -> Result<Response<CheckpointResponse>, Status> {
        self.call("GetCheckpoint", request, async |state, r| {
            let latest = if r.sign_now {
                state
                    .checkpoints
                    .sign_if_grown(now())
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))?
            } else {
                state.store.latest_checkpoint().await?
            };
            let latest = latest.ok_or_else(|| {
                ServiceError::FailedPrecondition(
                    "no checkpoint has been signed yet; ask with sign_now".into(),
                )
            })?;
            let sizes = state.store.checkpoints().await?.into_iter().map(|c| c.size).collect();
            Ok(CheckpointResponse {
                note: latest.note,
                size: latest.size,
                root: latest.root.to_vec(),
                verifier_key: state.checkpoints.verifier_key(),
                checkpointed_sizes: sizes,
                checkpoint_interval_ms: state.settings.checkpoint_interval_ms,
            })
        })
        .await
    }

    async fn get_records(
        &self,
        request: Request<GetRecordsRequest>,
    ) -> Result<Response<GetRecordsResponse>, Status> {
        self.call("GetRecords", request, async |state, r| {
            let limit = match r.limit {
                0 => 1000,
                n if n <= 10_000 => n,
                n => return Err(ServiceError::InvalidArgument(format!("limit {n} is over 10000"))),
            };
            let records = state
                .store
                .audit_records_within(r.from_sequence.max(1), limit, GET_RECORDS_MAX_BYTES)
                .await?;
            Ok(GetRecordsResponse {
                records: records
                    .into_iter()
                    .map(|(sequence, record)| AuditRecordBytes { sequence, record })
                    .collect(),
                log_size: state.store.audit_len().await?,
            })
        })
        .await
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<GetInclusionProofRequest>,
    ) -> Result<Response<InclusionProofResponse>, Status> {
        self.call("GetInclusionProof", request, async |state, r| {
            let checkpoint = checkpointed(state, r.tree_size).await?;
            if r.sequence == 0 || r.sequence > checkpoint.size {
                return Err(ServiceError::InvalidArgument(format!(
                    "record {} is not in the checkpointed tree of {} records",
                    r.sequence, checkpoint.size
                )));
            }
            let record = record(state, r.sequence).await?;
            let proof = state.store.inclusion_proof(r.sequence, checkpoint.size).await?;
            let file = ProofFile {
                record: record.record.clone(),
                sequence: r.sequence,
                tree_size: checkpoint.size,
                inclusion_proof: proof.clone(),
                checkpoint: checkpoint.note.clone(),
            };
            Ok(InclusionProofResponse {
                record: Some(record),
                tree_size: checkpoint.size,
                proof: proof.iter().map(|h| h.to_vec()).collect(),
                checkpoint: checkpoint.note,
                proof_file: file.to_json(),
            })
        })
        .await
    }

    async fn get_consistency_proof(
        &self,
        request: Request<GetConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProofResponse>, Status> {
        self.call("GetConsistencyProof", request, async |state, r| {
            let new = checkpointed(state, r.new_size).await?;
            if r.old_size == 0 {
                return Err(ServiceError::InvalidArgument(
                    "old_size must be a checkpointed size (1 or more)".into(),
                ));
            }
            let old = checkpointed(state, r.old_size).await?;
            if old.size > new.size {
                return Err(ServiceError::InvalidArgument(format!(
                    "old_size {} is larger than new_size {}",
                    old.size, new.size
                )));
            }
            let proof = if old.size == new.size {
                Vec::new()
            } else {
                state.store.consistency_proof(old.size, new.size).await?
            };
            Ok(ConsistencyProofResponse {
                proof: proof.iter().map(|h| h.to_vec()).collect(),
                old_checkpoint: old.note,
                new_checkpoint: new.note,
            })
        })
        .await
    }

    type ExportArchiveStream = std::pin::Pin<
        Box<
            dyn tokio_stream::Stream<Item = Result<super::proto::ExportArchiveResponse, Status>>
                + Send
                + 'static,
        >,
    >;

    async fn export_archive(
        &self,
        request: Request<super::proto::ExportArchiveRequest>,
    ) -> Result<Response<Self::ExportArchiveStream>, Status> {
        use super::proto::export_archive_response::Part;
        use super::proto::{ArchiveChunk, ArchiveSummary, BagInfoField, ExportArchiveResponse};
        use crate::archive::export::{self, ExportError, ExportItem, ExportRequest};
        use tokio_stream::StreamExt;
        fn api(e: ExportError) -> ServiceError {
            match e {
                ExportError::InvalidArgument(m) => ServiceError::InvalidArgument(m),
                ExportError::FailedPrecondition(m) => ServiceError::FailedPrecondition(m),
                ExportError::Store(e) => ServiceError::Store(e),
                ExportError::Internal(m) => ServiceError::Internal(m),
                ExportError::Cancelled => ServiceError::Cancelled,
            }
        }
        self.call("ExportArchive", request, async |state, r| {
            let asked = ExportRequest {
                from: r.from_time,
                to: r.to_time,
                previous_tree_size: r.previous_tree_size,
            };
            let plan = export::plan(state.store.as_ref(), &state.checkpoints, asked, now())
                .await
                .map_err(api)?;
            tracing::info!(
                first = plan.first,
                last = plan.last,
                tree_size = plan.checkpoint.size,
                "archive export"
            );
            let (tx, rx) = tokio::sync::mpsc::channel(8);
            tokio::spawn(export::stream(
                Arc::clone(&state.store),
                plan,
                state.settings.keep_documents_dir.clone(),
                now(),
                tx,
            ));
            let answers = tokio_stream::wrappers::ReceiverStream::new(rx).map(|item| {
                let part = match item.map_err(|e| Status::from(api(e)))? {
                    ExportItem::Piece { path, data, end_of_file } => {
                        Part::Chunk(ArchiveChunk { path, data, end_of_file })
                    }
                    ExportItem::Info(fields) => Part::Summary(ArchiveSummary {
                        bag_info: fields
                            .into_iter()
                            .map(|(label, value)| BagInfoField { label, value })
                            .collect(),
                    }),
                };
                Ok(ExportArchiveResponse { part: Some(part) })
            });
            Ok(Box::pin(answers) as Self::ExportArchiveStream)
        })
        .await
    }
}
