//! What the service and the key commands leave on disk, and the audit log's key kept like the
//! seal keys: the store's folder 0700 and its database, WAL, shared-memory and checkpoint
//! witness files 0600 whatever the umask; KEK and key files 0600; a server whose log key is an
//! encrypted key file signs checkpoints that its published verifier key accepts, and a wrong
//! KEK stops it at start with a message naming the key.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use eseal_service::api::proto::GetCheckpointRequest;
use eseal_service::api::proto::audit_service_client::AuditServiceClient;

use common::service::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args(args)
        .env("ESEAL_LOG", "warn")
        .output()
        .expect("run eseal")
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `eseal serve --config FILE` started under umask 000; returns the child and its port (read
/// from the line it prints once listening).
fn serve_with_open_umask(config: &Path) -> (std::process::Child, u16) {
    let mut child = Command::new("sh")
        .args([
            "-c",
            "umask 000 && exec \"$0\" serve --config \"$1\"",
            env!("CARGO_BIN_EXE_eseal"),
            config.to_str().unwrap(),
        ])
        .env("ESEAL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start eseal serve");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // The rest is read until the process ends: a closed pipe would fail its next line.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let port = line
        .split_whitespace()
        .find_map(|word| word.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, port)
}

fn stop(mut child: std::process::Child) {
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success(), "eseal serve stops cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_files_are_owner_only_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data/store");
    let mut config = dev_config(&data);
    config.store.sqlite_path = data.join("eseal.db");
    let file = dir.path().join("eseal.toml");
    std::fs::write(&file, config_toml(&config)).unwrap();

    let (child, port) = serve_with_open_umask(&file);
    wait_serving(port, std::time::Duration::from_secs(30)).await;
    // A grant and a checkpoint: the WAL holds writes, the witness is written.
    let mut custodian =
        eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient::new(
            connect(port, Some(&ClientIdentity::custodian())).await,
        );
    grant(&mut custodian, grant_request("approval-ec", "approval-system", "CASE-MODE-1")).await;
    let mut audit =
        AuditServiceClient::new(connect(port, Some(&ClientIdentity::archivist())).await);
    audit.get_checkpoint(GetCheckpointRequest { sign_now: true }).await.unwrap();
    assert_eq!(mode(&data), 0o700, "the store's folder");
    for name in ["eseal.db", "eseal.db-wal", "eseal.db-shm", "eseal.checkpoint"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    stop(child);

    // Files left wider by something else are tightened at the next start; an existing folder
    // is left as it is (it may be shared on purpose).
    std::fs::set_permissions(data.join("eseal.db"), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (child, port) = serve_with_open_umask(&file);
    wait_serving(port, std::time::Duration::from_secs(30)).await;
    assert_eq!(mode(&data.join("eseal.db")), 0o600);
    assert_eq!(mode(&data), 0o755);
    stop(child);
}

#[test]
fn kek_and_key_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    let out = run(&["keys", "generate-kek", "-o", kek.to_str().unwrap()]);
    assert!(out.status.success(), "{}", both(&out));
    let written = std::fs::read_to_string(&kek).unwrap();
    let hex = written.trim();
    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{written:?}");
    let id = eseal_service::keys::Kek::parse(hex.as_bytes(), "kek").unwrap().id_hex();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("KEK {id} written to {}", kek.display())
    );
    assert_eq!(mode(&kek), 0o600);
    // Never over an existing file.
    let again = run(&["keys", "generate-kek", "-o", kek.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{}", both(&again));
    assert_eq!(std::fs::read_to_string(&kek).unwrap(), written);

    let encrypted = dir.path().join("approval.key.enc");
    let seal_key = keys().join("seal-approval-ec.pk8");
    let out = run(&[
        "keys",
        "encrypt",
        seal_key.to_str().unwrap(),
        "-o",
        encrypted.to_str().unwrap(),
        "--kek-file",
        kek.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(mode(&encrypted), 0o600);

    // rotate-kek with both KEKs from environment variables: the file re-sealed, still 0600.
    let new_kek = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";
    let rotate = Command::new(env!("CARGO_BIN_EXE_eseal"))
        .args([
            "keys",
            "rotate-kek",
            "--directory",
            dir.path().to_str().unwrap(),
            "--old-kek-env",
            "TEST_OLD_KEK",
            "--new-kek-env",
            "TEST_NEW_KEK",
        ])
        .env("TEST_OLD_KEK", hex)
        .env("TEST_NEW_KEK", new_kek)
        .env("ESEAL_LOG", "warn")
        .output()
        .unwrap();
    assert!(rotate.status.success(), "{}", both(&rotate));
    assert!(
        String::from_utf8_lossy(&rotate.stdout).contains("re-sealed approval.key.enc"),
        "{}",
        both(&rotate)
    );
    let new_id = eseal_service::keys::Kek::parse(new_kek.as_bytes(), "new").unwrap().id_hex();
    assert_eq!(
        eseal_service::keys::envelope::kek_id_of(&std::fs::read(&encrypted).unwrap()),
        Some(new_id)
    );
    assert_eq!(mode(&encrypted), 0o600);
}

/// A key folder with the sample seal keys, a new KEK, and the sample log key encrypted under
/// it as `audit-log.key` by `eseal keys encrypt`.
fn encrypted_log_key(dir: &Path) -> (PathBuf, PathBuf) {
    let folder = dir.join("keys");
    std::fs::create_dir(&folder).unwrap();
    for name in ["seal-approval-ec.pk8", "seal-housing-rsa.pk8"] {
        std::fs::copy(keys().join(name), folder.join(name)).unwrap();
    }
    let kek = dir.join("kek");
    assert!(run(&["keys", "generate-kek", "-o", kek.to_str().unwrap()]).status.success());
    let plaintext = keys().join("audit-log.pk8");
    let out = run(&[
        "keys",
        "encrypt",
        plaintext.to_str().unwrap(),
        "-o",
        folder.join("audit-log.key").to_str().unwrap(),
        "--kek-file",
        kek.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "keys encrypt of the Ed25519 log key: {}", both(&out));
    assert_eq!(mode(&folder.join("audit-log.key")), 0o600);
    assert!(eseal_service::keys::envelope::is_encrypted(
        &std::fs::read(folder.join("audit-log.key")).unwrap()
    ));
    (folder, kek)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_log_key_signs_checkpoints_its_verifier_key_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (folder, kek) = encrypted_log_key(dir.path());
    // `audit log-key` opens it with the KEK, and gives the published verifier key.
    let encrypted = folder.join("audit-log.key");
    let out = run(&[
        "audit",
        "log-key",
        encrypted.to_str().unwrap(),
        "--kek-file",
        kek.to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), vkey(), "{}", both(&out));
    let out = run(&["audit", "log-key", encrypted.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        both(&out).contains("is an encrypted key file: give its KEK with --kek-file or --kek-env"),
        "{}",
        both(&out)
    );

    let (folder_, kek_) = (folder.clone(), kek.clone());
    let mut server = TestServer::start_with(move |c| {
        c.keys.directory = folder_;
        c.keys.kek_file = Some(kek_);
        c.audit.log_key = None;
        c.audit.log_key_reference = Some("audit-log.key".into());
    })
    .await;
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    grant(&mut custodian, grant_request("approval-ec", "approval-system", "CASE-LOGKEY-1")).await;
    let mut audit =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::archivist())).await);
    let checkpoint =
        audit.get_checkpoint(GetCheckpointRequest { sign_now: true }).await.unwrap().into_inner();
    assert!(checkpoint.note.starts_with("eseal.local/audit\n"), "{}", checkpoint.note);
    let port = server.address.port();
    let verify = eseal(port, &["audit", "verify", "--log-key", &vkey()]);
    assert!(
        verify.status.success() && text(&verify).contains("the log verifies"),
        "{}",
        text(&verify)
    );
    server.stop().await;
    let offline =
        eseal(0, &["audit", "verify", "--db", server.db.to_str().unwrap(), "--log-key", &vkey()]);
    assert!(offline.status.success(), "{}", text(&offline));

    // Another KEK: the service does not start, and says which key and which KEK.
    let other = dir.path().join("other-kek");
    assert!(run(&["keys", "generate-kek", "-o", other.to_str().unwrap()]).status.success());
    let mut config = dev_config(&dir.path().join("second"));
    config.keys.directory = folder.clone();
    config.keys.kek_file = Some(other);
    config.audit.log_key = None;
    config.audit.log_key_reference = Some("audit-log.key".into());
    let error = eseal_service::server::start(config.clone())
        .await
        .err()
        .expect("a wrong KEK stops the start")
        .to_string();
    assert!(error.starts_with("audit log key (audit.log_key_reference = audit-log.key): key audit-log.key is sealed under KEK "), "{error}");
    assert!(error.contains("wrong keys.kek_file"), "{error}");

    // A plaintext file named as the reference outside development: refused like a seal key.
    std::fs::copy(keys().join("audit-log.pk8"), folder.join("audit-log.pk8")).unwrap();
    config.keys.kek_file = Some(kek);
    config.development = false;
    config.seed_seals.clear();
    config.audit.log_key_reference = Some("audit-log.pk8".into());
    let error =
        eseal_service::server::start(config.clone()).await.err().expect("refused").to_string();
    assert!(
        error.contains("audit-log.pk8 is a plaintext PKCS#8 file")
            && error.contains("eseal keys encrypt"),
        "{error}"
    );
    // Both ways at once, or neither: a configuration error.
    config.audit.log_key = Some(keys().join("audit-log.pk8"));
    let error = eseal_service::server::start(config).await.err().expect("refused").to_string();
    assert!(
        error.contains("exactly one of log_key") && error.contains("log_key_reference"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_documents_are_owner_only() {
    use eseal_service::api::proto::SignDocumentRequest;
    use eseal_service::api::proto::sign_document_request::Part;
    let spool = tempfile::tempdir().unwrap();
    let spool_dir = spool.path().to_path_buf();
    let server = TestServer::start_with(move |c| {
        c.server.spool_threshold_bytes = 1024;
        c.server.spool_directory = Some(spool_dir);
    })
    .await;
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let authorization =
        grant(&mut custodian, grant_request("approval-ec", "approval-system", "CASE-SPOOL-1"))
            .await
            .id;
    // An upload held open after its first 64 KiB: spooled, not finished.
    let document = corpus_bytes("13");
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    sender
        .send(SignDocumentRequest {
            part: Some(Part::Header(header(
                "approval-ec",
                &authorization,
                "spool-1",
                "CASE-SPOOL-1",
            ))),
        })
        .await
        .unwrap();
    sender
        .send(SignDocumentRequest { part: Some(Part::Chunk(document[..64 * 1024].to_vec())) })
        .await
        .unwrap();
    let mut signing = server.signing(&ClientIdentity::department()).await;
    let call = tokio::spawn(async move {
        signing.sign_document(tokio_stream::wrappers::ReceiverStream::new(receiver)).await.map(drop)
    });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let file = loop {
        if let Some(entry) = std::fs::read_dir(spool.path()).unwrap().next() {
            break entry.unwrap().path();
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing spooled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    drop(sender);
    let _ = call.await;
}
