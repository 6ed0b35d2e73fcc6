//! The load generator behind `eseal bench`: drives a running server over real gRPC with mTLS.
//! The command line resolves its flags into a [`LoadPlan`] and connects the [`Connections`];
//! [`run`] does the rest and returns the [`Report`].
//!
//! Two modes: `sign` measures only the stampings, with authorizations granted as the custodian
//! (with `--count` or `--pregrant`: all of them first, concurrently, bounded; with `--duration`
//! alone: `--grant-ahead` of them first, then background tasks that keep at most that many
//! unused authorizations ahead of the signers, so that a long run needs no huge pregrant);
//! `cycle` has each task grant then sign in turn, as a custodian and a department would, and
//! measures both the stamping and the whole cycle. Throughput counts stampings only, and the
//! latency is that of the SignDocument call alone.
//! Every answer must carry a fresh receipt and exactly as many bytes as it announces; a sample
//! of the sealed documents (every `--verify-every`-th) is checked in full while the run goes
//! on: SHA-256 against the receipt, then the engine's verifier (intact, valid, trusted, whole
//! file). The other answers are checked by size only: the load generator shares the machine
//! with the server, and hashing every answer would take CPU from the server it measures.
//! With the server's process id, its CPU time per stamping and its resident memory (VmRSS,
//! sampled once a second) are reported too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, oneshot};
use tonic::transport::Channel;

use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::sign_document_request::Part as RequestPart;
use eseal_service::api::proto::sign_document_response::Part as ResponsePart;
use eseal_service::api::proto::signing_service_client::SigningServiceClient;
use eseal_service::api::proto::{self, GrantAuthorizationRequest, SignDocumentRequest, SignHeader};
use eseal_service::api::status::code_name;
use eseal_verify::{Coverage, DocumentVerdict, Indication, TrustAnchors, verify_document};

/// What each task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Authorizations granted beforehand (or, for a run of a given duration, in the
    /// background), then stamped.
    Sign,
    /// Each task grants, then signs, in turn.
    Cycle,
}

/// A run, resolved: what to stamp, how, how much and how hard.
pub struct LoadPlan {
    /// The PDF to seal, again and again.
    pub document: Vec<u8>,
    /// Its name, for the report.
    pub document_name: String,
    /// The seal.
    pub seal: String,
    /// The department principal the authorizations are granted to.
    pub grantee: String,
    /// What each task does.
    pub mode: Mode,
    /// Concurrent SignDocument streams (tasks), at least 1.
    pub concurrency: usize,
    /// Number of stampings (200 when neither this nor `duration` is given).
    pub count: Option<u64>,
    /// Run for this long instead.
    pub duration: Option<Duration>,
    /// `Sign` mode with a duration: grant this many beforehand and use only those.
    pub pregrant: Option<u64>,
    /// `Sign` mode with a duration and no pregrant: granted before the clock starts, and the
    /// most that background granting keeps unused ahead of the signers.
    pub grant_ahead: u64,
    /// Where the seals go.
    pub placement: proto::Placement,
    /// Ask for the incremental update alone instead of the sealed document.
    pub update_only: bool,
    /// Check every n-th sealed document in full (0: none).
    pub verify_every: u64,
    /// The roots those checks trust.
    pub anchors: TrustAnchors,
    /// The server's process id, when it runs on this machine: its CPU seconds per stamping and
    /// its resident memory are reported.
    pub server_pid: Option<u32>,
    /// Also write every sealed document to this existing folder (as RUN-N.pdf).
    pub save_to: Option<PathBuf>,
}

/// The channels to the server, as the department and as the custodian (who grants); the
/// tasks share them round-robin.
pub struct Connections {
    /// As the department: one per connection.
    pub department: Vec<Channel>,
    /// As the custodian: as many.
    pub custodian: Vec<Channel>,
}

/// A finished run: the report (JSON), and whether anything failed.
pub struct Report {
    /// Everything measured; [`print_report`] shows it as text.
    pub json: serde_json::Value,
    /// Failed calls (stampings and grants).
    pub errors: u64,
    /// Sealed documents whose check failed.
    pub verify_failures: u64,
}

/// Why a run could not be made or finished.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The server's process cannot be read in /proc.
    #[error("{0}")]
    ServerProcess(String),
    /// A task of the run failed.
    #[error("{0}")]
    Task(String),
}

/// Everything the tasks share.
struct Shared {
    document: bytes::Bytes,
    update_only: bool,
    seal: String,
    grantee: String,
    placement: proto::Placement,
    run_id: String,
    mode: Mode,
    /// The next item to take.
    next: AtomicU64,
    /// Stop taking items after this many (count mode) ...
    limit: u64,
    /// ... or after this instant (duration mode).
    deadline: Option<Instant>,
    /// Where `sign` mode takes its authorizations from.
    authorizations: Authorizations,
    /// Authorizations granted while the clock ran (background granting).
    granted_during_run: AtomicU64,
    /// Times a signer found no granted authorization waiting (background granting).
    grant_waits: AtomicU64,
    verify_every: u64,
    save_to: Option<PathBuf>,
    anchors: TrustAnchors,
    results: Mutex<Results>,
    /// The in-process verifications under way.
    checks: Mutex<Vec<tokio::task::JoinHandle<Result<(), String>>>>,
}

/// The authorizations of `sign` mode, each (id, case number).
enum Authorizations {
    /// Granted before the clock started; item `i` uses the `i`-th.
    Pregranted(Vec<(String, String)>),
    /// Granted by background tasks into a bounded queue (`--duration` without `--pregrant`).
    Queue(Mutex<mpsc::Receiver<(String, String)>>),
    /// `cycle` mode: each task grants its own.
    None,
}

#[derive(Default)]
struct Results {
    sign_us: Vec<u64>,
    cycle_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
    grant_errors: BTreeMap<String, u64>,
    first_errors: Vec<String>,
    bytes_out: u64,
    bytes_in: u64,
    verified: u64,
    verify_failures: u64,
    verify_problems: Vec<String>,
    last_completion: Option<Instant>,
}

impl Results {
    fn error(&mut self, grant: bool, code: &str, message: &str) {
        *(if grant { &mut self.grant_errors } else { &mut self.errors })
            .entry(code.to_string())
            .or_default() += 1;
        if self.first_errors.len() < 5 {
            self.first_errors
                .push(format!("{}{code}: {message}", if grant { "grant " } else { "" }));
        }
    }
}

/// utime + stime of `pid`, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: u32) -> Result<f64, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| BenchError::ServerProcess(format!("process {pid}: {e}")))?;
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| BenchError::ServerProcess(format!("/proc/{pid}/stat unreadable")))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| BenchError::ServerProcess(format!("/proc/{pid}/stat unreadable")))
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The value at quantile `q` (nearest rank) of sorted microseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn latency_json(mut us: Vec<u64>) -> serde_json::Value {
    us.sort_unstable();
    let mean =
        if us.is_empty() { 0.0 } else { us.iter().sum::<u64>() as f64 / us.len() as f64 / 1000.0 };
    serde_json::json!({
        "count": us.len(),
        "p50": percentile_ms(&us, 0.50), "p99": percentile_ms(&us, 0.99), "p999": percentile_ms(&us, 0.999),
        "mean": mean, "max": us.last().map_or(0.0, |m| *m as f64 / 1000.0),
    })
}

async fn grant(
    admin: &mut SealAdminServiceClient<Channel>,
    shared: &Shared,
    case: &str,
) -> Result<String, tonic::Status> {
    let request = GrantAuthorizationRequest {
        seal_id: shared.seal.clone(),
        grantee: shared.grantee.clone(),
        case_number: case.to_string(),
        document_sha256: Vec::new(),
        valid_for_seconds: 0,
    };
    Ok(admin.grant_authorization(request).await?.into_inner().id)
}

/// One SignDocument's answer: its size, checked against the receipt, and with `keep`, the
/// sealed document itself with the SHA-256 its receipt states.
struct Answer {
    len: u64,
    kept: Option<(Vec<u8>, Vec<u8>)>,
}

/// One SignDocument. Every answer must carry a fresh (not replayed) receipt and exactly the
/// bytes it announces; the sampled ones (`keep`) are kept whole for the full check.
async fn sign_one(
    signing: &mut SigningServiceClient<Channel>,
    shared: &Shared,
    authorization: &str,
    case: &str,
    request_id: String,
    keep: bool,
) -> Result<Answer, tonic::Status> {
    let header = SignHeader {
        seal_id: shared.seal.clone(),
        authorization_id: authorization.to_string(),
        request_id,
        placement: Some(shared.placement),
        reason: "bench".into(),
        case_number: case.to_string(),
        returned_bytes: if shared.update_only {
            proto::ReturnedBytes::UpdateOnly
        } else {
            proto::ReturnedBytes::SealedDocument
        } as i32,
        ..Default::default()
    };
    let mut messages = vec![SignDocumentRequest { part: Some(RequestPart::Header(header)) }];
    messages.extend(
        eseal_service::service::spool::slices(shared.document.clone(), 1 << 20)
            .map(|c| SignDocumentRequest { part: Some(RequestPart::Chunk(c.to_vec())) }),
    );
    let mut responses = signing.sign_document(tokio_stream::iter(messages)).await?.into_inner();
    let receipt = match responses.message().await? {
        Some(proto::SignDocumentResponse { part: Some(ResponsePart::Receipt(r)) }) => r,
        _ => return Err(tonic::Status::data_loss("the server answered without a receipt")),
    };
    if receipt.replayed {
        return Err(tonic::Status::data_loss(
            "the server replayed an earlier stamping for a fresh request_id",
        ));
    }
    if receipt.input_size != shared.document.len() as u64 {
        return Err(tonic::Status::data_loss(format!(
            "the receipt says {} bytes were received, not {}",
            receipt.input_size,
            shared.document.len()
        )));
    }
    // With the update alone, the sealed document is the document sent followed by it.
    let expected = if shared.update_only {
        receipt.output_size.saturating_sub(receipt.input_size)
    } else {
        receipt.output_size
    };
    let mut len = 0u64;
    let mut kept = keep.then(|| {
        let mut document = Vec::with_capacity(receipt.output_size as usize);
        if shared.update_only {
            document.extend_from_slice(&shared.document);
        }
        document
    });
    while let Some(message) = responses.message().await? {
        if let Some(ResponsePart::Chunk(chunk)) = message.part {
            len += chunk.len() as u64;
            if let Some(document) = &mut kept {
                document.extend_from_slice(&chunk);
            }
        }
    }
    if len != expected {
        return Err(tonic::Status::data_loss(format!(
            "the answer has {len} bytes, its receipt says {expected}"
        )));
    }
    Ok(Answer { len, kept: kept.map(|document| (document, receipt.output_sha256)) })
}

/// Checks a sampled answer: its bytes hash to the receipt's SHA-256, its last signature (the
/// seal) is TOTAL-PASSED and covers the entire file, and no signature failed (an earlier
/// signer's may be INDETERMINATE under this verifier's anchors).
fn check(sealed: &[u8], receipt_sha256: &[u8], anchors: &TrustAnchors) -> Result<(), String> {
    if ring::digest::digest(&ring::digest::SHA256, sealed).as_ref() != receipt_sha256 {
        return Err("the sealed document does not match the receipt's SHA-256".into());
    }
    let report = verify_document(&sealed, anchors).map_err(|e| e.to_string())?;
    let last = report.signatures.last().ok_or("no signature")?;
    if last.indication == Indication::TotalPassed
        && last.coverage == Coverage::EntireFile
        && !matches!(report.verdict, DocumentVerdict::Failed | DocumentVerdict::ChangedAfterSigning)
    {
        Ok(())
    } else {
        Err(format!(
            "verdict {}; field {}: {} {:?}, trusted {} ({:?}), coverage {:?}, problems {:?}",
            report.verdict.as_str(),
            last.field_name,
            last.indication.as_str(),
            last.sub_indication,
            last.trusted,
            last.trust_problem,
            last.coverage,
            last.problems
        ))
    }
}

/// The next authorization granted in the background, waiting for one when none is ready; `None`
/// once the deadline has passed or every granting task has stopped.
async fn take_granted(
    shared: &Shared,
    queue: &Mutex<mpsc::Receiver<(String, String)>>,
) -> Option<(String, String)> {
    let mut queue = queue.lock().await;
    match queue.try_recv() {
        Ok(pair) => return Some(pair),
        Err(mpsc::error::TryRecvError::Disconnected) => return None,
        Err(mpsc::error::TryRecvError::Empty) => {}
    }
    shared.grant_waits.fetch_add(1, Ordering::Relaxed);
    match shared.deadline {
        Some(deadline) => {
            tokio::time::timeout_at(deadline.into(), queue.recv()).await.ok().flatten()
        }
        None => queue.recv().await,
    }
}

/// One background granting task (`sign` mode with `--duration`): grants an authorization only
/// when the queue has room for it, so that at most the queue's capacity is granted ahead of the
/// signers. Stops when the queue is closed (the run is over) or after a refused grant (recorded
/// as a grant error, which fails the run).
async fn granter(
    shared: Arc<Shared>,
    queue: mpsc::Sender<(String, String)>,
    mut admin: SealAdminServiceClient<Channel>,
    next: Arc<AtomicU64>,
) {
    while let Ok(slot) = queue.reserve().await {
        if shared.deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        let case = format!("BENCH-{}-{}", shared.run_id, next.fetch_add(1, Ordering::Relaxed));
        match grant(&mut admin, &shared, &case).await {
            Ok(id) => {
                slot.send((id, case));
                shared.granted_during_run.fetch_add(1, Ordering::Relaxed);
            }
            Err(s) => {
                shared.results.lock().await.error(true, &code_name(s.code()), s.message());
                return;
            }
        }
    }
}

/// VmRSS of a `/proc/PID/status` text, in KiB.
fn vm_rss_kib(status: &str) -> Option<u64> {
    let value = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?.trim();
    value.strip_suffix("kB").unwrap_or(value).trim().parse().ok()
}

/// The resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> Result<f64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| BenchError::ServerProcess(format!("process {pid}: {e}")))?;
    vm_rss_kib(&status)
        .map(|kib| kib as f64 / 1024.0)
        .ok_or_else(|| BenchError::ServerProcess(format!("/proc/{pid}/status has no VmRSS")))
}

/// Samples the resident memory of `pid` once a second from `start` until told to stop, then
/// once more: the series of (seconds since `start`, MiB), and why sampling stopped early, if it
/// did (the process went away).
async fn sample_rss(
    pid: u32,
    start: Instant,
    mut stop: oneshot::Receiver<()>,
) -> (Vec<(f64, f64)>, Option<String>) {
    let mut series = Vec::new();
    let mut ticks = tokio::time::interval_at(start.into(), Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let stopping = tokio::select! {
            _ = &mut stop => true,
            _ = ticks.tick() => false,
        };
        match rss_mib(pid) {
            Ok(mib) => series.push((start.elapsed().as_secs_f64(), mib)),
            Err(e) => return (series, Some(e.to_string())),
        }
        if stopping {
            return (series, None);
        }
    }
}

/// The JSON summary of an RSS series: the first and last samples, the largest, the first sample
/// at or after 1, 5 and 10 minutes (null when the run was shorter), and the series itself as
/// [seconds, MiB] pairs.
fn rss_json(series: &[(f64, f64)], stopped: Option<&str>) -> serde_json::Value {
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let at = |seconds: f64| series.iter().find(|(t, _)| *t >= seconds).map(|(_, mib)| round(*mib));
    serde_json::json!({
        "start": series.first().map(|(_, mib)| round(*mib)),
        "at_1min": at(60.0),
        "at_5min": at(300.0),
        "at_10min": at(600.0),
        "end": series.last().map(|(_, mib)| round(*mib)),
        "max": series.iter().map(|(_, mib)| *mib).reduce(f64::max).map(round),
        "samples": series.len(),
        "sampling_stopped": stopped,
        "series": series.iter().map(|(t, mib)| [round(*t), round(*mib)]).collect::<Vec<_>>(),
    })
}

/// One task: takes items until the count or the deadline is reached.
async fn worker(
    shared: Arc<Shared>,
    mut signing: SigningServiceClient<Channel>,
    mut admin: SealAdminServiceClient<Channel>,
) {
    loop {
        if shared.deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.limit {
            return;
        }
        let cycle_start = Instant::now();
        let (authorization, case) = match (shared.mode, &shared.authorizations) {
            (Mode::Sign, Authorizations::Pregranted(granted)) => match granted.get(i as usize) {
                Some(pair) => pair.clone(),
                None => return,
            },
            (Mode::Sign, Authorizations::Queue(queue)) => {
                match take_granted(&shared, queue).await {
                    Some(pair) => pair,
                    None => return,
                }
            }
            (Mode::Sign, Authorizations::None) => return,
            (Mode::Cycle, _) => {
                let case = format!("BENCH-{}-{i}", shared.run_id);
                match grant(&mut admin, &shared, &case).await {
                    Ok(id) => (id, case),
                    Err(s) => {
                        shared.results.lock().await.error(true, &code_name(s.code()), s.message());
                        continue;
                    }
                }
            }
        };
        let request_id = format!("bench-{}-{i}", shared.run_id);
        let start = Instant::now();
        let sampled = shared.verify_every > 0 && (i + 1) % shared.verify_every == 0;
        let outcome = sign_one(
            &mut signing,
            &shared,
            &authorization,
            &case,
            request_id,
            sampled || shared.save_to.is_some(),
        )
        .await;
        let end = Instant::now();
        match outcome {
            Err(s) => shared.results.lock().await.error(false, &code_name(s.code()), s.message()),
            Ok(Answer { len: received, kept }) => {
                if let (Some(dir), Some((sealed, _))) = (&shared.save_to, &kept) {
                    let path = dir.join(format!("{}-{i:06}.pdf", shared.run_id));
                    if let Err(e) = tokio::fs::write(&path, sealed).await {
                        shared.results.lock().await.error(
                            false,
                            "save",
                            &format!("cannot write {}: {e}", path.display()),
                        );
                    }
                }
                if let Some((sealed, receipt_sha256)) = kept.filter(|_| sampled) {
                    // Checked off the task, so that the check does not delay the next stamping.
                    let task_shared = shared.clone();
                    let check = tokio::task::spawn_blocking(move || {
                        check(&sealed, &receipt_sha256, &task_shared.anchors)
                            .map_err(|p| format!("stamping {i}: {p}"))
                    });
                    shared.checks.lock().await.push(check);
                }
                let mut r = shared.results.lock().await;
                r.sign_us.push((end - start).as_micros() as u64);
                if shared.mode == Mode::Cycle {
                    r.cycle_us.push((end - cycle_start).as_micros() as u64);
                }
                r.bytes_out += shared.document.len() as u64;
                r.bytes_in += received;
                r.last_completion = Some(r.last_completion.map_or(end, |l| l.max(end)));
            }
        }
    }
}

/// Runs the benchmark and prints its report.
/// Runs `plan` over `connections` and measures it.
pub async fn run(plan: LoadPlan, connections: Connections) -> Result<Report, BenchError> {
    let LoadPlan {
        document,
        document_name,
        seal,
        grantee,
        mode,
        concurrency,
        count,
        duration,
        pregrant,
        grant_ahead,
        placement,
        update_only,
        verify_every,
        anchors,
        server_pid,
        save_to,
    } = plan;
    let concurrency = concurrency.max(1);
    let Connections { department: department_channels, custodian: custodian_channels } =
        connections;
    let connections = department_channels.len().min(custodian_channels.len()).max(1);
    // Background granting: sign mode for a duration, unless a pregrant asks for all first.
    let background =
        mode == Mode::Sign && count.is_none() && duration.is_some() && pregrant.is_none();
    let ahead = grant_ahead.max(1);
    let limit = match (count, duration) {
        (Some(n), _) => n,
        (None, Some(_)) if background => ahead,
        (None, Some(_)) if mode == Mode::Sign => pregrant.unwrap_or(ahead),
        (None, Some(_)) => u64::MAX,
        (None, None) => 200,
    };
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );

    // Sign mode: every authorization first (or the first --grant-ahead of them), granted
    // concurrently (bounded by --concurrency).
    let mut granted = Vec::new();
    let mut grant_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_errors = Vec::new();
    let grant_start = Instant::now();
    if mode == Mode::Sign {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..concurrency {
            let mut admin =
                SealAdminServiceClient::new(custodian_channels[t % connections].clone());
            let next = next.clone();
            let (seal, grantee, run_id) = (seal.clone(), grantee.clone(), run_id.clone());
            tasks.spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= limit {
                        return mine;
                    }
                    let case = format!("BENCH-{run_id}-{i}");
                    let request = GrantAuthorizationRequest {
                        seal_id: seal.clone(),
                        grantee: grantee.clone(),
                        case_number: case.clone(),
                        document_sha256: Vec::new(),
                        valid_for_seconds: 0,
                    };
                    mine.push(
                        admin.grant_authorization(request).await.map(|a| (a.into_inner().id, case)),
                    );
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            for outcome in done.map_err(|e| BenchError::Task(e.to_string()))? {
                match outcome {
                    Ok(pair) => granted.push(pair),
                    Err(s) => {
                        *grant_errors.entry(code_name(s.code())).or_default() += 1;
                        if first_errors.len() < 5 {
                            first_errors.push(format!(
                                "grant {}: {}",
                                code_name(s.code()),
                                s.message()
                            ));
                        }
                    }
                }
            }
        }
    }
    let grant_seconds = grant_start.elapsed().as_secs_f64();
    let pregranted = granted.len() as u64;
    let (limit, authorizations, queue) = match mode {
        Mode::Cycle => (limit, Authorizations::None, None),
        Mode::Sign if background => {
            let (sender, receiver) = mpsc::channel(ahead as usize);
            for pair in granted {
                // The queue holds `ahead` and at most that many were granted.
                sender
                    .try_send(pair)
                    .map_err(|e| BenchError::Task(format!("the authorization queue: {e}")))?;
            }
            (u64::MAX, Authorizations::Queue(Mutex::new(receiver)), Some(sender))
        }
        Mode::Sign => (granted.len() as u64, Authorizations::Pregranted(granted), None),
    };

    let cpu_before = server_pid.map(cpu_seconds).transpose()?;
    let rss_before = server_pid.map(rss_mib).transpose()?;
    let start = Instant::now();
    let (stop_rss, rss_stopped) = oneshot::channel();
    let rss_sampler = server_pid.map(|pid| tokio::spawn(sample_rss(pid, start, rss_stopped)));
    let shared = Arc::new(Shared {
        document: bytes::Bytes::from(document),
        update_only,
        seal: seal.clone(),
        grantee,
        placement,
        run_id,
        mode,
        next: AtomicU64::new(0),
        limit,
        deadline: duration.map(|d| start + d),
        authorizations,
        granted_during_run: AtomicU64::new(0),
        grant_waits: AtomicU64::new(0),
        verify_every,
        save_to,
        anchors,
        results: Mutex::new(Results { grant_errors, first_errors, ..Default::default() }),
        checks: Mutex::new(Vec::new()),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..concurrency {
        let signing = SigningServiceClient::new(department_channels[t % connections].clone())
            .max_decoding_message_size(usize::MAX);
        let admin = SealAdminServiceClient::new(custodian_channels[t % connections].clone());
        tasks.spawn(worker(shared.clone(), signing, admin));
    }
    let mut granters = tokio::task::JoinSet::new();
    if let Some(sender) = queue {
        let next = Arc::new(AtomicU64::new(pregranted));
        for t in 0..concurrency {
            let admin = SealAdminServiceClient::new(custodian_channels[t % connections].clone());
            granters.spawn(granter(shared.clone(), sender.clone(), admin, next.clone()));
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| BenchError::Task(format!("a bench task failed: {e}")))?;
    }
    if let Authorizations::Queue(queue) = &shared.authorizations {
        // The signers are done: the granting tasks stop at their next reserve.
        queue.lock().await.close();
    }
    while let Some(done) = granters.join_next().await {
        done.map_err(|e| BenchError::Task(format!("a granting task failed: {e}")))?;
    }
    let cpu_after = server_pid.map(cpu_seconds).transpose()?;
    let _ = stop_rss.send(());
    let rss = match rss_sampler {
        Some(sampler) => {
            let (series, stopped) = sampler
                .await
                .map_err(|e| BenchError::Task(format!("the RSS sampler failed: {e}")))?;
            // Sampling starts at the clock's start; a run shorter than a tick still has its start.
            let series = if series.is_empty() {
                rss_before.map(|mib| vec![(0.0, mib)]).unwrap_or_default()
            } else {
                series
            };
            rss_json(&series, stopped.as_deref())
        }
        None => serde_json::Value::Null,
    };
    let mut results = std::mem::take(&mut *shared.results.lock().await);
    for check in std::mem::take(&mut *shared.checks.lock().await) {
        results.verified += 1;
        if let Err(problem) = check.await.unwrap_or_else(|e| Err(format!("the check failed: {e}")))
        {
            results.verify_failures += 1;
            if results.verify_problems.len() < 5 {
                results.verify_problems.push(problem);
            }
        }
    }
    let completed = results.sign_us.len() as u64;
    let window = results.last_completion.map_or(start.elapsed(), |l| l - start).as_secs_f64();
    let throughput = if window > 0.0 { completed as f64 / window } else { 0.0 };
    let cpu_per_stamping = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) if completed > 0 => Some((a - b) / completed as f64),
        _ => None,
    };
    let errors: u64 =
        results.errors.values().sum::<u64>() + results.grant_errors.values().sum::<u64>();
    let mode_name = match mode {
        Mode::Sign => "sign",
        Mode::Cycle => "cycle",
    };
    let report = serde_json::json!({
        "mode": mode_name,
        "document": document_name,
        "document_bytes": shared.document.len(),
        "returned_bytes": if update_only { "update_only" } else { "sealed_document" },
        "seal": seal,
        "concurrency": concurrency,
        "connections": connections,
        "requested": if limit == u64::MAX { serde_json::Value::Null } else { limit.into() },
        "completed": completed,
        "errors": errors,
        "errors_by_code": results.errors,
        "grant_errors_by_code": results.grant_errors,
        "first_errors": results.first_errors,
        "grant_seconds": if mode == Mode::Sign { serde_json::json!(grant_seconds) } else { serde_json::Value::Null },
        "pregranted": if mode == Mode::Sign { serde_json::json!(pregranted) } else { serde_json::Value::Null },
        "granted_during_run": if background { serde_json::json!(shared.granted_during_run.load(Ordering::Relaxed)) } else { serde_json::Value::Null },
        "grant_waits": if background { serde_json::json!(shared.grant_waits.load(Ordering::Relaxed)) } else { serde_json::Value::Null },
        "window_seconds": window,
        "throughput": throughput,
        "latency_ms": latency_json(results.sign_us),
        "cycle_latency_ms": if mode == Mode::Cycle { latency_json(results.cycle_us) } else { serde_json::Value::Null },
        "bytes_out": results.bytes_out,
        "bytes_in": results.bytes_in,
        "verified": results.verified,
        "verify_failures": results.verify_failures,
        "verify_problems": results.verify_problems,
        "server_cpu_seconds_per_stamping": cpu_per_stamping,
        "server_rss_mib": rss,
    });
    Ok(Report { json: report, errors, verify_failures: results.verify_failures })
}

/// The report as text.
pub fn print_report(r: &serde_json::Value) {
    let ms = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    println!(
        "{} mode, {} concurrent streams over {} connection(s), {} ({} bytes), answers: {}",
        r["mode"].as_str().unwrap_or(""),
        r["concurrency"],
        r["connections"],
        r["document"].as_str().unwrap_or(""),
        r["document_bytes"],
        r["returned_bytes"].as_str().unwrap_or("")
    );
    if let Some(g) = r["grant_seconds"].as_f64() {
        println!("granted {} beforehand in {g:.2} s", r["pregranted"]);
    }
    if let Some(n) = r["granted_during_run"].as_u64() {
        println!(
            "granted {n} more in the background while signing ({} waits for a grant; not timed as stamping latency)",
            r["grant_waits"]
        );
    }
    println!(
        "completed   {} in {:.2} s: {:.1} stampings/s",
        r["completed"],
        ms(r, "window_seconds"),
        ms(r, "throughput")
    );
    let l = &r["latency_ms"];
    println!(
        "SignDocument latency ms  p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        ms(l, "p50"),
        ms(l, "p99"),
        ms(l, "p999"),
        ms(l, "max")
    );
    let c = &r["cycle_latency_ms"];
    if !c.is_null() {
        println!(
            "cycle latency ms         p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            ms(c, "p50"),
            ms(c, "p99"),
            ms(c, "p999"),
            ms(c, "max")
        );
    }
    println!("bytes out {}  in {}", r["bytes_out"], r["bytes_in"]);
    println!(
        "errors {}  {}  grants: {}",
        r["errors"], r["errors_by_code"], r["grant_errors_by_code"]
    );
    for e in r["first_errors"].as_array().into_iter().flatten() {
        println!("  {}", e.as_str().unwrap_or(""));
    }
    println!("verified {}  failures {}", r["verified"], r["verify_failures"]);
    for p in r["verify_problems"].as_array().into_iter().flatten() {
        println!("  {}", p.as_str().unwrap_or(""));
    }
    if let Some(cpu) = r["server_cpu_seconds_per_stamping"].as_f64() {
        let grants = if r["granted_during_run"].as_u64().is_some_and(|n| n > 0) {
            " (including the background grants)"
        } else {
            ""
        };
        println!("server CPU {:.2} ms per stamping{grants}", cpu * 1000.0);
    }
    let rss = &r["server_rss_mib"];
    if !rss.is_null() {
        let points: Vec<String> = [
            ("start", "start"),
            ("1 min", "at_1min"),
            ("5 min", "at_5min"),
            ("10 min", "at_10min"),
            ("end", "end"),
            ("max", "max"),
        ]
        .iter()
        .filter_map(|(label, key)| rss[*key].as_f64().map(|mib| format!("{label} {mib:.1}")))
        .collect();
        println!(
            "server RSS MiB: {} ({} samples, one a second)",
            points.join(", "),
            rss["samples"]
        );
        if let Some(why) = rss["sampling_stopped"].as_str() {
            println!("  RSS sampling stopped early: {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_from_proc_status() {
        let status = "Name:\teseal\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 2254744 kB\nVmHWM:\t   61236 kB\nVmRSS:\t   48512 kB\nRssAnon:\t   30000 kB\nThreads:\t5\n";
        assert_eq!(vm_rss_kib(status), Some(48512));
        assert_eq!(
            vm_rss_kib("Name:\tkthreadd\nState:\tS (sleeping)\n"),
            None,
            "kernel threads have no VmRSS"
        );
        assert_eq!(vm_rss_kib("VmRSS:\t   lots kB\n"), None);
    }

    #[test]
    fn reads_our_own_rss() {
        let mib = rss_mib(std::process::id()).expect("our own /proc/PID/status");
        assert!(mib > 0.5 && mib < 100_000.0, "{mib} MiB");
    }

    #[test]
    fn summarises_an_rss_series_by_minute() {
        let series: Vec<(f64, f64)> =
            (0..=610).map(|s| (s as f64 + 0.01, 40.0 + (s / 60) as f64)).collect();
        let j = rss_json(&series, None);
        assert_eq!(j["start"], 40.0);
        assert_eq!(j["at_1min"], 41.0);
        assert_eq!(j["at_5min"], 45.0);
        assert_eq!(j["at_10min"], 50.0);
        assert_eq!(j["end"], 50.0);
        assert_eq!(j["max"], 50.0);
        assert_eq!(j["series"].as_array().map(Vec::len), Some(611));
        assert_eq!(j["series"][60], serde_json::json!([60.0, 41.0]));

        let short = rss_json(&[(0.0, 12.34), (1.0, 20.0), (2.0, 15.0)], Some("gone"));
        assert_eq!(short["start"], 12.3);
        assert!(
            short["at_1min"].is_null() && short["at_5min"].is_null() && short["at_10min"].is_null()
        );
        assert_eq!(short["end"], 15.0);
        assert_eq!(short["max"], 20.0);
        assert_eq!(short["sampling_stopped"], "gone");
        assert!(rss_json(&[], None)["start"].is_null());
    }
}
