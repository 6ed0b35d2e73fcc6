//! The gRPC services: they translate between protobuf and the domain, check roles, and record
//! every refusal in the audit trail. Errors become statuses in one place ([`status`]).

pub mod admin;
pub mod audit;
pub mod authentication;
pub mod limits;
pub mod proto;
pub mod seal_keys;
pub mod signing;

pub mod status;
pub mod timing;
pub mod verification;

use std::time::Instant;

use tonic::Status;

use crate::auth::refusal_limit::RefusalKey;
use crate::auth::{Principal, Role};
use eseal_audit::{AuditEvent, EventKind};
use eseal_encoding::civil_time::now;

pub use crate::auth::peer::PeerInfo;
use crate::service::clip::{MAX_AUDITED_TEXT, clip_to};
use crate::service::{ServiceError, ServiceState};

/// A client string as a refusal record keeps it: at most [`MAX_AUDITED_TEXT`] bytes.
fn clip(text: String) -> String {
    clip_to(&text, MAX_AUDITED_TEXT)
}

/// What a refusal was about, for its audit record.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    /// The seal.
    pub seal_id: Option<String>,
    /// The authorization.
    pub authorization_id: Option<String>,
    /// The client's request id.
    pub request_id: Option<String>,
    /// The case number.
    pub case_number: Option<String>,
}

impl ServiceState {
    /// Requires `role` (for `seal` when per seal); a refusal is audited.
    pub async fn require(
        &self,
        principal: &Principal,
        role: Role,
        seal: Option<&str>,
        method: &str,
    ) -> Result<(), Status> {
        if principal.has(role, seal) {
            return Ok(());
        }
        let subject = Subject { seal_id: seal.map(Into::into), ..Default::default() };
        Err(self
            .refuse(
                &principal.name,
                method,
                ServiceError::denied(&principal.name, role, seal),
                subject,
            )
            .await)
    }

    /// Records a refused call in the audit trail and returns its status. If the audit trail
    /// itself cannot be written, the caller gets UNAVAILABLE: a refusal is never silent.
    /// Beyond the rate limit of audited refusals, the refusal is answered and counted in a
    /// summary record instead ([`ServiceState::write_refusal_summaries`]).
    pub async fn refuse(
        &self,
        principal: &str,
        method: &str,
        error: ServiceError,
        subject: Subject,
    ) -> Status {
        self.refuse_from(crate::auth::peer::current(), principal, method, error, subject).await
    }

    /// [`ServiceState::refuse`] of a call from `peer`.
    pub async fn refuse_from(
        &self,
        peer: Option<std::net::SocketAddr>,
        principal: &str,
        method: &str,
        error: ServiceError,
        subject: Subject,
    ) -> Status {
        let mut event = AuditEvent::new(EventKind::CallRefused, principal);
        event.peer = peer.map(|p| p.to_string());
        event.method = Some(method.into());
        event.reason = Some(error.audit_reason());
        // Client-chosen strings are clipped: a refusal must not let a caller write megabytes
        // into the audit trail.
        event.seal_id = subject.seal_id.map(clip);
        event.authorization_id = subject.authorization_id.map(clip);
        event.request_id = subject.request_id.map(clip);
        event.case_number = subject.case_number.map(clip);
        tracing::info!(method, principal, peer = ?peer, outcome = "refused", reason = %error, "call refused");
        self.metrics.refusal(error.refusal_reason());
        // A caller that is not authenticated is known by its address only; the others by name.
        let key = match (&error, peer) {
            (ServiceError::Unauthenticated(_), Some(peer)) => RefusalKey::peer(peer.ip()),
            _ => RefusalKey::Principal(principal.to_string()),
        };
        if !self.refusal_limit.admit(
            key,
            method,
            error.refusal_reason(),
            peer.map(|p| p.ip()),
            Instant::now(),
            now(),
        ) {
            self.metrics.refusal_summarized();
            return error.into();
        }
        match self.store.append_audit(event, now()).await {
            Ok(_) => error.into(),
            Err(e) => {
                tracing::error!(method, error = %e, "cannot record a refusal in the audit trail");
                Status::unavailable(format!(
                    "the audit trail cannot be written ({e}); nothing was done"
                ))
            }
        }
    }

    /// Writes one summary record for each principal or peer whose refusals went beyond the
    /// rate limit since the last time. A summary that cannot be written is kept for the next.
    /// Returns how many were written.
    pub async fn write_refusal_summaries(&self) -> usize {
        let mut written = 0;
        for summary in self.refusal_limit.take_summaries() {
            match self.store.append_audit(summary.to_event(), now()).await {
                Ok(_) => written += 1,
                Err(e) => {
                    tracing::error!(error = %e, count = summary.pending.count, "cannot record a summary of refusals in the audit trail; kept for the next attempt");
                    self.refusal_limit.restore(summary, Instant::now());
                }
            }
        }
        written
    }
}
