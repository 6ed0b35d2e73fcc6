//! A parser for PDF object syntax over a byte slice (ISO 32000-1 section 7.2 and 7.3).
//!
//! It never panics and never recurses deeper than [`MAX_DEPTH`], whatever the input: every
//! structure it cannot read becomes a [`SyntaxError`] carrying the offset where reading stopped.

use super::object::{Dictionary, Object, ObjectId, StringFormat};

/// Nesting deeper than this (arrays and dictionaries) is refused as malformed.
pub const MAX_DEPTH: usize = super::limits::NESTING_DEPTH;

/// Why a piece of PDF syntax could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Offset (within the slice being parsed) where the problem was seen.
    pub at: usize,
    /// True when the input ended before the syntax was complete (more bytes may help).
    pub eof: bool,
    /// What was expected.
    pub what: &'static str,
}

/// The result type of this module.
pub type Result<T> = std::result::Result<T, SyntaxError>;

/// PDF white-space characters (Table 1).
pub fn is_whitespace(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// PDF delimiter characters (Table 2).
pub fn is_delimiter(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !is_delimiter(b)
}

/// A cursor over PDF bytes.
pub struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at offset `pos` of `data`.
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Self { data, pos: pos.min(data.len()) }
    }

    /// The current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn err(&self, what: &'static str) -> SyntaxError {
        SyntaxError { at: self.pos, eof: self.pos >= self.data.len(), what }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Skips white space and comments.
    pub fn skip_whitespace(&mut self) {
        while let Some(b) = self.peek() {
            if is_whitespace(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Reads a regular-character token (a keyword or a number) without consuming white space.
    pub fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_regular) {
            self.pos += 1;
        }
        &self.data[start..self.pos]
    }

    /// Skips white space, then consumes `keyword` if it is next (as a whole token).
    pub fn eat_keyword(&mut self, keyword: &[u8]) -> bool {
        self.skip_whitespace();
        let end = self.pos + keyword.len();
        if self.data.get(self.pos..end) == Some(keyword)
            && self.data.get(end).is_none_or(|b| !is_regular(*b))
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// Skips white space and requires `keyword`.
    pub fn expect_keyword(&mut self, keyword: &[u8], what: &'static str) -> Result<()> {
        if self.eat_keyword(keyword) { Ok(()) } else { Err(self.err(what)) }
    }

    /// Reads an unsigned integer token.
    pub fn unsigned(&mut self) -> Result<u64> {
        self.skip_whitespace();
        let start = self.pos;
        let tok = self.token();
        parse_unsigned(tok).ok_or(SyntaxError {
            at: start,
            eof: start >= self.data.len(),
            what: "an unsigned integer",
        })
    }

    /// Reads `N G obj`, returning the id.
    pub fn object_header(&mut self) -> Result<ObjectId> {
        let number = self.unsigned()?;
        let generation = self.unsigned()?;
        self.expect_keyword(b"obj", "the keyword 'obj'")?;
        let number = u32::try_from(number).map_err(|_| self.err("an object number"))?;
        let generation = u16::try_from(generation).map_err(|_| self.err("a generation number"))?;
        Ok(ObjectId::new(number, generation))
    }

    /// Reads one object (which may be a reference `N G R`).
    pub fn object(&mut self) -> Result<Object> {
        self.object_at_depth(0)
    }

    fn object_at_depth(&mut self, depth: usize) -> Result<Object> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError {
                at: self.pos,
                eof: false,
                what: "arrays and dictionaries nested at most 64 deep (the nesting limit)",
            });
        }
        self.skip_whitespace();
        let Some(b) = self.peek() else {
            return Err(self.err("an object"));
        };
        match b {
            b'/' => {
                self.pos += 1;
                Ok(Object::Name(self.name_body()))
            }
            b'(' => self.literal_string(),
            b'<' => {
                if self.data.get(self.pos + 1) == Some(&b'<') {
                    self.pos += 2;
                    Ok(Object::Dictionary(self.dictionary_body(depth)?))
                } else {
                    self.hex_string()
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_whitespace();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Object::Array(items));
                        }
                        None => return Err(self.err("']' to close an array")),
                        _ => items.push(self.object_at_depth(depth + 1)?),
                    }
                }
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number_or_reference(),
            _ => {
                let start = self.pos;
                let tok = self.token();
                match tok {
                    b"true" => Ok(Object::Boolean(true)),
                    b"false" => Ok(Object::Boolean(false)),
                    b"null" => Ok(Object::Null),
                    _ => Err(SyntaxError { at: start, eof: false, what: "an object" }),
                }
            }
        }
    }

    /// Reads the body of a dictionary after `<<`, up to and including `>>`.
    fn dictionary_body(&mut self, depth: usize) -> Result<Dictionary> {
        let mut dict = Dictionary::new();
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'>') if self.data.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    return Ok(dict);
                }
                Some(b'/') => {
                    self.pos += 1;
                    let key = self.name_body();
                    let value = self.object_at_depth(depth + 1)?;
                    // A null value is the same as an absent key (7.3.7).
                    if value != Object::Null {
                        dict.set(key, value);
                    }
                }
                None => return Err(self.err("'>>' to close a dictionary")),
                _ => return Err(self.err("a name as dictionary key")),
            }
        }
    }

    fn name_body(&mut self) -> Vec<u8> {
        let mut name = Vec::new();
        while let Some(b) = self.peek() {
            if !is_regular(b) {
                break;
            }
            self.pos += 1;
            if b == b'#' {
                let hi = self.data.get(self.pos).and_then(|c| hex_value(*c));
                let lo = self.data.get(self.pos + 1).and_then(|c| hex_value(*c));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    name.push(hi << 4 | lo);
                    self.pos += 2;
                    continue;
                }
            }
            name.push(b);
        }
        name
    }

    fn literal_string(&mut self) -> Result<Object> {
        self.pos += 1; // '('
        let mut out = Vec::new();
        let mut nesting = 0usize;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("')' to close a string"));
            };
            self.pos += 1;
            match b {
                b'(' => {
                    nesting += 1;
                    out.push(b);
                }
                b')' => {
                    if nesting == 0 {
                        return Ok(Object::String(out, StringFormat::Literal));
                    }
                    nesting -= 1;
                    out.push(b);
                }
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("an escape sequence"));
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut value = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        value = value * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((value & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                b'\r' => {
                    // An end-of-line in a string reads as a single line feed (7.3.4.2).
                    if self.peek() == Some(b'\n') {
                        self.pos += 1;
                    }
                    out.push(b'\n');
                }
                _ => out.push(b),
            }
        }
    }

    fn hex_string(&mut self) -> Result<Object> {
        self.pos += 1; // '<'
        let data = self.data;
        let Some(end) =
            data[self.pos.min(data.len())..].iter().position(|&b| b == b'>').map(|i| self.pos + i)
        else {
            self.pos = data.len();
            return Err(self.err("'>' to close a hex string"));
        };
        // A signature's /Contents is thousands of digits: pairs are decoded through a table,
        // whitespace and odd digits one at a time.
        let mut out = Vec::with_capacity((end - self.pos) / 2);
        let mut high: Option<u8> = None;
        let mut i = self.pos;
        while i < end {
            if high.is_none() && i + 1 < end {
                let (h, l) = (HEX_DIGITS[data[i] as usize], HEX_DIGITS[data[i + 1] as usize]);
                if h | l < 16 {
                    out.push(h << 4 | l);
                    i += 2;
                    continue;
                }
            }
            let b = data[i];
            i += 1;
            if is_whitespace(b) {
                continue;
            }
            let v = HEX_DIGITS[b as usize];
            if v >= 16 {
                self.pos = i;
                return Err(SyntaxError { at: i - 1, eof: false, what: "a hex digit" });
            }
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        self.pos = end + 1;
        Ok(Object::String(out, StringFormat::Hex))
    }

    fn number_or_reference(&mut self) -> Result<Object> {
        let start = self.pos;
        let tok = self.token();
        if let Some(n) = parse_unsigned(tok) {
            // Look ahead for `G R`.
            let after_first = self.pos;
            self.skip_whitespace();
            let gen_start = self.pos;
            let gen_tok = self.token();
            if let Some(generation) = parse_unsigned(gen_tok).filter(|_| gen_tok.len() <= 5) {
                self.skip_whitespace();
                if self.data.get(self.pos) == Some(&b'R')
                    && self.data.get(self.pos + 1).is_none_or(|b| !is_regular(*b))
                    && gen_start > after_first
                {
                    if let (Ok(number), Ok(generation)) =
                        (u32::try_from(n), u16::try_from(generation))
                    {
                        self.pos += 1;
                        return Ok(Object::Reference(ObjectId::new(number, generation)));
                    }
                }
            }
            self.pos = after_first;
            return i64::try_from(n).map(Object::Integer).map_err(|_| SyntaxError {
                at: start,
                eof: false,
                what: "a number in range",
            });
        }
        parse_number(tok).ok_or(SyntaxError { at: start, eof: false, what: "a number" })
    }
}

/// Parses an unsigned decimal integer token (no sign, at most 19 digits).
pub fn parse_unsigned(tok: &[u8]) -> Option<u64> {
    if tok.is_empty() || tok.len() > 19 || !tok.iter().all(u8::is_ascii_digit) {
        return None;
    }
    tok.iter().try_fold(0u64, |acc, d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

fn parse_number(tok: &[u8]) -> Option<Object> {
    let text = std::str::from_utf8(tok).ok()?;
    if !text.contains('.') {
        return text.parse::<i64>().ok().map(Object::Integer);
    }
    // Reals never carry exponents in PDF; Rust's parser would accept them, so check first.
    if text.bytes().any(|b| !(b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')) {
        return None;
    }
    let value: f64 = match text {
        "." | "-." | "+." => return None,
        t if t.ends_with('.') => t.trim_end_matches('.').parse().ok()?,
        t => t.parse().ok()?,
    };
    value.is_finite().then_some(Object::Real(value))
}

/// The bytes an even number of hex digits (and nothing else) stand for.
pub fn hex_digits(digits: &[u8]) -> Option<Vec<u8>> {
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let (high, low) = (HEX_DIGITS[pair[0] as usize], HEX_DIGITS[pair[1] as usize]);
            (high | low < 16).then_some(high << 4 | low)
        })
        .collect()
}

/// Each byte's value as a hex digit, 255 for bytes that are none.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [255u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match hex_value(b as u8) {
            Some(v) => v,
            None => 255,
        };
        b += 1;
    }
    table
};

/// The value of an ASCII hex digit.
const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Object {
        Lexer::new(s.as_bytes(), 0).object().unwrap()
    }

    #[test]
    fn reads_the_basic_types() {
        assert_eq!(parse("  42 "), Object::Integer(42));
        assert_eq!(parse("-3.5"), Object::Real(-3.5));
        assert_eq!(parse("4."), Object::Real(4.0));
        assert_eq!(parse("12 0 R"), Object::Reference(ObjectId::new(12, 0)));
        assert_eq!(parse("/A#20B"), Object::Name(b"A B".to_vec()));
        assert_eq!(
            parse("(a\\(b\\)c\\101)"),
            Object::String(b"a(b)cA".to_vec(), StringFormat::Literal)
        );
        assert_eq!(parse("<48 65 6>"), Object::String(b"He`".to_vec(), StringFormat::Hex));
        let d = parse("<</Type/Page/Kids[1 0 R 2 0 R]/N null/X 1>>");
        let d = d.as_dict().unwrap();
        assert!(d.has_type(b"Page"));
        assert_eq!(d.get(b"Kids").unwrap().as_array().unwrap().len(), 2);
        assert!(d.get(b"N").is_none());
    }

    #[test]
    fn hex_strings_with_whitespace_odd_digits_and_errors() {
        let hex = |s: &str| Object::String(s.as_bytes().to_vec(), StringFormat::Hex);
        assert_eq!(parse("<4865aF>"), Object::String(vec![0x48, 0x65, 0xaf], StringFormat::Hex));
        assert_eq!(parse("<4 8\n6\t5>"), hex("He"));
        assert_eq!(parse("< >"), hex(""));
        assert_eq!(parse("<486>"), hex("H`"));
        let mut lx = Lexer::new(b"<4G>", 0);
        assert!(matches!(lx.object(), Err(SyntaxError { at: 2, eof: false, .. })));
        let mut lx = Lexer::new(b"<4865", 0);
        assert!(matches!(lx.object(), Err(SyntaxError { eof: true, .. })));
        // The lexer goes on after the closing '>'.
        let mut lx = Lexer::new(b"<48> 7", 0);
        assert_eq!(lx.object().unwrap(), hex("H"));
        assert_eq!(lx.object().unwrap(), Object::Integer(7));
    }

    #[test]
    fn integers_followed_by_integers_are_not_references() {
        let mut lx = Lexer::new(b"[1 2 3 0 R 4]", 0);
        let a = lx.object().unwrap();
        assert_eq!(
            a,
            Object::Array(vec![
                Object::Integer(1),
                Object::Integer(2),
                Object::Reference(ObjectId::new(3, 0)),
                Object::Integer(4)
            ])
        );
    }

    #[test]
    fn refuses_deep_nesting_and_truncation_without_panicking() {
        let deep = "[".repeat(10_000);
        assert!(Lexer::new(deep.as_bytes(), 0).object().is_err());
        let err = Lexer::new(b"<</A (abc", 0).object().unwrap_err();
        assert!(err.eof);
        assert!(Lexer::new(b"1e5", 0).object().is_err());
    }
}
