//! The self-contained proof file of `eseal audit prove SEQ -o FILE`: one record, its inclusion
//! proof and the signed checkpoint it is proved against, checkable offline with nothing but
//! the log's verifier key (`eseal audit check-proof FILE --log-key KEY`).
//!
//! The file is JSON:
//!
//! ```json
//! {
//!   "record": "<base64 of the record's canonical JSON bytes>",
//!   "sequence": 42,
//!   "tree_size": 1000,
//!   "inclusion_proof": ["<base64 hash>", "..."],
//!   "checkpoint": "<the signed checkpoint note>"
//! }
//! ```
//!
//! Sequence numbers start at 1, so record `sequence` is leaf `sequence - 1` of the tree.

use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoint, LogVerifier};
use super::merkle::{Hash, leaf_hash, verify_inclusion};
use super::{AuditError, AuditRecord};
use eseal_encoding::base64;

/// A record with its inclusion proof in a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofFile {
    /// The record's bytes as the log stores and hashes them (canonical JSON).
    pub record: Vec<u8>,
    /// The record's sequence number (from 1).
    pub sequence: u64,
    /// The tree size the proof is for: the checkpoint's size.
    pub tree_size: u64,
    /// The RFC 9162 inclusion proof of leaf `sequence - 1` in the tree of `tree_size`.
    pub inclusion_proof: Vec<Hash>,
    /// The signed checkpoint note (C2SP tlog-checkpoint in a signed-note).
    pub checkpoint: String,
}

/// What a successful check established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedProof {
    /// The record, read from its bytes.
    pub record: AuditRecord,
    /// The signed checkpoint the record is included in.
    pub checkpoint: Checkpoint,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofFileJson {
    record: String,
    sequence: u64,
    tree_size: u64,
    inclusion_proof: Vec<String>,
    checkpoint: String,
}

impl ProofFile {
    /// The file's JSON text (pretty-printed, ending in a newline).
    pub fn to_json(&self) -> String {
        let json = ProofFileJson {
            record: base64::encode(&self.record),
            sequence: self.sequence,
            tree_size: self.tree_size,
            inclusion_proof: self.inclusion_proof.iter().map(|h| base64::encode(h)).collect(),
            checkpoint: self.checkpoint.clone(),
        };
        // Serialising strings and integers cannot fail.
        let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a proof file. Unknown fields, bad base64 and hashes of the wrong length are
    /// errors; nothing is verified yet (see [`ProofFile::check`]).
    pub fn from_json(bytes: &[u8]) -> Result<ProofFile, AuditError> {
        let json: ProofFileJson = serde_json::from_slice(bytes)
            .map_err(|e| AuditError::MalformedProofFile(e.to_string()))?;
        let record = base64::decode(&json.record)
            .map_err(|e| AuditError::MalformedProofFile(format!("record: {e}")))?;
        let mut inclusion_proof = Vec::with_capacity(json.inclusion_proof.len());
        for (i, text) in json.inclusion_proof.iter().enumerate() {
            let bytes = base64::decode(text).map_err(|e| {
                AuditError::MalformedProofFile(format!("inclusion_proof[{i}]: {e}"))
            })?;
            let hash: Hash = bytes.try_into().map_err(|_| {
                AuditError::MalformedProofFile(format!(
                    "inclusion_proof[{i}] is not a 32-byte hash"
                ))
            })?;
            inclusion_proof.push(hash);
        }
        Ok(ProofFile {
            record,
            sequence: json.sequence,
            tree_size: json.tree_size,
            inclusion_proof,
            checkpoint: json.checkpoint,
        })
    }

    /// Checks the file against the log's verifier key:
    /// 1. the checkpoint note is signed by the log key ([`LogVerifier::verify_note`]);
    /// 2. the file's tree size is the checkpoint's size;
    /// 3. the record's leaf hash, at leaf `sequence - 1`, is included in the checkpointed tree
    ///    (the inclusion proof leads to the signed root);
    /// 4. the record reads as an audit record whose own `sequence` is the file's and whose
    ///    `origin` is the checkpoint's.
    pub fn check(&self, verifier: &LogVerifier) -> Result<CheckedProof, AuditError> {
        let checkpoint = verifier.verify_note(&self.checkpoint)?;
        if self.tree_size != checkpoint.size {
            return Err(AuditError::CheckpointSizeMismatch {
                proof: self.tree_size,
                checkpoint: checkpoint.size,
            });
        }
        let not_included =
            AuditError::NotIncluded { sequence: self.sequence, size: checkpoint.size };
        let Some(index) = self.sequence.checked_sub(1) else {
            return Err(not_included);
        };
        if !verify_inclusion(
            &leaf_hash(&self.record),
            index,
            checkpoint.size,
            &self.inclusion_proof,
            &checkpoint.root,
        ) {
            return Err(not_included);
        }
        let record = AuditRecord::from_json(&self.record).map_err(AuditError::BadRecord)?;
        if record.sequence != self.sequence {
            return Err(AuditError::SequenceMismatch {
                record: record.sequence,
                file: self.sequence,
            });
        }
        if record.origin != checkpoint.origin {
            return Err(AuditError::OriginMismatch {
                record: record.origin,
                checkpoint: checkpoint.origin,
            });
        }
        Ok(CheckedProof { record, checkpoint })
    }
}
