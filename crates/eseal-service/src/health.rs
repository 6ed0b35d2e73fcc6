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

/// Sets the status of every service of the node (and of the node as a whole, the empty name)
/// and of each seal. Once [`Readiness::shut_down`] ran, nothing is reported SERVING again:
/// every change goes through one lock that also holds whether shutdown began, so a probe that
/// finished just before cannot overwrite NOT_SERVING.
#[derive(Clone)]
pub struct Readiness {
    reporter: HealthReporter,
    services: Arc<[&'static str]>,
    state: Arc<tokio::sync::Mutex<Reported>>,
}

/// What was reported: whether shutdown began, and the seals named so far.
#[derive(Default)]
struct Reported {
    shut_down: bool,
    seals: std::collections::BTreeSet<String>,
}

impl Readiness {
    /// Over `reporter`, for the services named (their gRPC full names).
    pub fn new(reporter: HealthReporter, services: &[&'static str]) -> Self {
        Self {
            reporter,
            services: services.iter().copied().chain([""]).collect(),
            state: Arc::default(),
        }
    }

    /// Reports every service as `status` (nothing once shutdown began).
    pub async fn set(&self, status: ServingStatus) {
        let state = self.state.lock().await;
        if !state.shut_down {
            self.set_services(status).await;
        }
    }

    async fn set_services(&self, status: ServingStatus) {
        for service in self.services.iter() {
            self.reporter.set_service_status(*service, status).await;
        }
    }

    /// Reports the seal `seal_id` ([`seal_service`]) as `status` (nothing once shutdown began).
    pub async fn set_seal(&self, seal_id: &str, status: ServingStatus) {
        let mut state = self.state.lock().await;
        if !state.shut_down {
            state.seals.insert(seal_id.to_string());
            self.reporter.set_service_status(seal_service(seal_id), status).await;
        }
    }

    /// Shutdown begins: every service and every seal reported so far NOT_SERVING, for good.
    pub async fn shut_down(&self) {
        let mut state = self.state.lock().await;
        state.shut_down = true;
        self.set_services(ServingStatus::NotServing).await;
        for seal in &state.seals {
            self.reporter.set_service_status(seal_service(seal), ServingStatus::NotServing).await;
        }
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
            let mut seals_usable: std::collections::HashMap<String, bool> =
                initial_seals.into_iter().collect();
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopping.wait_for(|s| *s) => return,
                }
                let result = probe(store.as_ref(), &keys).await;
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
                        // A seal no longer active (suspended, revoked) stamps nothing.
                        let active: std::collections::HashSet<&str> =
                            observed.seals.iter().map(|s| s.id.as_str()).collect();
                        let gone: Vec<String> = seals_usable
                            .keys()
                            .filter(|id| !active.contains(id.as_str()))
                            .cloned()
                            .collect();
                        for id in gone {
                            seals_usable.remove(&id);
                            tracing::info!(seal = %id, "the seal is no longer active: {} NOT_SERVING", seal_service(&id));
                            self.set_seal(&id, ServingStatus::NotServing).await;
                        }
                        for seal in observed.seals {
                            if let Some(not_after) = seal.not_after {
                                metrics.set_seal_certificate_not_after(&seal.id, not_after);
                            }
                            let usable = seal.key_unavailable.is_none();
                            if seals_usable.insert(seal.id.clone(), usable) != Some(usable) {
                                match &seal.key_unavailable {
                                    None => {
                                        tracing::info!(seal = %seal.id, "the seal's key can be used: {} SERVING", seal_service(&seal.id))
                                    }
                                    Some(why) => {
                                        tracing::error!(seal = %seal.id, error = %why, "SEAL UNAVAILABLE: its key cannot be used; the other seals keep working")
                                    }
                                }
                                let status = if usable {
                                    ServingStatus::Serving
                                } else {
                                    ServingStatus::NotServing
                                };
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
async fn probe(store: &dyn Store, keys: &Arc<dyn KeyStore>) -> Result<Observed, Unready> {
    let audit_log_size = answered(store.audit_len()).await?;
    let checkpoint_signed_at = answered(store.latest_checkpoint()).await?.map(|c| c.signed_at);
    let seals = answered(store.list_seals())
        .await?
        .into_iter()
        .filter(|s| s.state == SealState::Active)
        .collect::<Vec<_>>();
    let mut observed = Vec::with_capacity(seals.len());
    for seal in seals {
        // File reads, decryption and token calls: on the blocking pool, within the probe's
        // timeout, so that a hung HSM neither holds a runtime worker nor stops the store's
        // part of the probe (a key that does not answer in time counts as unavailable).
        let (keys, reference) = (Arc::clone(keys), seal.key_reference.clone());
        let key_unavailable = match tokio::time::timeout(
            PROBE_TIMEOUT,
            tokio::task::spawn_blocking(move || keys.check(&reference)),
        )
        .await
        {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e.to_string()),
            Ok(Err(e)) => Some(format!("the key check failed: {e}")),
            Err(_) => Some(format!("the key store did not answer within {PROBE_TIMEOUT:?}")),
        };
        observed.push(SealObserved {
            key_unavailable,
            not_after: seal
                .certificate_chain
                .first()
                .and_then(|der| crate::service::certificate_validity(der))
                .map(|(_, not_after)| not_after),
            id: seal.id,
        });
    }
    Ok(Observed { audit_log_size, checkpoint_signed_at, seals: observed })
}

/// The store's answer within [`PROBE_TIMEOUT`].
async fn answered<T>(
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, Unready> {
    match tokio::time::timeout(PROBE_TIMEOUT, call).await {
        Ok(answer) => answer.map_err(|e| Unready::Store(e.to_string())),
        Err(_) => Err(Unready::StoreTimeout(PROBE_TIMEOUT)),
    }
}
