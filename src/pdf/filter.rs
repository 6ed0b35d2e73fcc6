//! Stream filters the engine needs to read structure: FlateDecode with PNG/TIFF predictors.
//!
//! Only structural streams (cross-reference and object streams) are decoded, and their decoded
//! size is capped so that a small hostile stream cannot exhaust memory.

use std::io::Read;

use super::error::{PdfError, Result};
use super::object::{Dictionary, Object};

/// Largest decoded structural stream accepted (an object stream of a huge document is far less).
pub const MAX_DECODED: u64 = 256 * 1024 * 1024;

/// Decodes `data` according to the stream dictionary's /Filter and /DecodeParms.
pub fn decode(dict: &Dictionary, data: &[u8]) -> Result<Vec<u8>> {
    let filters: Vec<&[u8]> = match dict.get(b"Filter") {
        None => Vec::new(),
        Some(Object::Name(n)) => vec![n.as_slice()],
        Some(Object::Array(a)) => a.iter().filter_map(Object::as_name).collect(),
        Some(other) => {
            return Err(PdfError::Malformed(format!("a stream's /Filter is a {}", other.type_name())));
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
                let inflated = inflate(&out)?;
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

fn inflate(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::ZlibDecoder::new(data).take(MAX_DECODED + 1);
    if let Err(e) = decoder.read_to_end(&mut out) {
        // Many writers end streams without a proper checksum; keep what inflated cleanly.
        if out.is_empty() {
            return Err(PdfError::Malformed(format!("a compressed stream does not inflate: {e}")));
        }
    }
    if out.len() as u64 > MAX_DECODED {
        return Err(PdfError::Unsupported(format!(
            "a structural stream inflates to more than {MAX_DECODED} bytes"
        )));
    }
    Ok(out)
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
    if !(1..=32).contains(&colors) || ![1, 2, 4, 8, 16].contains(&bpc) || !(1..=1 << 20).contains(&columns) {
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
    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
