//! Stream filters the engine needs to read structure: FlateDecode with PNG/TIFF predictors.
//!
//! Only structural streams (cross-reference and object streams) are decoded, and their decoded
//! size is capped so that a small hostile stream cannot exhaust memory.

use super::error::{PdfError, Result};
use super::object::{Dictionary, Object};

/// Largest decoded structural stream accepted (an object stream of a huge document is far less).
pub const MAX_DECODED: u64 = 256 * 1024 * 1024;

/// Decodes `data` according to the stream dictionary's /Filter and /DecodeParms, refusing
/// (with [`PdfError::Limit`]) output longer than `limit` (at most [`MAX_DECODED`]).
pub fn decode_within(dict: &Dictionary, data: &[u8], limit: u64) -> Result<Vec<u8>> {
    let limit = usize::try_from(limit.min(MAX_DECODED)).unwrap_or(usize::MAX);
    let filters: Vec<&[u8]> = match dict.get(b"Filter") {
        None => Vec::new(),
        Some(Object::Name(n)) => vec![n.as_slice()],
        Some(Object::Array(a)) => a.iter().filter_map(Object::as_name).collect(),
        Some(other) => {
            return Err(PdfError::Malformed(format!(
                "a stream's /Filter is a {}",
                other.type_name()
            )));
        }
    };
    let params: Vec<Option<&Dictionary>> = match dict.get(b"DecodeParms") {
        Some(Object::Array(a)) => a.iter().map(Object::as_dict).collect(),
        Some(Object::Dictionary(d)) => vec![Some(d)],
        _ => Vec::new(),
    };
    let mut out = data.to_vec();
    for (i, filter) in filters.iter().enumerate() {
        out = match *filter {
            b"FlateDecode" | b"Fl" => {
                let inflated = inflate_within(&out, limit)?;
                unpredict(params.get(i).copied().flatten(), inflated)?
            }
            other => {
                return Err(PdfError::Unsupported(format!(
                    "structural stream with filter /{}",
                    String::from_utf8_lossy(other)
                )));
            }
        };
    }
    Ok(out)
}

thread_local! {
    /// One zlib inflater per thread, reset for each stream: a new one is a heap allocation of
    /// tens of kilobytes per stream, and a document's structure takes several streams.
    static INFLATER: std::cell::RefCell<flate2::Decompress> = std::cell::RefCell::new(flate2::Decompress::new(true));
}

/// Inflates `data`, refusing output longer than `limit` bytes (never holding more than
/// `limit + 1`). A stream that stops early, or whose end or checksum is damaged, gives what
/// inflated before the damage; one that inflates to nothing is refused.
fn inflate_within(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    INFLATER.with_borrow_mut(|inflater| {
        inflater.reset(true);
        let cap = limit.saturating_add(1);
        let mut out =
            Vec::with_capacity(data.len().saturating_mul(4).clamp(4096, 1 << 20).min(cap));
        let finished = loop {
            if out.len() == out.capacity() {
                // Doubling, up to one byte past the limit: enough to tell that it was passed.
                out.reserve_exact(out.capacity().min(cap - out.len()).max(1));
            }
            let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
            let rest = &data[usize::try_from(before_in).unwrap_or(usize::MAX).min(data.len())..];
            // Not `Finish`: miniz then wants the whole output in one buffer.
            let status = inflater.decompress_vec(rest, &mut out, flate2::FlushDecompress::None);
            if out.len() > limit {
                return Err(PdfError::Limit(format!(
                    "a stream inflates to more than {limit} bytes (the decoded-stream limit)"
                )));
            }
            match status {
                Ok(flate2::Status::StreamEnd) => break Ok(()),
                // No progress with room to write: the input ended before the stream did.
                Ok(_) if inflater.total_in() == before_in && inflater.total_out() == before_out => {
                    break Err("it ends early".to_string());
                }
                Ok(_) => {}
                // Many writers end streams without a proper checksum; keep what inflated cleanly.
                Err(e) => break Err(e.to_string()),
            }
        };
        match finished {
            Err(why) if out.is_empty() => {
                Err(PdfError::Malformed(format!("a compressed stream does not inflate: {why}")))
            }
            _ => Ok(out),
        }
    })
}

/// Compresses `data` with zlib (deterministic for a given input and level).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

fn int_param(params: &Dictionary, key: &[u8], default: i64) -> i64 {
    params.get(key).and_then(Object::as_i64).unwrap_or(default)
}

fn unpredict(params: Option<&Dictionary>, data: Vec<u8>) -> Result<Vec<u8>> {
    let Some(params) = params else { return Ok(data) };
    let predictor = int_param(params, b"Predictor", 1);
    if predictor == 1 {
        return Ok(data);
    }
    let colors = int_param(params, b"Colors", 1);
    let bpc = int_param(params, b"BitsPerComponent", 8);
    let columns = int_param(params, b"Columns", 1);
    if !(1..=32).contains(&colors)
        || ![1, 2, 4, 8, 16].contains(&bpc)
        || !(1..=1 << 20).contains(&columns)
    {
        return Err(PdfError::Malformed("unusable predictor parameters".into()));
    }
    let bpp = ((colors * bpc + 7) / 8) as usize;
    let row_len = ((colors * bpc * columns + 7) / 8) as usize;
    if predictor == 2 {
        if bpc != 8 {
            return Err(PdfError::Unsupported("TIFF predictor with other than 8 bits".into()));
        }
        let mut out = data;
        for row in out.chunks_mut(row_len) {
            for i in bpp..row.len() {
                row[i] = row[i].wrapping_add(row[i - bpp]);
            }
        }
        return Ok(out);
    }
    if predictor < 10 {
        return Err(PdfError::Unsupported(format!("predictor {predictor}")));
    }
    // PNG predictors: each row starts with its own filter type byte.
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row_len];
    for chunk in data.chunks(row_len + 1) {
        if chunk.len() < row_len + 1 {
            break; // a trailing partial row carries no complete entry
        }
        let (kind, row) = (chunk[0], &chunk[1..]);
        let mut cur = row.to_vec();
        for i in 0..row_len {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let up_left = if i >= bpp { prev[i - bpp] } else { 0 };
            cur[i] = match kind {
                0 => cur[i],
                1 => cur[i].wrapping_add(left),
                2 => cur[i].wrapping_add(up),
                3 => cur[i].wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => cur[i].wrapping_add(paeth(left, up, up_left)),
                _ => return Err(PdfError::Malformed(format!("PNG predictor row type {kind}"))),
            };
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) =
        ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(dict: &Dictionary, data: &[u8]) -> Result<Vec<u8>> {
        decode_within(dict, data, MAX_DECODED)
    }

    fn flate_dict() -> Dictionary {
        [(b"Filter".to_vec(), Object::name("FlateDecode"))].into_iter().collect()
    }

    /// The thread's one inflater, reset between streams: each stream decodes alone, whatever
    /// came before it (a finished stream, a broken one, a truncated one).
    #[test]
    fn streams_inflate_one_after_another_on_one_thread() {
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let small = b"1 0 obj << /Type /Catalog >> endobj".to_vec();
        let (big_z, small_z) = (deflate(&big), deflate(&small));
        assert_eq!(decode(&flate_dict(), &big_z).unwrap(), big, "larger than the first buffer");
        assert_eq!(decode(&flate_dict(), &small_z).unwrap(), small);
        assert!(matches!(decode(&flate_dict(), b"not zlib at all"), Err(PdfError::Malformed(_))));
        assert!(
            matches!(decode(&flate_dict(), &big_z[..2]), Err(PdfError::Malformed(_))),
            "a header alone inflates to nothing"
        );
        // A stream cut short keeps what inflated cleanly.
        let cut = decode(&flate_dict(), &big_z[..big_z.len() / 2]).unwrap();
        assert!(!cut.is_empty() && big.starts_with(&cut), "{} bytes kept", cut.len());
        assert_eq!(
            decode(&flate_dict(), &small_z).unwrap(),
            small,
            "after a broken and a cut stream"
        );
    }

    /// The limit holds at, just past and far past it, and memory never goes past it by more
    /// than a byte (the output's capacity).
    #[test]
    fn inflating_stops_one_byte_past_the_limit() {
        let zeros = deflate(&vec![0u8; 1 << 20]);
        assert_eq!(inflate_within(&zeros, 1 << 20).unwrap().len(), 1 << 20, "exactly at the limit");
        for limit in [(1 << 20) - 1, 100_000, 4095, 10] {
            match inflate_within(&zeros, limit) {
                Err(PdfError::Limit(m)) => assert!(
                    m.contains(&limit.to_string()) && m.contains("decoded-stream limit"),
                    "{m}"
                ),
                other => panic!("limit {limit}: {other:?}"),
            }
        }
        // A stream whose output fits stops growing its buffer at the limit + 1.
        let out = inflate_within(&deflate(&[7u8; 5000]), 6000).unwrap();
        assert!(out.len() == 5000 && out.capacity() <= 6001, "capacity {}", out.capacity());
    }
}
