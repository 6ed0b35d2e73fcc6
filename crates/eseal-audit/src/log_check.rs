//! Checking a whole log from its records and signed checkpoints, as an archivist does without
//! trusting whoever runs the database: contiguous sequence numbers, every record readable with
//! its own sequence, every checkpoint signed by the log key and matching the tree recomputed
//! from the records. Records after the latest signed checkpoint are not a fault on a live log
//! (the checkpointer signs once per interval): they are counted as pending, checked for
//! contiguity and form but not yet vouched for by a signature.

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
    /// Records after the latest signed checkpoint that no signature covers yet (the record of
    /// that checkpoint's own signing is not counted): not a fault, but not verified either.
    pub pending: u64,
    /// Every problem found, in plain words; empty when nothing is wrong.
    pub problems: Vec<String>,
}

impl LogReport {
    /// Whether the whole log verifies: no fault and nothing pending.
    pub fn ok(&self) -> bool {
        !self.faulty() && self.pending == 0
    }

    /// Whether a real fault was found (or there is nothing to verify): a record altered,
    /// removed or out of place, a checkpoint not signed by the key or not matching the records.
    pub fn faulty(&self) -> bool {
        !self.problems.is_empty() || self.records == 0
    }
}

/// Checks `records` ((sequence, canonical JSON bytes), in the order given) against the signed
/// checkpoint notes `checkpoints`, with the log key `verifier`. Records after the latest
/// checkpoint are pending, except the record of that checkpoint's own signing (which the
/// checkpoint cannot cover).
pub fn check_log(
    records: &[(u64, Vec<u8>)],
    checkpoints: &[String],
    verifier: &LogVerifier,
) -> LogReport {
    let mut report = LogReport { records: records.len() as u64, ..Default::default() };
    let mut tree = MerkleTree::in_memory();
    for (position, (sequence, bytes)) in records.iter().enumerate() {
        let expected = position as u64 + 1;
        if *sequence != expected {
            report.problems.push(format!(
                "sequence numbers are not contiguous: record {expected} is numbered {sequence}"
            ));
        }
        match AuditRecord::from_json(bytes) {
            Ok(record) if record.sequence != *sequence => {
                report
                    .problems
                    .push(format!("record {sequence} says it is record {}", record.sequence));
            }
            Ok(record) if record.origin != verifier.name() => {
                report.problems.push(format!(
                    "record {sequence} belongs to log {:?}, not {:?}",
                    record.origin,
                    verifier.name()
                ));
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
    // Everything not under a signature is pending, except the record of the last signing itself.
    let uncovered = n.saturating_sub(report.latest_checkpoint);
    let signing_follows = report.latest_checkpoint > 0
        && records
            .get(report.latest_checkpoint as usize)
            .and_then(|(_, bytes)| AuditRecord::from_json(bytes).ok())
            .is_some_and(|r| r.event.event == Some(super::EventKind::CheckpointSigned));
    report.pending = uncovered - u64::from(uncovered > 0 && signing_follows);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditEvent, Checkpoint, EventKind, LogSigner};

    const ORIGIN: &str = "eseal.test/log";

    /// Records 1..=n, the one at `signing` (if any) a checkpoint signing.
    fn records(n: u64, signing: Option<u64>) -> Vec<(u64, Vec<u8>)> {
        (1..=n)
            .map(|sequence| {
                let kind = if Some(sequence) == signing {
                    EventKind::CheckpointSigned
                } else {
                    EventKind::SealSuspended
                };
                let record = AuditRecord {
                    sequence,
                    time: 1_800_000_000,
                    origin: ORIGIN.into(),
                    event: AuditEvent::new(kind, "admin"),
                };
                (sequence, record.to_canonical_json())
            })
            .collect()
    }

    fn note(signer: &LogSigner, records: &[(u64, Vec<u8>)], size: u64) -> String {
        let mut tree = MerkleTree::in_memory();
        for (_, bytes) in records {
            tree.append(leaf_hash(bytes)).unwrap();
        }
        signer
            .sign(&Checkpoint { origin: ORIGIN.into(), size, root: tree.root(size).unwrap() })
            .unwrap()
    }

    #[test]
    fn records_after_the_latest_checkpoint_are_pending_not_faults() {
        let (signer, _) = LogSigner::generate(ORIGIN).unwrap();
        let verifier = signer.verifier();
        let log = records(9, Some(5));
        let notes = vec![note(&signer, &log, 4)];

        // 5 signs checkpoint 4; 6 to 9 are pending.
        let report = check_log(&log, &notes, &verifier);
        assert_eq!(
            (report.pending, report.latest_checkpoint, report.faulty(), report.ok()),
            (4, 4, false, false),
            "{report:?}"
        );
        // Only the signing record after the checkpoint: verified.
        let report = check_log(&log[..5], &notes, &verifier);
        assert!(report.ok() && report.pending == 0, "{report:?}");
        // A record after the checkpoint that is not its signing record is pending.
        let report =
            check_log(&records(5, None), &[note(&signer, &records(5, None), 4)], &verifier);
        assert_eq!((report.pending, report.faulty()), (1, false), "{report:?}");
        // No checkpoint at all: everything is pending.
        let report = check_log(&log, &[], &verifier);
        assert_eq!((report.pending, report.faulty()), (9, false), "{report:?}");

        // A pending tail does not hide faults: an altered covered record, a checkpoint beyond
        // the records, another key.
        let mut altered = log.clone();
        altered[1].1 =
            String::from_utf8(altered[1].1.clone()).unwrap().replace("admin", "other").into_bytes();
        assert!(check_log(&altered, &notes, &verifier).faulty());
        assert!(check_log(&log[..3], &notes, &verifier).faulty());
        let (other, _) = LogSigner::generate(ORIGIN).unwrap();
        assert!(check_log(&log, &[note(&other, &log, 4)], &verifier).faulty());
        assert!(check_log(&[], &[], &verifier).faulty(), "an empty log verifies nothing");
    }
}
