//! A PDF opened lazily: the cross-reference data is read up front, objects only when asked for.
//!
//! Reading a page of a 100 MB scan touches the trailer, the catalog, the page tree path to that
//! page and the form: a few kilobytes, whatever the size of the file.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::crypt::Crypt;
use super::error::{PdfError, Result};
use super::filter;
use super::lexer::Lexer;
use super::limits::Limits;
use super::object::{Dictionary, Object, ObjectId, Stream};
use super::source::{Prefix, Source};
use super::xref::{Xref, XrefEntry, data_start, followed_by, with_window};

/// Largest stream the engine loads for an object it must read (a page tree node is never big).
const MAX_STREAM_LOAD: u64 = 512 * 1024 * 1024;
/// Page trees deeper than this are refused.
const MAX_PAGE_TREE_DEPTH: usize = 64;
/// The inheritable page attributes the engine uses (7.7.3.4).
const INHERITED: [&[u8]; 3] = [b"MediaBox", b"CropBox", b"Rotate"];
/// At most this many pages are listed by [`Document::pages`].
const MAX_PAGES: usize = 1_000_000;

/// A decoded object stream: (object number, offset) pairs and the decoded bytes.
struct ObjectStream {
    offsets: Vec<(u32, usize)>,
    first: usize,
    data: Vec<u8>,
}

/// A page found in the page tree, with the attributes it inherits.
#[derive(Clone, Debug)]
pub struct Page {
    /// The page object's id.
    pub id: ObjectId,
    /// The page dictionary (decrypted).
    pub dict: Dictionary,
    /// 0-based index in the document.
    pub index: u32,
    /// /MediaBox (inherited when needed), normalised to [llx lly urx ury].
    pub media_box: [f64; 4],
    /// /CropBox (inherited when needed, else the media box), clipped to the media box.
    pub crop_box: [f64; 4],
    /// /Rotate normalised to 0, 90, 180 or 270.
    pub rotate: u16,
}

/// An open document.
pub struct Document<S: Source> {
    source: S,
    xref: Xref,
    crypt: Option<Crypt>,
    encrypt_ref: Option<ObjectId>,
    object_streams: RefCell<HashMap<u32, Rc<ObjectStream>>>,
    /// How deep object reads are nested (a stream's /Length or object stream read while
    /// reading another object); bounded so that reference cycles end in an error.
    depth: Cell<u32>,
    /// The bounds on the work this document may cost, and the cancel flag.
    limits: Limits,
    /// Objects read so far (bounded by `limits.objects_read`).
    objects_read: Cell<u64>,
    /// Bytes decoded from streams so far, by this document and every earlier revision opened
    /// from it: one budget for the file, so that opening many revisions does not multiply it.
    decoded: Rc<DecodeBudget>,
    /// The first limit this document reached: kept, so that a caller that skips unreadable
    /// objects as damage still learns that reading stopped at a limit.
    exceeded: RefCell<Option<String>>,
}

/// The decoded bytes one file may produce, shared by the document and its earlier revisions.
#[derive(Debug)]
struct DecodeBudget {
    spent: Cell<u64>,
    allowed: u64,
    file_size: u64,
}

impl<S: Source> Document<S> {
    /// Opens a document: checks the header, reads the cross-reference chain and, for an
    /// encrypted file, opens it with the empty user password.
    pub fn open(source: S) -> Result<Self> {
        Self::open_with(source, Limits::default())
    }

    /// Opens a document like [`Document::open`], within `limits`.
    pub fn open_with(source: S, limits: Limits) -> Result<Self> {
        let head = source.read_range(0, 1024)?;
        let Some(at) = find(&head, b"%PDF-") else {
            return Err(PdfError::NotPdf("the file does not start with a %PDF- header".into()));
        };
        if at > 0 && !head[..at].iter().all(|b| b.is_ascii_whitespace()) {
            // Leading garbage shifts every offset; accepting it would mean guessing.
            return Err(PdfError::Unsupported("bytes before the %PDF- header".into()));
        }
        let xref = Xref::read_with(&source, &limits)?;
        let budget = Rc::new(DecodeBudget {
            spent: Cell::new(0),
            allowed: limits.document_decoded(source.len()),
            file_size: source.len(),
        });
        Self::with_xref(source, xref, limits, budget)
    }

    /// The document over `source` as its cross-reference data `xref` describes it.
    fn with_xref(source: S, xref: Xref, limits: Limits, decoded: Rc<DecodeBudget>) -> Result<Self> {
        let mut doc = Document {
            source,
            xref,
            crypt: None,
            encrypt_ref: None,
            object_streams: RefCell::default(),
            depth: Cell::new(0),
            limits,
            objects_read: Cell::new(0),
            decoded,
            exceeded: RefCell::new(None),
        };
        if doc.trailer().get(b"Root").and_then(Object::as_reference).is_none() {
            return Err(PdfError::BrokenXref("the trailer has no /Root reference".into()));
        }
        match doc.trailer().get(b"Encrypt").cloned() {
            None => {}
            Some(Object::Reference(id)) => {
                let dict = doc.object(id)?;
                let dict = dict
                    .as_dict()
                    .ok_or_else(|| PdfError::Malformed("/Encrypt is not a dictionary".into()))?;
                doc.crypt = Some(Crypt::open(dict)?);
                doc.encrypt_ref = Some(id);
            }
            Some(Object::Dictionary(d)) => doc.crypt = Some(Crypt::open(&d)?),
            Some(_) => return Err(PdfError::Malformed("/Encrypt is not a dictionary".into())),
        }
        Ok(doc)
    }

    /// The earlier revision of this document that ends at `end` (just past its `%%EOF` and
    /// an optional end of line), as it was then, read from the cross-reference data already
    /// read; `None` when no revision ends there.
    pub fn revision(&self, end: u64) -> Result<Option<Document<Prefix<'_, S>>>> {
        let tail = self
            .source
            .read_range(end.saturating_sub(2), usize::try_from(end.min(2)).unwrap_or(0))?;
        let eol: &[u8] = if tail.ends_with(b"\r\n") {
            b"\r\n"
        } else if tail.ends_with(b"\n") || tail.ends_with(b"\r") {
            &tail[tail.len() - 1..]
        } else {
            b""
        };
        let Some(xref) = self.xref.revision(end, eol)? else { return Ok(None) };
        Document::with_xref(
            Prefix::new(&self.source, end),
            xref,
            self.limits.clone(),
            Rc::clone(&self.decoded),
        )
        .map(Some)
    }

    /// The limit error this document reached, if any (later reads may have gone on).
    pub fn exceeded(&self) -> Option<PdfError> {
        self.exceeded.borrow().clone().map(PdfError::Limit)
    }

    fn exceed(&self, why: String) -> PdfError {
        self.exceeded.borrow_mut().get_or_insert_with(|| why.clone());
        PdfError::Limit(why)
    }

    /// The limits this document is read within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The decoded data of `stream`, counted against the file's decoded-bytes budget.
    pub fn decode(&self, stream: &Stream) -> Result<Vec<u8>> {
        let data = match filter::decode_within(
            &stream.dict,
            &stream.data,
            self.limits.stream_decoded_bytes,
        ) {
            Err(PdfError::Limit(why)) => return Err(self.exceed(why)),
            other => other?,
        };
        let budget = &self.decoded;
        budget.spent.set(budget.spent.get().saturating_add(data.len() as u64));
        if budget.spent.get() > budget.allowed {
            return Err(self.exceed(format!(
                "the document's streams decode to more than {} bytes (the decoded-bytes limit for a file of {} bytes)",
                budget.allowed, budget.file_size
            )));
        }
        Ok(data)
    }

    /// The underlying bytes.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The cross-reference data.
    pub fn xref(&self) -> &Xref {
        &self.xref
    }

    /// The newest trailer.
    pub fn trailer(&self) -> &Dictionary {
        self.xref.trailer()
    }

    /// The security handler, for an encrypted file.
    pub fn crypt(&self) -> Option<&Crypt> {
        self.crypt.as_ref()
    }

    /// The catalog's id.
    pub fn root_id(&self) -> Result<ObjectId> {
        self.trailer()
            .get(b"Root")
            .and_then(Object::as_reference)
            .ok_or_else(|| PdfError::BrokenXref("the trailer has no /Root reference".into()))
    }

    /// The catalog dictionary.
    pub fn catalog(&self) -> Result<Dictionary> {
        let root = self.root_id()?;
        self.dict(root, "the document catalog")
    }

    /// The number one more than the highest object number in use (at least the trailer /Size).
    ///
    /// Errors when an update could not number its objects within the limit of 8,388,607
    /// object numbers (a hostile /Size).
    pub fn next_object_number(&self) -> Result<u32> {
        const LIMIT: i64 = 8_388_607 - 1024;
        let size = self.trailer().get(b"Size").and_then(Object::as_i64).unwrap_or(0);
        let highest = self.xref.entries.keys().max().copied().map(i64::from).unwrap_or(0);
        let next = size.max(highest + 1).max(1);
        if next > LIMIT {
            return Err(PdfError::Unsupported(format!(
                "the trailer's /Size {size} leaves no object numbers for an update"
            )));
        }
        Ok(next as u32)
    }

    /// Reads the dictionary of object `id` (or of the stream it is); `what` names it in errors.
    pub fn dict(&self, id: ObjectId, what: &str) -> Result<Dictionary> {
        match self.object(id)? {
            Object::Dictionary(d) => Ok(d),
            Object::Stream(s) => Ok(s.dict),
            other => Err(PdfError::Malformed(format!(
                "{what} ({id}) is a {}, not a dictionary",
                other.type_name()
            ))),
        }
    }

    /// Follows `value` if it is a reference; returns it unchanged otherwise.
    pub fn resolve(&self, value: &Object) -> Result<Object> {
        match value {
            Object::Reference(id) => self.object(*id),
            other => Ok(other.clone()),
        }
    }

    /// Reads object `id`. A number the cross-reference data does not list, or lists as free,
    /// reads as `null` (7.3.10). Objects of encrypted files come back decrypted.
    pub fn object(&self, id: ObjectId) -> Result<Object> {
        const MAX_NESTING: u32 = 8;
        if self.depth.get() >= MAX_NESTING {
            return Err(PdfError::Malformed(format!(
                "reading object {id} needs other objects in a cycle (/Length or object streams)"
            )));
        }
        self.limits.check_cancelled()?;
        let read = self.objects_read.get() + 1;
        self.objects_read.set(read);
        if read > self.limits.objects_read {
            return Err(self.exceed(format!(
                "reading the document takes more than {} object reads (the object limit)",
                self.limits.objects_read
            )));
        }
        self.depth.set(self.depth.get() + 1);
        let result = self.object_unguarded(id);
        self.depth.set(self.depth.get() - 1);
        result
    }

    fn object_unguarded(&self, id: ObjectId) -> Result<Object> {
        match self.xref.entries.get(&id.number).copied() {
            None | Some(XrefEntry::Free) => Ok(Object::Null),
            Some(XrefEntry::InFile { offset, generation }) => {
                if generation != id.generation {
                    return Ok(Object::Null);
                }
                self.object_in_file(id, offset)
            }
            Some(XrefEntry::InStream { stream, index }) => {
                if id.generation != 0 {
                    return Ok(Object::Null);
                }
                self.object_in_stream(id.number, stream, index)
            }
        }
    }

    /// Reads object `id` for its structure only: a stream comes back with its dictionary and
    /// no data, and nothing is decrypted. Cheap on large files; for following references.
    pub fn object_structure(&self, id: ObjectId) -> Result<Object> {
        match self.xref.entries.get(&id.number).copied() {
            Some(XrefEntry::InFile { offset, generation }) if generation == id.generation => {
                let (object, stream_at, end) = self.parse_at(id, offset)?;
                self.check_alone(id, offset, stream_at.unwrap_or(end))?;
                Ok(match (object, stream_at) {
                    (Object::Dictionary(dict), Some(_)) => {
                        Object::Stream(Stream { dict, data: Vec::new() })
                    }
                    (object, _) => object,
                })
            }
            _ => self.object(id),
        }
    }

    /// Reads the object that starts at `offset`, which must be `id`.
    pub fn object_in_file(&self, id: ObjectId, offset: u64) -> Result<Object> {
        let (object, stream_at, end) = self.parse_at(id, offset)?;
        let object = match stream_at {
            None => {
                self.check_alone(id, offset, end)?;
                object
            }
            Some(data_offset) => {
                let Object::Dictionary(dict) = object else {
                    return Err(PdfError::Malformed(format!(
                        "object {id} has stream data after a non-dictionary"
                    )));
                };
                let data = self.stream_data(id, &dict, data_offset)?;
                self.check_alone(id, offset, data_offset + data.len() as u64)?;
                Object::Stream(Stream { dict, data })
            }
        };
        Ok(match &self.crypt {
            Some(crypt) if Some(id) != self.encrypt_ref => decrypt_object(crypt, object)?,
            _ => object,
        })
    }

    /// Fails when another listed object starts inside the bytes of object `id`, which runs
    /// from `start` to `end`: two readers could then see two different objects there.
    fn check_alone(&self, id: ObjectId, start: u64, end: u64) -> Result<()> {
        let offsets = &self.xref.offsets;
        let next = offsets.partition_point(|(o, _)| *o <= start);
        match offsets.get(next) {
            Some(&(inside, number)) if inside < end => Err(PdfError::BrokenXref(format!(
                "object {number} is listed at offset {inside}, inside object {id} (bytes {start} to {end})"
            ))),
            _ => Ok(()),
        }
    }

    /// Parses `N G obj <object>` at `offset`; returns the object, for a stream the offset of
    /// its data, and the offset where the object's syntax ends.
    fn parse_at(&self, id: ObjectId, offset: u64) -> Result<(Object, Option<u64>, u64)> {
        if offset >= self.source.len() {
            return Err(PdfError::BrokenXref(format!(
                "object {id} is listed at offset {offset}, past the end of the file"
            )));
        }
        let parsed = with_window(&self.source, offset, |data, complete| {
            let mut lx = Lexer::new(data, 0);
            let found = lx.object_header()?;
            let object = lx.object()?;
            // `stream` may follow just past the window: look only when enough bytes are here.
            if !complete && data.len() - lx.pos() < 64 {
                return Err(super::xref::needs_more(lx.pos()));
            }
            let end = lx.pos() as u64;
            let stream_at = if matches!(object, Object::Dictionary(_)) && lx.eat_keyword(b"stream")
            {
                Some(data_start(data, lx.pos()) as u64)
            } else {
                None
            };
            Ok((found, object, stream_at, end))
        })?;
        let (found, object, stream_at, end) = parsed.map_err(|e| {
            if e.what == "an unsigned integer" && e.at == 0 || e.what == "the keyword 'obj'" {
                PdfError::BrokenXref(format!(
                    "object {id} is not at offset {offset} where the cross-reference table says"
                ))
            } else if e.eof {
                PdfError::Truncated(format!("object {id} at offset {offset} is cut off"))
            } else {
                PdfError::Malformed(format!(
                    "object {id} at offset {offset}: expected {} at byte {}",
                    e.what,
                    offset + e.at as u64
                ))
            }
        })?;
        if found != id {
            return Err(PdfError::BrokenXref(format!(
                "offset {offset} holds object {} {} where the cross-reference table says {} {}",
                found.number, found.generation, id.number, id.generation
            )));
        }
        Ok((object, stream_at.map(|s| offset + s), offset + end))
    }

    fn stream_data(&self, id: ObjectId, dict: &Dictionary, data_offset: u64) -> Result<Vec<u8>> {
        let length = match dict.get(b"Length") {
            Some(Object::Integer(l)) => *l,
            Some(Object::Reference(len_id)) if *len_id != id => match self.object(*len_id)? {
                Object::Integer(l) => l,
                _ => {
                    return Err(PdfError::Malformed(format!(
                        "the /Length of stream {id} is not an integer"
                    )));
                }
            },
            _ => return Err(PdfError::Malformed(format!("stream {id} has no usable /Length"))),
        };
        let length = u64::try_from(length)
            .map_err(|_| PdfError::Malformed(format!("stream {id} has a negative /Length")))?;
        if data_offset.saturating_add(length) > self.source.len() {
            return Err(PdfError::Truncated(format!("stream {id} runs past the end of the file")));
        }
        if length > MAX_STREAM_LOAD {
            return Err(PdfError::Unsupported(format!(
                "stream {id} is larger than {MAX_STREAM_LOAD} bytes"
            )));
        }
        let data = self.source.read_range(data_offset, length as usize)?;
        let after = self.source.read_range(data_offset + length, 32)?;
        if !followed_by(&after, 0, b"endstream") {
            return Err(PdfError::Malformed(format!(
                "stream {id}: its /Length does not end at 'endstream'"
            )));
        }
        Ok(data)
    }

    fn object_in_stream(&self, number: u32, stream: u32, index: u32) -> Result<Object> {
        let objstm = self.object_stream(stream)?;
        let Some(&(found, offset)) = objstm.offsets.get(index as usize) else {
            return Err(PdfError::BrokenXref(format!(
                "object stream {stream} has no entry {index} for object {number}"
            )));
        };
        if found != number {
            return Err(PdfError::BrokenXref(format!(
                "object stream {stream} holds object {found} at index {index}, not object {number}"
            )));
        }
        let start = objstm.first.saturating_add(offset);
        if start >= objstm.data.len() {
            return Err(PdfError::Malformed(format!(
                "object {number} lies outside its object stream {stream}"
            )));
        }
        Lexer::new(&objstm.data, start).object().map_err(|e| {
            PdfError::Malformed(format!(
                "object {number} in object stream {stream}: expected {}",
                e.what
            ))
        })
    }

    fn object_stream(&self, number: u32) -> Result<Rc<ObjectStream>> {
        if let Some(s) = self.object_streams.borrow().get(&number) {
            return Ok(Rc::clone(s));
        }
        let stream = match self.xref.entries.get(&number) {
            Some(XrefEntry::InFile { generation, .. }) => {
                match self.object(ObjectId::new(number, *generation))? {
                    Object::Stream(s) => s,
                    _ => {
                        return Err(PdfError::BrokenXref(format!(
                            "object {number} should be an object stream"
                        )));
                    }
                }
            }
            Some(XrefEntry::InStream { stream, .. }) => {
                return Err(PdfError::BrokenXref(format!(
                    "object stream {number} is itself listed inside object stream {stream}"
                )));
            }
            _ => {
                return Err(PdfError::BrokenXref(format!(
                    "object stream {number} is not in the file"
                )));
            }
        };
        let data = self.decode(&stream)?;
        let n = stream.dict.get(b"N").and_then(Object::as_i64).unwrap_or(-1);
        let first = stream.dict.get(b"First").and_then(Object::as_i64).unwrap_or(-1);
        if n < 0 || first < 0 || first as usize > data.len() || n as usize > data.len() {
            return Err(PdfError::Malformed(format!(
                "object stream {number} has a bad /N or /First"
            )));
        }
        let mut lx = Lexer::new(&data[..first as usize], 0);
        let mut offsets = Vec::with_capacity((n as usize).min(4096));
        for _ in 0..n {
            let (Ok(obj), Ok(off)) = (lx.unsigned(), lx.unsigned()) else {
                return Err(PdfError::Malformed(format!(
                    "object stream {number} has a bad header"
                )));
            };
            offsets.push((
                u32::try_from(obj).unwrap_or(u32::MAX),
                usize::try_from(off).unwrap_or(usize::MAX),
            ));
        }
        if let Some(repeated) = super::xref::first_repeated(offsets.iter().map(|(n, _)| *n)) {
            return Err(PdfError::BrokenXref(format!(
                "object stream {number} lists object {repeated} twice"
            )));
        }
        let parsed = Rc::new(ObjectStream { offsets, first: first as usize, data });
        self.object_streams.borrow_mut().insert(number, Rc::clone(&parsed));
        Ok(parsed)
    }

    /// The number of pages, from the page tree root's /Count.
    pub fn page_count(&self) -> Result<u32> {
        let pages = self.pages_root()?;
        let count = self
            .dict(pages, "the page tree root")?
            .get(b"Count")
            .and_then(Object::as_i64)
            .unwrap_or(-1);
        u32::try_from(count)
            .map_err(|_| PdfError::Malformed("the page tree root has no valid /Count".into()))
    }

    fn pages_root(&self) -> Result<ObjectId> {
        self.catalog()?
            .get(b"Pages")
            .and_then(Object::as_reference)
            .ok_or_else(|| PdfError::Malformed("the catalog has no /Pages reference".into()))
    }

    /// Finds page `index` (0-based) by walking down the page tree, using each node's /Count to
    /// skip whole subtrees, and collects the attributes the page inherits.
    pub fn page(&self, index: u32) -> Result<Page> {
        let mut node = self.pages_root()?;
        let mut remaining = index;
        let mut inherited = Dictionary::new();
        let mut seen = HashSet::new();
        'descend: for _ in 0..MAX_PAGE_TREE_DEPTH {
            if !seen.insert(node) {
                return Err(PdfError::Malformed("the page tree loops".into()));
            }
            let dict = self.dict(node, "a page tree node")?;
            for key in INHERITED {
                if let Some(v) = dict.get(key) {
                    inherited.set(key, v.clone());
                }
            }
            let is_leaf = dict.has_type(b"Page") || dict.get(b"Kids").is_none();
            if is_leaf {
                if remaining != 0 {
                    return Err(PdfError::Malformed(
                        "the page tree's /Count does not match its pages".into(),
                    ));
                }
                return self.make_page(node, dict, index, &inherited);
            }
            let kids = self.resolve(dict.get(b"Kids").unwrap_or(&Object::Null))?;
            let kids = kids.as_array().ok_or_else(|| {
                PdfError::Malformed("a page tree node's /Kids is not an array".into())
            })?;
            for kid in kids {
                let Some(kid_id) = kid.as_reference() else {
                    return Err(PdfError::Malformed(
                        "a page tree node's /Kids holds a non-reference".into(),
                    ));
                };
                let kid_dict = self.dict(kid_id, "a page tree node")?;
                let count = if kid_dict.has_type(b"Page") || kid_dict.get(b"Kids").is_none() {
                    1
                } else {
                    let c = kid_dict.get(b"Count").and_then(Object::as_i64).unwrap_or(-1);
                    u32::try_from(c).map_err(|_| {
                        PdfError::Malformed("a page tree node has no valid /Count".into())
                    })?
                };
                if remaining < count {
                    node = kid_id;
                    continue 'descend;
                }
                remaining -= count;
            }
            return Err(PdfError::Malformed(
                "the page tree's /Count is larger than its pages".into(),
            ));
        }
        Err(PdfError::Malformed("the page tree is too deep".into()))
    }

    /// Every page in order, walking the page tree once.
    pub fn pages(&self) -> Result<Vec<Page>> {
        let mut pages = Vec::new();
        let mut seen = HashSet::new();
        // (node, inherited attributes, depth), children pushed in reverse to keep order.
        let mut stack = vec![(self.pages_root()?, Dictionary::new(), 0usize)];
        while let Some((node, mut inherited, depth)) = stack.pop() {
            if depth > MAX_PAGE_TREE_DEPTH || !seen.insert(node) || pages.len() >= MAX_PAGES {
                return Err(PdfError::Malformed("the page tree loops or is too large".into()));
            }
            let dict = self.dict(node, "a page tree node")?;
            for key in INHERITED {
                if let Some(v) = dict.get(key) {
                    inherited.set(key, v.clone());
                }
            }
            if dict.has_type(b"Page") || dict.get(b"Kids").is_none() {
                let index = pages.len() as u32;
                pages.push(self.make_page(node, dict, index, &inherited)?);
                continue;
            }
            let kids = self.resolve(dict.get(b"Kids").unwrap_or(&Object::Null))?;
            for kid in kids.as_array().unwrap_or_default().iter().rev() {
                let kid = kid.as_reference().ok_or_else(|| {
                    PdfError::Malformed("a page tree node's /Kids holds a non-reference".into())
                })?;
                stack.push((kid, inherited.clone(), depth + 1));
            }
        }
        Ok(pages)
    }

    fn make_page(
        &self,
        id: ObjectId,
        dict: Dictionary,
        index: u32,
        inherited: &Dictionary,
    ) -> Result<Page> {
        let rect = |key: &[u8]| -> Result<Option<[f64; 4]>> {
            let Some(v) = inherited.get(key) else { return Ok(None) };
            let v = self.resolve(v)?;
            let nums: Vec<f64> =
                v.as_array().unwrap_or_default().iter().filter_map(Object::as_f64).collect();
            if nums.len() != 4 {
                return Err(PdfError::Malformed(format!(
                    "page {} has a bad /{}",
                    index + 1,
                    String::from_utf8_lossy(key)
                )));
            }
            Ok(Some([
                nums[0].min(nums[2]),
                nums[1].min(nums[3]),
                nums[0].max(nums[2]),
                nums[1].max(nums[3]),
            ]))
        };
        let media_box = rect(b"MediaBox")?.unwrap_or([0.0, 0.0, 612.0, 792.0]);
        let crop_box = match rect(b"CropBox")? {
            Some(c) => [
                c[0].max(media_box[0]),
                c[1].max(media_box[1]),
                c[2].min(media_box[2]),
                c[3].min(media_box[3]),
            ],
            None => media_box,
        };
        let rotate = match inherited.get(b"Rotate").map(|r| self.resolve(r)).transpose()? {
            Some(Object::Integer(r)) => r.rem_euclid(360),
            _ => 0,
        };
        let rotate = match rotate {
            0 | 90 | 180 | 270 => rotate as u16,
            other => {
                return Err(PdfError::Malformed(format!("page {} has /Rotate {other}", index + 1)));
            }
        };
        Ok(Page { id, dict, index, media_box, crop_box, rotate })
    }
}

fn decrypt_object(crypt: &Crypt, object: Object) -> Result<Object> {
    fn walk(crypt: &Crypt, object: Object) -> Result<Object> {
        Ok(match object {
            Object::String(s, f) if crypt.encrypts_strings() => {
                Object::String(crypt.decrypt(&s)?, f)
            }
            Object::Array(items) => {
                Object::Array(items.into_iter().map(|o| walk(crypt, o)).collect::<Result<_>>()?)
            }
            Object::Dictionary(d) => Object::Dictionary(walk_dict(crypt, d)?),
            // Cross-reference streams are never encrypted, dictionary included (7.5.8.2).
            Object::Stream(s) if s.dict.has_type(b"XRef") => Object::Stream(s),
            Object::Stream(s) => {
                let dict = walk_dict(crypt, s.dict)?;
                let data = if crypt.encrypts_streams() { crypt.decrypt(&s.data)? } else { s.data };
                Object::Stream(Stream { dict, data })
            }
            other => other,
        })
    }
    fn walk_dict(crypt: &Crypt, dict: Dictionary) -> Result<Dictionary> {
        // Signature /Contents are never encrypted (7.6.1).
        let is_signature = super::object::is_signature_dict(&dict);
        dict.iter()
            .map(|(k, v)| {
                let v = if is_signature && k == b"Contents" {
                    v.clone()
                } else {
                    walk(crypt, v.clone())?
                };
                Ok((k.to_vec(), v))
            })
            .collect()
    }
    walk(crypt, object)
}

/// The position of the first occurrence of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
