//! Later-change analysis against real signing tools: what a second signer legitimately
//! writes after a first signature (pyHanko signs, then countersigns Acrobat's way) is not a
//! modification, and what an overlay annotation paints over a sealed page is reported as a
//! visual change with its page and rectangle. pyHanko judges the same files.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use eseal_verify::{SignatureReport, TrustAnchors, verify_document};

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

fn report_of(pdf: &[u8], field: &str) -> SignatureReport {
    let report = verify_document(&pdf.to_vec(), &anchors()).unwrap();
    report
        .signatures
        .into_iter()
        .find(|s| s.field_name == field)
        .unwrap_or_else(|| panic!("{field} is reported"))
}

/// Runs tests/python/acrobat_style.py with the venv's Python.
fn acrobat_style(mode: &str, input: &Path, output: &Path, seal: &str) {
    let python = pyhanko().with_file_name("python3");
    let keys = repo().join("keys-sample");
    let key = |suffix: &str| keys.join(format!("{seal}{suffix}")).to_str().unwrap().to_string();
    let script = repo().join("tests/python/acrobat_style.py");
    // The issuing CA only: the seal's own certificate is added by pyHanko (a chain file that
    // repeats it makes a CMS certificate set with a duplicate, which our parser refuses).
    let ca = keys.join("seal-ca.pem");
    let out = run(
        &python,
        &[
            script.to_str().unwrap(),
            mode,
            input.to_str().unwrap(),
            output.to_str().unwrap(),
            &key(".key"),
            &key(".pem"),
            ca.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "acrobat_style.py {mode} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// pyHanko signs Sig1 of a corpus file, then countersigns Sig2 rewriting the XMP metadata,
/// the Info dictionary's /ModDate and the widgets' /F flags in the same revision.
fn signed_then_countersigned(prefix: &str, dir: &Path) -> (PathBuf, Vec<u8>) {
    let first = dir.join("first.pdf");
    let both = dir.join("both.pdf");
    acrobat_style("sign-first", &corpus(prefix), &first, "seal-approval-ec");
    acrobat_style("countersign", &first, &both, "seal-housing-rsa");
    let bytes = std::fs::read(&both).unwrap();
    (both, bytes)
}

#[track_caller]
fn assert_countersigning_is_not_a_modification(prefix: &str) {
    let dir = temp();
    let (path, both) = signed_then_countersigned(prefix, dir.path());
    let (ec, rsa) = (Seal::ec(), Seal::rsa());
    assert_pyhanko(
        &path,
        true,
        &[
            (
                "Sig1",
                &fingerprint(&ec.chain),
                "INTACT:TRUSTED,EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS",
            ),
            ("Sig2", &fingerprint(&rsa.chain), "INTACT:TRUSTED,UNTOUCHED"),
        ],
        0,
    );
    let first = report_of(&both, "Sig1");
    assert!(
        first.intact && first.valid && first.trusted && !first.modified_after_signing,
        "{prefix}: {first:#?}"
    );
    // What the countersigning revision did is listed, and each item is allowed.
    let roles: Vec<&str> = first.later_changes.iter().map(|c| c.role.as_str()).collect();
    for role in ["document information", "empty signature field", "signature"] {
        assert!(
            roles.contains(&role),
            "{prefix}: no {role} change listed: {:#?}",
            first.later_changes
        );
    }
    assert!(
        first
            .later_changes
            .iter()
            .any(|c| c.role == "catalog" && c.description.contains("/Metadata")),
        "{prefix}: the new XMP metadata is not listed: {:#?}",
        first.later_changes
    );
    // Sig2's widget got its appearance: a visual change on page 1, allowed.
    let widget = first.later_changes.iter().find(|c| c.role == "empty signature field").unwrap();
    assert!(widget.description.contains("/F"), "{prefix}: the widget's flags changed: {widget:#?}");
    let area = widget.visual.as_ref().expect("the filled field shows on its page");
    assert_eq!((area.page, area.rect), (1, [250.0, 50.0, 400.0, 100.0]), "{widget:#?}");
    assert!(widget.description.contains("covers page 1 at [250 50 400 100]"), "{widget:#?}");
    let report = verify_document(&both, &anchors()).unwrap();
    assert!(report.all_valid(), "{report:#?}");
}

#[test]
fn acrobat_style_countersignature_is_not_a_modification() {
    // 04 carries an XMP stream already (classic table, linearized); 13 has none.
    assert_countersigning_is_not_a_modification("04");
    assert_countersigning_is_not_a_modification("13");
}

use eseal_pdf::Stream;
use eseal_pdf::{Dictionary, Document, Object, ObjectId};

fn dict(pairs: &[(&str, Object)]) -> Dictionary {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect()
}

fn numbers(values: &[f64]) -> Object {
    Object::Array(values.iter().map(|v| Object::Real(*v)).collect())
}

fn form(width: f64, height: f64, data: &[u8]) -> Object {
    Object::Stream(Stream {
        dict: dict(&[
            ("Type", Object::name("XObject")),
            ("Subtype", Object::name("Form")),
            ("BBox", numbers(&[0.0, 0.0, width, height])),
        ]),
        data: data.to_vec(),
    })
}

/// Appends an update adding `annotation` (and `extra` objects) to page 1's /Annots.
fn add_to_page1(
    pdf: &[u8],
    annotation: (ObjectId, Dictionary),
    extra: Vec<(ObjectId, Object)>,
) -> Vec<u8> {
    let doc = Document::open(pdf.to_vec()).unwrap();
    let page = doc.page(0).unwrap();
    let mut objects = vec![(annotation.0, Object::Dictionary(annotation.1))];
    match page.dict.get(b"Annots").cloned() {
        Some(Object::Reference(id)) => {
            let mut list = doc.object(id).unwrap().as_array().unwrap().to_vec();
            list.push(Object::Reference(annotation.0));
            objects.push((id, Object::Array(list)));
        }
        other => {
            let mut list =
                other.and_then(|o| o.as_array().map(<[Object]>::to_vec)).unwrap_or_default();
            list.push(Object::Reference(annotation.0));
            let mut d = page.dict.clone();
            d.set(b"Annots".to_vec(), Object::Array(list));
            objects.push((page.id, Object::Dictionary(d)));
        }
    }
    objects.extend(extra);
    append_update(pdf, &objects, None)
}

/// The overlays an attacker could add over page 1's text: (what, annotation, its other
/// objects, the rectangle it covers).
fn overlays(pdf: &[u8], with_type: bool) -> Vec<(&'static str, Vec<u8>, u32)> {
    let doc = Document::open(pdf.to_vec()).unwrap();
    let next = doc.next_object_number().unwrap();
    let id = |i: u32| ObjectId::new(next + i, 0);
    let typed = |mut d: Dictionary| {
        if with_type {
            d.set(b"Type".to_vec(), Object::name("Annot"));
        }
        d
    };
    let rect = [50.0, 500.0, 550.0, 800.0];
    let square = typed(dict(&[
        ("Subtype", Object::name("Square")),
        ("Rect", numbers(&rect)),
        ("F", Object::Integer(4)),
        ("AP", Object::Dictionary(dict(&[("N", Object::Reference(id(1)))]))),
    ]));
    let free_text = typed(dict(&[
        ("Subtype", Object::name("FreeText")),
        ("Rect", numbers(&rect)),
        ("Contents", Object::string(b"VOID".to_vec())),
        ("DA", Object::string(b"0 g /Helv 48 Tf".to_vec())),
    ]));
    // A stamp whose /Rect holds indirect numbers, and whose /F is indirect too.
    let stamp = typed(dict(&[
        ("Subtype", Object::name("Stamp")),
        ("Rect", Object::Array((1..=4).map(|i| Object::Reference(id(i))).collect())),
        ("F", Object::Reference(id(5))),
        ("AP", Object::Dictionary(dict(&[("N", Object::Reference(id(6)))]))),
    ]));
    let stamp_extra: Vec<(ObjectId, Object)> = rect
        .iter()
        .enumerate()
        .map(|(i, v)| (id(i as u32 + 1), Object::Real(*v)))
        .chain([(id(5), Object::Integer(4)), (id(6), form(500.0, 300.0, b"1 g 0 0 500 300 re f"))])
        .collect();
    // The widget of a new text field, listed in no form (a page shows it all the same).
    let widget = typed(dict(&[
        ("Subtype", Object::name("Widget")),
        ("FT", Object::name("Tx")),
        ("T", Object::string(b"Amount".to_vec())),
        ("V", Object::string(b"999".to_vec())),
        ("Rect", numbers(&rect)),
        ("F", Object::Integer(4)),
        ("AP", Object::Dictionary(dict(&[("N", Object::Reference(id(1)))]))),
    ]));
    vec![
        (
            "an opaque square",
            add_to_page1(
                pdf,
                (id(0), square),
                vec![(id(1), form(500.0, 300.0, b"1 g 0 0 500 300 re f"))],
            ),
            id(0).number,
        ),
        (
            "a free text without appearance",
            add_to_page1(pdf, (id(0), free_text), vec![]),
            id(0).number,
        ),
        (
            "a stamp with indirect numbers",
            add_to_page1(pdf, (id(0), stamp), stamp_extra),
            id(0).number,
        ),
        (
            "a text field's widget",
            add_to_page1(
                pdf,
                (id(0), widget),
                vec![(id(1), form(500.0, 300.0, b"1 g 0 0 500 300 re f"))],
            ),
            id(0).number,
        ),
    ]
}

#[track_caller]
fn assert_overlay_disallowed(what: &str, pdf: &[u8], object: u32) {
    let report = report_of(pdf, "Seal1");
    assert!(report.intact && report.valid && report.modified_after_signing, "{what}: {report:#?}");
    let change = report
        .later_changes
        .iter()
        .find(|c| c.object == object)
        .unwrap_or_else(|| panic!("{what}: not listed: {report:#?}"));
    assert!(!change.allowed && change.role == "annotation", "{what}: {change:#?}");
    let area = change
        .visual
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: not a visual change: {change:#?}"));
    assert_eq!((area.page, area.rect), (1, [50.0, 500.0, 550.0, 800.0]), "{what}: {change:#?}");
    assert!(
        change.description.contains("covers page 1 at [50 500 550 800]"),
        "{what}: {change:#?}"
    );
    // The JSON report carries the area.
    let json = serde_json::to_value(change).unwrap();
    assert_eq!(json["visual"]["page"], 1, "{json}");
    assert_eq!(json["visual"]["rect"][3], 800.0, "{json}");
}

/// After an approval seal, an annotation over the sealed page's text is a disallowed visual
/// change, whatever its subtype, whether or not it has an appearance, with its numbers
/// indirect; a hidden one is allowed.
#[test]
fn overlay_annotations_after_an_approval_seal_are_disallowed_visual_changes() {
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&std::fs::read(corpus("13")).unwrap(), &ec.options(1, 10.0, 20.0));
    let dir = temp();
    for (what, attacked, object) in overlays(&sealed, true) {
        assert_overlay_disallowed(what, &attacked, object);
        let path = dir.path().join("overlay.pdf");
        std::fs::write(&path, &attacked).unwrap();
        assert_pyhanko(&path, true, &[("Seal1", &fingerprint(&ec.chain), ILLEGAL)], 1);
    }
    // Hidden, it shows nothing: allowed, and not a visual change.
    let doc = Document::open(sealed.clone()).unwrap();
    let id = ObjectId::new(doc.next_object_number().unwrap(), 0);
    let hidden = dict(&[
        ("Subtype", Object::name("Square")),
        ("Rect", numbers(&[50.0, 500.0, 550.0, 800.0])),
        ("F", Object::Integer(2)),
    ]);
    let with_hidden = add_to_page1(&sealed, (id, hidden), vec![]);
    let report = report_of(&with_hidden, "Seal1");
    assert!(!report.modified_after_signing, "{report:#?}");
    let change = report.later_changes.iter().find(|c| c.object == id.number).unwrap();
    assert!(change.allowed && change.visual.is_none(), "{change:#?}");
    // pyHanko refuses any new annotation that is not a signature's, shown or not: a known,
    // reasoned difference (a hidden annotation changes nothing a reader sees or prints).
    let path = dir.path().join("hidden.pdf");
    std::fs::write(&path, &with_hidden).unwrap();
    assert_pyhanko(&path, true, &[("Seal1", &fingerprint(&ec.chain), ILLEGAL)], 1);
}

/// pyHanko's verdict on a signature followed by changes it does not allow.
const ILLEGAL: &str = "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS";

/// After a certification (P=2), an overlay without /Type /Annot, or with indirect /Rect
/// numbers, is caught as well as a typed one.
#[test]
fn overlay_annotations_after_a_certified_seal_are_disallowed() {
    let ec = Seal::ec();
    let mut options = ec.options(1, 10.0, 20.0);
    options.certify = true;
    let (certified, _) = ec.seal(&std::fs::read(corpus("13")).unwrap(), &options);
    assert_eq!(report_of(&certified, "Seal1").certification, Some(2));
    let dir = temp();
    for (what, attacked, object) in overlays(&certified, false) {
        assert_overlay_disallowed(what, &attacked, object);
        let path = dir.path().join("overlay.pdf");
        std::fs::write(&path, &attacked).unwrap();
        assert_pyhanko(&path, true, &[("Seal1", &fingerprint(&ec.chain), ILLEGAL)], 1);
    }
}

fn xmp_stream(body: &[u8]) -> Object {
    Object::Stream(Stream {
        dict: dict(&[("Type", Object::name("Metadata")), ("Subtype", Object::name("XML"))]),
        data: body.to_vec(),
    })
}

const XMP: &[u8] = br#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:ModifyDate="2026-12-03T10:00:00Z"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#;

/// The XMP metadata stream rewritten in place after a seal (corpus 04 has one): allowed when
/// it is well-formed XMP, not when it declares entities or is not XML; the Info dictionary
/// may change its dates and producer, not its title.
#[test]
fn metadata_and_info_updates_after_a_seal() {
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&std::fs::read(corpus("04")).unwrap(), &ec.options(1, 10.0, 20.0));
    let doc = Document::open(sealed.clone()).unwrap();
    let metadata = doc
        .catalog()
        .unwrap()
        .get(b"Metadata")
        .and_then(Object::as_reference)
        .expect("corpus 04 has an XMP stream");
    let info_id = doc
        .trailer()
        .get(b"Info")
        .and_then(Object::as_reference)
        .expect("corpus 04 has an Info dictionary");
    let info = doc.dict(info_id, "info").unwrap();
    let dir = temp();
    let path = dir.path().join("updated.pdf");
    let pyhanko_says = |pdf: &[u8], status: &str| {
        std::fs::write(&path, pdf).unwrap();
        assert_pyhanko(
            &path,
            true,
            &[("Seal1", &fingerprint(&ec.chain), status)],
            if status == ILLEGAL { 1 } else { 0 },
        );
    };
    const ACCEPTED: &str = "INTACT:TRUSTED,EXTENDED_WITH_LTA_UPDATES,ACCEPTABLE_MODIFICATIONS";

    let mut dated = info.clone();
    dated.set(b"ModDate".to_vec(), Object::string(b"D:20261203100000Z".to_vec()));
    dated.set(b"Producer".to_vec(), Object::string(b"Acrobat".to_vec()));
    let good = append_update(
        &sealed,
        &[(metadata, xmp_stream(XMP)), (info_id, Object::Dictionary(dated))],
        None,
    );
    let report = report_of(&good, "Seal1");
    assert!(!report.modified_after_signing, "{report:#?}");
    assert!(
        report
            .later_changes
            .iter()
            .any(|c| c.object == metadata.number && c.allowed && c.role == "XMP metadata"),
        "{report:#?}"
    );
    assert!(
        report
            .later_changes
            .iter()
            .any(|c| c.object == info_id.number && c.allowed && c.role == "document information"),
        "{report:#?}"
    );
    pyhanko_says(&good, ACCEPTED);

    let entity =
        br#"<!DOCTYPE x [<!ENTITY e "text">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>"#;
    let content = b"0 g 72 600 300 60 re f";
    for (what, body) in [("an entity", &entity[..]), ("page content", &content[..])] {
        let bad = append_update(&sealed, &[(metadata, xmp_stream(body))], None);
        let report = report_of(&bad, "Seal1");
        assert!(report.modified_after_signing, "{what}: {report:#?}");
        let change = report.later_changes.iter().find(|c| c.object == metadata.number).unwrap();
        assert!(
            !change.allowed && change.description.contains("not well-formed"),
            "{what}: {change:#?}"
        );
        pyhanko_says(&bad, ILLEGAL);
    }

    // The old stream rewritten while the catalog takes a new one: the rewrite serves nothing
    // a reader uses; both verifiers refuse it.
    let new_stream = ObjectId::new(doc.next_object_number().unwrap(), 0);
    let mut catalog = doc.catalog().unwrap();
    catalog.set(b"Metadata".to_vec(), Object::Reference(new_stream));
    let moved = append_update(
        &sealed,
        &[
            (metadata, xmp_stream(XMP)),
            (new_stream, xmp_stream(XMP)),
            (doc.root_id().unwrap(), Object::Dictionary(catalog)),
        ],
        None,
    );
    let report = report_of(&moved, "Seal1");
    let change = report.later_changes.iter().find(|c| c.object == metadata.number).unwrap();
    assert!(
        report.modified_after_signing
            && !change.allowed
            && change.description.contains("no longer"),
        "{change:#?}"
    );
    pyhanko_says(&moved, ILLEGAL);

    let mut retitled = info.clone();
    retitled.set(b"Title".to_vec(), Object::string(b"Another document".to_vec()));
    let retitled = append_update(&sealed, &[(info_id, Object::Dictionary(retitled))], None);
    let report = report_of(&retitled, "Seal1");
    let change = report.later_changes.iter().find(|c| c.object == info_id.number).unwrap();
    assert!(
        report.modified_after_signing && !change.allowed && change.description.contains("/Title"),
        "{change:#?}"
    );
    // pyHanko accepts any Info change (its readers fall back on older revisions); a title is
    // what a viewer shows for the document, so we keep it signed.
    pyhanko_says(&retitled, ACCEPTED);
}

/// Validation data added after a seal, twice (a new /DSS, then more certificates and a
/// second VRI entry), is allowed, as pyHanko says; rewriting an existing VRI entry is not.
#[test]
fn dss_additions_are_allowed_and_rewrites_are_not() {
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&std::fs::read(corpus("13")).unwrap(), &ec.options(1, 10.0, 20.0));
    let doc = Document::open(sealed.clone()).unwrap();
    let root = doc.root_id().unwrap();
    let next = doc.next_object_number().unwrap();
    let id = |i: u32| ObjectId::new(next + i, 0);
    let der = |i: usize| {
        Object::Stream(Stream {
            dict: Dictionary::new(),
            data: ec.chain.certificates()[i].to_vec(),
        })
    };
    let vri_entry = |cert: ObjectId| {
        Object::Dictionary(dict(&[("Cert", Object::Array(vec![Object::Reference(cert)]))]))
    };
    let (hash1, hash2) =
        ("0123456789ABCDEF0123456789ABCDEF01234567", "89ABCDEF0123456789ABCDEF0123456789ABCDEF");
    // dss = 0, certs = 1, vri = 2, cert streams 3 and 4, vri entries 5 and 6
    let mut catalog = doc.catalog().unwrap();
    catalog.set(b"DSS".to_vec(), Object::Reference(id(0)));
    let dss = Object::Dictionary(dict(&[
        ("Certs", Object::Reference(id(1))),
        ("VRI", Object::Reference(id(2))),
    ]));
    let once = append_update(
        &sealed,
        &[
            (root, Object::Dictionary(catalog)),
            (id(0), dss.clone()),
            (id(1), Object::Array(vec![Object::Reference(id(3))])),
            (id(2), Object::Dictionary(dict(&[(hash1, Object::Reference(id(5)))]))),
            (id(3), der(0)),
            (id(5), vri_entry(id(3))),
        ],
        None,
    );
    let twice = append_update(
        &once,
        &[
            (id(1), Object::Array(vec![Object::Reference(id(3)), Object::Reference(id(4))])),
            (
                id(2),
                Object::Dictionary(dict(&[
                    (hash1, Object::Reference(id(5))),
                    (hash2, Object::Reference(id(6))),
                ])),
            ),
            (id(4), der(1)),
            (id(6), vri_entry(id(4))),
        ],
        None,
    );
    let dir = temp();
    let path = dir.path().join("dss.pdf");
    for (what, pdf) in [("a new /DSS", &once), ("a /DSS grown", &twice)] {
        let report = report_of(pdf, "Seal1");
        assert!(
            !report.modified_after_signing && report.later_changes.iter().all(|c| c.allowed),
            "{what}: {report:#?}"
        );
        std::fs::write(&path, pdf).unwrap();
        assert_pyhanko(
            &path,
            true,
            &[(
                "Seal1",
                &fingerprint(&ec.chain),
                "INTACT:TRUSTED,EXTENDED_WITH_LTA_UPDATES,ACCEPTABLE_MODIFICATIONS",
            )],
            0,
        );
    }
    // A second seal signs the /DSS; then its VRI entry is rewritten (to name the other
    // certificate).
    let rsa = Seal::rsa();
    let (resealed, _) = rsa.seal(&once, &rsa.options(1, 40.0, 20.0));
    let next2 = Document::open(resealed.clone()).unwrap().next_object_number().unwrap();
    let cert2 = ObjectId::new(next2, 0);
    let rewritten = append_update(&resealed, &[(id(5), vri_entry(cert2)), (cert2, der(1))], None);
    let report = report_of(&rewritten, "Seal2");
    let change = report.later_changes.iter().find(|c| c.object == id(5).number).unwrap();
    assert!(report.modified_after_signing && !change.allowed, "{change:#?}");
    // For Seal1 the VRI entry is an object added after it, like the second seal: both
    // verifiers accept what follows Seal1 (pyHanko rates it as form filling).
    assert!(!report_of(&rewritten, "Seal1").modified_after_signing);
    std::fs::write(&path, &rewritten).unwrap();
    let seal1 = "INTACT:TRUSTED,EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS";
    assert_pyhanko(
        &path,
        true,
        &[("Seal1", &fingerprint(&ec.chain), seal1), ("Seal2", &fingerprint(&rsa.chain), ILLEGAL)],
        1,
    );
}

/// Field flags after a seal (corpus 10 has a form): setting ReadOnly locks a field and is
/// allowed, as pyHanko allows it; clearing it, or setting another flag, is not. pyHanko allows
/// any /Ff change: unlocking a field, or making a text field a password field, is not a
/// signer's business, so we differ there.
#[test]
fn locking_a_field_is_allowed_and_other_flag_changes_are_not() {
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&std::fs::read(corpus("10")).unwrap(), &ec.options(1, 10.0, 20.0));
    let doc = Document::open(sealed.clone()).unwrap();
    let field = eseal_pdf::form_fields(&doc)
        .unwrap()
        .into_iter()
        .find(|f| !f.is_signature() && f.id.is_some() && f.field_type.is_some())
        .expect("corpus 10 has a form field");
    let id = field.id.unwrap();
    let flags = field.dict.get(b"Ff").and_then(Object::as_i64).unwrap_or(0);
    assert_eq!(flags & 1, 0, "the field starts unlocked");
    let with_flags = |ff: i64| {
        let mut d = doc.dict(id, "field").unwrap();
        d.set(b"Ff".to_vec(), Object::Integer(ff));
        append_update(&sealed, &[(id, Object::Dictionary(d))], None)
    };
    let dir = temp();
    let path = dir.path().join("flags.pdf");

    let locked = with_flags(flags | 1);
    let report = report_of(&locked, "Seal1");
    assert!(!report.modified_after_signing, "{report:#?}");
    std::fs::write(&path, &locked).unwrap();
    assert_pyhanko(
        &path,
        true,
        &[(
            "Seal1",
            &fingerprint(&ec.chain),
            "INTACT:TRUSTED,EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS",
        )],
        0,
    );

    // Another flag (bit 14, Password for a text field; NoToggleToOff for a button).
    let other = with_flags(flags | 1 << 13);
    let report = report_of(&other, "Seal1");
    let change = report.later_changes.iter().find(|c| c.object == id.number).unwrap();
    assert!(
        report.modified_after_signing && !change.allowed && change.description.contains("/Ff"),
        "{change:#?}"
    );
    std::fs::write(&path, &other).unwrap();
    assert_pyhanko(
        &path,
        true,
        &[(
            "Seal1",
            &fingerprint(&ec.chain),
            "INTACT:TRUSTED,EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS",
        )],
        0,
    );
}

/// Overlays that try the edges of the visibility rules after an approval seal: NoView with
/// Print still prints; the widget of a new signature field that holds no signature only
/// paints; a /Rect with a fifth number is drawn from its first four. Each is a disallowed
/// visual change.
#[test]
fn overlays_at_the_edges_of_visibility_are_disallowed() {
    let ec = Seal::ec();
    let (sealed, _) = ec.seal(&std::fs::read(corpus("13")).unwrap(), &ec.options(1, 10.0, 20.0));
    let doc = Document::open(sealed.clone()).unwrap();
    let next = doc.next_object_number().unwrap();
    let (annot, appearance) = (ObjectId::new(next, 0), ObjectId::new(next + 1, 0));
    let opaque = || vec![(appearance, form(500.0, 300.0, b"1 g 0 0 500 300 re f"))];
    let ap = || Object::Dictionary(dict(&[("N", Object::Reference(appearance))]));
    let rect = numbers(&[50.0, 500.0, 550.0, 800.0]);
    let printed_no_view = dict(&[
        ("Subtype", Object::name("Square")),
        ("Rect", rect.clone()),
        ("F", Object::Integer(32 | 4)),
        ("AP", ap()),
    ]);
    let unsigned_widget = dict(&[
        ("Subtype", Object::name("Widget")),
        ("FT", Object::name("Sig")),
        ("T", Object::string(b"Approval2".to_vec())),
        ("Rect", rect.clone()),
        ("F", Object::Integer(4)),
        ("AP", ap()),
    ]);
    let five_numbers = dict(&[
        ("Subtype", Object::name("Square")),
        ("Rect", numbers(&[50.0, 500.0, 550.0, 800.0, 1.0])),
        ("F", Object::Integer(4)),
        ("AP", ap()),
    ]);
    // A signed signature widget that the form's /Fields does not list: no verifier checks its
    // signature, so it is an annotation painting over the page.
    let value = ObjectId::new(next + 2, 0);
    let mut unlisted_signature = unsigned_widget.clone();
    unlisted_signature.set(b"V".to_vec(), Object::Reference(value));
    let signature_value = dict(&[
        ("Type", Object::name("Sig")),
        ("Filter", Object::name("Adobe.PPKLite")),
        ("SubFilter", Object::name("ETSI.CAdES.detached")),
        ("ByteRange", numbers(&[0.0, 10.0, 20.0, 10.0])),
        ("Contents", Object::String(vec![0; 8], eseal_pdf::StringFormat::Hex)),
    ]);
    let dir = temp();
    let cases = [
        ("a NoView annotation that prints", printed_no_view, opaque()),
        ("an unsigned signature field's widget", unsigned_widget, opaque()),
        ("a /Rect of five numbers", five_numbers, opaque()),
        (
            "a signed signature widget no field lists",
            unlisted_signature,
            [opaque(), vec![(value, Object::Dictionary(signature_value))]].concat(),
        ),
    ];
    for (what, annotation, extra) in cases {
        let attacked = add_to_page1(&sealed, (annot, annotation), extra);
        assert_overlay_disallowed(what, &attacked, annot.number);
        let path = dir.path().join("edge.pdf");
        std::fs::write(&path, &attacked).unwrap();
        assert_pyhanko(&path, true, &[("Seal1", &fingerprint(&ec.chain), ILLEGAL)], 1);
    }
}
