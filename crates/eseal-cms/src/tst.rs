//! RFC 3161 `TSTInfo`: what a timestamp token asserts.

use der::asn1::{AnyRef, Int, ObjectIdentifier, OctetString};
use der::{Decode, Reader, Sequence, SliceReader, Tag, Tagged};
use eseal_encoding::civil_time::days_from_civil;
use spki::AlgorithmIdentifierOwned;

use super::algorithms::DigestAlgorithm;
use super::chain::serial_hex;
use super::error::CmsError;

/// The content of an RFC 3161 timestamp token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    /// The TSA policy under which the token was issued.
    pub policy: ObjectIdentifier,
    /// Hash algorithm of the message imprint.
    pub hash_algorithm: DigestAlgorithm,
    /// The timestamped hash: of the signature value for a signature
    /// timestamp, of the PDF `/ByteRange` for a document timestamp.
    pub hashed_message: Vec<u8>,
    /// Serial number of the token, lowercase hex.
    pub serial_hex: String,
    /// `genTime` in seconds since the Unix epoch (fractions of a second dropped).
    pub gen_time: i64,
}

impl TstInfo {
    /// Decodes a DER `TSTInfo`.
    ///
    /// Only the leading mandatory fields are interpreted; accuracy, ordering,
    /// nonce, tsa and extensions are skipped. `genTime` is read by hand
    /// because RFC 3161 allows fractional seconds, which `der`'s
    /// `GeneralizedTime` rejects.
    pub fn parse(der: &[u8]) -> Result<TstInfo, CmsError> {
        let bad = |e: der::Error| CmsError::InvalidTimestamp(e.to_string());
        let mut reader = SliceReader::new(der).map_err(bad)?;
        let (policy, imprint, serial, gen_time) = reader
            .sequence(|r| {
                let _version = Int::decode(r)?;
                let policy = ObjectIdentifier::decode(r)?;
                let imprint = MessageImprint::decode(r)?;
                let serial = Int::decode(r)?;
                let gen_time = AnyRef::decode(r)?;
                if gen_time.tag() != Tag::GeneralizedTime {
                    return Err(der::Error::from(der::ErrorKind::TagUnexpected {
                        expected: Some(Tag::GeneralizedTime),
                        actual: gen_time.tag(),
                    }));
                }
                let rest = r.remaining_len();
                r.read_slice(rest)?;
                Ok((policy, imprint, serial, gen_time.value().to_vec()))
            })
            .map_err(bad)?;
        if !reader.is_finished() {
            return Err(CmsError::InvalidTimestamp("trailing data after TSTInfo".to_owned()));
        }
        Ok(TstInfo {
            policy,
            hash_algorithm: DigestAlgorithm::from_oid(&imprint.hash_algorithm.oid)?,
            hashed_message: imprint.hashed_message.as_bytes().to_vec(),
            serial_hex: serial_hex(serial.as_bytes()),
            gen_time: parse_generalized_time(&gen_time)?,
        })
    }

    /// Whether the imprint is the hash of `data` (e.g. a signature value).
    pub fn imprint_matches(&self, data: &[u8]) -> bool {
        self.hash_algorithm.digest([data]) == self.hashed_message
    }
}

/// `MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }`
#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// Parses `YYYYMMDDHHMMSS[.fff]Z` into Unix seconds.
pub(super) fn parse_generalized_time(value: &[u8]) -> Result<i64, CmsError> {
    let bad = || {
        CmsError::InvalidTimestamp(format!(
            "genTime {:?} is not YYYYMMDDHHMMSS[.f]Z",
            String::from_utf8_lossy(value)
        ))
    };
    let (main, rest) = value.split_at_checked(14).ok_or_else(bad)?;
    if !main.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let number = |range: core::ops::Range<usize>| {
        main[range].iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    let (year, month, day) = (number(0..4), number(4..6), number(6..8));
    let (hour, minute, second) = (number(8..10), number(10..12), number(12..14));
    // Fractions of a second, then the mandatory 'Z' (RFC 3161 §2.4.2).
    match rest {
        [b'Z'] => {}
        [b'.', frac @ .., b'Z'] if !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => {}
        _ => return Err(bad()),
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}
