//! Differential testing of our verifier against pyHanko's validator: every valid corpus file
//! as it is, sealed by eseal, signed by pyHanko, sealed by eseal after pyHanko signed it, and
//! signed by pyHanko after eseal sealed it; and, on two files, the later-revision cases of a
//! countersignature (metadata and an earlier widget's /F flags changed in a revision of their
//! own, or in the countersigner's signing revision as Acrobat does). Both verifiers judge every signature of every file
//! (pyHanko through tests/python/pyhanko_differential.py, many files per Python process) and
//! the verdicts are compared: where they differ, the difference must be one of [`KNOWN`], with
//! its reason, and every entry of [`KNOWN`] must still occur.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use eseal_verify::{Coverage, SignatureReport, TrustAnchors, verify_document};

/// A verdict on one signature that both verifiers can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Verdict {
    /// The signed bytes are those the signature's digest covers.
    intact: bool,
    /// The signature value verifies.
    valid: bool,
    /// The signer's chain leads to a trust anchor.
    trusted: bool,
    /// Whatever later revisions changed is allowed after this signature.
    changes_allowed: bool,
}

impl Verdict {
    /// `intact,valid,trusted,changes-allowed`, each prefixed with `not-` when false.
    fn text(&self) -> String {
        let word = |ok: bool, name: &str| if ok { name.to_string() } else { format!("not-{name}") };
        [
            word(self.intact, "intact"),
            word(self.valid, "valid"),
            word(self.trusted, "trusted"),
            word(self.changes_allowed, "changes-allowed"),
        ]
        .join(",")
    }
}

/// Our report on one signature as a comparable verdict: the one place that reads the report's
/// judgement (to be switched to the ETSI indication when the report gives one).
fn our_verdict(s: &SignatureReport) -> Verdict {
    Verdict {
        intact: s.intact,
        valid: s.valid,
        trusted: s.trusted,
        changes_allowed: !s.modified_after_signing && s.coverage != Coverage::Partial,
    }
}

/// pyHanko's status of one signature (a JSON line of pyhanko_differential.py) as a verdict.
/// `docmdp_ok` is pyHanko's judgement of later changes; when it has none (document
/// timestamps, or no difference analysis), any modification level but OTHER is allowed.
fn pyhanko_verdict(line: &serde_json::Value) -> Verdict {
    let flag = |name: &str| line[name].as_bool().unwrap_or(false);
    let changes_allowed = line["docmdp_ok"].as_bool().unwrap_or_else(|| {
        line["modification_level"].as_str() != Some("OTHER")
            && line["coverage"].as_str() != Some("NONSTANDARD_COVERAGE")
    });
    Verdict {
        intact: flag("intact"),
        valid: flag("valid"),
        trusted: flag("trusted"),
        changes_allowed,
    }
}

/// A difference between the verifiers that is understood: the case file
/// (`<corpus prefix>/<case>`), the signature field, our verdict, pyHanko's, and why.
struct Known {
    file: &'static str,
    signature: &'static str,
    ours: &'static str,
    pyhanko: &'static str,
    why: &'static str,
}

/// Every known, reasoned difference. None is left: pyHanko's catalog rewrites (text strings
/// re-encoded, /NeedAppearances dropped) are allowed by both.
const KNOWN: &[Known] = &[];

/// The cases built from each corpus file, in the order they are built.
const CASES: &[&str] =
    &["original", "eseal", "pyhanko", "eseal-after-pyhanko", "pyhanko-after-eseal"];

/// The extra case of corpus file 13: signed by pyHanko with the signer's certificate twice.
const REPEATED: &str = "pyhanko-certificate-twice";

/// Extra cases of corpus files 04 and 13 (not encrypted, with an Info dictionary, 04 with XMP
/// metadata). LATER_REVISION: signed by pyHanko, then a revision of the Info /ModDate, the XMP
/// stream and the signed widget's /F flags alone, then sealed by eseal. COUNTERSIGNED: sealed
/// by eseal, then countersigned by pyHanko, which in its signing revision (as Acrobat does)
/// updates the Info dictionary and XMP metadata and, here, the /F flags of eseal's widget.
const LATER_REVISION: &str = "pyhanko-metadata-revision-eseal";
const COUNTERSIGNED: &str = "eseal-pyhanko-countersigned-with-flags";
const METADATA_FILES: &[&str] = &["04", "13"];

/// The field pyHanko signs in.
const PYHANKO_FIELD: &str = "PyHanko";

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read_to_string(root_pem()).unwrap()).unwrap()
}

/// pyHanko reads hybrid-reference files only without strict syntax.
fn strict(prefix: &str) -> &'static str {
    if prefix == "08" { "0" } else { "1" }
}

/// Runs tests/python/pyhanko_differential.py with the venv's Python next to pyHanko.
fn pyhanko_script(args: &[String]) -> String {
    let python = pyhanko().with_file_name("python");
    let script = repo().join("tests/python/pyhanko_differential.py");
    let mut all = vec![script.to_str().unwrap().to_string()];
    all.extend_from_slice(args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = run(&python, &all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pyhanko_differential.py {}: {stdout}{}",
        args.first().unwrap(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn case_path(dir: &Path, prefix: &str, case: &str) -> PathBuf {
    dir.join(format!("{prefix}-{case}.pdf"))
}

/// Seals `input` with the EC sample seal on page 1, as the service does.
fn eseal_seal(input: &[u8]) -> Vec<u8> {
    let ec = Seal::ec();
    ec.seal(input, &ec.options(1, 10.0, 20.0)).0
}

/// A revision of metadata alone: the Info dictionary's /ModDate, the catalog's XMP /Metadata
/// stream rewritten (still well-formed), and the /F flags of the signed field's widget.
fn metadata_revision(pdf: &[u8], field: &str) -> Vec<u8> {
    use eseal_pdf::StringFormat;
    use eseal_pdf::{Document, Object};
    let doc = Document::open(pdf.to_vec()).unwrap();
    let mut objects = Vec::new();
    if let Some(Object::Reference(info)) = doc.trailer().get(b"Info") {
        let mut dict = doc.dict(*info, "Info").unwrap();
        dict.set(
            b"ModDate".to_vec(),
            Object::String(b"D:20270315093000+08'00'".to_vec(), StringFormat::Literal),
        );
        objects.push((*info, Object::Dictionary(dict)));
    }
    if let Some(Object::Reference(metadata)) = doc.catalog().unwrap().get(b"Metadata") {
        if let Object::Stream(mut stream) = doc.object(*metadata).unwrap() {
            if stream.dict.get(b"Filter").is_none() {
                let text = String::from_utf8_lossy(&stream.data)
                    .replace("<?xpacket end", "\n<?xpacket end");
                stream.data = text.into_bytes();
                stream.dict.set(b"Length".to_vec(), Object::Integer(stream.data.len() as i64));
                objects.push((*metadata, Object::Stream(stream)));
            }
        }
    }
    let signed =
        eseal_pdf::signature_fields(&doc).unwrap().into_iter().find(|f| f.name == field).unwrap();
    let widget = signed.field.unwrap();
    let mut dict = doc.dict(widget, "widget").unwrap();
    let flags = if dict.get(b"F") == Some(&Object::Integer(4)) { 6 } else { 4 };
    dict.set(b"F".to_vec(), Object::Integer(flags));
    objects.push((widget, Object::Dictionary(dict)));
    append_update(pdf, &objects, None)
}

#[test]
fn verdicts_agree_with_pyhanko_on_every_corpus_file() {
    let dir = temp();
    let keys = repo().join("keys-sample");
    let key = |name: &str| keys.join(name).to_str().unwrap().to_string();
    // The chain pyHanko embeds: the issuing CA (the signer's certificate is added by pyHanko).
    let sign_args = |chain: &str| {
        vec![
            "sign".to_string(),
            key("seal-housing-rsa.key"),
            key("seal-housing-rsa.pem"),
            key(chain),
            PYHANKO_FIELD.to_string(),
        ]
    };

    // The originals and eseal's seals; then pyHanko signs the originals and eseal's seals;
    // then eseal seals pyHanko's.
    let mut to_sign = sign_args("seal-ca.pem");
    for prefix in VALID_CORPUS {
        let original = std::fs::read(corpus(prefix)).unwrap();
        std::fs::write(case_path(dir.path(), prefix, "original"), &original).unwrap();
        std::fs::write(case_path(dir.path(), prefix, "eseal"), eseal_seal(&original)).unwrap();
        for (from, to) in [("original", "pyhanko"), ("eseal", "pyhanko-after-eseal")] {
            to_sign.push(strict(prefix).into());
            to_sign.push(case_path(dir.path(), prefix, from).display().to_string());
            to_sign.push(case_path(dir.path(), prefix, to).display().to_string());
        }
    }
    pyhanko_script(&to_sign);
    // A chain file that repeats the signer's certificate (the whole chain file given as
    // --chain): pyHanko then embeds that certificate twice.
    let mut repeated = sign_args("seal-housing-rsa-chain.pem");
    repeated.extend([
        strict("13").to_string(),
        corpus("13").display().to_string(),
        case_path(dir.path(), "13", REPEATED).display().to_string(),
    ]);
    pyhanko_script(&repeated);
    for prefix in VALID_CORPUS {
        let signed = std::fs::read(case_path(dir.path(), prefix, "pyhanko")).unwrap();
        std::fs::write(case_path(dir.path(), prefix, "eseal-after-pyhanko"), eseal_seal(&signed))
            .unwrap();
    }
    let mut countersign = vec!["countersign".to_string()];
    countersign.extend(sign_args("seal-ca.pem").into_iter().skip(1));
    countersign.push("Seal1".into());
    for prefix in METADATA_FILES {
        let signed = std::fs::read(case_path(dir.path(), prefix, "pyhanko")).unwrap();
        std::fs::write(
            case_path(dir.path(), prefix, LATER_REVISION),
            eseal_seal(&metadata_revision(&signed, PYHANKO_FIELD)),
        )
        .unwrap();
        countersign.extend([
            strict(prefix).to_string(),
            case_path(dir.path(), prefix, "eseal").display().to_string(),
            case_path(dir.path(), prefix, COUNTERSIGNED).display().to_string(),
        ]);
    }
    pyhanko_script(&countersign);

    // pyHanko's verdicts, all files in one process: (file, field) -> (verdict, its own words).
    let mut validate = vec!["validate".to_string(), root_pem().display().to_string()];
    let mut names = BTreeMap::new();
    let all_cases: Vec<(&str, &str)> = VALID_CORPUS
        .iter()
        .flat_map(|p| CASES.iter().map(move |c| (*p, *c)))
        .chain([("13", REPEATED)])
        .chain(METADATA_FILES.iter().flat_map(|p| [(*p, LATER_REVISION), (*p, COUNTERSIGNED)]))
        .collect();
    for (prefix, case) in &all_cases {
        {
            let path = case_path(dir.path(), prefix, case);
            names.insert(path.display().to_string(), format!("{prefix}/{case}"));
            validate.push(strict(prefix).into());
            validate.push(path.display().to_string());
        }
    }
    let mut theirs: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for line in pyhanko_script(&validate).lines() {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let file = names[json["file"].as_str().unwrap()].clone();
        if json["field"].is_null() {
            theirs
                .insert((file, "(file)".into()), ("unreadable".into(), json["error"].to_string()));
            continue;
        }
        let field = json["field"].as_str().unwrap().to_string();
        let words = format!(
            "{} {}",
            json["summary"].as_str().unwrap_or(""),
            json["error"].as_str().unwrap_or("")
        );
        theirs.insert((file, field), (pyhanko_verdict(&json).text(), words.trim().to_string()));
    }

    // Ours, in process.
    let anchors = anchors();
    let mut ours: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for (prefix, case) in &all_cases {
        {
            let file = format!("{prefix}/{case}");
            let bytes = std::fs::read(case_path(dir.path(), prefix, case)).unwrap();
            match verify_document(&bytes, &anchors) {
                Ok(report) => {
                    for s in &report.signatures {
                        // Its problems and the later changes it does not allow, for the failure message.
                        let disallowed = s
                            .later_changes
                            .iter()
                            .filter(|c| !c.allowed)
                            .map(|c| format!("object {}: {}", c.object, c.description));
                        let words: Vec<String> =
                            s.problems.iter().cloned().chain(disallowed).collect();
                        ours.insert(
                            (file.clone(), s.field_name.clone()),
                            (our_verdict(s).text(), words.join("; ")),
                        );
                    }
                }
                Err(e) => {
                    ours.insert((file, "(file)".into()), ("unreadable".into(), e.to_string()));
                }
            }
        }
    }

    // Every case has its signatures: eseal's seal and pyHanko's signature where they signed.
    for prefix in VALID_CORPUS {
        for (case, fields) in [
            ("eseal", &["Seal1"][..]),
            ("pyhanko", &[PYHANKO_FIELD][..]),
            ("eseal-after-pyhanko", &["Seal1", PYHANKO_FIELD][..]),
            ("pyhanko-after-eseal", &["Seal1", PYHANKO_FIELD][..]),
        ] {
            for field in fields {
                let key = (format!("{prefix}/{case}"), field.to_string());
                assert!(
                    theirs.contains_key(&key) && ours.contains_key(&key),
                    "{key:?} is missing: pyHanko {:?}, ours {:?}",
                    theirs.get(&key),
                    ours.get(&key)
                );
            }
        }
    }

    // Compare; every difference must be known, and every known one must occur.
    let missing = ("absent".to_string(), String::new());
    let mut unexplained = Vec::new();
    let mut seen_known = vec![false; KNOWN.len()];
    let mut compared = 0;
    for key in ours.keys().chain(theirs.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (mine, my_words) = ours.get(key).unwrap_or(&missing);
        let (other, other_words) = theirs.get(key).unwrap_or(&missing);
        compared += 1;
        if mine == other {
            continue;
        }
        match KNOWN.iter().position(|k| {
            k.file == key.0 && k.signature == key.1 && k.ours == mine && k.pyhanko == other
        }) {
            Some(i) => seen_known[i] = true,
            None => unexplained.push(format!(
                "{} {}: ours {mine} ({my_words}), pyHanko {other} ({other_words})",
                key.0, key.1
            )),
        }
    }
    let stale: Vec<String> = KNOWN
        .iter()
        .zip(&seen_known)
        .filter(|(_, seen)| !**seen)
        .map(|(k, _)| {
            format!(
                "{} {}: ours {}, pyHanko {} ({})",
                k.file, k.signature, k.ours, k.pyhanko, k.why
            )
        })
        .collect();
    assert!(compared >= VALID_CORPUS.len() * 6, "too few signatures compared: {compared}");
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "differences not in KNOWN:\n  {}\nKNOWN differences that no longer occur:\n  {}",
        unexplained.join("\n  "),
        stale.join("\n  ")
    );
}
