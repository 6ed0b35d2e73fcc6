//! The errors of the PDF engine, in words a person sending the document can act on.

use thiserror::Error;

/// Why a document could not be read or sealed.
///
/// Variants fall in two groups that a service maps differently: problems with the document
/// itself ([`PdfError::is_bad_document`]) and requests that the document cannot satisfy.
#[derive(Debug, Error)]
pub enum PdfError {
    /// The bytes do not start like a PDF file.
    #[error("not a PDF file: {0}")]
    NotPdf(String),
    /// The file ends before its structure is complete.
    #[error("the PDF file is truncated: {0}")]
    Truncated(String),
    /// The cross-reference data does not describe the file; the engine never rebuilds it.
    #[error(
        "the PDF file's cross-reference table is broken ({0}); repair the file (for example by re-saving it) before sealing it"
    )]
    BrokenXref(String),
    /// An object the update needs is malformed.
    #[error("the PDF file is malformed: {0}")]
    Malformed(String),
    /// The file is encrypted and cannot be opened with an empty user password.
    #[error("the PDF file is protected by a password; remove the password before sealing it")]
    NeedsPassword,
    /// The file uses a structure the engine does not handle.
    #[error("unsupported PDF structure: {0}")]
    Unsupported(String),
    /// The requested page does not exist.
    #[error("page {requested} does not exist: the document has {count} page(s)")]
    PageOutOfRange {
        /// The page the caller asked for (1-based, or negative from the end).
        requested: i64,
        /// The number of pages.
        count: u32,
    },
    /// The seal rectangle is unusable on the page.
    #[error("invalid seal placement: {0}")]
    Placement(String),
    /// The seal image is unusable.
    #[error("invalid seal image: {0}")]
    Image(String),
    /// The document's permissions forbid the requested change.
    #[error("the document does not permit this seal: {0}")]
    NotPermitted(String),
    /// The signature does not fit into the space reserved for it.
    #[error("the signature is {size} bytes but only {reserved} were reserved")]
    SignatureTooLarge {
        /// Size of the DER signature.
        size: usize,
        /// Space reserved in /Contents (bytes, not hex digits).
        reserved: usize,
    },
    /// The document needs more work or memory than a reader limit allows.
    #[error("the PDF file exceeds a reader limit: {0}")]
    Limit(String),
    /// The work was cancelled (the caller went away).
    #[error("the work on the PDF file was cancelled")]
    Cancelled,
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl PdfError {
    /// Whether the error is a property of the document bytes (as opposed to the request).
    pub fn is_bad_document(&self) -> bool {
        matches!(
            self,
            PdfError::NotPdf(_)
                | PdfError::Truncated(_)
                | PdfError::BrokenXref(_)
                | PdfError::Malformed(_)
                | PdfError::NeedsPassword
                | PdfError::Unsupported(_)
                | PdfError::Limit(_)
        )
    }
}

/// The result type of the PDF engine.
pub type Result<T> = std::result::Result<T, PdfError>;
