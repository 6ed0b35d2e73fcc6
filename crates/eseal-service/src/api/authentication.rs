//! Authentication of every call, once: a tower layer around the router turns the client
//! certificate the TLS layer saw ([`PeerInfo`]) into the caller's [`Principal`], which it puts
//! in the request's extensions for the handlers ([`principal`]). A call without a valid
//! certificate of a known principal is answered UNAUTHENTICATED and recorded in the audit
//! trail before any service sees it: the stock health and reflection services included.

use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::{BoxFuture, Service, http};
use tonic::{Request, Status};

use super::timing::method_label;
use super::{PeerInfo, Subject};
use crate::auth::Principal;
use crate::service::{ServiceError, ServiceState};
use eseal_encoding::civil_time::now;

/// The caller of `request`, as the authentication layer found it.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::internal("the call reached its service without authentication"))
}

/// The layer: wraps the router in [`Authenticated`].
#[derive(Clone)]
pub struct AuthenticationLayer {
    state: Arc<ServiceState>,
}

impl AuthenticationLayer {
    /// Authenticates with the state's authenticator; records refusals in its store.
    pub fn new(state: Arc<ServiceState>) -> Self {
        Self { state }
    }
}

impl<S> tower_layer::Layer<S> for AuthenticationLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Authenticated<S> {
        Authenticated { inner, state: Arc::clone(&self.state) }
    }
}

/// A service that admits only authenticated callers, each with its [`Principal`].
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    state: Arc<ServiceState>,
}

impl<S, B, R> Service<http::Request<B>> for Authenticated<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let peer = request.extensions().get::<PeerInfo>();
        let certificates = peer.and_then(|p| p.certificates.as_deref()).map(Vec::as_slice);
        match self.state.auth.authenticate(certificates, now()) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Box::pin(self.inner.call(request))
            }
            Err(e) => {
                let address = peer.and_then(|p| p.address);
                let method = method_label(request.uri().path()).unwrap_or("(unknown method)");
                let state = Arc::clone(&self.state);
                Box::pin(async move {
                    let error = ServiceError::Unauthenticated(e);
                    let status = state
                        .refuse_from(address, "anonymous", method, error, Subject::default())
                        .await;
                    Ok(status.into_http())
                })
            }
        }
    }
}
