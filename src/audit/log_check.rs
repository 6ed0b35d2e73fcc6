//! Checking a whole log from its records and signed checkpoints, as an archivist does without
//! trusting whoever runs the database: contiguous sequence numbers, every record readable with
//! its own sequence, every checkpoint signed by the log key and matching the tree recomputed
//! from the records, and no record outside the latest signed checkpoint.

use serde::Serialize;

use super::AuditRecord;
use super::checkpoint::LogVerifier;
use super::merkle::{MerkleTree, leaf_hash};

/// The result of checking a log.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct LogReport {
    /// Records examined.
    pub records: u64,
    /// Checkpoints whose signature and root were verified.
    pub checkpoints_verified: u64,
    /// The largest checkpointed size.
    pub latest_checkpoint: u64,
    /// Every problem found, in plain words; empty when the log verifies.
    pub problems: Vec<String>,
}

impl LogReport {
    /// Whether the log verifies.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.records > 0
    }
}

/// Checks `records` ((sequence, canonical JSON bytes), in the order given) against the signed
/// checkpoint notes `checkpoints`, with the log key `verifier`. Only the last record may lie
/// outside the latest checkpoint, and only when it is the record of that checkpoint's own
/// signing (which the checkpoint cannot cover).
pub fn check_log(records: &[(u64, Vec<u8>)], checkpoints: &[String], verifier: &LogVerifier) -> LogReport {
    let mut report = LogReport { records: records.len() as u64, ..Default::default() };
    let mut tree = MerkleTree::in_memory();
    for (position, (sequence, bytes)) in records.iter().enumerate() {
        let expected = position as u64 + 1;
        if *sequence != expected {
            report.problems.push(format!("sequence numbers are not contiguous: record {expected} is numbered {sequence}"));
        }
        match AuditRecord::from_json(bytes) {
            Ok(record) if record.sequence != *sequence => {
                report.problems.push(format!("record {sequence} says it is record {}", record.sequence));
            }
            Ok(record) if record.origin != verifier.name() => {
                report.problems.push(format!("record {sequence} belongs to log {:?}, not {:?}", record.origin, verifier.name()));
            }
            Ok(_) => {}
            Err(e) => report.problems.push(format!("record {sequence} is unreadable: {e}")),
        }
        if tree.append(leaf_hash(bytes)).is_err() {
            report.problems.push("the tree cannot be recomputed".into());
            return report;
        }
    }
    let n = records.len() as u64;
    for note in checkpoints {
        let checkpoint = match verifier.verify_note(note) {
            Ok(c) => c,
            Err(e) => {
                report.problems.push(format!("a checkpoint is not signed by the log key: {e}"));
                continue;
            }
        };
        if checkpoint.size > n {
            report.problems.push(format!(
                "checkpoint {} covers {} records but only {n} are present: records were removed",
                checkpoint.size, checkpoint.size
            ));
            continue;
        }
        match tree.root(checkpoint.size) {
            Ok(root) if root == checkpoint.root => {
                report.checkpoints_verified += 1;
                report.latest_checkpoint = report.latest_checkpoint.max(checkpoint.size);
            }
            Ok(_) => report.problems.push(format!(
                "the records do not hash to the signed root of checkpoint {}: a record was altered, removed, inserted or reordered",
                checkpoint.size
            )),
            Err(e) => report.problems.push(format!("checkpoint {}: {e}", checkpoint.size)),
        }
    }
    if checkpoints.is_empty() {
        report.problems.push("no signed checkpoint: nothing vouches for these records".into());
    }
    // Everything must be under a signature, except the record of the last signing itself.
    let uncovered = n.saturating_sub(report.latest_checkpoint);
    let last_is_signing = records
        .last()
        .and_then(|(_, bytes)| AuditRecord::from_json(bytes).ok())
        .is_some_and(|r| r.event.event == Some(super::EventKind::CheckpointSigned));
    if uncovered > 1 || (uncovered == 1 && !last_is_signing) {
        report.problems.push(format!("{uncovered} record(s) after checkpoint {} are covered by no signed checkpoint", report.latest_checkpoint));
    }
    report
}
