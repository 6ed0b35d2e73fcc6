//! `eseal verify FILE`: the server's verification report, as a table or JSON, and the
//! document verdict as the exit code.

use std::path::PathBuf;

use clap::Args;

use super::{ClientArgs, CliError, progress};
use crate::api::proto::VerifyDocumentRequest;
use crate::api::proto::VerifyDocumentResponse;
use crate::api::proto::verification_service_client::VerificationServiceClient;

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
only); 2 usage, 3 connection, 4 refused by the server.")]
pub struct VerifyArgs {
    /// The PDF to verify.
    file: PathBuf,
    /// Print the full report as JSON (with each signature's stamping record, or null).
    #[arg(long)]
    json: bool,
    /// Also fail (exit 7) when a signature (not a document timestamp) has no stamping record
    /// of this service: only documents this service sealed pass.
    #[arg(long)]
    require_record: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Sends the file, prints the report; the exit code is the document verdict's.
pub async fn run(args: VerifyArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.file).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.file.display())))?;
    let channel = args.client.connect("client-archivist").await?;
    let bar = progress::bar(bytes.len() as u64, "upload");
    let chunks: Vec<VerifyDocumentRequest> = bytes.chunks(1 << 20).map(|c| VerifyDocumentRequest { chunk: c.to_vec() }).collect();
    let upload_bar = bar.clone();
    let stream = tokio_stream::iter(chunks.into_iter().inspect(move |c| upload_bar.inc(c.chunk.len() as u64)));
    let reply = VerificationServiceClient::new(channel).max_decoding_message_size(64 << 20).verify_document(stream).await?.into_inner();
    bar.finish_and_clear();
    if args.json {
        println!("{}", reply.report_json);
    } else {
        print_table(&reply);
    }
    outcome(&reply, args.require_record)
}

fn print_table(reply: &VerifyDocumentResponse) {
    println!(
        "{:<24} {:<18} {:<13} {:<33} {:<6} {:<6} {:<7} {:<16} {:<9} signer",
        "field", "kind", "indication", "sub-indication", "intact", "valid", "trusted", "coverage", "recorded"
    );
    for s in &reply.signatures {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        let recorded = if s.audit_record_found { format!("#{}", s.audit_sequence) } else { "-".into() };
        println!(
            "{:<24} {:<18} {:<13} {:<33} {:<6} {:<6} {:<7} {:<16} {:<9} {}",
            s.field_name,
            s.kind,
            s.indication,
            if s.sub_indication.is_empty() { "-" } else { &s.sub_indication },
            yes(s.intact),
            yes(s.valid),
            yes(s.trusted),
            if s.modified_after_signing { format!("{} (MODIFIED)", s.coverage) } else { s.coverage.clone() },
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
        for c in s.later_changes.iter().filter(|c| !c.allowed || c.description.to_lowercase().contains("visual")) {
            let allowed = if c.allowed { "allowed" } else { "NOT ALLOWED" };
            println!("    - later change, {allowed}: object {} ({}): {}", c.object, c.role, c.description);
        }
    }
    if !reply.unrecorded_signatures.is_empty() {
        println!("no stamping record of this service: {}", reply.unrecorded_signatures.join(", "));
    }
    println!("verdict: {}", verdict_line(&reply.verdict));
}

fn verdict_line(verdict: &str) -> &'static str {
    match verdict {
        "passed" => "PASSED (every signature TOTAL-PASSED, nothing changed after signing but allowed changes)",
        "failed" => "FAILED (a signature is TOTAL-FAILED, or there is none)",
        "changed_after_signing" => "CHANGED AFTER SIGNING (a later revision made a change a signature does not permit)",
        "indeterminate" => "INDETERMINATE (a signature cannot be confirmed: see its sub-indication)",
        _ => "UNKNOWN (the server gave no verdict this client knows)",
    }
}

/// The exit: 0 only when passed (and, with `require_record`, every signature recorded).
fn outcome(reply: &VerifyDocumentResponse, require_record: bool) -> Result<(), CliError> {
    let finding = |code: i32, message: &str| Err(CliError::Finding { code, message: message.into() });
    match reply.verdict.as_str() {
        "passed" => {}
        "changed_after_signing" => return finding(EXIT_CHANGED_AFTER_SIGNING, "the document was changed after signing"),
        "indeterminate" => return finding(EXIT_INDETERMINATE, "the verdict is indeterminate"),
        // "failed", or a server too old to send a verdict (its all_valid says whether it passed).
        "" if reply.all_valid => {}
        _ => return finding(EXIT_FAILED, "verification failed"),
    }
    let unrecorded: Vec<&str> = reply.signatures.iter().filter(|s| s.kind == "signature" && !s.audit_record_found).map(|s| s.field_name.as_str()).collect();
    if require_record && !unrecorded.is_empty() {
        return finding(EXIT_NO_RECORD, &format!("no stamping record of this service for {}", unrecorded.join(", ")));
    }
    Ok(())
}
