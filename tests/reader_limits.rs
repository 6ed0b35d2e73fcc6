//! The reader has one interpretation of a file, the strict one, and bounded work: files built
//! here from corpus files (duplicate cross-reference entries, offsets outside their revision
//! or inside another object, hostile sizes, flate bombs, fields sharing one signature, many
//! revisions) are refused with the reason, or give a correct report; a cancelled verification
//! stops.

mod common;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use eseal_pdf::{Document, Limits, Object, ObjectId, PdfError, Source};
use eseal_verify::{TrustAnchors, VerifyError, verify_document, verify_document_with};

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

fn read(prefix: &str) -> Vec<u8> {
    std::fs::read(corpus(prefix)).unwrap()
}

/// An incremental update written by hand after `base`: objects, then a cross-reference
/// section with exactly the rows given (so that it can list an object twice or anywhere).
struct Update {
    data: Vec<u8>,
    prev: u64,
    root: ObjectId,
    size: u32,
}

impl Update {
    fn new(base: &[u8]) -> Update {
        let doc = Document::open(base).unwrap();
        let root = doc.root_id().unwrap();
        let size = doc.trailer().get(b"Size").and_then(Object::as_i64).unwrap() as u32;
        let prev = doc.xref().startxref;
        let mut data = base.to_vec();
        if !data.ends_with(b"\n") {
            data.push(b'\n');
        }
        Update { data, prev, root, size }
    }

    fn at(&self) -> u64 {
        self.data.len() as u64
    }

    /// Appends `N 0 obj <body> endobj`; returns its offset.
    fn object(&mut self, number: u32, body: &str) -> u64 {
        let at = self.at();
        write!(self.data, "{number} 0 obj\n{body}\nendobj\n").unwrap();
        self.size = self.size.max(number + 1);
        at
    }

    fn raw(&mut self, bytes: &[u8]) -> u64 {
        let at = self.at();
        self.data.extend_from_slice(bytes);
        at
    }

    /// Ends the update with a table listing `rows` (number, offset), one subsection each.
    fn table(mut self, rows: &[(u32, u64)]) -> Vec<u8> {
        let at = self.at();
        let mut text = String::from("xref\n");
        for (number, offset) in rows {
            text += &format!("{number} 1\n{offset:010} 00000 n \n");
            self.size = self.size.max(number + 1);
        }
        text += &format!(
            "trailer\n<< /Size {} /Root {} /Prev {} >>\nstartxref\n{at}\n%%EOF\n",
            self.size, self.root, self.prev
        );
        self.data.extend_from_slice(text.as_bytes());
        self.data
    }

    /// Ends the update with a cross-reference stream (object `own`) listing `rows` (number,
    /// type, field 2, field 3) in ascending order, with `extra` keys; `data` replaces the
    /// rows when given (already encoded).
    fn stream(
        mut self,
        own: u32,
        rows: &[(u32, u8, u64, u64)],
        extra: &str,
        data: Option<Vec<u8>>,
    ) -> Vec<u8> {
        let at = self.at();
        let mut rows = rows.to_vec();
        rows.push((own, 1, at, 0));
        rows.sort();
        let mut encoded = Vec::new();
        let mut index = String::new();
        for (number, kind, f2, f3) in &rows {
            encoded.push(*kind);
            encoded.extend_from_slice(&(*f2 as u32).to_be_bytes());
            encoded.extend_from_slice(&(*f3 as u16).to_be_bytes());
            index += &format!("{number} 1 ");
            self.size = self.size.max(number + 1);
        }
        let encoded = data.unwrap_or(encoded);
        let index =
            if extra.contains("/Index") { String::new() } else { format!("/Index [{index}]") };
        write!(
            self.data,
            "{own} 0 obj\n<< /Type /XRef /Size {} /Root {} /Prev {} /W [1 4 2] {index} {extra} /Length {} >>\nstream\n",
            self.size,
            self.root,
            self.prev,
            encoded.len()
        )
        .unwrap();
        self.data.extend_from_slice(&encoded);
        write!(self.data, "\nendstream\nendobj\nstartxref\n{at}\n%%EOF\n").unwrap();
        self.data
    }
}

fn broken_xref(data: &[u8]) -> String {
    match Document::open(data) {
        Err(PdfError::BrokenXref(m)) => m,
        Err(e) => panic!("expected a broken cross-reference error, got {e}"),
        Ok(_) => panic!("the file opened"),
    }
}

fn limit(result: Result<eseal_verify::VerificationReport, VerifyError>) -> String {
    match result {
        Err(VerifyError::Pdf(PdfError::Limit(m))) => m,
        Err(e) => panic!("expected a limit error, got {e}"),
        Ok(r) => {
            panic!("expected a limit error, got a report of {} signature(s)", r.signatures.len())
        }
    }
}

/// The object number of the first page's content stream in `base`.
fn content_of_first_page(base: &[u8]) -> ObjectId {
    let doc = Document::open(base).unwrap();
    let page = doc.page(0).unwrap();
    match page.dict.get(b"Contents").unwrap() {
        Object::Reference(id) => *id,
        Object::Array(a) => a[0].as_reference().unwrap(),
        other => panic!("contents {other:?}"),
    }
}

#[test]
fn an_object_listed_twice_in_a_section_is_refused() {
    let base = read("13");
    let content = content_of_first_page(&base);
    let mut update = Update::new(&base);
    let altered = update.object(content.number, "<< /Length 8 >>\nstream\n0 0 m S \nendstream");
    let signed = Document::open(base.as_slice()).unwrap().xref().entries[&content.number];
    let eseal_pdf::XrefEntry::InFile { offset: original, .. } = signed else {
        panic!("{signed:?}")
    };
    // First line: the altered stream (what poppler and qpdf read); second: the signed one.
    let file = update.table(&[(content.number, altered), (content.number, original)]);
    let m = broken_xref(&file);
    assert!(m.contains(&format!("object {} is listed twice", content.number)), "{m}");
}

#[test]
fn a_hybrid_section_whose_table_and_stream_disagree_is_refused() {
    let base = read("08");
    // The second table is empty and its /XRefStm lists object 6 at 478; list it in the table too.
    let pos = base.windows(9).rposition(|w| w == b"xref\n0 0\n").unwrap();
    let mut file = base[..pos].to_vec();
    file.extend_from_slice(b"xref\n6 1\n0000000017 00000 n \n");
    file.extend_from_slice(&base[pos + 9..]);
    let m = broken_xref(&file);
    assert!(m.contains("object 6 is listed twice in the hybrid"), "{m}");
    // Where they agree the table still points into the older revision, which listed the
    // object as free; the corpus file as it is opens (its stream lies in that revision).
    let mut same = base[..pos].to_vec();
    same.extend_from_slice(b"xref\n6 1\n0000000478 00000 n \n");
    same.extend_from_slice(&base[pos + 9..]);
    let m = broken_xref(&same);
    assert!(m.contains("object 6 is listed at offset 478, outside its revision"), "{m}");
    Document::open(base.as_slice()).unwrap();
}

#[test]
fn an_offset_into_another_revision_is_refused() {
    let base = read("13");
    let content = content_of_first_page(&base);
    // Revision 1 holds a listed copy and an unlisted (shadow) copy of the content stream.
    let mut first = Update::new(&base);
    let listed = first.object(content.number, "<< /Length 8 >>\nstream\n0 0 m S \nendstream");
    let shadow = first.object(content.number, "<< /Length 8 >>\nstream\n1 1 m S \nendstream");
    let revision1 = first.table(&[(content.number, listed)]);
    Document::open(revision1.as_slice()).unwrap();
    // Revision 2 re-lists the object exactly as revision 1 did: allowed.
    let mut again = Update::new(&revision1);
    let marker = again.object(9000, "null");
    let relisted = again.table(&[(content.number, listed), (9000, marker)]);
    Document::open(relisted.as_slice()).unwrap();
    // Revision 2 points at the shadow copy inside revision 1: refused, object and offset named.
    let mut hidden = Update::new(&revision1);
    let marker = hidden.object(9000, "null");
    let file = hidden.table(&[(content.number, shadow), (9000, marker)]);
    let m = broken_xref(&file);
    assert!(
        m.contains(&format!(
            "object {} is listed at offset {shadow}, outside its revision",
            content.number
        )),
        "{m}"
    );
}

#[test]
fn an_offset_past_its_own_section_is_refused() {
    let base = read("13");
    let mut first = Update::new(&base);
    let own = first.object(9000, "null");
    let (root, size) = (first.root, first.size + 2);
    // Revision 1 lists object 9001 where revision 2 puts it: after revision 1's section.
    let placeholder = 9_999_999_999u64;
    let mut revision1 = first.table(&[(9000, own), (9001, placeholder)]);
    let future = revision1.len() as u64;
    let at = revision1.windows(10).position(|w| w == placeholder.to_string().as_bytes()).unwrap();
    revision1[at..at + 10].copy_from_slice(format!("{future:010}").as_bytes());
    let prev = eseal_pdf::find_startxref(&revision1).unwrap();
    let mut second = Update { data: revision1, prev, root, size };
    assert_eq!(second.object(9001, "(later)"), future);
    let other = second.object(9002, "(other)");
    let file = second.table(&[(9002, other)]);
    let m = broken_xref(&file);
    assert!(
        m.contains(&format!("object 9001 is listed at offset {future}, outside its revision")),
        "{m}"
    );
}

#[test]
fn two_objects_at_one_offset_or_one_inside_another_are_refused() {
    let base = read("13");
    let mut update = Update::new(&base);
    let at = update.object(9000, "(one)");
    let file = update.table(&[(9000, at), (9001, at)]);
    let m = broken_xref(&file);
    assert!(
        m.contains("objects 9000 and 9001 are both listed at offset")
            || m.contains("objects 9001 and 9000"),
        "{m}"
    );

    // Object 9001 is listed inside the bytes of object 9000 (in a string of it).
    let mut update = Update::new(&base);
    let outer = update.raw(b"9000 0 obj\n[ (");
    let inner = update.raw(b"9001 0 obj (evil) endobj");
    update.raw(b") ]\nendobj\n");
    let file = update.table(&[(9000, outer), (9001, inner)]);
    let doc = Document::open(file.as_slice()).unwrap();
    match doc.object(ObjectId::new(9000, 0)) {
        Err(PdfError::BrokenXref(m)) => assert!(
            m.contains(&format!("object 9001 is listed at offset {inner}, inside object 9000")),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_readings_that_differ_are_refused() {
    let base = read("13");
    // Bytes after the final %%EOF that are not a revision.
    let mut trailing = base.clone();
    trailing.extend_from_slice(b"1 0 obj (appended) endobj\n");
    assert!(broken_xref(&trailing).contains("after the final %%EOF"), "{}", broken_xref(&trailing));
    let mut blank = base.clone();
    blank.extend_from_slice(b"\r\n \n");
    Document::open(blank.as_slice()).unwrap();

    // A stream whose /Length does not end at endstream.
    let mut update = Update::new(&base);
    let at = update.object(9000, "<< /Length 3 >>\nstream\nabcdef\nendstream");
    let file = update.table(&[(9000, at)]);
    let doc = Document::open(file.as_slice()).unwrap();
    assert!(
        matches!(doc.object(ObjectId::new(9000, 0)), Err(PdfError::Malformed(m)) if m.contains("does not end at 'endstream'"))
    );

    // An object stream listed inside another object stream.
    let update = Update::new(&base);
    let file = update.stream(9010, &[(9000, 2, 9001, 0), (9001, 2, 9002, 0)], "", None);
    let doc = Document::open(file.as_slice()).unwrap();
    match doc.object(ObjectId::new(9000, 0)) {
        Err(PdfError::BrokenXref(m)) => assert!(
            m.contains("object stream 9001 is itself listed inside object stream 9002"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }

    // An object stream whose header lists one object twice.
    let mut update = Update::new(&base);
    let body = b"9000 0 9000 5 (one) (two)";
    let objstm = update.raw(
        format!("9001 0 obj\n<< /Type /ObjStm /N 2 /First 14 /Length {} >>\nstream\n", body.len())
            .as_bytes(),
    );
    update.raw(body);
    update.raw(b"\nendstream\nendobj\n");
    let file = update.stream(9010, &[(9000, 2, 9001, 0), (9001, 1, objstm, 0)], "", None);
    let doc = Document::open(file.as_slice()).unwrap();
    match doc.object(ObjectId::new(9000, 0)) {
        Err(PdfError::BrokenXref(m)) => {
            assert!(m.contains("object stream 9001 lists object 9000 twice"), "{m}")
        }
        other => panic!("{other:?}"),
    }

    // Nesting deeper than the limit.
    let mut update = Update::new(&base);
    let at = update.object(9000, &format!("{}{}", "[".repeat(100), "]".repeat(100)));
    let file = update.table(&[(9000, at)]);
    let doc = Document::open(file.as_slice()).unwrap();
    assert!(
        matches!(doc.object(ObjectId::new(9000, 0)), Err(PdfError::Malformed(m)) if m.contains("nesting limit"))
    );
}

/// A 14 KB update claiming 16 M cross-reference entries, and a flate bomb in place of rows.
#[test]
fn hostile_cross_reference_streams_stop_at_named_limits() {
    let base = read("13");
    let huge = Update::new(&base).stream(9010, &[], "/Index [0 16000000]", Some(vec![0u8; 64]));
    let m = limit(verify_document(&huge, &anchors()));
    assert!(
        m.contains("cross-reference entries")
            && m.contains(&format!("limit for a file of {} bytes", huge.len())),
        "{m}"
    );
    // Stamping the same file fails the same way, before any work.
    let seal = Seal::ec();
    let mut out = Vec::new();
    let err = eseal_service::stamp::seal(
        &huge,
        &mut out,
        &seal.options(1, 5.0, 10.0),
        &seal.chain,
        &seal.signer,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cross-reference entries"), "{err}");

    let bomb = eseal_pdf::deflate(&vec![0u8; 1 << 20]);
    let file =
        Update::new(&base).stream(9010, &[(9000, 1, 0, 0)], "/Filter /FlateDecode", Some(bomb));
    let m = limit(verify_document(&file, &anchors()));
    assert!(m.contains("decoded-stream limit"), "{m}");
}

#[test]
fn object_stream_bombs_stop_at_the_stream_and_document_limits() {
    let base = read("13");
    let mut update = Update::new(&base);
    let mut rows = Vec::new();
    for k in 0..2u32 {
        let mut body = b"9000 0 (".to_vec();
        body.resize(600 * 1024, b'x');
        body.extend_from_slice(b")");
        let packed = eseal_pdf::deflate(&body);
        let at = update.raw(format!("{} 0 obj\n<< /Type /ObjStm /N 1 /First 7 /Filter /FlateDecode /Length {} >>\nstream\n", 9001 + k, packed.len()).as_bytes());
        update.raw(&packed);
        update.raw(b"\nendstream\nendobj\n");
        rows.push((9001 + k, 1, at, 0));
    }
    rows.insert(0, (9000, 2, 9001, 0));
    rows.push((9003, 2, 9002, 0));
    let file = update.stream(9010, &rows, "", None);
    let small = Limits { stream_decoded_bytes: 512 * 1024, ..Limits::default() };
    let doc = Document::open_with(file.as_slice(), small).unwrap();
    assert!(
        matches!(doc.object(ObjectId::new(9000, 0)), Err(PdfError::Limit(m)) if m.contains("decoded-stream limit"))
    );
    let per_document = Limits {
        document_decoded_base: 1 << 20,
        document_decoded_per_byte: 0,
        ..Limits::default()
    };
    let doc = Document::open_with(file.as_slice(), per_document.clone()).unwrap();
    assert!(matches!(doc.object(ObjectId::new(9000, 0)), Ok(Object::String(..))));
    // The second object stream passes the document's total.
    match doc.object(ObjectId::new(9003, 0)) {
        Err(PdfError::Limit(m)) => {
            assert!(m.contains("more than 1048576 bytes (the decoded-bytes limit"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // An earlier revision opened from the document (as the verifier opens each signed one)
    // draws on the same budget: decoding the first stream again there passes the total.
    let mut later = Update::new(&file);
    let at = later.object(9100, "(later)");
    let two_revisions = later.stream(9110, &[(9100, 1, at, 0)], "", None);
    let doc = Document::open_with(two_revisions.as_slice(), per_document).unwrap();
    assert!(matches!(doc.object(ObjectId::new(9000, 0)), Ok(Object::String(..))));
    let earlier =
        doc.revision(file.len() as u64).unwrap().expect("the revision with the object streams");
    match earlier.object(ObjectId::new(9000, 0)) {
        Err(PdfError::Limit(m)) => assert!(m.contains("the decoded-bytes limit"), "{m}"),
        other => panic!("each revision had a budget of its own: {other:?}"),
    }
}

/// A sealed corpus file, and an update adding `values.len()` signature fields whose /V are
/// the given references, listed in the form after the existing fields.
fn with_fields(sealed: &[u8], values: &[String]) -> Vec<u8> {
    let doc = Document::open(sealed).unwrap();
    let root = doc.root_id().unwrap();
    let mut catalog = doc.catalog().unwrap();
    let form_value =
        catalog.get(b"AcroForm").cloned().unwrap_or(Object::Dictionary(Default::default()));
    let mut form = doc.resolve(&form_value).unwrap().as_dict().cloned().unwrap_or_default();
    let mut fields = form
        .get(b"Fields")
        .map(|f| doc.resolve(f).unwrap())
        .and_then(|f| f.as_array().map(<[Object]>::to_vec))
        .unwrap_or_default();
    let mut update = Update::new(sealed);
    let mut rows = Vec::new();
    let first = 9000u32;
    for (k, value) in values.iter().enumerate() {
        let number = first + k as u32;
        rows.push((
            number,
            update.object(number, &format!("<< /FT /Sig /T (extra{k}) /V {value} >>")),
        ));
        fields.push(Object::Reference(ObjectId::new(number, 0)));
    }
    form.set(b"Fields".to_vec(), Object::Array(fields));
    let form_number = first + values.len() as u32;
    let mut body = Vec::new();
    eseal_pdf::write_object(&mut body, &Object::Dictionary(form));
    rows.push((form_number, update.object(form_number, &String::from_utf8(body).unwrap())));
    catalog.set(b"AcroForm".to_vec(), Object::Reference(ObjectId::new(form_number, 0)));
    let mut body = Vec::new();
    eseal_pdf::write_object(&mut body, &Object::Dictionary(catalog));
    rows.push((root.number, update.object(root.number, &String::from_utf8(body).unwrap())));
    update.table(&rows)
}

fn sealed_13() -> Vec<u8> {
    let seal = Seal::ec();
    seal.seal(&read("13"), &seal.options(1, 5.0, 10.0)).0
}

#[test]
fn fields_sharing_one_signature_dictionary_are_one_signature_and_not_valid() {
    let sealed = sealed_13();
    let doc = Document::open(sealed.as_slice()).unwrap();
    let sig = eseal_pdf::signature_fields(&doc).unwrap()[0].signature.unwrap();
    for extra in [3usize, 199] {
        let file = with_fields(&sealed, &vec![sig.to_string(); extra]);
        let report = verify_document(&file, &anchors()).unwrap();
        assert_eq!(report.signatures.len(), 1, "{extra} extra fields");
        let s = &report.signatures[0];
        assert!(s.intact && s.valid, "{:?}", s.problems);
        assert!(
            s.problems
                .iter()
                .any(|p| p.contains("\"extra0\"")
                    && p.contains("one signature shown as several fields")),
            "{:?}",
            s.problems
        );
        assert_eq!(report.problems.len(), 1);
        assert!(!report.all_valid());
    }
    // Within a smaller form field limit, the 200 fields are refused, the limit named.
    let file = with_fields(&sealed, &vec![sig.to_string(); 199]);
    let m = limit(verify_document_with(
        &file,
        &anchors(),
        &Limits { form_fields: 100, ..Limits::default() },
    ));
    assert!(m.contains("more than 100 fields (the form field limit)"), "{m}");
}

#[test]
fn more_signatures_than_the_limit_are_refused() {
    let sealed = sealed_13();
    let mut update = Update::new(&sealed);
    let mut values = Vec::new();
    let mut rows = Vec::new();
    for k in 0..4u32 {
        let number = 8000 + k;
        rows.push((number, update.object(number, "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 1 2 3] /Contents <00> >>")));
        values.push(format!("{number} 0 R"));
    }
    let with_dicts = update.table(&rows);
    let file = with_fields(&with_dicts, &values);
    let m = limit(verify_document_with(
        &file,
        &anchors(),
        &Limits { signatures: 4, ..Limits::default() },
    ));
    assert!(m.contains("more than 4 signatures (the signature limit)"), "{m}");
    let report = verify_document(&file, &anchors()).unwrap();
    assert_eq!(report.signatures.len(), 5);
}

/// `count` revisions after the seal, each rewriting one new object.
fn with_revisions(sealed: &[u8], count: usize) -> Vec<u8> {
    let mut file = sealed.to_vec();
    for k in 0..count {
        let mut update = Update::new(&file);
        let at = update.object(9000, &format!("({k})"));
        file = update.table(&[(9000, at)]);
    }
    file
}

#[test]
fn many_revisions_give_a_report_or_stop_at_the_revision_limit() {
    let file = with_revisions(&sealed_13(), 150);
    let report = verify_document(&file, &anchors()).unwrap();
    assert_eq!(report.signatures.len(), 1);
    let s = &report.signatures[0];
    assert!(s.intact && s.valid && !s.modified_after_signing, "{:?}", s.problems);
    // The object all revisions rewrite, once (and the trailer's /Info the test's writer leaves out).
    assert_eq!(
        s.later_changes.iter().filter(|c| c.object == 9000).count(),
        1,
        "{:?}",
        s.later_changes
    );
    assert!(
        s.later_changes.iter().all(|c| c.allowed && (c.object == 9000 || c.role == "trailer")),
        "{:?}",
        s.later_changes
    );
    let m = limit(verify_document_with(
        &file,
        &anchors(),
        &Limits { revisions: 100, ..Limits::default() },
    ));
    assert!(m.contains("more than 100 cross-reference sections (the revision limit)"), "{m}");
    let m = limit(verify_document_with(
        &file,
        &anchors(),
        &Limits { objects_read: 3, ..Limits::default() },
    ));
    assert!(m.contains("more than 3 object reads (the object limit)"), "{m}");
}

/// Bytes that set a cancel flag after a number of reads, and count the reads after it.
struct Tripwire {
    data: Vec<u8>,
    reads: AtomicU64,
    trip_after: u64,
    cancel: Arc<AtomicBool>,
}

impl Source for Tripwire {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.reads.fetch_add(1, Ordering::Relaxed) + 1 == self.trip_after {
            self.cancel.store(true, Ordering::Relaxed);
        }
        self.data.as_slice().read_at(offset, buf)
    }
}

#[test]
fn a_cancelled_verification_stops_promptly() {
    let file = with_revisions(&sealed_13(), 150);
    let cancel = Arc::new(AtomicBool::new(true));
    let limits = Limits::with_cancel(Arc::clone(&cancel));
    assert!(matches!(
        verify_document_with(&file, &anchors(), &limits),
        Err(VerifyError::Pdf(PdfError::Cancelled))
    ));

    // Reads a whole verification makes, then cancellations at points along the way.
    let full = Tripwire {
        data: file.clone(),
        reads: AtomicU64::new(0),
        trip_after: u64::MAX,
        cancel: Arc::new(AtomicBool::new(false)),
    };
    verify_document_with(&full, &anchors(), &Limits::default()).unwrap();
    let total = full.reads.load(Ordering::Relaxed);
    assert!(total > 200, "{total} reads");
    for trip_after in [1, total / 3, total / 2, total - 5] {
        let cancel = Arc::new(AtomicBool::new(false));
        let source = Tripwire {
            data: file.clone(),
            reads: AtomicU64::new(0),
            trip_after,
            cancel: Arc::clone(&cancel),
        };
        let result = verify_document_with(&source, &anchors(), &Limits::with_cancel(cancel));
        assert!(
            matches!(result, Err(VerifyError::Pdf(PdfError::Cancelled))),
            "tripped after {trip_after} of {total} reads"
        );
        let after = source.reads.load(Ordering::Relaxed) - trip_after;
        assert!(
            after <= 8,
            "{after} reads after the cancellation (tripped after {trip_after} of {total})"
        );
    }
}

/// Sections in reverse file order are a linearized file's first-page and main sections, or
/// an error.
#[test]
fn reversed_sections_are_read_only_in_a_linearized_file() {
    let linearized = read("04");
    Document::open(linearized.as_slice()).unwrap();
    let mut plain = linearized.clone();
    let at = plain.windows(11).position(|w| w == b"/Linearized").unwrap();
    plain[at..at + 11].copy_from_slice(b"/Linearizex");
    let m = broken_xref(&plain);
    assert!(m.contains("comes before the older one") && m.contains("not linearized"), "{m}");
}
