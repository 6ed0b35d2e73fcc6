//! No input makes the engine panic: every malformed corpus file and several thousand
//! mutations of the corpus files (truncations, byte flips, flips in the structure at the
//! end, spliced cross-reference offsets, cut-out chunks) must give an error or a valid
//! sealed document, never a panic, both when sealing and when verifying.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::*;
use eseal::verify::{TrustAnchors, verify_document};

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

fn mutate(rng: &mut Rng, original: &[u8], digits: &[(usize, usize)]) -> (String, Vec<u8>) {
    let mut data = original.to_vec();
    let len = data.len();
    match rng.below(6) {
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
            let candidates: Vec<&(usize, usize)> = if prefer_tail { digits.iter().filter(|(s, _)| *s + 8192 > len).collect() } else { digits.iter().collect() };
            let &(start, end) = candidates.get(rng.below(candidates.len())).copied().unwrap_or(&digits[0]);
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
        let _ = verify_document(&data, anchors);
        let mut out = Vec::new();
        match eseal::stamp::seal(&data, &mut out, &seal.options(1, 5.0, 10.0), &seal.chain, &seal.signer) {
            Err(_) => false,
            Ok(stamped) => {
                assert!(out.starts_with(&data), "{name}: the original bytes were not kept");
                let report = verify_document(&out, anchors).unwrap_or_else(|e| panic!("{name}: sealed output does not verify: {e}"));
                let ours = report.signatures.iter().find(|s| s.field_name == stamped.document.field_name);
                let ours = ours.unwrap_or_else(|| panic!("{name}: the new seal is not found in the output"));
                assert!(ours.intact && ours.valid, "{name}: the new seal is not valid: {ours:#?}");
                true
            }
        }
    }));
    match result {
        Ok(sealed) => outcome[usize::from(sealed)] += 1,
        Err(panic) => {
            let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
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
    let (seal, anchors) = (Seal::ec(), anchors());
    let per_file: usize = std::env::var("ESEAL_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(450);
    let mut rng = Rng(seed);
    let original = std::fs::read(corpus(prefix)).unwrap();
    let digits = digit_runs(&original);
    let mut outcome = [0usize; 2]; // [refused, sealed]
    for i in 0..per_file {
        let (what, data) = mutate(&mut rng, &original, &digits);
        check(&format!("{prefix} mutation {i} ({what}, seed {seed:#x})"), data, &seal, &anchors, &mut outcome);
    }
    assert_eq!(outcome[0] + outcome[1], per_file);
    // Both outcomes must occur, or the mutations test nothing.
    assert!(outcome[0] > per_file / 20 && outcome[1] > per_file / 20, "{prefix}: refused {} / sealed {}", outcome[0], outcome[1]);
    println!("{prefix}: {per_file} mutations, {} refused with an error, {} sealed and verified", outcome[0], outcome[1]);
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
