//! Shared helpers of the integration tests: the corpus, the sample seals, and the outside
//! tools (qpdf, pdfsig, pdftoppm, pyHanko) that judge our output.
//!
//! A tool that is missing makes the test fail with a message naming `scripts/test.sh`, which
//! installs it: a test that cannot run never passes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eseal_cms::{CertificateChain, RingSigner};
use eseal_pdf::{Corner, Placement, SealImage, SealOptions, SealRect, Unit};
use eseal_service::stamp::{self, Stamped};

mod corpus;
pub use corpus::corpus;

// Not every test binary uses it.
#[allow(unused_imports)]
pub use eseal_encoding::hex;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The valid corpus files (every one but the malformed 9x ones).
pub const VALID_CORPUS: &[&str] = &["01", "04", "06", "08", "10", "11", "13"];

/// A sample seal from keys-sample/.
pub struct Seal {
    pub name: &'static str,
    pub chain: CertificateChain,
    pub signer: RingSigner,
    pub image: SealImage,
}

impl Seal {
    /// Loads `keys-sample/<name>.*`.
    pub fn load(name: &'static str) -> Seal {
        let dir = repo().join("keys-sample");
        let read = |suffix: &str| std::fs::read(dir.join(format!("{name}{suffix}"))).unwrap();
        Seal {
            name,
            chain: CertificateChain::from_pem(&String::from_utf8(read("-chain.pem")).unwrap())
                .unwrap(),
            signer: RingSigner::from_pkcs8(&read(".pk8")).unwrap(),
            image: SealImage::from_png(&read(".png")).unwrap(),
        }
    }

    /// The ECDSA P-256 sample seal.
    pub fn ec() -> Seal {
        Self::load("seal-approval-ec")
    }

    /// The RSA-3072 sample seal.
    pub fn rsa() -> Seal {
        Self::load("seal-housing-rsa")
    }

    /// Options for a visible seal `size_mm` wide, `margin_mm` from the bottom-right corner.
    pub fn options(&self, page: i64, margin_mm: f64, size_mm: f64) -> SealOptions<'_> {
        SealOptions {
            field_name: None,
            placement: Placement {
                page,
                rect: Some(SealRect {
                    x: margin_mm,
                    y: margin_mm,
                    width: size_mm,
                    height: size_mm,
                    unit: Unit::Millimetres,
                    corner: Corner::BottomRight,
                }),
            },
            image: Some(&self.image),
            signing_time: 1_795_000_000,
            reason: Some("准予行政许可".into()),
            location: Some("示例市政务服务中心".into()),
            contact_info: None,
            certify: false,
            contents_size: 0,
            reserve_fields: Vec::new(),
        }
    }

    /// Seals `input` with `options`.
    pub fn seal(&self, input: &[u8], options: &SealOptions<'_>) -> (Vec<u8>, Stamped) {
        let mut out = Vec::new();
        let stamped =
            stamp::seal(&input.to_vec(), &mut out, options, &self.chain, &self.signer).unwrap();
        (out, stamped)
    }
}

/// The development root that issued the sample seals (PEM path).
pub fn root_pem() -> PathBuf {
    repo().join("keys-sample/root-ca.pem")
}

/// A fresh temporary folder.
pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Runs a command, failing the test with a clear message when the tool is not installed.
pub fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {} ({e}); run scripts/test.sh, which installs the tools the tests need",
            program.display()
        )
    })
}

/// An executable on PATH.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("{name} is not installed; run scripts/test.sh, which installs it")
    })
}

/// pyHanko's command-line tool (`ESEAL_PYHANKO`, or the venv scripts/test.sh makes).
pub fn pyhanko() -> PathBuf {
    let path = std::env::var_os("ESEAL_PYHANKO")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/test-venv/bin/pyhanko"));
    assert!(
        path.is_file(),
        "pyHanko not found at {}; run scripts/test.sh, which installs it",
        path.display()
    );
    path
}

/// pyHanko's verdict on one signature, from `pyhanko sign validate` without --pretty-print:
/// `field:fingerprint:STATUS` lines, where the fingerprint is the SHA-256 of the signer's
/// certificate and STATUS is `INVALID` (the signed bytes or the signature do not check) or
/// `INTACT:` then comma-separated fields (TRUSTED or UNTRUSTED, coverage, modifications).
#[derive(Debug, Clone)]
pub struct PyHankoVerdict {
    pub field: String,
    pub fingerprint: String,
    pub status: String,
    pub line: String,
}

impl PyHankoVerdict {
    /// Parses a verdict line; None for any other line.
    fn parse(line: &str) -> Option<PyHankoVerdict> {
        let mut parts = line.splitn(3, ':');
        let (field, fingerprint, status) = (parts.next()?, parts.next()?, parts.next()?);
        let well_formed = !field.is_empty()
            && fingerprint.len() == 64
            && fingerprint.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then(|| PyHankoVerdict {
            field: field.into(),
            fingerprint: fingerprint.into(),
            status: status.into(),
            line: line.into(),
        })
    }
    /// The comma-separated fields after `INTACT:` (none when INVALID).
    fn fields(&self) -> Vec<&str> {
        self.status.strip_prefix("INTACT:").map(|f| f.split(',').collect()).unwrap_or_default()
    }
    pub fn intact(&self) -> bool {
        self.status.starts_with("INTACT:")
    }
    pub fn trusted(&self) -> bool {
        self.fields().contains(&"TRUSTED")
    }
    pub fn untouched(&self) -> bool {
        self.fields().contains(&"UNTOUCHED")
    }
    /// Intact, but a later revision made changes the signature does not allow.
    pub fn illegal_modifications(&self) -> bool {
        self.fields().contains(&"ILLEGAL_MODIFICATIONS")
    }
}

/// What `pyhanko sign validate` answered: its verdict lines, exit status, and all it printed.
#[derive(Debug)]
pub struct PyHankoRun {
    pub verdicts: Vec<PyHankoVerdict>,
    /// The exit status: 0 when every signature is intact, trusted and without illegal
    /// modifications; 1 otherwise (and on errors); None when killed by a signal.
    pub code: Option<i32>,
    /// stdout then stderr, for failure messages.
    pub text: String,
}

/// Runs pyHanko's validator on `file` with the sample root as the only trust anchor.
/// `strict`: hybrid-reference files need `--no-strict-syntax` (pyHanko refuses them otherwise).
pub fn pyhanko_run(file: &Path, strict: bool) -> PyHankoRun {
    let root = root_pem();
    let mut args = vec!["sign", "validate"];
    if !strict {
        args.push("--no-strict-syntax");
    }
    args.extend(["--trust", root.to_str().unwrap(), "--trust-replace", file.to_str().unwrap()]);
    let out = run(&pyhanko(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let verdicts = stdout.lines().filter_map(PyHankoVerdict::parse).collect();
    PyHankoRun { verdicts, code: out.status.code(), text }
}

/// [`pyhanko_run`], failing the test unless pyHanko gave at least one verdict and exited as
/// its verdicts say (0 when all are INTACT:TRUSTED without ILLEGAL_MODIFICATIONS, else 1):
/// a crash or an error before any verdict never passes for a judgement.
pub fn pyhanko_validate(file: &Path, strict: bool) -> (Vec<PyHankoVerdict>, String) {
    let run = pyhanko_run(file, strict);
    assert!(
        !run.verdicts.is_empty(),
        "pyHanko gave no verdict on {} (exit {:?}):\n{}",
        file.display(),
        run.code,
        run.text
    );
    let all_good =
        run.verdicts.iter().all(|v| v.intact() && v.trusted() && !v.illegal_modifications());
    assert_eq!(
        run.code,
        Some(if all_good { 0 } else { 1 }),
        "pyHanko's exit status disagrees with its verdicts on {}:\n{}",
        file.display(),
        run.text
    );
    (run.verdicts, run.text)
}

/// The SHA-256 of a seal's certificate in hex: the fingerprint pyHanko prints.
pub fn fingerprint(chain: &CertificateChain) -> String {
    ring::digest::digest(&ring::digest::SHA256, chain.end_entity_der())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Asserts that pyHanko prints exactly the verdict lines `expected` (`(field, signer
/// fingerprint, status)`, in the file's order) and exits with `code`.
#[track_caller]
pub fn assert_pyhanko(file: &Path, strict: bool, expected: &[(&str, &str, &str)], code: i32) {
    let run = pyhanko_run(file, strict);
    let got: Vec<&str> = run.verdicts.iter().map(|v| v.line.as_str()).collect();
    let wanted: Vec<String> =
        expected.iter().map(|(field, fp, status)| format!("{field}:{fp}:{status}")).collect();
    assert_eq!(got, wanted, "pyHanko's verdicts on {}:\n{}", file.display(), run.text);
    assert_eq!(run.code, Some(code), "pyHanko's exit status on {}:\n{}", file.display(), run.text);
}

/// pdfsig's report: for each signature, whether it says "Signature is Valid", and whether the
/// last one says "Total document signed".
pub fn pdfsig(file: &Path) -> (Vec<bool>, bool, String) {
    let out = run(&tool("pdfsig"), &[file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut valid = Vec::new();
    let mut last_total = false;
    for block in text.split("Signature #").skip(1) {
        valid.push(block.contains("Signature Validation: Signature is Valid."));
        last_total = block.contains("Total document signed");
    }
    (valid, last_total, text)
}

/// `qpdf --check`: success without warnings.
pub fn qpdf_check(file: &Path) -> (bool, String) {
    let out = run(&tool("qpdf"), &["--check", file.to_str().unwrap()]);
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code() == Some(0), text)
}

/// Appends an incremental update to `pdf` holding `objects`, with a trailer that copies /Root,
/// /Info, /ID and /Encrypt unless `root` replaces /Root. Used to play an attacker (or a later
/// tool) revising a sealed file.
pub fn append_update(
    pdf: &[u8],
    objects: &[(eseal_pdf::ObjectId, eseal_pdf::Object)],
    root: Option<eseal_pdf::ObjectId>,
) -> Vec<u8> {
    use eseal_pdf::{Dictionary, Document, Object, ObjectId, UpdateWriter};
    let doc = Document::open(pdf.to_vec()).unwrap();
    let mut writer = UpdateWriter::new(pdf.len() as u64, pdf.last().copied());
    let mut highest = doc.next_object_number().unwrap();
    for (id, object) in objects {
        writer.add(*id, object);
        highest = highest.max(id.number + 1);
    }
    let mut trailer = Dictionary::new();
    for key in [&b"Root"[..], b"Info", b"ID", b"Encrypt"] {
        if let Some(v) = doc.trailer().get(key) {
            trailer.set(key, v.clone());
        }
    }
    if let Some(root) = root {
        trailer.set(b"Root".to_vec(), Object::Reference(root));
    }
    let kind = doc.xref().sections[0].kind;
    let update =
        writer.finish(kind, trailer, doc.xref().startxref, highest, ObjectId::new(highest, 0));
    let mut out = pdf.to_vec();
    out.extend_from_slice(&update);
    out
}
pub mod keys;
pub mod postgres;
pub mod service;
pub mod store;
