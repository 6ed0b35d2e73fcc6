//! One seal, one authorization (一章一授权): who may grant an authorization, and whether a
//! stamping request may consume one. Pure rules over values: no clock, no storage, no I/O.
//! The caller passes the current time and the records; the store makes consumption atomic.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::seal::{Seal, SealState};

/// The state of an authorization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AuthorizationState {
    /// Granted and not yet used.
    Active,
    /// Used by the stamping with this request id.
    Consumed {
        /// When (Unix seconds).
        at: i64,
        /// The stamping's request id.
        request_id: String,
    },
    /// Withdrawn by a custodian before use.
    Revoked {
        /// When (Unix seconds).
        at: i64,
        /// Who revoked it.
        by: String,
    },
}

impl AuthorizationState {
    /// The state's name as stored and shown.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthorizationState::Active => "active",
            AuthorizationState::Consumed { .. } => "consumed",
            AuthorizationState::Revoked { .. } => "revoked",
        }
    }
}

/// Permission for exactly one stamping with one seal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// Identifier given at grant time.
    pub id: String,
    /// The seal it may be used with.
    pub seal_id: String,
    /// The department principal that may use it.
    pub grantee: String,
    /// The custodian who granted it.
    pub granted_by: String,
    /// The case (file) number the stamping is for.
    pub case_number: String,
    /// When given, the only document (SHA-256) that may be sealed with it.
    pub document_sha256: Option<[u8; 32]>,
    /// When it was granted (Unix seconds).
    pub granted_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// Its state.
    pub state: AuthorizationState,
}

/// Why a grant or a stamping is refused. The messages name the reason in the words of the
/// people involved.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The grantor is not a custodian of the seal.
    #[error("{principal} is not a custodian of seal {seal}")]
    NotCustodian {
        /// Who tried.
        principal: String,
        /// The seal.
        seal: String,
    },
    /// Custodian and grantee are the same principal.
    #[error("{principal} may not authorize a stamping it requests itself")]
    SelfAuthorization {
        /// The principal.
        principal: String,
    },
    /// The requested expiry is in the past or beyond the allowed maximum.
    #[error("the expiry must be between now and {max_seconds} seconds from now")]
    BadExpiry {
        /// The longest validity allowed.
        max_seconds: i64,
    },
    /// A case number is required.
    #[error("an authorization needs a case number")]
    MissingCaseNumber,
    /// The authorization has expired.
    #[error("authorization {id} expired at {expired_at} (Unix time)")]
    Expired {
        /// The authorization.
        id: String,
        /// When it expired.
        expired_at: i64,
    },
    /// The authorization was revoked.
    #[error("authorization {id} was revoked by {by}")]
    Revoked {
        /// The authorization.
        id: String,
        /// Who revoked it.
        by: String,
    },
    /// The authorization was already used.
    #[error("authorization {id} was already used (request {request_id})")]
    AlreadyUsed {
        /// The authorization.
        id: String,
        /// The stamping that used it.
        request_id: String,
    },
    /// The authorization is for another seal.
    #[error("authorization {id} is for seal {authorized}, not {requested}")]
    OtherSeal {
        /// The authorization.
        id: String,
        /// The seal it is for.
        authorized: String,
        /// The seal requested.
        requested: String,
    },
    /// The authorization is for another principal.
    #[error("authorization {id} was granted to {grantee}, not {principal}")]
    OtherGrantee {
        /// The authorization.
        id: String,
        /// Whom it was granted to.
        grantee: String,
        /// Who asked.
        principal: String,
    },
    /// The authorization is for another case.
    #[error("authorization {id} is for case {authorized}, not {requested}")]
    OtherCase {
        /// The authorization.
        id: String,
        /// The case it is for.
        authorized: String,
        /// The case requested.
        requested: String,
    },
    /// The document is not the one the authorization names.
    #[error(
        "authorization {id} is for another document (SHA-256 {authorized}); this one is {actual}"
    )]
    DocumentMismatch {
        /// The authorization.
        id: String,
        /// The document it names (hex).
        authorized: String,
        /// The document sent (hex).
        actual: String,
    },
    /// The seal is suspended.
    #[error("seal {seal} is suspended")]
    SealSuspended {
        /// The seal.
        seal: String,
    },
    /// The seal is revoked.
    #[error("seal {seal} is revoked")]
    SealRevoked {
        /// The seal.
        seal: String,
    },
    /// Now is outside the seal's validity.
    #[error("seal {seal} is valid from {from} to {until} (Unix time), not now")]
    SealOutsideValidity {
        /// The seal.
        seal: String,
        /// Start.
        from: i64,
        /// End.
        until: i64,
    },
    /// The seal certificate is not valid now.
    #[error(
        "the certificate of seal {seal} is valid from {not_before} to {not_after} (Unix time), not now"
    )]
    SealCertificateExpired {
        /// The seal.
        seal: String,
        /// Certificate start.
        not_before: i64,
        /// Certificate end.
        not_after: i64,
    },
}

/// A grant as asked for by a custodian.
#[derive(Clone, Debug)]
pub struct GrantRequest<'a> {
    /// The custodian asking.
    pub custodian: &'a str,
    /// The grantee.
    pub grantee: &'a str,
    /// The case number.
    pub case_number: &'a str,
    /// Requested expiry (Unix seconds).
    pub expires_at: i64,
}

/// Checks that `request` may create an authorization for `seal` at `now`, with validity at
/// most `max_validity` seconds.
pub fn check_grant(
    seal: &Seal,
    request: &GrantRequest<'_>,
    now: i64,
    max_validity: i64,
) -> Result<(), PolicyError> {
    if !seal.is_custodian(request.custodian) {
        return Err(PolicyError::NotCustodian {
            principal: request.custodian.into(),
            seal: seal.id.clone(),
        });
    }
    if request.custodian == request.grantee {
        return Err(PolicyError::SelfAuthorization { principal: request.custodian.into() });
    }
    if request.case_number.trim().is_empty() {
        return Err(PolicyError::MissingCaseNumber);
    }
    if request.expires_at <= now || request.expires_at > now.saturating_add(max_validity) {
        return Err(PolicyError::BadExpiry { max_seconds: max_validity });
    }
    check_seal_usable(seal, None, now)
}

/// Checks that the seal may be used now: active, within its validity, and (when its
/// certificate's validity is given as (not_before, not_after)) with a valid certificate.
pub fn check_seal_usable(
    seal: &Seal,
    certificate_validity: Option<(i64, i64)>,
    now: i64,
) -> Result<(), PolicyError> {
    check_seal_state(&seal.id, seal.state)?;
    if now < seal.valid_from || now > seal.valid_until {
        return Err(PolicyError::SealOutsideValidity {
            seal: seal.id.clone(),
            from: seal.valid_from,
            until: seal.valid_until,
        });
    }
    if let Some((not_before, not_after)) = certificate_validity {
        if now < not_before || now > not_after {
            return Err(PolicyError::SealCertificateExpired {
                seal: seal.id.clone(),
                not_before,
                not_after,
            });
        }
    }
    Ok(())
}

/// Checks that a seal in `state` may be used (for a grant or a stamping): only an active one.
pub fn check_seal_state(seal: &str, state: SealState) -> Result<(), PolicyError> {
    match state {
        SealState::Active => Ok(()),
        SealState::Suspended => Err(PolicyError::SealSuspended { seal: seal.to_string() }),
        SealState::Revoked => Err(PolicyError::SealRevoked { seal: seal.to_string() }),
    }
}

/// Checks that `authorization` may still be consumed or revoked: active and, when `now` is
/// given, unexpired. The store applies this in the transaction that changes it, against the
/// state it holds then.
pub fn check_usable(authorization: &Authorization, now: Option<i64>) -> Result<(), PolicyError> {
    check_active(authorization)?;
    match now {
        Some(now) => check_unexpired(authorization, now),
        None => Ok(()),
    }
}

/// Neither consumed nor revoked.
fn check_active(authorization: &Authorization) -> Result<(), PolicyError> {
    let id = authorization.id.clone();
    match &authorization.state {
        AuthorizationState::Active => Ok(()),
        AuthorizationState::Consumed { request_id, .. } => {
            Err(PolicyError::AlreadyUsed { id, request_id: request_id.clone() })
        }
        AuthorizationState::Revoked { by, .. } => Err(PolicyError::Revoked { id, by: by.clone() }),
    }
}

/// Not expired at `now`.
fn check_unexpired(authorization: &Authorization, now: i64) -> Result<(), PolicyError> {
    if now > authorization.expires_at {
        return Err(PolicyError::Expired {
            id: authorization.id.clone(),
            expired_at: authorization.expires_at,
        });
    }
    Ok(())
}

/// A stamping as requested by a department system.
#[derive(Clone, Debug)]
pub struct StampingRequest<'a> {
    /// The principal asking.
    pub principal: &'a str,
    /// The seal asked for.
    pub seal_id: &'a str,
    /// The case number given.
    pub case_number: &'a str,
    /// SHA-256 of the document sent; `None` before it has arrived (every other rule is
    /// checked then, so that nothing is uploaded for a request that cannot succeed).
    pub document_sha256: Option<&'a [u8; 32]>,
}

/// Checks that `authorization` permits `request` with `seal` at `now`. Consumption itself is
/// the store's atomic step; this only says whether it may happen.
pub fn check_stamping(
    authorization: &Authorization,
    seal: &Seal,
    certificate_validity: Option<(i64, i64)>,
    request: &StampingRequest<'_>,
    now: i64,
) -> Result<(), PolicyError> {
    let id = || authorization.id.clone();
    check_active(authorization)?;
    if authorization.seal_id != request.seal_id {
        return Err(PolicyError::OtherSeal {
            id: id(),
            authorized: authorization.seal_id.clone(),
            requested: request.seal_id.into(),
        });
    }
    if authorization.grantee != request.principal {
        return Err(PolicyError::OtherGrantee {
            id: id(),
            grantee: authorization.grantee.clone(),
            principal: request.principal.into(),
        });
    }
    check_unexpired(authorization, now)?;
    if authorization.case_number != request.case_number {
        return Err(PolicyError::OtherCase {
            id: id(),
            authorized: authorization.case_number.clone(),
            requested: request.case_number.into(),
        });
    }
    if let (Some(bound), Some(actual)) = (&authorization.document_sha256, request.document_sha256) {
        if bound != actual {
            return Err(PolicyError::DocumentMismatch {
                id: id(),
                authorized: hex(bound),
                actual: hex(actual),
            });
        }
    }
    check_seal_usable(seal, certificate_validity, now)
}

use eseal_encoding::hex;

#[cfg(test)]
mod tests;
