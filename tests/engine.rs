//! The sealing engine's contract: clear errors for unusable input and requests, determinism,
//! one private-key operation per seal, certification, and a seal that really shows where it
//! was asked to be (rendered by poppler's pdftoppm).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use eseal_cms::{CmsError, Signer};
use eseal_pdf::{
    Corner, Document, PdfError, Placement, ReservedField, SealImage, SealOptions, SealRect, Unit,
};
use eseal_service::stamp::{self, StampError};
use eseal_verify::{TrustAnchors, verify_document};

fn seal_err(input: Vec<u8>, options: &SealOptions<'_>) -> PdfError {
    let seal = Seal::ec();
    match stamp::seal(&input, &mut Vec::new(), options, &seal.chain, &seal.signer) {
        Err(StampError::Pdf(e)) => e,
        other => panic!("expected a PDF error, got {other:?}"),
    }
}

#[test]
fn malformed_corpus_files_are_refused_with_clear_errors() {
    let seal = Seal::ec();
    let options = seal.options(1, 10.0, 20.0);
    let truncated = seal_err(std::fs::read(corpus("90")).unwrap(), &options);
    assert!(matches!(truncated, PdfError::Truncated(_)), "{truncated:?}");
    assert!(truncated.to_string().contains("truncated"), "{truncated}");
    let garbage = seal_err(std::fs::read(corpus("91")).unwrap(), &options);
    assert!(matches!(garbage, PdfError::BrokenXref(_)), "{garbage:?}");
    assert!(garbage.to_string().contains("cross-reference"), "{garbage}");
    let not_pdf = seal_err(b"Hello, this is a text file.\n".to_vec(), &options);
    assert!(matches!(not_pdf, PdfError::NotPdf(_)), "{not_pdf:?}");
    let empty = seal_err(Vec::new(), &options);
    assert!(matches!(empty, PdfError::NotPdf(_)), "{empty:?}");
    for e in [&truncated, &garbage, &not_pdf] {
        assert!(e.is_bad_document());
    }
}

#[test]
fn password_protected_and_unsupported_encryption_are_refused() {
    let dir = temp();
    let plain = corpus("13");
    let with_password = dir.path().join("user-password.pdf");
    let out = run(
        &tool("qpdf"),
        &[
            "--encrypt",
            "secret",
            "owner",
            "256",
            "--",
            plain.to_str().unwrap(),
            with_password.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let seal = Seal::ec();
    let e = seal_err(std::fs::read(&with_password).unwrap(), &seal.options(1, 10.0, 20.0));
    assert!(matches!(e, PdfError::NeedsPassword), "{e:?}");
    assert!(e.to_string().contains("password"));

    let rc4 = dir.path().join("rc4-128.pdf");
    let out = run(
        &tool("qpdf"),
        &[
            "--allow-weak-crypto",
            "--encrypt",
            "",
            "owner",
            "128",
            "--use-aes=n",
            "--",
            plain.to_str().unwrap(),
            rc4.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let e = seal_err(std::fs::read(&rc4).unwrap(), &seal.options(1, 10.0, 20.0));
    assert!(matches!(e, PdfError::Unsupported(_)), "{e:?}");
    assert!(e.to_string().contains("AES-256"), "the message says what would work: {e}");
}

#[test]
fn placements_that_cannot_work_are_refused() {
    let input = std::fs::read(corpus("13")).unwrap(); // 2 pages, A4
    let seal = Seal::ec();
    for page in [0, 3, -3, 99] {
        let mut o = seal.options(page, 10.0, 20.0);
        o.placement.page = page;
        match seal_err(input.clone(), &o) {
            PdfError::PageOutOfRange { requested, count } => {
                assert_eq!((requested, count), (page, 2));
            }
            other => panic!("page {page}: {other:?}"),
        }
    }
    let e = seal_err(input.clone(), &seal.options(1, 200.0, 40.0));
    assert!(
        matches!(e, PdfError::Placement(ref m) if m.contains("does not fit") && m.contains("210.0 x 297.0 mm")),
        "{e}"
    );
    let e = seal_err(input.clone(), &seal.options(1, 10.0, 0.0));
    assert!(matches!(e, PdfError::Placement(ref m) if m.contains("zero")), "{e}");
    let e = seal_err(input.clone(), &seal.options(1, -5.0, 20.0));
    assert!(matches!(e, PdfError::Placement(_)), "{e}");
    let mut no_image = seal.options(1, 10.0, 20.0);
    no_image.image = None;
    assert!(matches!(seal_err(input.clone(), &no_image), PdfError::Image(_)));
    let mut taken = seal.options(1, 10.0, 20.0);
    let (sealed, _) = seal.seal(&input, &taken);
    taken.field_name = Some("Seal1".into());
    assert!(
        matches!(seal_err(sealed, &taken), PdfError::NotPermitted(ref m) if m.contains("Seal1"))
    );
    assert!(matches!(SealImage::from_png(b"not a png"), Err(PdfError::Image(_))));
}

/// The same input, placement, time and CMS bytes give the same output, byte for byte: the
/// service replays a stamping whose response was lost without signing again.
#[test]
fn replaying_a_stamping_gives_identical_bytes() {
    for prefix in ["01", "11"] {
        let input = std::fs::read(corpus(prefix)).unwrap();
        let seal = Seal::ec();
        let options = seal.options(-1, 10.0, 20.0);
        let (first, stamped) = seal.seal(&input, &options);
        let mut again = Vec::new();
        let replayed =
            stamp::replay(&input, &mut again, &options, &seal.chain, &stamped.cms).unwrap();
        assert_eq!(first, again, "{prefix}: replay differs");
        assert_eq!(replayed, stamped.document);
        assert_eq!(
            replayed.output_sha256.as_slice(),
            ring::digest::digest(&ring::digest::SHA256, &first).as_ref()
        );
        assert_eq!(
            replayed.input_sha256.as_slice(),
            ring::digest::digest(&ring::digest::SHA256, &input).as_ref()
        );
        assert_eq!(replayed.output_len, first.len() as u64);
    }
}

struct CountingSigner<'a> {
    inner: &'a dyn Signer,
    calls: AtomicUsize,
}

impl Signer for CountingSigner<'_> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CmsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(message)
    }
}

/// One private-key operation per seal, and /Contents sized to the signature: the reserve is
/// the chain's CMS bound (no room kept for a timestamp the service never adds), and the CMS fits
/// it with at most the few bytes a shorter ECDSA signature leaves.
#[test]
fn one_private_key_operation_per_seal_and_contents_sized_to_the_signature() {
    let input = std::fs::read(corpus("01")).unwrap();
    for seal in [Seal::ec(), Seal::rsa()] {
        let counting = CountingSigner { inner: &seal.signer, calls: AtomicUsize::new(0) };
        let mut out = Vec::new();
        let stamped =
            stamp::seal(&input, &mut out, &seal.options(1, 10.0, 20.0), &seal.chain, &counting)
                .unwrap();
        assert_eq!(counting.calls.load(Ordering::SeqCst), 1, "{}", seal.name);
        let reserved =
            ((stamped.document.byte_range[2] - stamped.document.byte_range[1] - 2) / 2) as usize;
        assert_eq!(reserved, stamp::contents_size(&seal.chain), "{}", seal.name);
        assert!(
            reserved >= stamped.cms.len() && reserved - stamped.cms.len() <= 8,
            "{}: {} bytes reserved for a {}-byte CMS",
            seal.name,
            reserved,
            stamped.cms.len()
        );
    }
}

/// A stamping recorded while seals kept 16 KiB free for a timestamp replays byte for byte when
/// given that reserve again (the service records the reserve of each stamping).
#[test]
fn a_stamping_with_the_old_timestamp_room_replays_identically() {
    let input = std::fs::read(corpus("01")).unwrap();
    let seal = Seal::ec();
    let options = SealOptions {
        contents_size: stamp::contents_size_with_timestamp_room(&seal.chain),
        ..seal.options(-1, 10.0, 20.0)
    };
    let (first, stamped) = seal.seal(&input, &options);
    let reserved =
        ((stamped.document.byte_range[2] - stamped.document.byte_range[1] - 2) / 2) as usize;
    assert_eq!(reserved, stamp::contents_size(&seal.chain) + 16 * 1024);
    let mut again = Vec::new();
    stamp::replay(&input, &mut again, &options, &seal.chain, &stamped.cms).unwrap();
    assert_eq!(first, again);
    let mut smaller = Vec::new();
    stamp::replay(&input, &mut smaller, &seal.options(-1, 10.0, 20.0), &seal.chain, &stamped.cms)
        .unwrap();
    assert_ne!(first, smaller, "the reserve is part of the output");
}

/// A certification (DocMDP P=2) permits later seals into existing signature fields: the
/// certifying update reserves one, a later seal fills it, and pyHanko's default policy (which
/// refuses new visible fields after a certification) accepts the result.
#[test]
fn certification_seal_permits_later_seals_into_reserved_fields() {
    let input = std::fs::read(corpus("01")).unwrap();
    let (ec, rsa) = (Seal::ec(), Seal::rsa());
    let mut certify = ec.options(1, 10.0, 20.0);
    certify.certify = true;
    let later = rsa.options(-1, 10.0, 20.0).placement;
    certify.reserve_fields = vec![ReservedField { name: "Countersign".into(), placement: later }];
    let (certified, _) = ec.seal(&input, &certify);
    let update = String::from_utf8_lossy(&certified[input.len()..]).into_owned();
    assert!(
        update.contains("/TransformMethod/DocMDP") && update.contains("/P 2"),
        "DocMDP P=2 reference missing"
    );
    assert!(update.contains("/Perms<</DocMDP"), "the catalog has no /Perms /DocMDP");

    // A new visible field would break the certification: refused, naming the way out.
    let e = seal_err(certified.clone(), &rsa.options(-1, 10.0, 20.0));
    assert!(matches!(e, PdfError::NotPermitted(ref m) if m.contains("Countersign")), "{e:?}");
    // Filling the reserved field needs no rectangle: it has its own.
    let mut fill = rsa.options(-1, 10.0, 20.0);
    fill.field_name = Some("Countersign".into());
    assert!(matches!(seal_err(certified.clone(), &fill), PdfError::Placement(_)));
    fill.placement.rect = None;
    let (twice, _) = rsa.seal(&certified, &fill);

    let dir = temp();
    let path = dir.path().join("certified-twice.pdf");
    std::fs::write(&path, &twice).unwrap();
    let certification = "INTACT:TRUSTED,EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS";
    assert_pyhanko(
        &path,
        true,
        &[
            ("Seal1", &fingerprint(&ec.chain), certification),
            ("Countersign", &fingerprint(&rsa.chain), "INTACT:TRUSTED,UNTOUCHED"),
        ],
        0,
    );
    let (valid, last_total, text) = pdfsig(&path);
    assert!(valid == [true, true] && last_total, "{text}");
    let anchors = TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap();
    let report = verify_document(&twice, &anchors).unwrap();
    assert_eq!(report.signatures[0].certification, Some(2));
    assert_eq!(report.signatures[1].field_name, "Countersign");
    assert!(report.all_valid(), "{report:#?}");
    // The reserved field shows the second seal where it was reserved.
    let last_page = eseal_pdf::Document::open(twice.clone()).unwrap().page_count().unwrap();
    let (before, after) = (render(&certified, last_page), render(&twice, last_page));
    let (w, h) = (after.width, after.height);
    let mm = 72.0 / 25.4;
    let (x0, y0) = (w - (30.0 * mm) as usize, h - (30.0 * mm) as usize);
    assert!(
        after.red(x0, y0, w - (10.0 * mm) as usize, h - (10.0 * mm) as usize) > 200,
        "the countersignature is not visible"
    );
    assert!(after.differing(&before, 0, 0, w, h / 2) == 0);

    // A certification must be the first signature.
    let mut recertify = certify.clone();
    recertify.reserve_fields.clear();
    assert!(matches!(seal_err(twice.clone(), &recertify), PdfError::NotPermitted(_)));
    // A document certified with no changes permitted takes no seal (P patched to 1 in place).
    let mut locked = certified.clone();
    let at = locked.windows(10).position(|w| w == b"/P 2/V/1.2").expect("the DocMDP parameters");
    locked[at + 3] = b'1';
    let e = seal_err(locked, &ec.options(1, 40.0, 20.0));
    assert!(matches!(e, PdfError::NotPermitted(ref m) if m.contains("P=1")), "{e:?}");
}

#[test]
fn invisible_seal_is_valid() {
    let input = std::fs::read(corpus("10")).unwrap();
    let seal = Seal::ec();
    let mut options = seal.options(1, 0.0, 0.0);
    options.placement = Placement { page: 1, rect: None };
    let (sealed, _) = seal.seal(&input, &options);
    let dir = temp();
    let path = dir.path().join("invisible.pdf");
    std::fs::write(&path, &sealed).unwrap();
    assert_pyhanko(
        &path,
        true,
        &[("Seal1", &fingerprint(&seal.chain), "INTACT:TRUSTED,UNTOUCHED")],
        0,
    );
    assert!(String::from_utf8_lossy(&sealed[input.len()..]).contains("/Rect[0 0 0 0]"));
}

// ---- rendering ------------------------------------------------------------------------

/// An RGB raster rendered by pdftoppm.
struct Raster {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Raster {
    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// How many pixels of the box differ between two rasters.
    fn differing(&self, other: &Raster, x0: usize, y0: usize, x1: usize, y1: usize) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| self.pixel(x, y) != other.pixel(x, y))
            .count()
    }

    /// How many pixels of the box are strongly red.
    fn red(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let [r, g, b] = self.pixel(x, y);
                r > 180 && g < 90 && b < 90
            })
            .count()
    }
}

/// Renders page `page` (1-based) at 72 dpi, so that one pixel is one point.
fn render(pdf: &[u8], page: u32) -> Raster {
    let dir = temp();
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, pdf).unwrap();
    let prefix = dir.path().join("page");
    let p = page.to_string();
    let out = run(
        &tool("pdftoppm"),
        &[
            "-cropbox",
            "-r",
            "72",
            "-f",
            &p,
            "-l",
            &p,
            "-singlefile",
            input.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "pdftoppm failed: {out:?}");
    let ppm = std::fs::read(dir.path().join("page.ppm")).unwrap();
    // P6 header: magic, width, height, maxval, each followed by one white-space byte.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&ppm[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P6");
    let (width, height) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    Raster { width, height, rgb: ppm[at + 1..].to_vec() }
}

#[test]
fn the_seal_is_visible_where_it_was_placed_and_nowhere_else() {
    let input = std::fs::read(corpus("13")).unwrap();
    let seal = Seal::ec();
    // 40 mm seal, 20 mm from the bottom-right corner of page 2 (A4: 595.3 x 841.9 pt).
    let (sealed, _) = seal.seal(&input, &seal.options(2, 20.0, 40.0));
    let (before, after) = (render(&input, 2), render(&sealed, 2));
    assert_eq!((before.width, before.height), (after.width, after.height));
    let mm = 72.0 / 25.4;
    let (w, h) = (after.width as f64, after.height as f64);
    let (x0, x1) = ((w - 60.0 * mm) as usize, (w - 20.0 * mm) as usize);
    let (y0, y1) = ((h - 60.0 * mm) as usize, (h - 20.0 * mm) as usize);
    let inside = after.differing(&before, x0, y0, x1, y1);
    assert!(
        inside > (x1 - x0) * (y1 - y0) / 10,
        "only {inside} pixels changed inside the seal rectangle"
    );
    assert!(after.red(x0, y0, x1, y1) > 500, "the seal is not red");
    // Far away: the top half of the page is untouched.
    assert_eq!(after.differing(&before, 0, 0, after.width, after.height / 2), 0);
    // The first page is untouched.
    assert_eq!(
        render(&sealed, 1).differing(&render(&input, 1), 0, 0, before.width, before.height),
        0
    );
}

/// A one-page PDF with the given geometry, light grey all over, written here so that /Rotate
/// and /CropBox can be varied (no corpus file rotates or crops).
fn geometry_pdf(rotate: u16) -> Vec<u8> {
    let content = b"0.9 g 0 0 600 800 re f";
    let objects = [
        "<</Type/Catalog/Pages 2 0 R>>".to_string(),
        "<</Type/Pages/Kids[3 0 R]/Count 1/MediaBox[0 0 600 800]>>".to_string(),
        format!(
            "<</Type/Page/Parent 2 0 R/CropBox[50 100 550 700]/Rotate {rotate}/Contents 4 0 R>>"
        ),
        format!(
            "<</Length {}>>stream\n{}\nendstream",
            content.len(),
            String::from_utf8_lossy(content)
        ),
    ];
    let mut pdf = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f\r\n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
            .as_bytes(),
    );
    pdf
}

/// A 100x100 PNG: top half opaque red, bottom half transparent, to see which way is up.
fn top_half_red_png() -> Vec<u8> {
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, 100, 100);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let pixels: Vec<u8> = (0..100 * 100)
            .flat_map(|i| if i / 100 < 50 { [220, 0, 0, 255] } else { [0, 0, 0, 0] })
            .collect();
        writer.write_image_data(&pixels).unwrap();
    }
    png
}

#[test]
fn placement_honours_rotate_and_cropbox_from_every_corner() {
    let seal = Seal::ec();
    let image = SealImage::from_png(&top_half_red_png()).unwrap();
    for rotate in [0u16, 90, 180, 270] {
        let input = geometry_pdf(rotate);
        let before = render(&input, 1);
        // The crop box is 500 x 600 pt; turned by 90 or 270 it displays as 600 x 500.
        let (pw, ph) = if rotate % 180 == 90 { (600, 500) } else { (500, 600) };
        assert_eq!(
            (before.width, before.height),
            (pw, ph),
            "rotate {rotate}: poppler shows another page size"
        );
        for corner in [Corner::BottomLeft, Corner::BottomRight, Corner::TopLeft, Corner::TopRight] {
            let options = SealOptions {
                placement: Placement {
                    page: 1,
                    rect: Some(SealRect {
                        x: 30.0,
                        y: 40.0,
                        width: 100.0,
                        height: 100.0,
                        unit: Unit::Points,
                        corner,
                    }),
                },
                image: Some(&image),
                ..seal.options(1, 0.0, 0.0)
            };
            let (sealed, _) = seal.seal(&input, &options);
            let after = render(&sealed, 1);
            // Expected box in raster coordinates (origin top left).
            let left = match corner {
                Corner::BottomLeft | Corner::TopLeft => 30,
                _ => pw - 30 - 100,
            };
            let top = match corner {
                Corner::TopLeft | Corner::TopRight => 40,
                _ => ph - 40 - 100,
            };
            let what = format!("rotate {rotate}, {corner:?}");
            // Upright: the upper half of the box is red, the lower half unchanged.
            let upper = after.red(left + 5, top + 5, left + 95, top + 45);
            assert!(
                upper > 90 * 40 * 9 / 10,
                "{what}: the top half of the seal box is not red ({upper})"
            );
            assert_eq!(
                after.differing(&before, left + 5, top + 55, left + 95, top + 95),
                0,
                "{what}: the seal is not upright"
            );
            // Nothing outside the box changed.
            let changed_total = after.differing(&before, 0, 0, pw, ph);
            let changed_inside = after.differing(
                &before,
                left.saturating_sub(1),
                top.saturating_sub(1),
                left + 101,
                top + 101,
            );
            assert_eq!(
                changed_total, changed_inside,
                "{what}: pixels outside the seal box changed"
            );
        }
    }
}

/// Sealing reads the objects its update needs (trailer, catalog, page tree, the page, the
/// form) and no others: with the data of every stream in the file (page contents, fonts,
/// images, the linearization hints) overwritten by garbage of the same length, the 81-page
/// corpus file 04 still takes a seal on its last page, which signs the garbage as it is.
#[test]
fn reading_only_needs_the_objects_of_the_update() {
    let mut input = std::fs::read(corpus("04")).unwrap();
    let mut streams = 0;
    let mut at = 0;
    while let Some(found) = input[at..].windows(6).position(|w| w == b"stream") {
        let keyword = at + found;
        at = keyword + 6;
        // The keyword `stream` ends a stream's dictionary (not `endstream`), then an EOL.
        if input[..keyword].ends_with(b"end") {
            continue;
        }
        let data = keyword + 6 + if input[keyword + 6..].starts_with(b"\r\n") { 2 } else { 1 };
        let end =
            data + input[data..].windows(9).position(|w| w == b"endstream").expect("endstream");
        input[data..end].fill(0xAA);
        streams += 1;
        at = end + 9;
    }
    assert!(streams > 81, "every page's content and more are garbage ({streams} streams)");
    let dir = temp();
    let broken = dir.path().join("garbage-streams.pdf");
    std::fs::write(&broken, &input).unwrap();
    let (ok, text) = qpdf_check(&broken);
    assert!(!ok, "qpdf finds the garbage:\n{text}");

    let seal = Seal::ec();
    let (sealed, _) = seal.seal(&input, &seal.options(-1, 10.0, 20.0));
    assert!(sealed.starts_with(&input), "the update is appended to the bytes as they were");
    let doc = Document::open(sealed.clone()).unwrap();
    assert_eq!(doc.page_count().unwrap(), 81);
    let anchors = TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap();
    let report = verify_document(&sealed, &anchors).unwrap();
    let mine =
        report.signatures.iter().find(|s| s.field_name == "Seal1").expect("Seal1 is reported");
    assert!(mine.intact && mine.valid && mine.trusted && !mine.modified_after_signing, "{mine:#?}");
}

#[test]
fn a_hostile_size_leaves_no_object_numbers_and_is_refused() {
    let input = std::fs::read(corpus("13")).unwrap();
    let at = input.windows(8).rposition(|w| w == b"/Size 17").expect("the trailer's /Size");
    let mut hostile = input[..at].to_vec();
    hostile.extend_from_slice(b"/Size 4294967295");
    hostile.extend_from_slice(&input[at + 8..]);
    let seal = Seal::ec();
    let e = seal_err(hostile, &seal.options(1, 10.0, 20.0));
    assert!(matches!(e, PdfError::Unsupported(ref m) if m.contains("/Size")), "{e:?}");
}

/// A certification's permission is read through indirect objects (/Reference, its entries,
/// /TransformParams, /P), and a malformed one permits the least: an indirect P=1 stops the
/// stamping as a direct one does, and both the stamping and the verifier read the same value.
#[test]
fn certification_permission_is_read_through_indirect_objects() {
    use eseal_pdf::docmdp_permission;
    use eseal_pdf::{Dictionary, Object, ObjectId};
    let dict = |pairs: &[(&str, Object)]| {
        let mut d = Dictionary::new();
        for (k, v) in pairs {
            d.set(k.as_bytes().to_vec(), v.clone());
        }
        d
    };
    let input = std::fs::read(corpus("13")).unwrap();
    let doc = Document::open(input.clone()).unwrap();
    let n = doc.next_object_number().unwrap();
    let id = |k: u32| ObjectId::new(n + k, 0);
    let catalog_id = doc.trailer().get(b"Root").and_then(Object::as_reference).unwrap();
    let mut catalog = doc.catalog().unwrap();
    catalog
        .set(b"Perms".to_vec(), Object::Dictionary(dict(&[("DocMDP", Object::Reference(id(0)))])));
    // Object n is the certification; the others are the parts `params` lays out.
    let certified_with = |params: Vec<(ObjectId, Object)>| {
        let signature =
            dict(&[("Type", Object::name("Sig")), ("Reference", Object::Reference(id(1)))]);
        let mut objects = vec![
            (id(0), Object::Dictionary(signature.clone())),
            (id(1), Object::Array(vec![Object::Reference(id(2))])),
            (catalog_id, Object::Dictionary(catalog.clone())),
        ];
        objects.extend(params);
        let pdf = append_update(&input, &objects, None);
        let permission = docmdp_permission(&Document::open(pdf.clone()).unwrap(), &signature);
        (pdf, permission)
    };
    let reference = |params: Option<Object>| {
        let mut r = dict(&[
            ("Type", Object::name("SigRef")),
            ("TransformMethod", Object::Reference(id(5))),
        ]);
        if let Some(p) = params {
            r.set(b"TransformParams".to_vec(), p);
        }
        vec![(id(2), Object::Dictionary(r)), (id(5), Object::name("DocMDP"))]
    };
    let params_with_p = |p: Object| {
        let mut parts = reference(Some(Object::Reference(id(3))));
        parts.push((
            id(3),
            Object::Dictionary(dict(&[
                ("Type", Object::name("TransformParams")),
                ("P", Object::Reference(id(4))),
                ("V", Object::name("1.2")),
            ])),
        ));
        parts.push((id(4), p));
        parts
    };

    let (locked, permission) = certified_with(params_with_p(Object::Integer(1)));
    assert_eq!(permission, Some(1));
    let e = seal_err(locked, &Seal::ec().options(1, 40.0, 20.0));
    assert!(
        matches!(e, PdfError::NotPermitted(ref m) if m.contains("P=1")),
        "an indirect P=1 is obeyed: {e:?}"
    );
    assert_eq!(certified_with(params_with_p(Object::Integer(3))).1, Some(3));
    // Out of range, not a number, or parameters that do not resolve: the strictest reading.
    for odd in [Object::Integer(7), Object::Integer(0), Object::name("2")] {
        assert_eq!(certified_with(params_with_p(odd.clone())).1, Some(1), "{odd:?}");
    }
    assert_eq!(
        certified_with(reference(Some(Object::Reference(id(9))))).1,
        Some(1),
        "parameters naming a missing object"
    );
    // No parameters: the default P=2.
    assert_eq!(certified_with(reference(None)).1, Some(2));
    // Another transform (usage rights) is no certification.
    let (_, permission) = certified_with(vec![(
        id(2),
        Object::Dictionary(dict(&[("TransformMethod", Object::name("UR3"))])),
    )]);
    assert_eq!(permission, None);
}
