//! `eseal bench`: the load generator's flags, resolved into a plan for the eseal-bench crate
//! (the document read, the rectangle and duration parsed, the trust anchors loaded, the
//! channels connected as the department and as the custodian); the report printed as text or
//! JSON. Exit 0 only with no error and no failed check.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::client::{sample_default, trust_anchors};
use super::{CliError, ClientArgs, parse_duration};
use eseal_bench::{Connections, LoadPlan};
use eseal_service::api::proto;

/// What each task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Authorizations granted beforehand (or, with --duration, in the background), then stamped.
    Sign,
    /// Each task grants, then signs, in turn.
    Cycle,
}

/// Options of `eseal bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The PDF to seal, again and again.
    #[arg(long)]
    document: PathBuf,
    /// The seal.
    #[arg(long)]
    seal: String,
    /// Concurrent SignDocument streams (tasks).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Number of stampings (default 200 when --duration is not given).
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Run for this long instead (e.g. 30s, 10m). In `sign` mode, authorizations are granted in
    /// the background while the run goes on (see --grant-ahead), unless --pregrant is given.
    #[arg(long)]
    duration: Option<String>,
    /// `sign` mode with --duration: grant this many authorizations beforehand and use only
    /// those (the run ends early if they are used up), instead of granting in the background.
    #[arg(long)]
    pregrant: Option<u64>,
    /// `sign` mode with --duration and no --pregrant: authorizations granted before the clock
    /// starts, and the most that background granting keeps unused ahead of the signers.
    #[arg(long, default_value_t = 2000)]
    grant_ahead: u64,
    /// sign: authorizations granted beforehand (with --duration: in the background), only the
    /// stampings measured; cycle: grant then sign, per task.
    #[arg(long, value_enum, default_value_t = Mode::Sign)]
    mode: Mode,
    /// Visible seal X,Y,W,H in mm from the bottom-right corner of the last page; without it
    /// the seal is invisible.
    #[arg(long)]
    rect: Option<String>,
    /// Ask for the update alone (ReturnedBytes UPDATE_ONLY), as a client that keeps the
    /// document it sent would; the sampled answers are checked as that document followed by it.
    #[arg(long)]
    update_only: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Check every N-th sealed document in full, in-process: SHA-256 against its receipt, then
    /// the verifier (0: none; the others are checked by size only).
    #[arg(long, default_value_t = 50)]
    verify_every: u64,
    /// Trust anchors of the verification (PEM); default: keys-sample/root-ca.pem.
    #[arg(long)]
    trust: Option<PathBuf>,
    /// HTTP/2 connections per identity that the streams share round-robin (default 1: one
    /// multiplexed connection measured as fast as, or faster than, one per stream).
    #[arg(long)]
    connections: Option<usize>,
    /// The department principal the authorizations are granted to.
    #[arg(long, default_value = "approval-system")]
    grantee: String,
    /// Custodian certificate (PEM) for the grants; default: keys-sample/client-custodian.pem.
    #[arg(long)]
    custodian_cert: Option<PathBuf>,
    /// Custodian private key (PEM); default: keys-sample/client-custodian.key.
    #[arg(long)]
    custodian_key: Option<PathBuf>,
    /// The server's process id, when it runs on this machine: reports its CPU seconds per
    /// stamping (from /proc/PID/stat) and its resident memory, sampled once a second (VmRSS
    /// from /proc/PID/status).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Also write every sealed document to this directory (as RUN-N.pdf), for instance to build
    /// the document set of a verification benchmark; the directory is created when missing.
    #[arg(long)]
    save_to: Option<PathBuf>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs the load `args` describe and reports it.
pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    let json = args.json;
    let plan = plan(&args)?;
    let concurrency = plan.concurrency;
    let mut custodian = args.client.clone();
    custodian.cert = Some(match &args.custodian_cert {
        Some(path) => path.clone(),
        None => sample_default("client-custodian.pem", "--custodian-cert", None)?,
    });
    custodian.key = Some(match &args.custodian_key {
        Some(path) => path.clone(),
        None => sample_default("client-custodian.key", "--custodian-key", None)?,
    });
    let connections = args.connections.unwrap_or(1).clamp(1, concurrency);
    let mut channels = Connections { department: Vec::new(), custodian: Vec::new() };
    for _ in 0..connections {
        channels.department.push(args.client.connect("client-department").await?);
        channels.custodian.push(custodian.connect("client-custodian").await?);
    }
    let report = eseal_bench::run(plan, channels).await.map_err(|e| match e {
        eseal_bench::BenchError::ServerProcess(m) => CliError::Usage(format!("--server-pid: {m}")),
        other => CliError::Serve(other.to_string()),
    })?;
    if json {
        println!("{}", report.json);
    } else {
        eseal_bench::print_report(&report.json);
    }
    if report.errors > 0 || report.verify_failures > 0 {
        return Err(CliError::Serve(format!(
            "{} error(s), {} failed verification(s)",
            report.errors, report.verify_failures
        )));
    }
    Ok(())
}

/// The plan of `args`: everything read, parsed and checked before any connection is made.
fn plan(args: &BenchArgs) -> Result<LoadPlan, CliError> {
    let document = std::fs::read(&args.document)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.document.display())))?;
    if let Some(dir) = &args.save_to {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    let duration = match &args.duration {
        Some(text) => {
            Some(Duration::from_secs(parse_duration(text).map_err(CliError::Usage)?.max(1) as u64))
        }
        None => None,
    };
    let concurrency = args.concurrency.max(1);
    Ok(LoadPlan {
        document,
        document_name: args.document.display().to_string(),
        seal: args.seal.clone(),
        grantee: args.grantee.clone(),
        mode: match args.mode {
            Mode::Sign => eseal_bench::Mode::Sign,
            Mode::Cycle => eseal_bench::Mode::Cycle,
        },
        concurrency,
        count: args.count,
        duration,
        pregrant: args.pregrant,
        grant_ahead: args.grant_ahead,
        placement: proto::Placement {
            page: -1,
            rect: args.rect.as_deref().map(parse_rect).transpose()?,
        },
        update_only: args.update_only,
        verify_every: args.verify_every,
        anchors: trust_anchors(args.trust.as_slice())?,
        server_pid: args.server_pid,
        save_to: args.save_to.clone(),
    })
}

fn parse_rect(text: &str) -> Result<proto::SealRect, CliError> {
    let numbers: Vec<f64> = text
        .split(',')
        .map(|n| n.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| CliError::Usage(format!("--rect {text:?}: expected X,Y,W,H")))?;
    let [x, y, width, height] = numbers[..] else {
        return Err(CliError::Usage(format!("--rect {text:?}: expected four numbers X,Y,W,H")));
    };
    Ok(proto::SealRect {
        x,
        y,
        width,
        height,
        unit: proto::Unit::Millimetres as i32,
        corner: proto::Corner::BottomRight as i32,
    })
}
