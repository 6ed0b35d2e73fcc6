//! `eseal verify FILE...`: each document's verification report, as a table or JSON, and the
//! worst document verdict as the exit code. The server verifies and matches each signature with
//! its stamping records; with `--offline` the engine verifies here, on several threads, against
//! the trust anchors given (an archive checked without the service, or in bulk).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Args;

use super::{CliError, ClientArgs, progress};
use eseal_pdf::FileSource;
use eseal_service::api::proto::VerifyDocumentRequest;
use eseal_service::api::proto::VerifyDocumentResponse;
use eseal_service::api::proto::verification_service_client::VerificationServiceClient;
use eseal_verify::{TrustAnchors, verify_document};

/// Exit code when a signature is TOTAL-FAILED or there is no signature.
pub const EXIT_FAILED: i32 = 1;
/// Exit code when a later revision made a change a signature does not permit.
pub const EXIT_CHANGED_AFTER_SIGNING: i32 = 5;
/// Exit code when no signature failed and nothing changed, but a signature is INDETERMINATE.
pub const EXIT_INDETERMINATE: i32 = 6;
/// Exit code, with --require-record, when the verdict is passed but a signature has no
/// stamping record of this service.
pub const EXIT_NO_RECORD: i32 = 7;

/// Options of `eseal verify`.
#[derive(Args, Debug)]
#[command(after_help = "\
Each signature gets an ETSI EN 319 102-1 indication (TOTAL-PASSED, TOTAL-FAILED, INDETERMINATE)
and sub-indication; the document one verdict, by precedence failed > changed after signing >
indeterminate > passed.

Exit codes: 0 passed (every signature TOTAL-PASSED, nothing changed after signing but allowed
changes); 1 failed (a signature is TOTAL-FAILED, or there is none); 5 changed after signing;
6 indeterminate (e.g. no chain to a trust anchor, an expired certificate without a trusted
timestamp); 7 passed but a signature has no stamping record of this service (--require-record
only); 2 usage, 3 connection, 4 refused by the server. With several files, the worst verdict's
code (in the order above); with --offline a file that cannot be read or parsed is failed.")]
pub struct VerifyArgs {
    /// The PDFs to verify.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print each full report as JSON, one line per file (with each signature's stamping
    /// record, or null; with --offline, the engine's report alone).
    #[arg(long)]
    json: bool,
    /// Also fail (exit 7) when a signature (not a document timestamp) has no stamping record
    /// of this service: only documents this service sealed pass.
    #[arg(long, conflicts_with = "offline")]
    require_record: bool,
    /// Verify here, without the server: no stamping records are consulted.
    #[arg(long)]
    offline: bool,
    /// With --offline: the trust anchors (PEM, repeatable); default: keys-sample/root-ca.pem.
    #[arg(long, requires = "offline")]
    trust: Vec<PathBuf>,
    /// With --offline: documents verified at once (default: one per core).
    #[arg(long, requires = "offline")]
    jobs: Option<usize>,
    /// Print only the documents that do not pass (one line each) and a summary.
    #[arg(long, short, conflicts_with = "json")]
    quiet: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Verifies every file and prints the reports; the exit code is the worst document verdict's.
pub async fn run(args: VerifyArgs) -> Result<(), CliError> {
    let mut worst = Ok(());
    let mut tally = Tally::default();
    if args.offline {
        let anchors = super::client::trust_anchors(&args.trust)?;
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let files = args.files.clone();
        let replies = tokio::task::spawn_blocking(move || verify_here(&files, &anchors, jobs))
            .await
            .map_err(|e| CliError::Serve(format!("the verification threads failed: {e}")))?;
        for (file, reply) in args.files.iter().zip(replies) {
            let result = match reply {
                Ok(reply) => report(&args, file, &reply, false),
                Err(problem) => {
                    println!("{}: FAILED: {problem}", file.display());
                    Err(CliError::Finding {
                        code: EXIT_FAILED,
                        message: format!("{}: {problem}", file.display()),
                    })
                }
            };
            tally.count(&result);
            worst = worse(worst, result);
        }
    } else {
        let channel = args.client.connect("client-archivist").await?;
        for file in &args.files {
            let bytes = std::fs::read(file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let bar = progress::bar(bytes.len() as u64, "upload");
            let chunks: Vec<VerifyDocumentRequest> = bytes
                .chunks(1 << 20)
                .map(|c| VerifyDocumentRequest { chunk: c.to_vec() })
                .collect();
            let upload_bar = bar.clone();
            let stream = tokio_stream::iter(
                chunks.into_iter().inspect(move |c| upload_bar.inc(c.chunk.len() as u64)),
            );
            let reply = VerificationServiceClient::new(channel.clone())
                .max_decoding_message_size(64 << 20)
                .verify_document(stream)
                .await?
                .into_inner();
            bar.finish_and_clear();
            let result = report(&args, file, &reply, true);
            tally.count(&result);
            worst = worse(worst, result);
        }
    }
    if args.quiet || args.files.len() > 1 && !args.json {
        println!("{tally}");
    }
    worst
}

/// Prints one document's report as asked; returns its outcome.
fn report(
    args: &VerifyArgs,
    file: &Path,
    reply: &VerifyDocumentResponse,
    records_checked: bool,
) -> Result<(), CliError> {
    let result = outcome(reply, args.require_record);
    if args.json {
        println!("{}", with_file(&reply.report_json, file));
    } else if args.quiet {
        if result.is_err() {
            println!("{}: {}", file.display(), verdict_line(&reply.verdict));
        }
    } else {
        if args.files.len() > 1 {
            println!("== {}", file.display());
        }
        print_table(reply, records_checked);
    }
    result
}

/// Verifies `files` on `jobs` threads, in the engine; answers in the order of `files`.
fn verify_here(
    files: &[PathBuf],
    anchors: &TrustAnchors,
    jobs: usize,
) -> Vec<Result<VerifyDocumentResponse, String>> {
    let next = AtomicUsize::new(0);
    let mut answers: Vec<Option<Result<VerifyDocumentResponse, String>>> =
        (0..files.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.min(files.len()))
            .map(|_| {
                scope.spawn(|| {
                    let (mut done, mut buffer) = (Vec::new(), Vec::new());
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        let answer = verify_file(file, anchors, &mut buffer).and_then(|report| {
                            eseal_service::api::verification::reply(&report, None, Vec::new())
                                .map_err(|e| e.to_string())
                        });
                        done.push((i, answer));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            for (i, answer) in worker.join().unwrap_or_default() {
                answers[i] = Some(answer);
            }
        }
    });
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err("its verification thread stopped".into())))
        .collect()
}

/// Verifies one file: read whole into `buffer` when small (one read instead of one per
/// object; the buffer is reused from file to file), through positioned reads otherwise.
fn verify_file(
    file: &Path,
    anchors: &TrustAnchors,
    buffer: &mut Vec<u8>,
) -> Result<eseal_verify::VerificationReport, String> {
    use std::io::Read;
    const READ_WHOLE: u64 = 32 << 20;
    let cannot_read = |e: std::io::Error| format!("cannot read it: {e}");
    let not_verified = |e: eseal_verify::VerifyError| format!("it cannot be verified: {e}");
    let opened = std::fs::File::open(file).map_err(cannot_read)?;
    let len = opened.metadata().map_err(cannot_read)?.len();
    if len <= READ_WHOLE {
        buffer.clear();
        opened.take(len).read_to_end(buffer).map_err(cannot_read)?;
        verify_document(&*buffer, anchors).map_err(not_verified)
    } else {
        verify_document(&FileSource::new(opened).map_err(cannot_read)?, anchors)
            .map_err(not_verified)
    }
}

/// The report's JSON with the file's name as "file".
fn with_file(report_json: &str, file: &Path) -> String {
    match serde_json::from_str::<serde_json::Value>(report_json) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.insert("file".into(), file.display().to_string().into());
            serde_json::Value::Object(object).to_string()
        }
        _ => report_json.to_string(),
    }
}

/// The worse of two outcomes, by the precedence of the exit codes.
fn worse(a: Result<(), CliError>, b: Result<(), CliError>) -> Result<(), CliError> {
    let rank = |r: &Result<(), CliError>| match r {
        Ok(()) => 0,
        Err(CliError::Finding { code: EXIT_NO_RECORD, .. }) => 1,
        Err(CliError::Finding { code: EXIT_INDETERMINATE, .. }) => 2,
        Err(CliError::Finding { code: EXIT_CHANGED_AFTER_SIGNING, .. }) => 3,
        Err(_) => 4,
    };
    if rank(&b) > rank(&a) { b } else { a }
}

/// How many documents ended how.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    changed: usize,
    indeterminate: usize,
    unrecorded: usize,
}

impl Tally {
    fn count(&mut self, result: &Result<(), CliError>) {
        *match result {
            Ok(()) => &mut self.passed,
            Err(CliError::Finding { code: EXIT_CHANGED_AFTER_SIGNING, .. }) => &mut self.changed,
            Err(CliError::Finding { code: EXIT_INDETERMINATE, .. }) => &mut self.indeterminate,
            Err(CliError::Finding { code: EXIT_NO_RECORD, .. }) => &mut self.unrecorded,
            Err(_) => &mut self.failed,
        } += 1;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.passed + self.failed + self.changed + self.indeterminate + self.unrecorded;
        write!(
            f,
            "{total} document(s): {} passed, {} failed, {} changed after signing, {} indeterminate",
            self.passed, self.failed, self.changed, self.indeterminate
        )?;
        if self.unrecorded > 0 {
            write!(f, ", {} without a stamping record", self.unrecorded)?;
        }
        Ok(())
    }
}

fn print_table(reply: &VerifyDocumentResponse, records_checked: bool) {
    println!(
        "{:<24} {:<18} {:<13} {:<33} {:<6} {:<6} {:<7} {:<16} {:<9} signer",
        "field",
        "kind",
        "indication",
        "sub-indication",
        "intact",
        "valid",
        "trusted",
        "coverage",
        "recorded"
    );
    for s in &reply.signatures {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        let recorded = match (records_checked, s.audit_record_found) {
            (false, _) => "offline".into(),
            (true, true) => format!("#{}", s.audit_sequence),
            (true, false) => "-".into(),
        };
        println!(
            "{:<24} {:<18} {:<13} {:<33} {:<6} {:<6} {:<7} {:<16} {:<9} {}",
            s.field_name,
            s.kind,
            s.indication,
            if s.sub_indication.is_empty() { "-" } else { &s.sub_indication },
            yes(s.intact),
            yes(s.valid),
            yes(s.trusted),
            if s.modified_after_signing {
                format!("{} (MODIFIED)", s.coverage)
            } else {
                s.coverage.clone()
            },
            recorded,
            s.signer_subject
        );
        for p in &s.problems {
            println!("    - {p}");
        }
        if !s.trust_problem.is_empty() {
            println!("    - not trusted: {}", s.trust_problem);
        }
        // Changes a signature does not permit, and visual ones even when permitted (a seal's
        // appearance, an annotation painting over signed content).
        for c in s.later_changes.iter().filter(|c| !c.allowed || c.visual_page > 0) {
            let allowed = if c.allowed { "allowed" } else { "NOT ALLOWED" };
            println!(
                "    - later change, {allowed}: object {} ({}): {}",
                c.object, c.role, c.description
            );
        }
    }
    if !reply.unrecorded_signatures.is_empty() {
        println!("no stamping record of this service: {}", reply.unrecorded_signatures.join(", "));
    }
    println!("verdict: {}", verdict_line(&reply.verdict));
}

fn verdict_line(verdict: &str) -> &'static str {
    match verdict {
        "passed" => {
            "PASSED (every signature TOTAL-PASSED, nothing changed after signing but allowed changes)"
        }
        "failed" => "FAILED (a signature is TOTAL-FAILED, or there is none)",
        "changed_after_signing" => {
            "CHANGED AFTER SIGNING (a later revision made a change a signature does not permit)"
        }
        "indeterminate" => {
            "INDETERMINATE (a signature cannot be confirmed: see its sub-indication)"
        }
        _ => "UNKNOWN (the server gave no verdict this client knows)",
    }
}

/// The exit: 0 only when passed (and, with `require_record`, every signature recorded).
fn outcome(reply: &VerifyDocumentResponse, require_record: bool) -> Result<(), CliError> {
    let finding =
        |code: i32, message: &str| Err(CliError::Finding { code, message: message.into() });
    match reply.verdict.as_str() {
        "passed" => {}
        "changed_after_signing" => {
            return finding(EXIT_CHANGED_AFTER_SIGNING, "the document was changed after signing");
        }
        "indeterminate" => return finding(EXIT_INDETERMINATE, "the verdict is indeterminate"),
        // "failed", or a server too old to send a verdict (its all_valid says whether it passed).
        "" if reply.all_valid => {}
        _ => return finding(EXIT_FAILED, "verification failed"),
    }
    let unrecorded: Vec<&str> = reply
        .signatures
        .iter()
        .filter(|s| s.kind == "signature" && !s.audit_record_found)
        .map(|s| s.field_name.as_str())
        .collect();
    if require_record && !unrecorded.is_empty() {
        return finding(
            EXIT_NO_RECORD,
            &format!("no stamping record of this service for {}", unrecorded.join(", ")),
        );
    }
    Ok(())
}
