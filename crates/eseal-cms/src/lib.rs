//! CMS SignedData for PAdES: building the seal's detached signature and
//! reading (and cryptographically checking) signatures and RFC 3161 timestamp
//! tokens made by any tool.
//!
//! The module knows nothing of PDF, gRPC, storage or configuration: it takes
//! a document digest and gives DER back, or takes DER and gives facts back.
//!
//! - [`build_pades_signed_data`] makes a PAdES B-B signature (content-type,
//!   message-digest and signing-certificate-v2 signed attributes, no
//!   signing-time) with a [`Signer`] over a [`CertificateChain`];
//!   [`signature_size_estimate`] sizes the PDF `/Contents` placeholder beforehand (plus
//!   [`TIMESTAMP_RESERVE`] for a signature that will get a timestamp token).
//! - [`SignedDataInfo::parse`] reads a `/Contents` value (zero padding
//!   allowed) and [`SignedDataInfo::verify_signature`] checks its signature.
//!
//! ```no_run
//! use eseal_cms::SignedDataInfo;
//!
//! // The DER of a PDF signature's /Contents.
//! let contents = std::fs::read("signature.p7s")?;
//! let signature = SignedDataInfo::parse(&contents)?;
//! signature.verify_signature()?;
//! println!("signed by {:?}", signature.signer_subject());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod algorithms;
mod build;
mod chain;
mod error;
mod ess;
pub mod oids;
mod parse;
mod signer;
mod tst;
mod verify;

#[cfg(test)]
mod tests;

pub use self::algorithms::{DigestAlgorithm, Digester, SignatureAlgorithm};
pub use self::build::{TIMESTAMP_RESERVE, build_pades_signed_data, signature_size_estimate};
pub use self::chain::{CertificateChain, SealKeyType};
pub use self::error::CmsError;
pub use self::parse::SignedDataInfo;
pub use self::signer::{RingSigner, Signer};
pub use self::tst::TstInfo;
