//! One stamping: the PDF engine's incremental update signed by the CMS code with exactly one
//! private-key operation. Used by the service, the tests and the benchmarks alike.

use std::io::Write;

use thiserror::Error;

use eseal_cms::{
    CertificateChain, CmsError, Signer, TIMESTAMP_RESERVE, build_pades_signed_data,
    signature_size_estimate,
};
use eseal_pdf::{Document, PdfError, SealOptions, SealedDocument, Source};

/// Why a stamping failed.
#[derive(Debug, Error)]
pub enum StampError {
    /// The document cannot take the seal.
    #[error(transparent)]
    Pdf(#[from] PdfError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Cms(#[from] CmsError),
}

/// A finished stamping: facts about the output and the signature bytes, which are kept so
/// that the same stamping can be replayed byte for byte ([`replay`]).
#[derive(Clone, Debug)]
pub struct Stamped {
    /// Digests, length and byte range of the output.
    pub document: SealedDocument,
    /// The DER CMS SignedData embedded in /Contents.
    pub cms: Vec<u8>,
}

/// Bytes to reserve in /Contents for signatures of `chain`: the CMS size bound, exact for the
/// chain with the longest signature its key can make. Nothing more: a seal carries no
/// timestamp, and PAdES upgrades (document timestamps, /DSS) are later incremental updates
/// that need no room in this signature.
pub fn contents_size(chain: &CertificateChain) -> usize {
    signature_size_estimate(chain)
}

/// What [`contents_size`] was before it stopped keeping [`TIMESTAMP_RESERVE`] free for an
/// RFC 3161 token: replaying a stamping recorded then needs the same reserve to reproduce it.
pub fn contents_size_with_timestamp_room(chain: &CertificateChain) -> usize {
    signature_size_estimate(chain) + TIMESTAMP_RESERVE
}

/// Seals the PDF in `source`, writing the sealed document to `out`. An `options.contents_size`
/// of 0 reserves [`contents_size`] of the chain.
pub fn seal<S: Source, W: Write>(
    source: &S,
    out: &mut W,
    options: &SealOptions<'_>,
    chain: &CertificateChain,
    signer: &dyn Signer,
) -> Result<Stamped, StampError> {
    let mut cms = Vec::new();
    let document = stamp_with(source, Original::Copy, out, options, chain, |digest| {
        cms = build_pades_signed_data(digest, chain, signer)?;
        Ok(cms.clone())
    })?;
    Ok(Stamped { document, cms })
}

/// Writes again the document that [`seal`] produced for the same `source`, `options` and
/// chain, using the stored signature `cms` instead of signing: the output is byte-identical.
pub fn replay<S: Source, W: Write>(
    source: &S,
    out: &mut W,
    options: &SealOptions<'_>,
    chain: &CertificateChain,
    cms: &[u8],
) -> Result<SealedDocument, StampError> {
    stamp_with(source, Original::Copy, out, options, chain, |_| Ok(cms.to_vec()))
}

/// Seals a document whose bytes the caller already holds and hashed while receiving them
/// (`original` is the SHA-256 context fed with exactly the bytes of `source`). Only the
/// incremental update is produced: the sealed document is the original bytes followed by it,
/// so that a service never needs a second copy of the document.
pub fn seal_update<S: Source>(
    source: &S,
    original: ring::digest::Context,
    options: &SealOptions<'_>,
    chain: &CertificateChain,
    signer: &dyn Signer,
) -> Result<(Vec<u8>, Stamped), StampError> {
    let mut update = Vec::new();
    let mut cms = Vec::new();
    let document =
        stamp_with(source, Original::Hashed(original), &mut update, options, chain, |digest| {
            cms = build_pades_signed_data(digest, chain, signer)?;
            Ok(cms.clone())
        })?;
    Ok((update, Stamped { document, cms }))
}

/// [`replay`] for [`seal_update`]: the same update again from the stored signature.
pub fn replay_update<S: Source>(
    source: &S,
    original: ring::digest::Context,
    options: &SealOptions<'_>,
    chain: &CertificateChain,
    cms: &[u8],
) -> Result<(Vec<u8>, SealedDocument), StampError> {
    let mut update = Vec::new();
    let document =
        stamp_with(source, Original::Hashed(original), &mut update, options, chain, |_| {
            Ok(cms.to_vec())
        })?;
    Ok((update, document))
}

/// How the original bytes reach the digest: copied to the output while hashing, or hashed
/// already by the caller (who sends them itself). One value per stamping, on the stack.
#[allow(clippy::large_enum_variant)]
enum Original {
    Copy,
    Hashed(ring::digest::Context),
}

/// The one path of all: prepare, hash (and maybe copy), obtain the signature for the digest,
/// finish.
fn stamp_with<S: Source, W: Write>(
    source: &S,
    original: Original,
    out: &mut W,
    options: &SealOptions<'_>,
    chain: &CertificateChain,
    signature_for: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, StampError>,
) -> Result<SealedDocument, StampError> {
    let doc = Document::open(source)?;
    let contents_size =
        if options.contents_size == 0 { contents_size(chain) } else { options.contents_size };
    let options = SealOptions { contents_size, ..options.clone() };
    let prepared = eseal_pdf::prepare(&doc, &options)?;
    let hashed = match original {
        Original::Copy => prepared.copy_original(source, out)?,
        Original::Hashed(context) => prepared.with_original_digest(context),
    };
    let cms = signature_for(hashed.document_digest())?;
    Ok(hashed.finish(out, &cms)?)
}
