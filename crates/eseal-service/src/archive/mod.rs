//! Archival export of the audit trail: a BagIt bag (RFC 8493) an archivist keeps for decades
//! and checks offline with nothing but the log's verifier key.
//!
//! - [`layout`]: what the bag holds and where (records, proofs, boundary proofs, the signed
//!   checkpoint, the consistency proof from the previous export, seals, sealed documents);
//! - [`bag`]: writing a bag with SHA-256 and SHA-512 manifests, and checking its fixity;
//! - [`check`]: the four-property report of DA/T 70 (authenticity, integrity, usability,
//!   security) of `eseal archive verify`;
//! - [`export`]: the service's side, which picks the records of a time range under a signed
//!   checkpoint and sends the payload piece by piece;
//! - [`time`]: RFC 3339 times.
//!
//! BagIt fixity alone does not stop an insider who regenerates the manifests: the signed
//! checkpoint does. Every record file must be the leaf its proof leads from to a root signed
//! by the log key, which the archivist gives on the command line and never reads from the bag.

pub mod bag;
pub mod check;
pub mod export;
pub mod layout;
pub mod time;

pub use bag::{BagError, BagWriter, check_fixity};
pub use check::{ArchiveReport, CheckOptions, Property, check_bag};
pub use layout::ConsistencyFile;
