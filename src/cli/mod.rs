//! The `eseal` command line: `serve`, and client commands that talk to a server over mTLS.
//! Each command group lives in its own file; errors end as one line and a non-zero exit code.

mod archive;
mod audit;
mod bench;
pub mod client;
mod health;
mod keys;
mod progress;
mod seal;
mod serve;
mod sign;
mod verify;

use clap::{Parser, Subcommand};

pub use client::ClientArgs;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or a local file is wrong.
    #[error("{0}")]
    Usage(String),
    /// The server cannot be reached.
    #[error("cannot connect to {0}")]
    Connect(String),
    /// The server refused or failed.
    #[error("{}: {}", eseal_service::api::status::code_name(.0.code()), .0.message())]
    Status(#[from] tonic::Status),
    /// The service could not start or stopped with an error.
    #[error("{0}")]
    Serve(String),
    /// A finding with its own exit code (a verification verdict).
    #[error("{message}")]
    Finding {
        /// The exit code.
        code: i32,
        /// What was found.
        message: String,
    },
    /// Nothing is wrong, but part of what was asked is not yet verifiable (audit records a
    /// signed checkpoint does not cover yet).
    #[error("{0}")]
    Pending(String),
}

impl CliError {
    /// The process exit code: 2 for usage, 3 for connection, 4 for refusals, 5 for pending,
    /// a finding's own code, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Finding { code, .. } => *code,
            CliError::Usage(_) => 2,
            CliError::Connect(_) => 3,
            CliError::Status(_) => 4,
            CliError::Serve(_) => 1,
            CliError::Pending(_) => 5,
        }
    }
}

/// eseal: electronic seals for approval documents.
#[derive(Parser, Debug)]
#[command(name = "eseal", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the service (no config: embedded store in ./eseal-data, keys-sample, 127.0.0.1:50051).
    Serve(serve::ServeArgs),
    /// Seal life cycle: list, show, register, suspend, resume, revoke (as the seal administrator).
    Seal(seal::SealArgs),
    /// Grants one stamping (as a custodian) and prints the authorization id.
    Grant(seal::GrantArgs),
    /// Seals a PDF (as a department system).
    Sign(sign::SignArgs),
    /// Verifies a PDF's signatures (as an archivist).
    Verify(verify::VerifyArgs),
    /// The audit trail: checkpoint, verify, prove, check-proof, log-key (as an archivist).
    Audit(audit::AuditArgs),
    /// Archival export of the audit trail as a BagIt bag, and its offline verification (as an archivist).
    Archive(archive::ArchiveArgs),
    /// The server's health (SERVING or not), for probes; exit code 0 only when serving.
    Health(health::HealthArgs),
    /// Load generator: drives a running server over gRPC and reports throughput and latency.
    Bench(bench::BenchArgs),
    /// Encrypted seal key files: generate-kek, encrypt, rotate-kek (local files, no server).
    Keys(keys::KeysArgs),
}

impl Cli {
    /// Runs the command.
    pub async fn run(self) -> Result<(), CliError> {
        if !matches!(self.command, Command::Serve(_)) {
            eseal_service::logging::init_default();
        }
        match self.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Seal(args) => seal::run(args).await,
            Command::Grant(args) => seal::grant(args).await,
            Command::Sign(args) => sign::run(args).await,
            Command::Verify(args) => verify::run(args).await,
            Command::Audit(args) => audit::run(args).await,
            Command::Archive(args) => archive::run(args).await,
            Command::Health(args) => health::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Keys(args) => keys::run(args),
        }
    }
}

/// Parses a duration like `90s`, `30m`, `2h`, `1d` into seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let (number, unit) = text
        .trim()
        .split_at(text.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(text.trim().len()));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 30m, 2h or 1d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} is not a duration like 90s, 30m, 2h or 1d")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own checks of the whole command tree.
    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// A global argument (the client's `--server`, `--cert`, `--key`, ...) reaches every
    /// subcommand below it; a subcommand defining an argument of the same id or flag takes its
    /// place and the value is read back with the wrong type: a panic on every call (clap's
    /// debug_assert does not see it).
    #[test]
    fn no_subcommand_redefines_a_global_argument() {
        fn walk(
            command: &clap::Command,
            path: &str,
            globals: &[(String, Option<String>)],
            clashes: &mut Vec<String>,
        ) {
            let mut inherited = globals.to_vec();
            for arg in command.get_arguments() {
                let id = arg.get_id().to_string();
                let long = arg.get_long().map(str::to_string);
                for (global_id, global_long) in globals {
                    if *global_id == id || (long.is_some() && *global_long == long) {
                        clashes.push(format!(
                            "{path}: {id} (--{}) redefines the global {global_id}",
                            long.clone().unwrap_or_default()
                        ));
                    }
                }
                if arg.is_global_set() {
                    inherited.push((id, long));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), &inherited, clashes);
            }
        }
        let mut clashes = Vec::new();
        walk(&super::Cli::command(), "eseal", &[], &mut clashes);
        assert!(clashes.is_empty(), "{clashes:#?}");
    }
}
