//! What every call shares: the store, the seal keys, the settings calls apply, and the seals ready to
//! stamp with, cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::Authenticator;
use std::path::PathBuf;

use crate::config::{AuthorizationConfig, Config};
use crate::keys::KeyStore;
use crate::seal::Seal;
use crate::service::ServiceError;
use crate::store::Store;
use eseal_cms::{CertificateChain, Signer};
use eseal_encoding::hex;
use eseal_pdf::SealImage;
use eseal_verify::TrustAnchors;

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
    /// What the calls apply of the configuration.
    pub settings: CallSettings,
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

/// What the calls apply of the configuration, resolved once: nothing else of it reaches them.
#[derive(Clone, Debug)]
pub struct CallSettings {
    /// The largest document accepted, in bytes (`server.max_document_bytes`).
    pub max_document_bytes: u64,
    /// Documents larger than this are spooled to a file (`server.spool_threshold_bytes`).
    pub spool_threshold_bytes: u64,
    /// Where (`server.spool_directory`; the system's temporary folder without one).
    pub spool_directory: Option<PathBuf>,
    /// The limits of an authorization's validity (`[authorizations]`).
    pub authorizations: AuthorizationConfig,
    /// Where sealed documents are kept for archive exports (`archive.keep_documents_dir`).
    pub keep_documents_dir: Option<PathBuf>,
    /// How often checkpoints are signed (`audit.checkpoint_interval_ms`), as GetCheckpoint
    /// reports it.
    pub checkpoint_interval_ms: u64,
}

impl CallSettings {
    /// The settings of `config`.
    pub fn of(config: &Config) -> Self {
        CallSettings {
            max_document_bytes: config.server.max_document_bytes,
            spool_threshold_bytes: config.server.spool_threshold_bytes,
            spool_directory: config.server.spool_directory.clone(),
            authorizations: config.authorizations.clone(),
            keep_documents_dir: config.archive.keep_documents_dir.clone(),
            checkpoint_interval_ms: config.audit.checkpoint_interval_ms,
        }
    }
}

/// How long a seal read from the store answers [`ServiceState::recent_seal`]. A change made
/// through this node is seen at once (the entry is dropped); one made through another node
/// within this time. Whatever the cache says, a stamping commits only while its seal is
/// active in the store, checked in the committing transaction.
const SEAL_CACHE_TTL: Duration = Duration::from_secs(1);

impl ServiceState {
    /// Assembles the state.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeyStore>,
        auth: Authenticator,
        settings: CallSettings,
        refusal_limit: crate::auth::refusal_limit::RefusalLimiter,
        anchors: TrustAnchors,
        checkpoints: Arc<crate::checkpoints::Checkpointer>,
    ) -> Self {
        Self {
            store,
            keys,
            auth,
            refusal_limit,
            settings,
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
    pub async fn recent_seal(&self, id: &str) -> Result<Option<Arc<Seal>>, ServiceError> {
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

    /// The seal ready to stamp with, built on first use and kept (per seal and certificate).
    pub fn loaded_seal(&self, seal: &Seal) -> Result<Arc<LoadedSeal>, ServiceError> {
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
            .map_err(|e| ServiceError::Internal(format!("seal {}: {e}", seal.id)))?;
        let image = SealImage::from_png(&seal.image_png)
            .map_err(|e| ServiceError::Internal(format!("seal {}: {e}", seal.id)))?;
        let signer = self
            .keys
            .signer(&seal.key_reference)
            .map_err(|source| ServiceError::SealUnavailable { seal: seal.id.clone(), source })?;
        let certificate_validity =
            certificate_validity(chain.end_entity_der()).ok_or_else(|| {
                ServiceError::Internal(format!("seal {}: unreadable certificate", seal.id))
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
