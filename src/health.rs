//! The node's readiness as the standard gRPC health service reports it: SERVING while the
//! store answers and the keys of the active seals can be loaded, NOT_SERVING otherwise and
//! from the moment shutdown starts. A background probe checks about once a second and logs
//! each change of state once.

use std::sync::Arc;
use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::keys::KeyStore;
use crate::metrics::Metrics;
use crate::seal::SealState;
use crate::store::{Store, StoreError};

/// How often the probe runs.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// A store that has not answered within this time counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the node is not ready.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unready {
    /// The store failed.
    #[error("the store fails: {0}")]
    Store(String),
    /// The store did not answer in time.
    #[error("the store did not answer within {0:?}")]
    StoreTimeout(Duration),
    /// An active seal's key cannot be loaded.
    #[error("the key of seal {seal} cannot be loaded: {message}")]
    Key {
        /// The seal.
        seal: String,
        /// Why.
        message: String,
    },
}

/// What the probe read on the way, for the metrics.
struct Observed {
    audit_log_size: u64,
    checkpoint_signed_at: Option<i64>,
}

/// Sets the status of every service of the node (and of the node as a whole, the empty name).
#[derive(Clone)]
pub struct Readiness {
    reporter: HealthReporter,
    services: Arc<[&'static str]>,
}

impl Readiness {
    /// Over `reporter`, for the services named (their gRPC full names).
    pub fn new(reporter: HealthReporter, services: &[&'static str]) -> Self {
        Self { reporter, services: services.iter().copied().chain([""]).collect() }
    }

    /// Reports every service as `status`.
    pub async fn set(&self, status: ServingStatus) {
        for service in self.services.iter() {
            self.reporter.set_service_status(*service, status).await;
        }
    }

    /// Checks the node every [`PROBE_INTERVAL`] until `stopping` turns true, reporting the
    /// result; the first probe runs at once.
    pub fn spawn_probe(
        self,
        store: Arc<dyn Store>,
        keys: Arc<dyn KeyStore>,
        metrics: Arc<Metrics>,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PROBE_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The state reported last: the node starts SERVING (set by the server at start).
            let mut ready = true;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopping.wait_for(|s| *s) => return,
                }
                let result = probe(store.as_ref(), keys.as_ref()).await;
                // Shutdown may have begun during the probe: never report SERVING after it.
                if *stopping.borrow() {
                    return;
                }
                match result {
                    Ok(observed) => {
                        metrics.set_audit_log_size(observed.audit_log_size);
                        if let Some(signed_at) = observed.checkpoint_signed_at {
                            metrics.set_checkpoint_signed_at(signed_at);
                        }
                        if !ready {
                            tracing::info!("the store and the seal keys answer again: SERVING");
                            self.set(ServingStatus::Serving).await;
                            ready = true;
                        }
                    }
                    Err(unready) => {
                        if ready {
                            tracing::error!(reason = %unready, "the node is not ready: NOT_SERVING until it recovers");
                            self.set(ServingStatus::NotServing).await;
                            ready = false;
                        }
                    }
                }
            }
        })
    }
}

/// One check of the store (its log's length and latest checkpoint, within [`PROBE_TIMEOUT`])
/// and of the keys of the active seals.
async fn probe(store: &dyn Store, keys: &dyn KeyStore) -> Result<Observed, Unready> {
    let audit_log_size = answered(store.audit_len()).await?;
    let checkpoint_signed_at = answered(store.latest_checkpoint()).await?.map(|c| c.signed_at);
    for seal in answered(store.list_seals()).await?.iter().filter(|s| s.state == SealState::Active) {
        keys.check(&seal.key_reference).map_err(|e| Unready::Key { seal: seal.id.clone(), message: e.to_string() })?;
    }
    Ok(Observed { audit_log_size, checkpoint_signed_at })
}

/// The store's answer within [`PROBE_TIMEOUT`].
async fn answered<T>(call: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, Unready> {
    match tokio::time::timeout(PROBE_TIMEOUT, call).await {
        Ok(answer) => answer.map_err(|e| Unready::Store(e.to_string())),
        Err(_) => Err(Unready::StoreTimeout(PROBE_TIMEOUT)),
    }
}
