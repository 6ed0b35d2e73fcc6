//! Every refusal of the service, end to end: a real server on loopback with real mTLS and a
//! real SQLite file, called with keys-sample identities and certificates made at test time.
//! Each refusal is checked for its gRPC status code, for the reason in its message, and for its
//! `call_refused` record in the audit trail; refusals of a stamping must consume nothing.

mod common;

use std::time::{Duration, SystemTime};

use common::service::*;
use eseal_audit::EventKind;
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::signing_service_client::SigningServiceClient;
use eseal_service::api::proto::{
    AuthorizationState, GetAuthorizationRequest, GetSealRequest, GrantAuthorizationRequest,
    ListSealsRequest, RevokeAuthorizationRequest, SealState, SealTransitionRequest,
    SignDocumentRequest, SignHeader, sign_document_request::Part,
};
use tonic::Code;
use tonic::transport::Channel;

const SEAL: &str = "approval-ec";
const DEPARTMENT: &str = "approval-system";
const CUSTODIAN: &str = "custodian-wang";

/// A server and the clients most tests need.
struct Fixture {
    server: TestServer,
    department: SigningServiceClient<Channel>,
    custodian: SealAdminServiceClient<Channel>,
    seal_admin: SealAdminServiceClient<Channel>,
}

impl Fixture {
    async fn start() -> Fixture {
        Self::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut eseal_service::config::Config)) -> Fixture {
        let server = TestServer::start_with(adjust).await;
        let department = server.signing(&ClientIdentity::department()).await;
        let custodian = server.admin(&ClientIdentity::custodian()).await;
        let seal_admin = server.admin(&ClientIdentity::seal_admin()).await;
        Fixture { server, department, custodian, seal_admin }
    }

    /// A fresh authorization of approval-ec for approval-system, case `case`.
    async fn grant(&mut self, case: &str) -> String {
        grant(&mut self.custodian, grant_request(SEAL, DEPARTMENT, case)).await.id
    }

    /// The authorization's state as the custodian sees it.
    async fn state_of(
        &mut self,
        id: &str,
    ) -> (AuthorizationState, eseal_service::api::proto::Authorization) {
        let a = self
            .custodian
            .get_authorization(GetAuthorizationRequest { id: id.into() })
            .await
            .expect("GetAuthorization")
            .into_inner();
        (AuthorizationState::try_from(a.state).unwrap(), a)
    }

    /// The audit trail (the server keeps running: WAL lets us read).
    async fn audit(&self) -> Vec<eseal_audit::AuditRecord> {
        self.server.audit().await
    }
}

/// Exactly `n` refusals were recorded.
#[track_caller]
fn assert_refusal_count(records: &[eseal_audit::AuditRecord], n: usize) {
    let refusals = of_kind(records, EventKind::CallRefused);
    assert_eq!(refusals.len(), n, "one call_refused record per refusal: {refusals:#?}");
}

/// Calls ListSeals over a channel with `identity` (none: no client certificate).
async fn list_seals(
    server: &TestServer,
    identity: Option<&ClientIdentity>,
) -> Result<usize, tonic::Status> {
    let mut client = SealAdminServiceClient::new(server.channel(identity).await);
    client.list_seals(ListSealsRequest {}).await.map(|r| r.into_inner().seals.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_callers_are_refused_and_audited() {
    let mut f = Fixture::start().await;
    let now = SystemTime::now();

    // Control: a certificate made here by the real TLS CA for a known principal is accepted,
    // so the refusals below are about what differs (CA, dates, principal), not how it is made.
    let made_here = valid_from_tls_ca("approval-system-2", DEPARTMENT_URI);
    assert_eq!(
        list_seals(&f.server, Some(&made_here))
            .await
            .expect("a valid test-time certificate is accepted"),
        2
    );

    // No client certificate at all: the handshake fails, nothing reaches the service (and
    // nothing is recorded: see the count below).
    assert_refused_without_certificate(f.server.address.port()).await;
    let authorization = f.grant("审批-2026-0001").await;
    let document = corpus_bytes("13");

    // A certificate of another CA naming a known principal.
    let foreign = from_foreign_ca("Some Other CA", "approval-system", DEPARTMENT_URI);
    assert_refused(
        list_seals(&f.server, Some(&foreign)).await,
        Code::Unauthenticated,
        &["not accepted", "not issued by the service's client CA"],
    );
    // An impostor CA bearing the real TLS CA's name, with another key: only the signature check
    // tells it apart.
    let impostor = from_foreign_ca("eseal Development TLS CA", "approval-system", DEPARTMENT_URI);
    assert_refused(
        list_seals(&f.server, Some(&impostor)).await,
        Code::Unauthenticated,
        &["not accepted"],
    );
    let mut foreign_signer = SigningServiceClient::new(f.server.channel(Some(&foreign)).await);
    assert_refused(
        sign(
            &mut foreign_signer,
            header(SEAL, &authorization, "foreign-1", "审批-2026-0001"),
            &document,
        )
        .await,
        Code::Unauthenticated,
        &["not issued by the service's client CA"],
    );

    // An expired certificate issued by the real TLS CA for a known principal.
    let expired = issued_by_tls_ca("approval-system", DEPARTMENT_URI, now - 30 * DAY, now - DAY);
    assert_refused(
        list_seals(&f.server, Some(&expired)).await,
        Code::Unauthenticated,
        &["not accepted", "expired"],
    );
    // Not valid yet.
    let future = issued_by_tls_ca("approval-system", DEPARTMENT_URI, now + DAY, now + 30 * DAY);
    assert_refused(
        list_seals(&f.server, Some(&future)).await,
        Code::Unauthenticated,
        &["not accepted", "not valid yet"],
    );

    // A valid certificate of the TLS CA naming nobody the service knows.
    let stranger_uri = "spiffe://eseal.example/department/stranger";
    let stranger = valid_from_tls_ca("stranger", stranger_uri);
    assert_refused(
        list_seals(&f.server, Some(&stranger)).await,
        Code::Unauthenticated,
        &["names no principal", stranger_uri],
    );

    // A certificate of the TLS CA that is not for client use: the server's own (serverAuth).
    let server_cert = ClientIdentity::sample("server");
    assert_refused(
        list_seals(&f.server, Some(&server_cert)).await,
        Code::Unauthenticated,
        &["not accepted"],
    );

    // Nothing was consumed by the refused stampings.
    assert_eq!(f.state_of(&authorization).await.0, AuthorizationState::Active);

    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        "anonymous",
        "ListSeals",
        &["Unauthenticated", "not issued by the service's client CA"],
    );
    assert_refusal_recorded(
        &records,
        "anonymous",
        "SignDocument",
        &["Unauthenticated", "not issued by the service's client CA"],
    );
    assert_refusal_recorded(&records, "anonymous", "ListSeals", &["Unauthenticated", "expired"]);
    assert_refusal_recorded(
        &records,
        "anonymous",
        "ListSeals",
        &["Unauthenticated", "not valid yet"],
    );
    assert_refusal_recorded(
        &records,
        "anonymous",
        "ListSeals",
        &["Unauthenticated", "names no principal", stranger_uri],
    );
    assert_refusal_recorded(
        &records,
        "anonymous",
        "ListSeals",
        &["Unauthenticated", "not accepted"],
    );
    assert_refusal_count(&records, 7);
    assert!(
        of_kind(&records, EventKind::DocumentSealed).is_empty(),
        "no refused call sealed anything"
    );
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_without_the_role_are_denied() {
    let mut f = Fixture::start().await;
    let authorization = f.grant("审批-2026-0002").await;
    let document = corpus_bytes("13");

    // An archivist may not seal.
    let mut archivist = f.server.signing(&ClientIdentity::archivist()).await;
    assert_refused(
        sign(
            &mut archivist,
            header(SEAL, &authorization, "archivist-1", "审批-2026-0002"),
            &document,
        )
        .await,
        Code::PermissionDenied,
        &["archivist-zhao does not have the department role for seal approval-ec"],
    );
    // A department may not grant.
    let mut department_admin = f.server.admin(&ClientIdentity::department()).await;
    assert_refused(
        department_admin
            .grant_authorization(grant_request(SEAL, DEPARTMENT, "审批-2026-0002"))
            .await,
        Code::PermissionDenied,
        &["approval-system does not have the custodian role for seal approval-ec"],
    );
    // A custodian may not suspend a seal.
    assert_refused(
        f.custodian
            .suspend_seal(SealTransitionRequest { id: SEAL.into(), reason: "test".into() })
            .await,
        Code::PermissionDenied,
        &["custodian-wang does not have the seal-admin role"],
    );
    // A department of approval-ec only may not seal with housing-rsa.
    let dual = valid_from_tls_ca(DUAL_ROLE, DUAL_ROLE_URI);
    let mut dual_signer = f.server.signing(&dual).await;
    let housing =
        grant(&mut f.custodian, grant_request("housing-rsa", DEPARTMENT, "审批-2026-0003"))
            .await
            .id;
    assert_refused(
        sign(
            &mut dual_signer,
            header("housing-rsa", &housing, "dual-1", "审批-2026-0003"),
            &document,
        )
        .await,
        Code::PermissionDenied,
        &["dual-chen does not have the department role for seal housing-rsa"],
    );
    // The department may not read another department's... it may not revoke either.
    assert_refused(
        department_admin
            .revoke_authorization(RevokeAuthorizationRequest {
                id: authorization.clone(),
                reason: "mine".into(),
            })
            .await,
        Code::PermissionDenied,
        &["approval-system does not have the custodian role for seal approval-ec"],
    );

    // Nothing changed: the seal is active, the authorizations unused.
    let seal =
        f.seal_admin.get_seal(GetSealRequest { id: SEAL.into() }).await.unwrap().into_inner();
    assert_eq!(seal.state, SealState::Active as i32);
    assert_eq!(f.state_of(&authorization).await.0, AuthorizationState::Active);
    assert_eq!(f.state_of(&housing).await.0, AuthorizationState::Active);

    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        "archivist-zhao",
        "SignDocument",
        &["PermissionDenied", "department role for seal approval-ec"],
    );
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "GrantAuthorization",
        &["PermissionDenied", "custodian role"],
    );
    assert_refusal_recorded(
        &records,
        CUSTODIAN,
        "SuspendSeal",
        &["PermissionDenied", "seal-admin role"],
    );
    assert_refusal_recorded(
        &records,
        DUAL_ROLE,
        "SignDocument",
        &["PermissionDenied", "department role for seal housing-rsa"],
    );
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "RevokeAuthorization",
        &["PermissionDenied", "custodian role"],
    );
    assert_refusal_count(&records, 5);
    assert!(of_kind(&records, EventKind::SealSuspended).is_empty());
    assert!(of_kind(&records, EventKind::AuthorizationRevoked).is_empty());
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_authorization_is_refused() {
    let mut f = Fixture::start().await;
    let case = "审批-2026-0010";
    let request =
        GrantAuthorizationRequest { valid_for_seconds: 1, ..grant_request(SEAL, DEPARTMENT, case) };
    let granted = grant(&mut f.custodian, request).await;
    assert_eq!(granted.expires_at - granted.granted_at, 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let status = assert_refused(
        sign(&mut f.department, header(SEAL, &granted.id, "expired-1", case), &corpus_bytes("13"))
            .await,
        Code::FailedPrecondition,
        &[&granted.id, "expired"],
    );
    assert!(
        status.message().contains(&granted.expires_at.to_string()),
        "the message names the expiry: {}",
        status.message()
    );
    let (state, _) = f.state_of(&granted.id).await;
    assert_eq!(state, AuthorizationState::Expired, "shown as expired, not consumed");

    // A validity over the configured maximum is refused at grant time.
    let too_long = GrantAuthorizationRequest {
        valid_for_seconds: 8 * 24 * 3600,
        ..grant_request(SEAL, DEPARTMENT, case)
    };
    assert_refused(
        f.custodian.grant_authorization(too_long).await,
        Code::InvalidArgument,
        &["expiry", "604800"],
    );

    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", &granted.id, "expired"],
    );
    assert_refusal_recorded(
        &records,
        CUSTODIAN,
        "GrantAuthorization",
        &["InvalidArgument", "expiry"],
    );
    assert_refusal_count(&records, 2);
    assert!(of_kind(&records, EventKind::AuthorizationConsumed).is_empty());
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_authorization_is_refused() {
    let mut f = Fixture::start().await;
    let case = "审批-2026-0011";
    let id = f.grant(case).await;
    let revoked = f
        .custodian
        .revoke_authorization(RevokeAuthorizationRequest {
            id: id.clone(),
            reason: "withdrawn".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, AuthorizationState::Revoked as i32);
    assert_eq!(revoked.revoked_by, CUSTODIAN);
    assert_refused(
        sign(&mut f.department, header(SEAL, &id, "revoked-1", case), &corpus_bytes("13")).await,
        Code::FailedPrecondition,
        &[&format!("authorization {id} was revoked by {CUSTODIAN}")],
    );
    // Revoking twice is refused too.
    assert_refused(
        f.custodian
            .revoke_authorization(RevokeAuthorizationRequest {
                id: id.clone(),
                reason: "again".into(),
            })
            .await,
        Code::FailedPrecondition,
        &["revoked"],
    );
    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", "was revoked by custodian-wang"],
    );
    assert_refusal_recorded(
        &records,
        CUSTODIAN,
        "RevokeAuthorization",
        &["FailedPrecondition", "revoked"],
    );
    assert_refusal_count(&records, 2);
    assert_eq!(of_kind(&records, EventKind::AuthorizationRevoked).len(), 1);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_authorization_is_refused() {
    let mut f = Fixture::start().await;
    let case = "审批-2026-0012";
    let id = f.grant(case).await;
    let document = corpus_bytes("13");
    let first = sign(&mut f.department, header(SEAL, &id, "used-1", case), &document)
        .await
        .expect("the first stamping succeeds");
    assert!(!first.receipt.replayed);
    assert_refused(
        sign(&mut f.department, header(SEAL, &id, "used-2", case), &document).await,
        Code::FailedPrecondition,
        &[&format!("authorization {id} was already used (request used-1)")],
    );
    // Revoking a used authorization is refused as well.
    assert_refused(
        f.custodian
            .revoke_authorization(RevokeAuthorizationRequest {
                id: id.clone(),
                reason: "late".into(),
            })
            .await,
        Code::FailedPrecondition,
        &["already used"],
    );
    let (state, a) = f.state_of(&id).await;
    assert_eq!(state, AuthorizationState::Consumed);
    assert_eq!(a.consumed_by_request, "used-1");
    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", "already used (request used-1)"],
    );
    assert_refusal_count(&records, 2);
    assert_eq!(of_kind(&records, EventKind::DocumentSealed).len(), 1);
    assert_eq!(of_kind(&records, EventKind::AuthorizationConsumed).len(), 1);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_is_bound_to_seal_grantee_case_and_document() {
    let mut f = Fixture::start().await;
    let case = "审批-2026-0020";
    let document = corpus_bytes("13");
    let other_document = corpus_bytes("10");
    let digest = sha256(&document);
    let request = GrantAuthorizationRequest {
        document_sha256: digest.to_vec(),
        ..grant_request(SEAL, DEPARTMENT, case)
    };
    let id = grant(&mut f.custodian, request).await.id;

    // Another seal.
    assert_refused(
        sign(&mut f.department, header("housing-rsa", &id, "bind-seal", case), &document).await,
        Code::FailedPrecondition,
        &[&format!("authorization {id} is for seal approval-ec, not housing-rsa")],
    );
    // Another grantee: the second department principal of the test configuration.
    let mut permit =
        f.server.signing(&valid_from_tls_ca(SECOND_DEPARTMENT, SECOND_DEPARTMENT_URI)).await;
    assert_refused(
        sign(&mut permit, header(SEAL, &id, "bind-grantee", case), &document).await,
        Code::FailedPrecondition,
        &[&format!("authorization {id} was granted to approval-system, not permit-system")],
    );
    // Another case number.
    assert_refused(
        sign(&mut f.department, header(SEAL, &id, "bind-case", "审批-2026-9999"), &document).await,
        Code::FailedPrecondition,
        &[&format!("authorization {id} is for case {case}, not 审批-2026-9999")],
    );
    // Another document.
    let other_hex: String = sha256(&other_document).iter().map(|b| format!("{b:02x}")).collect();
    let bound_hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_refused(
        sign(&mut f.department, header(SEAL, &id, "bind-document", case), &other_document).await,
        Code::FailedPrecondition,
        &[&format!("authorization {id} is for another document"), &bound_hex, &other_hex],
    );
    // None of it consumed the authorization: the right request succeeds.
    assert_eq!(f.state_of(&id).await.0, AuthorizationState::Active);
    let sealed = sign(&mut f.department, header(SEAL, &id, "bind-ok", case), &document)
        .await
        .expect("the authorized stamping succeeds");
    assert_eq!(sealed.receipt.seal_id, SEAL);

    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", "is for seal approval-ec, not housing-rsa"],
    );
    assert_refusal_recorded(
        &records,
        SECOND_DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", "was granted to approval-system, not permit-system"],
    );
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", "not 审批-2026-9999"],
    );
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", "is for another document", &other_hex],
    );
    assert_refusal_count(&records, 4);
    let sealed_records = of_kind(&records, EventKind::DocumentSealed);
    assert_eq!(sealed_records.len(), 1);
    assert_eq!(sealed_records[0].event.request_id.as_deref(), Some("bind-ok"));
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_and_revoked_seals_are_refused() {
    let mut f = Fixture::start().await;
    let document = corpus_bytes("13");
    let a = f.grant("审批-2026-0030").await;
    let b = f.grant("审批-2026-0031").await;

    let suspended = f
        .seal_admin
        .suspend_seal(SealTransitionRequest { id: SEAL.into(), reason: "印章送检".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(suspended.state, SealState::Suspended as i32);
    assert_refused(
        sign(&mut f.department, header(SEAL, &a, "suspended-1", "审批-2026-0030"), &document).await,
        Code::FailedPrecondition,
        &["seal approval-ec is suspended"],
    );
    // No new authorizations for a suspended seal either.
    assert_refused(
        f.custodian.grant_authorization(grant_request(SEAL, DEPARTMENT, "审批-2026-0032")).await,
        Code::FailedPrecondition,
        &["seal approval-ec is suspended"],
    );
    // Resumed: the refused attempt consumed nothing, the same authorization works.
    f.seal_admin
        .resume_seal(SealTransitionRequest { id: SEAL.into(), reason: "back".into() })
        .await
        .unwrap();
    sign(&mut f.department, header(SEAL, &a, "suspended-1", "审批-2026-0030"), &document)
        .await
        .expect("works after resuming");

    let revoked = f
        .seal_admin
        .revoke_seal(SealTransitionRequest { id: SEAL.into(), reason: "印章遗失".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, SealState::Revoked as i32);
    assert_refused(
        sign(&mut f.department, header(SEAL, &b, "revoked-seal-1", "审批-2026-0031"), &document)
            .await,
        Code::FailedPrecondition,
        &["seal approval-ec is revoked"],
    );
    // Revoked is for good.
    assert_refused(
        f.seal_admin
            .resume_seal(SealTransitionRequest { id: SEAL.into(), reason: "no".into() })
            .await,
        Code::FailedPrecondition,
        &["revoked"],
    );
    assert_eq!(f.state_of(&b).await.0, AuthorizationState::Active);

    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", "seal approval-ec is suspended"],
    );
    assert_refusal_recorded(
        &records,
        CUSTODIAN,
        "GrantAuthorization",
        &["FailedPrecondition", "seal approval-ec is suspended"],
    );
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["FailedPrecondition", "seal approval-ec is revoked"],
    );
    assert_refusal_recorded(
        &records,
        "seal-admin-li",
        "ResumeSeal",
        &["FailedPrecondition", "revoked"],
    );
    assert_refusal_count(&records, 4);
    assert_eq!(of_kind(&records, EventKind::DocumentSealed).len(), 1);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custodian_may_not_authorize_its_own_stamping() {
    let mut f = Fixture::start().await;
    let dual = valid_from_tls_ca(DUAL_ROLE, DUAL_ROLE_URI);
    let mut dual_admin = f.server.admin(&dual).await;
    // dual-chen is custodian and department of approval-ec: granting to itself is refused.
    assert_refused(
        dual_admin.grant_authorization(grant_request(SEAL, DUAL_ROLE, "审批-2026-0040")).await,
        Code::FailedPrecondition,
        &["dual-chen may not authorize a stamping it requests itself"],
    );
    // Granting to another department is fine (the refusal is about custodian == grantee).
    let granted = grant(&mut dual_admin, grant_request(SEAL, DEPARTMENT, "审批-2026-0040")).await;
    assert_eq!(granted.granted_by, DUAL_ROLE);
    // custodian-wang is no department principal: it cannot be a grantee at all.
    assert_refused(
        f.custodian.grant_authorization(grant_request(SEAL, CUSTODIAN, "审批-2026-0041")).await,
        Code::InvalidArgument,
        &["custodian-wang is not a department principal of seal approval-ec"],
    );
    // And dual-chen is no custodian of housing-rsa.
    assert_refused(
        dual_admin
            .grant_authorization(grant_request("housing-rsa", DEPARTMENT, "审批-2026-0042"))
            .await,
        Code::PermissionDenied,
        &["dual-chen does not have the custodian role for seal housing-rsa"],
    );
    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        DUAL_ROLE,
        "GrantAuthorization",
        &["FailedPrecondition", "may not authorize a stamping it requests itself"],
    );
    assert_refusal_recorded(
        &records,
        CUSTODIAN,
        "GrantAuthorization",
        &["InvalidArgument", "not a department principal"],
    );
    assert_refusal_recorded(
        &records,
        DUAL_ROLE,
        "GrantAuthorization",
        &["PermissionDenied", "housing-rsa"],
    );
    assert_refusal_count(&records, 3);
    assert_eq!(of_kind(&records, EventKind::AuthorizationGranted).len(), 1);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_seals_and_authorizations_are_not_found() {
    let mut f = Fixture::start().await;
    let case = "审批-2026-0050";
    let document = corpus_bytes("13");
    assert_refused(
        sign(&mut f.department, header(SEAL, "auth-does-not-exist", "nf-1", case), &document).await,
        Code::NotFound,
        &["authorization auth-does-not-exist does not exist"],
    );
    let id = f.grant(case).await;
    assert_refused(
        sign(&mut f.department, header("no-such-seal", &id, "nf-2", case), &document).await,
        Code::NotFound,
        &["seal no-such-seal does not exist"],
    );
    assert_refused(
        f.custodian.grant_authorization(grant_request("no-such-seal", DEPARTMENT, case)).await,
        Code::NotFound,
        &["seal no-such-seal does not exist"],
    );
    assert_refused(
        f.seal_admin.get_seal(GetSealRequest { id: "no-such-seal".into() }).await,
        Code::NotFound,
        &["seal no-such-seal does not exist"],
    );
    assert_refused(
        f.custodian
            .get_authorization(GetAuthorizationRequest { id: "auth-does-not-exist".into() })
            .await,
        Code::NotFound,
        &["authorization auth-does-not-exist does not exist"],
    );
    assert_eq!(f.state_of(&id).await.0, AuthorizationState::Active);
    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["NotFound", "authorization auth-does-not-exist"],
    );
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["NotFound", "seal no-such-seal"],
    );
    assert_refusal_recorded(
        &records,
        CUSTODIAN,
        "GrantAuthorization",
        &["NotFound", "seal no-such-seal"],
    );
    assert_refusal_recorded(
        &records,
        "seal-admin-li",
        "GetSeal",
        &["NotFound", "seal no-such-seal"],
    );
    assert_refusal_recorded(
        &records,
        CUSTODIAN,
        "GetAuthorization",
        &["NotFound", "auth-does-not-exist"],
    );
    assert_refusal_count(&records, 5);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_are_invalid_arguments_and_consume_nothing() {
    let mut f = Fixture::start().await;
    let case = "审批-2026-0060";
    let id = f.grant(case).await;

    // Not a PDF at all.
    let status = assert_refused(
        sign(
            &mut f.department,
            header(SEAL, &id, "bad-1", case),
            b"Dear applicant, your permit is granted.\n",
        )
        .await,
        Code::InvalidArgument,
        &[],
    );
    assert!(
        status.message().to_lowercase().contains("pdf"),
        "the message says what is wrong: {}",
        status.message()
    );
    // A truncated PDF (corpus 90).
    let truncated = corpus_bytes("90");
    let status = assert_refused(
        sign(&mut f.department, header(SEAL, &id, "bad-1", case), &truncated).await,
        Code::InvalidArgument,
        &[],
    );
    assert!(!status.message().is_empty());
    // A header and no document.
    assert_refused(
        sign(&mut f.department, header(SEAL, &id, "bad-1", case), b"").await,
        Code::InvalidArgument,
        &["no document was sent"],
    );
    // No header first.
    let chunks = vec![SignDocumentRequest { part: Some(Part::Chunk(corpus_bytes("13"))) }];
    assert_refused(
        f.department.sign_document(tokio_stream::iter(chunks)).await,
        Code::InvalidArgument,
        &["the first message must be the header"],
    );
    // A placement off the document.
    let mut off_page = header(SEAL, &id, "bad-1", case);
    off_page.placement.as_mut().unwrap().page = 99;
    assert_refused(
        sign(&mut f.department, off_page, &corpus_bytes("13")).await,
        Code::InvalidArgument,
        &[],
    );
    // An empty request id.
    assert_refused(
        sign(&mut f.department, header(SEAL, &id, " ", case), &corpus_bytes("13")).await,
        Code::InvalidArgument,
        &["request_id"],
    );
    // An answer form this server does not know.
    let unknown_answer = SignHeader { returned_bytes: 7, ..header(SEAL, &id, "bad-1", case) };
    assert_refused(
        sign(&mut f.department, unknown_answer, &corpus_bytes("13")).await,
        Code::InvalidArgument,
        &["returned_bytes 7", "the update only"],
    );

    // Nothing consumed, no stamping recorded for "bad-1": the same request id and authorization
    // now seal a good document.
    let (state, a) = f.state_of(&id).await;
    assert_eq!(state, AuthorizationState::Active);
    assert!(a.consumed_by_request.is_empty());
    let sealed = sign(&mut f.department, header(SEAL, &id, "bad-1", case), &corpus_bytes("13"))
        .await
        .expect("a valid stamping after the failed ones");
    assert!(!sealed.receipt.replayed, "the failed attempts left no stamping to replay");

    let records = f.audit().await;
    let refusals: Vec<_> = of_kind(&records, EventKind::CallRefused)
        .into_iter()
        .filter(|r| {
            r.event.method.as_deref() == Some("SignDocument")
                && r.event.reason.as_deref().is_some_and(|s| s.starts_with("InvalidArgument"))
        })
        .collect();
    assert_eq!(refusals.len(), 7, "each bad request is recorded: {refusals:#?}");
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["InvalidArgument", "no document was sent"],
    );
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["InvalidArgument", "the first message must be the header"],
    );
    assert_refusal_count(&records, 7);
    assert_eq!(of_kind(&records, EventKind::AuthorizationConsumed).len(), 1);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_document_is_resource_exhausted() {
    let mut f = Fixture::start_with(|c| c.server.max_document_bytes = 100_000).await;
    let case = "审批-2026-0070";
    let id = f.grant(case).await;
    let large = corpus_bytes("01");
    assert!(large.len() > 100_000);
    assert_refused(
        sign(&mut f.department, header(SEAL, &id, "large-1", case), &large).await,
        Code::ResourceExhausted,
        &["100000 bytes", "max_document_bytes"],
    );
    assert_eq!(
        f.state_of(&id).await.0,
        AuthorizationState::Active,
        "a refused upload consumes nothing"
    );
    // Under the limit: fine, with the same authorization.
    let small = corpus_bytes("13");
    assert!(small.len() < 100_000);
    sign(&mut f.department, header(SEAL, &id, "large-2", case), &small)
        .await
        .expect("a document under the limit is sealed");
    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["ResourceExhausted", "100000 bytes"],
    );
    assert_refusal_count(&records, 1);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_each_callers_own() {
    let mut f = Fixture::start().await;
    let first = f.grant("审批-2026-0080").await;
    let second = f.grant("审批-2026-0081").await;
    let document = corpus_bytes("13");
    let sealed =
        sign(&mut f.department, header(SEAL, &first, "rid-1", "审批-2026-0080"), &document)
            .await
            .expect("first stamping");
    assert_refused(
        sign(
            &mut f.department,
            header(SEAL, &second, "rid-1", "审批-2026-0081"),
            &corpus_bytes("10"),
        )
        .await,
        Code::AlreadyExists,
        &["request_id rid-1 was already used by you"],
    );
    // Another caller's request ids are its own: the same id, even with the same document,
    // is a stamping of its own, and tells nothing of the first caller's.
    let permit_grant =
        grant(&mut f.custodian, grant_request(SEAL, SECOND_DEPARTMENT, "审批-2026-0082")).await.id;
    let mut permit =
        f.server.signing(&valid_from_tls_ca(SECOND_DEPARTMENT, SECOND_DEPARTMENT_URI)).await;
    let theirs =
        sign(&mut permit, header(SEAL, &permit_grant, "rid-1", "审批-2026-0082"), &document)
            .await
            .expect("another caller's rid-1");
    assert!(!theirs.receipt.replayed);
    assert_ne!(
        theirs.receipt.output_sha256, sealed.receipt.output_sha256,
        "a stamping of its own, not the first caller's"
    );
    // Each replays its own, byte for byte.
    let again = sign(&mut f.department, header(SEAL, &first, "rid-1", "审批-2026-0080"), &document)
        .await
        .expect("replay");
    assert!(again.receipt.replayed);
    assert_eq!(again.document, sealed.document);
    let theirs_again =
        sign(&mut permit, header(SEAL, &permit_grant, "rid-1", "审批-2026-0082"), &document)
            .await
            .expect("their replay");
    assert!(theirs_again.receipt.replayed);
    assert_eq!(theirs_again.document, theirs.document);
    assert_eq!(f.state_of(&second).await.0, AuthorizationState::Active);
    assert_eq!(f.state_of(&permit_grant).await.0, AuthorizationState::Consumed);
    let records = f.audit().await;
    assert_refusal_recorded(&records, DEPARTMENT, "SignDocument", &["AlreadyExists", "rid-1"]);
    assert_refusal_count(&records, 1);
    assert_eq!(of_kind(&records, EventKind::DocumentSealed).len(), 2);
    f.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer_over_mtls() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mut f = Fixture::start().await;
    let channel = f.server.channel(Some(&ClientIdentity::archivist())).await;
    let mut health = HealthClient::new(channel.clone());
    for service in
        ["", "eseal.v1.SigningService", "eseal.v1.SealAdminService", "eseal.v1.VerificationService"]
    {
        let answer = health
            .check(HealthCheckRequest { service: service.into() })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"));
        assert_eq!(
            answer.into_inner().status,
            ServingStatus::Serving as i32,
            "{service:?} is serving"
        );
    }
    assert_refused(
        health.check(HealthCheckRequest { service: "eseal.v1.Nothing".into() }).await,
        Code::NotFound,
        &[],
    );

    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let answer = answers.message().await.expect("a reflection answer").expect("one message");
    let services: Vec<String> = match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("expected a service list, got {other:?}"),
    };
    for expected in [
        "eseal.v1.SigningService",
        "eseal.v1.SealAdminService",
        "eseal.v1.VerificationService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "reflection lists {expected}: {services:?}"
        );
    }
    // The descriptor of the signing service can be fetched (what grpcurl does next).
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "eseal.v1.SigningService".into(),
        )),
    };
    let mut answers =
        ServerReflectionClient::new(f.server.channel(Some(&ClientIdentity::archivist())).await)
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .unwrap()
            .into_inner();
    match answers.message().await.unwrap().unwrap().message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => {
            assert!(!files.file_descriptor_proto.is_empty())
        }
        other => panic!("expected file descriptors, got {other:?}"),
    }

    // With a certificate naming no principal, or a foreign one, neither answers, and the
    // refusals are in the audit trail by the time the caller has its answer.
    let stranger = valid_from_tls_ca("stranger", "spiffe://eseal.example/stranger");
    let mut stranger_health = HealthClient::new(f.server.channel(Some(&stranger)).await);
    assert_refused(
        stranger_health.check(HealthCheckRequest { service: String::new() }).await,
        Code::Unauthenticated,
        &["names no principal"],
    );
    let foreign =
        from_foreign_ca("Some Other CA", "archivist-zhao", "spiffe://eseal.example/archivist/zhao");
    let mut foreign_reflection =
        ServerReflectionClient::new(f.server.channel(Some(&foreign)).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    assert_refused(
        foreign_reflection.server_reflection_info(tokio_stream::iter(vec![request])).await,
        Code::Unauthenticated,
        &["not issued by the service's client CA"],
    );
    let records = f.audit().await;
    assert_refusal_recorded(
        &records,
        "anonymous",
        "Health.Check",
        &["Unauthenticated", "names no principal"],
    );
    assert_refusal_recorded(
        &records,
        "anonymous",
        "ServerReflectionInfo",
        &["Unauthenticated", "not issued by the service's client CA"],
    );
    // The health check of an unknown service (NOT_FOUND above) is the health service's own
    // answer, not a refusal of the caller.
    assert_refusal_count(&records, 2);
    f.server.stop().await;
}
