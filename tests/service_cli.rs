//! The `eseal` binary against a running server, command by command: the README's quickstart
//! (grant, sign, verify, a replayed sign, a refusal printed as one line with a non-zero exit
//! code), seal administration (register, show, suspend, resume, revoke), grant's options,
//! verify's failure exit, health (SERVING, NOT_SERVING, unreachable), the audit commands the
//! other suites do not run, and what the client commands and serve say when ./keys-sample is
//! not where they run.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::service::*;

fn eseal(server: &TestServer, cwd: &Path, args: &[&str]) -> Output {
    eseal_in(server.address.port(), cwd, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A working folder holding `keys-sample` (a link to the repository's): the client commands'
/// default identities are read from there, as when run from the source tree.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(keys(), dir.path().join("keys-sample")).unwrap();
    dir
}

/// stdout and stderr of a command, for failure messages.
fn both(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_grant_sign_verify_through_the_command_line() {
    let server = TestServer::start().await;
    let dir = workdir();
    let input = common::corpus("13");
    let input = input.to_str().unwrap();
    let grant = eseal(
        &server,
        dir.path(),
        &["grant", "--seal", "approval-ec", "--to", "approval-system", "--case", "CASE-CLI-1"],
    );
    assert!(grant.status.success(), "grant: {}", text(&grant.stderr));
    let authorization = text(&grant.stdout).trim().to_string();
    assert!(
        authorization.starts_with("auth-") && !authorization.contains(char::is_whitespace),
        "{authorization:?}"
    );

    let sealed = dir.path().join("sealed.pdf");
    let sign = eseal(
        &server,
        dir.path(),
        &[
            "sign",
            input,
            "--seal",
            "approval-ec",
            "--authorization",
            &authorization,
            "--rect",
            "20,20,40,40",
            "-o",
            sealed.to_str().unwrap(),
        ],
    );
    assert!(sign.status.success(), "sign: {}", text(&sign.stderr));
    assert!(text(&sign.stdout).contains("audit record #"), "{}", text(&sign.stdout));
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(
        bytes.starts_with(&std::fs::read(input).unwrap()),
        "the original bytes come back first"
    );
    // Written from the bytes sent plus the update alone: the outside validators accept it.
    let (valid, total, pdfsig_text) = common::pdfsig(&sealed);
    assert!(
        valid.last() == Some(&true) && total,
        "pdfsig does not validate the seal:\n{pdfsig_text}"
    );
    let (verdicts, pyhanko_text) = common::pyhanko_validate(&sealed, true);
    let ours =
        verdicts.last().unwrap_or_else(|| panic!("pyHanko reports no signature:\n{pyhanko_text}"));
    assert!(
        ours.intact() && ours.trusted() && ours.untouched(),
        "pyHanko: {}\n{pyhanko_text}",
        ours.line
    );

    let verify = eseal(&server, dir.path(), &["verify", sealed.to_str().unwrap()]);
    let table = text(&verify.stdout);
    assert!(verify.status.success(), "verify: {table}{}", text(&verify.stderr));
    let row = table.lines().find(|l| l.starts_with("Seal1")).unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("yes    yes    yes") && row.contains("entire_file") && row.contains('#'),
        "{row}"
    );
    let json = eseal(&server, dir.path(), &["verify", "--json", sealed.to_str().unwrap()]);
    let report: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("verify --json prints JSON");
    assert_eq!(report["signatures"][0]["intact"], true);
    assert_eq!(report["signatures"][0]["trusted"], true);

    // The same command again, downloading the whole sealed document this time (the first
    // downloaded only the update): replayed, byte-identical.
    let again = dir.path().join("again.pdf");
    let replay = eseal(
        &server,
        dir.path(),
        &[
            "sign",
            input,
            "--seal",
            "approval-ec",
            "--authorization",
            &authorization,
            "--rect",
            "20,20,40,40",
            "--whole-document",
            "-o",
            again.to_str().unwrap(),
        ],
    );
    assert!(
        replay.status.success() && text(&replay.stdout).contains("replayed"),
        "{}",
        text(&replay.stderr)
    );
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // Another document with the used authorization: one line, the status, a non-zero exit.
    let other = common::corpus("01");
    let refused = eseal(
        &server,
        dir.path(),
        &[
            "sign",
            other.to_str().unwrap(),
            "--seal",
            "approval-ec",
            "--authorization",
            &authorization,
            "-o",
            dir.path().join("x.pdf").to_str().unwrap(),
        ],
    );
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: FAILED_PRECONDITION: ") && stderr.contains("already used"),
        "{stderr}"
    );
    assert!(!dir.path().join("x.pdf").exists());

    // Seal administration: list shows both sample seals; suspend then resume.
    let list = eseal(&server, dir.path(), &["seal", "list", "--json"]);
    let seals: serde_json::Value =
        serde_json::from_slice(&list.stdout).expect("seal list --json prints JSON");
    assert_eq!(seals.as_array().map(Vec::len), Some(2));
    let suspend =
        eseal(&server, dir.path(), &["seal", "suspend", "approval-ec", "--reason", "stocktaking"]);
    assert!(
        suspend.status.success() && text(&suspend.stdout).contains("suspended"),
        "{}",
        text(&suspend.stderr)
    );
    let resume = eseal(&server, dir.path(), &["seal", "resume", "approval-ec"]);
    assert!(
        resume.status.success() && text(&resume.stdout).contains("active"),
        "{}",
        text(&resume.stderr)
    );
}

/// A new seal key (PKCS#8 DER) and its chain from the development seal CA, in `folder`.
fn new_seal_key(folder: &Path, name: &str) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(folder.join(name), key.serialize_der()).unwrap();
    let not_after = std::time::SystemTime::now() + 365 * DAY;
    let chain = common::keys::seal_chain_for(
        &rcgen::PublicKeyData::subject_public_key_info(&key),
        "命令行测试专用章",
        common::keys::seal_usages(),
        not_after,
    );
    let path = folder.join(format!("{name}-chain.pem"));
    std::fs::write(&path, chain).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seal_register_show_and_revoke_through_the_command_line() {
    // The server's key folder: the sample seal keys and one new key.
    let keys_dir = tempfile::tempdir().unwrap();
    for name in ["seal-approval-ec.pk8", "seal-housing-rsa.pk8"] {
        std::fs::copy(keys().join(name), keys_dir.path().join(name)).unwrap();
    }
    let chain = new_seal_key(keys_dir.path(), "cli-seal.pk8");
    let folder = keys_dir.path().to_path_buf();
    let server = TestServer::start_with(move |c| c.keys.directory = folder).await;
    let dir = workdir();
    let image = keys().join("seal-approval-ec.png");
    let register = |key_flag: &str| {
        let args = [
            "seal",
            "register",
            "--id",
            "cli-seal",
            "--name",
            "示例市命令行测试专用章",
            "--organization",
            "示例市测试局",
            "--kind",
            "测试专用章",
            "--image",
            image.to_str().unwrap(),
            "--chain",
            chain.to_str().unwrap(),
            key_flag,
            "cli-seal.pk8",
            "--custodian",
            "custodian-wang",
            "--custodian",
            "dual-chen",
            "--json",
        ];
        eseal(&server, dir.path(), &args)
    };

    // `--key` is the client's own private key: given the reference, it is refused by clap
    // (exit 2, --key-reference missing), not a panic.
    let wrong = register("--key");
    assert_eq!(wrong.status.code(), Some(2), "{}", both(&wrong));
    assert!(text(&wrong.stderr).contains("--key-reference"), "{}", both(&wrong));

    let registered = register("--key-reference");
    assert!(registered.status.success(), "seal register: {}", both(&registered));
    let seal: serde_json::Value =
        serde_json::from_slice(&registered.stdout).expect("seal register --json prints JSON");
    assert_eq!(seal["id"], "cli-seal");
    assert_eq!(seal["state"], "active");
    assert_eq!(seal["key_reference"], "cli-seal.pk8");
    assert_eq!(seal["custodians"], serde_json::json!(["custodian-wang", "dual-chen"]));
    assert_eq!(seal["organization"], "示例市测试局");

    // show: one line of text, or JSON.
    let show = eseal(&server, dir.path(), &["seal", "show", "cli-seal"]);
    let line = text(&show.stdout);
    assert!(show.status.success(), "{}", both(&show));
    assert!(
        line.starts_with("cli-seal")
            && line.contains("active")
            && line.contains("示例市命令行测试专用章 (测试专用章)")
            && line.contains("custodians: custodian-wang, dual-chen"),
        "{line}"
    );
    let show_json = eseal(&server, dir.path(), &["seal", "show", "cli-seal", "--json"]);
    let shown: serde_json::Value =
        serde_json::from_slice(&show_json.stdout).expect("seal show --json prints JSON");
    assert_eq!(shown["certificate_sha256"], seal["certificate_sha256"]);
    let missing = eseal(&server, dir.path(), &["seal", "show", "no-such-seal"]);
    assert_eq!(missing.status.code(), Some(4), "{}", both(&missing));
    assert!(text(&missing.stderr).starts_with("error: NOT_FOUND: "), "{}", both(&missing));

    // The new seal works: a grant through the command line.
    let grant = eseal(
        &server,
        dir.path(),
        &["grant", "--seal", "cli-seal", "--to", "approval-system", "--case", "CASE-REG-1"],
    );
    assert!(grant.status.success(), "{}", both(&grant));

    // revoke: for good; then no grant, and no resume.
    let revoke = eseal(
        &server,
        dir.path(),
        &["seal", "revoke", "cli-seal", "--reason", "key compromise drill"],
    );
    assert!(
        revoke.status.success() && text(&revoke.stdout).contains("revoked"),
        "{}",
        both(&revoke)
    );
    let shown = eseal(&server, dir.path(), &["seal", "show", "cli-seal", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&shown.stdout).unwrap()["state"],
        "revoked"
    );
    let refused = eseal(
        &server,
        dir.path(),
        &["grant", "--seal", "cli-seal", "--to", "approval-system", "--case", "CASE-REG-2"],
    );
    assert_eq!(refused.status.code(), Some(4), "{}", both(&refused));
    assert!(
        text(&refused.stderr).starts_with("error: FAILED_PRECONDITION: "),
        "{}",
        both(&refused)
    );
    let resume = eseal(&server, dir.path(), &["seal", "resume", "cli-seal"]);
    assert_eq!(resume.status.code(), Some(4), "{}", both(&resume));
    let list = eseal(&server, dir.path(), &["seal", "list"]);
    let listed = text(&list.stdout);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(listed.lines().any(|l| l.starts_with("cli-seal") && l.contains("revoked")), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_options_bind_the_document_and_the_validity() {
    let server = TestServer::start().await;
    let dir = workdir();
    let bound = common::corpus("13");
    let other = common::corpus("01");
    let grant = eseal(
        &server,
        dir.path(),
        &[
            "grant",
            "--seal",
            "approval-ec",
            "--to",
            "approval-system",
            "--case",
            "CASE-OPT-1",
            "--document",
            bound.to_str().unwrap(),
            "--expires",
            "2h",
            "--json",
        ],
    );
    assert!(grant.status.success(), "{}", both(&grant));
    let authorization: serde_json::Value =
        serde_json::from_slice(&grant.stdout).expect("grant --json prints JSON");
    let digest: String =
        sha256(&std::fs::read(&bound).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(authorization["document_sha256"], digest);
    assert_eq!(
        authorization["expires_at"].as_i64().unwrap()
            - authorization["granted_at"].as_i64().unwrap(),
        7200
    );
    assert_eq!(authorization["state"], "active");
    assert_eq!(authorization["grantee"], "approval-system");
    assert_eq!(authorization["granted_by"], "custodian-wang");
    assert_eq!(authorization["case_number"], "CASE-OPT-1");
    let id = authorization["id"].as_str().unwrap();

    // Bound to the document: another one is refused, the bound one sealed.
    let out = dir.path().join("out.pdf");
    let sign = |document: &Path| {
        eseal(
            &server,
            dir.path(),
            &[
                "sign",
                document.to_str().unwrap(),
                "--seal",
                "approval-ec",
                "--authorization",
                id,
                "-o",
                out.to_str().unwrap(),
            ],
        )
    };
    let refused = sign(&other);
    assert_eq!(refused.status.code(), Some(4), "{}", both(&refused));
    assert!(!out.exists());
    let sealed = sign(&bound);
    assert!(sealed.status.success(), "{}", both(&sealed));

    // A default grant lasts the server's default (24 h); a validity beyond the server's
    // maximum (7 days) is refused; a malformed one never reaches the server.
    let default = eseal(
        &server,
        dir.path(),
        &[
            "grant",
            "--seal",
            "approval-ec",
            "--to",
            "approval-system",
            "--case",
            "CASE-OPT-2",
            "--json",
        ],
    );
    let default: serde_json::Value = serde_json::from_slice(&default.stdout).expect("JSON");
    assert_eq!(
        default["expires_at"].as_i64().unwrap() - default["granted_at"].as_i64().unwrap(),
        86_400
    );
    assert_eq!(default["document_sha256"], "");
    let too_long = eseal(
        &server,
        dir.path(),
        &[
            "grant",
            "--seal",
            "approval-ec",
            "--to",
            "approval-system",
            "--case",
            "CASE-OPT-3",
            "--expires",
            "8d",
        ],
    );
    assert_eq!(too_long.status.code(), Some(4), "{}", both(&too_long));
    assert!(text(&too_long.stderr).starts_with("error: INVALID_ARGUMENT: "), "{}", both(&too_long));
    let malformed = eseal(
        &server,
        dir.path(),
        &[
            "grant",
            "--seal",
            "approval-ec",
            "--to",
            "approval-system",
            "--case",
            "CASE-OPT-4",
            "--expires",
            "2 weeks",
        ],
    );
    assert_eq!(malformed.status.code(), Some(2), "{}", both(&malformed));
    assert!(
        text(&malformed.stderr).contains("is not a duration like 90s, 30m, 2h or 1d"),
        "{}",
        both(&malformed)
    );
    let missing = eseal(
        &server,
        dir.path(),
        &[
            "grant",
            "--seal",
            "approval-ec",
            "--to",
            "approval-system",
            "--case",
            "CASE-OPT-5",
            "--document",
            "/nonexistent.pdf",
        ],
    );
    assert_eq!(missing.status.code(), Some(2), "{}", both(&missing));
    assert!(text(&missing.stderr).contains("cannot read /nonexistent.pdf"), "{}", both(&missing));
    let grants = of_kind(&server.audit().await, eseal_audit::EventKind::AuthorizationGranted).len();
    assert_eq!(grants, 2, "the refused and malformed grants granted nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_exits_non_zero_on_a_tampered_document() {
    let server = TestServer::start().await;
    let dir = workdir();
    let input = common::corpus("13");
    let grant = eseal(
        &server,
        dir.path(),
        &["grant", "--seal", "approval-ec", "--to", "approval-system", "--case", "CASE-TAMPER-1"],
    );
    let authorization = text(&grant.stdout).trim().to_string();
    let sealed = dir.path().join("sealed.pdf");
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
            sealed.to_str().unwrap(),
        ],
    );
    assert!(sign.status.success(), "{}", both(&sign));
    let ok = eseal(&server, dir.path(), &["verify", sealed.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", both(&ok));

    // One byte of the signed original changed: in its header comment, so that the file still
    // reads as a PDF and only the signature's digest tells.
    let mut bytes = std::fs::read(&sealed).unwrap();
    let at = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(bytes[at], b'%', "a comment line follows the header");
    bytes[at + 1] ^= 0x01;
    let tampered = dir.path().join("tampered.pdf");
    std::fs::write(&tampered, &bytes).unwrap();
    let refused = eseal(&server, dir.path(), &["verify", tampered.to_str().unwrap()]);
    let table = text(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{}", both(&refused));
    assert!(table.contains("verdict: FAILED"), "{table}");
    let row = table.lines().find(|l| l.starts_with("Seal1")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" NO "), "the seal is reported broken: {row}");
    assert_eq!(text(&refused.stderr).trim(), "error: verification failed");
    let json = eseal(&server, dir.path(), &["verify", "--json", tampered.to_str().unwrap()]);
    assert_eq!(json.status.code(), Some(1), "{}", both(&json));
    let report: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("verify --json prints JSON");
    assert_eq!(report["signatures"][0]["intact"], false, "{report}");
}

/// Runs `eseal health` (with `extra` arguments) until its exit code is `code`.
async fn health_until(
    server: &TestServer,
    dir: &Path,
    extra: &[&str],
    code: i32,
    what: &str,
) -> Output {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let args: Vec<&str> = std::iter::once("health").chain(extra.iter().copied()).collect();
        let out = eseal(server, dir, &args);
        if out.status.code() == Some(code) {
            return out;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: eseal health {extra:?} still exits {:?}: {}",
            out.status.code(),
            both(&out)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving_not_serving_and_unreachable() {
    let key_folder = tempfile::tempdir().unwrap();
    for name in ["seal-approval-ec.pk8", "seal-housing-rsa.pk8"] {
        std::fs::copy(keys().join(name), key_folder.path().join(name)).unwrap();
    }
    let folder = key_folder.path().to_path_buf();
    let mut server = TestServer::start_with(move |c| c.keys.directory = folder).await;
    let dir = workdir();
    let serving = health_until(&server, dir.path(), &[], 0, "at start").await;
    assert_eq!(text(&serving.stdout), "server: SERVING\n");

    // A seal whose key is gone: that seal NOT_SERVING (exit 1), the node still SERVING.
    let seal = "eseal.seal.approval-ec";
    let key = key_folder.path().join("seal-approval-ec.pk8");
    std::fs::remove_file(&key).unwrap();
    let not_serving =
        health_until(&server, dir.path(), &["--service", seal], 1, "key removed").await;
    assert_eq!(text(&not_serving.stdout), format!("{seal}: NOT_SERVING\n"));
    assert_eq!(text(&not_serving.stderr).trim(), format!("error: {seal} is NOT_SERVING"));
    assert!(eseal(&server, dir.path(), &["health"]).status.success());
    std::fs::copy(keys().join("seal-approval-ec.pk8"), &key).unwrap();
    health_until(&server, dir.path(), &["--service", seal], 0, "key back").await;

    // The store fails (its audit log is gone): the node NOT_SERVING; repaired: SERVING.
    use sqlx::Executor;
    let mut db = {
        use sqlx::ConnectOptions;
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&server.db)
            .busy_timeout(std::time::Duration::from_secs(10))
            .connect()
            .await
            .unwrap()
    };
    db.execute("ALTER TABLE audit_log RENAME TO audit_log_away").await.unwrap();
    let down = health_until(&server, dir.path(), &[], 1, "store failing").await;
    assert_eq!(text(&down.stdout), "server: NOT_SERVING\n");
    assert_eq!(text(&down.stderr).trim(), "error: server is NOT_SERVING");
    db.execute("ALTER TABLE audit_log_away RENAME TO audit_log").await.unwrap();
    health_until(&server, dir.path(), &[], 0, "store repaired").await;

    // Stopped: nothing answers (exit 3).
    server.stop().await;
    let gone = eseal(&server, dir.path(), &["health"]);
    assert_eq!(gone.status.code(), Some(3), "{}", both(&gone));
    assert!(text(&gone.stderr).contains("cannot connect to"), "{}", both(&gone));

    // A listener that never completes the TLS handshake: given up after --timeout-ms.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let hung = Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(["health", "--timeout-ms", "300", "--server", &format!("https://localhost:{port}")])
        .env("ESEAL_LOG", "warn")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(hung.status.code(), Some(3), "{}", both(&hung));
    assert!(text(&hung.stderr).contains("no health answer within 300 ms"), "{}", both(&hung));
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_checkpoint_and_log_key_through_the_command_line() {
    let server = TestServer::start().await;
    let dir = workdir();
    let signed = eseal(&server, dir.path(), &["audit", "checkpoint", "--sign"]);
    assert!(signed.status.success(), "{}", both(&signed));
    let note = text(&signed.stdout);
    let mut lines = note.lines();
    assert_eq!(lines.next(), Some("eseal.local/audit"), "{note}");
    let size: u64 = lines.next().unwrap().parse().expect("the tree size");
    assert_eq!(
        size,
        server.audit().await.len() as u64 - 1,
        "the checkpoint covers the log before its own record: {note}"
    );
    assert!(note.contains("\n\n\u{2014} eseal.local/audit "), "one signature line: {note}");
    // Without --sign: the latest one, unchanged.
    let latest = eseal(&server, dir.path(), &["audit", "checkpoint"]);
    assert_eq!(text(&latest.stdout), note);

    // A second checkpoint; a proof against each size (--size picks an older one).
    let grant = eseal(
        &server,
        dir.path(),
        &["grant", "--seal", "approval-ec", "--to", "approval-system", "--case", "CASE-AUDIT-1"],
    );
    assert!(grant.status.success(), "{}", both(&grant));
    let second = text(&eseal(&server, dir.path(), &["audit", "checkpoint", "--sign"]).stdout);
    let second_size: u64 = second.lines().nth(1).unwrap().parse().unwrap();
    assert!(second_size > size, "{second}");
    for (extra, expected) in
        [(vec![], second_size), (vec!["--size".to_string(), size.to_string()], size)]
    {
        let proof = dir.path().join(format!("proof-{expected}.json"));
        let mut args = vec![
            "audit".to_string(),
            "prove".into(),
            "1".into(),
            "-o".into(),
            proof.display().to_string(),
        ];
        args.extend(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let prove = eseal(&server, dir.path(), &args);
        assert_eq!(
            text(&prove.stdout).trim(),
            format!(
                "proof of record 1 in the log of {expected} records written to {}",
                proof.display()
            ),
            "{}",
            both(&prove)
        );
        let check = eseal(
            &server,
            dir.path(),
            &["audit", "check-proof", proof.to_str().unwrap(), "--log-key", &vkey()],
        );
        assert!(check.status.success(), "{}", both(&check));
    }
    // verify --json: the report as JSON.
    let verify = eseal(&server, dir.path(), &["audit", "verify", "--json", "--log-key", &vkey()]);
    assert!(verify.status.success(), "{}", both(&verify));
    let report: serde_json::Value =
        serde_json::from_slice(&verify.stdout).expect("audit verify --json prints JSON");
    assert_eq!(report["records"].as_u64(), Some(server.audit().await.len() as u64), "{report}");
    assert_eq!(report["checkpoints_verified"].as_u64(), Some(2), "{report}");
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    let not_checkpointed = eseal(
        &server,
        dir.path(),
        &[
            "audit",
            "prove",
            "1",
            "--size",
            &(size + 1).to_string(),
            "-o",
            dir.path().join("x.json").to_str().unwrap(),
        ],
    );
    assert_eq!(
        not_checkpointed.status.code(),
        Some(4),
        "a size no checkpoint covers: {}",
        both(&not_checkpointed)
    );

    // The verifier key of the sample log key is the published one.
    let log_key = eseal(&server, dir.path(), &["audit", "log-key", "keys-sample/audit-log.pk8"]);
    assert!(log_key.status.success(), "{}", both(&log_key));
    assert_eq!(text(&log_key.stdout).trim(), vkey());
    let named = eseal(
        &server,
        dir.path(),
        &["audit", "log-key", "keys-sample/audit-log.pk8", "--name", "eseal.example/audit"],
    );
    // Another name: the same public key under it (the key id covers the name).
    let named = text(&named.stdout);
    let public_key = vkey().rsplit('+').next().unwrap().to_string();
    assert!(
        named.trim().starts_with("eseal.example/audit+")
            && named.trim().ends_with(&format!("+{public_key}")),
        "{named}"
    );
    let not_ed25519 =
        eseal(&server, dir.path(), &["audit", "log-key", "keys-sample/seal-approval-ec.pk8"]);
    assert_eq!(not_ed25519.status.code(), Some(2), "{}", both(&not_ed25519));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_sample_the_commands_say_what_is_missing() {
    let server = TestServer::start().await;
    let empty = tempfile::tempdir().unwrap();
    let port = server.address.port();
    let grant =
        ["grant", "--seal", "approval-ec", "--to", "approval-system", "--case", "CASE-NOKEYS-1"];
    let out = eseal(&server, empty.path(), &grant);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: --cert not given and its default keys-sample/client-custodian.pem does not exist (there is no ./keys-sample folder here): \
         pass --cert (or the environment variable ESEAL_CERT), or run from the source tree"
    );
    // Each default named in turn, then the command works with every file given.
    let sample = keys();
    let cert = sample.join("client-custodian.pem");
    let key = sample.join("client-custodian.key");
    let ca = sample.join("tls-ca.pem");
    let with_cert: Vec<&str> =
        grant.iter().copied().chain(["--cert", cert.to_str().unwrap()]).collect();
    let out = eseal(&server, empty.path(), &with_cert);
    assert!(
        text(&out.stderr).contains(
            "--key not given and its default keys-sample/client-custodian.key does not exist"
        ),
        "{}",
        both(&out)
    );
    let with_key: Vec<&str> =
        with_cert.iter().copied().chain(["--key", key.to_str().unwrap()]).collect();
    let out = eseal(&server, empty.path(), &with_key);
    assert!(
        text(&out.stderr)
            .contains("--ca not given and its default keys-sample/tls-ca.pem does not exist")
            && text(&out.stderr).contains("ESEAL_CA"),
        "{}",
        both(&out)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(&with_key)
        .env("ESEAL_CA", &ca)
        .env("ESEAL_SERVER", format!("https://localhost:{port}"))
        .env("ESEAL_LOG", "warn")
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert!(out.status.success() && text(&out.stdout).starts_with("auth-"), "{}", both(&out));
    // archive verify's trust anchors likewise.
    let bag = empty.path().join("bag");
    std::fs::create_dir(&bag).unwrap();
    let out = eseal(
        &server,
        empty.path(),
        &["archive", "verify", bag.to_str().unwrap(), "--log-key", &vkey()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        text(&out.stderr)
            .contains("--trust not given and its default keys-sample/root-ca.pem does not exist"),
        "{}",
        both(&out)
    );

    // serve: without a configuration, ./keys-sample is required, never looked for elsewhere.
    let serve = Command::new(env!("CARGO_BIN_EXE_eseal"))
        .arg("serve")
        .env_remove("ESEAL_CONFIG")
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(2), "{}", both(&serve));
    assert_eq!(
        text(&serve.stderr).trim(),
        "error: no configuration given and no ./keys-sample folder here: run from the source tree or pass --config (or ESEAL_CONFIG)"
    );
    assert!(!empty.path().join("eseal-data").exists(), "nothing was created");
}

#[test]
fn the_development_setup_refuses_to_listen_beyond_loopback() {
    // From a folder with keys-sample and no configuration: the development setup.
    let dir = workdir();
    for (variable, address, key) in [
        ("ESEAL__SERVER__LISTEN", "0.0.0.0:0", "server.listen"),
        ("ESEAL__SERVER__LISTEN", "[::]:0", "server.listen"),
        ("ESEAL__METRICS__LISTEN", "0.0.0.0:0", "metrics.listen"),
    ] {
        let serve = Command::new(env!("CARGO_BIN_EXE_eseal"))
            .arg("serve")
            .env_remove("ESEAL_CONFIG")
            .env("ESEAL__SERVER__LISTEN", "127.0.0.1:0")
            .env(variable, address)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = text(&serve.stderr);
        assert_eq!(serve.status.code(), Some(2), "{variable}={address}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: invalid configuration: {key} = {address}: without a configuration file"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains("listens only on a loopback address") && stderr.contains("--config"),
            "{stderr}"
        );
        assert!(
            !dir.path().join("eseal-data").exists(),
            "{variable}={address}: nothing was opened"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_options_place_and_describe_the_seal() {
    let server = TestServer::start().await;
    let dir = workdir();
    let input = common::corpus("13");
    let grant = eseal(
        &server,
        dir.path(),
        &["grant", "--seal", "approval-ec", "--to", "approval-system", "--case", "CASE-SIGN-OPT"],
    );
    let authorization = text(&grant.stdout).trim().to_string();
    let sealed = dir.path().join("sealed.pdf");
    let args = [
        "sign",
        input.to_str().unwrap(),
        "--seal",
        "approval-ec",
        "--authorization",
        &authorization,
        "--page",
        "1",
        "--unit",
        "pt",
        "--corner",
        "top-left",
        "--rect",
        "10,10,60,60",
        "--reason",
        "准予行政许可",
        "--location",
        "示例市政务服务中心",
        "--case",
        "CASE-SIGN-OPT",
        "--request-id",
        "cli-request-7",
        "-o",
        sealed.to_str().unwrap(),
    ];
    let sign = eseal(&server, dir.path(), &args);
    assert!(sign.status.success(), "{}", both(&sign));

    // The widget: on page 1 (595.3 x 841.9 pt, per pdfinfo), 60 pt square, 10 pt from the top-left corner.
    let original_length = std::fs::read(&input).unwrap().len();
    let bytes = std::fs::read(&sealed).unwrap();
    let update = String::from_utf8_lossy(&bytes[original_length..]).into_owned();
    let at = update.find("/Rect").expect("a widget /Rect in the update") + "/Rect".len();
    let numbers: Vec<f64> = update[at..update[at..].find(']').map(|end| at + end).unwrap()]
        .trim_start_matches([' ', '['])
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let expected = [10.0, 841.89 - 70.0, 70.0, 841.89 - 10.0];
    assert!(
        numbers.len() == 4 && numbers.iter().zip(expected).all(|(n, e)| (n - e).abs() < 0.01),
        "/Rect {numbers:?}, expected {expected:?}"
    );
    let pdfinfo = Command::new("pdfinfo")
        .args(["-f", "1", "-l", "1", "-box", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        text(&pdfinfo.stdout).contains("Page    1 MediaBox:      0.00     0.00   595.30   841.89"),
        "{}",
        text(&pdfinfo.stdout)
    );

    // /Reason and /Location as given, read back by the server's verifier.
    let json = eseal(&server, dir.path(), &["verify", "--json", sealed.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["signatures"][0]["reason"], "准予行政许可", "{report}");
    assert_eq!(report["signatures"][0]["location"], "示例市政务服务中心", "{report}");

    // The request id given is the one recorded; the same one again replays, another one is
    // refused (the authorization permits one stamping).
    let records = server.audit().await;
    let sealed_records = of_kind(&records, eseal_audit::EventKind::DocumentSealed);
    assert_eq!(sealed_records.len(), 1);
    assert_eq!(sealed_records[0].event.request_id.as_deref(), Some("cli-request-7"));
    assert_eq!(sealed_records[0].event.case_number.as_deref(), Some("CASE-SIGN-OPT"));
    let replay = eseal(&server, dir.path(), &args);
    assert!(
        replay.status.success() && text(&replay.stdout).contains("replayed"),
        "{}",
        both(&replay)
    );
    let other_id: Vec<&str> =
        args.iter().map(|a| if *a == "cli-request-7" { "cli-request-8" } else { a }).collect();
    let refused = eseal(&server, dir.path(), &other_id);
    assert_eq!(refused.status.code(), Some(4), "{}", both(&refused));

    // --tls-name: the name the server certificate must carry, instead of the host of --server.
    let port = server.address.port();
    let named = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_eseal"))
            .args([
                "seal",
                "list",
                "--server",
                &format!("https://127.0.0.1:{port}"),
                "--tls-name",
                name,
            ])
            .env("ESEAL_LOG", "warn")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let right = named("localhost");
    assert!(
        right.status.success() && text(&right.stdout).contains("approval-ec"),
        "{}",
        both(&right)
    );
    let wrong = named("other.example");
    assert_eq!(
        wrong.status.code(),
        Some(3),
        "a certificate not naming other.example is refused: {}",
        both(&wrong)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_with_every_identity_given_and_pregranted_authorizations() {
    let server = TestServer::start().await;
    // No keys-sample here: every file is named on the command line.
    let empty = tempfile::tempdir().unwrap();
    let sample = keys();
    let path = |name: &str| sample.join(name).display().to_string();
    let document = common::corpus("13").display().to_string();
    let args: Vec<String> = [
        "bench",
        "--document",
        &document,
        "--seal",
        "approval-ec",
        "--mode",
        "sign",
        "--pregrant",
        "6",
        "--duration",
        "10m",
        "--concurrency",
        "2",
        "--grantee",
        "approval-system",
        "--verify-every",
        "3",
        "--json",
        "--cert",
        &path("client-department.pem"),
        "--key",
        &path("client-department.key"),
        "--ca",
        &path("tls-ca.pem"),
        "--custodian-cert",
        &path("client-custodian.pem"),
        "--custodian-key",
        &path("client-custodian.key"),
        "--trust",
        &path("root-ca.pem"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let port = server.address.port();
    let cwd = empty.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_eseal"))
            .args(&args)
            .env("ESEAL_SERVER", format!("https://localhost:{port}"))
            .env("ESEAL_LOG", "warn")
            .current_dir(cwd)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", both(&output));
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", both(&output)));
    // The six pregranted authorizations end the run long before its duration.
    assert_eq!(report["completed"].as_u64(), Some(6), "{report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
    assert_eq!(report["verified"].as_u64(), Some(2), "{report}");
    assert_eq!(report["verify_failures"].as_u64(), Some(0), "{report}");
    let records = server.audit().await;
    assert_eq!(of_kind(&records, eseal_audit::EventKind::AuthorizationGranted).len(), 6);
    let sealed = of_kind(&records, eseal_audit::EventKind::DocumentSealed);
    assert_eq!(sealed.len(), 6);
    assert!(
        sealed.iter().all(|r| r.event.principal == "approval-system"),
        "stamped as the department given by --cert"
    );
}
