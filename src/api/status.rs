//! The one place where domain errors become gRPC statuses, with a message a person can act on.

use tonic::{Code, Status};

use crate::auth::{AuthError, Role};
use crate::keys::KeyError;
use crate::pdf::PdfError;
use crate::policy::PolicyError;
use crate::seal::LifecycleError;
use crate::stamp::StampError;
use crate::store::StoreError;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The caller is not authenticated.
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// The caller lacks a role.
    #[error("{principal} does not have the {role} role{}", .seal.as_ref().map(|s| format!(" for seal {s}")).unwrap_or_default())]
    PermissionDenied {
        /// The caller.
        principal: String,
        /// The role needed.
        role: &'static str,
        /// The seal, for per-seal roles.
        seal: Option<String>,
    },
    /// The request itself is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The state of things does not allow the request (e.g. nothing checkpointed yet).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Something named does not exist.
    #[error("{what} {id} does not exist")]
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
    #[error("request_id {0} was already used for another document or caller; choose a new request_id")]
    RequestIdReused(String),
    /// Storage failed, or a concurrent change won.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A seal's key is unavailable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A seal cannot stamp because its key cannot be used (wrong KEK or PIN, missing token).
    #[error("seal {seal} is unavailable: {source}")]
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
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A missing role.
    pub fn denied(principal: &str, role: Role, seal: Option<&str>) -> Self {
        ApiError::PermissionDenied { principal: principal.into(), role: role.as_str(), seal: seal.map(Into::into) }
    }

    /// The gRPC code for this error.
    pub fn code(&self) -> Code {
        match self {
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::PermissionDenied { .. } => Code::PermissionDenied,
            ApiError::InvalidArgument(_) => Code::InvalidArgument,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::Policy(PolicyError::NotCustodian { .. }) => Code::PermissionDenied,
            ApiError::Policy(PolicyError::BadExpiry { .. } | PolicyError::MissingCaseNumber) => Code::InvalidArgument,
            ApiError::Policy(_) | ApiError::Lifecycle(_) => Code::FailedPrecondition,
            ApiError::Stamp(StampError::Pdf(e)) => pdf_code(e),
            ApiError::Stamp(StampError::Cms(_)) | ApiError::Key(_) | ApiError::Internal(_) => Code::Internal,
            ApiError::SealUnavailable { .. } => Code::Unavailable,
            ApiError::TooLarge { .. } => Code::ResourceExhausted,
            ApiError::Cancelled => Code::Cancelled,
            ApiError::RequestIdReused(_) => Code::AlreadyExists,
            ApiError::Store(StoreError::NotFound { .. }) => Code::NotFound,
            ApiError::Store(StoreError::AlreadyExists { .. }) => Code::AlreadyExists,
            ApiError::Store(StoreError::Conflict(_)) => Code::FailedPrecondition,
            ApiError::Store(StoreError::Database(_)) => Code::Unavailable,
        }
    }

    /// A short reason for the audit trail.
    pub fn audit_reason(&self) -> String {
        format!("{:?}: {self}", self.code())
    }
}

/// Bad bytes are the caller's argument; a document that cannot take this seal is a
/// precondition.
fn pdf_code(e: &PdfError) -> Code {
    match e {
        PdfError::Io(_) => Code::Internal,
        e if e.is_bad_document() => Code::InvalidArgument,
        PdfError::PageOutOfRange { .. } | PdfError::Placement(_) | PdfError::Image(_) => Code::InvalidArgument,
        _ => Code::FailedPrecondition,
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}
