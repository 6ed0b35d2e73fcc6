//! The service's Prometheus metrics and the plain-HTTP endpoint that serves them
//! (`GET /metrics`, text exposition format 0.0.4).
//!
//! Recording is cheap enough for every call: counters and histogram buckets are atomics; the
//! labelled families take a shared (read) lock to find their series and a write lock only the
//! first time a series appears. Nothing here knows gRPC: the API layer says what happened, in
//! this module's words ([`Outcome`], a reason, a method name).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `eseal_stampings_total` | counter | `seal`, `outcome` (`sealed`, `replayed`, `refused`) |
//! | `eseal_refusals_total` | counter | `reason` |
//! | `eseal_request_duration_seconds` | histogram | `method` |
//! | `eseal_store_commit_duration_seconds` | histogram | |
//! | `eseal_audit_log_size` | gauge | |
//! | `eseal_checkpoint_age_seconds` | gauge | |
//! | `eseal_refusals_summarized_total` | counter | |
//! | `eseal_client_crl_reload_failures_total` | counter | |
//! | `eseal_client_crls_expired` | gauge | |

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;

/// Why the metrics endpoint cannot run.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address cannot be listened on.
    #[error("cannot listen for metrics on {address}: {source}")]
    Listen {
        /// The configured address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// How a stamping request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new stamping was committed.
    Sealed,
    /// A stamping recorded earlier was sent again (same request id and document).
    Replayed,
    /// The request was refused.
    Refused,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Sealed, Outcome::Replayed, Outcome::Refused];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sealed => "sealed",
            Outcome::Replayed => "replayed",
            Outcome::Refused => "refused",
        }
    }
}

/// At most this many seals get series of their own; stampings of further seals are counted
/// under `seal="other"`, so that the endpoint stays bounded whatever is registered.
const MAX_SEALS: usize = 1000;

/// Bucket bounds of request durations, in seconds: a stamping takes milliseconds, a large
/// document or an archive export seconds.
const REQUEST_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Bucket bounds of store commits, in seconds: one fsync, shared by a group commit.
const COMMIT_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A histogram of durations over fixed buckets, lock-free.
struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    /// Sum of observations in nanoseconds: an integer adds without a compare-and-swap loop.
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket =
            self.bounds.iter().position(|&bound| seconds <= bound).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines; `labels` is empty or `key="value",`.
    fn encode(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0u64;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let bound = self.bounds.get(i).map(|b| b.to_string()).unwrap_or_else(|| "+Inf".into());
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let labels = labels.trim_end_matches(',');
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}",
            self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// No checkpoint signed yet.
const NEVER: i64 = i64::MIN;

/// The metrics of one running service.
pub struct Metrics {
    stampings: RwLock<HashMap<String, [AtomicU64; 3]>>,
    refusals: RwLock<HashMap<&'static str, AtomicU64>>,
    requests: RwLock<HashMap<&'static str, Histogram>>,
    store_commits: Histogram,
    audit_log_size: AtomicU64,
    /// When the latest checkpoint was signed (Unix seconds), or [`NEVER`].
    checkpoint_signed_at: AtomicI64,
    /// Each active seal's certificate notAfter (Unix seconds), set by the readiness probe.
    seal_certificates_not_after: RwLock<std::collections::BTreeMap<String, i64>>,
    /// Refusals beyond the audit rate limit: answered, counted in summary records.
    refusals_summarized: AtomicU64,
    /// Client CRL files that changed but could not be used (the previous one stays).
    crl_reload_failures: AtomicU64,
    /// Client CRLs in use whose nextUpdate has passed.
    crls_expired: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self {
            stampings: RwLock::new(HashMap::new()),
            refusals: RwLock::new(HashMap::new()),
            requests: RwLock::new(HashMap::new()),
            store_commits: Histogram::new(COMMIT_BUCKETS),
            audit_log_size: AtomicU64::new(0),
            checkpoint_signed_at: AtomicI64::new(NEVER),
            seal_certificates_not_after: RwLock::new(std::collections::BTreeMap::new()),
            refusals_summarized: AtomicU64::new(0),
            crl_reload_failures: AtomicU64::new(0),
            crls_expired: AtomicU64::new(0),
        }
    }

    /// Counts one stamping request of `seal` that ended with `outcome`.
    pub fn stamping(&self, seal: &str, outcome: Outcome) {
        let index = Outcome::ALL.iter().position(|&o| o == outcome).unwrap_or(0);
        if let Some(counts) = self.stampings.read().unwrap_or_else(|p| p.into_inner()).get(seal) {
            counts[index].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut stampings = self.stampings.write().unwrap_or_else(|p| p.into_inner());
        let seal = if stampings.len() < MAX_SEALS || stampings.contains_key(seal) {
            seal
        } else {
            "other"
        };
        stampings.entry(seal.to_string()).or_default()[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one refused call; `reason` is one of a small fixed set of words.
    pub fn refusal(&self, reason: &'static str) {
        if let Some(count) = self.refusals.read().unwrap_or_else(|p| p.into_inner()).get(reason) {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.refusals
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one refusal beyond the audit rate limit (recorded in a summary, not alone).
    pub fn refusal_summarized(&self) {
        self.refusals_summarized.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one client CRL file that could not be reloaded.
    pub fn crl_reload_failure(&self) {
        self.crl_reload_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets how many client CRLs in use are past their nextUpdate.
    pub fn set_crls_expired(&self, count: u64) {
        self.crls_expired.store(count, Ordering::Relaxed);
    }

    /// Records how long a call of `method` took.
    pub fn request(&self, method: &'static str, elapsed: Duration) {
        if let Some(histogram) = self.requests.read().unwrap_or_else(|p| p.into_inner()).get(method)
        {
            histogram.observe(elapsed);
            return;
        }
        self.requests
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(method)
            .or_insert_with(|| Histogram::new(REQUEST_BUCKETS))
            .observe(elapsed);
    }

    /// Records how long a store commit took.
    pub fn store_commit(&self, elapsed: Duration) {
        self.store_commits.observe(elapsed);
    }

    /// Sets the number of records in the audit log.
    pub fn set_audit_log_size(&self, size: u64) {
        self.audit_log_size.store(size, Ordering::Relaxed);
    }

    /// Sets when the latest checkpoint was signed (Unix seconds).
    pub fn set_checkpoint_signed_at(&self, signed_at: i64) {
        self.checkpoint_signed_at.store(signed_at, Ordering::Relaxed);
    }

    /// Sets when the certificate of seal `seal` expires (its notAfter, Unix seconds).
    pub fn set_seal_certificate_not_after(&self, seal: &str, not_after: i64) {
        let mut seals = self.seal_certificates_not_after.write().unwrap_or_else(|p| p.into_inner());
        if seals.len() < MAX_SEALS || seals.contains_key(seal) {
            seals.insert(seal.to_string(), not_after);
        }
    }

    /// Everything in the Prometheus text format, series in a stable order; the checkpoint's
    /// age is taken at `now` (Unix seconds) and left out while no checkpoint was signed.
    pub fn encode(&self, now: i64) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "eseal_stampings_total",
            "counter",
            "Stamping requests by seal and outcome (sealed, replayed, refused).",
        );
        {
            let stampings = self.stampings.read().unwrap_or_else(|p| p.into_inner());
            let mut seals: Vec<&String> = stampings.keys().collect();
            seals.sort();
            for seal in seals {
                for (outcome, count) in Outcome::ALL.iter().zip(&stampings[seal]) {
                    let _ = writeln!(
                        out,
                        "eseal_stampings_total{{seal=\"{}\",outcome=\"{}\"}} {}",
                        escape(seal),
                        outcome.as_str(),
                        count.load(Ordering::Relaxed)
                    );
                }
            }
        }
        header(&mut out, "eseal_refusals_total", "counter", "Refused calls by reason.");
        {
            let refusals = self.refusals.read().unwrap_or_else(|p| p.into_inner());
            let mut reasons: Vec<_> = refusals.iter().collect();
            reasons.sort_by_key(|(reason, _)| **reason);
            for (reason, count) in reasons {
                let _ = writeln!(
                    out,
                    "eseal_refusals_total{{reason=\"{}\"}} {}",
                    escape(reason),
                    count.load(Ordering::Relaxed)
                );
            }
        }
        header(
            &mut out,
            "eseal_refusals_summarized_total",
            "counter",
            "Refused calls beyond the audit rate limit, recorded in summary records instead of one by one.",
        );
        let _ = writeln!(
            out,
            "eseal_refusals_summarized_total {}",
            self.refusals_summarized.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "eseal_client_crl_reload_failures_total",
            "counter",
            "Client CRL files that changed but could not be used (unreadable, or not signed by the client CA): the previous list stays.",
        );
        let _ = writeln!(
            out,
            "eseal_client_crl_reload_failures_total {}",
            self.crl_reload_failures.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "eseal_client_crls_expired",
            "gauge",
            "Client CRLs in use whose nextUpdate has passed (still used: publish a fresh one).",
        );
        let _ = writeln!(
            out,
            "eseal_client_crls_expired {}",
            self.crls_expired.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "eseal_request_duration_seconds",
            "histogram",
            "Duration of gRPC calls until their response starts, by method.",
        );
        {
            let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
            let mut methods: Vec<_> = requests.iter().collect();
            methods.sort_by_key(|(method, _)| **method);
            for (method, histogram) in methods {
                histogram.encode(
                    &mut out,
                    "eseal_request_duration_seconds",
                    &format!("method=\"{}\",", escape(method)),
                );
            }
        }
        header(
            &mut out,
            "eseal_store_commit_duration_seconds",
            "histogram",
            "Duration of the store commit of a stamping (group commit included).",
        );
        self.store_commits.encode(&mut out, "eseal_store_commit_duration_seconds", "");
        header(&mut out, "eseal_audit_log_size", "gauge", "Records in the audit log.");
        let _ =
            writeln!(out, "eseal_audit_log_size {}", self.audit_log_size.load(Ordering::Relaxed));
        header(
            &mut out,
            "eseal_checkpoint_age_seconds",
            "gauge",
            "Seconds since the latest checkpoint of the audit log was signed.",
        );
        let signed_at = self.checkpoint_signed_at.load(Ordering::Relaxed);
        if signed_at != NEVER {
            let _ = writeln!(
                out,
                "eseal_checkpoint_age_seconds {}",
                now.saturating_sub(signed_at).max(0)
            );
        }
        let seals = self.seal_certificates_not_after.read().unwrap_or_else(|p| p.into_inner());
        header(
            &mut out,
            "eseal_seal_certificate_expiry_seconds",
            "gauge",
            "Seconds until each active seal's certificate expires (negative: expired).",
        );
        for (seal, not_after) in seals.iter() {
            let _ = writeln!(
                out,
                "eseal_seal_certificate_expiry_seconds{{seal=\"{}\"}} {}",
                escape(seal),
                not_after.saturating_sub(now)
            );
        }
        let warning = crate::seal::CERTIFICATE_EXPIRY_WARNING_DAYS * 86_400;
        header(
            &mut out,
            "eseal_seal_certificate_expiring",
            "gauge",
            "1 when the seal's certificate expires within 30 days (renew it), else 0.",
        );
        for (seal, not_after) in seals.iter() {
            let _ = writeln!(
                out,
                "eseal_seal_certificate_expiring{{seal=\"{}\"}} {}",
                escape(seal),
                u8::from(not_after.saturating_sub(now) < warning)
            );
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A bound metrics endpoint.
pub struct MetricsEndpoint {
    /// The address it listens on.
    pub address: SocketAddr,
    listener: TcpListener,
}

impl MetricsEndpoint {
    /// Binds `address`.
    pub async fn bind(address: &str) -> Result<MetricsEndpoint, MetricsError> {
        let listen = |source| MetricsError::Listen { address: address.into(), source };
        let listener = TcpListener::bind(address).await.map_err(listen)?;
        let address = listener.local_addr().map_err(listen)?;
        Ok(MetricsEndpoint { address, listener })
    }

    /// Serves `GET /metrics` (HTTP/1.1) until `stop` resolves; the clock gives the checkpoint's
    /// age. Other paths get 404, other methods 405.
    pub async fn serve(
        self,
        metrics: Arc<Metrics>,
        now: fn() -> i64,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut stop => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let response =
                            answer(&metrics, now, request.method(), request.uri().path());
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    },
                );
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = connection.await {
                    tracing::debug!(%peer, error = %e, "metrics: connection ended with an error");
                }
            });
        }
    }
}

fn answer(
    metrics: &Metrics,
    now: fn() -> i64,
    method: &hyper::Method,
    path: &str,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let (status, content_type, body) = match (method, path) {
        (&hyper::Method::GET, "/metrics") => {
            (hyper::StatusCode::OK, CONTENT_TYPE, metrics.encode(now()))
        }
        (_, "/metrics") => {
            (hyper::StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n".to_string())
        }
        _ => (hyper::StatusCode::NOT_FOUND, "text/plain", "metrics are at /metrics\n".to_string()),
    };
    let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_exposition() {
        let metrics = Metrics::new();
        metrics.stamping("approval-ec", Outcome::Sealed);
        metrics.stamping("approval-ec", Outcome::Sealed);
        metrics.stamping("a\"b\\c\nd", Outcome::Refused);
        metrics.refusal("authorization_used");
        metrics.request("SignDocument", Duration::from_millis(3));
        metrics.request("SignDocument", Duration::from_secs(100));
        metrics.store_commit(Duration::from_micros(700));
        metrics.set_audit_log_size(42);
        metrics.refusal_summarized();
        metrics.refusal_summarized();
        metrics.crl_reload_failure();
        metrics.set_crls_expired(1);
        let text = metrics.encode(1_000);
        for line in [
            "# TYPE eseal_stampings_total counter",
            "eseal_stampings_total{seal=\"approval-ec\",outcome=\"sealed\"} 2",
            "eseal_stampings_total{seal=\"approval-ec\",outcome=\"replayed\"} 0",
            "eseal_stampings_total{seal=\"a\\\"b\\\\c\\nd\",outcome=\"refused\"} 1",
            "eseal_refusals_total{reason=\"authorization_used\"} 1",
            "# TYPE eseal_request_duration_seconds histogram",
            "eseal_request_duration_seconds_bucket{method=\"SignDocument\",le=\"0.0025\"} 0",
            "eseal_request_duration_seconds_bucket{method=\"SignDocument\",le=\"0.005\"} 1",
            "eseal_request_duration_seconds_bucket{method=\"SignDocument\",le=\"60\"} 1",
            "eseal_request_duration_seconds_bucket{method=\"SignDocument\",le=\"+Inf\"} 2",
            "eseal_request_duration_seconds_sum{method=\"SignDocument\"} 100.003",
            "eseal_request_duration_seconds_count{method=\"SignDocument\"} 2",
            "eseal_store_commit_duration_seconds_bucket{le=\"0.0005\"} 0",
            "eseal_store_commit_duration_seconds_bucket{le=\"0.001\"} 1",
            "eseal_store_commit_duration_seconds_sum 0.0007",
            "eseal_store_commit_duration_seconds_count 1",
            "eseal_audit_log_size 42",
            "eseal_refusals_summarized_total 2",
            "eseal_client_crl_reload_failures_total 1",
            "eseal_client_crls_expired 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(
            !text.lines().any(|l| l.starts_with("eseal_checkpoint_age_seconds ")),
            "no age before the first checkpoint"
        );
        metrics.set_checkpoint_signed_at(990);
        assert!(metrics.encode(1_000).lines().any(|l| l == "eseal_checkpoint_age_seconds 10"));
    }

    #[test]
    fn seal_series_are_bounded() {
        let metrics = Metrics::new();
        for i in 0..MAX_SEALS + 5 {
            metrics.stamping(&format!("seal-{i}"), Outcome::Refused);
        }
        metrics.stamping("seal-0", Outcome::Sealed);
        let text = metrics.encode(0);
        assert!(
            text.contains("eseal_stampings_total{seal=\"other\",outcome=\"refused\"} 5"),
            "{text}"
        );
        assert!(text.contains("eseal_stampings_total{seal=\"seal-0\",outcome=\"sealed\"} 1"));
        assert_eq!(
            text.lines().filter(|l| l.starts_with("eseal_stampings_total{")).count(),
            (MAX_SEALS + 1) * 3
        );
    }
}
