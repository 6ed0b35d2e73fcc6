//! Archival export end to end: a real server (in process, over mTLS) that keeps its sealed
//! documents, real stampings of corpus PDFs, `eseal archive export` writing a BagIt bag, the
//! bag validated by the reference BagIt tool (`bagit.py --validate`, PyPI bagit) and by
//! `eseal archive verify` with the log key; then each way of tampering with a bag, detected
//! by `eseal archive verify` even where the manifests were regenerated and bagit.py is
//! satisfied; and a second export proving the log consistent with the first.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::service::*;
use eseal_audit::{AuditRecord, Checkpoint, EventKind, LogSigner};
use eseal_service::api::proto::ExportArchiveRequest;
use eseal_service::api::proto::audit_service_client::AuditServiceClient;
use tonic::Code;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Waits until the clock has passed into a new second, so that record times on either side
/// of the returned time differ.
async fn next_second() -> i64 {
    let start = now();
    while now() == start {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    now()
}

use common::hex;

/// `bagit.py` of the test venv (scripts/install-test-tools.sh installs PyPI bagit there).
fn bagit() -> PathBuf {
    let path = common::repo().join("target/test-venv/bin/bagit.py");
    assert!(
        path.is_file(),
        "bagit.py not found at {}; run scripts/test.sh, which installs it",
        path.display()
    );
    path
}

fn bagit_validate(bag: &Path) -> Output {
    common::run(&bagit(), &["--validate", bag.to_str().unwrap()])
}

/// Grants and seals each (seal, corpus file) pair; returns the sealed documents.
async fn stamp(server: &TestServer, tag: &str, jobs: &[(&str, &str)]) -> Vec<Sealed> {
    let mut admin = server.admin(&ClientIdentity::custodian()).await;
    let mut signing = server.signing(&ClientIdentity::department()).await;
    let mut sealed = Vec::new();
    for (i, (seal, corpus)) in jobs.iter().enumerate() {
        let case = format!("ARCH-{tag}-{i}");
        let a = grant(&mut admin, grant_request(seal, "approval-system", &case)).await;
        let s = sign(
            &mut signing,
            header(seal, &a.id, &format!("archive-{tag}-{i}"), &case),
            &corpus_bytes(corpus),
        )
        .await
        .expect("the stamping succeeds");
        sealed.push(s);
    }
    sealed
}

/// The JSON report of `eseal archive verify --json` and whether it exited 0.
fn verify(port: u16, bag: &Path, extra: &[&str]) -> (bool, serde_json::Value, String) {
    let key = vkey();
    let mut args =
        vec!["archive", "verify", bag.to_str().unwrap(), "--log-key", key.as_str(), "--json"];
    args.extend_from_slice(extra);
    let out = eseal(port, &args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json prints JSON ({e}): {}", text(&out)));
    (out.status.success(), report, text(&out))
}

fn holds(report: &serde_json::Value, property: &str) -> bool {
    report[property]["holds"].as_bool().unwrap()
}

fn problems(report: &serde_json::Value, property: &str) -> String {
    report[property]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_str().unwrap().to_string());
        }
    }
}

fn digest(algorithm: &'static ring::digest::Algorithm, bytes: &[u8]) -> String {
    hex(ring::digest::digest(algorithm, bytes).as_ref())
}

/// What an insider would do after editing a bag: recompute both payload manifests, the
/// Payload-Oxum, and both tag manifests, so that BagIt fixity holds again.
fn regenerate_manifests(bag: &Path) {
    let mut payload = Vec::new();
    files_under(bag, &bag.join("data"), &mut payload);
    payload.sort();
    let mut bytes = 0u64;
    for (name, algorithm) in [("sha256", &ring::digest::SHA256), ("sha512", &ring::digest::SHA512)]
    {
        let mut manifest = String::new();
        bytes = 0;
        for path in &payload {
            let content = std::fs::read(bag.join(path)).unwrap();
            bytes += content.len() as u64;
            manifest.push_str(&format!("{}  {path}\n", digest(algorithm, &content)));
        }
        std::fs::write(bag.join(format!("manifest-{name}.txt")), manifest).unwrap();
    }
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum:") {
                format!("Payload-Oxum: {bytes}.{}\n", payload.len())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(bag.join("bag-info.txt"), info).unwrap();
    for (name, algorithm) in [("sha256", &ring::digest::SHA256), ("sha512", &ring::digest::SHA512)]
    {
        let mut manifest = String::new();
        for tag in ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt"] {
            manifest.push_str(&format!(
                "{}  {tag}\n",
                digest(algorithm, &std::fs::read(bag.join(tag)).unwrap())
            ));
        }
        std::fs::write(bag.join(format!("tagmanifest-{name}.txt")), manifest).unwrap();
    }
}

fn record_file(bag: &Path, sequence: u64) -> PathBuf {
    bag.join(format!("data/records/{sequence:08}.json"))
}

fn proof_file(bag: &Path, sequence: u64) -> PathBuf {
    bag.join(format!("data/proofs/{sequence:08}.json"))
}

/// The record file of `sequence` with `from` replaced by `to` (of the same length).
fn rewrite_record(bag: &Path, sequence: u64, from: &str, to: &str) {
    let path = record_file(bag, sequence);
    let original = std::fs::read_to_string(&path).unwrap();
    assert!(original.contains(from), "record {sequence} has no {from:?}: {original}");
    std::fs::write(&path, original.replace(from, to)).unwrap();
}

fn set_info(bag: &Path, label: &str, value: &str) {
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{label}:")) {
                format!("{label}: {value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(bag.join("bag-info.txt"), info).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_bag_validates_verifies_and_every_tampering_is_detected() {
    let kept = tempfile::tempdir().unwrap();
    let documents = kept.path().join("documents");
    let keep = documents.clone();
    let server = TestServer::start_with(move |c| c.archive.keep_documents_dir = Some(keep)).await;
    let port = server.address.port();

    // Before the range: the seal registrations of the first start.
    let t1 = next_second().await;
    let sealed =
        stamp(&server, "A", &[("approval-ec", "01"), ("housing-rsa", "13"), ("approval-ec", "10")])
            .await;
    // A refusal is in the range too.
    let mut signing = server.signing(&ClientIdentity::department()).await;
    assert!(
        sign(
            &mut signing,
            header("approval-ec", "auth-missing", "archive-refused", "X"),
            &corpus_bytes("01")
        )
        .await
        .is_err()
    );
    let t2 = next_second().await;
    // After the range.
    let later = stamp(&server, "B", &[("approval-ec", "13")]).await;

    // The service kept every sealed document, content-addressed; a replay whose kept copy was
    // lost writes it again before answering.
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&documents), 0o700, "the kept documents' folder is the service's own");
    for s in sealed.iter().chain(&later) {
        let path = documents.join(format!("{}.pdf", hex(&s.receipt.output_sha256)));
        assert_eq!(std::fs::read(&path).expect("the sealed document is kept"), s.document);
        assert_eq!(mode(&path), 0o600, "a kept document is the service's own");
    }
    let lost = documents.join(format!("{}.pdf", hex(&later[0].receipt.output_sha256)));
    std::fs::remove_file(&lost).unwrap();
    let header_b = header(
        "approval-ec",
        &later_authorization(&server, "archive-B-0").await,
        "archive-B-0",
        "ARCH-B-0",
    );
    let replayed = sign(&mut signing, header_b, &corpus_bytes("13")).await.unwrap();
    assert!(replayed.receipt.replayed);
    assert_eq!(std::fs::read(&lost).expect("kept again on replay"), later[0].document);

    // Export [t1, t2): RFC 3339 and Unix seconds both accepted.
    let work = tempfile::tempdir().unwrap();
    let bag = work.path().join("bag-1");
    let from = eseal_service::archive::time::format_rfc3339(t1);
    let export = eseal(
        port,
        &[
            "archive",
            "export",
            "--from",
            &from,
            "--to",
            &t2.to_string(),
            "-o",
            bag.to_str().unwrap(),
        ],
    );
    assert!(export.status.success(), "{}", text(&export));
    assert!(text(&export).contains("bag written to"), "{}", text(&export));
    assert_eq!(mode(&bag), 0o700, "the bag's folder is its owner's");

    // The bag holds exactly the records whose time is in the range, byte for byte.
    let all = server.audit().await;
    let in_range: Vec<&AuditRecord> = all.iter().filter(|r| r.time >= t1 && r.time < t2).collect();
    assert_eq!(in_range.len(), 3 * 3 + 1, "3 x (granted, consumed, sealed) and a refusal");
    let (first, last) = (in_range[0].sequence, in_range[in_range.len() - 1].sequence);
    let mut records = Vec::new();
    files_under(&bag, &bag.join("data/records"), &mut records);
    assert_eq!(records.len(), in_range.len());
    for r in &in_range {
        assert_eq!(std::fs::read(record_file(&bag, r.sequence)).unwrap(), r.to_canonical_json());
        assert!(proof_file(&bag, r.sequence).is_file());
    }
    for s in &sealed {
        let kept = bag.join(format!("data/documents/{}.pdf", hex(&s.receipt.output_sha256)));
        assert_eq!(
            std::fs::read(kept).unwrap(),
            s.document,
            "the sealed documents of the range are in the bag"
        );
    }
    assert!(
        !bag.join(format!("data/documents/{}.pdf", hex(&later[0].receipt.output_sha256))).exists(),
        "not those of later records"
    );
    assert_eq!(
        std::fs::read(bag.join("data/seals/approval-ec/image.png")).unwrap(),
        std::fs::read(common::repo().join("keys-sample/seal-approval-ec.png")).unwrap()
    );
    assert!(bag.join("data/seals/housing-rsa/certificate-chain.pem").is_file());
    for file in ["data/checkpoint.txt", "data/boundary/before.json", "data/boundary/after.json"] {
        assert!(bag.join(file).is_file(), "{file}");
    }
    assert!(!bag.join("data/consistency.json").exists(), "no previous export");
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    for field in [
        "Source-Organization: ",
        "Bagging-Date: ",
        "External-Description: ",
        "Payload-Oxum: ",
        "eseal-log-origin: eseal.local/audit",
    ] {
        assert!(info.contains(field), "{field} in\n{info}");
    }
    assert!(
        info.contains(&format!("eseal-from: {from}"))
            && info.contains(&format!("eseal-first-sequence: {first}\n")),
        "{info}"
    );
    assert!(info.contains(&format!("eseal-last-sequence: {last}\n")), "{info}");
    for field in [
        "eseal-documents-kept: yes\n",
        "eseal-record-count: 10\n",
        "eseal-document-count: 3\n",
        "eseal-seal-count: 2\n",
    ] {
        assert!(info.contains(field), "{field} in\n{info}");
    }
    assert!(!bag.join("data/documents-not-kept.txt").exists(), "the service had every document");
    assert!(
        std::fs::read_to_string(bag.join("bagit.txt")).unwrap()
            == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    );

    // The reference BagIt validator accepts the bag.
    let validated = bagit_validate(&bag);
    assert!(validated.status.success(), "bagit.py --validate: {}", text(&validated));

    // eseal archive verify: the four properties hold, as text and as JSON.
    let key = vkey();
    let readable = eseal(port, &["archive", "verify", bag.to_str().unwrap(), "--log-key", &key]);
    assert!(readable.status.success(), "{}", text(&readable));
    for property in [
        "authenticity  HOLDS",
        "integrity     HOLDS",
        "usability     HOLDS",
        "security      HOLDS",
        "all four properties hold",
    ] {
        assert!(text(&readable).contains(property), "{property}: {}", text(&readable));
    }
    let (ok, report, out) = verify(port, &bag, &[]);
    assert!(ok, "{out}");
    assert_eq!(report["records"], 10);
    assert_eq!(report["documents"], 3);
    assert_eq!(report["seals"], 2);
    assert_eq!(report["first_sequence"], first);
    assert_eq!(report["last_sequence"], last);
    assert!(
        report["integrity"]["checked"]
            .to_string()
            .contains("each of the 3 documents the document_sealed records name is in the bag"),
        "{out}"
    );

    // Another log key: nothing in the bag is under its signature.
    let (other, _) = LogSigner::generate("eseal.local/audit").unwrap();
    let wrong = eseal(
        port,
        &["archive", "verify", bag.to_str().unwrap(), "--log-key", &other.verifier_key(), "--json"],
    );
    assert!(!wrong.status.success());
    let wrong: serde_json::Value = serde_json::from_slice(&wrong.stdout).unwrap();
    assert!(!holds(&wrong, "security") && !holds(&wrong, "authenticity"));
    // Another trust anchor: the documents' seals are not trusted.
    let untrusted = verify(
        port,
        &bag,
        &["--trust", common::repo().join("keys-sample/tls-ca.pem").to_str().unwrap()],
    );
    assert!(
        !untrusted.0
            && !holds(&untrusted.1, "authenticity")
            && problems(&untrusted.1, "authenticity").contains("not trusted"),
        "{}",
        untrusted.2
    );

    let middle = first + 4;
    let tampered = |name: &str| {
        let copy = work.path().join(name);
        copy_dir(&bag, &copy);
        copy
    };

    // 1. One record edited, manifests left: fixity fails.
    let edited = tampered("edited");
    rewrite_record(&edited, middle, "ARCH-A-1", "ARCH-A-9");
    let (ok, report, out) = verify(port, &edited, &[]);
    assert!(!ok && !holds(&report, "integrity"), "{out}");
    assert!(
        problems(&report, "integrity")
            .contains(&format!("data/records/{middle:08}.json: its sha256 digest does not match")),
        "{out}"
    );
    assert!(!bagit_validate(&edited).status.success(), "bagit.py sees it too");

    // 2. A record rewritten and every manifest regenerated: bagit.py is satisfied, the proof is not.
    let rewritten = tampered("rewritten");
    rewrite_record(&rewritten, middle, "ARCH-A-1", "ARCH-A-9");
    regenerate_manifests(&rewritten);
    assert!(
        bagit_validate(&rewritten).status.success(),
        "fixity alone is fooled: {}",
        text(&bagit_validate(&rewritten))
    );
    let (ok, report, out) = verify(port, &rewritten, &[]);
    assert!(!ok && !holds(&report, "authenticity"), "{out}");
    assert!(holds(&report, "integrity"), "the bag's fixity and sequence hold: {out}");
    assert!(
        problems(&report, "authenticity")
            .contains(&format!("record {middle}: its proof does not hold")),
        "{out}"
    );

    // 3. A record and its proof deleted, manifests regenerated: a gap.
    let deleted = tampered("deleted");
    std::fs::remove_file(record_file(&deleted, middle)).unwrap();
    std::fs::remove_file(proof_file(&deleted, middle)).unwrap();
    regenerate_manifests(&deleted);
    let (ok, report, out) = verify(port, &deleted, &[]);
    assert!(!ok && !holds(&report, "integrity"), "{out}");
    assert!(
        problems(&report, "integrity").contains(&format!("records {middle} are missing: a gap")),
        "{out}"
    );

    // 4. The tail cut, the declared range shortened to match, manifests regenerated: the signed
    //    boundary record shows it.
    let truncated = tampered("truncated");
    std::fs::remove_file(record_file(&truncated, last)).unwrap();
    std::fs::remove_file(proof_file(&truncated, last)).unwrap();
    set_info(&truncated, "eseal-last-sequence", &(last - 1).to_string());
    regenerate_manifests(&truncated);
    let (ok, report, out) = verify(port, &truncated, &[]);
    assert!(!ok && !holds(&report, "integrity"), "{out}");
    assert!(
        problems(&report, "integrity")
            .contains(&format!("proves record {}, not record {last}", last + 1)),
        "{out}"
    );

    // 5. The checkpoint replaced by one signed by another key (same log name), manifests
    //    regenerated: not signed by the log key.
    let resigned = tampered("resigned");
    let note = std::fs::read_to_string(resigned.join("data/checkpoint.txt")).unwrap();
    let body = format!("{}\n", note.split_once("\n\n").unwrap().0);
    let checkpoint = Checkpoint::parse(&body).unwrap();
    let (impostor, _) = LogSigner::generate("eseal.local/audit").unwrap();
    std::fs::write(resigned.join("data/checkpoint.txt"), impostor.sign(&checkpoint).unwrap())
        .unwrap();
    regenerate_manifests(&resigned);
    let (ok, report, out) = verify(port, &resigned, &[]);
    assert!(!ok && !holds(&report, "security"), "{out}");
    assert!(
        problems(&report, "security")
            .contains("data/checkpoint.txt is not a checkpoint signed by the log key"),
        "{out}"
    );

    // 6. Two records' contents swapped, manifests regenerated.
    let swapped = tampered("swapped");
    let (a, b) = (
        std::fs::read(record_file(&swapped, middle)).unwrap(),
        std::fs::read(record_file(&swapped, middle + 1)).unwrap(),
    );
    std::fs::write(record_file(&swapped, middle), &b).unwrap();
    std::fs::write(record_file(&swapped, middle + 1), &a).unwrap();
    regenerate_manifests(&swapped);
    let (ok, report, out) = verify(port, &swapped, &[]);
    assert!(!ok && !holds(&report, "authenticity") && !holds(&report, "integrity"), "{out}");
    let found = problems(&report, "authenticity");
    assert!(
        found.contains(&format!("record {middle}: its proof does not hold"))
            && found.contains(&format!("record {}: its proof does not hold", middle + 1)),
        "{out}"
    );
    assert!(
        problems(&report, "integrity")
            .contains(&format!("holds record {}, not record {middle}", middle + 1)),
        "{out}"
    );

    // 7. A sealed document replaced by another one, renamed and manifests regenerated: no record
    //    vouches for it.
    let substituted = tampered("substituted");
    let victim =
        substituted.join(format!("data/documents/{}.pdf", hex(&sealed[0].receipt.output_sha256)));
    std::fs::remove_file(&victim).unwrap();
    let forged = later[0].document.clone();
    std::fs::write(
        substituted.join(format!("data/documents/{}.pdf", hex(&common::service::sha256(&forged)))),
        &forged,
    )
    .unwrap();
    regenerate_manifests(&substituted);
    let (ok, report, out) = verify(port, &substituted, &[]);
    assert!(
        !ok && problems(&report, "authenticity")
            .contains("no document_sealed record of the bag has this output SHA-256"),
        "{out}"
    );

    // 8. A sealed document removed, manifests and Payload-Oxum regenerated (then bagit.py is
    //    satisfied): the record that names it and bag-info's count show it, and so does the
    //    record alone when the count is rewritten too.
    let dropped_hex = hex(&sealed[1].receipt.output_sha256);
    let dropped_path = format!("data/documents/{dropped_hex}.pdf");
    let sealed_by: Vec<u64> = of_kind(&all, EventKind::DocumentSealed)
        .into_iter()
        .filter(|r| r.event.output_sha256.as_deref() == Some(dropped_hex.as_str()))
        .map(|r| r.sequence)
        .collect();
    assert_eq!(sealed_by.len(), 1);
    for rewrite_count in [false, true] {
        let dropped = tampered(&format!("dropped-{rewrite_count}"));
        std::fs::remove_file(dropped.join(&dropped_path)).unwrap();
        if rewrite_count {
            set_info(&dropped, "eseal-document-count", "2");
        }
        regenerate_manifests(&dropped);
        let validated = bagit_validate(&dropped);
        assert!(validated.status.success(), "BagIt itself is satisfied: {}", text(&validated));
        let (ok, report, out) = verify(port, &dropped, &[]);
        assert!(!ok && !holds(&report, "integrity"), "{out}");
        let found = problems(&report, "integrity");
        let named = format!(
            "the sealed document {dropped_path} named by record {} (document_sealed) is missing from the bag",
            sealed_by[0]
        );
        assert!(found.contains(&named), "{named}\n{out}");
        assert_eq!(
            found.contains("eseal-document-count declares 3 sealed documents but the bag holds 2"),
            !rewrite_count,
            "{out}"
        );
        assert!(
            text(&eseal(
                port,
                &["archive", "verify", dropped.to_str().unwrap(), "--log-key", &key]
            ))
            .contains(&named),
            "in the text report too"
        );
    }

    // 9. An extra document no record names, manifests regenerated, with and without the count
    //    rewritten.
    for rewrite_count in [false, true] {
        let extra = tampered(&format!("extra-{rewrite_count}"));
        let unrecorded = later[0].document.clone();
        let unrecorded_path =
            format!("data/documents/{}.pdf", hex(&common::service::sha256(&unrecorded)));
        std::fs::write(extra.join(&unrecorded_path), &unrecorded).unwrap();
        if rewrite_count {
            set_info(&extra, "eseal-document-count", "4");
        }
        regenerate_manifests(&extra);
        assert!(bagit_validate(&extra).status.success(), "{}", text(&bagit_validate(&extra)));
        let (ok, report, out) = verify(port, &extra, &[]);
        assert!(
            !ok && problems(&report, "authenticity").contains(&format!(
                "{unrecorded_path}: no document_sealed record of the bag has this output SHA-256"
            )),
            "{out}"
        );
        assert_eq!(
            problems(&report, "integrity")
                .contains("eseal-document-count declares 3 sealed documents but the bag holds 4"),
            !rewrite_count,
            "{out}"
        );
    }

    // 10. bag-info's record count rewritten: it no longer matches the record files.
    let recount = tampered("recount");
    set_info(&recount, "eseal-record-count", "11");
    regenerate_manifests(&recount);
    let (ok, report, out) = verify(port, &recount, &[]);
    assert!(
        !ok && problems(&report, "integrity")
            .contains("eseal-record-count declares 11 record files but the bag holds 10"),
        "{out}"
    );

    // A second export, [t2, t3), proves the log consistent with the first export's checkpoint
    // (which the records after it extend).
    // The service lost one kept document of that range: the bag says so instead of hiding it.
    let c = stamp(&server, "C", &[("housing-rsa", "01")]).await;
    let t3 = next_second().await;
    let lost_hex = hex(&c[0].receipt.output_sha256);
    std::fs::remove_file(documents.join(format!("{lost_hex}.pdf"))).unwrap();
    let bag2 = work.path().join("bag-2");
    let export = eseal(
        port,
        &[
            "archive",
            "export",
            "--from",
            &t2.to_string(),
            "--to",
            &t3.to_string(),
            "-o",
            bag2.to_str().unwrap(),
            "--previous",
            bag.to_str().unwrap(),
        ],
    );
    assert!(export.status.success(), "{}", text(&export));
    assert!(bag2.join("data/consistency.json").is_file());
    let not_kept = std::fs::read_to_string(bag2.join("data/documents-not-kept.txt")).unwrap();
    assert!(
        not_kept.starts_with(&format!("{lost_hex} ")) && not_kept.lines().count() == 1,
        "{not_kept}"
    );
    assert!(!bag2.join(format!("data/documents/{lost_hex}.pdf")).exists());
    assert!(bagit_validate(&bag2).status.success(), "{}", text(&bagit_validate(&bag2)));
    let (ok, report, out) = verify(port, &bag2, &["--previous", bag.to_str().unwrap()]);
    assert!(ok, "{out}");
    let first_size: u64 =
        info.lines().find_map(|l| l.strip_prefix("eseal-tree-size: ")).unwrap().parse().unwrap();
    assert_eq!(report["previous_tree_size"], first_size);
    assert!(
        report["tree_size"].as_u64().unwrap() > first_size,
        "a new checkpoint covers the new records"
    );
    assert!(
        report["integrity"]["checked"]
            .to_string()
            .contains(&format!("the signed tree of {first_size} records is a prefix")),
        "{out}"
    );
    // The second bag starts right after the first one's range: the two are contiguous.
    assert_eq!(report["first_sequence"], last + 1);
    assert!(
        report["integrity"]["checked"]
            .to_string()
            .contains("or among the 1 the service did not have"),
        "{out}"
    );
    // Checked against the wrong previous bag (itself), the consistency proof does not start there.
    let (ok, report, out) = verify(port, &bag2, &["--previous", bag2.to_str().unwrap()]);
    assert!(
        !ok && problems(&report, "integrity").contains("not at the previous export's checkpoint"),
        "{out}"
    );
    // A forged consistency proof (another old checkpoint) is refused.
    let forged = work.path().join("forged-consistency");
    copy_dir(&bag2, &forged);
    let consistency = std::fs::read_to_string(forged.join("data/consistency.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&consistency).unwrap();
    json["proof"][0] = serde_json::Value::String(eseal_encoding::base64::encode(&[7u8; 32]));
    std::fs::write(
        forged.join("data/consistency.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    regenerate_manifests(&forged);
    let (ok, report, out) = verify(port, &forged, &[]);
    assert!(
        !ok && problems(&report, "integrity").contains("is not proved to be a prefix"),
        "{out}"
    );
}

/// The authorization id the stamping with `request_id` consumed (from the audit trail).
async fn later_authorization(server: &TestServer, request_id: &str) -> String {
    let records = server.audit().await;
    of_kind(&records, EventKind::DocumentSealed)
        .into_iter()
        .find(|r| r.event.request_id.as_deref() == Some(request_id))
        .and_then(|r| r.event.authorization_id.clone())
        .expect("the stamping is recorded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_archive_is_for_archivists_and_refuses_what_it_cannot_prove() {
    let server = TestServer::start().await;
    let t1 = next_second().await;
    stamp(&server, "R", &[("approval-ec", "01")]).await;
    let t2 = next_second().await;
    let request = |from, to, previous| ExportArchiveRequest {
        from_time: from,
        to_time: to,
        previous_tree_size: previous,
    };

    let mut department =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::department())).await);
    assert_refused(
        department.export_archive(request(t1, t2, 0)).await.map(|_| ()),
        Code::PermissionDenied,
        &["archivist"],
    );
    let mut archivist =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::archivist())).await);
    assert_refused(
        archivist.export_archive(request(t2, t1, 0)).await.map(|_| ()),
        Code::InvalidArgument,
        &["from_time must be before to_time"],
    );
    assert_refused(
        archivist.export_archive(request(1, 1000, 0)).await.map(|_| ()),
        Code::FailedPrecondition,
        &["no record"],
    );
    assert_refused(
        archivist.export_archive(request(t1, t2, 2)).await.map(|_| ()),
        Code::FailedPrecondition,
        &["not a checkpointed size"],
    );
    assert_refused(
        archivist.export_archive(request(t1, t2, 1 << 40)).await.map(|_| ()),
        Code::InvalidArgument,
        &["larger than the latest checkpoint"],
    );
    let records = server.audit().await;
    assert_refusal_recorded(&records, "approval-system", "ExportArchive", &["archivist"]);

    // Without keep_documents_dir, a bag has no documents and still verifies.
    let work = tempfile::tempdir().unwrap();
    let bag = work.path().join("bag");
    let port = server.address.port();
    let export = eseal(
        port,
        &[
            "archive",
            "export",
            "--from",
            &t1.to_string(),
            "--to",
            &t2.to_string(),
            "-o",
            bag.to_str().unwrap(),
        ],
    );
    assert!(export.status.success(), "{}", text(&export));
    assert!(!bag.join("data/documents").exists());
    let (ok, report, out) = verify(port, &bag, &[]);
    assert!(ok && report["documents"] == 0 && report["records"] == 3, "{out}");
    assert!(
        std::fs::read_to_string(bag.join("bag-info.txt"))
            .unwrap()
            .contains("eseal-documents-kept: no\n")
    );
    assert!(
        report["integrity"]["checked"].to_string().contains("does not keep sealed documents"),
        "{out}"
    );
    // The output folder must be new or empty.
    let again = eseal(
        port,
        &[
            "archive",
            "export",
            "--from",
            &t1.to_string(),
            "--to",
            &t2.to_string(),
            "-o",
            bag.to_str().unwrap(),
        ],
    );
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("not empty"), "{}", text(&again));
}
