//! The one error type of the audit library: tree, checkpoint, note and proof-file failures.

use thiserror::Error;

/// What went wrong in the audit library. Every failure is an error value: bad sizes, indices,
/// keys or notes never panic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuditError {
    /// A leaf index is not below the tree size it is asked about.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index (from 0).
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size is larger than the tree holds.
    #[error("tree size {requested} is larger than the tree ({current} leaves)")]
    SizeOutOfRange {
        /// The size asked for.
        requested: u64,
        /// The tree's current size.
        current: u64,
    },
    /// A pair of tree sizes that no proof exists for (zero, or the first larger than the second).
    #[error(
        "no consistency proof between tree sizes {first} and {second}: need 0 < first <= second"
    )]
    InvalidSizes {
        /// The earlier size.
        first: u64,
        /// The later size.
        second: u64,
    },
    /// The tree is full (2^64 - 1 leaves).
    #[error("the tree is full")]
    TreeFull,
    /// The hash store lacks a complete subtree the tree needs: the store is damaged or was
    /// opened with a size larger than what it holds.
    #[error("the hash store has no node at level {level}, index {index}")]
    MissingNode {
        /// The node's level (0 = leaves).
        level: u8,
        /// The node's index within its level.
        index: u64,
    },
    /// Text that is not valid standard base64 (RFC 4648 section 4, with padding).
    #[error(transparent)]
    Base64(#[from] eseal_encoding::base64::Base64Error),
    /// A checkpoint body that is not a C2SP tlog-checkpoint of this library's form.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// A signed note that is not of the C2SP signed-note form.
    #[error("malformed note: {0}")]
    MalformedNote(String),
    /// A key name that C2SP signed-note does not allow (empty, with spaces or '+').
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    InvalidKeyName(String),
    /// A verifier key string that is not `<name>+<hex key id>+<base64(0x01 || public key)>`.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(String),
    /// A signing key that cannot be used (bad PKCS#8, bad seed, wrong key id).
    #[error("unusable signing key: {0}")]
    BadSigningKey(String),
    /// Key generation failed (no system randomness).
    #[error("key generation failed")]
    KeyGeneration,
    /// A signature line by the log key (matching name and key id) whose signature is invalid.
    #[error("invalid signature by the log key {name}+{key_id}")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id (8 hex digits).
        key_id: String,
    },
    /// The note has no signature by the log key: only unknown keys (another name or key id)
    /// signed it.
    #[error("the note has no signature by the log key {0}")]
    NotSignedByLogKey(String),
    /// A proof file that is not of the expected JSON form.
    #[error("malformed proof file: {0}")]
    MalformedProofFile(String),
    /// The proof file's tree size is not the size of its checkpoint.
    #[error("the proof is for tree size {proof} but the checkpoint is for size {checkpoint}")]
    CheckpointSizeMismatch {
        /// The tree size the proof file states.
        proof: u64,
        /// The signed checkpoint's size.
        checkpoint: u64,
    },
    /// The record is not in the checkpointed tree at the stated position (the inclusion proof
    /// does not lead to the signed root).
    #[error("record {sequence} is not included in the checkpointed tree of size {size}")]
    NotIncluded {
        /// The record's sequence number.
        sequence: u64,
        /// The checkpoint's tree size.
        size: u64,
    },
    /// The record bytes are not a readable audit record.
    #[error("bad record: {0}")]
    BadRecord(String),
    /// The record's own sequence field is not the sequence the proof file states.
    #[error("the record says sequence {record} but the proof file says {file}")]
    SequenceMismatch {
        /// The sequence written in the record.
        record: u64,
        /// The sequence the proof file states.
        file: u64,
    },
    /// The record names another log than the checkpoint.
    #[error("the record belongs to log {record:?} but the checkpoint is of log {checkpoint:?}")]
    OriginMismatch {
        /// The origin written in the record.
        record: String,
        /// The checkpoint's origin.
        checkpoint: String,
    },
}
