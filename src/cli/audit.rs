//! `eseal audit ...`: checkpoints, whole-log verification, proofs (as an archivist).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, ClientArgs};
use eseal_audit::{LogReport, check_log};
use eseal_audit::{LogSigner, LogVerifier, ProofFile};
use eseal_service::api::proto::audit_service_client::AuditServiceClient;
use eseal_service::api::proto::{
    GetCheckpointRequest, GetConsistencyProofRequest, GetInclusionProofRequest, GetRecordsRequest,
};

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
    /// Exit code 0: verified; 1: a fault; 5: no fault, but records after the latest signed
    /// checkpoint are pending (not yet covered by a signature).
    Verify {
        /// The log's verifier key (the string, or a file holding it). Never taken from the server.
        #[arg(long)]
        log_key: String,
        /// Do not ask the server to sign a checkpoint of the current log first (then records
        /// after the latest periodic checkpoint are reported as pending).
        #[arg(long)]
        no_sign: bool,
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

async fn audit_client(
    args: &ClientArgs,
) -> Result<AuditServiceClient<tonic::transport::Channel>, CliError> {
    Ok(AuditServiceClient::new(args.connect("client-archivist").await?)
        .max_decoding_message_size(64 << 20))
}

/// A verifier key given as the string itself or as a file holding it.
fn verifier(text: &str) -> Result<LogVerifier, CliError> {
    let key = match std::fs::read_to_string(text) {
        Ok(contents) => contents.trim().to_string(),
        Err(_) => text.trim().to_string(),
    };
    LogVerifier::from_verifier_key(&key).map_err(|e| CliError::Usage(format!("--log-key: {e}")))
}

/// Milliseconds as a person reads them: `900 ms`, `2 s`, `5 min`.
fn duration_text(ms: u64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 120_000 => format!("{} s", ms.div_ceil(1000)),
        ms => format!("{} min", ms.div_ceil(60_000)),
    }
}

/// The line that explains pending records; `interval_ms` when the server told it.
fn pending_text(report: &LogReport, interval_ms: Option<u64>) -> String {
    let due = match interval_ms {
        Some(ms) => format!("the next one is due within {}", duration_text(ms)),
        None => "the server signs the next one within its checkpoint interval (audit.checkpoint_interval_ms) while it runs".into(),
    };
    format!(
        "{} record(s) after checkpoint {} are not yet covered by a signed checkpoint; {due}",
        report.pending, report.latest_checkpoint
    )
}

/// Prints the report; the result is the exit status: a fault, pending records, or verified.
fn print_report(report: &LogReport, interval_ms: Option<u64>, json: bool) -> Result<(), CliError> {
    let status = if report.faulty() {
        "fault"
    } else if report.pending > 0 {
        "pending"
    } else {
        "verified"
    };
    if json {
        let mut value = serde_json::to_value(report).map_err(|e| CliError::Usage(e.to_string()))?;
        value["status"] = status.into();
        if report.pending > 0 {
            value["pending_note"] = pending_text(report, interval_ms).into();
        }
        if let Some(ms) = interval_ms {
            value["checkpoint_interval_ms"] = ms.into();
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| CliError::Usage(e.to_string()))?
        );
    } else {
        println!(
            "{} records, {} checkpoints verified (latest covers {})",
            report.records, report.checkpoints_verified, report.latest_checkpoint
        );
        for p in &report.problems {
            println!("  - {p}");
        }
        if report.pending > 0 {
            println!("  pending: {}", pending_text(report, interval_ms));
        }
        println!(
            "{}",
            match status {
                "fault" => "THE LOG DOES NOT VERIFY".to_string(),
                "pending" => format!(
                    "the log verifies up to checkpoint {}; {} record(s) pending",
                    report.latest_checkpoint, report.pending
                ),
                _ => "the log verifies".to_string(),
            }
        );
    }
    match status {
        "fault" => Err(CliError::Serve("audit verification failed".into())),
        "pending" => Err(CliError::Pending(format!(
            "{} record(s) are not yet covered by a signed checkpoint; verify again later",
            report.pending
        ))),
        _ => Ok(()),
    }
}

/// Runs `eseal audit ...`.
pub async fn run(args: AuditArgs) -> Result<(), CliError> {
    match args.action {
        AuditAction::LogKey { file, name, kek } => {
            let der = super::keys::plaintext_key(&file, &kek)?;
            let signer = LogSigner::from_pkcs8(&name, &der)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            println!("{}", signer.verifier_key());
            Ok(())
        }
        AuditAction::CheckProof { file, log_key } => {
            let verifier = verifier(&log_key)?;
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let proof = ProofFile::from_json(&bytes)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
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
        AuditAction::Verify { log_key, db: Some(db), json, no_sign: _ } => {
            let verifier = verifier(&log_key)?;
            let (records, notes) = eseal_service::store::offline::read_log(&db)
                .await
                .map_err(|e| CliError::Usage(e.to_string()))?;
            print_report(&check_log(&records, &notes, &verifier), None, json)
        }
        AuditAction::Checkpoint { sign } => {
            let c = audit_client(&args.client)
                .await?
                .get_checkpoint(GetCheckpointRequest { sign_now: sign })
                .await?
                .into_inner();
            print!("{}", c.note);
            Ok(())
        }
        AuditAction::Prove { sequence, output, size } => {
            let request = GetInclusionProofRequest { sequence, tree_size: size };
            let p =
                audit_client(&args.client).await?.get_inclusion_proof(request).await?.into_inner();
            std::fs::write(&output, p.proof_file)
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", output.display())))?;
            println!(
                "proof of record {sequence} in the log of {} records written to {}",
                p.tree_size,
                output.display()
            );
            Ok(())
        }
        AuditAction::Verify { log_key, db: None, json, no_sign } => {
            let verifier = verifier(&log_key)?;
            let mut client = audit_client(&args.client).await?;
            // The checkpoint first, then the records: the log only grows, so every record the
            // checkpoint covers is among those read after it.
            let latest = if no_sign {
                client.get_checkpoint(GetCheckpointRequest { sign_now: false }).await
            } else {
                match client.get_checkpoint(GetCheckpointRequest { sign_now: true }).await {
                    Ok(latest) => Ok(latest),
                    // The server may refuse to sign a log it finds inconsistent: verify what is signed.
                    Err(e) if e.code() == tonic::Code::Internal => {
                        eprintln!(
                            "note: the server did not sign a checkpoint now ({}); verifying up to the latest one",
                            e.message()
                        );
                        client.get_checkpoint(GetCheckpointRequest { sign_now: false }).await
                    }
                    Err(e) => Err(e),
                }
            };
            let latest = match latest {
                Ok(latest) => Some(latest.into_inner()),
                // No checkpoint signed yet: every record is pending.
                Err(e) if e.code() == tonic::Code::FailedPrecondition => None,
                Err(e) => return Err(e.into()),
            };
            let mut records = Vec::new();
            loop {
                let from = records.len() as u64 + 1;
                let page = client
                    .get_records(GetRecordsRequest { from_sequence: from, limit: 10_000 })
                    .await?
                    .into_inner();
                if page.records.is_empty() {
                    break;
                }
                records.extend(page.records.into_iter().map(|r| (r.sequence, r.record)));
            }
            let mut notes = Vec::new();
            let mut interval_ms = None;
            if let Some(latest) = &latest {
                for size in &latest.checkpointed_sizes {
                    let pair = client
                        .get_consistency_proof(GetConsistencyProofRequest {
                            old_size: *size,
                            new_size: latest.size,
                        })
                        .await?
                        .into_inner();
                    notes.push(pair.old_checkpoint);
                }
                interval_ms = Some(latest.checkpoint_interval_ms).filter(|ms| *ms > 0);
            }
            print_report(&check_log(&records, &notes, &verifier), interval_ms, json)
        }
    }
}
