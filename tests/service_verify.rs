//! `eseal verify` against a running server (real gRPC over mTLS): each signature's ETSI
//! indication and sub-indication in the table and in --json, the stamping record match in
//! --json, and the document verdict as the exit code (0 passed, 1 failed, 5 changed after
//! signing, 6 indeterminate, 7 no stamping record with --require-record).

mod common;
#[path = "common/forgeries.rs"]
mod forgeries;

use std::path::Path;
use std::process::{Command, Output};

use common::service::*;
use forgeries::*;

fn eseal(server: &TestServer, cwd: &Path, args: &[&str]) -> Output {
    eseal_in(server.address.port(), cwd, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn both(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// `eseal verify` on `pdf` (written to `dir/name`): the table run and the --json run, after
/// checking that both exit with `code`.
fn verify(
    server: &TestServer,
    dir: &Path,
    name: &str,
    pdf: &[u8],
    code: i32,
) -> (String, serde_json::Value) {
    let path = dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    let table = eseal(server, dir, &["verify", path.to_str().unwrap()]);
    assert_eq!(table.status.code(), Some(code), "{name}: {}", both(&table));
    let json = eseal(server, dir, &["verify", "--json", path.to_str().unwrap()]);
    assert_eq!(json.status.code(), Some(code), "{name} --json: {}", both(&json));
    let report = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("{name}: verify --json prints JSON ({e}): {}", both(&json)));
    (text(&table.stdout), report)
}

/// The table row of Seal1.
fn seal1_row(table: &str) -> &str {
    table
        .lines()
        .find(|l| l.starts_with("Seal1"))
        .unwrap_or_else(|| panic!("no Seal1 row:\n{table}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_the_etsi_verdict_the_record_match_and_its_exit_code() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(keys(), dir.path().join("keys-sample")).unwrap();
    let input = common::corpus("13");

    // A clean seal made by this service: TOTAL-PASSED, exit 0, its stamping record in --json.
    let grant = eseal(
        &server,
        dir.path(),
        &["grant", "--seal", "approval-ec", "--to", "approval-system", "--case", "CASE-VERDICT-1"],
    );
    assert!(grant.status.success(), "{}", both(&grant));
    let authorization = text(&grant.stdout).trim().to_string();
    let sealed_path = dir.path().join("sealed.pdf");
    let sign = eseal(
        &server,
        dir.path(),
        &[
            "sign",
            input.to_str().unwrap(),
            "--seal",
            "approval-ec",
            "--authorization",
            &authorization,
            "-o",
            sealed_path.to_str().unwrap(),
        ],
    );
    assert!(sign.status.success(), "{}", both(&sign));
    let sealed = std::fs::read(&sealed_path).unwrap();
    let records = server.audit().await;
    let stamped = *of_kind(&records, eseal_audit::EventKind::DocumentSealed)
        .first()
        .expect("a document_sealed record");
    let (table, report) = verify(&server, dir.path(), "clean.pdf", &sealed, 0);
    let row = seal1_row(&table);
    assert!(
        row.contains("TOTAL-PASSED") && row.contains(&format!("#{}", stamped.sequence)),
        "{row}"
    );
    assert!(table.contains("verdict: PASSED"), "{table}");
    assert_eq!(report["verdict"], "passed", "{report}");
    assert_eq!(report["signatures"][0]["indication"], "TOTAL-PASSED", "{report}");
    assert_eq!(
        report["signatures"][0]["stamping_record"]["audit_sequence"], stamped.sequence,
        "{report}"
    );
    assert_eq!(report["unrecorded_signatures"], serde_json::json!([]), "{report}");
    let required =
        eseal(&server, dir.path(), &["verify", "--require-record", sealed_path.to_str().unwrap()]);
    assert_eq!(required.status.code(), Some(0), "{}", both(&required));

    // A self-made certificate copying the seal's subject: INDETERMINATE
    // NO_CERTIFICATE_CHAIN_FOUND, exit 6, no stamping record.
    let (table, report) =
        verify(&server, dir.path(), "impostor.pdf", &sealed_by_impostor(dir.path()), 6);
    let row = seal1_row(&table);
    assert!(row.contains("INDETERMINATE") && row.contains("NO_CERTIFICATE_CHAIN_FOUND"), "{row}");
    assert!(table.contains("not trusted: the chain does not lead to a trusted root"), "{table}");
    assert!(
        table.contains("no stamping record of this service: Seal1")
            && table.contains("verdict: INDETERMINATE"),
        "{table}"
    );
    assert_eq!(report["verdict"], "indeterminate", "{report}");
    assert_eq!(report["signatures"][0]["sub_indication"], "NO_CERTIFICATE_CHAIN_FOUND", "{report}");
    assert_eq!(report["signatures"][0]["stamping_record"], serde_json::Value::Null, "{report}");
    assert_eq!(report["unrecorded_signatures"], serde_json::json!(["Seal1"]), "{report}");

    // An expired seal certificate, no timestamp: INDETERMINATE OUT_OF_BOUNDS_NO_POE, exit 6.
    let (table, report) =
        verify(&server, dir.path(), "expired.pdf", &sealed_with_expired_certificate(), 6);
    assert!(seal1_row(&table).contains("OUT_OF_BOUNDS_NO_POE"), "{table}");
    assert_eq!(report["signatures"][0]["sub_indication"], "OUT_OF_BOUNDS_NO_POE", "{report}");

    // An altered byte: TOTAL-FAILED HASH_FAILURE, exit 1.
    let mut altered = sealed.clone();
    alter_a_signed_byte(&mut altered);
    let (table, report) = verify(&server, dir.path(), "altered.pdf", &altered, 1);
    assert!(
        seal1_row(&table).contains("TOTAL-FAILED") && seal1_row(&table).contains("HASH_FAILURE"),
        "{table}"
    );
    assert!(table.contains("verdict: FAILED"), "{table}");
    assert_eq!(report["verdict"], "failed", "{report}");

    // A corrupted signature value: TOTAL-FAILED SIG_CRYPTO_FAILURE, exit 1.
    let mut corrupted = sealed.clone();
    corrupt_signature_value(&mut corrupted, "Seal1");
    let (_, report) = verify(&server, dir.path(), "corrupted.pdf", &corrupted, 1);
    assert_eq!(report["signatures"][0]["sub_indication"], "SIG_CRYPTO_FAILURE", "{report}");

    // A disallowed change after signing: the seal still TOTAL-PASSED, the document changed
    // after signing, exit 5; the change is listed under the signature.
    let (table, report) =
        verify(&server, dir.path(), "changed.pdf", &rewrite_page_content(&sealed), 5);
    assert!(
        seal1_row(&table).contains("TOTAL-PASSED") && seal1_row(&table).contains("(MODIFIED)"),
        "{table}"
    );
    assert!(
        table.contains("later change, NOT ALLOWED: object ") && table.contains("(page): "),
        "{table}"
    );
    // A visual change: its page and rectangle in the table and in --json.
    assert!(
        table.lines().any(|l| l.contains("NOT ALLOWED") && l.contains("covers page 1 at [")),
        "{table}"
    );
    let changes = report["signatures"][0]["later_changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["visual"]["page"] == 1
            && c["visual"]["rect"].as_array().is_some_and(|r| r.len() == 4)),
        "{report}"
    );
    assert!(table.contains("verdict: CHANGED AFTER SIGNING"), "{table}");
    assert_eq!(report["verdict"], "changed_after_signing", "{report}");
    assert_eq!(
        report["signatures"][0]["stamping_record"]["audit_sequence"], stamped.sequence,
        "the signed revision is the service's: {report}"
    );

    // The sample seal's own key used outside the service: trusted and TOTAL-PASSED (exit 0),
    // but no stamping record; --require-record makes that exit 7.
    let ec = common::Seal::ec();
    let outside = dir.path().join("outside.pdf");
    std::fs::write(&outside, seal_with(&ec.chain, &ec.signer, now() - 60)).unwrap();
    let plain = eseal(&server, dir.path(), &["verify", outside.to_str().unwrap()]);
    assert_eq!(plain.status.code(), Some(0), "{}", both(&plain));
    assert!(
        text(&plain.stdout).contains("no stamping record of this service: Seal1"),
        "{}",
        both(&plain)
    );
    let required =
        eseal(&server, dir.path(), &["verify", "--require-record", outside.to_str().unwrap()]);
    assert_eq!(required.status.code(), Some(7), "{}", both(&required));
    assert_eq!(
        text(&required.stderr).trim(),
        "error: no stamping record of this service for Seal1"
    );
}

/// `eseal verify --offline`: no server at all (ESEAL_SERVER points nowhere); several files on
/// two threads, each file's verdict, the worst one as the exit code, --quiet and --json.
#[test]
fn offline_verification_of_several_documents_needs_no_server() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(keys(), dir.path().join("keys-sample")).unwrap();
    let ec = common::Seal::ec();
    let sealed = seal_with(&ec.chain, &ec.signer, now() - 60);
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };
    let good: Vec<String> = (0..5).map(|i| write(&format!("good-{i}.pdf"), &sealed)).collect();
    let mut altered = sealed.clone();
    alter_a_signed_byte(&mut altered);
    let altered = write("altered.pdf", &altered);
    let changed = write("changed.pdf", &rewrite_page_content(&sealed));
    let impostor = write("impostor.pdf", &sealed_by_impostor(dir.path()));
    let not_pdf = write("not-a.pdf", b"hello");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_eseal"))
            .args(args)
            .env("ESEAL_SERVER", "https://localhost:1")
            .env("ESEAL_LOG", "warn")
            .current_dir(dir.path())
            .output()
            .expect("run eseal")
    };
    let with = |extra: &[&str], files: &[&String]| {
        let mut args = vec!["verify", "--offline", "--jobs", "2"];
        args.extend_from_slice(extra);
        args.extend(files.iter().map(|f| f.as_str()));
        run(&args)
    };

    // All good: exit 0, one table per file, the record column says offline, then a tally.
    let all_good: Vec<&String> = good.iter().collect();
    let out = with(&[], &all_good);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let table = text(&out.stdout);
    assert_eq!(table.matches("verdict: PASSED").count(), 5, "{table}");
    assert!(
        seal1_row(&table).contains("TOTAL-PASSED") && seal1_row(&table).contains("offline"),
        "{table}"
    );
    assert!(
        table.contains(
            "5 document(s): 5 passed, 0 failed, 0 changed after signing, 0 indeterminate"
        ),
        "{table}"
    );

    // The worst verdict wins: indeterminate (6) < changed (5) < failed (1).
    assert_eq!(with(&["--quiet"], &[&good[0], &impostor]).status.code(), Some(6));
    assert_eq!(with(&["--quiet"], &[&impostor, &changed, &good[1]]).status.code(), Some(5));
    let out = with(&["--quiet"], &[&changed, &good[0], &altered, &impostor, &not_pdf]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let quiet = text(&out.stdout);
    assert!(!quiet.contains("good-0.pdf"), "--quiet names only what does not pass: {quiet}");
    for (file, verdict) in
        [(&changed, "CHANGED AFTER SIGNING"), (&altered, "FAILED"), (&impostor, "INDETERMINATE")]
    {
        assert!(
            quiet.lines().any(|l| l.starts_with(file.as_str()) && l.contains(verdict)),
            "{file}: {quiet}"
        );
    }
    assert!(
        quiet.lines().any(|l| l.starts_with(not_pdf.as_str())
            && l.contains("FAILED")
            && l.contains("cannot be verified")),
        "{quiet}"
    );
    assert!(
        quiet.contains(
            "5 document(s): 1 passed, 2 failed, 1 changed after signing, 1 indeterminate"
        ),
        "{quiet}"
    );

    // --json: one object per line, in the order given, with the file and no record match.
    let out = with(&["--json"], &[&altered, &good[2]]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let lines: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{}", both(&out));
    assert_eq!(
        (lines[0]["file"].as_str(), lines[0]["verdict"].as_str()),
        (Some(altered.as_str()), Some("failed"))
    );
    assert_eq!(lines[0]["signatures"][0]["sub_indication"], "HASH_FAILURE", "{}", lines[0]);
    assert_eq!(
        (lines[1]["file"].as_str(), lines[1]["verdict"].as_str()),
        (Some(good[2].as_str()), Some("passed"))
    );
    assert!(
        lines[1].get("unrecorded_signatures").is_none()
            && lines[1]["signatures"][0].get("stamping_record").is_none(),
        "offline: no record match: {}",
        lines[1]
    );

    // --trust elsewhere: the sample seal is no longer trusted; a server-only flag is refused.
    let other_root = dir.path().join("other-root.pem");
    std::fs::copy(keys().join("tls-ca.pem"), &other_root).unwrap();
    let out = with(&["--trust", other_root.to_str().unwrap()], &[&good[0]]);
    assert_eq!(out.status.code(), Some(6), "{}", both(&out));
    assert!(text(&out.stdout).contains("NO_CERTIFICATE_CHAIN_FOUND"), "{}", both(&out));
    let out = run(&["verify", "--offline", "--require-record", &good[0]]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
}
