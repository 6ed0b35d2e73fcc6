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
use tonic::transport::server::Connected;

use crate::api::admin::{self, Admin};
use crate::api::audit::Audit;
use crate::api::proto::audit_service_server::AuditServiceServer;
use crate::checkpoints::Checkpointer;
use crate::api::proto::seal_admin_service_server::SealAdminServiceServer;
use crate::api::proto::signing_service_server::SigningServiceServer;
use crate::api::proto::verification_service_server::VerificationServiceServer;
use crate::api::signing::Signing;
use crate::api::verification::Verification;
use crate::api::{PeerInfo, ServiceState, proto};
use crate::auth::Authenticator;
use crate::auth::tls::ClientCertificateRecorder;
use crate::config::Config;
use crate::keys::KeyRing;
use crate::seal::{Seal, SealState};
use crate::store::{SqliteStore, Store};
use crate::verify::TrustAnchors;

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
    std::fs::read(path).map_err(|e| ServerError::File { what, path: path.display().to_string(), message: e.to_string() })
}

fn pem_items(what: &'static str, path: &Path, label: &str) -> Result<Vec<Vec<u8>>, ServerError> {
    let text = read(what, path)?;
    let mut items = Vec::new();
    for item in x509_parser::pem::Pem::iter_from_buffer(&text) {
        let item = item.map_err(|e| ServerError::File { what, path: path.display().to_string(), message: e.to_string() })?;
        if item.label == label {
            items.push(item.contents);
        }
    }
    if items.is_empty() {
        return Err(ServerError::File { what, path: path.display().to_string(), message: format!("no {label} in it") });
    }
    Ok(items)
}

/// A started service: its address, and a handle to wait for or stop it.
pub struct RunningServer {
    /// The address it listens on.
    pub address: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Asks the server to stop and waits for it.
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

/// Opens the store, registers the seed seals, binds the listener and starts serving.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    // tonic and rustls must agree on one provider: ring, chosen explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let client_ca = String::from_utf8_lossy(&read("client CA", &config.server.client_ca)?).into_owned();
    let auth = Authenticator::new(&client_ca, config.principals.clone()).map_err(ServerError::Tls)?;
    let certificates: Vec<CertificateDer<'static>> =
        pem_items("server certificate", &config.server.tls_certificate, "CERTIFICATE")?.into_iter().map(CertificateDer::from).collect();
    let key = pem_items("server key", &config.server.tls_key, "PRIVATE KEY")?.remove(0);
    let verifier = Arc::new(ClientCertificateRecorder::new(Arc::clone(&provider), auth.client_ca()));
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![b"h2".to_vec()];

    let mut roots = Vec::new();
    for path in &config.verification.trust_anchors {
        roots.extend(pem_items("trust anchor", path, "CERTIFICATE")?);
    }
    if let Some(dir) = config.store.sqlite_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ServerError::Store(format!("cannot create {}: {e}", dir.display())))?;
    }
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&config.store.sqlite_path, &config.store.audit_origin).await.map_err(|e| ServerError::Store(e.to_string()))?);
    if config.development {
        crate::keys::warn_development();
    }
    let limits = crate::store::StampingLimits { default: config.keys.max_stampings_per_key, per_seal: config.keys.max_stampings_per_seal.clone() };
    store.set_stamping_limits(limits).map_err(|e| ServerError::Store(e.to_string()))?;
    let keys = Arc::new(KeyRing::from_config(&config.keys, config.development).map_err(|e| ServerError::Keys(e.to_string()))?);
    let log_key = read("audit log key", &config.audit.log_key)?;
    let signer = crate::audit::LogSigner::from_pkcs8(&config.store.audit_origin, &log_key)
        .map_err(|e| ServerError::File { what: "audit log key", path: config.audit.log_key.display().to_string(), message: e.to_string() })?;
    let witness = config.store.sqlite_path.with_extension("checkpoint");
    let checkpoints = Arc::new(Checkpointer::new(Arc::clone(&store), signer, Some(witness)));
    checkpoints.check_witness().await.map_err(|e| ServerError::Store(e.to_string()))?;
    let interval = Duration::from_millis(config.audit.checkpoint_interval_ms);
    let listen = config.server.listen.clone();
    let seeds = config.seed_seals.clone();
    let state = Arc::new(ServiceState::new(store, keys, auth, config, TrustAnchors::from_der(roots), Arc::clone(&checkpoints)));
    seed(&state, &seeds).await?;
    let checkpoint_task = checkpoints.spawn_periodic(interval);

    let listener = TcpListener::bind(&listen).await.map_err(|e| ServerError::Network(format!("cannot listen on {listen}: {e}")))?;
    let address = listener.local_addr().map_err(|e| ServerError::Network(e.to_string()))?;
    let (connections, incoming) = tokio::sync::mpsc::channel::<Result<TlsConnection, std::io::Error>>(64);
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    tokio::spawn(accept_loop(listener, acceptor, connections));

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<SigningServiceServer<Signing>>().await;
    health.set_serving::<SealAdminServiceServer<Admin>>().await;
    health.set_serving::<VerificationServiceServer<Verification>>().await;
    health.set_serving::<AuditServiceServer<Audit>>().await;
    // Issue 7: each active seal reports as `eseal.seal.<id>`, NOT_SERVING when its key
    // cannot be used (logged above each as SEAL UNAVAILABLE); the other seals keep serving.
    for seal in state.seal_readiness().await.map_err(|e| ServerError::Store(e.to_string()))? {
        let status = if seal.unavailable.is_none() { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
        health.set_service_status(crate::api::seal_keys::health_name(&seal.seal_id), status).await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Network(format!("reflection: {e}")))?;

    // Stock tools (health probes, grpcurl) must authenticate too; their refusals are audited.
    let health_service = tonic::service::interceptor::InterceptedService::new(health_service, authenticated(Arc::clone(&state), "grpc.health.v1.Health"));
    let reflection = tonic::service::interceptor::InterceptedService::new(reflection, authenticated(Arc::clone(&state), "grpc.reflection.v1.ServerReflection"));
    let router = tonic::transport::Server::builder()
        // HTTP/2 flow control: the 64 KiB windows of the protocol's defaults make a 100 MB
        // upload wait for window updates thousands of times. These bound what one stream
        // and one connection may have in flight (and in memory) before the service reads it.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        // Large frames: a 1 MiB document chunk crosses in one frame instead of 64.
        .max_frame_size(Some(MAX_FRAME))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(SigningServiceServer::new(Signing::new(Arc::clone(&state))).max_decoding_message_size(MAX_MESSAGE))
        .add_service(SealAdminServiceServer::new(Admin::new(Arc::clone(&state))).max_decoding_message_size(MAX_MESSAGE))
        .add_service(VerificationServiceServer::new(Verification::new(Arc::clone(&state))).max_decoding_message_size(MAX_MESSAGE))
        .add_service(AuditServiceServer::new(Audit::new(Arc::clone(&state))));
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let store_at_shutdown = Arc::clone(&state.store);
    let task = tokio::spawn(async move {
        let result = router
            .serve_with_incoming_shutdown(ReceiverStream::new(incoming), async {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| ServerError::Network(e.to_string()));
        checkpoint_task.abort();
        // Stopped means the database files are no longer held open.
        store_at_shutdown.close().await;
        result
    });
    tracing::info!(%address, "eseal listening (mTLS)");
    Ok(RunningServer { address, shutdown, task })
}

/// An interceptor that admits only callers with a valid client certificate of a known
/// principal (any role), recording refusals in the audit trail.
fn authenticated(state: Arc<ServiceState>, service: &'static str) -> impl tonic::service::Interceptor + Clone {
    move |request: tonic::Request<()>| {
        let certificates = request.extensions().get::<PeerInfo>().and_then(|p| p.certificates.clone());
        match state.auth.authenticate(certificates.as_deref().map(Vec::as_slice), crate::api::now()) {
            Ok(_) => Ok(request),
            Err(e) => {
                let error = crate::api::ApiError::Unauthenticated(e);
                let status = tonic::Status::unauthenticated(error.to_string());
                let state = Arc::clone(&state);
                // Interceptors are synchronous: the audit record is written on the side.
                tokio::spawn(async move {
                    let _ = state.refuse("anonymous", service, error, crate::api::Subject::default()).await;
                });
                Err(status)
            }
        }
    }
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
            certificate_chain: pem_items("seal certificate chain", &s.certificate_chain, "CERTIFICATE")?,
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
            Err(crate::api::ApiError::Store(crate::store::StoreError::AlreadyExists { .. })) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, connections: tokio::sync::mpsc::Sender<Result<TlsConnection, std::io::Error>>) {
    loop {
        let (tcp, address) = match listener.accept().await {
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

/// A TLS connection that tells each call on it who the peer is.
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    address: SocketAddr,
}

impl Connected for TlsConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        let certificates = self.stream.get_ref().1.peer_certificates().map(|c| Arc::new(c.iter().map(|c| c.clone().into_owned()).collect()));
        PeerInfo { address: Some(self.address), certificates }
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
