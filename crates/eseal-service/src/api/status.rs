//! The one place where domain errors become gRPC statuses, with a message a person can act on.

use tonic::{Code, Status};

use crate::policy::PolicyError;
use crate::service::ServiceError;
use crate::service::clip::{MAX_MESSAGE, clip_to};
use crate::stamp::StampError;
use crate::store::StoreError;
use eseal_pdf::PdfError;

impl ServiceError {
    /// The gRPC code for this error.
    pub fn code(&self) -> Code {
        match self {
            ServiceError::Unauthenticated(_) => Code::Unauthenticated,
            ServiceError::PermissionDenied { .. } => Code::PermissionDenied,
            ServiceError::InvalidArgument(_) => Code::InvalidArgument,
            ServiceError::NotFound { .. } => Code::NotFound,
            ServiceError::FailedPrecondition(_) => Code::FailedPrecondition,
            ServiceError::Policy(PolicyError::NotCustodian { .. }) => Code::PermissionDenied,
            ServiceError::Policy(
                PolicyError::BadExpiry { .. } | PolicyError::MissingCaseNumber,
            ) => Code::InvalidArgument,
            ServiceError::Policy(_) | ServiceError::Lifecycle(_) => Code::FailedPrecondition,
            ServiceError::Stamp(StampError::Pdf(e)) => pdf_code(e),
            ServiceError::Stamp(StampError::Cms(_))
            | ServiceError::Key(_)
            | ServiceError::Internal(_) => Code::Internal,
            ServiceError::SealUnavailable { .. } => Code::Unavailable,
            ServiceError::TooLarge { .. } => Code::ResourceExhausted,
            ServiceError::Cancelled => Code::Cancelled,
            ServiceError::RequestIdReused(_) => Code::AlreadyExists,
            ServiceError::Store(StoreError::NotFound { .. }) => Code::NotFound,
            ServiceError::Store(StoreError::AlreadyExists { .. }) => Code::AlreadyExists,
            ServiceError::Store(
                StoreError::Conflict(_)
                | StoreError::KeyInUse { .. }
                | StoreError::Refused(_)
                | StoreError::LimitReached { .. },
            ) => Code::FailedPrecondition,
            ServiceError::Store(StoreError::Database(_) | StoreError::Unavailable(_)) => {
                Code::Unavailable
            }
        }
    }

    /// The refusal's reason as a metrics label: one word of a small fixed set (never text a
    /// client chose), finer than the code where operators act differently (an authorization
    /// used already, a suspended seal).
    pub fn refusal_reason(&self) -> &'static str {
        match self {
            ServiceError::Policy(e) | ServiceError::Store(StoreError::Refused(e)) => {
                policy_reason(e)
            }
            ServiceError::Lifecycle(_) => "seal_lifecycle",
            ServiceError::TooLarge { .. } => "too_large",
            ServiceError::RequestIdReused(_) => "request_id_reused",
            ServiceError::Store(StoreError::Conflict(_)) => "conflict",
            ServiceError::Store(StoreError::LimitReached { .. }) => "stamping_limit",
            ServiceError::Store(StoreError::KeyInUse { .. }) => "key_in_use",
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

/// A policy refusal as a metrics label.
fn policy_reason(e: &PolicyError) -> &'static str {
    match e {
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
    }
}

/// A gRPC code as its name in the protocol (`FAILED_PRECONDITION`), for messages and reports.
pub fn code_name(code: tonic::Code) -> String {
    format!("{code:?}").chars().fold(String::new(), |mut s, c| {
        if c.is_uppercase() && !s.is_empty() {
            s.push('_');
        }
        s.push(c.to_ascii_uppercase());
        s
    })
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
        PdfError::Cancelled => Code::Cancelled,
        e if e.is_bad_document() => Code::InvalidArgument,
        PdfError::PageOutOfRange { .. } | PdfError::Placement(_) | PdfError::Image(_) => {
            Code::InvalidArgument
        }
        _ => Code::FailedPrecondition,
    }
}

impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Status {
        Status::new(e.code(), e.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthError, Role};
    use crate::keys::KeyError;
    use crate::seal::LifecycleError;

    /// Every variant (and every inner variant that maps differently): its gRPC code, its
    /// metrics label and its audit reason, written out.
    #[test]
    fn every_error_has_its_code_label_and_reason() {
        let p = |e: PolicyError| ServiceError::Policy(e);
        let s = |id: &str| id.to_string();
        let pdf = |e: PdfError| ServiceError::Stamp(StampError::Pdf(e));
        let cases: Vec<(ServiceError, Code, &str, &str)> = vec![
            (
                ServiceError::Unauthenticated(AuthError::NoCertificate),
                Code::Unauthenticated,
                "unauthenticated",
                "Unauthenticated: no client certificate: connect with a certificate issued by the service's client CA",
            ),
            (
                ServiceError::Unauthenticated(AuthError::Rejected(s("expired"))),
                Code::Unauthenticated,
                "unauthenticated",
                "Unauthenticated: the client certificate is not accepted: expired",
            ),
            (
                ServiceError::Unauthenticated(AuthError::UnknownPrincipal(s("CN=x"))),
                Code::Unauthenticated,
                "unauthenticated",
                "Unauthenticated: the client certificate (CN=x) names no principal of this service",
            ),
            (
                ServiceError::denied("li", Role::Custodian, Some("approval-ec")),
                Code::PermissionDenied,
                "permission_denied",
                "PermissionDenied: li does not have the custodian role for seal approval-ec",
            ),
            (
                ServiceError::denied("li", Role::Archivist, None),
                Code::PermissionDenied,
                "permission_denied",
                "PermissionDenied: li does not have the archivist role",
            ),
            (
                ServiceError::InvalidArgument(s("bad")),
                Code::InvalidArgument,
                "invalid_argument",
                "InvalidArgument: bad",
            ),
            (
                ServiceError::FailedPrecondition(s("not yet")),
                Code::FailedPrecondition,
                "failed_precondition",
                "FailedPrecondition: not yet",
            ),
            (
                ServiceError::NotFound { what: "seal", id: s("s9") },
                Code::NotFound,
                "not_found",
                "NotFound: seal s9 does not exist",
            ),
            (
                p(PolicyError::NotCustodian { principal: s("li"), seal: s("s1") }),
                Code::PermissionDenied,
                "not_custodian",
                "PermissionDenied: li is not a custodian of seal s1",
            ),
            (
                p(PolicyError::SelfAuthorization { principal: s("chen") }),
                Code::FailedPrecondition,
                "self_authorization",
                "FailedPrecondition: chen may not authorize a stamping it requests itself",
            ),
            (
                p(PolicyError::BadExpiry { max_seconds: 60 }),
                Code::InvalidArgument,
                "invalid_argument",
                "InvalidArgument: the expiry must be between now and 60 seconds from now",
            ),
            (
                p(PolicyError::MissingCaseNumber),
                Code::InvalidArgument,
                "invalid_argument",
                "InvalidArgument: an authorization needs a case number",
            ),
            (
                p(PolicyError::Expired { id: s("a1"), expired_at: 5 }),
                Code::FailedPrecondition,
                "authorization_expired",
                "FailedPrecondition: authorization a1 expired at 5 (Unix time)",
            ),
            (
                p(PolicyError::Revoked { id: s("a1"), by: s("wang") }),
                Code::FailedPrecondition,
                "authorization_revoked",
                "FailedPrecondition: authorization a1 was revoked by wang",
            ),
            (
                p(PolicyError::AlreadyUsed { id: s("a1"), request_id: s("r1") }),
                Code::FailedPrecondition,
                "authorization_used",
                "FailedPrecondition: authorization a1 was already used (request r1)",
            ),
            (
                p(PolicyError::OtherSeal { id: s("a1"), authorized: s("s1"), requested: s("s2") }),
                Code::FailedPrecondition,
                "other_seal",
                "FailedPrecondition: authorization a1 is for seal s1, not s2",
            ),
            (
                p(PolicyError::OtherGrantee { id: s("a1"), grantee: s("d1"), principal: s("d2") }),
                Code::FailedPrecondition,
                "other_grantee",
                "FailedPrecondition: authorization a1 was granted to d1, not d2",
            ),
            (
                p(PolicyError::OtherCase { id: s("a1"), authorized: s("c1"), requested: s("c2") }),
                Code::FailedPrecondition,
                "other_case",
                "FailedPrecondition: authorization a1 is for case c1, not c2",
            ),
            (
                p(PolicyError::DocumentMismatch {
                    id: s("a1"),
                    authorized: s("aa"),
                    actual: s("bb"),
                }),
                Code::FailedPrecondition,
                "other_document",
                "FailedPrecondition: authorization a1 is for another document (SHA-256 aa); this one is bb",
            ),
            (
                p(PolicyError::SealSuspended { seal: s("s1") }),
                Code::FailedPrecondition,
                "seal_suspended",
                "FailedPrecondition: seal s1 is suspended",
            ),
            (
                p(PolicyError::SealRevoked { seal: s("s1") }),
                Code::FailedPrecondition,
                "seal_revoked",
                "FailedPrecondition: seal s1 is revoked",
            ),
            (
                p(PolicyError::SealOutsideValidity { seal: s("s1"), from: 1, until: 2 }),
                Code::FailedPrecondition,
                "seal_outside_validity",
                "FailedPrecondition: seal s1 is valid from 1 to 2 (Unix time), not now",
            ),
            (
                p(PolicyError::SealCertificateExpired {
                    seal: s("s1"),
                    not_before: 1,
                    not_after: 2,
                }),
                Code::FailedPrecondition,
                "seal_certificate_expired",
                "FailedPrecondition: the certificate of seal s1 is valid from 1 to 2 (Unix time), not now",
            ),
            (
                ServiceError::Lifecycle(LifecycleError::NotAllowed {
                    seal: s("s1"),
                    from: "revoked",
                    action: "resumed",
                }),
                Code::FailedPrecondition,
                "seal_lifecycle",
                "FailedPrecondition: seal s1 is revoked; it cannot be resumed",
            ),
            (
                pdf(PdfError::NotPdf(s("starts with abc"))),
                Code::InvalidArgument,
                "invalid_argument",
                "InvalidArgument: not a PDF file: starts with abc",
            ),
            (
                pdf(PdfError::NeedsPassword),
                Code::InvalidArgument,
                "invalid_argument",
                "InvalidArgument: the PDF file is protected by a password; remove the password before sealing it",
            ),
            (
                pdf(PdfError::PageOutOfRange { requested: 3, count: 1 }),
                Code::InvalidArgument,
                "invalid_argument",
                "InvalidArgument: page 3 does not exist: the document has 1 page(s)",
            ),
            (
                pdf(PdfError::Placement(s("outside the page"))),
                Code::InvalidArgument,
                "invalid_argument",
                "InvalidArgument: invalid seal placement: outside the page",
            ),
            (
                pdf(PdfError::Image(s("not a PNG"))),
                Code::InvalidArgument,
                "invalid_argument",
                "InvalidArgument: invalid seal image: not a PNG",
            ),
            (
                pdf(PdfError::NotPermitted(s("DocMDP P=1"))),
                Code::FailedPrecondition,
                "failed_precondition",
                "FailedPrecondition: the document does not permit this seal: DocMDP P=1",
            ),
            (
                pdf(PdfError::SignatureTooLarge { size: 9, reserved: 8 }),
                Code::FailedPrecondition,
                "failed_precondition",
                "FailedPrecondition: the signature is 9 bytes but only 8 were reserved",
            ),
            (
                pdf(PdfError::Io(std::io::Error::other("disk full"))),
                Code::Internal,
                "internal",
                "Internal: I/O error: disk full",
            ),
            (
                ServiceError::Stamp(StampError::Cms(eseal_cms::CmsError::InvalidPrivateKey(s(
                    "short",
                )))),
                Code::Internal,
                "internal",
                "Internal: signing failed: seal private key rejected: short",
            ),
            (
                ServiceError::TooLarge { limit: 10 },
                Code::ResourceExhausted,
                "too_large",
                "ResourceExhausted: the document exceeds the limit of 10 bytes (server.max_document_bytes)",
            ),
            (
                ServiceError::RequestIdReused(s("r1")),
                Code::AlreadyExists,
                "request_id_reused",
                "AlreadyExists: request_id r1 was already used by you for another stamping (seal, authorization or document); choose a new request_id",
            ),
            (
                ServiceError::Store(StoreError::NotFound { what: "authorization", id: s("a9") }),
                Code::NotFound,
                "not_found",
                "NotFound: authorization a9 not found",
            ),
            (
                ServiceError::Store(StoreError::AlreadyExists { what: "seal", id: s("s1") }),
                Code::AlreadyExists,
                "already_exists",
                "AlreadyExists: seal s1 already exists",
            ),
            (
                ServiceError::Store(StoreError::Conflict(s("changed"))),
                Code::FailedPrecondition,
                "conflict",
                "FailedPrecondition: changed",
            ),
            (
                ServiceError::Store(StoreError::KeyInUse { what: "key reference", seal: s("s1") }),
                Code::FailedPrecondition,
                "key_in_use",
                "FailedPrecondition: the key reference is already registered to seal s1; a key and its certificate serve one seal only, for good: register a new key and certificate",
            ),
            (
                ServiceError::Store(StoreError::Database(s("disk I/O"))),
                Code::Unavailable,
                "unavailable",
                "Unavailable: database error: disk I/O",
            ),
            (
                ServiceError::Store(StoreError::Unavailable(s("refused"))),
                Code::Unavailable,
                "unavailable",
                "Unavailable: the database is unavailable (refused); try again when it is back",
            ),
            (
                ServiceError::Key(KeyError::Kek(s("missing"))),
                Code::Internal,
                "internal",
                "Internal: key-encryption key: missing",
            ),
            (
                ServiceError::SealUnavailable {
                    seal: s("s1"),
                    source: KeyError::Token(s("PIN locked")),
                },
                Code::Unavailable,
                "unavailable",
                "Unavailable: seal s1 is unavailable: PKCS#11: PIN locked",
            ),
            (
                ServiceError::Cancelled,
                Code::Cancelled,
                "cancelled",
                "Cancelled: the call was cancelled by the client",
            ),
            (
                ServiceError::Internal(s("bug")),
                Code::Internal,
                "internal",
                "Internal: internal error: bug",
            ),
        ];
        for (error, code, label, reason) in cases {
            assert_eq!(
                (error.code(), error.refusal_reason(), error.audit_reason().as_str()),
                (code, label, reason),
                "{error:?}"
            );
            let status = Status::from(error);
            assert_eq!(
                (status.code(), status.message()),
                (code, &reason[format!("{code:?}: ").len()..])
            );
        }
    }

    /// A policy refusal the store makes at commit time is the policy's refusal: the same code,
    /// message, audit reason and metric label as when the policy finds it before; a stamping
    /// limit has its own label.
    #[test]
    fn refusals_found_by_the_store_are_the_policys() {
        let used = PolicyError::AlreadyUsed { id: "a-1".into(), request_id: "r-1".into() };
        let before = ServiceError::Policy(used.clone());
        let at_commit = ServiceError::from(StoreError::Refused(used));
        assert!(matches!(at_commit, ServiceError::Policy(_)), "{at_commit:?}");
        assert_eq!(at_commit.code(), before.code());
        assert_eq!(at_commit.message(), before.message());
        assert_eq!(at_commit.audit_reason(), before.audit_reason());
        assert_eq!(at_commit.refusal_reason(), "authorization_used");
        let limit = ServiceError::from(StoreError::LimitReached { seal: "s".into(), max: 5 });
        assert_eq!(
            (limit.code(), limit.refusal_reason()),
            (Code::FailedPrecondition, "stamping_limit")
        );
        let changed = ServiceError::from(StoreError::Conflict("changed".into()));
        assert_eq!(changed.refusal_reason(), "conflict");
    }

    /// Client text in a message is clipped, whatever the variant quotes, and the whole message
    /// and reason are bounded.
    #[test]
    fn messages_clip_what_clients_sent() {
        let huge = "x".repeat(100_000);
        let not_found = ServiceError::NotFound { what: "seal", id: huge.clone() };
        assert_eq!(
            not_found.to_string(),
            format!("seal \"{}\"… (100000 bytes) does not exist", "x".repeat(64))
        );
        let denied = ServiceError::denied("li", Role::Department, Some(&huge));
        assert!(denied.to_string().len() < 200, "{denied}");
        assert!(ServiceError::RequestIdReused(huge.clone()).to_string().len() < 250);
        let invalid = ServiceError::InvalidArgument(huge.clone());
        assert_eq!(invalid.to_string().len(), MAX_MESSAGE + "…".len());
        let policy = ServiceError::Policy(PolicyError::OtherCase {
            id: "a".into(),
            authorized: "c".into(),
            requested: huge,
        });
        assert_eq!(policy.audit_reason().len(), MAX_MESSAGE + "…".len());
        assert_eq!(Status::from(policy).message().len(), MAX_MESSAGE + "…".len());
    }
}
