//! The gRPC services: they translate between protobuf and the domain, check roles, and record
//! every refusal in the audit trail. Errors become statuses in one place ([`status`]).

pub mod admin;
pub mod audit;
pub mod authentication;
pub mod limits;
pub mod proto;
pub mod seal_keys;
pub mod signing;
pub mod spool;
pub mod status;
pub mod timing;
pub mod verification;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use tonic::Status;

use crate::auth::refusal_limit::RefusalKey;
use crate::auth::{Authenticator, Principal, Role};
use crate::config::Config;
use crate::keys::KeyStore;
use crate::seal::Seal;
use crate::store::Store;
use eseal_audit::{AuditEvent, EventKind};
use eseal_cms::{CertificateChain, Signer};
use eseal_encoding::civil_time::now;
use eseal_encoding::hex;
use eseal_pdf::SealImage;
use eseal_verify::TrustAnchors;

pub use status::ApiError;

/// What the TLS layer knows of a connection: made available to every call on it.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The client's address.
    pub address: Option<std::net::SocketAddr>,
    /// The certificate chain the client presented (end entity first), if any.
    pub certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
}

/// A seal ready to stamp with: parsed chain, decoded picture, key. Built once per seal.
pub struct LoadedSeal {
    /// The certificate chain.
    pub chain: CertificateChain,
    /// The picture, converted for PDF.
    pub image: SealImage,
    /// The private key.
    pub signer: Arc<dyn Signer>,
    /// The seal certificate's validity (not before, not after), Unix seconds.
    pub certificate_validity: (i64, i64),
}

/// What every service shares.
pub struct ServiceState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Seal keys.
    pub keys: Arc<dyn KeyStore>,
    /// Client certificates to principals.
    pub auth: Authenticator,
    /// The configuration.
    pub config: Config,
    /// Roots for verification.
    pub anchors: TrustAnchors,
    /// Signs the audit log's checkpoints.
    pub checkpoints: Arc<crate::checkpoints::Checkpointer>,
    /// What the calls record for Prometheus.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The rate limit of audited refusals.
    pub refusal_limit: crate::auth::refusal_limit::RefusalLimiter,
    loaded: Mutex<HashMap<String, Arc<LoadedSeal>>>,
    seals: Mutex<HashMap<String, (Instant, Arc<Seal>)>>,
}

/// How long a seal read from the store answers [`ServiceState::recent_seal`]. A change made
/// through this node is seen at once (the entry is dropped); one made through another node
/// within this time. Whatever the cache says, a stamping commits only while its seal is
/// active in the store, checked in the committing transaction.
const SEAL_CACHE_TTL: Duration = Duration::from_secs(1);

/// A client string as a refusal record keeps it: at most [`limits::MAX_AUDITED_TEXT`] bytes.
fn clip(text: String) -> String {
    limits::clip_to(&text, limits::MAX_AUDITED_TEXT)
}

/// What a refusal was about, for its audit record.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    /// The seal.
    pub seal_id: Option<String>,
    /// The authorization.
    pub authorization_id: Option<String>,
    /// The client's request id.
    pub request_id: Option<String>,
    /// The case number.
    pub case_number: Option<String>,
}

impl ServiceState {
    /// Assembles the state.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeyStore>,
        auth: Authenticator,
        config: Config,
        anchors: TrustAnchors,
        checkpoints: Arc<crate::checkpoints::Checkpointer>,
    ) -> Self {
        let refusal_limit = crate::auth::refusal_limit::RefusalLimiter::new(
            config.server.refusal_burst,
            config.server.refusal_refill_per_second,
        );
        Self {
            store,
            keys,
            auth,
            refusal_limit,
            config,
            anchors,
            checkpoints,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            loaded: Mutex::new(HashMap::new()),
            seals: Mutex::new(HashMap::new()),
        }
    }

    /// The seal as stored at most [`SEAL_CACHE_TTL`] ago: for the checks made before a stamping
    /// or a grant, which the store's transaction repeats where it matters (the seal's state).
    /// Saves reading the seal, its picture and its chain for every call.
    pub async fn recent_seal(&self, id: &str) -> Result<Option<Arc<Seal>>, ApiError> {
        if let Some((read_at, seal)) = self.seals.lock().unwrap_or_else(|p| p.into_inner()).get(id)
        {
            if read_at.elapsed() < SEAL_CACHE_TTL {
                return Ok(Some(Arc::clone(seal)));
            }
        }
        let Some(seal) = self.store.seal(id).await? else {
            return Ok(None);
        };
        let seal = Arc::new(seal);
        self.seals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), (Instant::now(), Arc::clone(&seal)));
        Ok(Some(seal))
    }

    /// Drops the cached copy of a seal that this node changed.
    pub fn forget_seal(&self, id: &str) {
        self.seals.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Requires `role` (for `seal` when per seal); a refusal is audited.
    pub async fn require(
        &self,
        principal: &Principal,
        role: Role,
        seal: Option<&str>,
        method: &str,
    ) -> Result<(), Status> {
        if principal.has(role, seal) {
            return Ok(());
        }
        let subject = Subject { seal_id: seal.map(Into::into), ..Default::default() };
        Err(self
            .refuse(&principal.name, method, ApiError::denied(&principal.name, role, seal), subject)
            .await)
    }

    /// Records a refused call in the audit trail and returns its status. If the audit trail
    /// itself cannot be written, the caller gets UNAVAILABLE: a refusal is never silent.
    /// Beyond the rate limit of audited refusals, the refusal is answered and counted in a
    /// summary record instead ([`ServiceState::write_refusal_summaries`]).
    pub async fn refuse(
        &self,
        principal: &str,
        method: &str,
        error: ApiError,
        subject: Subject,
    ) -> Status {
        self.refuse_from(crate::auth::peer::current(), principal, method, error, subject).await
    }

    /// [`ServiceState::refuse`] of a call from `peer`.
    pub async fn refuse_from(
        &self,
        peer: Option<std::net::SocketAddr>,
        principal: &str,
        method: &str,
        error: ApiError,
        subject: Subject,
    ) -> Status {
        let mut event = AuditEvent::new(EventKind::CallRefused, principal);
        event.peer = peer.map(|p| p.to_string());
        event.method = Some(method.into());
        event.reason = Some(error.audit_reason());
        // Client-chosen strings are clipped: a refusal must not let a caller write megabytes
        // into the audit trail.
        event.seal_id = subject.seal_id.map(clip);
        event.authorization_id = subject.authorization_id.map(clip);
        event.request_id = subject.request_id.map(clip);
        event.case_number = subject.case_number.map(clip);
        tracing::info!(method, principal, peer = ?peer, outcome = "refused", reason = %error, "call refused");
        self.metrics.refusal(error.refusal_reason());
        // A caller that is not authenticated is known by its address only; the others by name.
        let key = match (&error, peer) {
            (ApiError::Unauthenticated(_), Some(peer)) => RefusalKey::peer(peer.ip()),
            _ => RefusalKey::Principal(principal.to_string()),
        };
        if !self.refusal_limit.admit(
            key,
            method,
            error.refusal_reason(),
            peer.map(|p| p.ip()),
            Instant::now(),
            now(),
        ) {
            self.metrics.refusal_summarized();
            return error.into();
        }
        match self.store.append_audit(event, now()).await {
            Ok(_) => error.into(),
            Err(e) => {
                tracing::error!(method, error = %e, "cannot record a refusal in the audit trail");
                Status::unavailable(format!(
                    "the audit trail cannot be written ({e}); nothing was done"
                ))
            }
        }
    }

    /// Writes one summary record for each principal or peer whose refusals went beyond the
    /// rate limit since the last time. A summary that cannot be written is kept for the next.
    /// Returns how many were written.
    pub async fn write_refusal_summaries(&self) -> usize {
        let mut written = 0;
        for summary in self.refusal_limit.take_summaries() {
            match self.store.append_audit(summary.to_event(), now()).await {
                Ok(_) => written += 1,
                Err(e) => {
                    tracing::error!(error = %e, count = summary.pending.count, "cannot record a summary of refusals in the audit trail; kept for the next attempt");
                    self.refusal_limit.restore(summary, Instant::now());
                }
            }
        }
        written
    }

    /// The seal ready to stamp with, built on first use and kept (per seal and certificate).
    pub fn loaded_seal(&self, seal: &Seal) -> Result<Arc<LoadedSeal>, ApiError> {
        let key = format!(
            "{}:{}",
            seal.id,
            seal.certificate_chain
                .first()
                .map(|c| hex(ring::digest::digest(&ring::digest::SHA256, c).as_ref()))
                .unwrap_or_default()
        );
        if let Some(loaded) = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Arc::clone(loaded));
        }
        let chain = CertificateChain::from_der(seal.certificate_chain.clone())
            .map_err(|e| ApiError::Internal(format!("seal {}: {e}", seal.id)))?;
        let image = SealImage::from_png(&seal.image_png)
            .map_err(|e| ApiError::Internal(format!("seal {}: {e}", seal.id)))?;
        let signer = self
            .keys
            .signer(&seal.key_reference)
            .map_err(|source| ApiError::SealUnavailable { seal: seal.id.clone(), source })?;
        let certificate_validity =
            certificate_validity(chain.end_entity_der()).ok_or_else(|| {
                ApiError::Internal(format!("seal {}: unreadable certificate", seal.id))
            })?;
        let loaded = Arc::new(LoadedSeal { chain, image, signer, certificate_validity });
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::clone(&loaded));
        Ok(loaded)
    }
}

/// (notBefore, notAfter) of a DER certificate, Unix seconds.
pub fn certificate_validity(der: &[u8]) -> Option<(i64, i64)> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some((cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp()))
}
