//! The README's quickstart through the `eseal` binary against a running server: grant, sign,
//! verify (which exercises VerificationService and its audit-record lookup), a replayed sign,
//! and a refusal printed as one line with a non-zero exit code.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::service::*;

fn eseal(server: &TestServer, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(args)
        .env("ESEAL_SERVER", format!("https://localhost:{}", server.address.port()))
        .env("ESEAL_LOG", "warn")
        .current_dir(cwd)
        .output()
        .expect("run eseal")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_grant_sign_verify_through_the_command_line() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let input = common::corpus("13");
    let input = input.to_str().unwrap();
    // The binary finds keys-sample/ from the source tree when the folder has none.
    let grant = eseal(&server, dir.path(), &["grant", "--seal", "approval-ec", "--to", "approval-system", "--case", "CASE-CLI-1"]);
    assert!(grant.status.success(), "grant: {}", text(&grant.stderr));
    let authorization = text(&grant.stdout).trim().to_string();
    assert!(authorization.starts_with("auth-") && !authorization.contains(char::is_whitespace), "{authorization:?}");

    let sealed = dir.path().join("sealed.pdf");
    let sign = eseal(&server, dir.path(), &["sign", input, "--seal", "approval-ec", "--authorization", &authorization, "--rect", "20,20,40,40", "-o", sealed.to_str().unwrap()]);
    assert!(sign.status.success(), "sign: {}", text(&sign.stderr));
    assert!(text(&sign.stdout).contains("audit record #"), "{}", text(&sign.stdout));
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(bytes.starts_with(&std::fs::read(input).unwrap()), "the original bytes come back first");
    // Written from the bytes sent plus the update alone: the outside validators accept it.
    let (valid, total, pdfsig_text) = common::pdfsig(&sealed);
    assert!(valid.last() == Some(&true) && total, "pdfsig does not validate the seal:\n{pdfsig_text}");
    let (verdicts, pyhanko_text) = common::pyhanko_validate(&sealed, true);
    let ours = verdicts.last().unwrap_or_else(|| panic!("pyHanko reports no signature:\n{pyhanko_text}"));
    assert!(ours.intact() && ours.trusted() && ours.untouched(), "pyHanko: {}\n{pyhanko_text}", ours.line);

    let verify = eseal(&server, dir.path(), &["verify", sealed.to_str().unwrap()]);
    let table = text(&verify.stdout);
    assert!(verify.status.success(), "verify: {table}{}", text(&verify.stderr));
    let row = table.lines().find(|l| l.starts_with("Seal1")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("yes    yes    yes") && row.contains("entire_file") && row.contains('#'), "{row}");
    let json = eseal(&server, dir.path(), &["verify", "--json", sealed.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("verify --json prints JSON");
    assert_eq!(report["signatures"][0]["intact"], true);
    assert_eq!(report["signatures"][0]["trusted"], true);

    // The same command again, downloading the whole sealed document this time (the first
    // downloaded only the update): replayed, byte-identical.
    let again = dir.path().join("again.pdf");
    let replay = eseal(
        &server,
        dir.path(),
        &["sign", input, "--seal", "approval-ec", "--authorization", &authorization, "--rect", "20,20,40,40", "--whole-document", "-o", again.to_str().unwrap()],
    );
    assert!(replay.status.success() && text(&replay.stdout).contains("replayed"), "{}", text(&replay.stderr));
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // Another document with the used authorization: one line, the status, a non-zero exit.
    let other = common::corpus("01");
    let refused = eseal(&server, dir.path(), &["sign", other.to_str().unwrap(), "--seal", "approval-ec", "--authorization", &authorization, "-o", dir.path().join("x.pdf").to_str().unwrap()]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: FAILED_PRECONDITION: ") && stderr.contains("already used"), "{stderr}");
    assert!(!dir.path().join("x.pdf").exists());

    // Seal administration: list shows both sample seals; suspend then resume.
    let list = eseal(&server, dir.path(), &["seal", "list", "--json"]);
    let seals: serde_json::Value = serde_json::from_slice(&list.stdout).expect("seal list --json prints JSON");
    assert_eq!(seals.as_array().map(Vec::len), Some(2));
    let suspend = eseal(&server, dir.path(), &["seal", "suspend", "approval-ec", "--reason", "stocktaking"]);
    assert!(suspend.status.success() && text(&suspend.stdout).contains("suspended"), "{}", text(&suspend.stderr));
    let resume = eseal(&server, dir.path(), &["seal", "resume", "approval-ec"]);
    assert!(resume.status.success() && text(&resume.stdout).contains("active"), "{}", text(&resume.stderr));
}
