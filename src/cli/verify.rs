//! `eseal verify FILE`: the server's verification report, as a table or JSON.

use std::path::PathBuf;

use clap::Args;

use super::{ClientArgs, CliError, progress};
use crate::api::proto::VerifyDocumentRequest;
use crate::api::proto::verification_service_client::VerificationServiceClient;

/// Options of `eseal verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The PDF to verify.
    file: PathBuf,
    /// Print the full report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Sends the file, prints the verdict; exit code 1 when not every signature is valid.
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
        println!("{:<24} {:<18} {:<6} {:<6} {:<7} {:<16} {:<9} signer", "field", "kind", "intact", "valid", "trusted", "coverage", "recorded");
        for s in &reply.signatures {
            let yes = |b: bool| if b { "yes" } else { "NO" };
            let recorded = if s.audit_record_found { format!("#{}", s.audit_sequence) } else { "-".into() };
            println!(
                "{:<24} {:<18} {:<6} {:<6} {:<7} {:<16} {:<9} {}",
                s.field_name,
                s.kind,
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
        }
        println!("{}", if reply.all_valid { "all signatures valid" } else { "NOT all signatures are valid" });
    }
    if reply.all_valid { Ok(()) } else { Err(CliError::Serve("verification failed".into())) }
}
