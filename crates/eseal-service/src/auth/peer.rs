//! The network address of the caller of the call being served, for refusal records: a tower
//! layer sets it for the whole of each call, and [`current`] reads it from anywhere inside.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::{BoxFuture, Service, http};

use rustls_pki_types::CertificateDer;

/// What the TLS layer knows of a connection: made available to every call on it.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The client's address.
    pub address: Option<std::net::SocketAddr>,
    /// The certificate chain the client presented (end entity first), if any.
    pub certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
}

tokio::task_local! {
    static PEER: Option<SocketAddr>;
}

/// The address of the caller whose call is being served; `None` outside a call (or for a
/// connection whose address is unknown).
pub fn current() -> Option<SocketAddr> {
    PEER.try_with(|peer| *peer).ok().flatten()
}

/// The layer: wraps the router in [`WithPeer`].
#[derive(Clone, Copy, Default)]
pub struct PeerLayer;

impl<S> tower_layer::Layer<S> for PeerLayer {
    type Service = WithPeer<S>;

    fn layer(&self, inner: S) -> WithPeer<S> {
        WithPeer { inner }
    }
}

/// A service that serves each call with its connection's peer address set for [`current`].
#[derive(Clone)]
pub struct WithPeer<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for WithPeer<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let peer = request.extensions().get::<PeerInfo>().and_then(|p| p.address);
        let answer = PEER.sync_scope(peer, || self.inner.call(request));
        Box::pin(PEER.scope(peer, answer))
    }
}
