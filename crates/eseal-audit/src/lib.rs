//! The audit trail's records: every event of the service as one record in canonical JSON
//! (RFC 8785), so that anyone can recompute its hash years later. No I/O of its own: the store
//! assigns sequence numbers and keeps the bytes.
//!
//! The tamper-evident part: [`merkle`] holds the RFC 9162 Merkle tree over the records' bytes
//! with its inclusion and consistency proofs, [`checkpoint`] signs tree heads as C2SP
//! checkpoints with the log's Ed25519 key, and [`proof`] is the self-contained proof file an
//! archivist checks offline.
//!
//! ```
//! use eseal_audit::{AuditEvent, AuditRecord, EventKind, leaf_hash, verify_inclusion};
//!
//! let event = AuditEvent::new(EventKind::SealSuspended, "custodian");
//! let record = AuditRecord { sequence: 0, time: 1_800_000_000, origin: "example/log".into(), event };
//! let leaf = leaf_hash(&record.to_canonical_json());
//! // A log of one record: its root is the record's leaf hash, proved by an empty path.
//! assert!(verify_inclusion(&leaf, 0, 1, &[], &leaf));
//! ```

mod canonical;
mod checkpoint;
mod error;
mod log_check;
pub mod merkle;
mod proof;

pub use canonical::canonical_json;
pub use checkpoint::{Checkpoint, ExternalEd25519, LogSigner, LogVerifier, key_id};
pub use error::AuditError;
pub use log_check::{LogReport, check_log};
pub use merkle::{
    Hash, HashStore, MemoryStore, MerkleTree, NodeMap, leaf_hash, verify_consistency,
    verify_inclusion,
};
pub use proof::{CheckedProof, ProofFile};

use serde::{Deserialize, Serialize};

/// The format version written into every record.
pub const RECORD_VERSION: u32 = 1;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A seal was registered.
    SealRegistered,
    /// A seal was suspended.
    SealSuspended,
    /// A seal was resumed.
    SealResumed,
    /// A seal was revoked.
    SealRevoked,
    /// A custodian granted an authorization.
    AuthorizationGranted,
    /// A custodian revoked an authorization.
    AuthorizationRevoked,
    /// A stamping consumed an authorization.
    AuthorizationConsumed,
    /// A document was sealed.
    DocumentSealed,
    /// A call was refused; `reason` says why.
    CallRefused,
    /// Refusals beyond the audit rate limit, counted instead of recorded one by one: `count`
    /// of them between `interval_start` and `interval_end`, by `principal` (or from `peer`).
    RefusalsSummarized,
    /// A checkpoint of the log was signed.
    CheckpointSigned,
}

impl EventKind {
    /// The event's name as written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SealRegistered => "seal_registered",
            EventKind::SealSuspended => "seal_suspended",
            EventKind::SealResumed => "seal_resumed",
            EventKind::SealRevoked => "seal_revoked",
            EventKind::AuthorizationGranted => "authorization_granted",
            EventKind::AuthorizationRevoked => "authorization_revoked",
            EventKind::AuthorizationConsumed => "authorization_consumed",
            EventKind::DocumentSealed => "document_sealed",
            EventKind::CallRefused => "call_refused",
            EventKind::RefusalsSummarized => "refusals_summarized",
            EventKind::CheckpointSigned => "checkpoint_signed",
        }
    }
}

/// An event as the service reports it, before the log numbers it. Fields that do not apply
/// stay `None`. No personal data beyond principal names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// What happened.
    pub event: Option<EventKind>,
    /// The acting principal (the caller), or `anonymous` when none could be identified.
    pub principal: String,
    /// The seal concerned.
    pub seal_id: Option<String>,
    /// The authorization concerned.
    pub authorization_id: Option<String>,
    /// The client's request id.
    pub request_id: Option<String>,
    /// The case number.
    pub case_number: Option<String>,
    /// SHA-256 of the input document (hex).
    pub input_sha256: Option<String>,
    /// SHA-256 of the output document (hex).
    pub output_sha256: Option<String>,
    /// SHA-256 fingerprint of the seal certificate (hex).
    pub seal_certificate_sha256: Option<String>,
    /// The gRPC method, for refusals.
    pub method: Option<String>,
    /// Why a call was refused, or why a state changed.
    pub reason: Option<String>,
    /// The caller's network address, for refusals (`ip:port`; an IP alone in summaries).
    /// Absent from records written before it existed: a field that is `None` is not written,
    /// so those records read back and hash as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// How many refusals a summary stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// A summary's first refusal (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_start: Option<i64>,
    /// A summary's last refusal (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_end: Option<i64>,
}

impl AuditEvent {
    /// An event of `kind` by `principal`.
    pub fn new(kind: EventKind, principal: impl Into<String>) -> Self {
        AuditEvent { event: Some(kind), principal: principal.into(), ..Default::default() }
    }
}

/// A numbered record of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the log, from 1, without gaps.
    pub sequence: u64,
    /// When it was appended (Unix seconds, UTC).
    pub time: i64,
    /// The log's origin (its name, as in its checkpoints).
    pub origin: String,
    /// What happened.
    pub event: AuditEvent,
}

impl AuditRecord {
    /// The record's canonical JSON (RFC 8785): the bytes that are stored and hashed.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        let mut value = serde_json::to_value(&self.event).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut value {
            map.retain(|_, v| !v.is_null());
            map.insert("version".into(), RECORD_VERSION.into());
            map.insert("origin".into(), self.origin.clone().into());
            map.insert("sequence".into(), self.sequence.into());
            map.insert("time".into(), self.time.into());
        }
        canonical_json(&value)
    }

    /// Reads a record back from its canonical JSON.
    pub fn from_json(bytes: &[u8]) -> Result<AuditRecord, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let field = |name: &str| value.get(name).ok_or_else(|| format!("the record has no {name}"));
        let sequence = field("sequence")?.as_u64().ok_or("sequence is not a number")?;
        let time = field("time")?.as_i64().ok_or("time is not a number")?;
        let origin = field("origin")?.as_str().ok_or("origin is not text")?.to_string();
        let version = field("version")?.as_u64().ok_or("version is not a number")?;
        if version != u64::from(RECORD_VERSION) {
            return Err(format!("unknown record version {version}"));
        }
        let event: AuditEvent =
            serde_json::from_value(value.clone()).map_err(|e| format!("bad event fields: {e}"))?;
        Ok(AuditRecord { sequence, time, origin, event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_canonical_and_read_back() {
        let mut event = AuditEvent::new(EventKind::DocumentSealed, "approval-system");
        event.seal_id = Some("approval-ec".into());
        event.case_number = Some("审批-2026-001".into());
        let record = AuditRecord {
            sequence: 7,
            time: 1_800_000_000,
            origin: "eseal.example/log".into(),
            event,
        };
        let json = record.to_canonical_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert_eq!(
            text,
            r#"{"case_number":"审批-2026-001","event":"document_sealed","origin":"eseal.example/log","principal":"approval-system","seal_id":"approval-ec","sequence":7,"time":1800000000,"version":1}"#
        );
        assert_eq!(AuditRecord::from_json(&json).unwrap(), record);
    }

    #[test]
    fn records_without_the_peer_fields_read_back_byte_for_byte() {
        // A refusal as written before `peer`, `count` and the interval existed.
        let old = br#"{"event":"call_refused","method":"ListSeals","origin":"eseal.local/audit","principal":"anonymous","reason":"Unauthenticated: no client certificate","sequence":3,"time":1800000000,"version":1}"#;
        let record = AuditRecord::from_json(old).unwrap();
        assert_eq!(record.event.peer, None);
        assert_eq!(record.to_canonical_json(), old.to_vec(), "the same bytes, so the same hash");

        let mut event = AuditEvent::new(EventKind::RefusalsSummarized, "anonymous");
        event.peer = Some("192.0.2.7".into());
        event.count = Some(280);
        event.interval_start = Some(1_800_000_000);
        event.interval_end = Some(1_800_000_009);
        let record = AuditRecord {
            sequence: 4,
            time: 1_800_000_010,
            origin: "eseal.local/audit".into(),
            event,
        };
        let json = record.to_canonical_json();
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            r#"{"count":280,"event":"refusals_summarized","interval_end":1800000009,"interval_start":1800000000,"origin":"eseal.local/audit","peer":"192.0.2.7","principal":"anonymous","sequence":4,"time":1800000010,"version":1}"#
        );
        assert_eq!(AuditRecord::from_json(&json).unwrap(), record);
    }
}
