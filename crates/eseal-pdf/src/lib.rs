//! The PDF engine: reads only what an incremental update needs and writes that update.
//!
//! It knows nothing of signatures beyond the bytes it reserves for one: the caller signs the
//! digest [`seal::HashedSeal::document_digest`] with whatever CMS code it likes.

pub mod crypt;
pub mod document;
pub mod error;
pub mod fields;
pub mod filter;
pub mod image;
pub mod lexer;
pub mod limits;
pub mod object;
pub mod placement;
pub mod seal;
pub mod source;
pub mod text;
pub mod writer;
pub mod xref;

pub use document::{Document, Page};
pub use error::PdfError;
pub use fields::{FormField, SignatureField, form_fields, signature_fields};
pub use image::SealImage;
pub use limits::Limits;
pub use object::{Dictionary, Object, ObjectId};
pub use placement::{Corner, Placement, SealRect, Unit};
pub use seal::{HashedSeal, PreparedSeal, ReservedField, SealOptions, SealedDocument, prepare};
pub use source::{FileSource, Prefix, Source};
