//! RFC 8785 JSON Canonicalization Scheme for the values audit records hold: objects with keys
//! sorted by UTF-16 code units, strings escaped as the RFC prescribes, integers as integers.

use serde_json::Value;

/// Serialises `value` canonically.
///
/// Numbers: audit records hold only integers within ±2^53, which this writes exactly as RFC
/// 8785 does. Other numbers (floats, larger integers) are written as serde_json prints them,
/// which can differ from RFC 8785: do not put them in records.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write(out, item);
            }
            out.push(b'}');
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_by_utf16_and_escapes_like_rfc_8785() {
        let value: Value = serde_json::from_str(
            r#"{"b":1,"a":"x\u001fy\"","\u20ac":2,"\ud83d\ude00":3,"c":[true,null]}"#,
        )
        .unwrap();
        let text = String::from_utf8(canonical_json(&value)).unwrap();
        // By UTF-16 code units U+20AC (0x20AC) sorts before U+1F600 (0xD83D 0xDE00).
        assert_eq!(text, "{\"a\":\"x\\u001fy\\\"\",\"b\":1,\"c\":[true,null],\"€\":2,\"😀\":3}");
    }
}
