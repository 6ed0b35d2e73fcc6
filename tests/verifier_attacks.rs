//! Later revisions that change what a reader sees while leaving the signed bytes alone
//! (incremental saving and shadow attacks): the verifier must report each one as a
//! modification after signing, and pyHanko must agree where it can judge.

mod common;

use common::*;
use eseal::pdf::{Dictionary, Document, Object, ObjectId};
use eseal::pdf::object::Stream;
use eseal::verify::{SignatureReport, TrustAnchors, verify_document};

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
    let (catalog_id, pages_id, page_id, content_id) =
        (ObjectId::new(next, 0), ObjectId::new(next + 1, 0), ObjectId::new(next + 2, 0), ObjectId::new(next + 3, 0));
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
        (b"MediaBox".to_vec(), Object::Array(vec![Object::Integer(0), Object::Integer(0), Object::Integer(595), Object::Integer(842)])),
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
    let prepared = append_update(&input, &[(page.id, Object::Dictionary(page_dict)), (array_id, Object::Array(vec![old_contents.clone()]))], None);
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&prepared, &ec.options(1, 10.0, 20.0));
    assert!(!first_seal(&sealed).modified_after_signing);
    // After sealing, a content stream is appended to that array.
    let extra = ObjectId::new(Document::open(sealed.clone()).unwrap().next_object_number().unwrap(), 0);
    let attacked = append_update(
        &sealed,
        &[(array_id, Object::Array(vec![old_contents, Object::Reference(extra)])), (extra, content(b"0 g 50 700 400 40 re f"))],
        None,
    );
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    assert_pyhanko_seal1(&attacked, "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS");
}

#[test]
fn a_substituted_signature_dictionary_is_not_trusted() {
    let sealed = sealed_13();
    let doc = Document::open(sealed.clone()).unwrap();
    let field = eseal::pdf::signature_fields(&doc).unwrap().into_iter().find(|f| f.name == "Seal1").unwrap();
    // A copy of the signature dictionary with another signing time and reason, and the field
    // pointed at it.
    let mut forged = field.dict.clone();
    forged.set(b"M".to_vec(), Object::string(b"D:20200101000000+00'00'".to_vec()));
    forged.set(b"Reason".to_vec(), Object::string(b"forged".to_vec()));
    let forged_id = ObjectId::new(doc.next_object_number().unwrap(), 0);
    let field_id = field.field.unwrap();
    let mut field_dict = doc.dict(field_id, "field").unwrap();
    field_dict.set(b"V".to_vec(), Object::Reference(forged_id));
    let attacked = append_update(&sealed, &[(field_id, Object::Dictionary(field_dict)), (forged_id, Object::Dictionary(forged))], None);
    let report = first_seal(&attacked);
    assert!(!report.intact || report.modified_after_signing, "{report:#?}");
    assert_ne!(report.reason.as_deref(), Some("forged"), "the report shows a reason the signer never signed");
    assert!(report.problems.iter().any(|p| p.contains("not part of the bytes it signs")), "{report:#?}");
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
    page_dict.set(b"Contents".to_vec(), Object::Array(vec![old_contents, Object::Reference(ghost)]));
    let prepared = append_update(&input, &[(page.id, Object::Dictionary(page_dict))], None);
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&prepared, &ec.options(1, 10.0, 20.0));
    assert!(!first_seal(&sealed).modified_after_signing);
    // After sealing, the missing stream appears.
    let attacked = append_update(&sealed, &[(ghost, content(b"0 g 50 700 400 40 re f"))], None);
    let report = first_seal(&attacked);
    assert!(report.intact && report.modified_after_signing, "{report:#?}");
    assert!(report.later_changes.iter().any(|c| c.object == ghost.number && !c.allowed), "{report:#?}");
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
