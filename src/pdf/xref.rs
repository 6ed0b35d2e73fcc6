//! Cross-reference sections: classic tables, cross-reference streams and hybrid files, read
//! from the file's last `startxref` back through every `/Prev`, without scanning or repairing.

use std::collections::{HashMap, HashSet};

use super::error::{PdfError, Result};
use super::filter;
use super::lexer::{Lexer, is_whitespace};
use super::object::{Dictionary, Object};
use super::source::Source;

/// Where an object lives, according to the cross-reference data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XrefEntry {
    /// A free (deleted or never used) object number.
    Free,
    /// An object stored directly in the file at `offset`.
    InFile {
        /// Byte offset of `N G obj`.
        offset: u64,
        /// Generation number.
        generation: u16,
    },
    /// An object stored in an object stream.
    InStream {
        /// Object number of the object stream.
        stream: u32,
        /// Index within the object stream.
        index: u32,
    },
}

/// The kind of a cross-reference section, so that an update can write one of the same kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XrefKind {
    /// `xref` ... `trailer`.
    Table,
    /// A `/Type /XRef` stream.
    Stream,
    /// A classic table whose trailer names an additional stream with /XRefStm.
    Hybrid,
}

/// One cross-reference section as found in the file.
#[derive(Clone, Debug)]
pub struct XrefSection {
    /// Byte offset of the section.
    pub offset: u64,
    /// Its kind.
    pub kind: XrefKind,
    /// Its trailer (for a stream: the stream dictionary).
    pub trailer: Dictionary,
    /// Its entries, in the order given, later ones of a hybrid's stream included.
    pub entries: Vec<(u32, XrefEntry)>,
}

/// Sections from newest to oldest, and the merged view of where every object lives.
#[derive(Clone, Debug)]
pub struct Xref {
    /// The sections, newest first (the one `startxref` points to comes first).
    pub sections: Vec<XrefSection>,
    /// Object number to entry, the newest section winning.
    pub entries: HashMap<u32, XrefEntry>,
    /// The `startxref` offset of the file.
    pub startxref: u64,
}

/// No document needs more sections than this; a longer chain is taken for a loop or an attack.
const MAX_SECTIONS: usize = 100_000;
/// Largest object number accepted.
const MAX_OBJECT_NUMBER: u64 = 8_388_607;
/// Most entries all sections of one file may list together (a real file lists each object
/// about once per revision).
const MAX_TOTAL_ENTRIES: usize = 16 * 1024 * 1024;

impl Xref {
    /// The trailer of the newest section.
    pub fn trailer(&self) -> &Dictionary {
        // `read` never returns an Xref without sections.
        &self.sections[0].trailer
    }

    /// Reads the cross-reference chain of `source`, whose last `startxref` must lie in the
    /// final 2 KiB (after any trailing garbage that follows `%%EOF`).
    pub fn read(source: &dyn Source) -> Result<Xref> {
        let startxref = find_startxref(source)?;
        Self::read_from(source, startxref)
    }

    /// Reads the chain that starts at `startxref`.
    pub fn read_from(source: &dyn Source, startxref: u64) -> Result<Xref> {
        let mut sections = Vec::new();
        let mut visited = HashSet::new();
        let mut budget = MAX_TOTAL_ENTRIES;
        let mut next = Some(startxref);
        while let Some(offset) = next {
            if !visited.insert(offset) {
                return Err(PdfError::BrokenXref(format!("the /Prev chain loops back to offset {offset}")));
            }
            if sections.len() >= MAX_SECTIONS {
                return Err(PdfError::BrokenXref("too many cross-reference sections".into()));
            }
            let section = read_section(source, offset, &mut visited, &mut budget)?;
            next = match section.trailer.get(b"Prev") {
                None => None,
                Some(Object::Integer(p)) if *p >= 0 => Some(*p as u64),
                Some(_) => return Err(PdfError::BrokenXref("a trailer's /Prev is not an offset".into())),
            };
            sections.push(section);
        }
        let len = source.len();
        if let Some(bad) = sections.iter().flat_map(|s| &s.entries).find_map(|(n, e)| match e {
            XrefEntry::InFile { offset, .. } if *offset >= len => Some((*n, *offset)),
            _ => None,
        }) {
            return Err(PdfError::BrokenXref(format!("object {} is listed at offset {}, past the end of the file", bad.0, bad.1)));
        }
        // Sized once for the largest section: growing it entry by entry rehashed it several
        // times per document.
        let mut entries = HashMap::with_capacity(sections.iter().map(|s| s.entries.len()).max().unwrap_or(0));
        // Oldest first, so that newer sections overwrite older ones.
        for section in sections.iter().rev() {
            for (number, entry) in &section.entries {
                entries.insert(*number, *entry);
            }
        }
        Ok(Xref { sections, entries, startxref })
    }
}

/// Finds the offset given by the last `startxref` of the file.
pub fn find_startxref(source: &dyn Source) -> Result<u64> {
    let len = source.len();
    let tail_len = len.min(2048) as usize;
    let tail = source.read_range(len - tail_len as u64, tail_len)?;
    let Some(at) = rfind(&tail, b"startxref") else {
        return Err(if rfind(&tail, b"%%EOF").is_none() {
            PdfError::Truncated("the end of the file (startxref and %%EOF) is missing".into())
        } else {
            PdfError::BrokenXref("no startxref before the final %%EOF".into())
        });
    };
    let mut lx = Lexer::new(&tail, at + b"startxref".len());
    let offset = lx
        .unsigned()
        .map_err(|_| PdfError::BrokenXref("startxref is not followed by an offset".into()))?;
    if offset >= len {
        return Err(PdfError::BrokenXref(format!(
            "startxref points to offset {offset}, past the end of the {len}-byte file"
        )));
    }
    Ok(offset)
}

/// The position of the last occurrence of `needle` in `hay`.
pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).rev().find(|&i| &hay[i..i + needle.len()] == needle)
}

/// Reads a window of the file and runs `parse` on it, growing the window while the parser
/// stops near the window's end before the end of the file: an error there may only mean that
/// the object continues past the window. `parse` gets the window and whether it reaches the
/// end of the file (so that it can ask for more bytes when a keyword may follow).
pub fn with_window<T>(
    source: &dyn Source,
    offset: u64,
    mut parse: impl FnMut(&[u8], bool) -> std::result::Result<T, super::lexer::SyntaxError>,
) -> Result<std::result::Result<T, super::lexer::SyntaxError>> {
    /// An error this close to the window's end may be caused by the window.
    const EDGE: usize = 64;
    let mut size = 16 * 1024usize;
    loop {
        let window = source.read_range(offset, size)?;
        let at_end = offset + window.len() as u64 >= source.len();
        match parse(&window, at_end) {
            Err(e) if !at_end && (e.eof || e.at + EDGE >= window.len()) => size = size.saturating_mul(4),
            other => return Ok(other),
        }
    }
}

/// An error that asks [`with_window`] for more bytes.
pub fn needs_more(at: usize) -> super::lexer::SyntaxError {
    super::lexer::SyntaxError { at, eof: true, what: "more bytes" }
}

fn read_section(source: &dyn Source, offset: u64, visited: &mut HashSet<u64>, budget: &mut usize) -> Result<XrefSection> {
    let head = source.read_range(offset, 64)?;
    let mut lx = Lexer::new(&head, 0);
    if lx.eat_keyword(b"xref") {
        let (entries, trailer) = with_window(source, offset, |data, _| parse_table(data))?
            .map_err(|e| PdfError::BrokenXref(format!("bad cross-reference table at offset {offset}: expected {}", e.what)))?;
        let mut section = XrefSection { offset, kind: XrefKind::Table, trailer, entries };
        if let Some(stm) = section.trailer.get(b"XRefStm").and_then(Object::as_i64) {
            let stm = u64::try_from(stm)
                .ok()
                .filter(|s| *s < source.len())
                .ok_or_else(|| PdfError::BrokenXref("/XRefStm points outside the file".into()))?;
            if !visited.insert(stm) {
                return Err(PdfError::BrokenXref(format!("/XRefStm {stm} is used twice")));
            }
            let hidden = read_stream_section(source, stm, budget)?;
            // In a hybrid file the stream fills the entries the table leaves free.
            let table: HashMap<u32, XrefEntry> = section.entries.iter().copied().collect();
            for (number, entry) in hidden.entries {
                if matches!(table.get(&number), None | Some(XrefEntry::Free)) && entry != XrefEntry::Free {
                    section.entries.push((number, entry));
                }
            }
            section.kind = XrefKind::Hybrid;
        }
        take_budget(budget, section.entries.len())?;
        Ok(section)
    } else {
        read_stream_section(source, offset, budget)
    }
}

fn parse_table(data: &[u8]) -> std::result::Result<(Vec<(u32, XrefEntry)>, Dictionary), super::lexer::SyntaxError> {
    use super::lexer::SyntaxError;
    let mut lx = Lexer::new(data, 0);
    lx.expect_keyword(b"xref", "'xref'")?;
    let mut entries = Vec::new();
    loop {
        if lx.eat_keyword(b"trailer") {
            let trailer = match lx.object()? {
                Object::Dictionary(d) => d,
                _ => return Err(SyntaxError { at: lx.pos(), eof: false, what: "a trailer dictionary" }),
            };
            return Ok((entries, trailer));
        }
        let first = lx.unsigned()?;
        let count = lx.unsigned()?;
        if first.saturating_add(count) > MAX_OBJECT_NUMBER + 1 {
            return Err(SyntaxError { at: lx.pos(), eof: false, what: "a subsection within the object number range" });
        }
        for i in 0..count {
            let offset = lx.unsigned()?;
            let generation = lx.unsigned()?;
            lx.skip_whitespace();
            let kind = lx.token();
            let number = (first + i) as u32;
            let entry = match kind {
                b"n" => XrefEntry::InFile {
                    offset,
                    generation: u16::try_from(generation).map_err(|_| SyntaxError {
                        at: lx.pos(),
                        eof: false,
                        what: "a generation number",
                    })?,
                },
                b"f" => XrefEntry::Free,
                _ => return Err(SyntaxError { at: lx.pos(), eof: lx.pos() >= data.len(), what: "'n' or 'f'" }),
            };
            // Object 0 is always the head of the free list.
            if number != 0 {
                entries.push((number, entry));
            }
        }
    }
}

/// Reads a complete indirect stream object at `offset` whose /Length is a direct integer.
/// Used for cross-reference streams, which cannot depend on the cross-reference data.
fn read_direct_stream(source: &dyn Source, offset: u64) -> Result<(Dictionary, Vec<u8>)> {
    let parsed = with_window(source, offset, |data, _| {
        let mut lx = Lexer::new(data, 0);
        lx.object_header()?;
        let dict = lx.object()?;
        lx.expect_keyword(b"stream", "'stream'")?;
        Ok((dict, data_start(data, lx.pos())))
    })?
    .map_err(|e| PdfError::BrokenXref(format!("no cross-reference stream at offset {offset}: expected {}", e.what)))?;
    let (Object::Dictionary(dict), start) = parsed else {
        return Err(PdfError::BrokenXref(format!("no cross-reference stream at offset {offset}")));
    };
    let length = dict
        .get(b"Length")
        .and_then(Object::as_i64)
        .and_then(|l| u64::try_from(l).ok())
        .ok_or_else(|| PdfError::BrokenXref("a cross-reference stream has no direct /Length".into()))?;
    let start = offset + start as u64;
    if start.saturating_add(length) > source.len() {
        return Err(PdfError::Truncated(format!("a cross-reference stream at offset {offset} runs past the end of the file")));
    }
    let data = source.read_range(start, length as usize)?;
    Ok((dict, data))
}

/// Where stream data begins after the `stream` keyword ending at `pos`: after CRLF or LF.
pub fn data_start(data: &[u8], pos: usize) -> usize {
    match (data.get(pos), data.get(pos + 1)) {
        (Some(b'\r'), Some(b'\n')) => pos + 2,
        (Some(b'\n'), _) | (Some(b'\r'), _) => pos + 1,
        _ => pos,
    }
}

fn take_budget(budget: &mut usize, entries: usize) -> Result<()> {
    *budget = budget
        .checked_sub(entries)
        .ok_or_else(|| PdfError::BrokenXref(format!("the cross-reference sections list more than {MAX_TOTAL_ENTRIES} entries")))?;
    Ok(())
}

fn read_stream_section(source: &dyn Source, offset: u64, budget: &mut usize) -> Result<XrefSection> {
    let (dict, raw) = read_direct_stream(source, offset)?;
    if !dict.has_type(b"XRef") {
        return Err(PdfError::BrokenXref(format!(
            "offset {offset} holds neither a cross-reference table nor a cross-reference stream"
        )));
    }
    let data = filter::decode(&dict, &raw).map_err(|e| PdfError::BrokenXref(format!("cross-reference stream: {e}")))?;
    let widths: Vec<usize> = dict
        .get(b"W")
        .and_then(Object::as_array)
        .map(|w| w.iter().filter_map(Object::as_i64).filter_map(|v| usize::try_from(v).ok()).collect())
        .unwrap_or_default();
    if widths.len() != 3 || widths.iter().any(|w| *w > 8) || widths.iter().sum::<usize>() == 0 {
        return Err(PdfError::BrokenXref("a cross-reference stream has a bad /W".into()));
    }
    let size = dict
        .get(b"Size")
        .and_then(Object::as_i64)
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| PdfError::BrokenXref("a cross-reference stream has no valid /Size".into()))?;
    let index: Vec<u64> = match dict.get(b"Index") {
        None => vec![0, size],
        Some(Object::Array(a)) => a
            .iter()
            .map(|v| v.as_i64().and_then(|i| u64::try_from(i).ok()))
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| PdfError::BrokenXref("a cross-reference stream's /Index holds a non-number".into()))?,
        Some(_) => return Err(PdfError::BrokenXref("a cross-reference stream's /Index is not an array".into())),
    };
    if index.len() % 2 != 0 || index.chunks(2).zip(index.chunks(2).skip(1)).any(|(a, b)| a[0].saturating_add(a[1]) > b[0]) {
        return Err(PdfError::BrokenXref("a cross-reference stream has a bad /Index (odd, overlapping or unordered)".into()));
    }
    take_budget(budget, usize::try_from(index.chunks(2).map(|p| p[1]).sum::<u64>()).unwrap_or(usize::MAX))?;
    let row = widths.iter().sum::<usize>();
    let mut rows = data.chunks_exact(row);
    let mut entries = Vec::new();
    for pair in index.chunks(2) {
        let (first, count) = (pair[0], pair[1]);
        if first.saturating_add(count) > MAX_OBJECT_NUMBER + 1 {
            return Err(PdfError::BrokenXref("a cross-reference stream names objects out of range".into()));
        }
        for i in 0..count {
            let Some(r) = rows.next() else {
                return Err(PdfError::BrokenXref("a cross-reference stream has fewer rows than /Index says".into()));
            };
            let field = |n: usize| -> u64 {
                let start: usize = widths[..n].iter().sum();
                r[start..start + widths[n]].iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
            };
            let kind = if widths[0] == 0 { 1 } else { field(0) };
            let number = (first + i) as u32;
            let entry = match kind {
                0 => XrefEntry::Free,
                1 => XrefEntry::InFile { offset: field(1), generation: field(2).min(u64::from(u16::MAX)) as u16 },
                2 => XrefEntry::InStream {
                    stream: u32::try_from(field(1)).unwrap_or(u32::MAX),
                    index: u32::try_from(field(2)).unwrap_or(u32::MAX),
                },
                // Unknown types are to be ignored (7.5.8.3): treat as a null object.
                _ => XrefEntry::Free,
            };
            if number != 0 {
                entries.push((number, entry));
            }
        }
    }
    Ok(XrefSection { offset, kind: XrefKind::Stream, trailer: dict, entries })
}

/// Whether `data` at `pos` starts with optional white space and then `keyword`.
pub fn followed_by(data: &[u8], mut pos: usize, keyword: &[u8]) -> bool {
    while data.get(pos).is_some_and(|b| is_whitespace(*b)) {
        pos += 1;
    }
    data.get(pos..pos + keyword.len()) == Some(keyword)
}
