//! Connecting to the service as a client, over mTLS, with a keys-sample identity by default.

use std::path::{Path, PathBuf};

use clap::Args;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use super::CliError;

/// Where the server is and who we are.
#[derive(Args, Clone, Debug)]
pub struct ClientArgs {
    /// Server address.
    #[arg(long, env = "ESEAL_SERVER", default_value = "https://localhost:50051", global = true)]
    pub server: String,
    /// Client certificate (PEM); default: the keys-sample identity for the command.
    #[arg(long, env = "ESEAL_CERT", global = true)]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM); default: the keys-sample identity for the command.
    #[arg(long, env = "ESEAL_KEY", global = true)]
    pub key: Option<PathBuf>,
    /// CA that issued the server certificate (PEM); default: keys-sample/tls-ca.pem.
    #[arg(long, env = "ESEAL_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// Name the server certificate must carry (default: the host of --server).
    #[arg(long, env = "ESEAL_TLS_NAME", global = true)]
    pub tls_name: Option<String>,
}

/// The keys-sample folder of the working directory (the development setup's keys): the
/// defaults of the client commands are read from there, never from a path built into the
/// binary.
pub fn keys_sample() -> PathBuf {
    PathBuf::from("keys-sample")
}

/// `file` of ./keys-sample, the default of `flag` (set by the environment variable `env`), or
/// why it cannot be used.
pub fn sample_default(file: &str, flag: &str, env: Option<&str>) -> Result<PathBuf, CliError> {
    let path = keys_sample().join(file);
    if path.is_file() {
        return Ok(path);
    }
    let folder = if keys_sample().is_dir() {
        String::new()
    } else {
        " (there is no ./keys-sample folder here)".to_string()
    };
    let env = env.map(|e| format!(" (or the environment variable {e})")).unwrap_or_default();
    Err(CliError::Usage(format!(
        "{flag} not given and its default {} does not exist{folder}: pass {flag}{env}, or run from the source tree",
        path.display()
    )))
}

/// The trust anchors of a verification: every certificate of the PEM files given with
/// `--trust`, or ./keys-sample/root-ca.pem when none is.
pub fn trust_anchors(paths: &[PathBuf]) -> Result<eseal_verify::TrustAnchors, CliError> {
    let defaults;
    let paths = if paths.is_empty() {
        defaults = [sample_default("root-ca.pem", "--trust", None)?];
        &defaults[..]
    } else {
        paths
    };
    let mut pem = String::new();
    for path in paths {
        pem.push_str(&std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!("--trust: cannot read {}: {e}", path.display()))
        })?);
        pem.push('\n');
    }
    eseal_verify::TrustAnchors::from_pem(&pem).map_err(|e| CliError::Usage(format!("--trust: {e}")))
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

impl ClientArgs {
    /// The name to check the server certificate against.
    fn tls_name(&self) -> Result<String, CliError> {
        if let Some(name) = &self.tls_name {
            return Ok(name.clone());
        }
        let uri: tonic::transport::Uri = self
            .server
            .parse()
            .map_err(|e| CliError::Usage(format!("bad server address {}: {e}", self.server)))?;
        uri.host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
            .ok_or_else(|| CliError::Usage(format!("no host in {}", self.server)))
    }

    /// Connects, using `default_identity` (a keys-sample client name such as
    /// `client-department`) when no certificate and key are given.
    pub async fn connect(&self, default_identity: &str) -> Result<Channel, CliError> {
        let default = |given: &Option<PathBuf>, file: String, flag: &str, env: &str| match given {
            Some(path) => Ok(path.clone()),
            None => sample_default(&file, flag, Some(env)),
        };
        let cert = default(&self.cert, format!("{default_identity}.pem"), "--cert", "ESEAL_CERT")?;
        let key = default(&self.key, format!("{default_identity}.key"), "--key", "ESEAL_KEY")?;
        let ca = default(&self.ca, "tls-ca.pem".into(), "--ca", "ESEAL_CA")?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&ca)?))
            .identity(Identity::from_pem(read(&cert)?, read(&key)?))
            .domain_name(self.tls_name()?);
        let endpoint = Channel::from_shared(self.server.clone())
            .map_err(|e| CliError::Usage(format!("bad server address {}: {e}", self.server)))?
            .tls_config(tls)
            .map_err(|e| CliError::Usage(format!("TLS setup: {e}")))?
            // Sealed documents come back as fast as the server sends them (see the server's
            // windows in the service's server.rs).
            .initial_stream_window_size(2 << 20)
            .initial_connection_window_size(8 << 20)
            .tcp_nodelay(true);
        endpoint.connect().await.map_err(|e| CliError::Connect(format!("{}: {e}", self.server)))
    }
}
