//! Where seal private keys live. A seal record names its key by a reference that only the key
//! store interprets; the service asks for a [`Signer`] and never sees key bytes.
//!
//! [`FileKeyStore`]: PKCS#8 DER files in one folder, each loaded once. Encrypted files and
//! PKCS#11 tokens plug in behind the same trait later.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use thiserror::Error;

use crate::cms::{RingSigner, Signer};

/// Why a key is not available.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The reference is not a plain file name (no folders, no `..`).
    #[error("key reference {0:?} is not a plain file name in the key folder")]
    BadReference(String),
    /// The key file cannot be read.
    #[error("key {reference} cannot be read: {message}")]
    Unreadable {
        /// The reference.
        reference: String,
        /// Why.
        message: String,
    },
}

/// Gives signers for key references.
pub trait KeyStore: Send + Sync {
    /// The signer for `reference`.
    fn signer(&self, reference: &str) -> Result<Arc<dyn Signer>, KeyError>;

    /// Whether the key of `reference` can be loaded now, from where it lives rather than from
    /// what was loaded before: the readiness check of the node. By default, [`Self::signer`].
    fn check(&self, reference: &str) -> Result<(), KeyError> {
        self.signer(reference).map(drop)
    }
}

/// PKCS#8 DER key files in a folder, loaded on first use and kept.
pub struct FileKeyStore {
    directory: PathBuf,
    loaded: Mutex<HashMap<String, Arc<dyn Signer>>>,
}

impl FileKeyStore {
    /// A store over `directory`.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Self { directory: directory.into(), loaded: Mutex::new(HashMap::new()) }
    }
}

impl FileKeyStore {
    /// Reads and parses the key file of `reference`.
    fn load(&self, reference: &str) -> Result<RingSigner, KeyError> {
        let plain = !reference.is_empty() && !reference.contains(['/', '\\']) && reference != ".." && reference != ".";
        if !plain {
            return Err(KeyError::BadReference(reference.into()));
        }
        let unreadable = |message: String| KeyError::Unreadable { reference: reference.into(), message };
        let der = std::fs::read(self.directory.join(reference)).map_err(|e| unreadable(e.to_string()))?;
        RingSigner::from_pkcs8(&der).map_err(|e| unreadable(e.to_string()))
    }
}

impl KeyStore for FileKeyStore {
    fn signer(&self, reference: &str) -> Result<Arc<dyn Signer>, KeyError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(signer) = loaded.get(reference) {
            return Ok(Arc::clone(signer));
        }
        let signer: Arc<dyn Signer> = Arc::new(self.load(reference)?);
        loaded.insert(reference.into(), Arc::clone(&signer));
        Ok(signer)
    }

    /// Reads and parses the file again: a key file deleted or damaged since it was first
    /// loaded is reported, though stampings would go on with the copy in memory.
    fn check(&self, reference: &str) -> Result<(), KeyError> {
        self.load(reference).map(drop)
    }
}
