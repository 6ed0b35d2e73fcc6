//! The service's configuration: one typed value, read from TOML and checked at start.
//!
//! With no file, [`Config::development`] describes the development setup: the embedded store
//! in `./eseal-data`, the keys and certificates of `keys-sample/`, mTLS on 127.0.0.1:50051.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why the configuration cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("the configuration file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A value is unusable.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Development mode (top-level `development = true`): plaintext PKCS#8 seal keys are
    /// accepted, and the server says so loudly at start. Off by default: seal keys must then be
    /// encrypted key files or PKCS#11 token keys. The built-in development setup turns it on.
    #[serde(default)]
    pub development: bool,
    /// Network and TLS.
    pub server: ServerConfig,
    /// Where state lives.
    pub store: StoreConfig,
    /// Where seal keys live.
    pub keys: KeysConfig,
    /// Authorization limits.
    #[serde(default)]
    pub authorizations: AuthorizationConfig,
    /// The audit log's checkpoint signing.
    pub audit: AuditConfig,
    /// Trust anchors for verification.
    #[serde(default)]
    pub verification: VerificationConfig,
    /// Archival export (`[archive]`; optional).
    #[serde(default)]
    pub archive: ArchiveConfig,
    /// Who may call, and in which roles.
    #[serde(default)]
    pub principals: Vec<PrincipalConfig>,
    /// Seals registered at first start when absent (the development seals).
    #[serde(default)]
    pub seed_seals: Vec<SeedSeal>,
}

/// Network, TLS and request limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `127.0.0.1:50051`.
    pub listen: String,
    /// The server's certificate chain (PEM).
    pub tls_certificate: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub tls_key: PathBuf,
    /// The CA that issues client certificates (PEM).
    pub client_ca: PathBuf,
    /// Largest document accepted, in bytes (default 256 MiB).
    #[serde(default = "default_max_document")]
    pub max_document_bytes: u64,
    /// Documents larger than this are spooled to a temporary file (default 8 MiB).
    #[serde(default = "default_spool_threshold")]
    pub spool_threshold_bytes: u64,
    /// Folder for spooled documents (default: the system's temporary folder).
    #[serde(default)]
    pub spool_directory: Option<PathBuf>,
}

fn default_max_document() -> u64 {
    256 * 1024 * 1024
}

fn default_spool_threshold() -> u64 {
    8 * 1024 * 1024
}

/// The store.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite database file of the embedded store.
    pub sqlite_path: PathBuf,
    /// The audit log's origin line (its name in checkpoints).
    #[serde(default = "default_origin")]
    pub audit_origin: String,
}

fn default_origin() -> String {
    "eseal.local/audit".into()
}

/// Seal keys (`[keys]`). A seal's key reference is a file name in `directory`, or
/// `pkcs11:label=NAME` for a key in the `[keys.pkcs11]` token.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Folder of key files: encrypted key files (`eseal keys encrypt`), or plaintext PKCS#8 DER
    /// files when `development = true`.
    pub directory: PathBuf,
    // --- issue 7: encrypted key files, PKCS#11, per-key limits ---
    /// File holding the key-encryption key (32 bytes: 64 hex digits, base64, or raw), read at
    /// start. Encrypted key files are opened with it. At most one of `kek_file` and `kek_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kek_file: Option<PathBuf>,
    /// Name of the environment variable holding the key-encryption key (hex or base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kek_env: Option<String>,
    /// The previous KEK's file, kept configured during a rotation (`eseal keys rotate-kek`) so
    /// that files not yet re-sealed still open. At most one of this and `previous_kek_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_kek_file: Option<PathBuf>,
    /// The previous KEK's environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_kek_env: Option<String>,
    /// The PKCS#11 token holding seal keys (`[keys.pkcs11]`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<Pkcs11Config>,
    /// Most stampings one seal key may make, over its whole life (counted in the store with each
    /// stamping); unset: no limit. Per seal in `max_stampings_per_seal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stampings_per_key: Option<u64>,
    /// Per-seal limits that override `max_stampings_per_key`: seal id = most stampings.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub max_stampings_per_seal: std::collections::BTreeMap<String, u64>,
}

/// A PKCS#11 token (`[keys.pkcs11]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of the token holding the seal keys.
    pub token_label: String,
    /// File holding the user PIN (trailing white space ignored). At most one of `pin_file`
    /// and `pin_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
    /// Name of the environment variable holding the user PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_env: Option<String>,
    /// Sessions kept open and logged in, so that concurrent stampings do not wait for one
    /// another (default 8).
    #[serde(default = "default_token_sessions")]
    pub sessions: usize,
}

fn default_token_sessions() -> usize {
    8
}

/// Checkpoints of the audit log.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The Ed25519 key (PKCS#8 DER) that signs checkpoints; its name is `store.audit_origin`.
    pub log_key: PathBuf,
    /// How often a new checkpoint is signed when the log grew, in milliseconds (default 1000).
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_ms: u64,
}

fn default_checkpoint_interval() -> u64 {
    1000
}

/// Authorization limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Validity when the custodian gives none, in seconds (default 24 h).
    #[serde(default = "default_validity")]
    pub default_validity_seconds: i64,
    /// Longest validity a custodian may give, in seconds (default 7 days).
    #[serde(default = "max_validity")]
    pub max_validity_seconds: i64,
}

fn default_validity() -> i64 {
    24 * 3600
}

fn max_validity() -> i64 {
    7 * 24 * 3600
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self { default_validity_seconds: default_validity(), max_validity_seconds: max_validity() }
    }
}

/// Archival export.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// A folder where every sealed document is kept, named by its SHA-256 (lowercase hex) and
    /// `.pdf`, so that archive exports can include it. Unset (the default): documents are not
    /// kept. When set, a sealed document is released only after it is written there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_documents_dir: Option<PathBuf>,
}

/// Verification.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfig {
    /// PEM files of the roots that seal certificates must chain to.
    #[serde(default)]
    pub trust_anchors: Vec<PathBuf>,
}

/// One caller: how its client certificate is recognised, and its roles.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    /// The principal's name (as written in authorizations and the audit trail).
    pub name: String,
    /// The URI subject alternative name of its client certificates (e.g.
    /// `spiffe://eseal.example/department/approval-system`).
    pub san_uri: String,
    /// Seals it may request stampings with (`department` role); `"*"` for all.
    #[serde(default)]
    pub department: Vec<String>,
    /// Seals whose authorizations it may grant and revoke (`custodian` role); `"*"` for all.
    #[serde(default)]
    pub custodian: Vec<String>,
    /// Whether it manages seal life cycles (`seal-admin` role).
    #[serde(default)]
    pub seal_admin: bool,
    /// Whether it verifies documents and reads the audit trail (`archivist` role).
    #[serde(default)]
    pub archivist: bool,
}

impl PrincipalConfig {
    /// A principal recognised by the SAN URI `uri`, with no role yet.
    pub fn recognised_by_uri(name: &str, uri: &str) -> PrincipalConfig {
        PrincipalConfig {
            name: name.into(),
            san_uri: uri.into(),
            department: vec![],
            custodian: vec![],
            seal_admin: false,
            archivist: false,
        }
    }
}

/// A seal to register at first start.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSeal {
    /// Seal id.
    pub id: String,
    /// Name as engraved.
    pub name: String,
    /// Organisation.
    pub organization: String,
    /// Kind.
    pub kind: String,
    /// PNG picture file.
    pub image: PathBuf,
    /// PEM chain file (seal certificate first).
    pub certificate_chain: PathBuf,
    /// Key file name in the key folder.
    pub key_reference: String,
    /// Custodians.
    pub custodians: Vec<String>,
}

impl Config {
    /// Reads and checks a TOML file. Relative paths in it are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.rebase(base);
        config.check()?;
        Ok(config)
    }

    /// The development configuration over `keys-sample/` in `root` (the repository).
    pub fn development(root: &Path) -> Config {
        let keys = root.join("keys-sample");
        let principal = PrincipalConfig::recognised_by_uri;
        let seed = |id: &str, name: &str, organization: &str, kind: &str, file: &str| SeedSeal {
            id: id.into(),
            name: name.into(),
            organization: organization.into(),
            kind: kind.into(),
            image: keys.join(format!("{file}.png")),
            certificate_chain: keys.join(format!("{file}-chain.pem")),
            key_reference: format!("{file}.pk8"),
            custodians: vec!["custodian-wang".into()],
        };
        Config {
            development: true,
            server: ServerConfig {
                listen: "127.0.0.1:50051".into(),
                tls_certificate: keys.join("server.pem"),
                tls_key: keys.join("server.key"),
                client_ca: keys.join("tls-ca.pem"),
                max_document_bytes: default_max_document(),
                spool_threshold_bytes: default_spool_threshold(),
                spool_directory: None,
            },
            store: StoreConfig { sqlite_path: PathBuf::from("eseal-data/eseal.db"), audit_origin: default_origin() },
            keys: KeysConfig { directory: keys.clone(), ..KeysConfig::default() },
            authorizations: AuthorizationConfig::default(),
            audit: AuditConfig { log_key: keys.join("audit-log.pk8"), checkpoint_interval_ms: default_checkpoint_interval() },
            verification: VerificationConfig { trust_anchors: vec![keys.join("root-ca.pem")] },
            archive: ArchiveConfig::default(),
            principals: vec![
                PrincipalConfig { department: vec!["*".into()], ..principal("approval-system", "spiffe://eseal.example/department/approval-system") },
                PrincipalConfig { custodian: vec!["*".into()], ..principal("custodian-wang", "spiffe://eseal.example/custodian/wang") },
                PrincipalConfig { seal_admin: true, ..principal("seal-admin-li", "spiffe://eseal.example/seal-admin/li") },
                PrincipalConfig { archivist: true, ..principal("archivist-zhao", "spiffe://eseal.example/archivist/zhao") },
            ],
            seed_seals: vec![
                seed("approval-ec", "示例市行政审批局行政审批专用章", "示例市行政审批局", "行政审批专用章", "seal-approval-ec"),
                seed("housing-rsa", "示例市住房和城乡建设局业务专用章", "示例市住房和城乡建设局", "业务专用章", "seal-housing-rsa"),
            ],
        }
    }

    fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.server.tls_certificate);
        fix(&mut self.server.tls_key);
        fix(&mut self.server.client_ca);
        if let Some(d) = self.server.spool_directory.as_mut() {
            fix(d);
        }
        fix(&mut self.store.sqlite_path);
        fix(&mut self.keys.directory);
        for file in [&mut self.keys.kek_file, &mut self.keys.previous_kek_file] {
            if let Some(f) = file.as_mut() {
                fix(f);
            }
        }
        if let Some(f) = self.keys.pkcs11.as_mut().and_then(|p| p.pin_file.as_mut()) {
            fix(f);
        }
        fix(&mut self.audit.log_key);
        self.verification.trust_anchors.iter_mut().for_each(fix);
        if let Some(d) = self.archive.keep_documents_dir.as_mut() {
            fix(d);
        }
        for seed in &mut self.seed_seals {
            fix(&mut seed.image);
            fix(&mut seed.certificate_chain);
        }
    }

    /// Checks values that TOML types cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.audit.checkpoint_interval_ms == 0 {
            return invalid("audit.checkpoint_interval_ms must be positive".into());
        }
        if self.server.max_document_bytes == 0 {
            return invalid("server.max_document_bytes must be positive".into());
        }
        let a = &self.authorizations;
        if a.default_validity_seconds <= 0 || a.max_validity_seconds < a.default_validity_seconds {
            return invalid("authorizations: 0 < default_validity_seconds <= max_validity_seconds is required".into());
        }
        let k = &self.keys;
        if k.kek_file.is_some() && k.kek_env.is_some() || k.previous_kek_file.is_some() && k.previous_kek_env.is_some() {
            return invalid("keys: give the KEK as a file or an environment variable, not both".into());
        }
        if let Some(p) = &k.pkcs11 {
            if p.pin_file.is_some() == p.pin_env.is_some() {
                return invalid("keys.pkcs11: exactly one of pin_file and pin_env is required".into());
            }
            if p.sessions == 0 {
                return invalid("keys.pkcs11.sessions must be positive".into());
            }
        }
        let mut names = std::collections::HashSet::new();
        for p in &self.principals {
            if !names.insert(&p.name) {
                return invalid(format!("principal {} is configured twice", p.name));
            }
            if p.san_uri.trim().is_empty() {
                return invalid(format!("principal {} needs a san_uri to be recognised", p.name));
            }
        }
        Ok(())
    }
}
