//! The one place where domain errors become gRPC statuses, with a message a person can act on.

use tonic::{Code, Status};

use super::limits::{MAX_MESSAGE, clip_to, shown};
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
    /// Storage failed, or a concurrent change won.
    #[error(transparent)]
    Store(#[from] StoreError),
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
            ApiError::Store(StoreError::Conflict(_) | StoreError::KeyInUse { .. }) => Code::FailedPrecondition,
            ApiError::Store(StoreError::Database(_) | StoreError::Unavailable(_)) => Code::Unavailable,
        }
    }

    /// The refusal's reason as a metrics label: one word of a small fixed set (never text a
    /// client chose), finer than the code where operators act differently (an authorization
    /// used already, a suspended seal).
    pub fn refusal_reason(&self) -> &'static str {
        match self {
            ApiError::Policy(e) => match e {
                PolicyError::NotCustodian { .. } => "not_custodian",
                PolicyError::SelfAuthorization { .. } => "self_authorization",
                PolicyError::BadExpiry { .. } | PolicyError::MissingCaseNumber => "invalid_argument",
                PolicyError::Expired { .. } => "authorization_expired",
                PolicyError::Revoked { .. } => "authorization_revoked",
                PolicyError::AlreadyUsed { .. } => "authorization_used",
                PolicyError::OtherSeal { .. } => "other_seal",
                PolicyError::OtherGrantee { .. } => "other_grantee",
                PolicyError::OtherCase { .. } => "other_case",
                PolicyError::DocumentMismatch { .. } => "other_document",
                PolicyError::SealSuspended { .. } => "seal_suspended",
                PolicyError::SealRevoked { .. } => "seal_revoked",
                PolicyError::SealOutsideValidity { .. } => "seal_outside_validity",
                PolicyError::SealCertificateExpired { .. } => "seal_certificate_expired",
            },
            ApiError::Lifecycle(_) => "seal_lifecycle",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::RequestIdReused(_) => "request_id_reused",
            ApiError::Store(StoreError::Conflict(_)) => "conflict",
            ApiError::Store(StoreError::KeyInUse { .. }) => "key_in_use",
            _ => code_reason(self.code()),
        }
    }

    /// A short reason for the audit trail: at most [`MAX_MESSAGE`] bytes, whatever the
    /// error quotes.
    pub fn audit_reason(&self) -> String {
        clip_to(&format!("{:?}: {self}", self.code()), MAX_MESSAGE)
    }

    /// The message the caller reads: at most [`MAX_MESSAGE`] bytes (grpc-message travels in
    /// a header, which clients cap).
    pub fn message(&self) -> String {
        clip_to(&self.to_string(), MAX_MESSAGE)
    }
}

/// A gRPC code as a refusal reason.
fn code_reason(code: Code) -> &'static str {
    match code {
        Code::Unauthenticated => "unauthenticated",
        Code::PermissionDenied => "permission_denied",
        Code::InvalidArgument => "invalid_argument",
        Code::FailedPrecondition => "failed_precondition",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::ResourceExhausted => "resource_exhausted",
        Code::Cancelled => "cancelled",
        Code::Unavailable => "unavailable",
        Code::Internal => "internal",
        _ => "other",
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
        Status::new(e.code(), e.message())
    }
}
