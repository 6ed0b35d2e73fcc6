//! Certificate revocation lists of the client CA (`[server] client_crls`): read, checked
//! against the client CA, and reloaded when a file changes.
//!
//! A CRL is used only once its signature verifies with the key of the client CA that issued it
//! (with the same algorithms the chain check uses), so that a list in use never makes the
//! check of every certificate fail. A file that changed but cannot be used leaves the list read
//! before in place: revocations already known are never dropped by a bad file (no failing
//! open), and a bad file does not refuse every client (no outage).
//!
//! A CRL past its nextUpdate is still used, and reported (logged at every check and counted as
//! a gauge) until a fresh one is published: refusing every client because the CA's publication
//! is late would be an outage, and the list still holds every revocation it knew.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use webpki::{CertRevocationList, OwnedCertRevocationList};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

/// A CRL read from a file and checked against the client CA.
pub struct LoadedCrl {
    /// The list, as the chain check uses it.
    pub crl: CertRevocationList<'static>,
    /// Its nextUpdate (Unix seconds).
    pub next_update: i64,
    /// How many certificates it lists.
    pub revoked: usize,
}

/// What identifies a version of a file without reading it: a change of any part is a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<std::time::SystemTime>,
    length: u64,
    inode: u64,
}

impl FileStamp {
    /// The stamp of `path` now.
    pub fn of(path: &Path) -> std::io::Result<FileStamp> {
        let metadata = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp { modified: metadata.modified().ok(), length: metadata.len(), inode })
    }
}

/// One configured CRL file: its last stamp seen and the CRLs last read from it successfully.
pub struct CrlFile {
    /// The file.
    pub path: PathBuf,
    /// The stamp of the version last looked at (read successfully or not).
    pub stamp: Option<FileStamp>,
    /// The CRLs in use from it.
    pub crls: Arc<Vec<LoadedCrl>>,
    /// Whether its absence was reported already (reported once, not at every check).
    pub missing_reported: bool,
}

/// Reads the CRLs of `path` (PEM `X509 CRL` blocks, or one DER CRL) and checks each against
/// `client_ca`. The message says what is wrong, for the log and the start-up error.
pub fn read_crls(
    path: &Path,
    client_ca: &[CertificateDer<'static>],
) -> Result<Vec<LoadedCrl>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let ders: Vec<Vec<u8>> = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let mut ders = Vec::new();
        for item in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
            let item = item.map_err(|e| format!("bad PEM: {e}"))?;
            if item.label == "X509 CRL" {
                ders.push(item.contents);
            }
        }
        if ders.is_empty() {
            return Err("no X509 CRL block in it".into());
        }
        ders
    } else {
        vec![bytes]
    };
    ders.iter().map(|der| checked(der, client_ca)).collect()
}

/// One DER CRL, parsed and checked: issued by a client CA allowed to sign CRLs, signed by its key.
fn checked(der: &[u8], client_ca: &[CertificateDer<'static>]) -> Result<LoadedCrl, String> {
    let owned =
        OwnedCertRevocationList::from_der(der).map_err(|e| format!("not a usable CRL: {e:?}"))?;
    let (_, parsed) =
        CertificateRevocationList::from_der(der).map_err(|e| format!("not a CRL: {e}"))?;
    let next_update = parsed.next_update().ok_or("the CRL has no nextUpdate")?.timestamp();
    // Every client CA certificate of the CRL's issuer name is tried: a re-keyed CA keeps its
    // name, and the CRL is good when one of them may sign CRLs and its key verifies it.
    let mut refusal =
        format!("it is not issued by the client CA (its issuer is {})", parsed.issuer());
    let issuers = client_ca
        .iter()
        .filter_map(|c| X509Certificate::from_der(c.as_ref()).ok().map(|(_, cert)| cert))
        .filter(|cert| cert.subject().as_raw() == parsed.issuer().as_raw());
    for issuer in issuers {
        if let Ok(Some(usage)) = issuer.key_usage()
            && !usage.value.crl_sign()
        {
            refusal =
                format!("its issuer {} may not sign CRLs (no cRLSign key usage)", issuer.subject());
            continue;
        }
        match verify_signature(der, issuer.public_key().raw) {
            Ok(()) => {
                let revoked = parsed.iter_revoked_certificates().count();
                return Ok(LoadedCrl {
                    crl: CertRevocationList::Owned(owned),
                    next_update,
                    revoked,
                });
            }
            Err(e) => {
                refusal = format!("its signature does not verify with the client CA's key: {e}")
            }
        }
    }
    Err(refusal)
}

/// Verifies the signature of the DER CRL `der` with the DER SubjectPublicKeyInfo `spki`, with
/// the algorithms the chain check accepts.
fn verify_signature(der: &[u8], spki: &[u8]) -> Result<(), String> {
    let malformed = || "malformed".to_string();
    let (crl, _) = tlv(der, 0x30).ok_or_else(malformed)?;
    let (tbs_contents, after_tbs) = tlv(crl.contents, 0x30).ok_or_else(malformed)?;
    let (algorithm, after_algorithm) = tlv(after_tbs, 0x30).ok_or_else(malformed)?;
    let (signature, _) = tlv(after_algorithm, 0x03).ok_or_else(malformed)?;
    let (key, _) = tlv(spki, 0x30).ok_or_else(malformed)?;
    let (key_algorithm, after_key_algorithm) = tlv(key.contents, 0x30).ok_or_else(malformed)?;
    let (key_bits, _) = tlv(after_key_algorithm, 0x03).ok_or_else(malformed)?;
    let (signature, public_key) = (
        bit_string(signature.contents).ok_or_else(malformed)?,
        bit_string(key_bits.contents).ok_or_else(malformed)?,
    );
    let scheme = webpki::ALL_VERIFICATION_ALGS
        .iter()
        .find(|a| {
            a.signature_alg_id().as_ref() == algorithm.contents
                && a.public_key_alg_id().as_ref() == key_algorithm.contents
        })
        .ok_or("its signature algorithm is not supported for the client CA's key")?;
    scheme
        .verify_signature(public_key, tbs_contents.whole, signature)
        .map_err(|_| "invalid signature".to_string())
}

/// The bytes of a BIT STRING's contents that has no unused bits.
fn bit_string(contents: &[u8]) -> Option<&[u8]> {
    match contents.split_first() {
        Some((0, rest)) => Some(rest),
        _ => None,
    }
}

/// A DER element: its contents and its whole encoding.
struct Tlv<'a> {
    contents: &'a [u8],
    whole: &'a [u8],
}

/// The DER element of tag `tag` at the start of `input`, and what follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&length, rest) = rest.split_first()?;
    let (length, rest) = if length < 0x80 {
        (usize::from(length), rest)
    } else {
        let count = usize::from(length & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count].iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (length, &rest[count..])
    };
    if rest.len() < length {
        return None;
    }
    let header = input.len() - rest.len();
    Some((Tlv { contents: &rest[..length], whole: &input[..header + length] }, &rest[length..]))
}
