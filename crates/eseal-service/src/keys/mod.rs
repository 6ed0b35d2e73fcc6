//! Where seal private keys live. A seal record names its key by a reference that only the key
//! store interprets; the service asks for a [`Signer`] and never sees key bytes.
//!
//! [`KeyRing`] resolves a reference:
//! - `pkcs11:label=NAME` (or `pkcs11:object=NAME`): the private key labelled NAME in the
//!   configured PKCS#11 token ([`pkcs11`]); it never leaves the token.
//! - any other reference is a file name in the key folder: an encrypted key file
//!   ([`envelope`], opened with the configured key-encryption key), or a plaintext PKCS#8 DER
//!   file, accepted only when the configuration says `development = true`.
//!
//! Keys are loaded once and kept; a key that cannot be loaded (wrong KEK, wrong PIN, damaged
//! file) makes only the seals using it unavailable.

pub mod csr;
pub mod envelope;
pub mod pkcs11;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use thiserror::Error;
use zeroize::Zeroizing;

use crate::config::KeysConfig;
use eseal_cms::{RingSigner, Signer};

pub use envelope::Kek;
pub use pkcs11::{Token, TokenSettings};

/// Why a key is not available.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The reference is not a plain file name (no folders, no `..`) nor a `pkcs11:` URI.
    #[error(
        "key reference {0:?} is neither a plain file name in the key folder nor pkcs11:label=NAME"
    )]
    BadReference(String),
    /// The key file cannot be read.
    #[error("key {reference} cannot be read: {message}")]
    Unreadable {
        /// The reference.
        reference: String,
        /// Why.
        message: String,
    },
    /// A plaintext key outside development.
    #[error(
        "key {reference} is a plaintext PKCS#8 file; plaintext seal keys are accepted only with `development = true`: \
         encrypt it with `eseal keys encrypt` or keep it in a PKCS#11 token"
    )]
    PlaintextRefused {
        /// The reference.
        reference: String,
    },
    /// The key-encryption key is missing, unreadable or malformed.
    #[error("key-encryption key: {0}")]
    Kek(String),
    /// The file was sealed under a KEK that is not configured.
    #[error(
        "key {reference} is sealed under KEK {needed}, but the configured KEK is {configured} (wrong keys.kek_file / kek_env?)"
    )]
    WrongKek {
        /// The reference.
        reference: String,
        /// The KEK identifier the file names.
        needed: String,
        /// The identifiers of the configured KEKs.
        configured: String,
    },
    /// The encrypted file does not authenticate.
    #[error("encrypted key {reference} is damaged or was tampered with: {message}")]
    Tampered {
        /// The reference.
        reference: String,
        /// What failed.
        message: String,
    },
    /// The PKCS#11 token cannot be used (module, token, PIN, key).
    #[error("PKCS#11: {0}")]
    Token(String),
    /// A `pkcs11:` reference without a `[keys.pkcs11]` section.
    #[error("key {0} is in a PKCS#11 token, but no [keys.pkcs11] section is configured")]
    NoToken(String),
    /// The key bytes are not a usable seal key.
    #[error("key {reference} is not a usable seal key: {message}")]
    Invalid {
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

/// The key types seals use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256,
    /// RSA 3072 bits, PKCS#1 v1.5 with SHA-256.
    Rsa3072,
}

/// Where a reference points.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyLocation<'a> {
    /// A key labelled so in the PKCS#11 token.
    Token(&'a str),
    /// A file in the key folder.
    File(&'a str),
}

impl<'a> KeyLocation<'a> {
    /// Reads a key reference.
    pub fn parse(reference: &'a str) -> Result<KeyLocation<'a>, KeyError> {
        if let Some(rest) = reference.strip_prefix("pkcs11:") {
            let label = rest.strip_prefix("label=").or_else(|| rest.strip_prefix("object="));
            return match label {
                Some(label) if !label.is_empty() && !label.contains(';') => {
                    Ok(KeyLocation::Token(label))
                }
                _ => Err(KeyError::BadReference(reference.into())),
            };
        }
        let plain = !reference.is_empty()
            && !reference.contains(['/', '\\'])
            && reference != ".."
            && reference != ".";
        if plain {
            Ok(KeyLocation::File(reference))
        } else {
            Err(KeyError::BadReference(reference.into()))
        }
    }
}

/// Reads a secret from a file or an environment variable (exactly one of them). `what` names
/// the configuration keys in errors. Trailing white space of a text file is not part of it.
pub fn read_secret(
    file: Option<&Path>,
    env: Option<&str>,
    what: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
    match (file, env) {
        (Some(_), Some(_)) => {
            Err(KeyError::Kek(format!("{what}: give a file or an environment variable, not both")))
        }
        (Some(path), None) => {
            let bytes = Zeroizing::new(
                std::fs::read(path)
                    .map_err(|e| KeyError::Kek(format!("{what} {}: {e}", path.display())))?,
            );
            Ok(Some(bytes))
        }
        (None, Some(name)) => match std::env::var(name) {
            Ok(value) => Ok(Some(Zeroizing::new(value.into_bytes()))),
            Err(_) => {
                Err(KeyError::Kek(format!("{what}: the environment variable {name} is not set")))
            }
        },
        (None, None) => Ok(None),
    }
}

/// The KEKs a configuration names: the current one first, then the previous one (kept during
/// a rotation so that files not yet re-sealed still open).
pub fn configured_keks(config: &KeysConfig) -> Result<Vec<Kek>, KeyError> {
    let mut keks = Vec::new();
    for (file, env, what) in [
        (config.kek_file.as_deref(), config.kek_env.as_deref(), "keys.kek_file / kek_env"),
        (
            config.previous_kek_file.as_deref(),
            config.previous_kek_env.as_deref(),
            "keys.previous_kek_file / previous_kek_env",
        ),
    ] {
        if let Some(material) = read_secret(file, env, what)? {
            keks.push(Kek::parse(&material, what)?);
        }
    }
    Ok(keks)
}

/// The PKCS#11 settings of a configuration, with the PIN read, if a token is configured.
pub fn token_settings(config: &KeysConfig) -> Result<Option<TokenSettings>, KeyError> {
    let Some(p) = &config.pkcs11 else {
        return Ok(None);
    };
    let what = "keys.pkcs11.pin_file / pin_env";
    let pin = read_secret(p.pin_file.as_deref(), p.pin_env.as_deref(), what)?
        .ok_or_else(|| KeyError::Token(format!("{what}: no PIN configured")))?;
    let pin = std::str::from_utf8(&pin)
        .map_err(|_| KeyError::Token(format!("{what}: the PIN is not UTF-8")))?
        .trim_end()
        .to_string();
    Ok(Some(TokenSettings {
        module: p.module.clone(),
        token_label: p.token_label.clone(),
        pin: Zeroizing::new(pin),
        sessions: p.sessions,
    }))
}

/// The service's key store: files (encrypted, or plaintext in development) and a PKCS#11 token.
pub struct KeyRing {
    directory: PathBuf,
    keks: Vec<Kek>,
    development: bool,
    /// The token, or why it cannot be used (kept: seals in it are unavailable, others work).
    token: Option<Result<Arc<Token>, String>>,
    loaded: Mutex<HashMap<String, Arc<dyn Signer>>>,
}

impl KeyRing {
    /// The key store of a configuration. A KEK or PIN that cannot be read is an error (the
    /// configuration is wrong); a token that refuses the PIN is not: its seals are unavailable.
    pub fn from_config(config: &KeysConfig, development: bool) -> Result<KeyRing, KeyError> {
        let keks = configured_keks(config)?;
        let token = token_settings(config)?
            .map(|settings| Token::open(&settings).map_err(|e| e.to_string()));
        if let Some(Err(e)) = &token {
            tracing::error!(error = %e, "the PKCS#11 token cannot be used: seals whose keys are in it are unavailable");
        }
        Ok(KeyRing {
            directory: config.directory.clone(),
            keks,
            development,
            token,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// A key store over `directory` only: no KEK, no token.
    pub fn files(directory: impl Into<PathBuf>, keks: Vec<Kek>, development: bool) -> KeyRing {
        KeyRing {
            directory: directory.into(),
            keks,
            development,
            token: None,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The plaintext PKCS#8 of the key file `reference` in the key folder: opened with the
    /// configured KEK when encrypted; a plaintext file only in development. For keys that are
    /// not seal keys (the audit log's Ed25519 key), which the caller turns into its own signer.
    fn file_pkcs8(&self, reference: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let name = match KeyLocation::parse(reference)? {
            KeyLocation::File(name) => name,
            KeyLocation::Token(_) => {
                return Err(KeyError::Token(format!(
                    "{reference}: only a key file in the key folder can be read here, not a token key"
                )));
            }
        };
        let unreadable =
            |message: String| KeyError::Unreadable { reference: reference.into(), message };
        let bytes = Zeroizing::new(
            std::fs::read(self.directory.join(name)).map_err(|e| unreadable(e.to_string()))?,
        );
        if envelope::is_encrypted(&bytes) {
            envelope::open(&bytes, &self.keks, reference)
        } else if self.development {
            Ok(bytes)
        } else {
            Err(KeyError::PlaintextRefused { reference: reference.into() })
        }
    }

    /// The audit log's checkpoint signer named `name`, over the Ed25519 key of `reference`: a
    /// key file of the key folder (encrypted, or plaintext in development), or a token key
    /// (`pkcs11:label=NAME`), which signs in the token.
    pub fn log_signer(
        &self,
        reference: &str,
        name: &str,
    ) -> Result<eseal_audit::LogSigner, KeyError> {
        let invalid = |e: eseal_audit::AuditError| KeyError::Invalid {
            reference: reference.into(),
            message: format!("not a usable Ed25519 log key: {e}"),
        };
        match KeyLocation::parse(reference)? {
            KeyLocation::File(_) => {
                eseal_audit::LogSigner::from_pkcs8(name, &self.file_pkcs8(reference)?)
                    .map_err(invalid)
            }
            KeyLocation::Token(label) => match &self.token {
                None => Err(KeyError::NoToken(reference.into())),
                Some(Err(e)) => Err(KeyError::Token(e.clone())),
                Some(Ok(token)) => {
                    let (public_key, sign) = token.ed25519(label)?;
                    eseal_audit::LogSigner::from_external(name, public_key, sign).map_err(invalid)
                }
            },
        }
    }

    fn load(&self, reference: &str) -> Result<Arc<dyn Signer>, KeyError> {
        match KeyLocation::parse(reference)? {
            KeyLocation::Token(label) => match &self.token {
                None => Err(KeyError::NoToken(reference.into())),
                Some(Err(e)) => Err(KeyError::Token(e.clone())),
                Some(Ok(token)) => token.signer(label),
            },
            KeyLocation::File(_) => {
                let pkcs8 = self.file_pkcs8(reference)?;
                let signer = RingSigner::from_pkcs8(&pkcs8).map_err(|e| KeyError::Invalid {
                    reference: reference.into(),
                    message: e.to_string(),
                })?;
                Ok(Arc::new(signer))
            }
        }
    }
}

impl KeyStore for KeyRing {
    fn signer(&self, reference: &str) -> Result<Arc<dyn Signer>, KeyError> {
        if let Some(signer) = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(reference) {
            return Ok(Arc::clone(signer));
        }
        // Loaded outside the lock: a token round trip must not hold up other seals' lookups.
        let signer = self.load(reference)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Arc::clone(loaded.entry(reference.into()).or_insert(signer)))
    }

    /// Checks the key where it lives: a key file deleted, damaged or re-sealed under a KEK this
    /// node does not hold is reported, though stampings would go on with the signer in memory.
    /// An encrypted file is only opened (its AES-GCM tag proves it whole and under our KEK;
    /// the plaintext is wiped at once): no key object is built, so none is left in freed
    /// memory each time the readiness probe asks. Token and plaintext keys are loaded again.
    fn check(&self, reference: &str) -> Result<(), KeyError> {
        if let KeyLocation::File(name) = KeyLocation::parse(reference)? {
            let unreadable =
                |message: String| KeyError::Unreadable { reference: reference.into(), message };
            let bytes = Zeroizing::new(
                std::fs::read(self.directory.join(name)).map_err(|e| unreadable(e.to_string()))?,
            );
            if envelope::is_encrypted(&bytes) {
                return envelope::open(&bytes, &self.keks, reference).map(drop);
            }
        }
        self.load(reference).map(drop)
    }
}

/// Says loudly that plaintext keys are accepted (the `development = true` setting).
pub fn warn_development() {
    const BANNER: &str = "DEVELOPMENT MODE (development = true): plaintext seal keys are accepted. \
                          Never run a production service like this: encrypt seal keys (eseal keys encrypt) or keep them in a PKCS#11 token.";
    tracing::warn!("{BANNER}");
    // The banner on a terminal only: a log file or collector gets the warning line in its own
    // format (one JSON object per line with `[log] format = "json"`).
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return;
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n{BANNER}\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

/// Re-seals every encrypted key file of `directory` sealed under `old` with `new`, one file at a
/// time: each new file is written beside the old one, synced, then renamed over it, so that a
/// reader (a service starting meanwhile) sees the old or the new file, never half of one.
/// Files already under `new` are left alone (a rotation interrupted and run again finishes);
/// plaintext files are not touched. Returns the file names re-sealed.
pub fn rotate_kek(directory: &Path, old: &Kek, new: &Kek) -> Result<Vec<String>, KeyError> {
    let io = |what: &str, e: std::io::Error| KeyError::Unreadable {
        reference: what.into(),
        message: e.to_string(),
    };
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .map_err(|e| io(&directory.display().to_string(), e))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut resealed = Vec::new();
    for name in names {
        let path = directory.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| io(&name, e))?;
        if !envelope::is_encrypted(&bytes)
            || envelope::kek_id_of(&bytes).as_deref() == Some(&new.id_hex())
        {
            continue;
        }
        let pkcs8 = envelope::open(&bytes, std::slice::from_ref(old), &name)?;
        let sealed = envelope::seal(&pkcs8, new)?;
        write_atomically(&path, &sealed).map_err(|e| io(&name, e))?;
        resealed.push(name);
    }
    Ok(resealed)
}

/// Writes `bytes` to `path` through a synced temporary file in the same folder and a rename,
/// then syncs the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            KeyLocation::parse("pkcs11:label=approval").unwrap(),
            KeyLocation::Token("approval")
        );
        assert_eq!(
            KeyLocation::parse("pkcs11:object=approval").unwrap(),
            KeyLocation::Token("approval")
        );
        assert_eq!(
            KeyLocation::parse("approval.key.enc").unwrap(),
            KeyLocation::File("approval.key.enc")
        );
        for bad in [
            "",
            "..",
            "a/b",
            "pkcs11:",
            "pkcs11:label=",
            "pkcs11:id=01",
            "pkcs11:label=a;type=private",
        ] {
            assert!(matches!(KeyLocation::parse(bad), Err(KeyError::BadReference(_))), "{bad:?}");
        }
    }
}
