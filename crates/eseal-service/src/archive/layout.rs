//! What an archive bag holds and where: the payload paths, the bag-info labels, and the
//! consistency proof file.
//!
//! ```text
//! bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-sha512.txt  tagmanifest-sha*.txt
//! data/records/00000042.json         the record's canonical JSON, byte for byte as hashed
//! data/proofs/00000042.json          its proof file (audit::ProofFile) against the checkpoint
//! data/boundary/before.json          proof of the last record before the range (time < from)
//! data/boundary/after.json           proof of the first record after it (time >= to)
//! data/checkpoint.txt                the signed checkpoint every proof ends in
//! data/consistency.json              consistency from the previous export's checkpoint
//! data/seals/<id>/certificate-chain.pem, image.png
//! data/documents/<sha256 hex>.pdf    sealed documents the service kept
//! data/documents-not-kept.txt        `<sha256 hex> <record sequence>` per line: documents the
//!                                    records name that the service did not have to export
//! ```
//!
//! bag-info.txt says whether the service keeps documents (`eseal-documents-kept: yes|no`) and
//! how many records, documents and seals the payload holds, so that a bag missing one of
//! them is found even when its manifests and Payload-Oxum were rewritten.

use serde::{Deserialize, Serialize};

use eseal_audit::merkle::{Hash, verify_consistency};
use eseal_audit::{Checkpoint, LogVerifier};
use eseal_encoding::base64;

/// The folder of record files.
pub const RECORDS_DIR: &str = "data/records";
/// The folder of proof files.
pub const PROOFS_DIR: &str = "data/proofs";
/// The proof of the record just before the range.
pub const BEFORE_PATH: &str = "data/boundary/before.json";
/// The proof of the record just after the range.
pub const AFTER_PATH: &str = "data/boundary/after.json";
/// The signed checkpoint.
pub const CHECKPOINT_PATH: &str = "data/checkpoint.txt";
/// The consistency proof from the previous export.
pub const CONSISTENCY_PATH: &str = "data/consistency.json";
/// The folder of seals.
pub const SEALS_DIR: &str = "data/seals";
/// The folder of sealed documents.
pub const DOCUMENTS_DIR: &str = "data/documents";
/// The sealed documents the records name that the service did not have (kept before
/// keeping was enabled, or lost): `<sha256 hex> <record sequence>` per line.
pub const NOT_KEPT_PATH: &str = "data/documents-not-kept.txt";

/// bag-info label: the log's origin.
pub const INFO_ORIGIN: &str = "eseal-log-origin";
/// bag-info label: the checkpoint's tree size.
pub const INFO_TREE_SIZE: &str = "eseal-tree-size";
/// bag-info label: start of the time range (RFC 3339, inclusive).
pub const INFO_FROM: &str = "eseal-from";
/// bag-info label: end of the time range (RFC 3339, exclusive).
pub const INFO_TO: &str = "eseal-to";
/// bag-info label: the first record's sequence number.
pub const INFO_FIRST: &str = "eseal-first-sequence";
/// bag-info label: the last record's sequence number.
pub const INFO_LAST: &str = "eseal-last-sequence";
/// bag-info label: the previous export's tree size, when there is a consistency proof.
pub const INFO_PREVIOUS: &str = "eseal-previous-tree-size";
/// bag-info label: whether the service keeps sealed documents (`yes` or `no`): when `yes`,
/// every document a `document_sealed` record of the bag names is in the bag or listed in
/// [`NOT_KEPT_PATH`].
pub const INFO_DOCUMENTS_KEPT: &str = "eseal-documents-kept";
/// bag-info label: the number of record files.
pub const INFO_RECORD_COUNT: &str = "eseal-record-count";
/// bag-info label: the number of sealed documents.
pub const INFO_DOCUMENT_COUNT: &str = "eseal-document-count";
/// bag-info label: the number of seals.
pub const INFO_SEAL_COUNT: &str = "eseal-seal-count";

/// `data/records/<seq, 8 digits>.json`.
pub fn record_path(sequence: u64) -> String {
    format!("{RECORDS_DIR}/{sequence:08}.json")
}

/// `data/proofs/<seq, 8 digits>.json`.
pub fn proof_path(sequence: u64) -> String {
    format!("{PROOFS_DIR}/{sequence:08}.json")
}

/// `data/seals/<id>/certificate-chain.pem`.
pub fn seal_chain_path(seal_id: &str) -> String {
    format!("{SEALS_DIR}/{seal_id}/certificate-chain.pem")
}

/// `data/seals/<id>/image.png`.
pub fn seal_image_path(seal_id: &str) -> String {
    format!("{SEALS_DIR}/{seal_id}/image.png")
}

/// `data/documents/<sha256 hex>.pdf`.
pub fn document_path(sha256_hex: &str) -> String {
    format!("{DOCUMENTS_DIR}/{sha256_hex}.pdf")
}

/// The sequence number a record or proof file name stands for (`00000042.json`: 42); names
/// of another form are not.
pub fn sequence_of(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_suffix(".json")?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    (format!("{n:08}") == digits).then_some(n)
}

/// Whether a seal id can name a folder of the bag (portable, one path component).
pub fn is_portable_seal_id(id: &str) -> bool {
    super::bag::is_portable_path(id) && !id.contains('/')
}

/// Whether `text` is a lowercase hex SHA-256.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// DER certificates as a PEM bundle.
pub fn certificates_pem(certificates: &[Vec<u8>]) -> String {
    let mut pem = String::new();
    for der in certificates {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let text = base64::encode(der);
        for line in text.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

/// The consistency proof between the previous export's checkpoint and this one's, with both
/// signed notes, so that it can be checked with nothing but the log key.
///
/// ```json
/// {
///   "old_size": 10,
///   "new_size": 42,
///   "proof": ["<base64 hash>", "..."],
///   "old_checkpoint": "<signed note>",
///   "new_checkpoint": "<signed note>"
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyFile {
    /// The earlier checkpoint's size.
    pub old_size: u64,
    /// This export's checkpoint size.
    pub new_size: u64,
    /// RFC 9162 consistency proof from `old_size` to `new_size` (empty when equal).
    pub proof: Vec<Hash>,
    /// The earlier signed checkpoint.
    pub old_checkpoint: String,
    /// This export's signed checkpoint.
    pub new_checkpoint: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyJson {
    old_size: u64,
    new_size: u64,
    proof: Vec<String>,
    old_checkpoint: String,
    new_checkpoint: String,
}

impl ConsistencyFile {
    /// The file's JSON text (pretty-printed, ending in a newline).
    pub fn to_json(&self) -> String {
        let json = ConsistencyJson {
            old_size: self.old_size,
            new_size: self.new_size,
            proof: self.proof.iter().map(|h| base64::encode(h)).collect(),
            old_checkpoint: self.old_checkpoint.clone(),
            new_checkpoint: self.new_checkpoint.clone(),
        };
        let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads the file; nothing is verified yet.
    pub fn from_json(bytes: &[u8]) -> Result<ConsistencyFile, String> {
        let json: ConsistencyJson =
            serde_json::from_slice(bytes).map_err(|e| format!("not a consistency file: {e}"))?;
        let mut proof = Vec::with_capacity(json.proof.len());
        for (i, text) in json.proof.iter().enumerate() {
            let bytes = base64::decode(text).map_err(|e| format!("proof[{i}]: {e}"))?;
            proof.push(bytes.try_into().map_err(|_| format!("proof[{i}] is not a 32-byte hash"))?);
        }
        Ok(ConsistencyFile {
            old_size: json.old_size,
            new_size: json.new_size,
            proof,
            old_checkpoint: json.old_checkpoint,
            new_checkpoint: json.new_checkpoint,
        })
    }

    /// Checks both notes against the log key, that their sizes are the file's, and that the
    /// proof shows the old tree is a prefix of the new one. Returns both checkpoints.
    pub fn check(&self, verifier: &LogVerifier) -> Result<(Checkpoint, Checkpoint), String> {
        let old = verifier
            .verify_note(&self.old_checkpoint)
            .map_err(|e| format!("the old checkpoint: {e}"))?;
        let new = verifier
            .verify_note(&self.new_checkpoint)
            .map_err(|e| format!("the new checkpoint: {e}"))?;
        if old.size != self.old_size || new.size != self.new_size {
            return Err(format!(
                "the file says sizes {} -> {} but its checkpoints are of {} and {} records",
                self.old_size, self.new_size, old.size, new.size
            ));
        }
        if old.origin != new.origin {
            return Err(format!(
                "the checkpoints are of two logs, {:?} and {:?}",
                old.origin, new.origin
            ));
        }
        let holds = if old.size == new.size {
            old.root == new.root && self.proof.is_empty()
        } else {
            old.size > 0
                && verify_consistency(old.size, new.size, &old.root, &new.root, &self.proof)
        };
        if !holds {
            return Err(format!(
                "the tree of {} records is not proved to be a prefix of the tree of {}",
                old.size, new.size
            ));
        }
        Ok((old, new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eseal_audit::{LogSigner, MerkleTree, leaf_hash};

    #[test]
    fn names() {
        assert_eq!(record_path(42), "data/records/00000042.json");
        assert_eq!(proof_path(123_456_789), "data/proofs/123456789.json");
        assert_eq!(sequence_of("00000042.json"), Some(42));
        assert_eq!(sequence_of("123456789.json"), Some(123_456_789));
        for bad in ["42.json", "0000004a.json", "00000042.txt", "000000042.json", "+0000042.json"] {
            assert_eq!(sequence_of(bad), None, "{bad}");
        }
        assert!(is_portable_seal_id("approval-ec"));
        assert!(
            !is_portable_seal_id("../x")
                && !is_portable_seal_id("a/b")
                && !is_portable_seal_id("..")
        );
    }

    #[test]
    fn pem_reads_back() {
        let pem = certificates_pem(&[vec![1; 100], vec![2; 3]]);
        let blocks: Vec<_> =
            x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).map(Result::unwrap).collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].contents, vec![1; 100]);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn consistency_file_checks() {
        let signer = LogSigner::from_seed("test.example/log", &[3; 32]).unwrap();
        let mut tree = MerkleTree::in_memory();
        for i in 0..13u8 {
            tree.append(leaf_hash(&[i])).unwrap();
        }
        let note = |size| {
            signer
                .sign(&Checkpoint {
                    origin: "test.example/log".into(),
                    size,
                    root: tree.root(size).unwrap(),
                })
                .unwrap()
        };
        let file = ConsistencyFile {
            old_size: 5,
            new_size: 13,
            proof: tree.consistency_proof(5, 13).unwrap(),
            old_checkpoint: note(5),
            new_checkpoint: note(13),
        };
        let read = ConsistencyFile::from_json(file.to_json().as_bytes()).unwrap();
        assert_eq!(read, file);
        assert!(read.check(&signer.verifier()).is_ok());
        let mut wrong = file.clone();
        wrong.proof[0][0] ^= 1;
        assert!(wrong.check(&signer.verifier()).is_err());
        let mut swapped = file.clone();
        swapped.old_checkpoint = note(6);
        assert!(swapped.check(&signer.verifier()).is_err());
        let other = LogSigner::from_seed("test.example/log", &[4; 32]).unwrap();
        assert!(file.check(&other.verifier()).is_err());
        let same = ConsistencyFile {
            old_size: 13,
            new_size: 13,
            proof: vec![],
            old_checkpoint: note(13),
            new_checkpoint: note(13),
        };
        assert!(same.check(&signer.verifier()).is_ok());
    }
}
