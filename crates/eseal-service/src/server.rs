//! Assembles and runs the service: mTLS listener (rustls, ring provider), the gRPC services,
//! standard health checking and server reflection, and the first-start seal registration.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::server::NamedService;
use tonic::transport::server::Connected;
use tonic_health::ServingStatus;

use crate::api::admin::{self, Admin};
use crate::api::audit::Audit;
use crate::api::authentication::AuthenticationLayer;
use crate::api::proto::audit_service_server::AuditServiceServer;
use crate::api::proto::seal_admin_service_server::SealAdminServiceServer;
use crate::api::proto::signing_service_server::SigningServiceServer;
use crate::api::proto::verification_service_server::VerificationServiceServer;
use crate::api::signing::Signing;
use crate::api::timing::TimingLayer;
use crate::api::verification::Verification;
use crate::api::{PeerInfo, proto};
use crate::auth::Authenticator;
use crate::auth::tls::ClientCertificateRecorder;
use crate::checkpoints::Checkpointer;
use crate::config::{Config, ServerConfig, StoreConfig};
use crate::health::Readiness;
use crate::keys::KeyRing;
use crate::metrics::MetricsEndpoint;
use crate::seal::{Seal, SealState};
use crate::service::{CallSettings, ServiceState};
use crate::store::{PgOptions, PgStore, SqliteStore, Store, StoreError};
use eseal_verify::TrustAnchors;

/// HTTP/2 receive window of each stream, in bytes.
const STREAM_WINDOW: u32 = 2 << 20;
/// HTTP/2 receive window of each connection (all its streams together), in bytes.
const CONNECTION_WINDOW: u32 = 8 << 20;

/// Largest HTTP/2 frame this server accepts, in bytes (the protocol's default is 16 KiB).
const MAX_FRAME: u32 = 1 << 20;

/// Largest gRPC message accepted (document chunks are 1 MiB).
const MAX_MESSAGE: usize = 8 * 1024 * 1024;
/// A TLS handshake that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file of the configuration is missing or unreadable.
    #[error("{what} ({path}): {message}")]
    File {
        /// What the file is for.
        what: &'static str,
        /// Its path.
        path: String,
        /// Why.
        message: String,
    },
    /// TLS setup failed.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The store cannot be opened.
    #[error("store: {0}")]
    Store(String),
    /// The listener cannot be bound or served.
    #[error("network: {0}")]
    Network(String),
    /// The configuration cannot be used (a file it names is missing, ...).
    #[error("{0}")]
    Config(String),
    /// A certificate does not belong to the key configured with it.
    #[error("{what}: the certificate {certificate} does not match the key {key}")]
    KeyMismatch {
        /// Whose certificate.
        what: String,
        /// The certificate file.
        certificate: String,
        /// The key file.
        key: String,
    },
    /// The seal key store cannot be set up (KEK or PIN unreadable).
    #[error("seal keys: {0}")]
    Keys(String),
    /// Seeding a seal failed.
    #[error("registering seal {id} at first start: {message}")]
    Seed {
        /// The seal.
        id: String,
        /// Why.
        message: String,
    },
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|e| ServerError::File {
        what,
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn pem_items(what: &'static str, path: &Path, label: &str) -> Result<Vec<Vec<u8>>, ServerError> {
    let text = read(what, path)?;
    let mut items = Vec::new();
    for item in x509_parser::pem::Pem::iter_from_buffer(&text) {
        let item = item.map_err(|e| ServerError::File {
            what,
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if item.label == label {
            items.push(item.contents);
        }
    }
    if items.is_empty() {
        return Err(ServerError::File {
            what,
            path: path.display().to_string(),
            message: format!("no {label} in it"),
        });
    }
    Ok(items)
}

/// A started service: its address, and a handle to wait for or stop it.
pub struct RunningServer {
    /// The address it listens on.
    pub address: SocketAddr,
    /// The address of the Prometheus endpoint (`[metrics] listen`), when there is one.
    pub metrics_address: Option<SocketAddr>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Asks the server to stop and waits for it: the node reports NOT_SERVING, stops taking
    /// connections and calls, lets the calls in progress finish (up to
    /// `server.shutdown_grace_ms`), then closes the store.
    pub async fn stop(self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(());
        self.task.await.map_err(|e| ServerError::Network(e.to_string()))?
    }

    /// Waits until the server stops by itself.
    pub async fn wait(self) -> Result<(), ServerError> {
        let _keep = self.shutdown;
        self.task.await.map_err(|e| ServerError::Network(e.to_string()))?
    }
}

/// Opens the configured store: PostgreSQL when `store.url` is set, else the embedded SQLite
/// file (whose folder is created, as is the folder of the checkpoint witness beside it).
async fn open_store(config: &StoreConfig) -> Result<Arc<dyn Store>, ServerError> {
    if let Some(dir) = config.sqlite_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_folder(dir)?;
    }
    let failed = |e: StoreError| ServerError::Store(e.to_string());
    Ok(match &config.url {
        Some(url) => {
            let options = PgOptions {
                max_connections: config.max_connections,
                acquire_timeout: Duration::from_millis(config.acquire_timeout_ms),
            };
            Arc::new(PgStore::open(url, &config.audit_origin, options).await.map_err(failed)?)
        }
        None => Arc::new(
            SqliteStore::open(&config.sqlite_path, &config.audit_origin).await.map_err(failed)?,
        ),
    })
}

/// Creates the store's folder with mode 0700 (set explicitly: the umask does not matter). A
/// folder that exists is left as it is, with a warning when others may enter it: it may be
/// shared (the working directory, /var/lib), and the files eseal writes in it are 0600.
fn private_folder(dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let failed =
        |e: std::io::Error| ServerError::Store(format!("cannot create {}: {e}", dir.display()));
    if let Ok(metadata) = std::fs::metadata(dir) {
        let mode = metadata.permissions().mode() & 0o777;
        if metadata.is_dir() && mode & 0o077 != 0 {
            tracing::warn!(folder = %dir.display(), mode = format!("{mode:o}"), "the store's folder is open to other users (its files are 0600); chmod 700 it unless it is shared on purpose");
        }
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(failed)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)
}

/// Opens the store, registers the seed seals, binds the listener and starts serving.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    // tonic and rustls must agree on one provider: ring, chosen explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    check_startup(&config)?;

    let client_ca =
        String::from_utf8_lossy(&read("client CA", &config.server.client_ca)?).into_owned();
    let auth = Authenticator::new(&client_ca, config.principals.clone())
        .and_then(|a| a.with_crls(&config.server.client_crls))
        .map_err(ServerError::Tls)?;
    let certificates: Vec<CertificateDer<'static>> =
        pem_items("server certificate", &config.server.tls_certificate, "CERTIFICATE")?
            .into_iter()
            .map(CertificateDer::from)
            .collect();
    let key = pem_items("server key", &config.server.tls_key, "PRIVATE KEY")?.remove(0);
    let verifier =
        Arc::new(ClientCertificateRecorder::new(Arc::clone(&provider), auth.client_ca()));
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .map_err(|e| tls_key_error(e, &config))?;
    tls.alpn_protocols = vec![b"h2".to_vec()];

    let mut roots = Vec::new();
    for path in &config.verification.trust_anchors {
        roots.extend(pem_items("trust anchor", path, "CERTIFICATE")?);
    }
    let store = open_store(&config.store).await?;
    if config.development {
        crate::keys::warn_development();
    }
    let limits = crate::store::StampingLimits {
        default: config.keys.max_stampings_per_key,
        per_seal: config.keys.max_stampings_per_seal.clone(),
    };
    store.set_stamping_limits(limits).map_err(|e| ServerError::Store(e.to_string()))?;
    let keys = Arc::new(
        KeyRing::from_config(&config.keys, config.development)
            .map_err(|e| ServerError::Keys(e.to_string()))?,
    );
    let signer = log_signer(&config, &keys)?;
    tracing::info!(verifier_key = %signer.verifier_key(), "audit log checkpoints are signed by this key");
    let witness = config.store.sqlite_path.with_extension("checkpoint");
    let checkpoints = Arc::new(Checkpointer::new(Arc::clone(&store), signer, Some(witness)));
    checkpoints.check_witness().await.map_err(|e| ServerError::Store(e.to_string()))?;
    let interval = Duration::from_millis(config.audit.checkpoint_interval_ms);
    let listen = config.server.listen.clone();
    let seeds = config.seed_seals.clone();
    let refusal_limit = crate::auth::refusal_limit::RefusalLimiter::new(
        config.server.refusal_burst,
        config.server.refusal_refill_per_second,
    );
    let state = Arc::new(ServiceState::new(
        store,
        keys,
        auth,
        CallSettings::of(&config),
        refusal_limit,
        TrustAnchors::from_der(roots),
        Arc::clone(&checkpoints),
    ));
    seed(&state, &seeds).await?;
    let checkpoint_task = checkpoints.spawn_periodic(interval);
    let crl_task = spawn_crl_reloads(Arc::clone(&state), &config.server);

    let metrics = Arc::clone(&state.metrics);
    let metrics_endpoint = match &config.metrics {
        Some(m) => Some(
            MetricsEndpoint::bind(&m.listen)
                .await
                .map_err(|e| ServerError::Network(e.to_string()))?,
        ),
        None => None,
    };
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| ServerError::Network(format!("cannot listen on {listen}: {e}")))?;
    let address = listener.local_addr().map_err(|e| ServerError::Network(e.to_string()))?;
    let (connections, incoming) =
        tokio::sync::mpsc::channel::<Result<TlsConnection, std::io::Error>>(64);
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    // Turns true when shutdown starts: the accept loop and the readiness probe watch it.
    let (stopping, stopping_seen) = tokio::sync::watch::channel(false);
    tokio::spawn(accept_loop(listener, acceptor, connections, stopping_seen.clone()));

    let (health, health_service) = tonic_health::server::health_reporter();
    let readiness = Readiness::new(health, SERVICES);
    readiness.set(ServingStatus::Serving).await;
    // Each active seal also reports as `eseal.seal.<id>`: NOT_SERVING when its key cannot be
    // used (logged here as SEAL UNAVAILABLE), while the other seals keep serving. The probe
    // keeps these current.
    let mut initial_seals = Vec::new();
    for seal in state.seal_readiness().await.map_err(|e| ServerError::Store(e.to_string()))? {
        let usable = seal.unavailable.is_none();
        readiness
            .set_seal(
                &seal.seal_id,
                if usable { ServingStatus::Serving } else { ServingStatus::NotServing },
            )
            .await;
        initial_seals.push((seal.seal_id, usable));
    }
    let probe_task = readiness.clone().spawn_probe(
        Arc::clone(&state.store),
        Arc::clone(&state.keys),
        Arc::clone(&metrics),
        initial_seals,
        stopping_seen.clone(),
    );
    let metrics_address = metrics_endpoint.as_ref().map(|e| e.address);
    // The endpoint serves until the server has stopped (the drain can be watched): until this
    // sender is dropped.
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(endpoint) = metrics_endpoint {
        tracing::info!(address = %endpoint.address, "metrics at http://{}/metrics", endpoint.address);
        tokio::spawn(endpoint.serve(
            Arc::clone(&metrics),
            eseal_encoding::civil_time::now,
            async move {
                let _ = metrics_stopped.await;
            },
        ));
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Network(format!("reflection: {e}")))?;

    let router = tonic::transport::Server::builder()
        // HTTP/2 flow control: the 64 KiB windows of the protocol's defaults make a 100 MB
        // upload wait for window updates thousands of times. These bound what one stream
        // and one connection may have in flight (and in memory) before the service reads it.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        // Large frames: a 1 MiB document chunk crosses in one frame instead of 64.
        .max_frame_size(Some(MAX_FRAME))
        .layer(TimingLayer::new(Arc::clone(&metrics)))
        // The caller's address, for the refusal records of the call.
        .layer(crate::auth::peer::PeerLayer)
        // Every call, the stock health and reflection services included, is authenticated
        // here once; refusals are audited.
        .layer(AuthenticationLayer::new(Arc::clone(&state)))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            SigningServiceServer::new(Signing::new(Arc::clone(&state)))
                .max_decoding_message_size(MAX_MESSAGE),
        )
        .add_service(
            SealAdminServiceServer::new(Admin::new(Arc::clone(&state)))
                .max_decoding_message_size(MAX_MESSAGE),
        )
        .add_service(
            VerificationServiceServer::new(Verification::new(Arc::clone(&state)))
                .max_decoding_message_size(MAX_MESSAGE),
        )
        .add_service(AuditServiceServer::new(Audit::new(Arc::clone(&state))));
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let store_at_shutdown = Arc::clone(&state.store);
    let (summaries_stop, summaries_stopped) = tokio::sync::watch::channel(false);
    let summaries_task =
        spawn_refusal_summaries(Arc::clone(&state), &config.server, summaries_stopped);
    let state_at_shutdown = Arc::clone(&state);
    let grace = Duration::from_millis(config.server.shutdown_grace_ms);
    let task = tokio::spawn(async move {
        let serving =
            router.serve_with_incoming_shutdown(ReceiverStream::new(incoming), async move {
                let _ = stopped.await;
                begin_shutdown(&readiness, &stopping).await;
            });
        let result = drain(serving, stopping_seen, grace).await;
        checkpoint_task.abort();
        probe_task.abort();
        crl_task.abort();
        // The summary being written is finished, then the refusals counted since are recorded
        // before the store closes.
        let _ = summaries_stop.send(true);
        let _ = summaries_task.await;
        // A checkpoint covers them, as it covers what was written before the shutdown.
        if state_at_shutdown.write_refusal_summaries().await > 0 {
            if let Err(e) =
                state_at_shutdown.checkpoints.sign_if_grown(eseal_encoding::civil_time::now()).await
            {
                tracing::error!(error = %e, "checkpoint of the last refusal summaries not signed");
            }
        }
        // Stopped means the database files are no longer held open.
        store_at_shutdown.close().await;
        drop(metrics_stop);
        tracing::info!("stopped");
        result
    });
    tracing::info!(%address, "eseal listening (mTLS)");
    Ok(RunningServer { address, metrics_address, shutdown, task })
}

/// The audit log's checkpoint signer: the plaintext `audit.log_key` file, or the key of
/// `audit.log_key_reference`, found like seal keys (an encrypted file of the key folder opened
/// with the KEK, or a PKCS#11 token key).
fn log_signer(config: &Config, keys: &KeyRing) -> Result<eseal_audit::LogSigner, ServerError> {
    let origin = &config.store.audit_origin;
    match (&config.audit.log_key, &config.audit.log_key_reference) {
        (_, Some(reference)) => keys.log_signer(reference, origin).map_err(|e| {
            ServerError::Config(format!(
                "audit log key (audit.log_key_reference = {reference}): {e}"
            ))
        }),
        (Some(path), None) => {
            let pkcs8 = zeroize::Zeroizing::new(read("audit log key", path)?);
            if !config.development {
                tracing::warn!(file = %path.display(), "the audit log key is a plaintext file (audit.log_key): encrypt it with `eseal keys encrypt` into keys.directory and name it as audit.log_key_reference");
            }
            eseal_audit::LogSigner::from_pkcs8(origin, &pkcs8).map_err(|e| ServerError::File {
                what: "audit log key",
                path: path.display().to_string(),
                message: e.to_string(),
            })
        }
        (None, None) => Err(ServerError::Config("audit: no log_key nor log_key_reference".into())),
    }
}

/// Writes the summary records of refusals beyond the rate limit every
/// `server.refusal_summary_interval_ms`, whether or not further refusals arrive.
/// Ends when `stop` turns true (never in the middle of a write).
fn spawn_refusal_summaries(
    state: Arc<ServiceState>,
    server: &ServerConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let period = Duration::from_millis(server.refusal_summary_interval_ms);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    state.write_refusal_summaries().await;
                }
                // A change is only ever to true; a dropped sender ends the task too.
                _ = stop.changed() => return,
            }
        }
    })
}

/// Keeps the client CRLs current: the files are checked every `server.client_crl_check_ms` and
/// read again when they changed, and all of them are read again on SIGHUP. (With no CRL
/// configured, SIGHUP is logged and ignored rather than ending the process.)
fn spawn_crl_reloads(
    state: Arc<ServiceState>,
    server: &ServerConfig,
) -> tokio::task::JoinHandle<()> {
    let period = Duration::from_millis(server.client_crl_check_ms);
    let polling = !server.client_crls.is_empty();
    let crl_files = server.client_crls.len();
    let metrics = Arc::clone(&state.metrics);
    let mut expired_before = report_crls(
        &state.auth.reload_crls(false, eseal_encoding::civil_time::now()),
        &metrics,
        usize::MAX,
    );
    // Listening for SIGHUP starts here, before the server answers, not when the task first
    // runs: a SIGHUP in between would end the process (its default action).
    #[cfg(unix)]
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: client CRLs are reloaded only when their files change");
            None
        }
    };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hangups.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            let forced = tokio::select! {
                _ = ticks.tick(), if polling => false,
                _ = hangup => true,
            };
            if forced {
                tracing::info!(files = crl_files, "SIGHUP: reading the client CRLs again");
            }
            // Reading files and verifying signatures: off the runtime's worker threads.
            let reloading = Arc::clone(&state);
            let report = match tokio::task::spawn_blocking(move || {
                reloading.auth.reload_crls(forced, eseal_encoding::civil_time::now())
            })
            .await
            {
                Ok(report) => report,
                Err(e) => {
                    tracing::error!(error = %e, "the client CRL check failed; the lists read before stay in use");
                    continue;
                }
            };
            expired_before =
                report_crls(&report, &metrics, if forced { usize::MAX } else { expired_before });
        }
    })
}

/// Logs what a check of the client CRLs found and updates the metrics; returns how many are
/// past their nextUpdate. Those are logged when their number changes from `expired_before`.
fn report_crls(
    report: &crate::auth::CrlReport,
    metrics: &crate::metrics::Metrics,
    expired_before: usize,
) -> usize {
    for (path, revoked) in &report.reloaded {
        tracing::info!(file = %path.display(), revoked, "client CRL loaded");
    }
    for (path, error) in &report.failed {
        tracing::error!(file = %path.display(), error = %error, "client CRL NOT RELOADED: the list read before stays in use");
        metrics.crl_reload_failure();
    }
    if report.expired.len() != expired_before {
        for (path, next_update) in &report.expired {
            tracing::error!(file = %path.display(), next_update, "client CRL PAST ITS nextUpdate: still used; publish a fresh one");
        }
    }
    metrics.set_crls_expired(report.expired.len() as u64);
    report.expired.len()
}

/// Registers the configured seed seals that the store does not hold yet.
async fn seed(state: &ServiceState, seeds: &[crate::config::SeedSeal]) -> Result<(), ServerError> {
    for s in seeds {
        let fail = |message: String| ServerError::Seed { id: s.id.clone(), message };
        if state.store.seal(&s.id).await.map_err(|e| fail(e.to_string()))?.is_some() {
            continue;
        }
        // A seed whose key cannot be used (wrong KEK or PIN) is left out, loudly; the others
        // are registered and serve.
        if let Err(e) = state.keys.signer(&s.key_reference) {
            tracing::error!(seal = %s.id, error = %e, "SEAL UNAVAILABLE: not registered at first start, its key cannot be used");
            continue;
        }
        let seal = Seal {
            id: s.id.clone(),
            name: s.name.clone(),
            organization: s.organization.clone(),
            kind: s.kind.clone(),
            image_png: read("seal image", &s.image)?,
            certificate_chain: pem_items(
                "seal certificate chain",
                &s.certificate_chain,
                "CERTIFICATE",
            )?,
            key_reference: s.key_reference.clone(),
            custodians: s.custodians.clone(),
            valid_from: 0,
            valid_until: 0,
            state: SealState::Active,
            registered_at: 0,
        };
        match admin::register(state, "eseal-bootstrap", seal).await {
            Ok(_) => tracing::info!(seal = %s.id, "seal registered at first start"),
            // Nodes sharing one database start together: another one registered it first.
            Err(crate::service::ServiceError::Store(StoreError::AlreadyExists { .. })) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Ok(())
}

/// Accepts TCP connections and hands them over after the TLS handshake, until `stopping`
/// turns true: then the listener is closed, and new connections are refused.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    connections: tokio::sync::mpsc::Sender<Result<TlsConnection, std::io::Error>>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|s| *s) => return,
        };
        let (tcp, address) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // HTTP/2 sends small control frames (window updates, pings) that Nagle's algorithm
        // would hold back waiting for the peer's delayed acknowledgement.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(%address, error = %e, "cannot disable Nagle's algorithm");
        }
        let acceptor = acceptor.clone();
        let sender = connections.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = sender.send(Ok(TlsConnection { stream, address })).await;
                }
                Ok(Err(e)) => tracing::info!(%address, error = %e, "TLS handshake failed"),
                Err(_) => tracing::info!(%address, "TLS handshake timed out"),
            }
        });
        if connections.is_closed() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Startup checks, and shutdown with drain.
// ---------------------------------------------------------------------------------------------

/// The gRPC services whose health the node reports (besides the node itself, "").
const SERVICES: &[&str] = &[
    <SigningServiceServer<Signing> as NamedService>::NAME,
    <SealAdminServiceServer<Admin> as NamedService>::NAME,
    <VerificationServiceServer<Verification> as NamedService>::NAME,
    <AuditServiceServer<Audit> as NamedService>::NAME,
];

/// What is checked before anything is opened: the values (a configuration built in code has
/// not been through [`Config::check`]), every file the configuration names exists, and
/// each seed seal's certificate matches its key (the server's certificate is checked as TLS is
/// set up, see [`tls_key_error`]).
fn check_startup(config: &Config) -> Result<(), ServerError> {
    config.check().map_err(|e| ServerError::Config(e.to_string()))?;
    config.check_files().map_err(|e| ServerError::Config(e.to_string()))?;
    for seed in &config.seed_seals {
        // Plaintext key files only: an encrypted file or a token key is compared with its
        // certificate through the key ring when the seal is registered (admin::register).
        let Ok(crate::keys::KeyLocation::File(file)) =
            crate::keys::KeyLocation::parse(&seed.key_reference)
        else {
            continue;
        };
        let key_path = config.keys.directory.join(file);
        let key = read("seal key", &key_path)?;
        if crate::keys::envelope::is_encrypted(&key) {
            continue;
        }
        let chain = pem_items("seal certificate chain", &seed.certificate_chain, "CERTIFICATE")?;
        let mismatch = || ServerError::KeyMismatch {
            what: format!("seed seal {}", seed.id),
            certificate: seed.certificate_chain.display().to_string(),
            key: key_path.display().to_string(),
        };
        let signing_key = rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
            PrivatePkcs8KeyDer::from(key),
        ))
        .map_err(|e| ServerError::File {
            what: "seal key",
            path: key_path.display().to_string(),
            message: e.to_string(),
        })?;
        let end_entity = chain.into_iter().next().map(CertificateDer::from).into_iter().collect();
        match rustls::sign::CertifiedKey::new(end_entity, signing_key).keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(_) => return Err(mismatch()),
        }
    }
    Ok(())
}

/// The server's TLS setup failure in the configuration's words: a certificate that is not the
/// key's is named with both paths.
fn tls_key_error(error: rustls::Error, config: &Config) -> ServerError {
    match error {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            ServerError::KeyMismatch {
                what: "the server's TLS certificate".into(),
                certificate: config.server.tls_certificate.display().to_string(),
                key: config.server.tls_key.display().to_string(),
            }
        }
        e => ServerError::Tls(e.to_string()),
    }
}

/// The first steps of shutdown: NOT_SERVING for every service, so that health checkers and
/// load balancers send nothing new; then the listener closes.
async fn begin_shutdown(readiness: &Readiness, stopping: &tokio::sync::watch::Sender<bool>) {
    tracing::info!(
        "shutting down: NOT_SERVING, no new connections, draining the calls in progress"
    );
    readiness.shut_down().await;
    let _ = stopping.send(true);
}

/// Runs `serving` (which, once its shutdown signal fired, waits for every connection to finish
/// its calls) until it ends, or until `grace` after shutdown began: the calls still running
/// then are cut off with the store.
async fn drain(
    serving: impl std::future::Future<Output = Result<(), tonic::transport::Error>>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) -> Result<(), ServerError> {
    let deadline = async {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = serving => result.map_err(|e| ServerError::Network(e.to_string())),
        () = deadline => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "calls still in progress after server.shutdown_grace_ms: closing the store under them");
            Ok(())
        }
    }
}

/// A TLS connection that tells each call on it who the peer is.
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    address: SocketAddr,
}

impl Connected for TlsConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        let certificates = self
            .stream
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| Arc::new(c.iter().map(|c| c.clone().into_owned()).collect()));
        PeerInfo { address: Some(self.address), certificates }
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
