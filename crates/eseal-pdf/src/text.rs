//! Text strings and dates as PDF writes them (ISO 32000-1 sections 7.9.2 and 7.9.4).

use super::error::{PdfError, Result};
use eseal_encoding::civil_time::{civil_from_unix, days_from_civil};

/// Encodes `text` as a PDF text string: plain bytes for printable ASCII, else UTF-16BE with
/// a byte order mark (so Chinese reasons and locations display everywhere).
pub fn text_string(text: &str) -> Vec<u8> {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.as_bytes().to_vec();
    }
    let mut out = vec![0xfe, 0xff];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// Decodes a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, else PDFDocEncoding read as Latin-1).
pub fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> =
            rest.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|b| char::from(*b)).collect()
}

/// Formats seconds since the Unix epoch as a PDF date in UTC: `D:YYYYMMDDHHmmSS+00'00'`.
pub fn pdf_date(unix_seconds: i64) -> Result<Vec<u8>> {
    let (year, month, day, hour, minute, second) = civil_from_unix(unix_seconds);
    if !(0..=9999).contains(&year) {
        return Err(PdfError::NotPermitted(format!(
            "the signing time {unix_seconds} is outside years 0..9999"
        )));
    }
    Ok(format!("D:{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}+00'00'").into_bytes())
}

/// Parses a PDF date (`D:YYYY[MM[DD[HH[mm[SS[Z|+HH'mm'|-HH'mm']]]]]]`) to Unix seconds.
pub fn parse_pdf_date(bytes: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(bytes).ok()?;
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let field = |start: usize, len: usize, default: i64| -> i64 {
        digits.get(start..start + len).and_then(|d| d.parse().ok()).unwrap_or(default)
    };
    let (year, month, day) = (field(0, 4, 0), field(4, 2, 1), field(6, 2, 1));
    let (hour, minute, second) = (field(8, 2, 0), field(10, 2, 0), field(12, 2, 0));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let rest = &s[digits.len()..];
    let offset = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let tz: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
            let h: i64 = tz.get(0..2).and_then(|d| d.parse().ok()).unwrap_or(0);
            let m: i64 = tz.get(2..4).and_then(|d| d.parse().ok()).unwrap_or(0);
            let secs = h * 3600 + m * 60;
            if sign == '+' { secs } else { -secs }
        }
        _ => 0,
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(pdf_date(0).unwrap(), b"D:19700101000000+00'00'");
        // 2026-11-26T23:30:00Z
        let t = days_from_civil(2026, 11, 26) * 86_400 + 23 * 3600 + 30 * 60;
        assert_eq!(pdf_date(t).unwrap(), b"D:20261126233000+00'00'");
        assert_eq!(parse_pdf_date(b"D:20261126233000+00'00'"), Some(t));
        assert_eq!(parse_pdf_date(b"D:20261127073000+08'00'"), Some(t));
        assert_eq!(parse_pdf_date(b"D:20261126233000Z"), Some(t));
        assert_eq!(parse_pdf_date(b"garbage"), None);
    }

    #[test]
    fn text_strings_use_utf16_for_chinese() {
        assert_eq!(text_string("ok"), b"ok");
        let s = text_string("审批");
        assert_eq!(&s[..2], &[0xfe, 0xff]);
        assert_eq!(decode_text_string(&s), "审批");
    }
}
