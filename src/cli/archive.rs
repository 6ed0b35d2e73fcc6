//! `eseal archive ...`: export a time range of the audit trail as a BagIt bag, and verify a
//! bag offline (as an archivist).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliError, ClientArgs};
use eseal_audit::{Checkpoint, LogVerifier};
use eseal_service::api::proto::ExportArchiveRequest;
use eseal_service::api::proto::audit_service_client::AuditServiceClient;
use eseal_service::api::proto::export_archive_response::Part;
use eseal_service::archive::bag::{self, BagWriter};
use eseal_service::archive::layout;
use eseal_service::archive::time::parse_time;
use eseal_service::archive::{CheckOptions, check_bag};

/// Options of `eseal archive`.
#[derive(Args, Debug)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    action: ArchiveAction,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand, Debug)]
enum ArchiveAction {
    /// Writes the records whose time is in [FROM, TO) as a BagIt bag: records, a proof file per
    /// record, the signed checkpoint, the seals and the kept sealed documents.
    Export {
        /// Start of the range (inclusive): RFC 3339 UTC (2026-11-27T00:00:00Z) or Unix seconds.
        #[arg(long)]
        from: String,
        /// End of the range (exclusive): RFC 3339 UTC or Unix seconds.
        #[arg(long)]
        to: String,
        /// The bag's folder to create (absent or empty).
        #[arg(short, long)]
        output: PathBuf,
        /// The previous export's bag: this one then proves the log consistent with its
        /// checkpoint.
        #[arg(long)]
        previous: Option<PathBuf>,
    },
    /// Verifies a bag offline: authenticity, integrity, usability and security (DA/T 70).
    Verify {
        /// The bag's folder.
        bag: PathBuf,
        /// The log's verifier key (the string, or a file holding it). Never taken from the bag.
        #[arg(long)]
        log_key: String,
        /// Roots the seal certificates must chain to (PEM); default: keys-sample/root-ca.pem.
        #[arg(long)]
        trust: Vec<PathBuf>,
        /// The previous export's bag: the consistency proof must start at its checkpoint.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// A verifier key given as the string itself or as a file holding it.
fn verifier(text: &str) -> Result<LogVerifier, CliError> {
    let key = match std::fs::read_to_string(text) {
        Ok(contents) => contents.trim().to_string(),
        Err(_) => text.trim().to_string(),
    };
    LogVerifier::from_verifier_key(&key).map_err(|e| CliError::Usage(format!("--log-key: {e}")))
}

/// The tree size of a previous bag's checkpoint (its signature is checked later, by `verify`).
fn previous_size(bag: &Path) -> Result<u64, CliError> {
    let path = bag.join(layout::CHECKPOINT_PATH);
    let note = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Usage(format!("--previous: cannot read {}: {e}", path.display())))?;
    let body = note.split_once("\n\n").map(|(text, _)| format!("{text}\n")).unwrap_or_default();
    let checkpoint = Checkpoint::parse(&body)
        .map_err(|e| CliError::Usage(format!("--previous: {}: {e}", path.display())))?;
    Ok(checkpoint.size)
}

/// Runs `eseal archive ...`.
pub async fn run(args: ArchiveArgs) -> Result<(), CliError> {
    match args.action {
        ArchiveAction::Verify { bag, log_key, trust, previous, json } => {
            let verifier = verifier(&log_key)?;
            let anchors = super::client::trust_anchors(&trust)?;
            let previous_checkpoint = match previous {
                Some(dir) => {
                    let path = dir.join(layout::CHECKPOINT_PATH);
                    Some(std::fs::read_to_string(&path).map_err(|e| {
                        CliError::Usage(format!("--previous: cannot read {}: {e}", path.display()))
                    })?)
                }
                None => None,
            };
            if !bag.is_dir() {
                return Err(CliError::Usage(format!("{} is not a folder", bag.display())));
            }
            let options = CheckOptions { anchors, previous_checkpoint };
            let report = tokio::task::spawn_blocking(move || check_bag(&bag, &verifier, &options))
                .await
                .map_err(|e| CliError::Serve(e.to_string()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(usage)?);
            } else {
                print!("{}", report.to_text());
            }
            if report.ok() {
                Ok(())
            } else {
                Err(CliError::Serve("the archive does not verify".into()))
            }
        }
        ArchiveAction::Export { from, to, output, previous } => {
            let from = parse_time(&from).map_err(|e| CliError::Usage(format!("--from: {e}")))?;
            let to = parse_time(&to).map_err(|e| CliError::Usage(format!("--to: {e}")))?;
            if from >= to {
                return Err(CliError::Usage("--from must be before --to".into()));
            }
            let previous_tree_size = match &previous {
                Some(dir) => previous_size(dir)?,
                None => 0,
            };
            if output.exists() && std::fs::read_dir(&output).map_err(usage)?.next().is_some() {
                return Err(CliError::Usage(format!(
                    "{} exists and is not empty",
                    output.display()
                )));
            }
            let mut client =
                AuditServiceClient::new(args.client.connect("client-archivist").await?)
                    .max_decoding_message_size(8 << 20);
            let mut stream = client
                .export_archive(ExportArchiveRequest {
                    from_time: from,
                    to_time: to,
                    previous_tree_size,
                })
                .await?
                .into_inner();

            // Written beside the target, renamed when complete: a broken export leaves no bag.
            let name = output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "bag".into());
            let parent =
                output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", parent.display())))?;
            let partial = tempfile::Builder::new()
                .prefix(&format!(".{name}.partial-"))
                .tempdir_in(parent)
                .map_err(|e| {
                    CliError::Usage(format!("cannot write in {}: {e}", parent.display()))
                })?;
            let bag_dir = partial.path().join("bag");
            let mut writer = BagWriter::create(&bag_dir).map_err(usage)?;
            let broken = |why: String| CliError::Serve(format!("the export is broken: {why}"));
            let mut info = None;
            while let Some(message) = stream.message().await? {
                match message.part {
                    Some(Part::Chunk(chunk)) => {
                        if info.is_some() {
                            return Err(broken("a file piece after the summary".into()));
                        }
                        match writer.current() {
                            Some(current) if current == chunk.path => {}
                            Some(current) => {
                                return Err(broken(format!(
                                    "{} began before {current} ended",
                                    chunk.path
                                )));
                            }
                            None => {
                                writer.start_file(&chunk.path).map_err(|e| broken(e.to_string()))?
                            }
                        }
                        writer.write(&chunk.data).map_err(|e| CliError::Usage(e.to_string()))?;
                        if chunk.end_of_file {
                            writer.finish_file().map_err(|e| CliError::Usage(e.to_string()))?;
                        }
                    }
                    Some(Part::Summary(summary)) => {
                        info = Some(
                            summary
                                .bag_info
                                .into_iter()
                                .map(|f| (f.label, f.value))
                                .collect::<Vec<(String, String)>>(),
                        );
                    }
                    None => return Err(broken("an empty message".into())),
                }
            }
            let Some(info) = info else {
                return Err(broken("the stream ended before the summary".into()));
            };
            if let Some(current) = writer.current() {
                return Err(broken(format!("{current} did not end")));
            }
            let summary = writer.finish(&info).map_err(|e| CliError::Usage(e.to_string()))?;
            if output.exists() {
                std::fs::remove_dir(&output).map_err(|e| {
                    CliError::Usage(format!("cannot replace {}: {e}", output.display()))
                })?;
            }
            // The bag holds case numbers, principals and (when kept) the sealed documents: its
            // folder is its owner's until an archivist hands it over.
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&bag_dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| {
                        CliError::Usage(format!("cannot restrict {}: {e}", bag_dir.display()))
                    })?;
            }
            std::fs::rename(&bag_dir, &output).map_err(|e| {
                CliError::Usage(format!("cannot move the bag to {}: {e}", output.display()))
            })?;
            let field = |label: &str| bag::info_value(&info, label).unwrap_or("?").to_string();
            println!(
                "bag written to {}: records {}-{} of log {} ({} payload files, {} bytes), checkpoint of {} records{}",
                output.display(),
                field(layout::INFO_FIRST),
                field(layout::INFO_LAST),
                field(layout::INFO_ORIGIN),
                summary.files,
                summary.bytes,
                field(layout::INFO_TREE_SIZE),
                if previous.is_some() {
                    format!(", consistent with the previous checkpoint of {previous_tree_size}")
                } else {
                    String::new()
                }
            );
            Ok(())
        }
    }
}
