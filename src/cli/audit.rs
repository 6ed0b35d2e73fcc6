//! `eseal audit ...`: checkpoints, whole-log verification, proofs (as an archivist).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{ClientArgs, CliError};
use crate::api::proto::audit_service_client::AuditServiceClient;
use crate::api::proto::{GetCheckpointRequest, GetConsistencyProofRequest, GetInclusionProofRequest, GetRecordsRequest};
use crate::audit::log_check::{LogReport, check_log};
use crate::audit::{LogSigner, LogVerifier, ProofFile};

/// Options of `eseal audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    action: AuditAction,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand, Debug)]
enum AuditAction {
    /// Prints the latest signed checkpoint.
    Checkpoint {
        /// Ask the server to sign a checkpoint of the current log first.
        #[arg(long)]
        sign: bool,
    },
    /// Verifies the whole log: every record, every checkpoint signature and root, contiguity.
    Verify {
        /// The log's verifier key (the string, or a file holding it). Never taken from the server.
        #[arg(long)]
        log_key: String,
        /// Read the log from this SQLite file (offline, read-only) instead of the server.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Writes a self-contained proof that record SEQ is in the log.
    Prove {
        /// The record's sequence number.
        sequence: u64,
        /// The proof file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// A checkpointed tree size (default: the latest checkpoint).
        #[arg(long, default_value_t = 0)]
        size: u64,
    },
    /// Checks a proof file offline.
    CheckProof {
        /// The proof file.
        file: PathBuf,
        /// The log's verifier key (the string, or a file holding it).
        #[arg(long)]
        log_key: String,
    },
    /// Prints the verifier key of a log signing key (PKCS#8 DER).
    LogKey {
        /// The Ed25519 key file: PKCS#8 DER, or encrypted by `eseal keys encrypt` (then give
        /// its KEK).
        #[arg(value_name = "KEY_FILE")]
        file: PathBuf,
        /// The log's name (its origin).
        #[arg(long, default_value = "eseal.local/audit")]
        name: String,
        #[command(flatten)]
        kek: super::keys::KekSource,
    },
}

async fn audit_client(args: &ClientArgs) -> Result<AuditServiceClient<tonic::transport::Channel>, CliError> {
    Ok(AuditServiceClient::new(args.connect("client-archivist").await?).max_decoding_message_size(64 << 20))
}

/// A verifier key given as the string itself or as a file holding it.
fn verifier(text: &str) -> Result<LogVerifier, CliError> {
    let key = match std::fs::read_to_string(text) {
        Ok(contents) => contents.trim().to_string(),
        Err(_) => text.trim().to_string(),
    };
    LogVerifier::from_verifier_key(&key).map_err(|e| CliError::Usage(format!("--log-key: {e}")))
}

fn print_report(report: &LogReport, json: bool) -> Result<(), CliError> {
    if json {
        println!("{}", serde_json::to_string_pretty(report).map_err(|e| CliError::Usage(e.to_string()))?);
    } else {
        println!("{} records, {} checkpoints verified (latest covers {})", report.records, report.checkpoints_verified, report.latest_checkpoint);
        for p in &report.problems {
            println!("  - {p}");
        }
        println!("{}", if report.ok() { "the log verifies" } else { "THE LOG DOES NOT VERIFY" });
    }
    if report.ok() { Ok(()) } else { Err(CliError::Serve("audit verification failed".into())) }
}

/// Runs `eseal audit ...`.
pub async fn run(args: AuditArgs) -> Result<(), CliError> {
    match args.action {
        AuditAction::LogKey { file, name, kek } => {
            let der = super::keys::plaintext_key(&file, &kek)?;
            let signer = LogSigner::from_pkcs8(&name, &der).map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            println!("{}", signer.verifier_key());
            Ok(())
        }
        AuditAction::CheckProof { file, log_key } => {
            let verifier = verifier(&log_key)?;
            let bytes = std::fs::read(&file).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let proof = ProofFile::from_json(&bytes).map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            match proof.check(&verifier) {
                Ok(checked) => {
                    println!(
                        "record {} ({}) is in the log {} of {} records, signed by {}",
                        proof.sequence,
                        checked.record.event.event.map(|e| e.as_str()).unwrap_or("?"),
                        verifier.name(),
                        proof.tree_size,
                        verifier.verifier_key()
                    );
                    Ok(())
                }
                Err(e) => Err(CliError::Serve(format!("the proof does not hold: {e}"))),
            }
        }
        AuditAction::Verify { log_key, db: Some(db), json } => {
            let verifier = verifier(&log_key)?;
            let (records, notes) = crate::store::offline::read_log(&db).await.map_err(|e| CliError::Usage(e.to_string()))?;
            print_report(&check_log(&records, &notes, &verifier), json)
        }
        AuditAction::Checkpoint { sign } => {
            let c = audit_client(&args.client).await?.get_checkpoint(GetCheckpointRequest { sign_now: sign }).await?.into_inner();
            print!("{}", c.note);
            Ok(())
        }
        AuditAction::Prove { sequence, output, size } => {
            let request = GetInclusionProofRequest { sequence, tree_size: size };
            let p = audit_client(&args.client).await?.get_inclusion_proof(request).await?.into_inner();
            std::fs::write(&output, p.proof_file).map_err(|e| CliError::Usage(format!("cannot write {}: {e}", output.display())))?;
            println!("proof of record {sequence} in the log of {} records written to {}", p.tree_size, output.display());
            Ok(())
        }
        AuditAction::Verify { log_key, db: None, json } => {
            let verifier = verifier(&log_key)?;
            let mut client = audit_client(&args.client).await?;
            let mut records = Vec::new();
            loop {
                let from = records.len() as u64 + 1;
                let page = client.get_records(GetRecordsRequest { from_sequence: from, limit: 10_000 }).await?.into_inner();
                if page.records.is_empty() {
                    break;
                }
                records.extend(page.records.into_iter().map(|r| (r.sequence, r.record)));
            }
            let latest = client.get_checkpoint(GetCheckpointRequest { sign_now: false }).await?.into_inner();
            let mut notes = Vec::new();
            for size in &latest.checkpointed_sizes {
                let pair = client.get_consistency_proof(GetConsistencyProofRequest { old_size: *size, new_size: latest.size }).await?.into_inner();
                notes.push(pair.old_checkpoint);
            }
            print_report(&check_log(&records, &notes, &verifier), json)
        }
    }
}
