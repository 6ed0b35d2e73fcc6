//! The node's readiness as the standard gRPC health service reports it: the node (`""`) and
//! its services are SERVING while the store answers, NOT_SERVING otherwise and from the moment
//! shutdown starts. Each active seal also reports as `eseal.seal.<id>`: NOT_SERVING while its
//! key cannot be loaded (a wrong KEK or PIN, a file gone), without taking the node out of
//! service, since the other seals keep working. A background probe checks about once a second,
//! logs each change of state once, and publishes the audit log's size, the latest checkpoint's
//! time and how long each seal certificate has left (for the expiry warning).

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
}

/// What the probe read on the way.
struct Observed {
    audit_log_size: u64,
    checkpoint_signed_at: Option<i64>,
    seals: Vec<SealObserved>,
}

/// One active seal as the probe found it.
struct SealObserved {
    id: String,
    /// Why its key cannot be loaded, if it cannot.
    key_unavailable: Option<String>,
    /// Its certificate's notAfter (Unix seconds), when readable.
    not_after: Option<i64>,
}

/// The health service name of a seal: `eseal.seal.<id>`.
pub fn seal_service(seal_id: &str) -> String {
    format!("eseal.seal.{seal_id}")
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

    /// Reports the seal `seal_id` ([`seal_service`]) as `status`.
    pub async fn set_seal(&self, seal_id: &str, status: ServingStatus) {
        self.reporter.set_service_status(seal_service(seal_id), status).await;
    }

    /// Checks the node every [`PROBE_INTERVAL`] until `stopping` turns true, reporting the
    /// result; the first probe runs at once.
    pub fn spawn_probe(
        self,
        store: Arc<dyn Store>,
        keys: Arc<dyn KeyStore>,
        metrics: Arc<Metrics>,
        initial_seals: Vec<(String, bool)>,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PROBE_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The states reported last: the node starts SERVING, and each seal as the server
            // found it at start (a seal not seen yet is reported at the first probe).
            let mut ready = true;
            let mut seals_usable: std::collections::HashMap<String, bool> = initial_seals.into_iter().collect();
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
                            tracing::info!("the store answers again: SERVING");
                            self.set(ServingStatus::Serving).await;
                            ready = true;
                        }
                        for seal in observed.seals {
                            if let Some(not_after) = seal.not_after {
                                metrics.set_seal_certificate_not_after(&seal.id, not_after);
                            }
                            let usable = seal.key_unavailable.is_none();
                            if seals_usable.insert(seal.id.clone(), usable) != Some(usable) {
                                match &seal.key_unavailable {
                                    None => tracing::info!(seal = %seal.id, "the seal's key can be used: {} SERVING", seal_service(&seal.id)),
                                    Some(why) => tracing::error!(seal = %seal.id, error = %why, "SEAL UNAVAILABLE: its key cannot be used; the other seals keep working"),
                                }
                                let status = if usable { ServingStatus::Serving } else { ServingStatus::NotServing };
                                self.set_seal(&seal.id, status).await;
                            }
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
/// and of the keys of the active seals, loaded afresh from where they live.
async fn probe(store: &dyn Store, keys: &dyn KeyStore) -> Result<Observed, Unready> {
    let audit_log_size = answered(store.audit_len()).await?;
    let checkpoint_signed_at = answered(store.latest_checkpoint()).await?.map(|c| c.signed_at);
    let seals = answered(store.list_seals())
        .await?
        .into_iter()
        .filter(|s| s.state == SealState::Active)
        .map(|seal| SealObserved {
            key_unavailable: keys.check(&seal.key_reference).err().map(|e| e.to_string()),
            not_after: seal.certificate_chain.first().and_then(|der| not_after(der)),
            id: seal.id,
        })
        .collect();
    Ok(Observed { audit_log_size, checkpoint_signed_at, seals })
}

/// A DER certificate's notAfter, Unix seconds.
fn not_after(der: &[u8]) -> Option<i64> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(der).ok().map(|(_, c)| c.validity().not_after.timestamp())
}

/// The store's answer within [`PROBE_TIMEOUT`].
async fn answered<T>(call: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, Unready> {
    match tokio::time::timeout(PROBE_TIMEOUT, call).await {
        Ok(answer) => answer.map_err(|e| Unready::Store(e.to_string())),
        Err(_) => Err(Unready::StoreTimeout(PROBE_TIMEOUT)),
    }
}
