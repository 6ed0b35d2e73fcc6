//! The audit trail end to end: a running service signs checkpoints; `eseal audit verify`
//! recomputes the whole log from its records (through the server or offline from the SQLite
//! file) and checks every checkpoint with the log key given on the command line; proofs are
//! self-contained; and each way of tampering with the stored log is detected.

mod common;

use std::path::Path;
use std::process::Output;

use common::service::*;
use eseal_audit::{Checkpoint, LogSigner, LogVerifier};
use eseal_service::api::proto::audit_service_client::AuditServiceClient;
use eseal_service::api::proto::{GetCheckpointRequest, GetInclusionProofRequest};

/// Some history: grants, a stamping, a refusal; then a signed checkpoint.
async fn history(server: &TestServer) {
    let mut admin = server.admin(&ClientIdentity::custodian()).await;
    let mut signing = server.signing(&ClientIdentity::department()).await;
    let document = corpus_bytes("13");
    for i in 0..3 {
        let case = format!("AUDIT-{i}");
        let a = grant(&mut admin, grant_request("approval-ec", "approval-system", &case)).await;
        sign(
            &mut signing,
            header("approval-ec", &a.id, &format!("audit-req-{i}"), &case),
            &document,
        )
        .await
        .unwrap();
    }
    // A refusal is a record too.
    assert!(
        sign(&mut signing, header("approval-ec", "auth-missing", "audit-req-x", "X"), &document)
            .await
            .is_err()
    );
}

async fn checkpoint(server: &TestServer) -> eseal_service::api::proto::CheckpointResponse {
    let mut audit =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::archivist())).await);
    audit.get_checkpoint(GetCheckpointRequest { sign_now: true }).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_verifies_and_proofs_are_self_contained() {
    let server = TestServer::start().await;
    history(&server).await;
    let latest = checkpoint(&server).await;
    assert_eq!(latest.verifier_key, vkey());
    let verifier = LogVerifier::from_verifier_key(&vkey()).unwrap();
    let signed =
        verifier.verify_note(&latest.note).expect("the checkpoint is signed by the log key");
    assert_eq!(signed.size, latest.size);
    assert!(
        latest.size > 2 + 3 * 3,
        "seeds, 3 x (grant, consumed, sealed), a refusal: {}",
        latest.size
    );
    let port = server.address.port();

    // Through the server.
    let verify = eseal(port, &["audit", "verify", "--log-key", &vkey()]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("the log verifies"), "{}", text(&verify));
    // Offline, read-only, from the SQLite file.
    let offline = eseal(
        port,
        &["audit", "verify", "--db", server.db.to_str().unwrap(), "--log-key", &vkey()],
    );
    assert!(offline.status.success(), "{}", text(&offline));
    // Another log key: refused.
    let (other, _) = LogSigner::generate("eseal.local/audit").unwrap();
    let wrong = eseal(port, &["audit", "verify", "--log-key", &other.verifier_key()]);
    assert!(
        !wrong.status.success() && text(&wrong).contains("not signed by the log key"),
        "{}",
        text(&wrong)
    );

    // A proof file checks offline with the key, and fails with another key or when edited.
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("proof-5.json");
    let prove = eseal(port, &["audit", "prove", "5", "-o", proof.to_str().unwrap()]);
    assert!(prove.status.success(), "{}", text(&prove));
    let check =
        eseal(port, &["audit", "check-proof", proof.to_str().unwrap(), "--log-key", &vkey()]);
    assert!(check.status.success() && text(&check).contains("record 5"), "{}", text(&check));
    let check_other = eseal(
        port,
        &["audit", "check-proof", proof.to_str().unwrap(), "--log-key", &other.verifier_key()],
    );
    assert!(!check_other.status.success(), "{}", text(&check_other));
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    json["sequence"] = serde_json::json!(6);
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, json.to_string()).unwrap();
    let check_edited =
        eseal(port, &["audit", "check-proof", edited.to_str().unwrap(), "--log-key", &vkey()]);
    assert!(!check_edited.status.success(), "{}", text(&check_edited));

    // Proofs are given only against signed sizes.
    let mut audit =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::archivist())).await);
    let unsigned = audit
        .get_inclusion_proof(GetInclusionProofRequest { sequence: 1, tree_size: latest.size - 1 })
        .await;
    assert_eq!(unsigned.unwrap_err().code(), tonic::Code::FailedPrecondition);
    // Only archivists read the trail.
    let mut as_department =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::department())).await);
    let denied = as_department.get_checkpoint(GetCheckpointRequest { sign_now: false }).await;
    assert_eq!(denied.unwrap_err().code(), tonic::Code::PermissionDenied);
}

/// Runs `eseal audit verify --db` on a copy of the database changed by `tamper` (SQL).
async fn verify_tampered(db: &Path, dir: &Path, name: &str, tamper: &[String]) -> Output {
    let copy = dir.join(format!("{name}.db"));
    copy_database(db, &copy);
    // An insider with the database file is not held back by foreign keys.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&copy).foreign_keys(false);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    for statement in tamper {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{name}: {statement}: {e}"));
    }
    pool.close().await;
    eseal(0, &["audit", "verify", "--db", copy.to_str().unwrap(), "--log-key", &vkey()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tampering_of_the_stored_log_is_detected() {
    let mut server = TestServer::start().await;
    history(&server).await;
    let latest = checkpoint(&server).await;
    let n = latest.size + 1; // the checkpoint's own signing record follows it
    server.stop().await;
    let db = server.db.clone();
    let dir = tempfile::tempdir().unwrap();

    let untouched = verify_tampered(&db, dir.path(), "untouched", &[]).await;
    assert!(untouched.status.success(), "the untouched copy verifies: {}", text(&untouched));

    let other = LogSigner::generate("eseal.local/audit").unwrap().0;
    let forged_root = Checkpoint {
        origin: "eseal.local/audit".into(),
        size: latest.size,
        root: latest.root.clone().try_into().unwrap(),
    };
    let forged_note = other.sign(&forged_root).unwrap().replace('\'', "''");
    let forged_record = format!(
        r#"{{"event":"document_sealed","origin":"eseal.local/audit","principal":"approval-system","seal_id":"approval-ec","sequence":{},"time":1800000000,"version":1}}"#,
        n + 1
    );
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("edit one record", vec!["UPDATE audit_log SET record = CAST(REPLACE(CAST(record AS TEXT), 'AUDIT-1', 'AUDIT-9') AS BLOB) WHERE sequence = 6".into()]),
        ("delete one record", vec!["DELETE FROM audit_log WHERE sequence = 4".into()]),
        (
            "swap two records",
            vec![
                "UPDATE audit_log SET sequence = -1 WHERE sequence = 3".into(),
                "UPDATE audit_log SET sequence = 3 WHERE sequence = 7".into(),
                "UPDATE audit_log SET sequence = 7 WHERE sequence = -1".into(),
            ],
        ),
        ("truncate the tail", vec![format!("DELETE FROM audit_log WHERE sequence > {}", n - 3)]),
        ("replace the checkpoint with one signed by another key", vec![format!("UPDATE checkpoints SET note = '{forged_note}'")]),
    ];
    for (name, tamper) in cases {
        let out = verify_tampered(&db, dir.path(), &name.replace(' ', "-"), &tamper).await;
        assert_eq!(out.status.code(), Some(1), "{name}: not detected:\n{}", text(&out));
        assert!(text(&out).contains("THE LOG DOES NOT VERIFY"), "{name}:\n{}", text(&out));
    }
    // A record appended after the last checkpoint looks like one the checkpointer has not
    // signed yet: never "verifies", but pending (exit 5), not a fault.
    let appended = format!(
        "INSERT INTO audit_log (sequence, time, record) VALUES ({}, 1800000000, CAST('{}' AS BLOB))",
        n + 1,
        forged_record
    );
    let out = verify_tampered(&db, dir.path(), "append-a-forged-record", &[appended]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "1 record(s) after checkpoint {} are not yet covered by a signed checkpoint",
            latest.size
        )),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("the log verifies\n"), "{}", text(&out));
}

/// Runs the `eseal` binary with the sample seal administrator's identity.
fn as_seal_admin(port: u16, args: &[&str]) -> Output {
    let out = eseal(port, args);
    assert!(out.status.success(), "eseal {args:?}: {}", text(&out));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_log_is_pending_not_broken_until_its_next_checkpoint() {
    // The checkpointer signs once an hour here: every event below is after the last checkpoint.
    let server = TestServer::start().await;
    let port = server.address.port();
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--log-key"];
        let key = vkey();
        args.push(&key);
        args.extend_from_slice(extra);
        eseal(port, &args)
    };

    // Nothing signed yet: every record is pending.
    let fresh = verify(&["--no-sign"]);
    assert_eq!(fresh.status.code(), Some(5), "{}", text(&fresh));
    assert!(text(&fresh).contains("not yet covered by a signed checkpoint"), "{}", text(&fresh));

    // A signed checkpoint, then events: a seal suspended and resumed, a stamping.
    let first = checkpoint(&server).await;
    as_seal_admin(port, &["seal", "suspend", "approval-ec", "--reason", "stocktaking"]);
    as_seal_admin(port, &["seal", "resume", "approval-ec", "--reason", "stocktaking done"]);
    history(&server).await;
    let records = server.audit().await.len() as u64;
    let pending = records - first.size - 1; // the checkpoint's own signing record is not pending
    assert!(
        pending >= 12,
        "suspended, resumed, 3 x (grant, consumed, sealed), a refusal: {pending}"
    );

    let out = verify(&["--no-sign"]);
    assert_eq!(out.status.code(), Some(5), "pending, not a fault: {}", text(&out));
    let expected = format!(
        "{pending} record(s) after checkpoint {} are not yet covered by a signed checkpoint; the next one is due within 60 min",
        first.size
    );
    assert!(text(&out).contains(&expected), "{expected}\n{}", text(&out));
    assert!(
        text(&out).contains(&format!("the log verifies up to checkpoint {}", first.size))
            && !text(&out).contains("DOES NOT VERIFY"),
        "{}",
        text(&out)
    );
    let json = verify(&["--no-sign", "--json"]);
    assert_eq!(json.status.code(), Some(5), "{}", text(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (
            report["status"].as_str(),
            report["pending"].as_u64(),
            report["problems"].as_array().map(Vec::len)
        ),
        (Some("pending"), Some(pending), Some(0)),
        "{report}"
    );

    // Offline, from the running server's database: pending too.
    let offline = verify(&["--db", server.db.to_str().unwrap()]);
    assert_eq!(offline.status.code(), Some(5), "{}", text(&offline));
    assert!(
        text(&offline).contains(&format!(
            "{pending} record(s) after checkpoint {} are not yet covered",
            first.size
        )),
        "{}",
        text(&offline)
    );

    // By default the server is asked to sign now: then everything verifies.
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("the log verifies") && !text(&out).contains("pending"),
        "{}",
        text(&out)
    );
    let signed = checkpoint(&server).await;
    assert!(
        signed.size > first.size + pending,
        "the verify signed a checkpoint covering the events: {} vs {}",
        signed.size,
        first.size
    );

    // A record under a signed checkpoint altered in the live database: a fault, exit 1, with
    // or without signing first.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&server.db);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let edited = sqlx::query("UPDATE audit_log SET record = CAST(REPLACE(CAST(record AS TEXT), 'AUDIT-1', 'AUDIT-9') AS BLOB) WHERE CAST(record AS TEXT) LIKE '%AUDIT-1%'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(edited.rows_affected() > 0);
    pool.close().await;
    for extra in [&[][..], &["--no-sign"][..]] {
        let out = verify(extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", text(&out));
        assert!(
            text(&out).contains("THE LOG DOES NOT VERIFY")
                && text(&out).contains("do not hash to the signed root"),
            "{extra:?}: {}",
            text(&out)
        );
    }
}

/// Copies a database with its write-ahead log (recent writes may still sit there). The shared-
/// memory index is not copied but removed at the target: SQLite rebuilds it, and a copy taken
/// while another process had the database open can disagree with the log (disk I/O error).
fn copy_database(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let (a, b) = (format!("{}{suffix}", from.display()), format!("{}{suffix}", to.display()));
        let _ = std::fs::remove_file(&b);
        if suffix != "-shm" && Path::new(&a).exists() {
            std::fs::copy(&a, &b).unwrap();
        }
    }
}

/// A database restored from a backup older than the latest signed checkpoint would fork the
/// log if appended to: the service refuses to start on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restored_from_an_older_backup_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eseal.db");
    let backup = dir.path().join("backup.db");
    let with_db = |c: &mut eseal_service::config::Config| c.store.sqlite_path = db.clone();

    let mut first = TestServer::start_with(with_db).await;
    history(&first).await;
    checkpoint(&first).await;
    first.stop().await;
    copy_database(&db, &backup);

    let mut second = TestServer::start_with(with_db).await;
    let mut admin = second.admin(&ClientIdentity::custodian()).await;
    grant(&mut admin, grant_request("approval-ec", "approval-system", "AFTER-BACKUP")).await;
    let latest = checkpoint(&second).await;
    second.stop().await;
    assert!(
        dir.path().join("eseal.checkpoint").exists(),
        "the checkpoint witness is kept beside the database"
    );

    copy_database(&backup, &db);
    let mut config = dev_config(dir.path());
    with_db(&mut config);
    let refused = eseal_service::server::start(config).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("restored from an older backup")
            && message.contains(&latest.size.to_string()),
        "{message}"
    );
}
