//! Our seals judged by tools we did not write: every valid corpus file, sealed once (ECDSA
//! P-256, first page) and sealed again (RSA-3072, last page), must pass `qpdf --check`,
//! pyHanko's validator (intact, trusted, right coverage, no disallowed modification) and
//! poppler's `pdfsig`; and our verifier must agree with pyHanko.

mod common;

use std::path::Path;

use common::*;
use eseal_verify::{Coverage, TrustAnchors, verify_document};

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

/// The bytes the update appended must be exactly one update: one startxref, one %%EOF, and
/// a cross-reference section of the kind the original's newest section is.
fn assert_single_update(original: &[u8], sealed: &[u8], name: &str) {
    assert!(sealed.starts_with(original), "{name}: the original bytes were not kept byte for byte");
    let update = &sealed[original.len()..];
    let count = |needle: &[u8]| update.windows(needle.len()).filter(|w| *w == needle).count();
    assert_eq!(count(b"startxref"), 1, "{name}: more than one update appended");
    assert_eq!(count(b"%%EOF"), 1, "{name}: more than one update appended");
    let doc = eseal_pdf::Document::open(original.to_vec()).unwrap();
    let newest_is_stream = doc.xref().sections[0].kind == eseal_pdf::XrefKind::Stream;
    assert_eq!(
        count(b"/Type/XRef") == 1,
        newest_is_stream,
        "{name}: the update's xref section is not of the original's kind"
    );
    assert_eq!(
        count(b"\nxref\n") == 1,
        !newest_is_stream,
        "{name}: the update's xref section is not of the original's kind"
    );
    let prev = format!("/Prev {}", doc.xref().startxref);
    assert_eq!(
        count(prev.as_bytes()),
        1,
        "{name}: the update's trailer must point /Prev at the original's startxref"
    );
}

/// Checks one sealed file with the three tools and with our verifier. `ours` names the
/// fields we sealed, oldest first (Seal1 with the EC seal, Seal2 with the RSA one); `earlier`
/// is pyHanko's verdict on a seal that a later one follows.
fn check_with_tools(path: &Path, ours: &[&str], strict: bool, earlier: &str) {
    let name = path.display();
    let (ok, text) = qpdf_check(path);
    assert!(ok, "{name}: qpdf --check failed:\n{text}");

    let (valid, last_total, text) = pdfsig(path);
    assert!(!valid.is_empty(), "{name}: pdfsig found no signature:\n{text}");
    // pdfsig cannot verify document timestamps (it lists them as "Signature Type: unknown",
    // "not yet been verified"): judge the signatures only.
    let signature_blocks: Vec<bool> = text
        .split("Signature #")
        .skip(1)
        .zip(&valid)
        .filter(|(block, _)| !block.contains("Signature Type: unknown"))
        .map(|(_, v)| *v)
        .collect();
    assert!(
        signature_blocks.iter().all(|v| *v),
        "{name}: pdfsig does not say 'Signature is Valid' for every signature:\n{text}"
    );
    assert!(
        last_total,
        "{name}: pdfsig does not say 'Total document signed' for the last signature:\n{text}"
    );

    // pyHanko: each of our seals reported once, in order, with exactly the expected verdict
    // (the last covers the whole file; an earlier one is followed by allowed form filling);
    // other tools' signatures first. The exit status is 0 only when all are good.
    let run = pyhanko_run(path, strict);
    let text = &run.text;
    let seals = [Seal::ec(), Seal::rsa()];
    let reported: Vec<&str> =
        run.verdicts.iter().map(|v| v.field.as_str()).filter(|f| ours.contains(f)).collect();
    assert_eq!(
        reported, ours,
        "{name}: pyHanko must report each of our seals once, in order:\n{text}"
    );
    let report = verify_document(&std::fs::read(path).unwrap(), &anchors()).unwrap();
    for (i, field) in ours.iter().enumerate() {
        let verdict = run.verdicts.iter().find(|v| v.field == *field).unwrap();
        let last = i == ours.len() - 1;
        let expected = if last { "INTACT:TRUSTED,UNTOUCHED" } else { earlier };
        assert_eq!(verdict.status, expected, "{name}: pyHanko's verdict on {field}:\n{text}");
        assert_eq!(
            verdict.fingerprint,
            fingerprint(&seals[i].chain),
            "{name}: pyHanko names another signer of {field}:\n{text}"
        );

        let mine = report
            .signatures
            .iter()
            .find(|s| s.field_name == *field)
            .unwrap_or_else(|| panic!("{name}: our verifier missed {field}"));
        assert!(
            mine.intact && mine.valid && mine.trusted,
            "{name}: our verifier on {field}: {mine:#?}"
        );
        assert!(
            !mine.modified_after_signing,
            "{name}: our verifier sees a modification after {field}: {mine:#?}"
        );
        assert_eq!(
            mine.coverage == Coverage::EntireFile,
            last,
            "{name}: our coverage of {field} disagrees with pyHanko"
        );
        if !last {
            assert_eq!(mine.coverage, Coverage::EntireRevision, "{name}: {field}");
        }
    }
    // Signatures of other tools (not under our root: untrusted): our verifier reports each
    // with pyHanko's intact verdict.
    let foreign: Vec<&PyHankoVerdict> =
        run.verdicts.iter().filter(|v| !ours.contains(&v.field.as_str())).collect();
    for verdict in &foreign {
        assert!(
            verdict.status == "INVALID" || verdict.status.starts_with("INTACT:UNTRUSTED,"),
            "{name}: {}:\n{text}",
            verdict.line
        );
        let mine = report
            .signatures
            .iter()
            .find(|s| s.field_name == verdict.field)
            .unwrap_or_else(|| panic!("{name}: our verifier missed {}", verdict.field));
        assert_eq!(
            mine.intact,
            verdict.intact(),
            "{name}: intact verdicts differ on {}: {mine:#?}\n{text}",
            verdict.field
        );
        assert!(!mine.modified_after_signing, "{name}: {}", verdict.field);
    }
    assert_eq!(
        run.code,
        Some(if foreign.is_empty() { 0 } else { 1 }),
        "{name}: pyHanko's exit status:\n{text}"
    );
}

fn seal_once_and_twice(prefix: &str) {
    seal_bytes_once_and_twice(prefix, &std::fs::read(corpus(prefix)).unwrap());
}

fn seal_bytes_once_and_twice(prefix: &str, input: &[u8]) {
    let input = input.to_vec();
    let (ec, rsa) = (Seal::ec(), Seal::rsa());
    let dir = temp();
    let strict = prefix != "08"; // pyHanko validates hybrid-reference files only with --no-strict-syntax
    // pyHanko (0.38) rates the second seal's update as form filling, but as LTA updates in an
    // encrypted file; acceptable either way.
    let level =
        if ["11", "01-aes256-objstm"].contains(&prefix) { "LTA_UPDATES" } else { "FORM_FILLING" };
    let earlier = format!("INTACT:TRUSTED,EXTENDED_WITH_{level},ACCEPTABLE_MODIFICATIONS");

    let (once, _) = ec.seal(&input, &ec.options(1, 10.0, 20.0));
    assert_single_update(&input, &once, &format!("{prefix} sealed once"));
    let once_path = dir.path().join("once.pdf");
    std::fs::write(&once_path, &once).unwrap();
    check_with_tools(&once_path, &["Seal1"], strict, &earlier);

    let mut second = rsa.options(-1, 5.0, 15.0);
    if let Some(rect) = second.placement.rect.as_mut() {
        rect.corner = eseal_pdf::Corner::TopLeft;
    }
    let (twice, _) = rsa.seal(&once, &second);
    assert_single_update(&once, &twice, &format!("{prefix} sealed twice"));
    let twice_path = dir.path().join("twice.pdf");
    std::fs::write(&twice_path, &twice).unwrap();
    check_with_tools(&twice_path, &["Seal1", "Seal2"], strict, &earlier);
}

#[test]
fn corpus_01_xref_stream_and_object_streams() {
    seal_once_and_twice("01");
}

#[test]
fn corpus_04_linearized_classic_table() {
    seal_once_and_twice("04");
}

#[test]
fn corpus_06_already_signed_with_document_timestamp() {
    seal_once_and_twice("06");
}

#[test]
fn corpus_08_hybrid_reference() {
    seal_once_and_twice("08");
}

#[test]
fn corpus_10_existing_acroform() {
    seal_once_and_twice("10");
}

#[test]
fn corpus_11_aes256_empty_user_password() {
    seal_once_and_twice("11");
}

#[test]
fn corpus_13_cjk_notice() {
    seal_once_and_twice("13");
}

/// AES-256 with cross-reference and object streams (qpdf re-encrypts corpus file 01): the
/// update's xref stream stays unencrypted, and earlier seals stay unmodified.
#[test]
fn aes256_with_xref_streams() {
    let dir = temp();
    let encrypted = dir.path().join("01-aes256-objstm.pdf");
    let out = run(
        &tool("qpdf"),
        &[
            "--encrypt",
            "",
            "owner",
            "256",
            "--",
            "--object-streams=generate",
            corpus("01").to_str().unwrap(),
            encrypted.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let input = std::fs::read(&encrypted).unwrap();
    let doc = eseal_pdf::Document::open(input.clone()).unwrap();
    assert!(doc.crypt().is_some() && doc.xref().sections[0].kind == eseal_pdf::XrefKind::Stream);
    seal_bytes_once_and_twice("01-aes256-objstm", &input);
}

/// Signatures made by other tools: our verifier agrees with pyHanko (intact, valid, and
/// untrusted under our root).
#[test]
fn foreign_signatures_agree_with_pyhanko() {
    let path = corpus("06");
    // Alice's certificate (SHA-256) signed corpus file 06; the document timestamp gets no line.
    const ALICE: &str = "70ff10246b455e6f87266f6de165b8aeea04ebe28ed3450bedce917e879f5084";
    let status = "INTACT:UNTRUSTED,TIMESTAMP_TOKEN<INTACT:UNTRUSTED>,EXTENDED_WITH_LTA_UPDATES,ACCEPTABLE_MODIFICATIONS";
    assert_pyhanko(&path, true, &[("Sig1", ALICE, status)], 1);
    let report = verify_document(&std::fs::read(&path).unwrap(), &anchors()).unwrap();
    assert_eq!(report.signatures.len(), 2, "a signature and a document timestamp: {report:#?}");
    let sig = &report.signatures[0];
    assert_eq!(sig.field_name, "Sig1");
    assert!(sig.intact && sig.valid && !sig.trusted, "{sig:#?}");
    let ts = &report.signatures[1];
    assert_eq!(ts.kind, eseal_verify::SignatureKind::DocumentTimestamp);
    assert!(ts.intact && ts.valid, "{ts:#?}");
    // A B-LTA file: the /DSS was updated after the document timestamp.
    assert_eq!(ts.coverage, Coverage::EntireRevision);
    assert_eq!(sig.coverage, Coverage::EntireRevision);
    assert!(!sig.modified_after_signing && !ts.modified_after_signing, "{report:#?}");
}

/// One flipped byte inside a signed range: pyHanko and our verifier both say "not intact".
#[test]
fn a_flipped_byte_breaks_integrity_for_both_verifiers() {
    let input = std::fs::read(corpus("13")).unwrap();
    let ec = Seal::ec();
    let (mut sealed, stamped) = ec.seal(&input, &ec.options(1, 10.0, 20.0));
    // A byte of the original text, well inside the first signed range.
    let at = (stamped.document.byte_range[1] / 2) as usize;
    sealed[at] ^= 0x01;
    let dir = temp();
    let path = dir.path().join("tampered.pdf");
    std::fs::write(&path, &sealed).unwrap();
    assert_pyhanko(&path, true, &[("Seal1", &fingerprint(&ec.chain), "INVALID")], 1);
    let report = verify_document(&sealed, &anchors()).unwrap();
    assert!(
        !report.signatures[0].intact && !report.signatures[0].valid,
        "{:#?}",
        report.signatures[0]
    );
}

/// A later revision that rewrites page content (not a signature, field, annotation or /DSS)
/// is a modification after signing, for pyHanko and for our verifier alike; one that only
/// adds a seal is not (covered above).
#[test]
fn rewriting_page_content_after_sealing_is_a_modification_for_both_verifiers() {
    use eseal_pdf::UpdateWriter;
    use eseal_pdf::{Object, Stream};

    let input = std::fs::read(corpus("13")).unwrap();
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&input, &ec.options(1, 10.0, 20.0));
    // Append a revision that gives page 1 new content: a black bar over the text.
    let doc = eseal_pdf::Document::open(sealed.clone()).unwrap();
    let page = doc.page(0).unwrap();
    let content_id = eseal_pdf::ObjectId::new(doc.next_object_number().unwrap(), 0);
    let mut page_dict = page.dict.clone();
    page_dict.set(b"Contents".to_vec(), Object::Reference(content_id));
    let mut writer = UpdateWriter::new(sealed.len() as u64, sealed.last().copied());
    writer.add(page.id, &Object::Dictionary(page_dict));
    writer.add(
        content_id,
        &Object::Stream(Stream {
            dict: Default::default(),
            data: b"0 g 50 700 400 40 re f".to_vec(),
        }),
    );
    let mut trailer = eseal_pdf::Dictionary::new();
    trailer.set(b"Root".to_vec(), doc.trailer().get(b"Root").unwrap().clone());
    trailer.set(b"ID".to_vec(), doc.trailer().get(b"ID").unwrap().clone());
    let kind = doc.xref().sections[0].kind;
    let update = writer.finish(
        kind,
        trailer,
        doc.xref().startxref,
        content_id.number + 1,
        eseal_pdf::ObjectId::new(content_id.number + 1, 0),
    );
    let mut modified = sealed.clone();
    modified.extend_from_slice(&update);

    let dir = temp();
    let path = dir.path().join("modified.pdf");
    std::fs::write(&path, &modified).unwrap();
    assert_pyhanko(
        &path,
        true,
        &[(
            "Seal1",
            &fingerprint(&ec.chain),
            "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS",
        )],
        1,
    );

    let report = verify_document(&modified, &anchors()).unwrap();
    let mine = &report.signatures[0];
    assert!(mine.intact && mine.valid, "the signed revision itself is intact: {mine:#?}");
    assert_eq!(mine.coverage, Coverage::EntireRevision);
    assert!(mine.modified_after_signing, "our verifier missed the modification: {mine:#?}");
    let page_change = mine
        .later_changes
        .iter()
        .find(|c| c.object == page.id.number)
        .expect("the page change is listed");
    assert!(
        !page_change.allowed && page_change.description.contains("/Contents"),
        "{page_change:?}"
    );
    assert!(!report.all_valid());
}
