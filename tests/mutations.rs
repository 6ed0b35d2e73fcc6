//! No input makes the engine panic: every malformed corpus file and several thousand
//! mutations of the corpus files (truncations, byte flips, flips in the structure at the
//! end, spliced cross-reference offsets, cut-out chunks, duplicated cross-reference lines,
//! hostile /Size and /Index, deep nesting, flate bombs, many fields) must give an error or a
//! valid sealed document, never a panic, both when sealing and when verifying; an error from
//! a reader limit names the limit.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::*;
use eseal_verify::{TrustAnchors, verify_document};

/// A small deterministic generator (xorshift64*), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// Positions of runs of ASCII digits: xref offsets, /Length values, startxref.
fn digit_runs(data: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i].is_ascii_digit() {
            let start = i;
            while i < data.len() && data[i].is_ascii_digit() {
                i += 1;
            }
            if i - start >= 2 {
                runs.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    runs
}

/// What an appended update needs to know of the original: its root, /Size and startxref.
struct Structure {
    root: String,
    size: i64,
    startxref: u64,
}

impl Structure {
    fn of(data: &[u8]) -> Structure {
        let doc = eseal_pdf::Document::open(data).unwrap();
        let size = doc.trailer().get(b"Size").and_then(eseal_pdf::Object::as_i64).unwrap();
        Structure {
            root: doc.root_id().unwrap().to_string(),
            size,
            startxref: doc.xref().startxref,
        }
    }

    /// `data` with an update appended: `objects` (number, body), then a table listing them.
    fn append(&self, data: &mut Vec<u8>, objects: &[(i64, String)], trailer_extra: &str) {
        data.push(b'\n');
        let mut table = String::from("xref\n");
        for (number, body) in objects {
            table += &format!("{number} 1\n{:010} 00000 n \n", data.len());
            data.extend_from_slice(format!("{number} 0 obj\n{body}\nendobj\n").as_bytes());
        }
        let size = objects.iter().map(|(n, _)| n + 1).max().unwrap_or(0).max(self.size);
        let at = data.len();
        data.extend_from_slice(format!("{table}trailer\n<< /Size {size} /Root {} /Prev {} {trailer_extra} >>\nstartxref\n{at}\n%%EOF\n", self.root, self.startxref).as_bytes());
    }
}

/// Mutations of the structures the reader bounds or reads strictly.
fn structural(rng: &mut Rng, original: &[u8], structure: &Structure) -> (String, Vec<u8>) {
    let mut data = original.to_vec();
    let tail_start = data.len().saturating_sub(4096);
    let replace_in_tail = |data: &mut Vec<u8>, key: &[u8], with: &[u8]| -> bool {
        let Some(at) =
            data[tail_start..].windows(key.len()).rposition(|w| w == key).map(|i| i + tail_start)
        else {
            return false;
        };
        let end = (at + key.len()..data.len())
            .find(|&i| matches!(data[i], b'/' | b'>'))
            .unwrap_or(data.len());
        data.splice(at..end, with.iter().copied());
        true
    };
    match rng.below(6) {
        0 => {
            // A table row listed again, in a subsection of its own, at the start of the table.
            let rows: Vec<usize> = (0..data.len().saturating_sub(20))
                .filter(|&i| {
                    data[i + 17] == b'n'
                        && data[i + 10] == b' '
                        && data[i..i + 10].iter().all(u8::is_ascii_digit)
                        && (i == 0 || data[i - 1] == b'\n')
                })
                .collect();
            let Some(xref) = data.windows(5).rposition(|w| w == b"xref\n") else {
                return ("no table".into(), data);
            };
            if rows.is_empty() {
                return ("no table rows".into(), data);
            }
            let row = rows[rng.below(rows.len())];
            let line = data[row..row + 20].to_vec();
            let number = 1 + rng.below(structure.size.max(2) as usize - 1);
            let mut insert = format!("{number} 1\n").into_bytes();
            insert.extend_from_slice(&line);
            data.splice(xref + 5..xref + 5, insert);
            (format!("table row at {row} listed again as object {number}"), data)
        }
        1 => {
            let value = [16_000_000u64, 8_388_607, u32::MAX as u64, 1 << 40][rng.below(4)];
            let done = replace_in_tail(&mut data, b"/Size", format!("/Size {value}").as_bytes());
            (format!("/Size {value} in the last section ({done})"), data)
        }
        2 => {
            let (first, count) =
                (rng.below(1000) as u64, [16_000_000u64, 1_000_000, 100_000][rng.below(3)]);
            let done = replace_in_tail(
                &mut data,
                b"/Index",
                format!("/Index [{first} {count}]").as_bytes(),
            );
            (format!("/Index [{first} {count}] in the last section ({done})"), data)
        }
        3 => {
            let depth = [65usize, 200, 5000][rng.below(3)];
            let deep = format!("/Deep {}{}", "[".repeat(depth), "]".repeat(depth));
            if rng.below(2) == 0 {
                let done = replace_in_tail(
                    &mut data,
                    b"/Size",
                    format!("{deep} /Size {}", structure.size).as_bytes(),
                );
                (format!("nesting {depth} deep in the trailer ({done})"), data)
            } else {
                structure.append(
                    &mut data,
                    &[(structure.size, format!("<< {deep} >>"))],
                    &format!("/Info {} 0 R", structure.size),
                );
                (format!("nesting {depth} deep in an appended /Info"), data)
            }
        }
        4 => {
            // A flate bomb in place of a cross-reference stream's rows.
            static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
            let bomb = BOMB.get_or_init(|| eseal_pdf::deflate(&vec![0u8; 8 << 20]));
            let n = structure.size;
            data.push(b'\n');
            let at = data.len();
            let dict = format!(
                "{n} 0 obj\n<< /Type /XRef /Size {} /Root {} /Prev {} /W [1 4 2] /Index [{n} 1] /Filter /FlateDecode /Length {} >>\nstream\n",
                n + 1,
                structure.root,
                structure.startxref,
                bomb.len()
            );
            data.extend_from_slice(dict.as_bytes());
            data.extend_from_slice(bomb);
            data.extend_from_slice(
                format!("\nendstream\nendobj\nstartxref\n{at}\n%%EOF\n").as_bytes(),
            );
            ("an 8 MiB flate bomb as a cross-reference stream".into(), data)
        }
        _ => {
            // Many signature fields sharing one signature dictionary, in a new form.
            let count = [4usize, 200, 1000][rng.below(3)];
            let n = structure.size;
            let mut objects = vec![(n, "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 1 2 3] /Contents <3000> >>".to_string())];
            let fields: Vec<String> =
                (0..count as i64).map(|k| format!("{} 0 R", n + 2 + k)).collect();
            objects.push((n + 1, format!("<< /Fields [{}] >>", fields.join(" "))));
            for k in 0..count as i64 {
                objects.push((n + 2 + k, format!("<< /FT /Sig /T (f{k}) /V {n} 0 R >>")));
            }
            structure.append(&mut data, &objects, "");
            (format!("{count} fields sharing one signature dictionary"), data)
        }
    }
}

fn mutate(
    rng: &mut Rng,
    original: &[u8],
    digits: &[(usize, usize)],
    structure: &Structure,
) -> (String, Vec<u8>) {
    let mut data = original.to_vec();
    let len = data.len();
    match rng.below(8) {
        6 | 7 => structural(rng, original, structure),
        0 => {
            let at = rng.below(len);
            data.truncate(at);
            (format!("truncated at {at}"), data)
        }
        1 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            (format!("{n} bit flips"), data)
        }
        2 => {
            // The structure lives at the end: trailer, xref, startxref.
            let tail = len.min(4096);
            let n = 1 + rng.below(4);
            for _ in 0..n {
                let at = len - 1 - rng.below(tail);
                data[at] = rng.next() as u8;
            }
            (format!("{n} bytes replaced in the last {tail}"), data)
        }
        3 | 4 if !digits.is_empty() => {
            // Splice a number: an xref offset, a length, a generation, an object number.
            let prefer_tail = rng.below(2) == 0;
            let candidates: Vec<&(usize, usize)> = if prefer_tail {
                digits.iter().filter(|(s, _)| *s + 8192 > len).collect()
            } else {
                digits.iter().collect()
            };
            let &(start, end) =
                candidates.get(rng.below(candidates.len())).copied().unwrap_or(&digits[0]);
            let value = match rng.below(3) {
                0 => rng.next() % (len as u64 + 1),
                1 => rng.next(),
                _ => 0,
            };
            if rng.below(2) == 0 {
                // Same width: offsets stay put.
                let text = format!("{value:0width$}", width = end - start);
                let text = &text.as_bytes()[text.len() - (end - start)..];
                data[start..end].copy_from_slice(text);
                (format!("number at {start}..{end} spliced to {value}"), data)
            } else {
                // Any width: huge /Size, /Length, object numbers; later offsets shift.
                data.splice(start..end, value.to_string().into_bytes());
                (format!("number at {start}..{end} replaced by {value}"), data)
            }
        }
        _ => {
            let start = rng.below(len);
            let cut = 1 + rng.below((len - start).clamp(1, 512));
            data.drain(start..(start + cut).min(len));
            (format!("{cut} bytes cut at {start}"), data)
        }
    }
}

fn check(name: &str, data: Vec<u8>, seal: &Seal, anchors: &TrustAnchors, outcome: &mut [usize; 2]) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if let Err(eseal_verify::VerifyError::Pdf(eseal_pdf::PdfError::Limit(m))) =
            verify_document(&data, anchors)
        {
            assert!(m.contains("limit"), "{name}: a limit error that names no limit: {m}");
        }
        let mut out = Vec::new();
        match eseal_service::stamp::seal(
            &data,
            &mut out,
            &seal.options(1, 5.0, 10.0),
            &seal.chain,
            &seal.signer,
        ) {
            Err(_) => false,
            Ok(stamped) => {
                assert!(out.starts_with(&data), "{name}: the original bytes were not kept");
                let report = verify_document(&out, anchors)
                    .unwrap_or_else(|e| panic!("{name}: sealed output does not verify: {e}"));
                let ours =
                    report.signatures.iter().find(|s| s.field_name == stamped.document.field_name);
                let ours = ours
                    .unwrap_or_else(|| panic!("{name}: the new seal is not found in the output"));
                assert!(ours.intact && ours.valid, "{name}: the new seal is not valid: {ours:#?}");
                true
            }
        }
    }));
    match result {
        Ok(sealed) => outcome[usize::from(sealed)] += 1,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("{name}: panicked: {}", message.unwrap_or_default());
        }
    }
}

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

#[test]
fn malformed_corpus_files_are_refused_without_panic() {
    let (seal, anchors) = (Seal::ec(), anchors());
    let mut outcome = [0usize; 2]; // [refused, sealed]
    for prefix in ["90", "91"] {
        check(prefix, std::fs::read(corpus(prefix)).unwrap(), &seal, &anchors, &mut outcome);
    }
    assert_eq!(outcome, [2, 0], "the malformed corpus files must be refused");
}

/// Mutates one corpus file `ESEAL_MUTATIONS` times (default 450; seven files: 3,150 inputs).
fn mutations_of(prefix: &str, seed: u64) {
    mutations_of_bytes(prefix, &std::fs::read(corpus(prefix)).unwrap(), seed);
}

fn mutations_of_bytes(name: &str, original: &[u8], seed: u64) {
    let (seal, anchors) = (Seal::ec(), anchors());
    let per_file: usize =
        std::env::var("ESEAL_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(450);
    let mut rng = Rng(seed);
    let digits = digit_runs(original);
    let structure = Structure::of(original);
    let mut outcome = [0usize; 2]; // [refused, sealed]
    for i in 0..per_file {
        let (what, data) = mutate(&mut rng, original, &digits, &structure);
        check(
            &format!("{name} mutation {i} ({what}, seed {seed:#x})"),
            data,
            &seal,
            &anchors,
            &mut outcome,
        );
    }
    assert_eq!(outcome[0] + outcome[1], per_file);
    // Both outcomes must occur, or the mutations test nothing.
    assert!(
        outcome[0] > per_file / 20 && outcome[1] > per_file / 20,
        "{name}: refused {} / sealed {}",
        outcome[0],
        outcome[1]
    );
    println!(
        "{name}: {per_file} mutations, {} refused with an error, {} sealed and verified",
        outcome[0], outcome[1]
    );
}

/// A document sealed twice (corpus 08, hybrid cross-reference): the mutations reach the
/// signature dictionaries, the CMS values and the later-change analysis of the first seal.
#[test]
fn mutations_of_a_document_sealed_twice() {
    let (ec, rsa) = (Seal::ec(), Seal::rsa());
    let (once, _) = ec.seal(&std::fs::read(corpus("08")).unwrap(), &ec.options(1, 5.0, 10.0));
    let (twice, _) = rsa.seal(&once, &rsa.options(1, 20.0, 10.0));
    let report = verify_document(&twice, &anchors()).unwrap();
    assert!(
        report.all_valid() && report.signatures.len() == 2,
        "the unmutated document: {report:#?}"
    );
    mutations_of_bytes("08 sealed twice", &twice, 0x5eed_2008);
}

#[test]
fn mutations_of_01_xref_streams() {
    mutations_of("01", 0x5eed_0001);
}

#[test]
fn mutations_of_04_linearized() {
    mutations_of("04", 0x5eed_0004);
}

#[test]
fn mutations_of_06_signed() {
    mutations_of("06", 0x5eed_0006);
}

#[test]
fn mutations_of_08_hybrid() {
    mutations_of("08", 0x5eed_0008);
}

#[test]
fn mutations_of_10_acroform() {
    mutations_of("10", 0x5eed_0010);
}

#[test]
fn mutations_of_11_encrypted() {
    mutations_of("11", 0x5eed_0011);
}

#[test]
fn mutations_of_13_cjk() {
    mutations_of("13", 0x5eed_0013);
}
