//! Times every gRPC call for `eseal_request_duration_seconds`: a tower layer around the
//! router, labelling each call by its method when it is one of this node's, so that made-up
//! paths cannot add series.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::codegen::{BoxFuture, Service, http};

use crate::metrics::Metrics;

/// Every method the node serves: (path, label). The proto files are the reference (a test
/// compares).
const METHODS: &[(&str, &str)] = &[
    ("/eseal.v1.SigningService/SignDocument", "SignDocument"),
    ("/eseal.v1.SealAdminService/RegisterSeal", "RegisterSeal"),
    ("/eseal.v1.SealAdminService/GetSeal", "GetSeal"),
    ("/eseal.v1.SealAdminService/ListSeals", "ListSeals"),
    ("/eseal.v1.SealAdminService/SuspendSeal", "SuspendSeal"),
    ("/eseal.v1.SealAdminService/ResumeSeal", "ResumeSeal"),
    ("/eseal.v1.SealAdminService/RevokeSeal", "RevokeSeal"),
    ("/eseal.v1.SealAdminService/GrantAuthorization", "GrantAuthorization"),
    ("/eseal.v1.SealAdminService/RevokeAuthorization", "RevokeAuthorization"),
    ("/eseal.v1.SealAdminService/GetAuthorization", "GetAuthorization"),
    ("/eseal.v1.SealAdminService/ListAuthorizations", "ListAuthorizations"),
    ("/eseal.v1.VerificationService/VerifyDocument", "VerifyDocument"),
    ("/eseal.v1.AuditService/GetCheckpoint", "GetCheckpoint"),
    ("/eseal.v1.AuditService/GetRecords", "GetRecords"),
    ("/eseal.v1.AuditService/GetInclusionProof", "GetInclusionProof"),
    ("/eseal.v1.AuditService/GetConsistencyProof", "GetConsistencyProof"),
    ("/eseal.v1.AuditService/ExportArchive", "ExportArchive"),
    ("/grpc.health.v1.Health/Check", "Health.Check"),
    ("/grpc.health.v1.Health/Watch", "Health.Watch"),
    ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "ServerReflectionInfo"),
];

/// The label of the method at `path`; `None` for a path that names none of this node's.
pub fn method_label(path: &str) -> Option<&'static str> {
    METHODS.iter().find(|(p, _)| *p == path).map(|(_, label)| *label)
}

/// The layer: wraps the router in [`Timed`].
#[derive(Clone)]
pub struct TimingLayer {
    metrics: Arc<Metrics>,
}

impl TimingLayer {
    /// Records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower_layer::Layer<S> for TimingLayer {
    type Service = Timed<S>;

    fn layer(&self, inner: S) -> Timed<S> {
        Timed { inner, metrics: Arc::clone(&self.metrics) }
    }
}

/// A service that records how long each call took until its response started (for a
/// streamed answer, until the first message is ready: a stamping's work is done by then).
#[derive(Clone)]
pub struct Timed<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<http::Request<B>> for Timed<S>
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
        let method = method_label(request.uri().path());
        let started = Instant::now();
        let answer = self.inner.call(request);
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            let response = answer.await;
            if let Some(method) = method {
                metrics.request(method, started.elapsed());
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_of_the_proto_files_is_labelled() {
        let protos = [
            ("SigningService", include_str!("../../../../proto/eseal/v1/signing.proto")),
            ("SealAdminService", include_str!("../../../../proto/eseal/v1/admin.proto")),
            ("VerificationService", include_str!("../../../../proto/eseal/v1/verification.proto")),
            ("AuditService", include_str!("../../../../proto/eseal/v1/audit.proto")),
        ];
        let mut count = 0;
        for (service, text) in protos {
            for line in text.lines().map(str::trim).filter(|l| l.starts_with("rpc ")) {
                let name = line["rpc ".len()..].split('(').next().unwrap_or_default().trim();
                let path = format!("/eseal.v1.{service}/{name}");
                assert_eq!(method_label(&path), Some(name), "{path}");
                count += 1;
            }
        }
        assert_eq!(count + 3, METHODS.len(), "no method that the proto files do not declare");
        assert_eq!(method_label("/eseal.v1.SigningService/Nope"), None);
    }
}
