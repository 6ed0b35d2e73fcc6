//! Later revisions that change what a reader sees while leaving the signed bytes alone
//! (incremental saving and shadow attacks): the verifier must report each one as a
//! modification after signing, and pyHanko must agree where it can judge.

mod common;

use common::*;
use eseal_pdf::Stream;
use eseal_pdf::{Dictionary, Document, Object, ObjectId};
use eseal_verify::{SignatureReport, TrustAnchors, verify_document};

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

fn sealed_13() -> Vec<u8> {
    let input = std::fs::read(corpus("13")).unwrap();
    let ec = Seal::ec();
    ec.seal(&input, &ec.options(1, 10.0, 20.0)).0
}

fn first_seal(pdf: &[u8]) -> SignatureReport {
    let report = verify_document(&pdf.to_vec(), &anchors()).unwrap();
    report.signatures.into_iter().find(|s| s.field_name == "Seal1").expect("Seal1 is reported")
}

fn content(text: &[u8]) -> Object {
    Object::Stream(Stream { dict: Dictionary::new(), data: text.to_vec() })
}

/// Asserts that pyHanko reports Seal1 (the EC seal) with exactly `status` and fails the file.
#[track_caller]
fn assert_pyhanko_seal1(pdf: &[u8], status: &str) {
    let dir = temp();
    let path = dir.path().join("attacked.pdf");
    std::fs::write(&path, pdf).unwrap();
    assert_pyhanko(&path, true, &[("Seal1", &fingerprint(&Seal::ec().chain), status)], 1);
}

#[test]
fn a_replaced_catalog_is_a_modification() {
    let sealed = sealed_13();
    let doc = Document::open(sealed.clone()).unwrap();
    let next = doc.next_object_number().unwrap();
    let (catalog_id, pages_id, page_id, content_id) = (
        ObjectId::new(next, 0),
        ObjectId::new(next + 1, 0),
        ObjectId::new(next + 2, 0),
        ObjectId::new(next + 3, 0),
    );
    // A new catalog with a new one-page document, keeping the old form (and so the seal).
    let mut catalog = doc.catalog().unwrap();
    catalog.set(b"Pages".to_vec(), Object::Reference(pages_id));
    let pages: Dictionary = [
        (b"Type".to_vec(), Object::name("Pages")),
        (b"Kids".to_vec(), Object::Array(vec![Object::Reference(page_id)])),
        (b"Count".to_vec(), Object::Integer(1)),
    ]
    .into_iter()
    .collect();
    let page: Dictionary = [
        (b"Type".to_vec(), Object::name("Page")),
        (b"Parent".to_vec(), Object::Reference(pages_id)),
        (
            b"MediaBox".to_vec(),
            Object::Array(vec![
                Object::Integer(0),
                Object::Integer(0),
                Object::Integer(595),
                Object::Integer(842),
            ]),
        ),
        (b"Contents".to_vec(), Object::Reference(content_id)),
    ]
    .into_iter()
    .collect();
    let attacked = append_update(
        &sealed,
        &[
            (catalog_id, Object::Dictionary(catalog)),
            (pages_id, Object::Dictionary(pages)),
            (page_id, Object::Dictionary(page)),
            (content_id, content(b"0 g 100 100 200 200 re f")),
        ],
        Some(catalog_id),
    );
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    assert!(report.later_changes.iter().any(|c| c.role == "trailer" && !c.allowed));
    assert_pyhanko_seal1(&attacked, "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS");
}

#[test]
fn growing_an_indirect_content_array_is_a_modification() {
    // Before sealing, page 1's /Contents becomes an indirect array (a legitimate revision).
    let input = std::fs::read(corpus("13")).unwrap();
    let doc = Document::open(input.clone()).unwrap();
    let page = doc.page(0).unwrap();
    let old_contents = page.dict.get(b"Contents").unwrap().clone();
    let array_id = ObjectId::new(doc.next_object_number().unwrap(), 0);
    let mut page_dict = page.dict.clone();
    page_dict.set(b"Contents".to_vec(), Object::Reference(array_id));
    let prepared = append_update(
        &input,
        &[
            (page.id, Object::Dictionary(page_dict)),
            (array_id, Object::Array(vec![old_contents.clone()])),
        ],
        None,
    );
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&prepared, &ec.options(1, 10.0, 20.0));
    assert!(!first_seal(&sealed).modified_after_signing);
    // After sealing, a content stream is appended to that array.
    let extra =
        ObjectId::new(Document::open(sealed.clone()).unwrap().next_object_number().unwrap(), 0);
    let attacked = append_update(
        &sealed,
        &[
            (array_id, Object::Array(vec![old_contents, Object::Reference(extra)])),
            (extra, content(b"0 g 50 700 400 40 re f")),
        ],
        None,
    );
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    assert_pyhanko_seal1(&attacked, "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS");
}

/// An array that is both a list that may grow (the page's /Annots) and the page's content
/// is content: growing it after sealing adds a content stream, not an annotation.
#[test]
fn a_list_that_is_also_page_content_may_not_grow() {
    let input = std::fs::read(corpus("13")).unwrap();
    let doc = Document::open(input.clone()).unwrap();
    let page = doc.page(0).unwrap();
    assert!(page.dict.get(b"Annots").is_none(), "corpus 13's first page has no annotations");
    let old_contents = page.dict.get(b"Contents").unwrap().clone();
    let array_id = ObjectId::new(doc.next_object_number().unwrap(), 0);
    let mut page_dict = page.dict.clone();
    page_dict.set(b"Contents".to_vec(), Object::Reference(array_id));
    page_dict.set(b"Annots".to_vec(), Object::Reference(array_id));
    let prepared = append_update(
        &input,
        &[
            (page.id, Object::Dictionary(page_dict)),
            (array_id, Object::Array(vec![old_contents.clone()])),
        ],
        None,
    );
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&prepared, &ec.options(1, 10.0, 20.0));
    let grown = Document::open(sealed.clone())
        .unwrap()
        .object(array_id)
        .unwrap()
        .as_array()
        .unwrap()
        .to_vec();
    let extra =
        ObjectId::new(Document::open(sealed.clone()).unwrap().next_object_number().unwrap(), 0);
    let mut attacked_list = grown;
    attacked_list.push(Object::Reference(extra));
    let attacked = append_update(
        &sealed,
        &[(array_id, Object::Array(attacked_list)), (extra, content(b"0 g 50 700 400 40 re f"))],
        None,
    );
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    let change = report
        .later_changes
        .iter()
        .find(|c| c.object == array_id.number)
        .expect("the shared array is listed");
    assert!(!change.allowed, "{change:#?}");
}

#[test]
fn a_substituted_signature_dictionary_is_not_trusted() {
    let sealed = sealed_13();
    let doc = Document::open(sealed.clone()).unwrap();
    let field =
        eseal_pdf::signature_fields(&doc).unwrap().into_iter().find(|f| f.name == "Seal1").unwrap();
    // A copy of the signature dictionary with another signing time and reason, and the field
    // pointed at it.
    let mut forged = field.dict.clone();
    forged.set(b"M".to_vec(), Object::string(b"D:20200101000000+00'00'".to_vec()));
    forged.set(b"Reason".to_vec(), Object::string(b"forged".to_vec()));
    let forged_id = ObjectId::new(doc.next_object_number().unwrap(), 0);
    let field_id = field.field.unwrap();
    let mut field_dict = doc.dict(field_id, "field").unwrap();
    field_dict.set(b"V".to_vec(), Object::Reference(forged_id));
    let attacked = append_update(
        &sealed,
        &[(field_id, Object::Dictionary(field_dict)), (forged_id, Object::Dictionary(forged))],
        None,
    );
    let report = first_seal(&attacked);
    assert!(!report.intact || report.modified_after_signing, "{report:#?}");
    assert_ne!(
        report.reason.as_deref(),
        Some("forged"),
        "the report shows a reason the signer never signed"
    );
    assert!(
        report.problems.iter().any(|p| p.contains("not part of the bytes it signs")),
        "{report:#?}"
    );
}

#[test]
fn filling_a_dangling_reference_is_a_modification() {
    // Before sealing: page 1 draws its content plus a stream that does not exist yet.
    let input = std::fs::read(corpus("13")).unwrap();
    let doc = Document::open(input.clone()).unwrap();
    let page = doc.page(0).unwrap();
    let ghost = ObjectId::new(doc.next_object_number().unwrap() + 50, 0);
    let mut page_dict = page.dict.clone();
    let old_contents = page_dict.get(b"Contents").unwrap().clone();
    page_dict
        .set(b"Contents".to_vec(), Object::Array(vec![old_contents, Object::Reference(ghost)]));
    let prepared = append_update(&input, &[(page.id, Object::Dictionary(page_dict))], None);
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&prepared, &ec.options(1, 10.0, 20.0));
    assert!(!first_seal(&sealed).modified_after_signing);
    // After sealing, the missing stream appears.
    let attacked = append_update(&sealed, &[(ghost, content(b"0 g 50 700 400 40 re f"))], None);
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    assert!(
        report.later_changes.iter().any(|c| c.object == ghost.number && !c.allowed),
        "{report:#?}"
    );
}

#[test]
fn adding_seals_and_annotations_stays_allowed() {
    let sealed = sealed_13();
    let rsa = Seal::rsa();
    let (twice, _) = rsa.seal(&sealed, &rsa.options(2, 10.0, 20.0));
    let report = first_seal(&twice);
    assert!(report.intact && report.valid && !report.modified_after_signing, "{report:#?}");
    assert!(report.later_changes.iter().all(|c| c.allowed));
}

// The attack classes of the PDF-Insecurity research (pdf-insecurity.org): shadow hide, shadow
// replace, shadow hide-and-replace, incremental saving (ISA), signature wrapping (SWA) and
// universal signature forgery (USF), each built on corpus 13 sealed by eseal.

/// Writes a new annotation list back as the object to update.
type WriteAnnots = Box<dyn Fn(Vec<Object>) -> (ObjectId, Object)>;

/// Page 1's annotations as a list, and a function writing a new list back: into the indirect
/// array when /Annots is one, else into the page dictionary.
fn page1_annots(pdf: &[u8]) -> (Vec<Object>, WriteAnnots) {
    let doc = Document::open(pdf.to_vec()).unwrap();
    let page = doc.page(0).unwrap();
    match page.dict.get(b"Annots").cloned() {
        Some(Object::Reference(id)) => {
            let list = doc.object(id).unwrap().as_array().unwrap().to_vec();
            (list, Box::new(move |l| (id, Object::Array(l))))
        }
        other => {
            let list = other.and_then(|o| o.as_array().map(<[Object]>::to_vec)).unwrap_or_default();
            let (id, dict) = (page.id, page.dict.clone());
            (
                list,
                Box::new(move |l| {
                    let mut d = dict.clone();
                    d.set(b"Annots".to_vec(), Object::Array(l));
                    (id, Object::Dictionary(d))
                }),
            )
        }
    }
}

fn dict(pairs: &[(&str, Object)]) -> Dictionary {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect()
}

fn numbers(values: &[f64]) -> Object {
    Object::Array(values.iter().map(|v| Object::Real(*v)).collect())
}

/// A square annotation whose appearance is an opaque white rectangle over `rect`.
fn white_overlay(rect: [f64; 4], appearance: ObjectId) -> (Dictionary, Object) {
    let [x1, y1, x2, y2] = rect;
    let annot = dict(&[
        ("Type", Object::name("Annot")),
        ("Subtype", Object::name("Square")),
        ("Rect", numbers(&rect)),
        ("F", Object::Integer(4)),
        ("AP", Object::Dictionary(dict(&[("N", Object::Reference(appearance))]))),
    ]);
    let form = Stream {
        dict: dict(&[
            ("Type", Object::name("XObject")),
            ("Subtype", Object::name("Form")),
            ("BBox", numbers(&[0.0, 0.0, x2 - x1, y2 - y1])),
        ]),
        data: format!("1 g 0 0 {} {} re f", x2 - x1, y2 - y1).into_bytes(),
    };
    (annot, Object::Stream(form))
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = temp();
    let path = dir.path().join("in.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = run(&tool("pdftotext"), &["-f", "1", "-l", "1", path.to_str().unwrap(), "-"]);
    assert!(out.status.success(), "pdftotext failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Shadow hide: the signed revision covers page text with an overlay annotation; a later
/// update hides the overlay (its /F flags, or its removal from /Annots), revealing the text.
#[test]
fn shadow_hide_by_hiding_or_removing_an_overlay_is_a_modification() {
    let input = std::fs::read(corpus("13")).unwrap();
    let doc = Document::open(input.clone()).unwrap();
    let next = doc.next_object_number().unwrap();
    let (overlay_id, appearance_id) = (ObjectId::new(next, 0), ObjectId::new(next + 1, 0));
    let (overlay, appearance) = white_overlay([50.0, 500.0, 550.0, 800.0], appearance_id);
    let (mut list, write) = page1_annots(&input);
    list.push(Object::Reference(overlay_id));
    let prepared = append_update(
        &input,
        &[
            write(list),
            (overlay_id, Object::Dictionary(overlay.clone())),
            (appearance_id, appearance),
        ],
        None,
    );
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&prepared, &ec.options(1, 10.0, 20.0));
    assert!(!first_seal(&sealed).modified_after_signing);

    // Hidden by its flags.
    let mut hidden = overlay.clone();
    hidden.set(b"F".to_vec(), Object::Integer(4 | 2));
    let attacked = append_update(&sealed, &[(overlay_id, Object::Dictionary(hidden))], None);
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    let change = report
        .later_changes
        .iter()
        .find(|c| c.object == overlay_id.number)
        .expect("the overlay change is listed");
    assert!(
        !change.allowed
            && change.role == "annotation on page 1"
            && change.description.contains("/F"),
        "{change:#?}"
    );
    assert_pyhanko_seal1(&attacked, "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS");

    // Removed from the page's annotations.
    let (list, write) = page1_annots(&sealed);
    let without: Vec<Object> =
        list.into_iter().filter(|o| o.as_reference() != Some(overlay_id)).collect();
    let attacked = append_update(&sealed, &[write(without)], None);
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    assert!(
        report.later_changes.iter().any(|c| !c.allowed && c.description.contains("Annots")),
        "{report:#?}"
    );
    assert_pyhanko_seal1(&attacked, "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS");
}

/// Shadow replace through /DSS: the page's font is also reachable from /DSS /VRI; a later
/// update rewrites its /Encoding so that "1" is drawn as "9". Validation data may be added,
/// but an object a page uses is never validation data.
#[test]
fn shadow_replace_of_a_page_font_reachable_from_dss_is_a_modification() {
    let input = std::fs::read(corpus("13")).unwrap();
    let doc = Document::open(input.clone()).unwrap();
    let page = doc.page(0).unwrap();
    let next = doc.next_object_number().unwrap();
    let (font_id, text_id, dss_id, vri_id) = (
        ObjectId::new(next, 0),
        ObjectId::new(next + 1, 0),
        ObjectId::new(next + 2, 0),
        ObjectId::new(next + 3, 0),
    );
    let font = dict(&[
        ("Type", Object::name("Font")),
        ("Subtype", Object::name("Type1")),
        ("BaseFont", Object::name("Helvetica")),
        ("Encoding", Object::name("WinAnsiEncoding")),
    ]);
    // Page 1 draws an amount with that font.
    let mut resources =
        doc.resolve(page.dict.get(b"Resources").unwrap()).unwrap().as_dict().unwrap().clone();
    let mut fonts = resources
        .get(b"Font")
        .map(|f| doc.resolve(f).unwrap().as_dict().unwrap().clone())
        .unwrap_or_default();
    fonts.set(b"FShadow".to_vec(), Object::Reference(font_id));
    resources.set(b"Font".to_vec(), Object::Dictionary(fonts));
    let mut page_dict = page.dict.clone();
    page_dict.set(b"Resources".to_vec(), Object::Dictionary(resources));
    let mut contents: Vec<Object> = match page.dict.get(b"Contents").unwrap() {
        Object::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    contents.push(Object::Reference(text_id));
    page_dict.set(b"Contents".to_vec(), Object::Array(contents));
    // The catalog's /DSS /VRI reaches the same font.
    let mut catalog = doc.catalog().unwrap();
    catalog.set(b"DSS".to_vec(), Object::Reference(dss_id));
    let vri = dict(&[("0123456789ABCDEF0123456789ABCDEF01234567", Object::Reference(font_id))]);
    let prepared = append_update(
        &input,
        &[
            (page.id, Object::Dictionary(page_dict)),
            (text_id, content(b"BT /FShadow 28 Tf 60 420 Td (Amount: 100 EUR) Tj ET")),
            (font_id, Object::Dictionary(font.clone())),
            (doc.root_id().unwrap(), Object::Dictionary(catalog)),
            (dss_id, Object::Dictionary(dict(&[("VRI", Object::Reference(vri_id))]))),
            (vri_id, Object::Dictionary(vri)),
        ],
        None,
    );
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&prepared, &ec.options(1, 10.0, 20.0));
    assert!(!first_seal(&sealed).modified_after_signing);
    assert!(pdftotext(&sealed).contains("Amount: 100 EUR"), "{}", pdftotext(&sealed));

    let mut replaced = font.clone();
    let differences = Object::Array(vec![Object::Integer(49), Object::name("nine")]);
    replaced.set(
        b"Encoding".to_vec(),
        Object::Dictionary(dict(&[
            ("Type", Object::name("Encoding")),
            ("BaseEncoding", Object::name("WinAnsiEncoding")),
            ("Differences", differences),
        ])),
    );
    let attacked = append_update(&sealed, &[(font_id, Object::Dictionary(replaced))], None);
    // The attack works: a viewer now shows another amount.
    assert!(pdftotext(&attacked).contains("Amount: 900 EUR"), "{}", pdftotext(&attacked));
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    let change = report
        .later_changes
        .iter()
        .find(|c| c.object == font_id.number)
        .expect("the font change is listed");
    assert!(
        !change.allowed
            && change.role == "object (/Type /Font)"
            && change.description.contains("/Encoding"),
        "{change:#?}"
    );
    assert_pyhanko_seal1(&attacked, "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS");
}

/// Shadow hide-and-replace: the signed revision carries a second, unreferenced page tree (the
/// shadow document); a later update points the catalog's /Pages at it.
#[test]
fn shadow_hide_and_replace_of_the_page_tree_is_a_modification() {
    let input = std::fs::read(corpus("13")).unwrap();
    let doc = Document::open(input.clone()).unwrap();
    let next = doc.next_object_number().unwrap();
    let (pages_id, page_id, content_id) =
        (ObjectId::new(next, 0), ObjectId::new(next + 1, 0), ObjectId::new(next + 2, 0));
    let old_page = doc.page(0).unwrap();
    let mut shadow_page = old_page.dict.clone();
    shadow_page.set(b"Parent".to_vec(), Object::Reference(pages_id));
    shadow_page.set(b"Contents".to_vec(), Object::Reference(content_id));
    shadow_page.remove(b"Annots");
    if shadow_page.get(b"MediaBox").is_none() {
        shadow_page.set(b"MediaBox".to_vec(), numbers(&old_page.media_box));
    }
    let shadow_pages = dict(&[
        ("Type", Object::name("Pages")),
        ("Kids", Object::Array(vec![Object::Reference(page_id)])),
        ("Count", Object::Integer(1)),
    ]);
    let prepared = append_update(
        &input,
        &[
            (pages_id, Object::Dictionary(shadow_pages)),
            (page_id, Object::Dictionary(shadow_page)),
            (content_id, content(b"0 g 72 600 300 60 re f")),
        ],
        None,
    );
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&prepared, &ec.options(1, 10.0, 20.0));
    assert!(!first_seal(&sealed).modified_after_signing);

    let sealed_doc = Document::open(sealed.clone()).unwrap();
    let mut catalog = sealed_doc.catalog().unwrap();
    catalog.set(b"Pages".to_vec(), Object::Reference(pages_id));
    let attacked = append_update(
        &sealed,
        &[(sealed_doc.root_id().unwrap(), Object::Dictionary(catalog))],
        None,
    );
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    assert!(
        report
            .later_changes
            .iter()
            .any(|c| c.role == "catalog" && !c.allowed && c.description.contains("/Pages")),
        "{report:#?}"
    );
    assert_pyhanko_seal1(&attacked, "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS");
}

/// Incremental saving attack: a new version of the page's content stream, once as a proper
/// incremental update, once as bare objects appended without a cross-reference section
/// (viewers that repair files read them).
#[test]
fn incremental_saving_attacks_are_modifications() {
    let sealed = sealed_13();
    let doc = Document::open(sealed.clone()).unwrap();
    let page = doc.page(0).unwrap();
    let content_id = match page.dict.get(b"Contents").unwrap() {
        Object::Reference(id) => *id,
        Object::Array(items) => items[0].as_reference().unwrap(),
        other => panic!("unexpected /Contents {other:?}"),
    };
    let attacked =
        append_update(&sealed, &[(content_id, content(b"0 g 72 600 300 60 re f"))], None);
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    let change = report
        .later_changes
        .iter()
        .find(|c| c.object == content_id.number)
        .expect("the content change is listed");
    assert!(!change.allowed && change.role == "content of page 1", "{change:#?}");
    let area = change.visual.as_ref().expect("rewritten page content is a visual change");
    assert_eq!((area.page, area.rect), (1, page.crop_box), "{change:#?}");
    assert!(change.description.contains("covers page 1 at ["), "{change:#?}");
    assert_pyhanko_seal1(&attacked, "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS");

    // Objects appended with no cross-reference section or trailer.
    let mut bare = sealed.clone();
    bare.extend_from_slice(
        format!(
            "{} 0 obj\n<</Length 22>>stream\n0 g 72 600 300 60 re f\nendstream\nendobj\n",
            content_id.number
        )
        .as_bytes(),
    );
    // The reader refuses the file outright: one interpretation, and bytes that are not a
    // revision have none.
    let refused = verify_document(&bare, &anchors())
        .expect_err("bytes after the last revision are refused")
        .to_string();
    assert!(
        refused.contains("after the final %%EOF") && refused.contains("not a revision of the file"),
        "{refused}"
    );
    let dir = temp();
    let path = dir.path().join("bare.pdf");
    std::fs::write(&path, &bare).unwrap();
    // pyHanko sees bytes after the signed revision but no revision in them ("extended with
    // none") and accepts the file. We do not: viewers that repair files read those objects
    // and show the new content.
    assert_pyhanko(
        &path,
        true,
        &[(
            "Seal1",
            &fingerprint(&Seal::ec().chain),
            "INTACT:TRUSTED,EXTENDED_WITH_NONE,ACCEPTABLE_MODIFICATIONS",
        )],
        0,
    );
}

/// Signature wrapping: the unsigned /Contents gap is rewritten to carry an object of the
/// attacker's (after the real signature, inside the padding), and a later cross-reference
/// section points the page's content at it.
#[test]
fn signature_wrapping_is_not_intact() {
    // A signer that reserves generous room for the signature (as Acrobat does) leaves padding
    // to hide an object in.
    let ec = Seal::ec();
    let mut options = ec.options(1, 10.0, 20.0);
    options.contents_size = 16 * 1024;
    let (sealed, _) = ec.seal(&std::fs::read(corpus("13")).unwrap(), &options);
    assert!(first_seal(&sealed).valid);
    let doc = Document::open(sealed.clone()).unwrap();
    let field =
        eseal_pdf::signature_fields(&doc).unwrap().into_iter().find(|f| f.name == "Seal1").unwrap();
    let range: Vec<usize> = field
        .dict
        .get(b"ByteRange")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as usize)
        .collect();
    let (gap_start, gap_end) = (range[1], range[2]);
    let page = doc.page(0).unwrap();
    let content_id = match page.dict.get(b"Contents").unwrap() {
        Object::Reference(id) => *id,
        Object::Array(items) => items[0].as_reference().unwrap(),
        other => panic!("unexpected /Contents {other:?}"),
    };
    // The DER signature stays; the zero padding after it holds `> N 0 obj ... endobj <`.
    let gap = &sealed[gap_start..gap_end];
    let der_hex_end = gap.len() - gap.iter().rev().skip(1).take_while(|b| **b == b'0').count() - 1;
    let der_hex_end = der_hex_end + (der_hex_end - 1) % 2; // keep whole bytes
    let mut wrapped = sealed.clone();
    let injected = format!(
        ">\n{} 0 obj\n<</Length 22>>stream\n0 g 72 600 300 60 re f\nendstream\nendobj\n<",
        content_id.number
    )
    .into_bytes();
    let at = gap_start + der_hex_end;
    assert!(at + injected.len() < gap_end - 1, "the padding is large enough");
    wrapped[at..at + injected.len()].copy_from_slice(&injected);
    let offset = at + 2;
    // A new xref section pointing the content object into the gap.
    let startxref = wrapped.len();
    let size = doc.next_object_number().unwrap();
    let prev = doc.xref().startxref;
    let root = doc.root_id().unwrap();
    let xref = format!(
        "xref\n0 1\n0000000000 65535 f \n{} 1\n{:010} 00000 n \ntrailer\n<</Size {size}/Root {} {} R/Prev {prev}>>\nstartxref\n{startxref}\n%%EOF\n",
        content_id.number, offset, root.number, root.generation
    );
    assert_eq!(
        doc.xref().sections[0].kind,
        eseal_pdf::XrefKind::Table,
        "the section written above is a classic table, like corpus 13's"
    );
    wrapped.extend_from_slice(xref.as_bytes());
    // A lenient reader would take the injected object for the page's content. Ours refuses
    // the file: the new section points the object into the signed revision, at bytes that
    // revision never listed for it.
    let refused = Document::open(wrapped.clone())
        .err()
        .expect("an offset into an earlier revision is refused")
        .to_string();
    assert!(
        refused.contains(&format!("object {}", content_id.number))
            && refused.contains(&offset.to_string()),
        "{refused}"
    );
    let refused = verify_document(&wrapped, &anchors())
        .expect_err("the wrapped file is not verified")
        .to_string();
    assert!(refused.contains(&format!("object {}", content_id.number)), "{refused}");
    let dir = temp();
    let path = dir.path().join("wrapped.pdf");
    std::fs::write(&path, &wrapped).unwrap();
    let run = pyhanko_run(&path, true);
    assert_eq!(run.code, Some(1), "pyHanko accepts a wrapped signature:\n{}", run.text);
    assert!(
        run.verdicts.iter().all(|v| !(v.intact() && v.trusted() && !v.illegal_modifications())),
        "{}",
        run.text
    );
}

/// Universal signature forgery: a signature field whose signature dictionary lacks the
/// values that would bind it (/Contents, /ByteRange), or carries empty or zero ones, or a
/// real seal's CMS copied from another document.
#[test]
fn universal_signature_forgeries_are_not_valid() {
    let input = std::fs::read(corpus("13")).unwrap();
    let other = {
        let ec = Seal::ec();
        ec.seal(&std::fs::read(corpus("01")).unwrap(), &ec.options(1, 10.0, 20.0)).0
    };
    let other_doc = Document::open(other.clone()).unwrap();
    let real = eseal_pdf::signature_fields(&other_doc).unwrap().into_iter().next().unwrap().dict;
    let base = |extra: &[(&str, Object)]| {
        let mut d = dict(&[
            ("Type", Object::name("Sig")),
            ("Filter", Object::name("Adobe.PPKLite")),
            ("SubFilter", Object::name("adbe.pkcs7.detached")),
        ]);
        for (k, v) in extra {
            d.set(k.as_bytes().to_vec(), v.clone());
        }
        d
    };
    let zeros = |n: usize| Object::Array(vec![Object::Integer(0); n]);
    let variants: Vec<(&str, Dictionary)> = vec![
        ("no /Contents, no /ByteRange", base(&[])),
        ("/Contents null", base(&[("Contents", Object::Null), ("ByteRange", zeros(4))])),
        (
            "empty /Contents",
            base(&[("Contents", Object::string(Vec::new())), ("ByteRange", zeros(4))]),
        ),
        (
            "a real seal's CMS, no /ByteRange",
            base(&[("Contents", real.get(b"Contents").unwrap().clone())]),
        ),
        (
            "a real seal's CMS, /ByteRange [0 0 0 0]",
            base(&[("Contents", real.get(b"Contents").unwrap().clone()), ("ByteRange", zeros(4))]),
        ),
        (
            "a real seal's CMS and /ByteRange",
            base(&[
                ("Contents", real.get(b"Contents").unwrap().clone()),
                ("ByteRange", real.get(b"ByteRange").unwrap().clone()),
            ]),
        ),
    ];
    let doc = Document::open(input.clone()).unwrap();
    let page = doc.page(0).unwrap();
    let next = doc.next_object_number().unwrap();
    let (sig_id, field_id) = (ObjectId::new(next, 0), ObjectId::new(next + 1, 0));
    let mut catalog = doc.catalog().unwrap();
    catalog.set(
        b"AcroForm".to_vec(),
        Object::Dictionary(dict(&[
            ("Fields", Object::Array(vec![Object::Reference(field_id)])),
            ("SigFlags", Object::Integer(3)),
        ])),
    );
    let mut page_dict = page.dict.clone();
    page_dict.set(b"Annots".to_vec(), Object::Array(vec![Object::Reference(field_id)]));
    let field = dict(&[
        ("FT", Object::name("Sig")),
        ("T", Object::string(b"Forged".to_vec())),
        ("Type", Object::name("Annot")),
        ("Subtype", Object::name("Widget")),
        ("Rect", zeros(4)),
        ("P", Object::Reference(page.id)),
        ("V", Object::Reference(sig_id)),
    ]);
    for (what, sig) in variants {
        let forged = append_update(
            &input,
            &[
                (doc.root_id().unwrap(), Object::Dictionary(catalog.clone())),
                (page.id, Object::Dictionary(page_dict.clone())),
                (field_id, Object::Dictionary(field.clone())),
                (sig_id, Object::Dictionary(sig)),
            ],
            None,
        );
        let report = verify_document(&forged, &anchors()).unwrap();
        assert!(!report.all_valid(), "{what}: {report:#?}");
        for s in &report.signatures {
            assert!(!s.intact && !s.valid, "{what}: {s:#?}");
        }
        let dir = temp();
        let path = dir.path().join("forged.pdf");
        std::fs::write(&path, &forged).unwrap();
        let run = pyhanko_run(&path, true);
        assert_eq!(run.code, Some(1), "{what}: pyHanko accepts the forgery:\n{}", run.text);
        assert!(run.verdicts.iter().all(|v| !v.intact()), "{what}: {}", run.text);
    }
}

/// A later update drops the seal's field from the form's /Fields. The verifier reads the
/// signatures the form lists (as pyHanko and EU DSS do): the document has none left, which
/// fails it. poppler's pdfsig, which also looks for signature widgets on the pages, still
/// lists the seal (a reasoned difference: both tell the reader that something is wrong, pdfsig
/// by "not total document signed").
#[test]
fn a_seal_dropped_from_the_form_fails_the_document() {
    let sealed = sealed_13();
    let doc = Document::open(sealed.clone()).unwrap();
    let root = doc.root_id().unwrap();
    let mut catalog = doc.catalog().unwrap();
    let form_value = catalog.get(b"AcroForm").cloned().expect("the sealed file has a form");
    let mut form = doc.resolve(&form_value).unwrap().as_dict().cloned().unwrap();
    form.set(b"Fields".to_vec(), Object::Array(Vec::new()));
    let objects = match form_value {
        Object::Reference(id) => vec![(id, Object::Dictionary(form))],
        _ => {
            catalog.set(b"AcroForm".to_vec(), Object::Dictionary(form));
            vec![(root, Object::Dictionary(catalog))]
        }
    };
    let dropped = append_update(&sealed, &objects, None);
    let report = verify_document(&dropped, &anchors()).unwrap();
    assert!(report.signatures.is_empty(), "{report:#?}");
    assert_eq!(report.verdict, eseal_verify::DocumentVerdict::Failed);
    assert!(!report.all_valid());
    let dir = temp();
    let path = dir.path().join("dropped.pdf");
    std::fs::write(&path, &dropped).unwrap();
    let (valid, total, text) = pdfsig(&path);
    assert_eq!(
        (valid.len(), total),
        (1, false),
        "pdfsig lists the dropped seal, not as covering the document:\n{text}"
    );
}
