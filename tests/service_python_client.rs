//! A stock client we did not write: Python stubs generated from proto/ with grpcio-tools and
//! grpcio's own TLS stack seal corpus file 13 visibly with the keys-sample department identity;
//! pyHanko validates the result (INTACT:TRUSTED against the development root). The same client
//! then sees a retry replayed byte for byte and a second use of the authorization refused.
//! grpcio and grpcio-tools live in target/test-venv (scripts/install-test-tools.sh).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::service::*;
use eseal_audit::EventKind;
use eseal_service::api::proto::GrantAuthorizationRequest;

/// The test venv's Python, with grpcio-tools.
fn python() -> PathBuf {
    let venv = std::env::var_os("ESEAL_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo().join("target/test-venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "no Python venv at {}; run scripts/test.sh (scripts/install-test-tools.sh), which makes it",
        venv.display()
    );
    let probe = common::run(&python, &["-c", "import grpc, grpc_tools"]);
    assert!(
        probe.status.success(),
        "grpcio/grpcio-tools missing in {}; run scripts/install-test-tools.sh",
        venv.display()
    );
    python
}

/// Generates the Python modules of proto/eseal/v1 into `out`.
fn generate_stubs(python: &Path, out: &Path) {
    let repo = common::repo();
    let mut protos: Vec<String> = std::fs::read_dir(repo.join("proto/eseal/v1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .map(|p| p.strip_prefix(&repo).unwrap().to_str().unwrap().to_string())
        .collect();
    protos.sort();
    assert!(
        protos.iter().any(|p| p.ends_with("signing.proto"))
            && protos.iter().any(|p| p.ends_with("common.proto")),
        "{protos:?}"
    );
    std::fs::create_dir_all(out).unwrap();
    let out_arg = out.to_str().unwrap();
    let output = Command::new(python)
        .current_dir(&repo)
        .args([
            "-m",
            "grpc_tools.protoc",
            "-Iproto",
            &format!("--python_out={out_arg}"),
            &format!("--grpc_python_out={out_arg}"),
        ])
        .args(&protos)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "grpc_tools.protoc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for module in [
        "common_pb2.py",
        "signing_pb2.py",
        "signing_pb2_grpc.py",
        "admin_pb2_grpc.py",
        "verification_pb2_grpc.py",
    ] {
        assert!(out.join("eseal/v1").join(module).is_file(), "{module} was generated");
    }
}

/// The Python client: the venv's interpreter, the generated stubs, the server's port.
struct PythonClient {
    python: PathBuf,
    stubs: PathBuf,
    port: u16,
}

impl PythonClient {
    /// Runs tests/python/seal_with_grpcio.py (off the runtime's threads: the server is
    /// in-process).
    async fn seal(
        &self,
        authorization: &str,
        request_id: &str,
        case: &str,
        input: &Path,
        output: &Path,
    ) -> Output {
        let keys = keys();
        let mut command = Command::new(&self.python);
        command
            .arg(common::repo().join("tests/python/seal_with_grpcio.py"))
            .args(["--target", &format!("localhost:{}", self.port)])
            .arg("--ca")
            .arg(keys.join("tls-ca.pem"))
            .arg("--cert")
            .arg(keys.join("client-department.pem"))
            .arg("--key")
            .arg(keys.join("client-department.key"))
            .args([
                "--seal",
                "approval-ec",
                "--authorization",
                authorization,
                "--request-id",
                request_id,
                "--case",
                case,
            ])
            .arg("--input")
            .arg(input)
            .arg("--output")
            .arg(output)
            .env("PYTHONPATH", &self.stubs)
            .env("PYTHONIOENCODING", "utf-8")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY");
        tokio::task::spawn_blocking(move || command.output().expect("run the Python client"))
            .await
            .unwrap()
    }
}

use common::hex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpcio_client_generated_from_the_protos_seals_a_document_pyhanko_accepts() {
    let python = python();
    let work = tempfile::tempdir().unwrap();
    let stubs = work.path().join("stubs");
    generate_stubs(&python, &stubs);

    let mut server = TestServer::start().await;
    let client = PythonClient { python, stubs, port: server.address.port() };
    let input = common::corpus("13");
    let document = std::fs::read(&input).unwrap();
    let case = "审批-2026-PY01";
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let request = GrantAuthorizationRequest {
        document_sha256: sha256(&document).to_vec(),
        ..grant_request("approval-ec", "approval-system", case)
    };
    let authorization = grant(&mut custodian, request).await.id;

    // Seal.
    let sealed_path = work.path().join("sealed.pdf");
    let out = client.seal(&authorization, "py-1", case, &input, &sealed_path).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python client failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let receipt: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("receipt JSON ({e}): {stdout}"));
    let sealed = std::fs::read(&sealed_path).unwrap();
    assert!(
        sealed.len() > document.len() && sealed.starts_with(&document),
        "an incremental update of corpus 13"
    );
    assert_eq!(receipt["replayed"], false);
    assert_eq!(receipt["seal_id"], "approval-ec");
    assert_eq!(receipt["request_id"], "py-1");
    assert_eq!(receipt["input_sha256"], hex(&sha256(&document)));
    assert_eq!(receipt["output_sha256"], hex(&sha256(&sealed)));
    assert_eq!(receipt["output_size"], sealed.len());
    let seal_pem = std::fs::read(keys().join("seal-approval-ec.pem")).unwrap();
    let (_, seal_certificate) = x509_parser::pem::parse_x509_pem(&seal_pem).unwrap();
    assert_eq!(
        receipt["seal_certificate_sha256"],
        hex(&sha256(&seal_certificate.contents)),
        "the receipt carries the seal certificate"
    );

    // pyHanko: one signature, intact and trusted to the development root.
    let (verdicts, report) = common::pyhanko_validate(&sealed_path, true);
    assert_eq!(verdicts.len(), 1, "one signature:\n{report}");
    assert!(
        verdicts[0].intact() && verdicts[0].trusted(),
        "pyHanko says INTACT:TRUSTED:\n{report}"
    );
    assert_eq!(
        receipt["field_name"],
        verdicts[0].field.as_str(),
        "the receipt names the signature field"
    );

    // A retry by the same client: replayed, byte-identical.
    let again_path = work.path().join("again.pdf");
    let out = client.seal(&authorization, "py-1", case, &input, &again_path).await;
    assert!(out.status.success(), "the retry failed: {}", String::from_utf8_lossy(&out.stderr));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["audit_sequence"], receipt["audit_sequence"]);
    assert!(std::fs::read(&again_path).unwrap() == sealed, "the replay is byte-identical");

    // A second stamping with the same authorization: the stock client gets the status and reason.
    let out =
        client.seal(&authorization, "py-2", case, &input, &work.path().join("never.pdf")).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "refused: {stderr}");
    assert!(
        stderr.contains(&format!("grpc-error FAILED_PRECONDITION: authorization {authorization} was already used (request py-1)")),
        "the refusal reaches the stock client with its reason: {stderr}"
    );
    assert!(!work.path().join("never.pdf").exists());

    let records = server.audit().await;
    let sealed_records = of_kind(&records, EventKind::DocumentSealed);
    assert_eq!(sealed_records.len(), 1);
    assert_eq!(sealed_records[0].event.request_id.as_deref(), Some("py-1"));
    assert_eq!(sealed_records[0].sequence.to_string(), receipt["audit_sequence"].to_string());
    assert_refusal_recorded(
        &records,
        "approval-system",
        "SignDocument",
        &["FailedPrecondition", "already used (request py-1)"],
    );
    server.stop().await;
}

/// Another stock TLS stack: OpenSSL's s_client completes the mutual-TLS handshake with the
/// department identity, over TLS 1.3 and 1.2, and reads the server's list of acceptable client
/// CAs (the development TLS CA). Clients built on OpenSSL or BoringSSL (grpcio, grpc-java with
/// netty-tcnative, curl, ...) parse that list and drop the connection when it is malformed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_completes_the_mutual_tls_handshake() {
    let mut server = TestServer::start().await;
    let port = server.address.port();
    let keys = keys();
    for version in ["-tls1_3", "-tls1_2"] {
        let mut command = Command::new(common::tool("openssl"));
        command
            .args([
                "s_client",
                version,
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-servername",
                "localhost",
                "-alpn",
                "h2",
                "-CAfile",
            ])
            .arg(keys.join("tls-ca.pem"))
            .arg("-cert")
            .arg(keys.join("client-department.pem"))
            .arg("-key")
            .arg(keys.join("client-department.key"))
            .stdin(std::process::Stdio::null());
        let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("parse_ca_names"),
            "{version}: OpenSSL cannot parse the server's CertificateRequest:\n{text}"
        );
        assert!(
            text.contains("Verify return code: 0 (ok)"),
            "{version}: the server certificate verifies:\n{text}"
        );
        assert!(text.contains("ALPN protocol: h2"), "{version}: h2 negotiated:\n{text}");
        let names = text
            .split("Acceptable client certificate CA names")
            .nth(1)
            .unwrap_or_else(|| panic!("{version}: no client CA names:\n{text}"));
        assert!(
            names.contains("CN = eseal Development TLS CA"),
            "{version}: the TLS CA is named as acceptable:\n{text}"
        );
    }
    server.stop().await;
}
