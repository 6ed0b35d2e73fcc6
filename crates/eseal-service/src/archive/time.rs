//! Times as an archive writes and reads them: RFC 3339 in UTC (`2026-11-27T00:00:00Z`) or
//! Unix seconds.

use eseal_encoding::civil_time::{civil_from_unix, days_from_civil};

/// `2026-11-27T00:00:00Z` for Unix seconds.
pub fn format_rfc3339(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_unix(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `2026-11-27` (the BagIt `Bagging-Date` form) for Unix seconds.
pub fn format_date(unix: i64) -> String {
    let (y, mo, d, ..) = civil_from_unix(unix);
    format!("{y:04}-{mo:02}-{d:02}")
}

/// Reads a time given as Unix seconds (`1795000000`) or as RFC 3339 (`2026-11-27T00:00:00Z`,
/// `2026-11-27T08:00:00+08:00`; a lowercase `t`/`z` and a space for `T` are accepted, and
/// fractional seconds are truncated). Returns Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || {
        format!("{text:?} is neither Unix seconds nor an RFC 3339 time like 2026-11-27T00:00:00Z")
    };
    if !text.is_empty()
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-' && text.len() > 1))
    {
        return text.parse::<i64>().map_err(|_| bad());
    }
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &text[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse::<i64>().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    // A leap second (60) is read as the last second of its minute.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err(bad()),
            };
            let hm = &rest[1..];
            if hm.len() != 5 || hm.as_bytes()[2] != b':' {
                return Err(bad());
            }
            let (h, m) =
                (number_of(&hm[..2]).ok_or_else(bad)?, number_of(&hm[3..]).ok_or_else(bad)?);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset)
}

fn number_of(text: &str) -> Option<i64> {
    if text.bytes().all(|c| c.is_ascii_digit()) { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_time("2026-11-27T00:00:00Z").unwrap(), 1_795_737_600);
        assert_eq!(format_rfc3339(1_795_737_600), "2026-11-27T00:00:00Z");
        assert_eq!(format_date(1_795_737_600 + 86_399), "2026-11-27");
        assert_eq!(parse_time("1795737600").unwrap(), 1_795_737_600);
        assert_eq!(parse_time(" 1795737600 ").unwrap(), 1_795_737_600);
        assert_eq!(parse_time("-5").unwrap(), -5);
        assert_eq!(parse_time("2026-11-27T08:00:00+08:00").unwrap(), 1_795_737_600);
        assert_eq!(parse_time("2026-11-26T19:30:00-04:30").unwrap(), 1_795_737_600);
        assert_eq!(parse_time("2026-11-27t00:00:00.999z").unwrap(), 1_795_737_600);
        assert_eq!(
            parse_time("2024-02-29 12:00:00Z").unwrap(),
            parse_time("2024-02-29T12:00:00Z").unwrap()
        );
        for t in 1_700_000_000..1_700_000_003 {
            assert_eq!(parse_time(&format_rfc3339(t)).unwrap(), t);
        }
        for bad in [
            "",
            "-",
            "2026-11-27",
            "2026-11-27T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T00:00:00+8:00",
            "2026-11-27T00:00:00.Z",
            "2026-11-27T00:00:00Zjunk",
            "twenty",
            "99999999999999999999",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} accepted");
        }
    }
}
