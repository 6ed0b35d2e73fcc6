//! The PDF engine: reads only what an incremental update needs and writes that update.
//!
//! It knows nothing of signatures beyond the bytes it reserves for one: the caller signs the
//! digest [`HashedSeal::document_digest`] with whatever CMS code it likes. Reading is lazy
//! (the cross-reference tables, then only the objects asked for) and bounded: every count and
//! size a file could inflate has a limit in [`Limits`], named in the error when reached.
//!
//! ```no_run
//! use eseal_pdf::{Document, signature_fields};
//!
//! let bytes = std::fs::read("approval.pdf")?;
//! let document = Document::open(&bytes[..])?;
//! println!("{} page(s)", document.pages()?.len());
//! for field in signature_fields(&document)? {
//!     println!("signature field {:?}", field.name);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod crypt;
mod document;
mod error;
mod fields;
mod filter;
mod image;
mod lexer;
mod limits;
mod object;
mod placement;
mod seal;
mod source;
mod text;
mod writer;
mod xref;

pub use document::{Document, Page};
pub use error::PdfError;
pub use fields::{FormField, SignatureField, docmdp_permission, form_fields, signature_fields};
pub use filter::deflate;
pub use image::SealImage;
pub use lexer::hex_digits;
pub use limits::Limits;
pub use object::{Dictionary, Object, ObjectId, Stream, StringFormat, is_signature_dict};
pub use placement::{Corner, Placement, SealRect, Unit};
pub use seal::{HashedSeal, PreparedSeal, ReservedField, SealOptions, SealedDocument, prepare};
pub use source::{FileSource, Prefix, Source};
pub use text::{decode_text_string, parse_pdf_date};
pub use writer::{UpdateWriter, write_object};
pub use xref::{XrefEntry, XrefKind, find_startxref};
