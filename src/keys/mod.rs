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

impl KeyStore for FileKeyStore {
    fn signer(&self, reference: &str) -> Result<Arc<dyn Signer>, KeyError> {
        let plain = !reference.is_empty() && !reference.contains(['/', '\\']) && reference != ".." && reference != ".";
        if !plain {
            return Err(KeyError::BadReference(reference.into()));
        }
        let mut loaded = self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(signer) = loaded.get(reference) {
            return Ok(Arc::clone(signer));
        }
        let unreadable = |message: String| KeyError::Unreadable { reference: reference.into(), message };
        let der = std::fs::read(self.directory.join(reference)).map_err(|e| unreadable(e.to_string()))?;
        let signer: Arc<dyn Signer> = Arc::new(RingSigner::from_pkcs8(&der).map_err(|e| unreadable(e.to_string()))?);
        loaded.insert(reference.into(), Arc::clone(&signer));
        Ok(signer)
    }
}
