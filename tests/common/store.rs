//! Fixtures of the store tests: a store on a real SQLite file, seals, authorizations and
//! stampings with plausible values, and the one way a stamping is committed.

use std::path::Path;

use eseal::audit::{AuditEvent, EventKind};
use eseal::policy::{Authorization, AuthorizationState};
use eseal::seal::{Seal, SealState};
use eseal::store::{SqliteStore, StampingRecord, Store, StoreError};

/// The log origin of the test stores.
pub const ORIGIN: &str = "eseal.test/audit";

pub async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("eseal.db"), ORIGIN).await.expect("open the store")
}

pub fn seal(id: &str) -> Seal {
    Seal {
        id: id.into(),
        name: "示例市行政审批局行政审批专用章".into(),
        organization: "示例市行政审批局".into(),
        kind: "行政审批专用章".into(),
        image_png: vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3],
        certificate_chain: vec![vec![0x30, 0x82, 0x01, 0x0a, 9, 9, 9], vec![0x30; 700], vec![]],
        key_reference: format!("{id}.key"),
        custodians: vec!["wang".into(), "li".into(), "zhao".into()],
        valid_from: 1_700_000_000,
        valid_until: 1_900_000_000,
        state: SealState::Active,
        registered_at: 1_750_000_000,
    }
}

pub fn authorization(id: &str, seal_id: &str, grantee: &str, granted_at: i64, expires_at: i64) -> Authorization {
    Authorization {
        id: id.into(),
        seal_id: seal_id.into(),
        grantee: grantee.into(),
        granted_by: "wang".into(),
        case_number: format!("审批-2026-{id}"),
        document_sha256: None,
        granted_at,
        expires_at,
        state: AuthorizationState::Active,
    }
}

pub fn stamping(request_id: &str, auth: &Authorization) -> StampingRecord {
    let mut cms = b"cms for ".to_vec();
    cms.extend_from_slice(request_id.as_bytes());
    StampingRecord {
        request_id: request_id.into(),
        principal: auth.grantee.clone(),
        seal_id: auth.seal_id.clone(),
        authorization_id: auth.id.clone(),
        case_number: auth.case_number.clone(),
        input_sha256: sha256(b"input"),
        output_sha256: sha256(request_id.as_bytes()),
        output_size: 123_456,
        signing_time: 1_800_000_100,
        field_name: "Seal1".into(),
        cms_sha256: sha256(&cms),
        cms,
        options_json: r#"{"page":1,"reason":"approved"}"#.into(),
        audit_sequence: 0,
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub fn event(kind: EventKind) -> AuditEvent {
    AuditEvent::new(kind, "tester")
}

pub fn events_for(auth: &Authorization, request_id: &str) -> (AuditEvent, AuditEvent) {
    let mut consumed = AuditEvent::new(EventKind::AuthorizationConsumed, auth.grantee.clone());
    consumed.authorization_id = Some(auth.id.clone());
    consumed.request_id = Some(request_id.into());
    let mut sealed = AuditEvent::new(EventKind::DocumentSealed, auth.grantee.clone());
    sealed.authorization_id = Some(auth.id.clone());
    sealed.request_id = Some(request_id.into());
    sealed.seal_id = Some(auth.seal_id.clone());
    (consumed, sealed)
}

pub async fn commit(store: &SqliteStore, request_id: &str, auth: &Authorization, now: i64) -> Result<StampingRecord, StoreError> {
    let (consumed, sealed) = events_for(auth, request_id);
    store.commit_stamping(&stamping(request_id, auth), consumed, sealed, now).await
}

