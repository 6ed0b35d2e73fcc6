//! Cross-reference sections: classic tables, cross-reference streams and hybrid files, read
//! from the file's last `startxref` back through every `/Prev`, without scanning or repairing.

use std::collections::{HashMap, HashSet};

use super::error::{PdfError, Result};
use super::filter;
use super::lexer::{Lexer, is_whitespace};
use super::limits::Limits;
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
    /// Offset just past the section (the trailer dictionary, or the stream's data).
    pub end: u64,
    /// For a hybrid section: the offset of its /XRefStm stream, and the index in `entries`
    /// from which the entries come from that stream.
    pub hidden: Option<(u64, usize)>,
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
    /// For each section (same order), the offset just past the `%%EOF` ending its revision.
    pub revision_ends: Vec<u64>,
    /// The in-file objects of `entries` as (offset, object number), sorted by offset.
    pub offsets: Vec<(u64, u32)>,
}

/// Largest object number accepted.
const MAX_OBJECT_NUMBER: u64 = 8_388_607;

impl Xref {
    /// The trailer of the newest section.
    pub fn trailer(&self) -> &Dictionary {
        // `read` never returns an Xref without sections.
        &self.sections[0].trailer
    }

    /// Reads the cross-reference chain of `source` within the default limits.
    pub fn read(source: &dyn Source) -> Result<Xref> {
        Self::read_with(source, &Limits::default())
    }

    /// Reads the cross-reference chain of `source`, whose last `startxref` must lie in the
    /// final 2 KiB, within `limits`.
    pub fn read_with(source: &dyn Source, limits: &Limits) -> Result<Xref> {
        let startxref = find_startxref(source)?;
        Self::read_from(source, startxref, limits)
    }

    /// Reads the chain that starts at `startxref`, and checks that it is the one reading of
    /// the file: no object listed twice in a section, every offset inside its own revision
    /// (or repeating an older entry), no two objects at one offset, and nothing but white
    /// space after the final `%%EOF`.
    pub fn read_from(source: &dyn Source, startxref: u64, limits: &Limits) -> Result<Xref> {
        let len = source.len();
        let mut sections = Vec::new();
        let mut visited = HashSet::new();
        let mut budget = Budget {
            left: limits.xref_entries(len),
            limit: limits.xref_entries(len),
            file_size: len,
        };
        let mut next = Some(startxref);
        while let Some(offset) = next {
            limits.check_cancelled()?;
            if !visited.insert(offset) {
                return Err(PdfError::BrokenXref(format!(
                    "the /Prev chain loops back to offset {offset}"
                )));
            }
            if sections.len() >= limits.revisions {
                return Err(PdfError::Limit(format!(
                    "the document has more than {} cross-reference sections (the revision limit)",
                    limits.revisions
                )));
            }
            let section = read_section(source, offset, &mut visited, &mut budget, limits)?;
            next = match section.trailer.get(b"Prev") {
                None => None,
                Some(Object::Integer(p)) if *p >= 0 => Some(*p as u64),
                Some(_) => {
                    return Err(PdfError::BrokenXref("a trailer's /Prev is not an offset".into()));
                }
            };
            sections.push(section);
        }
        let n = sections.len();
        if n >= 2 && sections[n - 2].offset < sections[n - 1].offset {
            check_linearized(source, &sections[n - 2], &sections[n - 1])?;
        }
        let (revision_ends, ranges) = revisions(source, &sections, limits)?;
        // Nothing but white space may follow the newest revision: bytes there would be read
        // by no one, or by a repairing reader as something else.
        check_tail(source, revision_ends[0], limits)?;
        // Oldest first: an in-file entry must lie in its own revision, or repeat the entry an
        // older section gave the same object (writers re-list unchanged objects).
        let mut entries: HashMap<u32, XrefEntry> =
            HashMap::with_capacity(sections.iter().map(|s| s.entries.len()).max().unwrap_or(0));
        for (i, (section, &(low, high))) in sections.iter().zip(&ranges).enumerate().rev() {
            // A hybrid's stream may sit in an earlier revision: its entries belong to that one.
            let hidden = match section.hidden {
                Some((stm, from)) => {
                    match ranges[i..].iter().find(|(l, h)| (*l..=*h).contains(&stm)) {
                        Some(&(l, _)) => Some((from, l, stm)),
                        None => {
                            return Err(PdfError::BrokenXref(format!(
                                "the /XRefStm stream at offset {stm} lies in no revision"
                            )));
                        }
                    }
                }
                None => None,
            };
            for (k, &(number, entry)) in section.entries.iter().enumerate() {
                if let XrefEntry::InFile { offset, .. } = entry {
                    let (low, high) = match hidden {
                        Some((from, l, stm)) if k >= from => (l, stm),
                        _ => (low, high),
                    };
                    if offset >= len {
                        return Err(PdfError::BrokenXref(format!(
                            "object {number} is listed at offset {offset}, past the end of the file"
                        )));
                    }
                    if !(low..=high).contains(&offset) && entries.get(&number) != Some(&entry) {
                        return Err(PdfError::BrokenXref(format!(
                            "object {number} is listed at offset {offset}, outside its revision (bytes {low} to {high}) of the cross-reference section at offset {}",
                            section.offset
                        )));
                    }
                }
                entries.insert(number, entry);
            }
        }
        let offsets = sorted_offsets(&entries)?;
        Ok(Xref { sections, entries, startxref, revision_ends, offsets })
    }

    /// The cross-reference data of the revision that ends at `end` (just past its `%%EOF`,
    /// an end of line allowed): the sections from that revision back, merged. `None` when no
    /// revision ends there.
    pub fn revision(&self, end: u64, eol: &[u8]) -> Result<Option<Xref>> {
        let Some(k) =
            self.revision_ends.iter().position(|e| *e <= end && end - *e == eol.len() as u64)
        else {
            return Ok(None);
        };
        let sections = self.sections[k..].to_vec();
        let mut entries =
            HashMap::with_capacity(sections.iter().map(|s| s.entries.len()).max().unwrap_or(0));
        for section in sections.iter().rev() {
            entries.extend(section.entries.iter().copied());
        }
        let offsets = sorted_offsets(&entries)?;
        let startxref = sections[0].offset;
        Ok(Some(Xref {
            sections,
            entries,
            startxref,
            revision_ends: self.revision_ends[k..].to_vec(),
            offsets,
        }))
    }
}

/// The in-file entries sorted by offset; two objects at one offset are an error.
fn sorted_offsets(entries: &HashMap<u32, XrefEntry>) -> Result<Vec<(u64, u32)>> {
    let mut offsets: Vec<(u64, u32)> = entries
        .iter()
        .filter_map(|(n, e)| match e {
            XrefEntry::InFile { offset, .. } => Some((*offset, *n)),
            _ => None,
        })
        .collect();
    offsets.sort_unstable();
    if let Some(w) = offsets.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(PdfError::BrokenXref(format!(
            "objects {} and {} are both listed at offset {}",
            w[0].1, w[1].1, w[0].0
        )));
    }
    Ok(offsets)
}

/// The two oldest sections may lie in reverse order only as a linearized file's first-page and
/// main sections: the file must say it is linearized, and the two must not list one object
/// differently (each reader would otherwise pick its own).
fn check_linearized(
    source: &dyn Source,
    first_page: &XrefSection,
    main: &XrefSection,
) -> Result<()> {
    let head = source.read_range(0, 1024)?;
    if find(&head, b"/Linearized").is_none() {
        return Err(PdfError::BrokenXref(format!(
            "the cross-reference section at offset {} comes before the older one at offset {} in a file that is not linearized",
            first_page.offset, main.offset
        )));
    }
    let listed: HashMap<u32, XrefEntry> =
        main.entries.iter().copied().filter(|(_, e)| *e != XrefEntry::Free).collect();
    for (number, entry) in &first_page.entries {
        if *entry != XrefEntry::Free && listed.get(number).is_some_and(|other| other != entry) {
            return Err(PdfError::BrokenXref(format!(
                "object {number} is listed differently by the first-page and the main cross-reference sections"
            )));
        }
    }
    Ok(())
}

/// For each section: where its revision ends, and the offsets (low, high) its entries may take.
type Revisions = (Vec<u64>, Vec<(u64, u64)>);

/// Where each section's revision ends (just past its `%%EOF`) and the offsets its in-file
/// entries may take. A revision runs from the end of the one before it to its section; the
/// two oldest sections of a linearized file (the first-page section at the start, pointing
/// back to the main one at the end) form one revision.
fn revisions(source: &dyn Source, sections: &[XrefSection], limits: &Limits) -> Result<Revisions> {
    let n = sections.len();
    let len = source.len();
    let mut ends = vec![0u64; n];
    let mut ranges = vec![(0u64, 0u64); n];
    let group = if n >= 2 && sections[n - 2].offset < sections[n - 1].offset { 2 } else { 1 };
    let first_newer = n - group;
    let group_last = sections[first_newer..].iter().map(|s| s.end).max().unwrap_or(0);
    let group_high = sections[first_newer..].iter().map(|s| s.offset).max().unwrap_or(0);
    let bound = if first_newer > 0 { sections[first_newer - 1].offset } else { len };
    let mut previous_end = eof_after(source, group_last, bound, group_high, limits)?;
    for i in first_newer..n {
        ends[i] = previous_end;
        ranges[i] = (0, group_high);
    }
    for i in (0..first_newer).rev() {
        let section = &sections[i];
        if section.offset < previous_end {
            return Err(PdfError::BrokenXref(format!(
                "the cross-reference section at offset {} lies inside the revision before it, which ends at offset {previous_end}",
                section.offset
            )));
        }
        let bound = if i > 0 { sections[i - 1].offset } else { len };
        ranges[i] = (previous_end, section.offset);
        previous_end = eof_after(source, section.end, bound, section.offset, limits)?;
        ends[i] = previous_end;
    }
    Ok((ends, ranges))
}

/// The offset just past the first `%%EOF` in `from .. bound`: the end of the revision whose
/// cross-reference section (at `section`) ends at `from`.
fn eof_after(
    source: &dyn Source,
    from: u64,
    bound: u64,
    section: u64,
    limits: &Limits,
) -> Result<u64> {
    const CHUNK: usize = 64 * 1024;
    let mut at = from;
    while at < bound {
        limits.check_cancelled()?;
        let want = usize::try_from(bound - at).unwrap_or(usize::MAX).min(CHUNK + 4);
        let chunk = source.read_range(at, want)?;
        if let Some(i) = find(&chunk, b"%%EOF") {
            return Ok(at + i as u64 + 5);
        }
        if chunk.len() < want || chunk.len() <= 4 {
            break;
        }
        at += (chunk.len() - 4) as u64;
    }
    Err(PdfError::BrokenXref(format!(
        "no %%EOF ends the revision of the cross-reference section at offset {section} before the next revision begins"
    )))
}

/// Only white space may follow the final `%%EOF`, which ends at `end`.
fn check_tail(source: &dyn Source, end: u64, limits: &Limits) -> Result<()> {
    const CHUNK: usize = 64 * 1024;
    let len = source.len();
    let mut at = end;
    while at < len {
        limits.check_cancelled()?;
        let chunk = source.read_range(at, CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        if chunk.iter().any(|b| !is_whitespace(*b)) {
            return Err(PdfError::BrokenXref(format!(
                "{} byte(s) after the final %%EOF (offset {end}) are not a revision of the file",
                len - end
            )));
        }
        at += chunk.len() as u64;
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
            Err(e) if !at_end && (e.eof || e.at + EDGE >= window.len()) => {
                size = size.saturating_mul(4)
            }
            other => return Ok(other),
        }
    }
}

/// An error that asks [`with_window`] for more bytes.
pub fn needs_more(at: usize) -> super::lexer::SyntaxError {
    super::lexer::SyntaxError { at, eof: true, what: "more bytes" }
}

/// The cross-reference entries still allowed, and the limit they come from.
struct Budget {
    left: u64,
    limit: u64,
    file_size: u64,
}

impl Budget {
    fn take(&mut self, entries: u64) -> Result<()> {
        self.left = self.left.checked_sub(entries).ok_or_else(|| {
            PdfError::Limit(format!(
                "the document lists more than {} cross-reference entries (the limit for a file of {} bytes)",
                self.limit, self.file_size
            ))
        })?;
        Ok(())
    }
}

/// Fails when `entries` lists an object number twice; `what` names the section.
fn check_unique(entries: &[(u32, XrefEntry)], what: impl FnOnce() -> String) -> Result<()> {
    match first_repeated(entries.iter().map(|(n, _)| *n)) {
        Some(n) => Err(PdfError::BrokenXref(format!("object {n} is listed twice in {}", what()))),
        None => Ok(()),
    }
}

/// The smallest value that occurs more than once in `values`, if any.
pub(crate) fn first_repeated<T: Ord + Copy>(values: impl IntoIterator<Item = T>) -> Option<T> {
    let mut sorted: Vec<T> = values.into_iter().collect();
    sorted.sort_unstable();
    sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

fn read_section(
    source: &dyn Source,
    offset: u64,
    visited: &mut HashSet<u64>,
    budget: &mut Budget,
    limits: &Limits,
) -> Result<XrefSection> {
    let head = source.read_range(offset, 64)?;
    let mut lx = Lexer::new(&head, 0);
    if lx.eat_keyword(b"xref") {
        let (entries, trailer, end) = with_window(source, offset, |data, _| parse_table(data))?
            .map_err(|e| {
                PdfError::BrokenXref(format!(
                    "bad cross-reference table at offset {offset}: expected {}",
                    e.what
                ))
            })?;
        budget.take(entries.len() as u64)?;
        check_unique(&entries, || format!("the cross-reference table at offset {offset}"))?;
        let mut section = XrefSection {
            offset,
            kind: XrefKind::Table,
            trailer,
            entries,
            end: offset + end as u64,
            hidden: None,
        };
        if let Some(stm) = section.trailer.get(b"XRefStm").and_then(Object::as_i64) {
            let stm = u64::try_from(stm).ok().filter(|s| *s < offset).ok_or_else(|| {
                PdfError::BrokenXref(
                    "/XRefStm does not point before its cross-reference table".into(),
                )
            })?;
            if !visited.insert(stm) {
                return Err(PdfError::BrokenXref(format!("/XRefStm {stm} is used twice")));
            }
            let hidden = read_stream_section(source, stm, budget, limits)?;
            section.hidden = Some((stm, section.entries.len()));
            // In a hybrid file the stream fills the entries the table leaves free; an object
            // both list in use, at different places, would be read differently by readers
            // that look at the stream first.
            let table: HashMap<u32, XrefEntry> = section.entries.iter().copied().collect();
            for (number, entry) in hidden.entries {
                match table.get(&number) {
                    _ if entry == XrefEntry::Free => {}
                    None | Some(XrefEntry::Free) => section.entries.push((number, entry)),
                    Some(listed) if *listed == entry => {}
                    Some(_) => {
                        return Err(PdfError::BrokenXref(format!(
                            "object {number} is listed twice in the hybrid cross-reference section at offset {offset}, differently by the table and by its /XRefStm stream"
                        )));
                    }
                }
            }
            section.kind = XrefKind::Hybrid;
        }
        Ok(section)
    } else {
        read_stream_section(source, offset, budget, limits)
    }
}

/// A table's entries, its trailer, and where the trailer ends.
type Table = (Vec<(u32, XrefEntry)>, Dictionary, usize);

fn parse_table(data: &[u8]) -> std::result::Result<Table, super::lexer::SyntaxError> {
    use super::lexer::SyntaxError;
    let mut lx = Lexer::new(data, 0);
    lx.expect_keyword(b"xref", "'xref'")?;
    let mut entries = Vec::new();
    loop {
        if lx.eat_keyword(b"trailer") {
            let trailer = match lx.object()? {
                Object::Dictionary(d) => d,
                _ => {
                    return Err(SyntaxError {
                        at: lx.pos(),
                        eof: false,
                        what: "a trailer dictionary",
                    });
                }
            };
            return Ok((entries, trailer, lx.pos()));
        }
        let first = lx.unsigned()?;
        let count = lx.unsigned()?;
        if first.saturating_add(count) > MAX_OBJECT_NUMBER + 1 {
            return Err(SyntaxError {
                at: lx.pos(),
                eof: false,
                what: "a subsection within the object number range",
            });
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
                _ => {
                    return Err(SyntaxError {
                        at: lx.pos(),
                        eof: lx.pos() >= data.len(),
                        what: "'n' or 'f'",
                    });
                }
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
fn read_direct_stream(source: &dyn Source, offset: u64) -> Result<(Dictionary, Vec<u8>, u64)> {
    let parsed = with_window(source, offset, |data, _| {
        let mut lx = Lexer::new(data, 0);
        lx.object_header()?;
        let dict = lx.object()?;
        lx.expect_keyword(b"stream", "'stream'")?;
        Ok((dict, data_start(data, lx.pos())))
    })?
    .map_err(|e| {
        PdfError::BrokenXref(format!(
            "no cross-reference stream at offset {offset}: expected {}",
            e.what
        ))
    })?;
    let (Object::Dictionary(dict), start) = parsed else {
        return Err(PdfError::BrokenXref(format!("no cross-reference stream at offset {offset}")));
    };
    let length = dict
        .get(b"Length")
        .and_then(Object::as_i64)
        .and_then(|l| u64::try_from(l).ok())
        .ok_or_else(|| {
        PdfError::BrokenXref("a cross-reference stream has no direct /Length".into())
    })?;
    let start = offset + start as u64;
    if start.saturating_add(length) > source.len() {
        return Err(PdfError::Truncated(format!(
            "a cross-reference stream at offset {offset} runs past the end of the file"
        )));
    }
    let data = source.read_range(start, length as usize)?;
    let after = source.read_range(start + length, 32)?;
    if !followed_by(&after, 0, b"endstream") {
        return Err(PdfError::BrokenXref(format!(
            "the cross-reference stream at offset {offset}: its /Length does not end at 'endstream'"
        )));
    }
    Ok((dict, data, start + length))
}

/// Where stream data begins after the `stream` keyword ending at `pos`: after CRLF or LF.
pub fn data_start(data: &[u8], pos: usize) -> usize {
    match (data.get(pos), data.get(pos + 1)) {
        (Some(b'\r'), Some(b'\n')) => pos + 2,
        (Some(b'\n'), _) | (Some(b'\r'), _) => pos + 1,
        _ => pos,
    }
}

fn read_stream_section(
    source: &dyn Source,
    offset: u64,
    budget: &mut Budget,
    limits: &Limits,
) -> Result<XrefSection> {
    let (dict, raw, end) = read_direct_stream(source, offset)?;
    if !dict.has_type(b"XRef") {
        return Err(PdfError::BrokenXref(format!(
            "offset {offset} holds neither a cross-reference table nor a cross-reference stream"
        )));
    }
    let widths: Vec<usize> = dict
        .get(b"W")
        .and_then(Object::as_array)
        .map(|w| {
            w.iter().filter_map(Object::as_i64).filter_map(|v| usize::try_from(v).ok()).collect()
        })
        .unwrap_or_default();
    if widths.len() != 3 || widths.iter().any(|w| *w > 8) || widths.iter().sum::<usize>() == 0 {
        return Err(PdfError::BrokenXref("a cross-reference stream has a bad /W".into()));
    }
    let size =
        dict.get(b"Size").and_then(Object::as_i64).and_then(|s| u64::try_from(s).ok()).ok_or_else(
            || PdfError::BrokenXref("a cross-reference stream has no valid /Size".into()),
        )?;
    let index: Vec<u64> = match dict.get(b"Index") {
        None => vec![0, size],
        Some(Object::Array(a)) => a
            .iter()
            .map(|v| v.as_i64().and_then(|i| u64::try_from(i).ok()))
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                PdfError::BrokenXref("a cross-reference stream's /Index holds a non-number".into())
            })?,
        Some(_) => {
            return Err(PdfError::BrokenXref(
                "a cross-reference stream's /Index is not an array".into(),
            ));
        }
    };
    if index.len() % 2 != 0
        || index
            .chunks(2)
            .zip(index.chunks(2).skip(1))
            .any(|(a, b)| a[0].saturating_add(a[1]) > b[0])
    {
        return Err(PdfError::BrokenXref(
            "a cross-reference stream has a bad /Index (odd, overlapping or unordered)".into(),
        ));
    }
    let rows_listed = index.chunks(2).fold(0u64, |sum, p| sum.saturating_add(p[1]));
    budget.take(rows_listed)?;
    let row = widths.iter().sum::<usize>();
    // The rows need this many bytes (a PNG predictor adds one per row); more is not decoded.
    let needed = rows_listed.saturating_mul(row as u64 + 1).saturating_add(4096);
    let data = match filter::decode_within(&dict, &raw, needed.min(limits.stream_decoded_bytes)) {
        Err(PdfError::Limit(why)) => {
            return Err(PdfError::Limit(format!(
                "the cross-reference stream at offset {offset}: {why}"
            )));
        }
        other => other.map_err(|e| PdfError::BrokenXref(format!("cross-reference stream: {e}")))?,
    };
    let mut rows = data.chunks_exact(row);
    let mut entries = Vec::new();
    for pair in index.chunks(2) {
        let (first, count) = (pair[0], pair[1]);
        if first.saturating_add(count) > MAX_OBJECT_NUMBER + 1 {
            return Err(PdfError::BrokenXref(
                "a cross-reference stream names objects out of range".into(),
            ));
        }
        for i in 0..count {
            let Some(r) = rows.next() else {
                return Err(PdfError::BrokenXref(
                    "a cross-reference stream has fewer rows than /Index says".into(),
                ));
            };
            let field = |n: usize| -> u64 {
                let start: usize = widths[..n].iter().sum();
                r[start..start + widths[n]].iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
            };
            let kind = if widths[0] == 0 { 1 } else { field(0) };
            let number = (first + i) as u32;
            let entry = match kind {
                0 => XrefEntry::Free,
                1 => XrefEntry::InFile {
                    offset: field(1),
                    generation: field(2).min(u64::from(u16::MAX)) as u16,
                },
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
    Ok(XrefSection { offset, kind: XrefKind::Stream, trailer: dict, entries, end, hidden: None })
}

/// Whether `data` at `pos` starts with optional white space and then `keyword`.
pub fn followed_by(data: &[u8], mut pos: usize, keyword: &[u8]) -> bool {
    while data.get(pos).is_some_and(|b| is_whitespace(*b)) {
        pos += 1;
    }
    data.get(pos..pos + keyword.len()) == Some(keyword)
}
