//! SealAdminService: seal life cycle (seal-admin) and authorizations (custodians).

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::Subject;
use super::limits::Bounded;
use super::proto::seal_admin_service_server::SealAdminService;
use super::proto::{self, AuthorizationState as ProtoAuthState, SealState as ProtoSealState};
use crate::auth::{Principal, Role};
use crate::policy::{self, Authorization, AuthorizationState, GrantRequest};
use crate::seal::{Seal, SealState, Transition};
use crate::service::clip::{quote, shown};
use crate::service::{ServiceError, ServiceState, certificate_validity};
use crate::store::{AuthorizationFilter, AuthorizationStateFilter, Page, StoreError};
use eseal_audit::{AuditEvent, EventKind};
use eseal_cms::{CertificateChain, build_pades_signed_data};
use eseal_encoding::civil_time::now;
use eseal_encoding::hex;
use eseal_pdf::SealImage;

/// The administration service.
pub struct Admin {
    state: Arc<ServiceState>,
}

impl Admin {
    /// The service over shared state.
    pub fn new(state: Arc<ServiceState>) -> Self {
        Self { state }
    }

    /// Runs `body` for an authenticated caller whose request is within the field bounds
    /// ([`super::limits`]); any error is audited as a refusal.
    async fn call<T: Bounded, R, F>(
        &self,
        method: &'static str,
        request: Request<T>,
        subject: impl FnOnce(&T) -> Subject,
        body: F,
    ) -> Result<Response<R>, Status>
    where
        F: AsyncFnOnce(&ServiceState, &Principal, T) -> Result<R, ServiceError>,
    {
        let principal = super::authentication::principal(&request)?;
        let message = request.into_inner();
        let subject = subject(&message);
        if let Err(e) = message.check_bounds() {
            return Err(self.state.refuse(&principal.name, method, e, subject).await);
        }
        let span = tracing::info_span!("rpc", method, principal = %principal.name, seal = ?subject.seal_id);
        match body(&self.state, &principal, message).instrument(span.clone()).await {
            Ok(reply) => {
                tracing::info!(parent: &span, outcome = "ok");
                Ok(Response::new(reply))
            }
            Err(e) => Err(self.state.refuse(&principal.name, method, e, subject).await),
        }
    }
}

fn seal_subject(id: &str) -> Subject {
    Subject { seal_id: Some(id.into()), ..Default::default() }
}

fn require(principal: &Principal, role: Role, seal: Option<&str>) -> Result<(), ServiceError> {
    if principal.has(role, seal) {
        Ok(())
    } else {
        Err(ServiceError::denied(&principal.name, role, seal))
    }
}

/// Whether `principal` may read the whole of seal `id` (its key reference and custodians):
/// seal administrators, and principals with a role for that seal.
fn may_read_seal(principal: &Principal, id: &str) -> bool {
    principal.has(Role::SealAdmin, None)
        || principal.has(Role::Department, Some(id))
        || principal.has(Role::Custodian, Some(id))
}

/// The seal as a principal without a role for it sees it in a listing: what any relying party
/// may know (names, picture, chain, validity, state), without where its key lives or who
/// guards it.
fn public_seal_message(seal: &Seal) -> proto::Seal {
    proto::Seal { key_reference: String::new(), custodians: Vec::new(), ..seal_message(seal) }
}

fn seal_message(seal: &Seal) -> proto::Seal {
    proto::Seal {
        id: seal.id.clone(),
        name: seal.name.clone(),
        organization: seal.organization.clone(),
        kind: seal.kind.clone(),
        image_png: seal.image_png.clone(),
        certificate_chain: seal.certificate_chain.clone(),
        key_reference: seal.key_reference.clone(),
        custodians: seal.custodians.clone(),
        valid_from: seal.valid_from,
        valid_until: seal.valid_until,
        state: match seal.state {
            SealState::Active => ProtoSealState::Active,
            SealState::Suspended => ProtoSealState::Suspended,
            SealState::Revoked => ProtoSealState::Revoked,
        } as i32,
        registered_at: seal.registered_at,
        certificate_sha256: seal
            .certificate_chain
            .first()
            .map(|c| hex(ring::digest::digest(&ring::digest::SHA256, c).as_ref()))
            .unwrap_or_default(),
    }
}

/// The authorization as shown: active past its expiry reads as expired.
pub fn authorization_message(a: &Authorization, now: i64) -> proto::Authorization {
    let (state, closed_at, consumed_by, revoked_by) = match &a.state {
        AuthorizationState::Active if now > a.expires_at => {
            (ProtoAuthState::Expired, 0, String::new(), String::new())
        }
        AuthorizationState::Active => (ProtoAuthState::Active, 0, String::new(), String::new()),
        AuthorizationState::Consumed { at, request_id } => {
            (ProtoAuthState::Consumed, *at, request_id.clone(), String::new())
        }
        AuthorizationState::Revoked { at, by } => {
            (ProtoAuthState::Revoked, *at, String::new(), by.clone())
        }
    };
    proto::Authorization {
        id: a.id.clone(),
        seal_id: a.seal_id.clone(),
        grantee: a.grantee.clone(),
        granted_by: a.granted_by.clone(),
        case_number: a.case_number.clone(),
        document_sha256: a.document_sha256.map(|d| d.to_vec()).unwrap_or_default(),
        granted_at: a.granted_at,
        expires_at: a.expires_at,
        state: state as i32,
        closed_at,
        consumed_by_request: consumed_by,
        revoked_by,
    }
}

/// A fresh random identifier (128 bits, hex).
fn new_id(prefix: &str) -> Result<String, ServiceError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ServiceError::Internal("no randomness".into()))?;
    Ok(format!("{prefix}-{}", hex(&bytes)))
}

fn valid_seal_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

async fn transition(
    state: &ServiceState,
    principal: &Principal,
    request: proto::SealTransitionRequest,
    transition: Transition,
) -> Result<proto::Seal, ServiceError> {
    require(principal, Role::SealAdmin, None)?;
    let seal = state
        .store
        .seal(&request.id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: "seal", id: request.id.clone() })?;
    let next = seal.after(transition)?;
    let kind = match transition {
        Transition::Suspend => EventKind::SealSuspended,
        Transition::Resume => EventKind::SealResumed,
        Transition::Revoke => EventKind::SealRevoked,
    };
    let mut event = AuditEvent::new(kind, principal.name.clone());
    event.seal_id = Some(seal.id.clone());
    event.reason = (!request.reason.is_empty()).then(|| request.reason.clone());
    let changed = state.store.set_seal_state(&seal.id, seal.state, next, event, now()).await;
    state.forget_seal(&seal.id);
    changed?;
    Ok(seal_message(&Seal { state: next, ..seal }))
}

/// Registers `seal` after checking its picture, chain and key; shared with the first-start seeding.
pub async fn register(
    state: &ServiceState,
    principal: &str,
    mut seal: Seal,
) -> Result<Seal, ServiceError> {
    if !valid_seal_id(&seal.id) {
        return Err(ServiceError::InvalidArgument(format!(
            "seal id {} must be 1-64 letters, digits, '-' or '_'",
            quote(&seal.id)
        )));
    }
    if seal.custodians.is_empty() {
        return Err(ServiceError::InvalidArgument("a seal needs at least one custodian".into()));
    }
    SealImage::from_png(&seal.image_png)
        .map_err(|e| ServiceError::InvalidArgument(e.to_string()))?;
    let chain = CertificateChain::from_der(seal.certificate_chain.clone())
        .map_err(|e| ServiceError::InvalidArgument(format!("certificate chain: {e}")))?;
    // Only seal certificates this service's verifiers will trust, with a signing key usage:
    // a key folder may hold other keys (CA keys in development), which must not become seals.
    state
        .anchors
        .check(
            chain.end_entity_der(),
            chain.certificates(),
            now(),
            eseal_verify::Purpose::DocumentSigning,
        )
        .map_err(|e| {
            ServiceError::InvalidArgument(format!(
                "the seal certificate is not usable for seals: {e}"
            ))
        })?;
    // The extension itself is required of a seal certificate (the check above only reads it
    // when present).
    if !has_key_usage(chain.end_entity_der()) {
        return Err(ServiceError::InvalidArgument("the seal certificate has no keyUsage extension; a seal certificate needs digitalSignature or nonRepudiation".into()));
    }
    // A key that another seal holds is refused before it is used: the key of a revoked seal
    // may be gone from the key store, and must not be touched again. (The store checks the key
    // reference again, the certificate and the public key too, under its write lock.)
    let holder = state
        .store
        .list_seals()
        .await?
        .into_iter()
        .find(|s| s.id != seal.id && s.key_reference == seal.key_reference);
    if let Some(holder) = holder {
        return Err(StoreError::KeyInUse { what: "key reference", seal: holder.id }.into());
    }
    let signer = state
        .keys
        .signer(&seal.key_reference)
        .map_err(|e| ServiceError::InvalidArgument(e.to_string()))?;
    // One test signature, checked against the certificate: the key must be the certificate's.
    build_pades_signed_data(&[0u8; 32], &chain, signer.as_ref()).map_err(|e| match e {
        eseal_cms::CmsError::KeyCertificateMismatch => ServiceError::InvalidArgument(format!(
            "the seal certificate's public key does not match key {}: refused (register the certificate issued for this key's CSR)",
            shown(&seal.key_reference)
        )),
        e => ServiceError::InvalidArgument(format!("key {} cannot sign for the seal certificate: {e}", shown(&seal.key_reference))),
    })?;
    let (not_before, not_after) = certificate_validity(chain.end_entity_der())
        .ok_or_else(|| ServiceError::InvalidArgument("unreadable seal certificate".into()))?;
    if seal.valid_from == 0 {
        seal.valid_from = not_before;
    }
    if seal.valid_until == 0 {
        seal.valid_until = not_after;
    }
    if seal.valid_until <= seal.valid_from {
        return Err(ServiceError::InvalidArgument("valid_until must be after valid_from".into()));
    }
    seal.registered_at = now();
    seal.state = SealState::Active;
    let mut event = AuditEvent::new(EventKind::SealRegistered, principal);
    event.seal_id = Some(seal.id.clone());
    event.seal_certificate_sha256 = Some(chain.fingerprint_hex());
    state.store.register_seal(&seal, event, now()).await?;
    Ok(seal)
}

/// Whether a DER certificate carries a keyUsage extension.
fn has_key_usage(der: &[u8]) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(der).is_ok_and(|(_, c)| matches!(c.key_usage(), Ok(Some(_))))
}

#[tonic::async_trait]
impl SealAdminService for Admin {
    async fn register_seal(
        &self,
        request: Request<proto::RegisterSealRequest>,
    ) -> Result<Response<proto::Seal>, Status> {
        self.call(
            "RegisterSeal",
            request,
            |r| seal_subject(&r.id),
            async |state, principal, r| {
                require(principal, Role::SealAdmin, None)?;
                let seal = Seal {
                    id: r.id,
                    name: r.name,
                    organization: r.organization,
                    kind: r.kind,
                    image_png: r.image_png,
                    certificate_chain: r.certificate_chain,
                    key_reference: r.key_reference,
                    custodians: r.custodians,
                    valid_from: r.valid_from,
                    valid_until: r.valid_until,
                    state: SealState::Active,
                    registered_at: 0,
                };
                Ok(seal_message(&register(state, &principal.name, seal).await?))
            },
        )
        .await
    }

    async fn get_seal(
        &self,
        request: Request<proto::GetSealRequest>,
    ) -> Result<Response<proto::Seal>, Status> {
        self.call(
            "GetSeal",
            request,
            |r| seal_subject(&r.id),
            async |state, principal, r| {
                // Checked before the lookup: a principal without a role learns nothing of which
                // seals exist beyond what ListSeals shows.
                if !may_read_seal(principal, &r.id) {
                    return Err(ServiceError::PermissionDenied {
                        principal: principal.name.clone(),
                        role: "department or custodian (or seal-admin)",
                        seal: Some(r.id),
                    });
                }
                let seal = state
                    .store
                    .seal(&r.id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound { what: "seal", id: r.id.clone() })?;
                Ok(seal_message(&seal))
            },
        )
        .await
    }

    async fn list_seals(
        &self,
        request: Request<proto::ListSealsRequest>,
    ) -> Result<Response<proto::ListSealsResponse>, Status> {
        self.call(
            "ListSeals",
            request,
            |_| Subject::default(),
            async |state, principal, _r| {
                let shown = |seal: &Seal| {
                    if may_read_seal(principal, &seal.id) {
                        seal_message(seal)
                    } else {
                        public_seal_message(seal)
                    }
                };
                Ok(proto::ListSealsResponse {
                    seals: state.store.list_seals().await?.iter().map(shown).collect(),
                })
            },
        )
        .await
    }

    async fn suspend_seal(
        &self,
        request: Request<proto::SealTransitionRequest>,
    ) -> Result<Response<proto::Seal>, Status> {
        self.call(
            "SuspendSeal",
            request,
            |r| seal_subject(&r.id),
            async |s, p, r| transition(s, p, r, Transition::Suspend).await,
        )
        .await
    }

    async fn resume_seal(
        &self,
        request: Request<proto::SealTransitionRequest>,
    ) -> Result<Response<proto::Seal>, Status> {
        self.call(
            "ResumeSeal",
            request,
            |r| seal_subject(&r.id),
            async |s, p, r| transition(s, p, r, Transition::Resume).await,
        )
        .await
    }

    async fn revoke_seal(
        &self,
        request: Request<proto::SealTransitionRequest>,
    ) -> Result<Response<proto::Seal>, Status> {
        self.call(
            "RevokeSeal",
            request,
            |r| seal_subject(&r.id),
            async |s, p, r| transition(s, p, r, Transition::Revoke).await,
        )
        .await
    }

    async fn grant_authorization(
        &self,
        request: Request<proto::GrantAuthorizationRequest>,
    ) -> Result<Response<proto::Authorization>, Status> {
        let subject = |r: &proto::GrantAuthorizationRequest| Subject {
            seal_id: Some(r.seal_id.clone()),
            case_number: Some(r.case_number.clone()),
            ..Default::default()
        };
        self.call("GrantAuthorization", request, subject, async |state, principal, r| {
            require(principal, Role::Custodian, Some(&r.seal_id))?;
            let seal = state
                .recent_seal(&r.seal_id)
                .await?
                .ok_or_else(|| ServiceError::NotFound { what: "seal", id: r.seal_id.clone() })?;
            let grantee = state.auth.principal_named(&r.grantee);
            if !grantee.is_some_and(|g| g.has(Role::Department, Some(&seal.id))) {
                return Err(ServiceError::InvalidArgument(format!(
                    "{} is not a department principal of seal {}",
                    shown(&r.grantee),
                    seal.id
                )));
            }
            let document_sha256 = match r.document_sha256.len() {
                0 => None,
                32 => {
                    let mut d = [0u8; 32];
                    d.copy_from_slice(&r.document_sha256);
                    Some(d)
                }
                n => {
                    return Err(ServiceError::InvalidArgument(format!(
                        "document_sha256 must be 32 bytes, not {n}"
                    )));
                }
            };
            let limits = &state.settings.authorizations;
            let valid_for = if r.valid_for_seconds == 0 {
                limits.default_validity_seconds
            } else {
                r.valid_for_seconds
            };
            let now = now();
            let grant = GrantRequest {
                custodian: &principal.name,
                grantee: &r.grantee,
                case_number: &r.case_number,
                expires_at: now.saturating_add(valid_for),
            };
            policy::check_grant(&seal, &grant, now, limits.max_validity_seconds)?;
            let authorization = Authorization {
                id: new_id("auth")?,
                seal_id: seal.id.clone(),
                grantee: r.grantee.clone(),
                granted_by: principal.name.clone(),
                case_number: r.case_number.clone(),
                document_sha256,
                granted_at: now,
                expires_at: grant.expires_at,
                state: AuthorizationState::Active,
            };
            let mut event =
                AuditEvent::new(EventKind::AuthorizationGranted, principal.name.clone());
            event.seal_id = Some(seal.id.clone());
            event.authorization_id = Some(authorization.id.clone());
            event.case_number = Some(authorization.case_number.clone());
            event.input_sha256 = document_sha256.map(|d| hex(&d));
            state.store.grant(&authorization, event, now).await?;
            Ok(authorization_message(&authorization, now))
        })
        .await
    }

    async fn revoke_authorization(
        &self,
        request: Request<proto::RevokeAuthorizationRequest>,
    ) -> Result<Response<proto::Authorization>, Status> {
        let subject = |r: &proto::RevokeAuthorizationRequest| Subject {
            authorization_id: Some(r.id.clone()),
            ..Default::default()
        };
        self.call("RevokeAuthorization", request, subject, async |state, principal, r| {
            let current = state.store.authorization(&r.id).await?.ok_or_else(|| {
                ServiceError::NotFound { what: "authorization", id: r.id.clone() }
            })?;
            require(principal, Role::Custodian, Some(&current.seal_id))?;
            let seal = state.store.seal(&current.seal_id).await?.ok_or_else(|| {
                ServiceError::NotFound { what: "seal", id: current.seal_id.clone() }
            })?;
            if !seal.is_custodian(&principal.name) {
                return Err(policy::PolicyError::NotCustodian {
                    principal: principal.name.clone(),
                    seal: seal.id,
                }
                .into());
            }
            let mut event =
                AuditEvent::new(EventKind::AuthorizationRevoked, principal.name.clone());
            event.seal_id = Some(current.seal_id.clone());
            event.authorization_id = Some(current.id.clone());
            event.reason = (!r.reason.is_empty()).then(|| r.reason.clone());
            let (revoked, _) =
                state.store.revoke_authorization(&r.id, &principal.name, event, now()).await?;
            Ok(authorization_message(&revoked, now()))
        })
        .await
    }

    async fn get_authorization(
        &self,
        request: Request<proto::GetAuthorizationRequest>,
    ) -> Result<Response<proto::Authorization>, Status> {
        let subject = |r: &proto::GetAuthorizationRequest| Subject {
            authorization_id: Some(r.id.clone()),
            ..Default::default()
        };
        self.call("GetAuthorization", request, subject, async |state, principal, r| {
            let a = state.store.authorization(&r.id).await?.ok_or_else(|| {
                ServiceError::NotFound { what: "authorization", id: r.id.clone() }
            })?;
            let may = principal.has(Role::Custodian, Some(&a.seal_id))
                || principal.has(Role::Archivist, None)
                || a.grantee == principal.name;
            if !may {
                return Err(ServiceError::denied(
                    &principal.name,
                    Role::Custodian,
                    Some(&a.seal_id),
                ));
            }
            Ok(authorization_message(&a, now()))
        })
        .await
    }

    async fn list_authorizations(
        &self,
        request: Request<proto::ListAuthorizationsRequest>,
    ) -> Result<Response<proto::ListAuthorizationsResponse>, Status> {
        let subject = |r: &proto::ListAuthorizationsRequest| Subject {
            seal_id: (!r.seal_id.is_empty()).then(|| r.seal_id.clone()),
            ..Default::default()
        };
        self.call("ListAuthorizations", request, subject, async |state, principal, r| {
            let text = |s: &String| (!s.is_empty()).then(|| s.clone());
            let mut filter = AuthorizationFilter {
                seal_id: text(&r.seal_id),
                state: None,
                grantee: text(&r.grantee),
                granted_after: (r.granted_after != 0).then_some(r.granted_after),
                granted_before: (r.granted_before != 0).then_some(r.granted_before),
            };
            let now = now();
            filter.state = match ProtoAuthState::try_from(r.state) {
                Ok(ProtoAuthState::Unspecified) => None,
                Ok(ProtoAuthState::Active) => Some(AuthorizationStateFilter::Active { now }),
                Ok(ProtoAuthState::Consumed) => Some(AuthorizationStateFilter::Consumed),
                Ok(ProtoAuthState::Revoked) => Some(AuthorizationStateFilter::Revoked),
                Ok(ProtoAuthState::Expired) => Some(AuthorizationStateFilter::Expired { now }),
                Err(_) => {
                    return Err(ServiceError::InvalidArgument(format!(
                        "unknown state {}",
                        r.state
                    )));
                }
            };
            // Who sees what: archivists everything, custodians their seals', departments their own.
            let custodian_of_filter =
                filter.seal_id.as_deref().is_some_and(|s| principal.has(Role::Custodian, Some(s)));
            if !(principal.has(Role::Archivist, None)
                || custodian_of_filter
                || principal.has(Role::Custodian, Some("*")))
            {
                if principal.has_any(Role::Department) {
                    filter.grantee = Some(principal.name.clone());
                } else {
                    return Err(ServiceError::denied(
                        &principal.name,
                        Role::Custodian,
                        filter.seal_id.as_deref(),
                    ));
                }
            }
            let size = match r.page_size {
                0 => 100,
                n if n <= 1000 => n,
                n => {
                    return Err(ServiceError::InvalidArgument(format!(
                        "page_size {n} is over 1000"
                    )));
                }
            };
            if !r.page_token.is_empty() && !Page::is_valid_token(&r.page_token) {
                return Err(ServiceError::InvalidArgument(
                    "page_token is not one this service gave out".into(),
                ));
            }
            let page = Page { size, token: text(&r.page_token) };
            let (items, next) = state.store.list_authorizations(&filter, &page).await?;
            Ok(proto::ListAuthorizationsResponse {
                authorizations: items.iter().map(|a| authorization_message(a, now)).collect(),
                next_page_token: next.unwrap_or_default(),
            })
        })
        .await
    }
}
