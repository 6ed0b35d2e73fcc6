//! What a call can fail with, in the domain's words: a policy refusal keeps its type, a
//! missing thing says what and which. The API maps each to a gRPC status (api/status.rs).

use crate::auth::{AuthError, Role};
use crate::keys::KeyError;
use crate::policy::PolicyError;
use crate::seal::LifecycleError;
use crate::service::clip::{MAX_MESSAGE, clip_to, shown};
use crate::stamp::StampError;
use crate::store::StoreError;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The caller is not authenticated.
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// The caller lacks a role.
    #[error("{} does not have the {role} role{}", shown(.principal), .seal.as_ref().map(|s| format!(" for seal {}", shown(s))).unwrap_or_default())]
    PermissionDenied {
        /// The caller.
        principal: String,
        /// The role needed.
        role: &'static str,
        /// The seal, for per-seal roles.
        seal: Option<String>,
    },
    /// The request itself is malformed.
    #[error("{}", clip_to(.0, MAX_MESSAGE))]
    InvalidArgument(String),
    /// The state of things does not allow the request (e.g. nothing checkpointed yet).
    #[error("{}", clip_to(.0, MAX_MESSAGE))]
    FailedPrecondition(String),
    /// Something named does not exist.
    #[error("{what} {} does not exist", shown(.id))]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// One seal, one authorization: the request may not proceed.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A seal life-cycle change that does not apply.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The document cannot be sealed.
    #[error(transparent)]
    Stamp(#[from] StampError),
    /// The document is larger than the configured limit.
    #[error("the document exceeds the limit of {limit} bytes (server.max_document_bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A request id was reused for a different stamping.
    #[error("request_id {} was already used by you for another stamping (seal, authorization or document); choose a new request_id", shown(.0))]
    RequestIdReused(String),
    /// Storage failed, or a concurrent change won. (A policy refusal the store made is a
    /// [`ServiceError::Policy`]: see the conversion from [`StoreError`].)
    #[error(transparent)]
    Store(StoreError),
    /// A seal's key is unavailable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A seal cannot stamp because its key cannot be used (wrong KEK or PIN, missing token).
    #[error("seal {} is unavailable: {source}", shown(.seal))]
    SealUnavailable {
        /// The seal.
        seal: String,
        /// Why its key cannot be used.
        source: KeyError,
    },
    /// The client cancelled the call.
    #[error("the call was cancelled by the client")]
    Cancelled,
    /// Something the caller cannot fix.
    #[error("internal error: {}", clip_to(.0, MAX_MESSAGE))]
    Internal(String),
}

impl ServiceError {
    /// A missing role.
    pub fn denied(principal: &str, role: Role, seal: Option<&str>) -> Self {
        ServiceError::PermissionDenied {
            principal: principal.into(),
            role: role.as_str(),
            seal: seal.map(Into::into),
        }
    }
}

/// A store's error as a call's: a policy refusal the store made when it applied the change is
/// the same refusal as the policy's own check before, with the same code, reason and label.
impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Refused(refusal) => ServiceError::Policy(refusal),
            other => ServiceError::Store(other),
        }
    }
}
