//! Callers who send what no honest client would: oversized fields, megabyte ids, another seal's
//! key, reads they have no role for. A real server on loopback with real mTLS and a real SQLite
//! file. Each refusal is checked for its status, its message, its audit record, and that
//! nothing changed.

mod common;

use common::service::*;
use eseal_audit::{AuditEvent, AuditRecord, EventKind};
use eseal_service::api::proto::audit_service_client::AuditServiceClient;
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::verification_service_client::VerificationServiceClient;
use eseal_service::api::proto::{
    ExportArchiveRequest, GetAuthorizationRequest, GetCheckpointRequest,
    GetConsistencyProofRequest, GetInclusionProofRequest, GetRecordsRequest, GetSealRequest,
    ListAuthorizationsRequest, ListSealsRequest, RegisterSealRequest, SealState,
    SealTransitionRequest, VerifyDocumentRequest,
};
use tonic::Code;
use tonic::transport::Channel;

const SEAL: &str = "approval-ec";
const DEPARTMENT: &str = "approval-system";
const CUSTODIAN: &str = "custodian-wang";
const SEAL_ADMIN: &str = "seal-admin-li";
const ARCHIVIST: &str = "archivist-zhao";

/// The refusals recorded.
fn refusals(records: &[AuditRecord]) -> Vec<&AuditRecord> {
    of_kind(records, EventKind::CallRefused)
}

/// Every record is small whatever the callers sent: no field over 256 bytes and an ellipsis,
/// no reason over 1 KiB and an ellipsis.
#[track_caller]
fn assert_records_bounded(records: &[AuditRecord]) {
    for r in records {
        let e = &r.event;
        for field in
            [&e.seal_id, &e.authorization_id, &e.request_id, &e.case_number].into_iter().flatten()
        {
            assert!(
                field.len() <= 256 + "…".len(),
                "record {}: a field of {} bytes",
                r.sequence,
                field.len()
            );
        }
        if let Some(reason) = &e.reason {
            assert!(
                reason.len() <= 1024 + "…".len(),
                "record {}: a reason of {} bytes",
                r.sequence,
                reason.len()
            );
        }
        assert!(
            r.to_canonical_json().len() < 8 * 1024,
            "record {} is {} bytes",
            r.sequence,
            r.to_canonical_json().len()
        );
    }
}

/// `eseal audit verify` through the server, after a checkpoint is signed.
async fn assert_log_verifies_through_the_server(server: &TestServer) {
    let mut audit =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::archivist())).await);
    audit.get_checkpoint(GetCheckpointRequest { sign_now: true }).await.expect("a checkpoint");
    let verify = eseal(server.address.port(), &["audit", "verify", "--log-key", &vkey()]);
    assert!(
        verify.status.success() && text(&verify).contains("the log verifies"),
        "{}",
        text(&verify)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_fields_are_refused_first_and_recorded_clipped() {
    let mut server = TestServer::start().await;
    let mut department = server.admin(&ClientIdentity::department()).await;
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let mut seal_admin = server.admin(&ClientIdentity::seal_admin()).await;
    let before = server.audit().await.len();

    // A 100 KB seal id: the answer names the field and its size, and stays a short message
    // (quoting the id would exceed the client's metadata limit: RESOURCE_EXHAUSTED).
    let huge = "x".repeat(100_000);
    let status = assert_refused(
        department.get_seal(GetSealRequest { id: huge.clone() }).await,
        Code::InvalidArgument,
        &["id is 100000 bytes long", "at most 64"],
    );
    assert!(status.message().len() < 200, "{}", status.message());
    // Before any role check: a seal administrator gets the same.
    assert_refused(
        seal_admin.get_seal(GetSealRequest { id: huge.clone() }).await,
        Code::InvalidArgument,
        &["id is 100000 bytes long"],
    );

    // A 4 MiB seal id in a stamping header: refused before any upload or lookup.
    let mut signing = server.signing(&ClientIdentity::department()).await;
    let megabytes = "s".repeat(4 << 20);
    let status = assert_refused(
        sign(&mut signing, header(&megabytes, "auth-x", "big-1", "审批-1"), &corpus_bytes("13"))
            .await,
        Code::InvalidArgument,
        &["seal_id is 4194304 bytes long"],
    );
    assert!(status.message().len() < 200);

    // A 100 KB reason to suspend: refused, and the seal stays active.
    let status = seal_admin
        .suspend_seal(SealTransitionRequest { id: SEAL.into(), reason: "r".repeat(100_000) })
        .await;
    assert_refused(status, Code::InvalidArgument, &["reason is 100000 bytes long", "at most 1024"]);
    assert_eq!(
        seal_admin.get_seal(GetSealRequest { id: SEAL.into() }).await.unwrap().into_inner().state,
        SealState::Active as i32
    );

    // A 10 KB case number: no authorization is granted.
    let refused =
        custodian.grant_authorization(grant_request(SEAL, DEPARTMENT, &"案".repeat(4_000))).await;
    assert_refused(refused, Code::InvalidArgument, &["case_number is 12000 bytes long"]);
    let listed = custodian
        .list_authorizations(ListAuthorizationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.authorizations.is_empty());

    // Too many custodians for a seal: nothing registered.
    let crowd = RegisterSealRequest {
        id: "crowded".into(),
        custodians: vec![CUSTODIAN.into(); 33],
        ..Default::default()
    };
    assert_refused(
        seal_admin.register_seal(crowd).await,
        Code::InvalidArgument,
        &["custodians has 33 entries"],
    );
    assert_eq!(
        seal_admin.get_seal(GetSealRequest { id: "crowded".into() }).await.unwrap_err().code(),
        Code::NotFound
    );

    // A name at the bound is shown in full when it is ordinary text; one with control
    // characters is shown escaped.
    let status = assert_refused(
        seal_admin.get_seal(GetSealRequest { id: "n".repeat(64) }).await,
        Code::NotFound,
        &[&"n".repeat(64)],
    );
    assert!(!status.message().contains('"'), "{}", status.message());
    let status = assert_refused(
        seal_admin.get_seal(GetSealRequest { id: "a\u{1b}[2J".into() }).await,
        Code::NotFound,
        &[r#""a\u{1b}[2J""#],
    );
    assert!(!status.message().contains('\u{1b}'));

    let records = server.audit().await;
    assert_records_bounded(&records);
    let refused = refusals(&records);
    assert_eq!(refused.len(), 9, "one record per refusal");
    assert_eq!(records.len(), before + 9, "and nothing else: {:#?}", &records[before..]);
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "GetSeal",
        &["InvalidArgument", "id is 100000 bytes long"],
    );
    assert_refusal_recorded(
        &records,
        DEPARTMENT,
        "SignDocument",
        &["InvalidArgument", "seal_id is 4194304 bytes long"],
    );
    assert_refusal_recorded(
        &records,
        SEAL_ADMIN,
        "SuspendSeal",
        &["InvalidArgument", "reason is 100000 bytes long"],
    );
    assert_refusal_recorded(
        &records,
        CUSTODIAN,
        "GrantAuthorization",
        &["InvalidArgument", "case_number"],
    );
    // The subject is recorded, clipped.
    let big = refused.iter().find(|r| r.event.method.as_deref() == Some("SignDocument")).unwrap();
    assert_eq!(big.event.seal_id.as_deref(), Some(format!("{}…", "s".repeat(256)).as_str()));
    assert_log_verifies_through_the_server(&server).await;
    server.stop().await;
}

/// Records as large as an older release let callers write (a megabyte reason each), in the log
/// before the service starts: GetRecords answers them a few at a time, every answer within
/// gRPC's default 4 MiB, and `eseal audit verify` pages through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_records_pages_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eseal.db");
    let origin = dev_config(dir.path()).store.audit_origin;
    let store = eseal_service::store::SqliteStore::open(&db, &origin).await.unwrap();
    for i in 0..10 {
        let mut event = AuditEvent::new(EventKind::CallRefused, "anonymous");
        event.method = Some("GetSeal".into());
        event.reason = Some(format!("{i}: {}", "m".repeat(1 << 20)));
        eseal_service::store::Store::append_audit(&store, event, 1_700_000_000 + i).await.unwrap();
    }
    store.close().await;
    let mut server = TestServer::start_with(|c| c.store.sqlite_path = db.clone()).await;
    let mut audit =
        AuditServiceClient::new(server.channel(Some(&ClientIdentity::archivist())).await);

    let mut sequences = Vec::new();
    let mut pages = 0;
    loop {
        let from = sequences.len() as u64 + 1;
        // The client keeps tonic's default 4 MiB decoding limit: each answer fits it.
        let page = audit
            .get_records(GetRecordsRequest { from_sequence: from, limit: 10_000 })
            .await
            .expect("a page within 4 MiB")
            .into_inner();
        if page.records.is_empty() {
            assert_eq!(sequences.len() as u64, page.log_size);
            break;
        }
        let bytes: usize = page.records.iter().map(|r| r.record.len()).sum();
        assert!(
            page.records.len() == 1 || bytes <= 3 << 20,
            "{} records, {bytes} bytes",
            page.records.len()
        );
        sequences.extend(page.records.iter().map(|r| r.sequence));
        pages += 1;
    }
    assert_eq!(
        sequences,
        (1..=sequences.len() as u64).collect::<Vec<_>>(),
        "every record once, in order"
    );
    assert!(sequences.len() >= 12, "the ten large records and the seeds");
    assert!(pages >= 4, "ten megabyte records take several pages: {pages}");
    assert_log_verifies_through_the_server(&server).await;
    server.stop().await;
}

/// The register request of approval-ec's own key and certificate under another id.
fn approval_ec_again(id: &str) -> RegisterSealRequest {
    let chain = std::fs::read(keys().join("seal-approval-ec-chain.pem")).unwrap();
    RegisterSealRequest {
        id: id.into(),
        name: "复刻专用章".into(),
        organization: "示例市行政审批局".into(),
        kind: "行政审批专用章".into(),
        image_png: std::fs::read(keys().join("seal-approval-ec.png")).unwrap(),
        certificate_chain: x509_parser::pem::Pem::iter_from_buffer(&chain)
            .map(|p| p.unwrap().contents)
            .collect(),
        key_reference: "seal-approval-ec.pk8".into(),
        custodians: vec![CUSTODIAN.into()],
        valid_from: 0,
        valid_until: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_seals_key_is_never_registered_again() {
    let mut server = TestServer::start().await;
    let mut seal_admin = server.admin(&ClientIdentity::seal_admin()).await;
    // Active: its key cannot serve a second seal.
    let refused = seal_admin.register_seal(approval_ec_again("approval-ec-copy")).await;
    assert_refused(
        refused,
        Code::FailedPrecondition,
        &["key reference is already registered to seal approval-ec"],
    );
    // Revoked: still not.
    seal_admin
        .revoke_seal(SealTransitionRequest { id: SEAL.into(), reason: "密钥泄露".into() })
        .await
        .expect("revoke");
    let refused = seal_admin.register_seal(approval_ec_again("approval-ec-2")).await;
    assert_refused(
        refused,
        Code::FailedPrecondition,
        &["key reference is already registered to seal approval-ec"],
    );

    // The registry is unchanged: the two seeds, approval-ec revoked.
    let seals = seal_admin.list_seals(ListSealsRequest {}).await.unwrap().into_inner().seals;
    assert_eq!(
        seals.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["approval-ec", "housing-rsa"]
    );
    assert_eq!(seals[0].state, SealState::Revoked as i32);
    // And no stamping is possible with the key under any id.
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let refused =
        custodian.grant_authorization(grant_request("approval-ec-2", DEPARTMENT, "审批-9")).await;
    assert_refused(refused, Code::NotFound, &["seal approval-ec-2 does not exist"]);

    let records = server.audit().await;
    assert_refusal_recorded(
        &records,
        SEAL_ADMIN,
        "RegisterSeal",
        &["FailedPrecondition", "registered to seal approval-ec"],
    );
    assert_eq!(
        refusals(&records)
            .iter()
            .filter(|r| r.event.method.as_deref() == Some("RegisterSeal"))
            .count(),
        2
    );
    assert_eq!(of_kind(&records, EventKind::SealRegistered).len(), 2, "the seeds only");
    assert_log_verifies_through_the_server(&server).await;
    server.stop().await;
}

/// The identities of the read tests: every role, and the test-only principals.
struct Callers {
    department: SealAdminServiceClient<Channel>,
    custodian: SealAdminServiceClient<Channel>,
    seal_admin: SealAdminServiceClient<Channel>,
    archivist: SealAdminServiceClient<Channel>,
    permit: SealAdminServiceClient<Channel>,
    dual: SealAdminServiceClient<Channel>,
}

impl Callers {
    async fn new(server: &TestServer) -> Callers {
        Callers {
            department: server.admin(&ClientIdentity::department()).await,
            custodian: server.admin(&ClientIdentity::custodian()).await,
            seal_admin: server.admin(&ClientIdentity::seal_admin()).await,
            archivist: server.admin(&ClientIdentity::archivist()).await,
            permit: server
                .admin(&valid_from_tls_ca(SECOND_DEPARTMENT, SECOND_DEPARTMENT_URI))
                .await,
            dual: server.admin(&valid_from_tls_ca(DUAL_ROLE, DUAL_ROLE_URI)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seal_reads_follow_their_roles() {
    let mut server = TestServer::start().await;
    let mut c = Callers::new(&server).await;
    let get = async |client: &mut SealAdminServiceClient<Channel>, id: &str| {
        client.get_seal(GetSealRequest { id: id.into() }).await.map(|r| r.into_inner())
    };

    // GetSeal: a role for the seal (department, custodian), or seal-admin.
    for (who, client) in [
        ("department", &mut c.department),
        ("custodian", &mut c.custodian),
        ("seal-admin", &mut c.seal_admin),
        ("permit", &mut c.permit),
    ] {
        let seal = get(client, SEAL).await.unwrap_or_else(|e| panic!("{who}: {e:?}"));
        assert_eq!(seal.key_reference, "seal-approval-ec.pk8", "{who}");
        assert!(seal.custodians.contains(&CUSTODIAN.to_string()), "{who}");
    }
    assert_eq!(
        get(&mut c.dual, SEAL)
            .await
            .expect("dual-chen: department and custodian of approval-ec")
            .id,
        SEAL
    );
    assert_refused(
        get(&mut c.archivist, SEAL).await,
        Code::PermissionDenied,
        &["archivist-zhao does not have", "for seal approval-ec"],
    );
    assert_refused(
        get(&mut c.dual, "housing-rsa").await,
        Code::PermissionDenied,
        &["dual-chen does not have", "for seal housing-rsa"],
    );
    // Refused before the lookup: an unknown seal is refused alike (nothing learnt of which exist).
    assert_refused(
        get(&mut c.archivist, "no-such-seal").await,
        Code::PermissionDenied,
        &["for seal no-such-seal"],
    );

    // ListSeals: every seal for anyone; the key reference and custodians only where GetSeal
    // would show them.
    let list = async |client: &mut SealAdminServiceClient<Channel>| {
        client.list_seals(ListSealsRequest {}).await.unwrap().into_inner().seals
    };
    let archivist = list(&mut c.archivist).await;
    assert_eq!(archivist.len(), 2);
    for seal in &archivist {
        assert!(
            seal.key_reference.is_empty() && seal.custodians.is_empty(),
            "{}: {seal:?}",
            seal.id
        );
        assert!(
            !seal.certificate_chain.is_empty()
                && !seal.certificate_sha256.is_empty()
                && !seal.name.is_empty()
        );
    }
    let dual = list(&mut c.dual).await;
    let by_id = |seals: &[eseal_service::api::proto::Seal], id: &str| {
        seals.iter().find(|s| s.id == id).cloned().unwrap()
    };
    assert_eq!(by_id(&dual, SEAL).key_reference, "seal-approval-ec.pk8");
    assert!(by_id(&dual, "housing-rsa").key_reference.is_empty());
    for seal in list(&mut c.seal_admin).await {
        assert!(!seal.key_reference.is_empty() && !seal.custodians.is_empty(), "{}", seal.id);
    }

    let records = server.audit().await;
    assert_refusal_recorded(&records, ARCHIVIST, "GetSeal", &["PermissionDenied", "approval-ec"]);
    assert_refusal_recorded(&records, DUAL_ROLE, "GetSeal", &["PermissionDenied", "housing-rsa"]);
    let refused = refusals(&records);
    assert_eq!(refused.len(), 3, "one record per refusal, none for the reads allowed");
    assert!(refused.iter().any(|r| r.event.seal_id.as_deref() == Some("no-such-seal")));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_reads_follow_their_roles() {
    let mut server = TestServer::start().await;
    let mut c = Callers::new(&server).await;
    let mine = grant(&mut c.custodian, grant_request(SEAL, DEPARTMENT, "审批-2026-0101")).await.id;
    let permits =
        grant(&mut c.custodian, grant_request(SEAL, SECOND_DEPARTMENT, "审批-2026-0102")).await.id;
    let housing =
        grant(&mut c.custodian, grant_request("housing-rsa", DEPARTMENT, "住建-2026-0103"))
            .await
            .id;

    // GetAuthorization: custodians of its seal, its grantee, archivists.
    let get = async |client: &mut SealAdminServiceClient<Channel>, id: &str| {
        client.get_authorization(GetAuthorizationRequest { id: id.into() }).await
    };
    for client in [&mut c.custodian, &mut c.permit, &mut c.archivist, &mut c.dual] {
        assert_eq!(
            get(client, &permits).await.expect("allowed").into_inner().grantee,
            SECOND_DEPARTMENT
        );
    }
    assert_refused(
        get(&mut c.department, &permits).await,
        Code::PermissionDenied,
        &["approval-system does not have the custodian role"],
    );
    assert_refused(
        get(&mut c.seal_admin, &permits).await,
        Code::PermissionDenied,
        &["seal-admin-li does not have the custodian role"],
    );
    assert_refused(
        get(&mut c.dual, &housing).await,
        Code::PermissionDenied,
        &["for seal housing-rsa"],
    );

    // ListAuthorizations: archivists and custodians of every seal see all; a custodian of the
    // filtered seal sees its; departments see their own whatever they filter on; others none.
    let ids = async |client: &mut SealAdminServiceClient<Channel>,
                     request: ListAuthorizationsRequest| {
        let answer = client.list_authorizations(request).await?.into_inner();
        let mut ids: Vec<String> = answer.authorizations.into_iter().map(|a| a.id).collect();
        ids.sort();
        Ok::<_, tonic::Status>(ids)
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    let all = sorted(vec![&mine, &permits, &housing]);
    assert_eq!(ids(&mut c.archivist, ListAuthorizationsRequest::default()).await.unwrap(), all);
    assert_eq!(ids(&mut c.custodian, ListAuthorizationsRequest::default()).await.unwrap(), all);
    let of_seal = ListAuthorizationsRequest { seal_id: SEAL.into(), ..Default::default() };
    assert_eq!(
        ids(&mut c.dual, of_seal.clone()).await.unwrap(),
        sorted(vec![&mine, &permits]),
        "custodian of approval-ec"
    );
    assert_eq!(
        ids(&mut c.department, ListAuthorizationsRequest::default()).await.unwrap(),
        sorted(vec![&mine, &housing])
    );
    let theirs =
        ListAuthorizationsRequest { grantee: SECOND_DEPARTMENT.into(), ..Default::default() };
    assert_eq!(
        ids(&mut c.department, theirs).await.unwrap(),
        sorted(vec![&mine, &housing]),
        "a department's filter cannot widen"
    );
    assert_eq!(ids(&mut c.permit, of_seal.clone()).await.unwrap(), vec![permits.clone()]);
    let housing_only =
        ListAuthorizationsRequest { seal_id: "housing-rsa".into(), ..Default::default() };
    assert_eq!(
        ids(&mut c.dual, housing_only).await.unwrap(),
        Vec::<String>::new(),
        "dual-chen's own, of housing-rsa: none"
    );
    assert_refused(
        ids(&mut c.seal_admin, ListAuthorizationsRequest::default()).await,
        Code::PermissionDenied,
        &["seal-admin-li does not have the custodian role"],
    );
    assert_refused(
        ids(
            &mut c.archivist,
            ListAuthorizationsRequest { page_token: "not-a-token".into(), ..Default::default() },
        )
        .await,
        Code::InvalidArgument,
        &["page_token"],
    );
    assert_refused(
        ids(&mut c.archivist, ListAuthorizationsRequest { page_size: 1001, ..Default::default() })
            .await,
        Code::InvalidArgument,
        &["1000"],
    );

    let records = server.audit().await;
    assert_refusal_recorded(&records, DEPARTMENT, "GetAuthorization", &["PermissionDenied"]);
    assert_refusal_recorded(&records, SEAL_ADMIN, "GetAuthorization", &["PermissionDenied"]);
    assert_refusal_recorded(
        &records,
        DUAL_ROLE,
        "GetAuthorization",
        &["PermissionDenied", "housing-rsa"],
    );
    assert_refusal_recorded(&records, SEAL_ADMIN, "ListAuthorizations", &["PermissionDenied"]);
    assert_refusal_recorded(
        &records,
        ARCHIVIST,
        "ListAuthorizations",
        &["InvalidArgument", "page_token"],
    );
    assert_eq!(refusals(&records).len(), 6);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reads_are_for_archivists() {
    let mut server = TestServer::start().await;
    let archivist = server.channel(Some(&ClientIdentity::archivist())).await;
    let mut audit = AuditServiceClient::new(archivist);
    let checkpoint = audit
        .get_checkpoint(GetCheckpointRequest { sign_now: true })
        .await
        .expect("archivist: GetCheckpoint")
        .into_inner();
    audit
        .get_records(GetRecordsRequest { from_sequence: 1, limit: 0 })
        .await
        .expect("archivist: GetRecords");
    audit
        .get_inclusion_proof(GetInclusionProofRequest { sequence: 1, tree_size: 0 })
        .await
        .expect("archivist: GetInclusionProof");
    let consistency = GetConsistencyProofRequest { old_size: checkpoint.size, new_size: 0 };
    audit.get_consistency_proof(consistency).await.expect("archivist: GetConsistencyProof");

    let others = [
        (DEPARTMENT, ClientIdentity::department()),
        (CUSTODIAN, ClientIdentity::custodian()),
        (SEAL_ADMIN, ClientIdentity::seal_admin()),
    ];
    for (name, identity) in &others {
        let mut client = AuditServiceClient::new(server.channel(Some(identity)).await);
        let words: &[&str] = &["does not have the archivist role"];
        assert_refused(
            client.get_checkpoint(GetCheckpointRequest { sign_now: true }).await,
            Code::PermissionDenied,
            words,
        );
        assert_refused(
            client.get_records(GetRecordsRequest { from_sequence: 1, limit: 0 }).await,
            Code::PermissionDenied,
            words,
        );
        assert_refused(
            client
                .get_inclusion_proof(GetInclusionProofRequest { sequence: 1, tree_size: 0 })
                .await,
            Code::PermissionDenied,
            words,
        );
        assert_refused(
            client.get_consistency_proof(consistency).await,
            Code::PermissionDenied,
            words,
        );
        let export =
            ExportArchiveRequest { from_time: 0, to_time: i64::MAX, previous_tree_size: 0 };
        assert_refused(
            client.export_archive(export).await.map(|_| ()),
            Code::PermissionDenied,
            words,
        );
        let records = server.audit().await;
        for method in [
            "GetCheckpoint",
            "GetRecords",
            "GetInclusionProof",
            "GetConsistencyProof",
            "ExportArchive",
        ] {
            assert_refusal_recorded(&records, name, method, &["PermissionDenied", "archivist"]);
        }
    }
    let records = server.audit().await;
    assert_eq!(refusals(&records).len(), 15, "five reads refused to each of three principals");
    assert_eq!(
        of_kind(&records, EventKind::CheckpointSigned).len(),
        1,
        "the refused sign_now signed nothing"
    );
    server.stop().await;
}

/// VerifyDocument with `document` in 64 KiB chunks.
async fn verify(
    server: &TestServer,
    identity: &ClientIdentity,
    document: &[u8],
) -> Result<eseal_service::api::proto::VerifyDocumentResponse, tonic::Status> {
    let mut client = VerificationServiceClient::new(server.channel(Some(identity)).await);
    let chunks: Vec<VerifyDocumentRequest> =
        document.chunks(64 * 1024).map(|c| VerifyDocumentRequest { chunk: c.to_vec() }).collect();
    client.verify_document(tokio_stream::iter(chunks)).await.map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_document_refusals() {
    let mut server = TestServer::start_with(|c| c.server.max_document_bytes = 200_000).await;
    let document = corpus_bytes("13");
    assert!(document.len() < 200_000, "the corpus file fits the limit");
    let report = verify(&server, &ClientIdentity::archivist(), &document)
        .await
        .expect("an archivist verifies");
    assert_eq!(report.document_sha256, sha256(&document).to_vec());

    for identity in
        [ClientIdentity::department(), ClientIdentity::custodian(), ClientIdentity::seal_admin()]
    {
        assert_refused(
            verify(&server, &identity, &document).await,
            Code::PermissionDenied,
            &["does not have the archivist role"],
        );
    }
    let mut large = document.clone();
    large.resize(200_001, b' ');
    assert_refused(
        verify(&server, &ClientIdentity::archivist(), &large).await,
        Code::ResourceExhausted,
        &["200000 bytes"],
    );
    assert_refused(
        verify(&server, &ClientIdentity::archivist(), b"plain text, not a PDF").await,
        Code::InvalidArgument,
        &["cannot be verified"],
    );

    let records = server.audit().await;
    for name in [DEPARTMENT, CUSTODIAN, SEAL_ADMIN] {
        assert_refusal_recorded(
            &records,
            name,
            "VerifyDocument",
            &["PermissionDenied", "archivist"],
        );
    }
    assert_refusal_recorded(
        &records,
        ARCHIVIST,
        "VerifyDocument",
        &["ResourceExhausted", "max_document_bytes"],
    );
    assert_refusal_recorded(
        &records,
        ARCHIVIST,
        "VerifyDocument",
        &["InvalidArgument", "cannot be verified"],
    );
    assert_eq!(refusals(&records).len(), 5);
    server.stop().await;
}
