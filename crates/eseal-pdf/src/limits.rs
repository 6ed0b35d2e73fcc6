//! The reader's limits, in one place: how much work and memory one document may cost, and the
//! flag that cancels that work. Each limit is named in the error that reports it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{PdfError, Result};

/// Nesting of arrays and dictionaries deeper than this is refused (the lexer's limit).
pub const NESTING_DEPTH: usize = 64;

/// Bounds on the work one document may cost; [`Limits::default`] suits any honest document.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Cross-reference entries (all sections together) any file may list, whatever its size.
    pub xref_entries_base: u64,
    /// Further cross-reference entries allowed per byte of the file: a compressed row costs
    /// almost nothing, but every object it lists costs several bytes.
    pub xref_entries_per_byte: u64,
    /// Cross-reference sections (revisions) followed through /Prev.
    pub revisions: usize,
    /// Bytes one stream may decode to (a flate bomb stops here).
    pub stream_decoded_bytes: u64,
    /// Decoded bytes one document may produce, all streams together, whatever its size.
    pub document_decoded_base: u64,
    /// Further decoded bytes allowed per byte of the file.
    pub document_decoded_per_byte: u64,
    /// Objects read from one opened document (each read counts, cached or not).
    pub objects_read: u64,
    /// Form fields examined.
    pub form_fields: usize,
    /// Signatures (distinct signature dictionaries) verified in one document.
    pub signatures: usize,
    /// Set from outside to stop the work: the reader then fails with [`PdfError::Cancelled`].
    pub cancel: Arc<AtomicBool>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            xref_entries_base: 100_000,
            xref_entries_per_byte: 1,
            revisions: 10_000,
            stream_decoded_bytes: 256 * 1024 * 1024,
            document_decoded_base: 64 * 1024 * 1024,
            document_decoded_per_byte: 64,
            objects_read: 4_000_000,
            form_fields: 50_000,
            signatures: 200,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Limits {
    /// Default limits that stop when `cancel` is set.
    pub fn with_cancel(cancel: Arc<AtomicBool>) -> Self {
        Self { cancel, ..Self::default() }
    }

    /// Cross-reference entries a file of `file_size` bytes may list.
    pub fn xref_entries(&self, file_size: u64) -> u64 {
        self.xref_entries_base.saturating_add(self.xref_entries_per_byte.saturating_mul(file_size))
    }

    /// Decoded bytes a file of `file_size` bytes may produce.
    pub fn document_decoded(&self, file_size: u64) -> u64 {
        self.document_decoded_base
            .saturating_add(self.document_decoded_per_byte.saturating_mul(file_size))
    }

    /// Fails with [`PdfError::Cancelled`] once the cancel flag is set.
    pub fn check_cancelled(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) { Err(PdfError::Cancelled) } else { Ok(()) }
    }

    /// Whether the cancel flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}
