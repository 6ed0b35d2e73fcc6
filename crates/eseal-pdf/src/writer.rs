//! Serialising objects and the cross-reference section of an incremental update.
//!
//! Output is a pure function of the objects given: no clocks, no randomness, no hash maps.

use std::io::Write;

use super::crypt::Crypt;
use super::object::{Dictionary, Object, ObjectId, StringFormat};
use super::xref::XrefKind;

/// Appends the PDF syntax for `object` to `out`.
pub fn write_object(out: &mut Vec<u8>, object: &Object) {
    match object {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Object::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Object::Real(r) => write_real(out, *r),
        Object::Name(n) => write_name(out, n),
        Object::String(s, StringFormat::Literal) => write_literal(out, s),
        Object::String(s, StringFormat::Hex) => write_hex(out, s),
        Object::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_object(out, item);
            }
            out.push(b']');
        }
        Object::Dictionary(d) => write_dict(out, d),
        Object::Stream(s) => {
            let mut dict = s.dict.clone();
            dict.set(b"Length".to_vec(), Object::Integer(s.data.len() as i64));
            write_dict(out, &dict);
            out.extend_from_slice(b"\nstream\n");
            out.extend_from_slice(&s.data);
            out.extend_from_slice(b"\nendstream");
        }
        Object::Reference(id) => {
            let _ = write!(out, "{} {} R", id.number, id.generation);
        }
    }
}

/// Appends a dictionary.
pub fn write_dict(out: &mut Vec<u8>, dict: &Dictionary) {
    out.extend_from_slice(b"<<");
    for (key, value) in dict.iter() {
        write_name(out, key);
        if !matches!(
            value,
            Object::Name(_) | Object::String(..) | Object::Array(_) | Object::Dictionary(_)
        ) {
            out.push(b' ');
        }
        write_object(out, value);
    }
    out.extend_from_slice(b">>");
}

/// Appends a real number in plain decimal notation (PDF has no exponents), with the shortest
/// digits that read back as the same value, so that a rewritten object keeps its numbers.
pub fn write_real(out: &mut Vec<u8>, value: f64) {
    let value = if value.is_finite() { value } else { 0.0 };
    if value == value.trunc() && value.abs() < 1e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        // Rust's Display for f64 is the shortest round-trip form and never uses an exponent.
        let _ = write!(out, "{value}");
    }
}

fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'/');
    for &b in name {
        let plain = (0x21..=0x7e).contains(&b) && !super::lexer::is_delimiter(b) && b != b'#';
        if plain {
            out.push(b);
        } else {
            let _ = write!(out, "#{b:02X}");
        }
    }
}

fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'(');
    for &b in s {
        match b {
            b'(' | b')' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
    out.push(b')');
}

/// Appends a hex string in upper case.
pub fn write_hex(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'<');
    for b in s {
        let _ = write!(out, "{b:02X}");
    }
    out.push(b'>');
}

/// Encrypts every string and stream in `object` for object `id` (a no-op without `crypt`),
/// except the /Contents of signature dictionaries, which stay in clear.
pub fn encrypt_object(crypt: Option<&Crypt>, id: ObjectId, object: Object) -> Object {
    let Some(crypt) = crypt else { return object };
    let mut salt = 0u32;
    fn walk_dict(crypt: &Crypt, id: ObjectId, salt: &mut u32, dict: &Dictionary) -> Dictionary {
        let is_signature = super::object::is_signature_dict(dict);
        dict.iter()
            .map(|(k, v)| {
                let v = if is_signature && k == b"Contents" {
                    v.clone()
                } else {
                    walk(crypt, id, salt, v.clone())
                };
                (k.to_vec(), v)
            })
            .collect()
    }
    fn walk(crypt: &Crypt, id: ObjectId, salt: &mut u32, object: Object) -> Object {
        *salt += 1;
        match object {
            Object::String(s, _) if crypt.encrypts_strings() => {
                Object::String(crypt.encrypt(id, *salt, &s), StringFormat::Hex)
            }
            Object::Array(items) => {
                Object::Array(items.into_iter().map(|o| walk(crypt, id, salt, o)).collect())
            }
            Object::Dictionary(d) => Object::Dictionary(walk_dict(crypt, id, salt, &d)),
            Object::Stream(mut s) => {
                s.dict = walk_dict(crypt, id, salt, &s.dict);
                if crypt.encrypts_streams() {
                    s.data = crypt.encrypt(id, *salt, &s.data);
                }
                Object::Stream(s)
            }
            other => other,
        }
    }
    walk(crypt, id, &mut salt, object)
}

/// An incremental update being written: object bodies, then the cross-reference section.
pub struct UpdateWriter {
    /// Offset in the final file where `buf` starts.
    base: u64,
    buf: Vec<u8>,
    offsets: Vec<(ObjectId, u64)>,
}

impl UpdateWriter {
    /// Starts an update that will be appended to a file of `original_len` bytes whose last byte
    /// is `last_byte`; a line break is added first when the file does not end with one.
    pub fn new(original_len: u64, last_byte: Option<u8>) -> Self {
        let mut buf = Vec::with_capacity(8 * 1024);
        if !matches!(last_byte, Some(b'\n') | Some(b'\r')) {
            buf.push(b'\n');
        }
        Self { base: original_len, buf, offsets: Vec::new() }
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The absolute file offset of the next byte written.
    pub fn position(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Writes `id` as an indirect object (already encrypted, if the file is).
    pub fn add(&mut self, id: ObjectId, object: &Object) {
        self.offsets.push((id, self.position()));
        let _ = writeln!(self.buf, "{} {} obj", id.number, id.generation);
        write_object(&mut self.buf, object);
        self.buf.extend_from_slice(b"\nendobj\n");
    }

    /// Writes raw bytes of an object body that the caller serialised itself
    /// (used for the signature dictionary, whose placeholders are patched later).
    pub fn add_raw(&mut self, id: ObjectId, body: &[u8]) -> u64 {
        self.offsets.push((id, self.position()));
        let _ = writeln!(self.buf, "{} {} obj", id.number, id.generation);
        let body_at = self.position();
        self.buf.extend_from_slice(body);
        self.buf.extend_from_slice(b"\nendobj\n");
        body_at
    }

    /// Finishes the update with a cross-reference section of `kind` and the trailer entries
    /// `trailer` (to which /Size and /Prev are added). `xref_stream_id` numbers the
    /// cross-reference stream when one is written. Returns the complete update bytes.
    pub fn finish(
        mut self,
        kind: XrefKind,
        mut trailer: Dictionary,
        prev: u64,
        size: u32,
        xref_stream_id: ObjectId,
    ) -> Vec<u8> {
        self.offsets.sort_by_key(|(id, _)| id.number);
        trailer.set(b"Prev".to_vec(), Object::Integer(prev as i64));
        let xref_at = self.position();
        match kind {
            XrefKind::Table | XrefKind::Hybrid => {
                trailer.set(b"Size".to_vec(), Object::Integer(i64::from(size)));
                self.buf.extend_from_slice(b"xref\n");
                for run in runs(&self.offsets) {
                    let _ = writeln!(self.buf, "{} {}", run[0].0.number, run.len());
                    for (id, offset) in run {
                        let _ = write!(self.buf, "{offset:010} {:05} n\r\n", id.generation);
                    }
                }
                self.buf.extend_from_slice(b"trailer\n");
                write_dict(&mut self.buf, &trailer);
                self.buf.push(b'\n');
            }
            XrefKind::Stream => {
                self.offsets.push((xref_stream_id, xref_at));
                self.offsets.sort_by_key(|(id, _)| id.number);
                let size = size.max(xref_stream_id.number + 1);
                let max_offset = self.offsets.iter().map(|(_, o)| *o).max().unwrap_or(0);
                let width = (1..=8).find(|w| max_offset < 1u64 << (8 * w)).unwrap_or(8);
                let mut rows = Vec::new();
                let mut index = Vec::new();
                for run in runs(&self.offsets) {
                    index.push(Object::Integer(i64::from(run[0].0.number)));
                    index.push(Object::Integer(run.len() as i64));
                    for (id, offset) in run {
                        rows.push(1u8);
                        rows.extend_from_slice(&offset.to_be_bytes()[8 - width..]);
                        rows.extend_from_slice(&id.generation.to_be_bytes());
                    }
                }
                let mut dict = Dictionary::new();
                dict.set(b"Type".to_vec(), Object::name("XRef"));
                dict.set(b"Size".to_vec(), Object::Integer(i64::from(size)));
                dict.set(b"Index".to_vec(), Object::Array(index));
                dict.set(
                    b"W".to_vec(),
                    Object::Array(vec![
                        Object::Integer(1),
                        Object::Integer(width as i64),
                        Object::Integer(2),
                    ]),
                );
                for (k, v) in trailer.iter() {
                    dict.set(k.to_vec(), v.clone());
                }
                let stream = Object::Stream(super::object::Stream { dict, data: rows });
                let _ = writeln!(
                    self.buf,
                    "{} {} obj",
                    xref_stream_id.number, xref_stream_id.generation
                );
                write_object(&mut self.buf, &stream);
                self.buf.extend_from_slice(b"\nendobj\n");
            }
        }
        let _ = write!(self.buf, "startxref\n{xref_at}\n%%EOF\n");
        self.buf
    }
}

/// Splits sorted (id, offset) pairs into runs of consecutive object numbers.
fn runs(offsets: &[(ObjectId, u64)]) -> Vec<&[(ObjectId, u64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=offsets.len() {
        if i == offsets.len() || offsets[i].0.number != offsets[i - 1].0.number + 1 {
            if start < i {
                out.push(&offsets[start..i]);
            }
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_objects_that_read_back() {
        let mut d = Dictionary::new();
        d.set(b"Type".to_vec(), Object::name("Annot"));
        d.set(
            b"Rect".to_vec(),
            Object::Array(vec![
                Object::Real(1.5),
                Object::Integer(2),
                Object::Real(-0.25),
                Object::Real(1e-9),
            ]),
        );
        d.set(b"T".to_vec(), Object::string(b"a(b)\\c\r".to_vec()));
        d.set(b"N a#".to_vec(), Object::Reference(ObjectId::new(7, 0)));
        let obj = Object::Dictionary(d);
        let mut out = Vec::new();
        write_object(&mut out, &obj);
        let back = super::super::lexer::Lexer::new(&out, 0).object().unwrap();
        let back = back.as_dict().unwrap();
        assert_eq!(back.get(b"T"), Some(&Object::string(b"a(b)\\c\r".to_vec())));
        assert_eq!(back.get(b"N a#"), Some(&Object::Reference(ObjectId::new(7, 0))));
        let mut rect = Vec::new();
        write_object(&mut rect, back.get(b"Rect").unwrap());
        assert_eq!(rect, b"[1.5 2 -0.25 0.000000001]");
    }
}
