//! Later-change analysis against real signing tools: what a second signer legitimately
//! writes after a first signature (pyHanko signs, then countersigns Acrobat's way) is not a
//! modification, and what an overlay annotation paints over a sealed page is reported as a
//! visual change with its page and rectangle. pyHanko judges the same files.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use eseal::verify::{SignatureReport, TrustAnchors, verify_document};

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

fn report_of(pdf: &[u8], field: &str) -> SignatureReport {
    let report = verify_document(&pdf.to_vec(), &anchors()).unwrap();
    report.signatures.into_iter().find(|s| s.field_name == field).unwrap_or_else(|| panic!("{field} is reported"))
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
    let out = run(&python, &[script.to_str().unwrap(), mode, input.to_str().unwrap(), output.to_str().unwrap(), &key(".key"), &key(".pem"), ca.to_str().unwrap()]);
    assert!(out.status.success(), "acrobat_style.py {mode} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
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
            ("Sig1", &fingerprint(&ec.chain), "INTACT:TRUSTED,EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS"),
            ("Sig2", &fingerprint(&rsa.chain), "INTACT:TRUSTED,UNTOUCHED"),
        ],
        0,
    );
    let first = report_of(&both, "Sig1");
    assert!(first.intact && first.valid && first.trusted && !first.modified_after_signing, "{prefix}: {first:#?}");
    // What the countersigning revision did is listed, and each item is allowed.
    let roles: Vec<&str> = first.later_changes.iter().map(|c| c.role.as_str()).collect();
    for role in ["document information", "empty signature field", "signature"] {
        assert!(roles.contains(&role), "{prefix}: no {role} change listed: {:#?}", first.later_changes);
    }
    assert!(
        first.later_changes.iter().any(|c| c.role == "catalog" && c.description.contains("/Metadata")),
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
