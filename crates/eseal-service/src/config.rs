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
    /// An `ESEAL__<SECTION>__<KEY>` environment variable cannot be applied.
    #[error("environment variable {variable}: {message}")]
    Override {
        /// The variable's name.
        variable: String,
        /// Why it cannot be applied (an unknown key, a value of the wrong type).
        message: String,
    },
    /// A file or folder the configuration names does not exist.
    #[error("{key}: {} does not exist{}", .path.display(), if *.folder { " (a folder is expected)" } else { "" })]
    Missing {
        /// The configuration key naming it (e.g. `server.tls_certificate`).
        key: String,
        /// The path, as resolved.
        path: PathBuf,
        /// Whether a folder is expected.
        folder: bool,
    },
}

/// What a path setting names: a file or a folder that must exist, or one the service creates.
#[derive(Clone, Copy, Debug)]
enum PathKind {
    File,
    Folder,
    Created,
}

/// `path` taken from `base`, with the `..` that follow a folder of `base` folded away
/// (`keys-sample/../eseal-data` is `eseal-data`).
fn lexically_joined(base: &Path, path: &Path) -> PathBuf {
    use std::path::Component;
    let mut joined = PathBuf::new();
    for component in base.join(path).components() {
        match component {
            Component::ParentDir
                if matches!(joined.components().next_back(), Some(Component::Normal(_))) =>
            {
                joined.pop();
            }
            other => joined.push(other),
        }
    }
    joined
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
    /// The Prometheus endpoint (`[metrics]`; optional: absent, no endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
    /// Log lines (`[log]`; optional).
    #[serde(default)]
    pub log: LogConfig,
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
    /// At shutdown, how long calls in progress may take to finish before the store is closed
    /// under them, in milliseconds (default 30000).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_ms: u64,
    /// Certificate revocation lists of the client CA (PEM or DER files). Reloaded when a file
    /// changes and on SIGHUP; a revoked client certificate is refused.
    #[serde(default)]
    pub client_crls: Vec<PathBuf>,
    /// How often the `client_crls` files are checked for a change, in milliseconds (default 5000).
    #[serde(default = "default_client_crl_check")]
    pub client_crl_check_ms: u64,
    /// Refusals recorded one by one per principal (per peer address for callers not
    /// authenticated) before the rate limit applies: the bucket's size (default 50).
    #[serde(default = "default_refusal_burst")]
    pub refusal_burst: u32,
    /// Refusals recorded one by one per second and principal (or peer) once the burst is spent
    /// (default 2); the others are counted in one summary record per interval.
    #[serde(default = "default_refusal_refill")]
    pub refusal_refill_per_second: f64,
    /// How often summary records of the refusals beyond the rate limit are written, in
    /// milliseconds (default 60000).
    #[serde(default = "default_refusal_summary_interval")]
    pub refusal_summary_interval_ms: u64,
}

fn default_shutdown_grace() -> u64 {
    30_000
}

fn default_client_crl_check() -> u64 {
    5_000
}

fn default_refusal_burst() -> u32 {
    50
}

fn default_refusal_refill() -> f64 {
    2.0
}

fn default_refusal_summary_interval() -> u64 {
    60_000
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
    /// The SQLite database file of the embedded store, used when `url` is not set. With `url`,
    /// only its folder is used: this node's checkpoint witness file is written beside it.
    pub sqlite_path: PathBuf,
    /// A PostgreSQL database shared by every node of the service
    /// (`postgres://user:password@host:port/database`); when set, it is the store instead of
    /// `sqlite_path`. `eseal serve --store` (or `ESEAL_STORE`) overrides it.
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL only: how many connections this node opens at most (default 16).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// PostgreSQL only: how long a call waits for a database connection before it fails with
    /// UNAVAILABLE, in milliseconds (default 3000): how fast clients hear that the database is
    /// down.
    #[serde(default = "default_acquire_timeout")]
    pub acquire_timeout_ms: u64,
    /// The audit log's origin line (its name in checkpoints).
    #[serde(default = "default_origin")]
    pub audit_origin: String,
}

fn default_max_connections() -> u32 {
    16
}

fn default_acquire_timeout() -> u64 {
    3000
}

fn default_origin() -> String {
    "eseal.local/audit".into()
}

/// The Prometheus endpoint.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the plain-HTTP endpoint serving `GET /metrics`, e.g. `127.0.0.1:9464`.
    pub listen: String,
}

/// Log lines, written to standard error.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (the default) or `json` (one object per line).
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter such as `info` or `eseal=debug,sqlx=warn` (default `info`); the
    /// `ESEAL_LOG` environment variable, when set, takes precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured only when standard error is a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Seal keys (`[keys]`). A seal's key reference is a file name in `directory`, or
/// `pkcs11:label=NAME` for a key in the `[keys.pkcs11]` token.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Folder of key files: encrypted key files (`eseal keys encrypt`), or plaintext PKCS#8 DER
    /// files when `development = true`.
    pub directory: PathBuf,
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

/// Checkpoints of the audit log. The Ed25519 key that signs them (its name is
/// `store.audit_origin`) is given by exactly one of `log_key` and `log_key_reference`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// A plaintext PKCS#8 DER file holding the key (the development setup; a production
    /// service is warned at start and should use `log_key_reference`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<PathBuf>,
    /// The key as a key reference resolved like seal keys: the name of a file in
    /// `[keys] directory` encrypted under the KEK by `eseal keys encrypt` (e.g.
    /// `audit-log.key`), or `pkcs11:label=NAME`, an Ed25519 key in the `[keys.pkcs11]` token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key_reference: Option<String>,
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
        Self::load_with_overrides(Some(path), Path::new("."), std::iter::empty())
    }

    /// The development configuration: keys-sample/development.toml (carried by the binary),
    /// read like any configuration file in `root`/keys-sample (the repository's folder).
    pub fn development(root: &Path) -> Config {
        const DEVELOPMENT: &str = include_str!("../../../keys-sample/development.toml");
        let mut config: Config = match toml::from_str(DEVELOPMENT) {
            Ok(config) => config,
            // The file is part of the source: a mistake in it fails every test at once.
            Err(e) => unreachable!("keys-sample/development.toml does not parse: {e}"),
        };
        config.rebase(&root.join("keys-sample"));
        config
    }

    /// Every path setting with its key and what it must name. Rebasing and checking the files
    /// both read this one list.
    fn path_settings(&mut self) -> Vec<(String, &mut PathBuf, PathKind)> {
        use PathKind::{Created, File, Folder};
        let server = &mut self.server;
        let mut paths = vec![
            ("server.tls_certificate".to_string(), &mut server.tls_certificate, File),
            ("server.tls_key".to_string(), &mut server.tls_key, File),
            ("server.client_ca".to_string(), &mut server.client_ca, File),
            ("store.sqlite_path".to_string(), &mut self.store.sqlite_path, Created),
            ("keys.directory".to_string(), &mut self.keys.directory, Folder),
        ];
        paths.extend(server.client_crls.iter_mut().map(|p| ("server.client_crls".into(), p, File)));
        paths.extend(
            server.spool_directory.as_mut().map(|p| ("server.spool_directory".into(), p, Folder)),
        );
        paths.extend(self.keys.kek_file.as_mut().map(|p| ("keys.kek_file".into(), p, File)));
        paths.extend(
            self.keys
                .previous_kek_file
                .as_mut()
                .map(|p| ("keys.previous_kek_file".into(), p, File)),
        );
        if let Some(token) = self.keys.pkcs11.as_mut() {
            paths.push(("keys.pkcs11.module".into(), &mut token.module, File));
            paths.extend(token.pin_file.as_mut().map(|p| ("keys.pkcs11.pin_file".into(), p, File)));
        }
        paths.extend(self.audit.log_key.as_mut().map(|p| ("audit.log_key".into(), p, File)));
        paths.extend(
            self.verification
                .trust_anchors
                .iter_mut()
                .map(|p| ("verification.trust_anchors".into(), p, File)),
        );
        paths.extend(
            self.archive
                .keep_documents_dir
                .as_mut()
                .map(|p| ("archive.keep_documents_dir".into(), p, Created)),
        );
        for seed in &mut self.seed_seals {
            paths.push((format!("seed_seals[{}].image", seed.id), &mut seed.image, File));
            paths.push((
                format!("seed_seals[{}].certificate_chain", seed.id),
                &mut seed.certificate_chain,
                File,
            ));
        }
        paths
    }

    /// Takes every relative path setting from `base` (a configuration file's folder).
    fn rebase(&mut self, base: &Path) {
        for (_, path, _) in self.path_settings() {
            if path.is_relative() {
                *path = lexically_joined(base, path);
            }
        }
    }

    /// Checks values that TOML types cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.audit.log_key.is_some() == self.audit.log_key_reference.is_some() {
            return invalid("audit: exactly one of log_key (a plaintext PKCS#8 file) and log_key_reference (an encrypted key file in keys.directory) is required".into());
        }
        if self.audit.checkpoint_interval_ms == 0 {
            return invalid("audit.checkpoint_interval_ms must be positive".into());
        }
        if self.store.max_connections == 0 || self.store.acquire_timeout_ms == 0 {
            return invalid(
                "store.max_connections and store.acquire_timeout_ms must be positive".into(),
            );
        }
        if let Some(url) = &self.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return invalid(
                "store.url must be a PostgreSQL URL (postgres://user:password@host:port/database)"
                    .into(),
            );
        }
        if self.server.max_document_bytes == 0 {
            return invalid("server.max_document_bytes must be positive".into());
        }
        let server = &self.server;
        if server.refusal_burst == 0
            || !(server.refusal_refill_per_second.is_finite()
                && server.refusal_refill_per_second > 0.0)
        {
            return invalid(
                "server.refusal_burst and server.refusal_refill_per_second must be positive".into(),
            );
        }
        if server.refusal_summary_interval_ms == 0 || server.client_crl_check_ms == 0 {
            return invalid("server.refusal_summary_interval_ms and server.client_crl_check_ms must be positive".into());
        }
        let a = &self.authorizations;
        if a.default_validity_seconds <= 0 || a.max_validity_seconds < a.default_validity_seconds {
            return invalid(
                "authorizations: 0 < default_validity_seconds <= max_validity_seconds is required"
                    .into(),
            );
        }
        let k = &self.keys;
        if k.kek_file.is_some() && k.kek_env.is_some()
            || k.previous_kek_file.is_some() && k.previous_kek_env.is_some()
        {
            return invalid(
                "keys: give the KEK as a file or an environment variable, not both".into(),
            );
        }
        if let Some(p) = &k.pkcs11 {
            if p.pin_file.is_some() == p.pin_env.is_some() {
                return invalid(
                    "keys.pkcs11: exactly one of pin_file and pin_env is required".into(),
                );
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

/// Whether a listen address (`IP:PORT` or `HOST:PORT`) is on the loopback interface only.
fn is_loopback(address: &str) -> bool {
    if let Ok(socket) = address.parse::<std::net::SocketAddr>() {
        return socket.ip().is_loopback();
    }
    address.rsplit_once(':').is_some_and(|(host, port)| {
        host.eq_ignore_ascii_case("localhost") && port.parse::<u16>().is_ok()
    })
}

// ---------------------------------------------------------------------------------------------
// Environment overrides and file checks.
// ---------------------------------------------------------------------------------------------

/// The prefix of the environment variables that override configuration keys:
/// `ESEAL__<SECTION>__<KEY>=value`, e.g. `ESEAL__SERVER__LISTEN=0.0.0.0:50051`.
pub const OVERRIDE_PREFIX: &str = "ESEAL__";

/// One `ESEAL__<SECTION>__<KEY>` variable, parsed.
struct Override {
    variable: String,
    section: String,
    key: String,
    /// The value as TOML when it reads as a TOML value, else as a string.
    value: toml::Value,
    /// The value exactly as given, for a second reading as a string.
    raw: String,
}

impl Config {
    /// The configuration of `path` (without one: [`Config::development`] over
    /// `development_root`) with the `ESEAL__<SECTION>__<KEY>` variables among `environment`
    /// applied on top, then checked. Other variables are ignored.
    ///
    /// A value is read as a TOML value (`30000`, `true`, `["a.pem", "b.pem"]`) when it reads as
    /// one that the key accepts, else as a string (`0.0.0.0:50051`, `/var/lib/eseal/eseal.db`).
    /// A variable naming no key of the schema, or a list section (`[[principals]]`,
    /// `[[seed_seals]]`), fails with the variable's name. Relative paths given this way are
    /// taken like the file's: from its folder (without a file, from the working directory).
    pub fn load_with_overrides(
        path: Option<&Path>,
        development_root: &Path,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let development = Self::development(development_root);
        let development_table = Self::table_of(&development)?;
        let mut overrides = Vec::new();
        for (variable, raw) in environment {
            if let Some(parsed) = Override::parse(&variable, &raw)? {
                overrides.push(parsed.checked_against(&development_table)?);
            }
        }
        let Some(path) = path else {
            if overrides.is_empty() {
                return Ok(development);
            }
            let mut table = development_table;
            overrides.iter().try_for_each(|o| o.apply(&mut table))?;
            let config = Self::from_table(table).map_err(ConfigError::Invalid)?;
            config.check()?;
            config.check_development_listen()?;
            return Ok(config);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let parse_error = |message: String| ConfigError::Parse { path: path.into(), message };
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
        overrides.iter().try_for_each(|o| o.apply(&mut table))?;
        let mut config = Self::from_table(table).map_err(|message| {
            // The file's own mistake is reported with its line and column when it has one.
            parse_error(
                toml::from_str::<Config>(&text).err().map(|e| e.to_string()).unwrap_or(message),
            )
        })?;
        config.rebase(path.parent().unwrap_or(Path::new(".")));
        config.check()?;
        Ok(config)
    }

    /// The development setup trusts the public keys-sample CA and client keys: anyone holding a
    /// copy of the repository can call it. Without a configuration file it therefore listens
    /// on a loopback address only (the gRPC port and the metrics endpoint alike).
    fn check_development_listen(&self) -> Result<(), ConfigError> {
        let listeners = std::iter::once(("server.listen", &self.server.listen))
            .chain(self.metrics.as_ref().map(|m| ("metrics.listen", &m.listen)));
        for (key, address) in listeners {
            if !is_loopback(address) {
                return Err(ConfigError::Invalid(format!(
                    "{key} = {address}: without a configuration file, eseal serve runs the development setup, whose keys-sample CA and \
                     client keys are public, so it listens only on a loopback address (127.0.0.1, [::1] or localhost); to serve other \
                     hosts, write a configuration file with your own keys and pass it with --config (see deploy/eseal.toml)"
                )));
            }
        }
        Ok(())
    }

    fn table_of(config: &Config) -> Result<toml::Table, ConfigError> {
        match toml::Value::try_from(config) {
            Ok(toml::Value::Table(table)) => Ok(table),
            Ok(_) => {
                Err(ConfigError::Invalid("the configuration does not serialise as a table".into()))
            }
            Err(e) => {
                Err(ConfigError::Invalid(format!("the configuration does not serialise: {e}")))
            }
        }
    }

    fn from_table(table: toml::Table) -> Result<Config, String> {
        toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.message().to_string())
    }

    /// Checks that every file and folder the configuration names exists (the store's database
    /// and the archive folder excepted: they are created). The message names the key.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        let mut config = self.clone();
        for (key, path, kind) in config.path_settings() {
            let present = match kind {
                PathKind::File => path.is_file(),
                PathKind::Folder => path.is_dir(),
                PathKind::Created => continue,
            };
            if !present {
                let folder = matches!(kind, PathKind::Folder);
                return Err(ConfigError::Missing { key, path: path.clone(), folder });
            }
        }
        // Key references name files of keys.directory (or PKCS#11 token objects).
        let references = self
            .audit
            .log_key_reference
            .iter()
            .map(|r| ("audit.log_key_reference (in keys.directory)".to_string(), r))
            .chain(self.seed_seals.iter().map(|seed| {
                (
                    format!("seed_seals[{}].key_reference (in keys.directory)", seed.id),
                    &seed.key_reference,
                )
            }));
        for (key, reference) in references {
            let path = self.keys.directory.join(reference);
            if !reference.starts_with("pkcs11:") && !path.is_file() {
                return Err(ConfigError::Missing { key, path, folder: false });
            }
        }
        Ok(())
    }
}

impl Override {
    /// `None` for a variable that is not an override.
    fn parse(variable: &str, raw: &str) -> Result<Option<Override>, ConfigError> {
        let Some(name) = variable.strip_prefix(OVERRIDE_PREFIX) else { return Ok(None) };
        let fail = |message: String| ConfigError::Override { variable: variable.into(), message };
        let parts: Vec<&str> = name.split("__").collect();
        let [section, key] = parts.as_slice() else {
            // A nested table ([keys.pkcs11]) is set whole, as an inline table.
            let hint = match parts.as_slice() {
                [section, table, ..] if parts.len() > 2 => format!(
                    "; a nested table is set whole: {OVERRIDE_PREFIX}{section}__{table}='{{ key = \"value\", ... }}'"
                ),
                _ => String::new(),
            };
            return Err(fail(format!(
                "expected {OVERRIDE_PREFIX}<SECTION>__<KEY> (one section, one key, joined by double underscores){hint}"
            )));
        };
        if section.is_empty() || key.is_empty() {
            return Err(fail(format!(
                "expected {OVERRIDE_PREFIX}<SECTION>__<KEY> with a section and a key"
            )));
        }
        // Exactly one `value = ...` line: a value cannot smuggle in other keys.
        let value = match toml::from_str::<toml::Table>(&format!("value = {raw}")) {
            Ok(table) if table.len() == 1 => table.get("value").cloned(),
            _ => None,
        };
        Ok(Some(Override {
            variable: variable.into(),
            section: section.to_ascii_lowercase(),
            key: key.to_ascii_lowercase(),
            value: value.unwrap_or_else(|| toml::Value::String(raw.into())),
            raw: raw.into(),
        }))
    }

    /// Checks the override against the schema by applying it alone to the (valid) development
    /// configuration: an unknown key or a value of the wrong type is named with its variable.
    /// A value that reads as TOML but is meant as a string (an origin `2026`) is taken as one.
    fn checked_against(mut self, development: &toml::Table) -> Result<Override, ConfigError> {
        let attempt = |candidate: &Override| -> Result<(), ConfigError> {
            let mut table = development.clone();
            candidate.apply(&mut table)?;
            Config::from_table(table).map(drop).map_err(|message| ConfigError::Override {
                variable: candidate.variable.clone(),
                message: format!("cannot set {}.{}: {message}", candidate.section, candidate.key),
            })
        };
        match attempt(&self) {
            Ok(()) => Ok(self),
            Err(error) if !self.value.is_str() => {
                let typed =
                    std::mem::replace(&mut self.value, toml::Value::String(self.raw.clone()));
                match attempt(&self) {
                    Ok(()) => Ok(self),
                    Err(_) => {
                        self.value = typed;
                        Err(error)
                    }
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Sets `section.key` in `table`, creating the section when absent.
    fn apply(&self, table: &mut toml::Table) -> Result<(), ConfigError> {
        let section = table
            .entry(self.section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(section) = section else {
            return Err(ConfigError::Override {
                variable: self.variable.clone(),
                message: format!(
                    "[{}] is not a section of single keys (a list such as [[principals]] is set in the file)",
                    self.section
                ),
            });
        };
        section.insert(self.key.clone(), self.value.clone());
        Ok(())
    }
}

#[cfg(test)]
mod override_tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn development(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load_with_overrides(None, Path::new("/repo"), vars(pairs))
    }

    #[test]
    fn overrides_apply_on_the_development_configuration() {
        let config = development(&[
            ("ESEAL__SERVER__LISTEN", "[::1]:50051"),
            ("ESEAL__SERVER__SHUTDOWN_GRACE_MS", "1500"),
            ("ESEAL__METRICS__LISTEN", "127.0.0.1:9464"),
            ("ESEAL__STORE__SQLITE_PATH", "/var/lib/eseal/eseal.db"),
            ("ESEAL__STORE__AUDIT_ORIGIN", "2026"),
            ("ESEAL__LOG__FORMAT", "json"),
            ("ESEAL__VERIFICATION__TRUST_ANCHORS", r#"["/a.pem", "/b.pem"]"#),
            ("ESEAL_LOG", "debug"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap();
        assert_eq!(config.server.listen, "[::1]:50051");
        assert_eq!(config.server.shutdown_grace_ms, 1500);
        assert_eq!(config.metrics.as_ref().map(|m| m.listen.as_str()), Some("127.0.0.1:9464"));
        assert_eq!(config.store.sqlite_path, PathBuf::from("/var/lib/eseal/eseal.db"));
        assert_eq!(config.store.audit_origin, "2026", "a number meant as a string is taken as one");
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(
            config.verification.trust_anchors,
            vec![PathBuf::from("/a.pem"), PathBuf::from("/b.pem")]
        );
        // Untouched keys keep their development values.
        assert_eq!(config.server.tls_certificate, PathBuf::from("/repo/keys-sample/server.pem"));
        assert!(
            development(&[]).unwrap().metrics.is_none(),
            "no metrics endpoint in development unless asked for"
        );
    }

    #[test]
    fn the_development_setup_listens_on_loopback_only() {
        for (variable, address) in [
            ("ESEAL__SERVER__LISTEN", "0.0.0.0:50051"),
            ("ESEAL__SERVER__LISTEN", "[::]:50051"),
            ("ESEAL__SERVER__LISTEN", "192.0.2.7:50051"),
            ("ESEAL__SERVER__LISTEN", "eseal.example:50051"),
            ("ESEAL__METRICS__LISTEN", "0.0.0.0:9464"),
        ] {
            let error = development(&[(variable, address)]).expect_err(address).to_string();
            let key = if variable.contains("METRICS") { "metrics.listen" } else { "server.listen" };
            for words in [key, address, "loopback", "keys-sample", "--config"] {
                assert!(error.contains(words), "{variable}={address}: {error}");
            }
        }
        for address in
            ["127.0.0.1:0", "127.0.0.2:50051", "[::1]:50051", "localhost:50051", "LOCALHOST:1"]
        {
            development(&[("ESEAL__SERVER__LISTEN", address), ("ESEAL__METRICS__LISTEN", address)])
                .expect(address);
        }
        // A configuration file may listen anywhere: its keys are the operator's own.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eseal.toml");
        std::fs::write(&path, toml::to_string(&Config::development(Path::new("/repo"))).unwrap())
            .unwrap();
        let loaded = Config::load_with_overrides(
            Some(&path),
            Path::new("/"),
            vars(&[("ESEAL__SERVER__LISTEN", "0.0.0.0:50051")]),
        )
        .unwrap();
        assert_eq!(loaded.server.listen, "0.0.0.0:50051");
    }

    #[test]
    fn unknown_or_malformed_overrides_fail_with_the_variable() {
        for (variable, value, words) in [
            ("ESEAL__SERVER__LISTN", "x", &["ESEAL__SERVER__LISTN", "unknown field `listn`"][..]),
            ("ESEAL__SERVR__LISTEN", "x", &["ESEAL__SERVR__LISTEN", "unknown field `servr`"]),
            (
                "ESEAL__SERVER__SHUTDOWN_GRACE_MS",
                "soon",
                &["ESEAL__SERVER__SHUTDOWN_GRACE_MS", "server.shutdown_grace_ms"],
            ),
            ("ESEAL__LOG__FORMAT", "xml", &["ESEAL__LOG__FORMAT", "xml"]),
            ("ESEAL__PRINCIPALS__NAME", "x", &["ESEAL__PRINCIPALS__NAME", "[[principals]]"]),
            ("ESEAL__SERVER", "x", &["ESEAL__SERVER", "<SECTION>__<KEY>"]),
            ("ESEAL__SERVER__TLS__KEY", "x", &["ESEAL__SERVER__TLS__KEY", "<SECTION>__<KEY>"]),
            (
                "ESEAL__KEYS__PKCS11__MODULE",
                "x",
                &["ESEAL__KEYS__PKCS11__MODULE", "ESEAL__KEYS__PKCS11='{ key"],
            ),
        ] {
            let error = development(&[(variable, value)]).expect_err(variable).to_string();
            assert!(words.iter().all(|w| error.contains(w)), "{variable}: {error}");
        }
        // The form the hint gives is one that works.
        let token = "{ module = \"/usr/lib/softhsm/libsofthsm2.so\", token_label = \"seals\", pin_env = \"PIN\" }";
        let config =
            development(&[("ESEAL__KEYS__PKCS11", token)]).expect("a nested table set whole");
        assert_eq!(config.keys.pkcs11.map(|p| p.token_label), Some("seals".to_string()));
    }

    #[test]
    fn overrides_apply_on_a_file_and_relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eseal.toml");
        let mut config = Config::development(Path::new("/repo"));
        config.server.listen = "127.0.0.1:1".into();
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let loaded = Config::load_with_overrides(
            Some(&path),
            Path::new("/elsewhere"),
            vars(&[
                ("ESEAL__SERVER__LISTEN", "127.0.0.1:2"),
                ("ESEAL__STORE__SQLITE_PATH", "data/eseal.db"),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.server.listen, "127.0.0.1:2");
        assert_eq!(loaded.store.sqlite_path, dir.path().join("data/eseal.db"));
        assert_eq!(loaded.server.tls_key, PathBuf::from("/repo/keys-sample/server.key"));

        // An unknown key in the file keeps its line number in the message.
        std::fs::write(&path, format!("{}\n[server]\nlisten = \"x\"\nbogus = 1\n", "")).unwrap();
        let error = Config::load_with_overrides(Some(&path), Path::new("/"), vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("bogus") && error.contains(&path.display().to_string()), "{error}");
    }

    /// The development file is read like any other: its paths from keys-sample/, the store
    /// beside it in the working copy, and every file it names exists in the repository.
    #[test]
    fn the_development_file_is_a_configuration_like_any_other() {
        let here = Config::development(Path::new(""));
        assert_eq!(here.server.tls_certificate, PathBuf::from("keys-sample/server.pem"));
        assert_eq!(here.store.sqlite_path, PathBuf::from("eseal-data/eseal.db"));
        assert_eq!(here.keys.directory, PathBuf::from("keys-sample"));
        assert!(here.development && here.seed_seals.len() == 2 && here.principals.len() == 4);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let file = repo.join("keys-sample/development.toml");
        let loaded =
            Config::load_with_overrides(Some(&file), Path::new("/elsewhere"), vars(&[])).unwrap();
        let development = Config::development(&repo);
        assert_eq!(toml::to_string(&loaded).unwrap(), toml::to_string(&development).unwrap());
        development.check_files().unwrap();
    }

    /// Every relative path setting follows the file, the token's module and PIN file included.
    #[test]
    fn every_path_setting_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eseal.toml");
        let mut config = Config::development(Path::new(""));
        config.server.client_crls = vec!["crl.pem".into()];
        config.server.spool_directory = Some("spool".into());
        config.keys.kek_file = Some("kek".into());
        config.keys.previous_kek_file = Some("old-kek".into());
        config.keys.pkcs11 = Some(Pkcs11Config {
            module: "lib/softhsm2.so".into(),
            token_label: "t".into(),
            pin_file: Some("pin".into()),
            pin_env: None,
            sessions: 1,
        });
        config.archive.keep_documents_dir = Some("kept".into());
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let mut loaded =
            Config::load_with_overrides(Some(&path), Path::new("/"), vars(&[])).unwrap();
        let settings = loaded.path_settings();
        assert_eq!(
            settings.len(),
            18,
            "{:?}",
            settings.iter().map(|(k, ..)| k).collect::<Vec<_>>()
        );
        for (key, setting, _) in settings {
            assert!(setting.starts_with(dir.path()), "{key} = {}", setting.display());
        }
        let token = loaded.keys.pkcs11.as_ref().unwrap();
        assert_eq!(token.module, dir.path().join("lib/softhsm2.so"));
    }

    #[test]
    fn missing_files_are_named_with_their_key() {
        let mut config =
            Config::development(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
        config.check_files().expect("keys-sample has every file");
        config.audit.log_key = Some(PathBuf::from("/nowhere/audit-log.pk8"));
        let error = config.check_files().unwrap_err().to_string();
        assert_eq!(error, "audit.log_key: /nowhere/audit-log.pk8 does not exist");
        let mut config =
            Config::development(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
        config.seed_seals[1].key_reference = "gone.pk8".into();
        let error = config.check_files().unwrap_err().to_string();
        assert!(
            error.starts_with("seed_seals[housing-rsa].key_reference")
                && error.contains("gone.pk8"),
            "{error}"
        );
        config.keys.directory = PathBuf::from("/nowhere");
        assert!(
            config
                .check_files()
                .unwrap_err()
                .to_string()
                .contains("keys.directory: /nowhere does not exist (a folder is expected)")
        );
    }
}
