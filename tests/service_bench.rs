//! `eseal bench` against an in-process server: both modes complete every stamping without
//! error, spot-check a sample with the engine's verifier, and report sane figures as JSON.

mod common;

use common::service::*;

/// Runs `eseal bench ARGS --json` against `server` (off the runtime, which serves it) and
/// parses the report.
async fn bench(server: &TestServer, args: &[&str]) -> serde_json::Value {
    let port = server.address.port();
    let document = common::corpus("13").to_str().unwrap().to_string();
    let pid = std::process::id().to_string();
    let mut all: Vec<String> =
        ["bench", "--document", &document, "--seal", "approval-ec", "--json", "--server-pid", &pid]
            .iter()
            .map(|s| s.to_string())
            .collect();
    all.extend(args.iter().map(|s| s.to_string()));
    let cpu_before = own_cpu_ticks();
    let output = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        eseal(port, &refs)
    })
    .await
    .unwrap();
    let cpu_after = own_cpu_ticks();
    assert!(output.status.success(), "eseal bench {args:?} failed: {}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"));
    eprintln!("bench {args:?}: {report}");
    // The server is this process: the CPU time the bench reports for it was spent inside the
    // window measured here, and stamping takes some.
    let per_stamping = report["server_cpu_seconds_per_stamping"]
        .as_f64()
        .unwrap_or_else(|| panic!("no server CPU figure: {report}"));
    let completed = report["completed"].as_f64().unwrap();
    let ours = (cpu_after - cpu_before) as f64 / 100.0;
    assert!(per_stamping > 0.0, "stamping costs the server some CPU time: {report}");
    assert!(
        per_stamping * completed <= ours + 1e-6,
        "the bench reports {per_stamping} s x {completed} of server CPU, more than the {ours} s this process used: {report}"
    );
    report
}

/// utime + stime of this process in clock ticks (USER_HZ, 100 on Linux), from /proc/self/stat.
fn own_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let fields: Vec<u64> = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15: here, counting from field 4, at 10 and 11.
    fields[10] + fields[11]
}

#[track_caller]
fn assert_sane(report: &serde_json::Value, count: u64) {
    assert_eq!(report["completed"].as_u64(), Some(count), "{report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
    assert!(report["errors_by_code"].as_object().unwrap().is_empty(), "{report}");
    assert!(report["verified"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["verify_failures"].as_u64(), Some(0), "{report}");
    assert!(report["throughput"].as_f64().unwrap() > 0.0, "{report}");
    let latency = &report["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0, "{report}");
    assert!(latency["p50"].as_f64().unwrap() <= latency["p99"].as_f64().unwrap(), "{report}");
    assert!(latency["p99"].as_f64().unwrap() <= latency["p999"].as_f64().unwrap(), "{report}");
    let document_bytes = report["document_bytes"].as_u64().unwrap();
    assert_eq!(report["bytes_out"].as_u64(), Some(document_bytes * count), "{report}");
    let bytes_in = report["bytes_in"].as_u64().unwrap();
    if report["returned_bytes"] == "update_only" {
        assert!(
            bytes_in > 0 && bytes_in < document_bytes * count,
            "updates alone are smaller than the documents: {report}"
        );
    } else {
        assert_eq!(report["returned_bytes"], "sealed_document", "{report}");
        assert!(bytes_in > document_bytes * count, "sealed documents are larger: {report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_sign_and_cycle_modes_complete_and_verify() {
    let server = TestServer::start().await;

    let sign = bench(
        &server,
        &[
            "--concurrency",
            "4",
            "--count",
            "40",
            "--mode",
            "sign",
            "--verify-every",
            "10",
            "--rect",
            "20,20,40,40",
        ],
    )
    .await;
    assert_sane(&sign, 40);
    assert_eq!(sign["verified"].as_u64(), Some(4), "{sign}");
    assert!(sign["grant_seconds"].as_f64().is_some(), "{sign}");

    // Answered with the update alone: the sampled documents (sent bytes + update) still verify.
    // --save-to keeps every sealed document (sent bytes + update), each a distinct stamping.
    let saved = tempfile::tempdir().unwrap();
    let save_to = saved.path().join("sealed");
    let updates = bench(
        &server,
        &[
            "--concurrency",
            "4",
            "--count",
            "20",
            "--mode",
            "sign",
            "--verify-every",
            "5",
            "--update-only",
            "--save-to",
            save_to.to_str().unwrap(),
        ],
    )
    .await;
    assert_sane(&updates, 20);
    assert_eq!(updates["verified"].as_u64(), Some(4), "{updates}");
    let original = std::fs::read(common::corpus("13")).unwrap();
    let anchors =
        eseal_verify::TrustAnchors::from_pem(&std::fs::read_to_string(common::root_pem()).unwrap())
            .unwrap();
    let mut digests = std::collections::HashSet::new();
    let files: Vec<_> = std::fs::read_dir(&save_to).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 20, "{files:?}");
    for file in files {
        let sealed = std::fs::read(&file).unwrap();
        assert!(
            sealed.starts_with(&original) && sealed.len() > original.len(),
            "{} is not the document sent followed by an update",
            file.display()
        );
        let report = eseal_verify::verify_document(&sealed, &anchors).unwrap();
        let seal = report.signatures.last().unwrap();
        assert!(seal.intact && seal.valid && seal.trusted, "{}: {seal:?}", file.display());
        assert!(
            digests.insert(seal.signature_sha256.clone()),
            "{} repeats another stamping's signature",
            file.display()
        );
    }

    let cycle = bench(
        &server,
        &[
            "--concurrency",
            "4",
            "--count",
            "20",
            "--mode",
            "cycle",
            "--verify-every",
            "10",
            "--connections",
            "4",
        ],
    )
    .await;
    assert_sane(&cycle, 20);
    let whole = &cycle["cycle_latency_ms"];
    assert!(
        whole["p50"].as_f64().unwrap() >= cycle["latency_ms"]["p50"].as_f64().unwrap(),
        "a cycle includes its stamping: {cycle}"
    );

    // Every stamping of both runs is in the audit trail.
    let stamped = server
        .audit()
        .await
        .iter()
        .filter(|r| r.event.event == Some(eseal_audit::EventKind::DocumentSealed))
        .count();
    assert_eq!(stamped, 80);
}
