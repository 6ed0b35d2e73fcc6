//! The service's side of an archive export: which records a time range holds, under which
//! signed checkpoint, and the bag's payload files one piece at a time. It reads through the
//! [`Store`] trait and signs through the [`Checkpointer`]; the gRPC handler only forwards the
//! pieces, and the client writes the bag ([`super::bag::BagWriter`]).
//!
//! The range: the records from the first whose time is at or after `from` to the last whose
//! time is before `to`, every record in between included (so the sequence is contiguous even
//! when concurrent appends carry times a second out of order), and none beyond the signed
//! checkpoint. The record just before and the one just after are included with their proofs
//! as the boundary: they show, under the log's signature, that nothing was cut at either end.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::layout::{self, ConsistencyFile, certificates_pem, is_portable_seal_id, is_sha256_hex};
use super::time::{format_date, format_rfc3339};
use crate::checkpoints::Checkpointer;
use crate::store::{Store, StoreError, StoredCheckpoint};
use eseal_audit::{AuditRecord, EventKind, ProofFile};

/// Largest piece of a file sent at once.
pub const PIECE: usize = 1 << 20;
/// Records read per store query.
const PAGE: u32 = 1000;

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportRequest {
    /// Start of the range, Unix seconds, inclusive.
    pub from: i64,
    /// End of the range, Unix seconds, exclusive.
    pub to: i64,
    /// A checkpointed tree size of a previous export (0: none): the bag then proves the log
    /// consistent with it.
    pub previous_tree_size: u64,
}

/// Why an export cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The log does not allow it (nothing in range, an unsigned previous size).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else failed (signing a checkpoint, a kept document unreadable).
    #[error("{0}")]
    Internal(String),
    /// The receiver went away.
    #[error("the export was cancelled")]
    Cancelled,
}

/// What a bag will hold, fixed before anything is sent.
#[derive(Clone, Debug)]
pub struct ExportPlan {
    /// The request.
    pub request: ExportRequest,
    /// The log's origin.
    pub origin: String,
    /// The first record.
    pub first: u64,
    /// The last record.
    pub last: u64,
    /// The signed checkpoint every proof is against.
    pub checkpoint: StoredCheckpoint,
    /// The consistency proof from the previous export's checkpoint.
    pub consistency: Option<ConsistencyFile>,
}

/// One item of the export: a piece of a payload file, or, last, the bag-info fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportItem {
    /// Bytes of the file at `path` (relative to the bag: `data/...`); a file's pieces come in
    /// order, and its last piece has `end_of_file`.
    Piece {
        /// The file.
        path: String,
        /// The bytes.
        data: Vec<u8>,
        /// Whether the file ends with this piece.
        end_of_file: bool,
    },
    /// The bag-info fields (without Payload-Oxum, which the writer computes); the export is
    /// complete only when they arrived.
    Info(Vec<(String, String)>),
}

#[derive(Deserialize)]
struct Timed {
    time: i64,
}

fn time_of(bytes: &[u8]) -> Option<i64> {
    serde_json::from_slice::<Timed>(bytes).ok().map(|t| t.time)
}

/// Whether a record from `from_sequence` to `to_sequence` has its time in the range.
async fn any_in_range(
    store: &dyn Store,
    from_sequence: u64,
    to_sequence: u64,
    request: &ExportRequest,
) -> Result<bool, StoreError> {
    let mut next = from_sequence;
    while next <= to_sequence {
        let page = store.audit_records(next, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for (sequence, bytes) in &page {
            if *sequence > to_sequence {
                return Ok(false);
            }
            if time_of(bytes).is_some_and(|t| t >= request.from && t < request.to) {
                return Ok(true);
            }
        }
        next = page.last().map(|(s, _)| s + 1).unwrap_or(to_sequence + 1);
    }
    Ok(false)
}

/// (first, last) of the range among records 1 to `size`: the first whose time is at or after
/// `from`, the last whose time is before `to`.
async fn find_range(
    store: &dyn Store,
    size: u64,
    request: &ExportRequest,
) -> Result<Option<(u64, u64)>, StoreError> {
    let (mut first, mut last) = (None, None);
    let mut next = 1;
    while next <= size {
        let page = store.audit_records(next, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for (sequence, bytes) in &page {
            if *sequence > size {
                break;
            }
            let time = time_of(bytes).unwrap_or(i64::MIN);
            if first.is_none() && time >= request.from {
                first = Some(*sequence);
            }
            if time < request.to {
                last = Some(*sequence);
            }
        }
        next = page.last().map(|(s, _)| s + 1).unwrap_or(size + 1);
    }
    Ok(match (first, last) {
        (Some(f), Some(l)) if f <= l => Some((f, l)),
        _ => None,
    })
}

/// Checks the request and fixes what the bag holds. When records of the range are not under
/// the latest checkpoint, a new one is signed first (at `now`).
pub async fn plan(
    store: &dyn Store,
    checkpoints: &Checkpointer,
    request: ExportRequest,
    now: i64,
) -> Result<ExportPlan, ExportError> {
    if request.from >= request.to {
        return Err(ExportError::InvalidArgument(format!(
            "the range [{}, {}) is empty: from_time must be before to_time",
            format_rfc3339(request.from),
            format_rfc3339(request.to)
        )));
    }
    let len = store.audit_len().await?;
    let mut latest = store.latest_checkpoint().await?;
    let covered = latest.as_ref().map_or(0, |c| c.size);
    if covered < len && any_in_range(store, covered + 1, len, &request).await? {
        latest = checkpoints.sign_if_grown(now).await.map_err(|e| {
            ExportError::Internal(format!("cannot sign a checkpoint for the export: {e}"))
        })?;
    }
    let range = |size| {
        format!(
            "no record of the signed log of {size} records has its time in [{}, {})",
            format_rfc3339(request.from),
            format_rfc3339(request.to)
        )
    };
    let checkpoint = latest.ok_or_else(|| ExportError::FailedPrecondition(range(0)))?;
    let (first, last) = find_range(store, checkpoint.size, &request)
        .await?
        .ok_or_else(|| ExportError::FailedPrecondition(range(checkpoint.size)))?;
    let origin = checkpoint.note.lines().next().unwrap_or_default().to_string();
    let consistency = match request.previous_tree_size {
        0 => None,
        old_size if old_size > checkpoint.size => {
            return Err(ExportError::InvalidArgument(format!(
                "previous_tree_size {old_size} is larger than the latest checkpoint ({} records)",
                checkpoint.size
            )));
        }
        old_size => {
            let old = store.checkpoint(old_size).await?.ok_or_else(|| {
                ExportError::FailedPrecondition(format!(
                    "previous_tree_size {old_size} is not a checkpointed size: give the tree size of the previous export's checkpoint"
                ))
            })?;
            let proof = if old.size == checkpoint.size {
                Vec::new()
            } else {
                store.consistency_proof(old.size, checkpoint.size).await?
            };
            Some(ConsistencyFile {
                old_size,
                new_size: checkpoint.size,
                proof,
                old_checkpoint: old.note,
                new_checkpoint: checkpoint.note.clone(),
            })
        }
    };
    Ok(ExportPlan { request, origin, first, last, checkpoint, consistency })
}

struct Sender<'a> {
    tx: &'a mpsc::Sender<Result<ExportItem, ExportError>>,
}

impl Sender<'_> {
    async fn piece(
        &self,
        path: String,
        data: Vec<u8>,
        end_of_file: bool,
    ) -> Result<(), ExportError> {
        self.tx
            .send(Ok(ExportItem::Piece { path, data, end_of_file }))
            .await
            .map_err(|_| ExportError::Cancelled)
    }

    /// A whole file, in pieces of at most [`PIECE`] bytes.
    async fn file(&self, path: String, data: Vec<u8>) -> Result<(), ExportError> {
        if data.len() <= PIECE {
            return self.piece(path, data, true).await;
        }
        let count = data.len().div_ceil(PIECE);
        for (i, piece) in data.chunks(PIECE).enumerate() {
            self.piece(path.clone(), piece.to_vec(), i + 1 == count).await?;
        }
        Ok(())
    }
}

/// Sends the bag's payload files, then its bag-info fields, through `tx`; an error is sent as
/// the last item. `documents_dir` is the service's folder of kept sealed documents.
pub async fn stream(
    store: Arc<dyn Store>,
    plan: ExportPlan,
    documents_dir: Option<PathBuf>,
    now: i64,
    tx: mpsc::Sender<Result<ExportItem, ExportError>>,
) {
    match send_all(store.as_ref(), &plan, documents_dir, now, &tx).await {
        Ok(()) | Err(ExportError::Cancelled) => {}
        Err(e) => {
            tracing::error!(error = %e, "archive export failed");
            let _ = tx.send(Err(e)).await;
        }
    }
}

async fn proof_file(
    store: &dyn Store,
    sequence: u64,
    record: Vec<u8>,
    checkpoint: &StoredCheckpoint,
) -> Result<String, ExportError> {
    let inclusion_proof = store.inclusion_proof(sequence, checkpoint.size).await?;
    Ok(ProofFile {
        record,
        sequence,
        tree_size: checkpoint.size,
        inclusion_proof,
        checkpoint: checkpoint.note.clone(),
    }
    .to_json())
}

async fn one_record(store: &dyn Store, sequence: u64) -> Result<Vec<u8>, ExportError> {
    match store.audit_records(sequence, 1).await?.into_iter().next() {
        Some((s, bytes)) if s == sequence => Ok(bytes),
        _ => Err(ExportError::Internal(format!("record {sequence} is missing from the store"))),
    }
}

async fn send_all(
    store: &dyn Store,
    plan: &ExportPlan,
    documents_dir: Option<PathBuf>,
    now: i64,
    tx: &mpsc::Sender<Result<ExportItem, ExportError>>,
) -> Result<(), ExportError> {
    let out = Sender { tx };
    let checkpoint = &plan.checkpoint;
    let mut seal_ids = BTreeSet::new();
    // output SHA-256 -> the sequence of its document_sealed record.
    let mut outputs = std::collections::BTreeMap::new();

    let mut next = plan.first;
    while next <= plan.last {
        let want = u32::try_from((plan.last - next + 1).min(u64::from(PAGE))).unwrap_or(PAGE);
        let page = store.audit_records(next, want).await?;
        if page.is_empty() {
            return Err(ExportError::Internal(format!("record {next} is missing from the store")));
        }
        for (sequence, bytes) in page {
            if sequence != next {
                return Err(ExportError::Internal(format!(
                    "the store returned record {sequence} where record {next} was expected"
                )));
            }
            if let Ok(record) = AuditRecord::from_json(&bytes) {
                if let Some(seal) = record.event.seal_id {
                    seal_ids.insert(seal);
                }
                if record.event.event == Some(EventKind::DocumentSealed) {
                    if let Some(output) = record.event.output_sha256 {
                        outputs.entry(output).or_insert(sequence);
                    }
                }
            }
            let proof = proof_file(store, sequence, bytes.clone(), checkpoint).await?;
            out.file(layout::record_path(sequence), bytes).await?;
            out.file(layout::proof_path(sequence), proof.into_bytes()).await?;
            next += 1;
        }
    }

    if plan.first > 1 {
        let before = plan.first - 1;
        let proof = proof_file(store, before, one_record(store, before).await?, checkpoint).await?;
        out.file(layout::BEFORE_PATH.into(), proof.into_bytes()).await?;
    }
    if plan.last < checkpoint.size {
        let after = plan.last + 1;
        let proof = proof_file(store, after, one_record(store, after).await?, checkpoint).await?;
        out.file(layout::AFTER_PATH.into(), proof.into_bytes()).await?;
    }
    out.file(layout::CHECKPOINT_PATH.into(), checkpoint.note.clone().into_bytes()).await?;
    if let Some(consistency) = &plan.consistency {
        out.file(layout::CONSISTENCY_PATH.into(), consistency.to_json().into_bytes()).await?;
    }

    // Seals: those the records name that exist (refusals may name any string).
    let mut organizations = BTreeSet::new();
    let mut seals = 0u64;
    for id in seal_ids.iter().filter(|id| is_portable_seal_id(id)) {
        if let Some(seal) = store.seal(id).await? {
            organizations.insert(seal.organization.clone());
            out.file(
                layout::seal_chain_path(id),
                certificates_pem(&seal.certificate_chain).into_bytes(),
            )
            .await?;
            out.file(layout::seal_image_path(id), seal.image_png).await?;
            seals += 1;
        }
    }

    // Sealed documents the service kept.
    let mut documents = 0u64;
    let kept = documents_dir.is_some();
    let mut not_kept = String::new();
    if let Some(dir) = documents_dir {
        for (hex, sequence) in outputs.iter().filter(|(h, _)| is_sha256_hex(h)) {
            let path = dir.join(format!("{hex}.pdf"));
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    not_kept.push_str(&format!("{hex} {sequence}\n"));
                    continue;
                }
                Err(e) => {
                    return Err(ExportError::Internal(format!(
                        "kept document {} cannot be read: {e}",
                        path.display()
                    )));
                }
            };
            let bag_path = layout::document_path(hex);
            let read_error = |e: std::io::Error| {
                ExportError::Internal(format!(
                    "kept document {} cannot be read: {e}",
                    path.display()
                ))
            };
            let mut buffer = vec![0u8; PIECE];
            let mut pending: Option<Vec<u8>> = None;
            loop {
                let mut filled = 0;
                while filled < PIECE {
                    let n = file.read(&mut buffer[filled..]).await.map_err(read_error)?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                if filled == 0 {
                    break;
                }
                if let Some(previous) = pending.take() {
                    out.piece(bag_path.clone(), previous, false).await?;
                }
                pending = Some(buffer[..filled].to_vec());
                if filled < PIECE {
                    break;
                }
            }
            out.piece(bag_path, pending.unwrap_or_default(), true).await?;
            documents += 1;
        }
    }
    if !not_kept.is_empty() {
        out.file(layout::NOT_KEPT_PATH.into(), not_kept.into_bytes()).await?;
    }

    let request = &plan.request;
    let (from, to) = (format_rfc3339(request.from), format_rfc3339(request.to));
    let source = if organizations.is_empty() {
        plan.origin.clone()
    } else {
        organizations.into_iter().collect::<Vec<_>>().join("; ")
    };
    let mut description = format!(
        "Audit records {}-{} of the eseal log {} with time in [{from}, {to}), each with its inclusion proof in the signed checkpoint of {} records",
        plan.first, plan.last, plan.origin, checkpoint.size
    );
    if let Some(c) = &plan.consistency {
        description.push_str(&format!(
            ", a consistency proof from the checkpoint of {} records",
            c.old_size
        ));
    }
    description.push_str(&format!(
        ", {seals} seals and {documents} sealed documents. Verify offline with: eseal archive verify <bag> --log-key <the log's verifier key, obtained from the service operator, never from the bag>"
    ));
    let mut info = vec![
        ("Source-Organization".to_string(), source),
        ("Bagging-Date".to_string(), format_date(now)),
        ("External-Description".to_string(), description),
        ("Bag-Software-Agent".to_string(), format!("eseal {}", env!("CARGO_PKG_VERSION"))),
        (layout::INFO_ORIGIN.to_string(), plan.origin.clone()),
        (layout::INFO_TREE_SIZE.to_string(), checkpoint.size.to_string()),
        (layout::INFO_FROM.to_string(), from),
        (layout::INFO_TO.to_string(), to),
        (layout::INFO_FIRST.to_string(), plan.first.to_string()),
        (layout::INFO_LAST.to_string(), plan.last.to_string()),
        (layout::INFO_DOCUMENTS_KEPT.to_string(), if kept { "yes" } else { "no" }.to_string()),
        (layout::INFO_RECORD_COUNT.to_string(), (plan.last - plan.first + 1).to_string()),
        (layout::INFO_DOCUMENT_COUNT.to_string(), documents.to_string()),
        (layout::INFO_SEAL_COUNT.to_string(), seals.to_string()),
    ];
    if let Some(c) = &plan.consistency {
        info.push((layout::INFO_PREVIOUS.to_string(), c.old_size.to_string()));
    }
    tx.send(Ok(ExportItem::Info(info))).await.map_err(|_| ExportError::Cancelled)
}
