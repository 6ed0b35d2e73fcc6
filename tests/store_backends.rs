//! The behaviour of the store, written once over `dyn Store` and run on each backend: a real
//! SQLite file in a temporary directory, and a database of its own on a private PostgreSQL
//! (tests/common/postgres.rs). Settings of one backend alone are tested at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use eseal_audit::merkle::{MerkleTree, leaf_hash};
use eseal_audit::{AuditRecord, EventKind};
use eseal_service::policy::{AuthorizationState, PolicyError};
use eseal_service::seal::SealState;
mod common;

use common::store::*;
use eseal_service::store::{
    AuthorizationFilter, AuthorizationStateFilter, Page, StampingLimits, StampingRecord, Store,
    StoreError,
};

/// Every record of the log, checked: sequences 1..=N without gaps, each record's JSON reads
/// back with its own sequence and the store's origin.
async fn all_records(store: &dyn Store) -> Vec<AuditRecord> {
    let len = store.audit_len().await.unwrap();
    let rows = store.audit_records(1, u32::MAX).await.unwrap();
    assert_eq!(rows.len() as u64, len);
    rows.iter()
        .enumerate()
        .map(|(i, (sequence, json))| {
            assert_eq!(*sequence, i as u64 + 1, "sequences are contiguous from 1");
            let record = AuditRecord::from_json(json).unwrap();
            assert_eq!(record.sequence, *sequence);
            assert_eq!(record.origin, ORIGIN);
            assert_eq!(&record.to_canonical_json(), json, "stored bytes are canonical");
            record
        })
        .collect()
}

async fn count(store: &TestStore, table: &str) -> i64 {
    let sql = match table {
        "stampings" => "SELECT COUNT(*) FROM stampings",
        "authorizations" => "SELECT COUNT(*) FROM authorizations",
        "seals" => "SELECT COUNT(*) FROM seals",
        _ => panic!("unknown table {table}"),
    };
    store.scalar(sql).await
}

async fn ids(store: &dyn Store, filter: &AuthorizationFilter) -> Vec<String> {
    let (items, next) = store.list_authorizations(filter, &Page::first(100)).await.unwrap();
    assert_eq!(next, None);
    items.into_iter().map(|a| a.id).collect()
}

async fn seals_register_get_list_and_change_state(fixture: TestStore) {
    let store = &*fixture;
    assert_eq!(store.seal("approval-ec").await.unwrap(), None);
    assert_eq!(store.list_seals().await.unwrap(), vec![]);

    let b = seal("b-seal");
    let mut a = seal("a-seal");
    a.custodians = vec!["zhou".into(), "chen".into()];
    a.certificate_chain = vec![vec![1; 3], vec![2; 70_000]];
    assert_eq!(store.register_seal(&b, event(EventKind::SealRegistered), 10).await.unwrap(), 1);
    assert_eq!(store.register_seal(&a, event(EventKind::SealRegistered), 11).await.unwrap(), 2);

    // Round trip, custodians in their order, chain entries (including an empty one) intact.
    assert_eq!(store.seal("b-seal").await.unwrap(), Some(b.clone()));
    let got = store.seal("a-seal").await.unwrap().unwrap();
    assert_eq!(got.custodians, vec!["zhou", "chen"]);
    assert_eq!(got.certificate_chain, a.certificate_chain);
    assert_eq!(got, a);
    assert_eq!(store.list_seals().await.unwrap(), vec![a.clone(), b.clone()], "ordered by id");

    // Duplicate id: refused, nothing changed, no record.
    let mut again = seal("b-seal");
    again.name = "another".into();
    match store.register_seal(&again, event(EventKind::SealRegistered), 12).await {
        Err(StoreError::AlreadyExists { what: "seal", id }) => assert_eq!(id, "b-seal"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(store.seal("b-seal").await.unwrap(), Some(b.clone()));
    assert_eq!(store.audit_len().await.unwrap(), 2);

    // A custodian listed twice: refused before anything is written.
    let mut twice = seal("c-seal");
    twice.custodians = vec!["wang".into(), "wang".into()];
    assert!(matches!(
        store.register_seal(&twice, event(EventKind::SealRegistered), 12).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.seal("c-seal").await.unwrap(), None);
    assert_eq!(store.audit_len().await.unwrap(), 2);

    // Compare-and-set.
    let seq = store
        .set_seal_state(
            "b-seal",
            SealState::Active,
            SealState::Suspended,
            event(EventKind::SealSuspended),
            20,
        )
        .await
        .unwrap();
    assert_eq!(seq, 3);
    assert_eq!(store.seal("b-seal").await.unwrap().unwrap().state, SealState::Suspended);
    match store
        .set_seal_state(
            "b-seal",
            SealState::Active,
            SealState::Suspended,
            event(EventKind::SealSuspended),
            21,
        )
        .await
    {
        Err(StoreError::Conflict(message)) => assert!(message.contains("suspended"), "{message}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(matches!(
        store
            .set_seal_state(
                "b-seal",
                SealState::Suspended,
                SealState::Suspended,
                event(EventKind::SealSuspended),
                21
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    match store
        .set_seal_state(
            "nope",
            SealState::Active,
            SealState::Suspended,
            event(EventKind::SealSuspended),
            21,
        )
        .await
    {
        Err(StoreError::NotFound { what: "seal", id }) => assert_eq!(id, "nope"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(store.audit_len().await.unwrap(), 3, "refused changes leave no record");
    assert_eq!(
        store
            .set_seal_state(
                "b-seal",
                SealState::Suspended,
                SealState::Active,
                event(EventKind::SealResumed),
                22
            )
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .set_seal_state(
                "b-seal",
                SealState::Active,
                SealState::Revoked,
                event(EventKind::SealRevoked),
                23
            )
            .await
            .unwrap(),
        5
    );
    assert!(matches!(
        store
            .set_seal_state(
                "b-seal",
                SealState::Revoked,
                SealState::Active,
                event(EventKind::SealResumed),
                24
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.seal("b-seal").await.unwrap().unwrap().state, SealState::Revoked);
    assert_eq!(
        store.seal("a-seal").await.unwrap().unwrap().state,
        SealState::Active,
        "only the named seal moved"
    );

    let records = all_records(store).await;
    let kinds: Vec<_> = records.iter().map(|r| r.event.event.unwrap()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::SealRegistered,
            EventKind::SealRegistered,
            EventKind::SealSuspended,
            EventKind::SealResumed,
            EventKind::SealRevoked
        ]
    );
    assert_eq!(records.iter().map(|r| r.time).collect::<Vec<_>>(), [10, 11, 20, 22, 23]);
}

async fn authorizations_grant_get_and_revoke(fixture: TestStore) {
    let store = &*fixture;
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();

    let plain = authorization("a1", "s1", "dept", 100, 1000);
    let mut bound = authorization("a2", "s1", "dept", 100, 1000);
    bound.document_sha256 = Some(sha256(b"the document"));
    assert_eq!(store.grant(&plain, event(EventKind::AuthorizationGranted), 100).await.unwrap(), 2);
    assert_eq!(store.grant(&bound, event(EventKind::AuthorizationGranted), 100).await.unwrap(), 3);
    assert_eq!(store.authorization("a1").await.unwrap(), Some(plain.clone()));
    assert_eq!(store.authorization("a2").await.unwrap(), Some(bound.clone()));
    assert_eq!(store.authorization("a3").await.unwrap(), None);

    match store.grant(&plain, event(EventKind::AuthorizationGranted), 101).await {
        Err(StoreError::AlreadyExists { what: "authorization", id }) => assert_eq!(id, "a1"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    match store
        .grant(
            &authorization("a9", "no-such-seal", "dept", 100, 1000),
            event(EventKind::AuthorizationGranted),
            101,
        )
        .await
    {
        Err(StoreError::NotFound { what: "seal", id }) => assert_eq!(id, "no-such-seal"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(store.audit_len().await.unwrap(), 3);

    // Revoke an active one.
    let (revoked, seq) = store
        .revoke_authorization("a1", "li", event(EventKind::AuthorizationRevoked), 200)
        .await
        .unwrap();
    assert_eq!(seq, 4);
    assert_eq!(revoked.state, AuthorizationState::Revoked { at: 200, by: "li".into() });
    assert_eq!(store.authorization("a1").await.unwrap(), Some(revoked));
    // Again: revoked already.
    match store
        .revoke_authorization("a1", "wang", event(EventKind::AuthorizationRevoked), 201)
        .await
    {
        Err(StoreError::Refused(refusal)) => {
            assert!(matches!(&refusal, PolicyError::Revoked { by, .. } if by == "li"), "{refusal}")
        }
        other => panic!("expected the policy's refusal, got {other:?}"),
    }
    // Consumed: cannot be revoked.
    commit(store, "req-1", &bound, 300).await.unwrap();
    match store
        .revoke_authorization("a2", "wang", event(EventKind::AuthorizationRevoked), 301)
        .await
    {
        Err(StoreError::Refused(refusal)) => {
            assert!(
                matches!(&refusal, PolicyError::AlreadyUsed { request_id, .. } if request_id == "req-1"),
                "{refusal}"
            )
        }
        other => panic!("expected the policy's refusal, got {other:?}"),
    }
    assert_eq!(
        store.authorization("a2").await.unwrap().unwrap().state,
        AuthorizationState::Consumed { at: 300, request_id: "req-1".into() }
    );
    assert!(matches!(
        store.revoke_authorization("zz", "wang", event(EventKind::AuthorizationRevoked), 301).await,
        Err(StoreError::NotFound { what: "authorization", .. })
    ));
    assert_eq!(store.audit_len().await.unwrap(), 6, "grant x2, seal, revoke, consume + sealed");
    all_records(store).await;
}

async fn authorizations_list_filters(fixture: TestStore) {
    let store = &*fixture;
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    store.register_seal(&seal("s2"), event(EventKind::SealRegistered), 1).await.unwrap();
    let all = [
        authorization("a1", "s1", "g1", 100, 1000),
        authorization("a2", "s1", "g2", 200, 300),
        authorization("a3", "s2", "g1", 300, 1000),
        authorization("a4", "s2", "g2", 400, 1000),
        authorization("a5", "s1", "g1", 500, 500),
    ];
    for a in &all {
        store.grant(a, event(EventKind::AuthorizationGranted), a.granted_at).await.unwrap();
    }
    store
        .revoke_authorization("a3", "wang", event(EventKind::AuthorizationRevoked), 450)
        .await
        .unwrap();
    commit(store, "r4", &all[3], 450).await.unwrap();

    let f = AuthorizationFilter::default;
    let state = |s| AuthorizationFilter { state: Some(s), ..f() };
    assert_eq!(ids(store, &f()).await, ["a5", "a4", "a3", "a2", "a1"]);
    assert_eq!(
        ids(store, &AuthorizationFilter { seal_id: Some("s1".into()), ..f() }).await,
        ["a5", "a2", "a1"]
    );
    assert_eq!(
        ids(store, &AuthorizationFilter { seal_id: Some("s3".into()), ..f() }).await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids(store, &AuthorizationFilter { grantee: Some("g1".into()), ..f() }).await,
        ["a5", "a3", "a1"]
    );
    assert_eq!(
        ids(store, &AuthorizationFilter { granted_after: Some(200), ..f() }).await,
        ["a5", "a4", "a3", "a2"],
        "inclusive"
    );
    assert_eq!(
        ids(store, &AuthorizationFilter { granted_before: Some(300), ..f() }).await,
        ["a2", "a1"],
        "exclusive"
    );
    assert_eq!(
        ids(
            store,
            &AuthorizationFilter { granted_after: Some(200), granted_before: Some(500), ..f() }
        )
        .await,
        ["a4", "a3", "a2"]
    );
    // At 500: a5 expires exactly now and is still usable (policy: expired when now > expires_at).
    assert_eq!(
        ids(store, &state(AuthorizationStateFilter::Active { now: 500 })).await,
        ["a5", "a1"]
    );
    assert_eq!(ids(store, &state(AuthorizationStateFilter::Expired { now: 500 })).await, ["a2"]);
    assert_eq!(ids(store, &state(AuthorizationStateFilter::Active { now: 501 })).await, ["a1"]);
    assert_eq!(
        ids(store, &state(AuthorizationStateFilter::Expired { now: 501 })).await,
        ["a5", "a2"]
    );
    assert_eq!(
        ids(store, &state(AuthorizationStateFilter::Active { now: 250 })).await,
        ["a5", "a2", "a1"]
    );
    assert_eq!(
        ids(store, &state(AuthorizationStateFilter::Expired { now: 250 })).await,
        Vec::<String>::new()
    );
    assert_eq!(ids(store, &state(AuthorizationStateFilter::Consumed)).await, ["a4"]);
    assert_eq!(ids(store, &state(AuthorizationStateFilter::Revoked)).await, ["a3"]);
    let combined = AuthorizationFilter {
        seal_id: Some("s1".into()),
        grantee: Some("g1".into()),
        state: Some(AuthorizationStateFilter::Active { now: 500 }),
        granted_after: Some(100),
        granted_before: Some(501),
    };
    assert_eq!(ids(store, &combined).await, ["a5", "a1"]);
    assert_eq!(
        ids(store, &AuthorizationFilter { granted_after: Some(101), ..combined }).await,
        ["a5"]
    );

    // A token the store did not issue.
    let bad = Page { size: 3, token: Some("not-a-token".into()) };
    assert!(!Page::is_valid_token("not-a-token"));
    assert!(matches!(store.list_authorizations(&f(), &bad).await, Err(StoreError::Conflict(_))));
}

async fn authorizations_pagination_is_stable(fixture: TestStore) {
    let store = &*fixture;
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    // Ten, two per second, so the id breaks ties.
    let mut expected = Vec::new();
    for i in 0..10 {
        let a = authorization(&format!("a{i:02}"), "s1", "dept", 1000 + i / 2, 5000);
        store.grant(&a, event(EventKind::AuthorizationGranted), 1).await.unwrap();
        expected.push(a);
    }
    expected.sort_by(|x, y| (y.granted_at, &y.id).cmp(&(x.granted_at, &x.id)));
    assert_eq!(expected[0].id, "a09");
    assert_eq!(expected[1].id, "a08");

    let filter = AuthorizationFilter::default();
    let mut seen = Vec::new();
    let mut page = Page::first(3);
    let mut pages = 0;
    loop {
        let (items, next) = store.list_authorizations(&filter, &page).await.unwrap();
        pages += 1;
        assert!(items.len() <= 3);
        seen.extend(items);
        if pages == 1 {
            // Inserted meanwhile: newer ones, and one at the cursor's time that sorts before it.
            let cursor = seen.last().unwrap().clone();
            for (id, at) in [("new1", 2000), ("new2", 2001), ("zzz", cursor.granted_at)] {
                store
                    .grant(
                        &authorization(id, "s1", "dept", at, 5000),
                        event(EventKind::AuthorizationGranted),
                        2,
                    )
                    .await
                    .unwrap();
            }
        }
        match next {
            Some(token) => {
                assert!(Page::is_valid_token(&token));
                page = Page { size: 3, token: Some(token) };
            }
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, expected, "every item exactly once, newest first");

    // The same token gives the same page again.
    let (first, token) = store.list_authorizations(&filter, &Page::first(3)).await.unwrap();
    assert_eq!(first.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["new2", "new1", "a09"]);
    let page2 = Page { size: 3, token: token.clone() };
    let (x, tx) = store.list_authorizations(&filter, &page2).await.unwrap();
    let (y, ty) = store.list_authorizations(&filter, &page2).await.unwrap();
    assert_eq!((x.clone(), tx), (y, ty));
    assert_eq!(x.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a08", "zzz", "a07"]);

    // An exact multiple of the page size: the last page says there is no next.
    let (all, next) = store.list_authorizations(&filter, &Page::first(13)).await.unwrap();
    assert_eq!((all.len(), next), (13, None));
}

async fn commit_stamping_consumes_exactly_once(fixture: TestStore) {
    let store = &*fixture;
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    let a1 = authorization("a1", "s1", "dept", 100, 1000);
    let a2 = authorization("a2", "s1", "dept", 100, 1000);
    let a3 = authorization("a3", "s1", "dept", 100, 1000);
    let a4 = authorization("a4", "s1", "dept", 100, 400);
    for a in [&a1, &a2, &a3, &a4] {
        store.grant(a, event(EventKind::AuthorizationGranted), 100).await.unwrap();
    }
    assert_eq!(store.audit_len().await.unwrap(), 5);

    let stored = commit(store, "req-1", &a1, 500).await.unwrap();
    assert_eq!(stored.audit_sequence, 7);
    assert_eq!(stored, StampingRecord { audit_sequence: 7, ..stamping("req-1", &a1) });
    assert_eq!(
        store.authorization("a1").await.unwrap().unwrap().state,
        AuthorizationState::Consumed { at: 500, request_id: "req-1".into() }
    );
    assert_eq!(store.stamping("dept", "req-1").await.unwrap(), Some(stored.clone()));
    assert_eq!(store.stamping_by_cms(&stored.cms_sha256).await.unwrap(), Some(stored.clone()));
    assert_eq!(store.stamping("dept", "req-2").await.unwrap(), None);
    assert_eq!(store.stamping_by_cms(&[0; 32]).await.unwrap(), None);
    // The read made before an upload: each side found or not, independently.
    let a1_now = store.authorization("a1").await.unwrap();
    assert_eq!(
        store.stamping_and_authorization("dept", "req-1", "a1").await.unwrap(),
        (Some(stored.clone()), a1_now.clone())
    );
    assert_eq!(
        store.stamping_and_authorization("dept", "req-2", "a2").await.unwrap(),
        (None, Some(a2.clone()))
    );
    assert_eq!(
        store.stamping_and_authorization("dept", "req-1", "ghost").await.unwrap(),
        (Some(stored.clone()), None)
    );
    assert_eq!(
        store.stamping_and_authorization("dept", "nope", "ghost").await.unwrap(),
        (None, None)
    );
    let records = all_records(store).await;
    assert_eq!(records[5].event.event, Some(EventKind::AuthorizationConsumed));
    assert_eq!(records[6].event.event, Some(EventKind::DocumentSealed));
    assert_eq!(records[6].event.request_id.as_deref(), Some("req-1"));
    assert_eq!(records[6].time, 500);

    // The same authorization again.
    match commit(store, "req-2", &a1, 501).await {
        Err(StoreError::Refused(refusal)) => {
            assert!(
                matches!(&refusal, PolicyError::AlreadyUsed { request_id, .. } if request_id == "req-1"),
                "{refusal}"
            )
        }
        other => panic!("expected the policy's refusal, got {other:?}"),
    }
    // A revoked one.
    store
        .revoke_authorization("a2", "wang", event(EventKind::AuthorizationRevoked), 502)
        .await
        .unwrap();
    match commit(store, "req-3", &a2, 503).await {
        Err(StoreError::Refused(refusal)) => {
            assert!(matches!(refusal, PolicyError::Revoked { .. }), "{refusal}")
        }
        other => panic!("expected the policy's refusal, got {other:?}"),
    }
    // An expired one (400 < 503).
    match commit(store, "req-4", &a4, 503).await {
        Err(StoreError::Refused(refusal)) => {
            assert!(matches!(refusal, PolicyError::Expired { .. }), "{refusal}")
        }
        other => panic!("expected the policy's refusal, got {other:?}"),
    }
    assert_eq!(store.authorization("a4").await.unwrap().unwrap().state, AuthorizationState::Active);
    // One expiring at the very second of the stamping is still valid then.
    let a5 = authorization("a5", "s1", "dept", 100, 503);
    store.grant(&a5, event(EventKind::AuthorizationGranted), 100).await.unwrap();
    commit(store, "req-at-expiry", &a5, 503).await.expect("valid until its expiry second included");
    // An unknown one.
    let ghost = authorization("ghost", "s1", "dept", 100, 1000);
    assert!(matches!(
        commit(store, "req-5", &ghost, 503).await,
        Err(StoreError::NotFound { what: "authorization", .. })
    ));

    // A request id already taken, with a fresh authorization: nothing half-done.
    let len = store.audit_len().await.unwrap();
    match commit(store, "req-1", &a3, 504).await {
        Err(StoreError::AlreadyExists { what: "stamping", id }) => assert_eq!(id, "req-1"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        store.authorization("a3").await.unwrap().unwrap().state,
        AuthorizationState::Active,
        "not consumed"
    );
    assert_eq!(store.audit_len().await.unwrap(), len, "no record appended");
    assert_eq!(count(&fixture, "stampings").await, 2, "req-1 and req-at-expiry");
    assert_eq!(
        store.stamping("dept", "req-1").await.unwrap(),
        Some(stored),
        "the first stamping is untouched"
    );
    // And it can still be used afterwards.
    let later = commit(store, "req-6", &a3, 505).await.unwrap();
    assert_eq!(later.audit_sequence, len + 2);
    assert_eq!(count(&fixture, "stampings").await, 3);
    all_records(store).await;
}

async fn concurrent_stampings_consume_each_authorization_once(fixture: TestStore) {
    let store = fixture.arc();
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    let mut auths = Vec::new();
    for i in 0..10 {
        let a = authorization(&format!("a{i}"), "s1", "dept", 100, 10_000);
        store.grant(&a, event(EventKind::AuthorizationGranted), 100).await.unwrap();
        auths.push(a);
    }
    let before = store.audit_len().await.unwrap();
    assert_eq!(before, 11);

    let mut tasks = Vec::new();
    for round in 0..10 {
        for a in &auths {
            let store = Arc::clone(&store);
            let a = a.clone();
            let request_id = format!("req-{}-{round}", a.id);
            tasks.push(tokio::spawn(async move {
                let result = commit(&*store, &request_id, &a, 1000).await;
                (a.id, request_id, result)
            }));
        }
    }
    assert_eq!(tasks.len(), 100);
    // Meanwhile, refusals (a read of the last sequence, then an insert) from other callers.
    let mut refusals = Vec::new();
    for i in 0..30 {
        let store = Arc::clone(&store);
        refusals.push(tokio::spawn(async move {
            let mut refusal = event(EventKind::CallRefused);
            refusal.reason = Some(format!("refusal {i}"));
            store.append_audit(refusal, 1000).await
        }));
    }
    let mut winners: BTreeMap<String, StampingRecord> = BTreeMap::new();
    let mut refused = 0;
    for task in tasks {
        let (auth_id, request_id, result) = task.await.unwrap();
        match result {
            Ok(record) => {
                assert_eq!(record.request_id, request_id);
                assert!(
                    winners.insert(auth_id, record).is_none(),
                    "an authorization was consumed twice"
                );
            }
            Err(StoreError::Refused(refusal)) => {
                assert!(matches!(refusal, PolicyError::AlreadyUsed { .. }), "{refusal}");
                refused += 1;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    let mut refusal_sequences = BTreeSet::new();
    for task in refusals {
        assert!(
            refusal_sequences.insert(task.await.unwrap().unwrap()),
            "a sequence number was given twice"
        );
    }
    assert_eq!(winners.len(), 10, "one success per authorization");
    assert_eq!(refused, 90);
    assert_eq!(count(&fixture, "stampings").await, 10);

    let records = all_records(&*store).await;
    assert_eq!(
        records.len() as u64,
        before + 20 + 30,
        "two records per success, none for a refused stamping, one per refusal record"
    );
    assert_eq!(
        records.iter().filter(|r| r.event.event == Some(EventKind::CallRefused)).count(),
        30
    );
    for sequence in &refusal_sequences {
        assert_eq!(records[*sequence as usize - 1].event.event, Some(EventKind::CallRefused));
    }
    for (auth_id, record) in &winners {
        let stored = store.authorization(auth_id).await.unwrap().unwrap();
        assert_eq!(
            stored.state,
            AuthorizationState::Consumed { at: 1000, request_id: record.request_id.clone() }
        );
        assert_eq!(
            store.stamping(&record.principal, &record.request_id).await.unwrap().as_ref(),
            Some(record)
        );
        // The sealed record and, just before it, its consumed record.
        let sealed = &records[record.audit_sequence as usize - 1];
        let consumed = &records[record.audit_sequence as usize - 2];
        assert_eq!(sealed.event.event, Some(EventKind::DocumentSealed));
        assert_eq!(consumed.event.event, Some(EventKind::AuthorizationConsumed));
        for r in [sealed, consumed] {
            assert_eq!(r.event.request_id.as_deref(), Some(record.request_id.as_str()));
            assert_eq!(r.event.authorization_id.as_deref(), Some(auth_id.as_str()));
        }
    }
    let sequences: BTreeSet<u64> = winners.values().map(|r| r.audit_sequence).collect();
    assert_eq!(sequences.len(), 10);

    // The stored Merkle tree grew with every concurrent append: its root and leaves are those
    // computed here from the stored records' bytes.
    let mut tree = MerkleTree::in_memory();
    let rows = store.audit_records(1, u32::MAX).await.unwrap();
    for (_, bytes) in &rows {
        tree.append(leaf_hash(bytes)).unwrap();
    }
    let len = records.len() as u64;
    assert_eq!(store.tree_root(len).await.unwrap(), tree.current_root().unwrap());
    let leaves = store.leaf_hashes(1, u32::MAX).await.unwrap();
    assert_eq!(
        leaves,
        rows.iter().map(|(sequence, bytes)| (*sequence, leaf_hash(bytes))).collect::<Vec<_>>()
    );
}

/// Grants, stampings and appends arriving together share group commits; each keeps its own
/// outcome and a refused one leaves nothing behind.
async fn mixed_concurrent_writes_keep_each_outcome(fixture: TestStore) {
    let store = fixture.arc();
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    store.register_seal(&seal("s2"), event(EventKind::SealRegistered), 1).await.unwrap();
    let mut pairs = Vec::new();
    for i in 0..10 {
        let first = authorization(&format!("x{i}"), "s1", "dept", 100, 10_000);
        let second = authorization(&format!("y{i}"), "s1", "dept", 100, 10_000);
        store.grant(&first, event(EventKind::AuthorizationGranted), 100).await.unwrap();
        store.grant(&second, event(EventKind::AuthorizationGranted), 100).await.unwrap();
        pairs.push((first, second));
    }
    let on_s2 = authorization("z", "s2", "dept", 100, 10_000);
    store.grant(&on_s2, event(EventKind::AuthorizationGranted), 100).await.unwrap();
    store
        .set_seal_state(
            "s2",
            SealState::Active,
            SealState::Suspended,
            event(EventKind::SealSuspended),
            150,
        )
        .await
        .unwrap();
    let before = store.audit_len().await.unwrap();

    let mut stampings = Vec::new();
    for (i, (first, second)) in pairs.iter().enumerate() {
        // Two authorizations, one request id: at most one of them may be used.
        for a in [first, second] {
            let (store, a) = (Arc::clone(&store), a.clone());
            stampings.push(tokio::spawn(async move {
                (a.id.clone(), commit(&*store, &format!("req-{i}"), &a, 1000).await)
            }));
        }
    }
    let (s2_store, s2_auth) = (Arc::clone(&store), on_s2.clone());
    let suspended = tokio::spawn(async move { commit(&*s2_store, "req-z", &s2_auth, 1000).await });
    let mut grants = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        grants.push(tokio::spawn(async move {
            let seal_id = if i % 4 == 0 { "s2" } else { "s1" };
            store
                .grant(
                    &authorization(&format!("g{i}"), seal_id, "dept", 900, 10_000),
                    event(EventKind::AuthorizationGranted),
                    900,
                )
                .await
        }));
    }
    let duplicate = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .grant(
                    &authorization("x0", "s1", "dept", 900, 10_000),
                    event(EventKind::AuthorizationGranted),
                    900,
                )
                .await
        })
    };
    let missing_seal = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .grant(
                    &authorization("n0", "nope", "dept", 900, 10_000),
                    event(EventKind::AuthorizationGranted),
                    900,
                )
                .await
        })
    };
    let appends: Vec<_> = (0..10)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(
                async move { store.append_audit(event(EventKind::CallRefused), 1000).await },
            )
        })
        .collect();

    let mut used = BTreeSet::new();
    let mut already = 0;
    for task in stampings {
        match task.await.unwrap() {
            (id, Ok(record)) => {
                assert!(
                    used.insert(record.request_id.clone()),
                    "request id {} stamped twice",
                    record.request_id
                );
                assert_eq!(
                    store.authorization(&id).await.unwrap().unwrap().state,
                    AuthorizationState::Consumed { at: 1000, request_id: record.request_id }
                );
            }
            (id, Err(StoreError::AlreadyExists { what: "stamping", .. })) => {
                already += 1;
                assert_eq!(
                    store.authorization(&id).await.unwrap().unwrap().state,
                    AuthorizationState::Active,
                    "{id} consumed by a refused stamping"
                );
            }
            (id, other) => panic!("{id}: unexpected {other:?}"),
        }
    }
    assert_eq!((used.len(), already), (10, 10));
    match suspended.await.unwrap() {
        Err(StoreError::Refused(refusal)) => {
            assert!(matches!(refusal, PolicyError::SealSuspended { .. }), "{refusal}")
        }
        other => panic!("expected the policy's refusal, got {other:?}"),
    }
    assert_eq!(store.authorization("z").await.unwrap().unwrap().state, AuthorizationState::Active);
    let mut granted = 0;
    for (i, task) in grants.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(_) => {
                assert_ne!(i % 4, 0);
                granted += 1;
            }
            Err(StoreError::Refused(refusal)) => {
                assert!(
                    i % 4 == 0
                        && matches!(&refusal, PolicyError::SealSuspended { seal } if seal == "s2"),
                    "{refusal}"
                )
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(granted, 15);
    assert!(matches!(
        duplicate.await.unwrap(),
        Err(StoreError::AlreadyExists { what: "authorization", .. })
    ));
    assert!(matches!(missing_seal.await.unwrap(), Err(StoreError::NotFound { what: "seal", .. })));
    for task in appends {
        task.await.unwrap().unwrap();
    }
    assert_eq!(count(&fixture, "stampings").await, 10);
    assert_eq!(count(&fixture, "authorizations").await, 21 + 15);
    let records = all_records(&*store).await;
    assert_eq!(records.len() as u64, before + 2 * 10 + 15 + 10, "records of the successes only");
    let mut tree = MerkleTree::in_memory();
    for (_, bytes) in store.audit_records(1, u32::MAX).await.unwrap() {
        tree.append(leaf_hash(&bytes)).unwrap();
    }
    assert_eq!(store.tree_root(records.len() as u64).await.unwrap(), tree.current_root().unwrap());
}

async fn data_survives_reopening(fixture: TestStore) {
    let s1 = seal("s1");
    let a1 = authorization("a1", "s1", "dept", 100, 1000);
    let a2 = authorization("a2", "s1", "dept", 100, 1000);
    let stored;
    {
        let store = &*fixture;
        store.register_seal(&s1, event(EventKind::SealRegistered), 1).await.unwrap();
        store.grant(&a1, event(EventKind::AuthorizationGranted), 100).await.unwrap();
        store.grant(&a2, event(EventKind::AuthorizationGranted), 100).await.unwrap();
        stored = commit(store, "req-1", &a1, 200).await.unwrap();
        store.append_audit(event(EventKind::CallRefused), 201).await.unwrap();
        store.close().await;
    }
    let reopened = fixture.reopen().await;
    let store = &*reopened;
    assert_eq!(store.seal("s1").await.unwrap(), Some(s1));
    assert_eq!(store.authorization("a2").await.unwrap(), Some(a2.clone()));
    assert_eq!(
        store.authorization("a1").await.unwrap().unwrap().state,
        AuthorizationState::Consumed { at: 200, request_id: "req-1".into() }
    );
    assert_eq!(store.stamping("dept", "req-1").await.unwrap(), Some(stored));
    assert_eq!(store.audit_len().await.unwrap(), 6);
    // The log continues where it stopped; the consumed authorization stays consumed.
    assert!(matches!(
        commit(store, "req-2", &a1, 300).await,
        Err(StoreError::Refused(PolicyError::AlreadyUsed { .. }))
    ));
    assert_eq!(commit(store, "req-2", &a2, 300).await.unwrap().audit_sequence, 8);
    let records = all_records(store).await;
    assert_eq!(records[5].event.event, Some(EventKind::CallRefused));
    assert_eq!(
        store.audit_records(7, 10).await.unwrap().iter().map(|r| r.0).collect::<Vec<_>>(),
        [7, 8]
    );
    assert_eq!(
        store.audit_records(2, 2).await.unwrap().iter().map(|r| r.0).collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(store.audit_records(9, 10).await.unwrap().is_empty());
}

/// A seal's stamping limit holds under concurrency, and across two stores on one database (two
/// nodes): of 12 stampings attempted at once with a limit of 5, exactly 5 commit; the others are
/// refused with the limit's message and consume nothing.
async fn stamping_limits_hold_across_concurrent_writers(fixture: TestStore) {
    let first = fixture.arc();
    let second = fixture.reopen().await;
    first.register_seal(&seal("limited"), event(EventKind::SealRegistered), 1).await.unwrap();
    let limits = StampingLimits { default: None, per_seal: [("limited".to_string(), 5)].into() };
    first.set_stamping_limits(limits.clone()).unwrap();
    second.set_stamping_limits(limits).unwrap();
    let mut auths = Vec::new();
    for i in 0..12 {
        let a = authorization(&format!("lim-{i}"), "limited", "dept", 100, 10_000);
        first.grant(&a, event(EventKind::AuthorizationGranted), 100).await.unwrap();
        auths.push(a);
    }
    let tasks: Vec<_> = auths
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let store = Arc::clone(if i % 2 == 0 { &first } else { &second });
            let a = a.clone();
            tokio::spawn(async move {
                commit(&*store, &format!("req-{}", a.id), &a, 1000).await.map(|_| a.id)
            })
        })
        .collect();
    let mut committed = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(id) => committed.push(id),
            Err(StoreError::LimitReached { seal, max }) => {
                assert_eq!((seal.as_str(), max), ("limited", 5))
            }
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    assert_eq!(committed.len(), 5, "exactly the limit commits: {committed:?}");
    for a in &auths {
        let state = first.authorization(&a.id).await.unwrap().unwrap().state;
        assert_eq!(
            matches!(state, AuthorizationState::Consumed { .. }),
            committed.contains(&a.id),
            "{}: {state:?}",
            a.id
        );
    }
}

/// More stampings than one consuming statement takes (256), arriving together: they share
/// batches, and every authorization is consumed by its own request, once.
async fn a_large_batch_consumes_every_authorization(fixture: TestStore) {
    let store = fixture.arc();
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    let grants: Vec<_> = (0..600)
        .map(|i| {
            let store = Arc::clone(&store);
            let a = authorization(&format!("bulk-{i}"), "s1", "dept", 100, 10_000);
            tokio::spawn(async move {
                store.grant(&a, event(EventKind::AuthorizationGranted), 100).await.map(|_| a)
            })
        })
        .collect();
    let mut auths = Vec::new();
    for grant in grants {
        auths.push(grant.await.unwrap().unwrap());
    }
    let stampings: Vec<_> = auths
        .iter()
        .map(|a| {
            let (store, a) = (Arc::clone(&store), a.clone());
            tokio::spawn(async move { commit(&*store, &format!("req-{}", a.id), &a, 1000).await })
        })
        .collect();
    for stamping in stampings {
        stamping.await.unwrap().expect("every stamping of a fresh authorization commits");
    }
    for a in &auths {
        let state = store.authorization(&a.id).await.unwrap().unwrap().state;
        assert_eq!(
            state,
            AuthorizationState::Consumed { at: 1000, request_id: format!("req-{}", a.id) }
        );
    }
    assert_eq!(count(&fixture, "stampings").await, 600);
    assert_eq!(store.audit_len().await.unwrap(), 1 + 600 + 2 * 600);
}

/// A key reference, a certificate or a public key registered to a seal is never registered to
/// another seal, revoked or not, also when the holder was registered before fingerprints were
/// stored; the refusals change nothing.
async fn a_key_serves_one_seal_for_good(fixture: TestStore) {
    let store = &*fixture;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let certificate = |name: &str| {
        rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec()
    };
    let mut s1 = seal("s1");
    s1.certificate_chain = vec![certificate("one.example"), vec![0x30; 40]];
    store.register_seal(&s1, event(EventKind::SealRegistered), 1).await.unwrap();
    store
        .set_seal_state(
            "s1",
            SealState::Active,
            SealState::Revoked,
            event(EventKind::SealRevoked),
            2,
        )
        .await
        .unwrap();
    // As a seal registered before the fingerprints were kept.
    fixture.execute("UPDATE seals SET certificate_sha256 = NULL, public_key_sha256 = NULL").await;
    let before = (store.list_seals().await.unwrap(), store.audit_len().await.unwrap());

    let refused = |what: &'static str| {
        move |result: Result<u64, StoreError>| match result {
            Err(StoreError::KeyInUse { what: w, seal }) => {
                assert_eq!((w, seal.as_str()), (what, "s1"))
            }
            other => panic!("{what}: expected KeyInUse, got {other:?}"),
        }
    };
    let mut same_reference = seal("s2");
    same_reference.key_reference = s1.key_reference.clone();
    refused("key reference")(
        store.register_seal(&same_reference, event(EventKind::SealRegistered), 3).await,
    );
    let mut same_certificate = seal("s3");
    same_certificate.certificate_chain = s1.certificate_chain.clone();
    refused("certificate")(
        store.register_seal(&same_certificate, event(EventKind::SealRegistered), 3).await,
    );
    let mut same_public_key = seal("s4");
    same_public_key.certificate_chain = vec![certificate("two.example")];
    refused("public key")(
        store.register_seal(&same_public_key, event(EventKind::SealRegistered), 3).await,
    );
    assert_eq!(
        (store.list_seals().await.unwrap(), store.audit_len().await.unwrap()),
        before,
        "nothing registered, nothing recorded"
    );
    // The id is checked first: the same seal again is AlreadyExists, as before.
    assert!(matches!(
        store.register_seal(&s1, event(EventKind::SealRegistered), 3).await,
        Err(StoreError::AlreadyExists { what: "seal", .. })
    ));
    // Unrelated keys still register.
    store.register_seal(&seal("s5"), event(EventKind::SealRegistered), 4).await.unwrap();
    assert_eq!(store.audit_len().await.unwrap(), before.1 + 1);
}

/// Registrations of one key arriving together: exactly one seal holds it.
async fn concurrent_registrations_of_one_key_register_one_seal(fixture: TestStore) {
    let store = fixture.arc();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            let mut s = seal(&format!("c{i}"));
            s.key_reference = "shared.key".into();
            tokio::spawn(async move {
                (s.id.clone(), store.register_seal(&s, event(EventKind::SealRegistered), 1).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut holders = BTreeSet::new();
    for task in tasks {
        match task.await.unwrap() {
            (id, Ok(_)) => winners.push(id),
            (_, Err(StoreError::KeyInUse { what: "key reference", seal })) => {
                holders.insert(seal);
            }
            (id, Err(e)) => panic!("{id}: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert!(
        holders.iter().all(|h| *h == winners[0]),
        "every refusal names the winner: {holders:?}"
    );
    assert_eq!(store.list_seals().await.unwrap().len(), 1);
    assert_eq!(store.audit_len().await.unwrap(), 1);
}

/// Request ids are each principal's own: the same id by two principals makes two stampings
/// (also within one batch); the same principal again is refused and consumes nothing.
async fn request_ids_are_each_principals_own(fixture: TestStore) {
    let store = fixture.arc();
    store.register_seal(&seal("s1"), event(EventKind::SealRegistered), 1).await.unwrap();
    let a1 = authorization("a1", "s1", "dept", 100, 1000);
    let a2 = authorization("a2", "s1", "dept2", 100, 1000);
    let a3 = authorization("a3", "s1", "dept", 100, 1000);
    for a in [&a1, &a2, &a3] {
        store.grant(a, event(EventKind::AuthorizationGranted), 100).await.unwrap();
    }
    let (first, second) =
        tokio::join!(commit(&*store, "req-1", &a1, 500), commit(&*store, "req-1", &a2, 500));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(store.stamping("dept", "req-1").await.unwrap(), Some(first.clone()));
    assert_eq!(store.stamping("dept2", "req-1").await.unwrap(), Some(second.clone()));
    assert_eq!((first.authorization_id.as_str(), second.authorization_id.as_str()), ("a1", "a2"));
    assert_eq!(store.stamping("someone-else", "req-1").await.unwrap(), None);
    assert_eq!(
        store.stamping_and_authorization("dept2", "req-1", "a3").await.unwrap().0,
        Some(second)
    );
    match commit(&*store, "req-1", &a3, 600).await {
        Err(StoreError::AlreadyExists { what: "stamping", id }) => assert_eq!(id, "req-1"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(store.authorization("a3").await.unwrap().unwrap().state, AuthorizationState::Active);
    assert_eq!(count(&fixture, "stampings").await, 2);
    assert_eq!(store.audit_len().await.unwrap(), 1 + 3 + 2 * 2);
}

on_both_backends!(
    a_key_serves_one_seal_for_good,
    concurrent_registrations_of_one_key_register_one_seal,
    request_ids_are_each_principals_own,
    seals_register_get_list_and_change_state,
    authorizations_grant_get_and_revoke,
    authorizations_list_filters,
    authorizations_pagination_is_stable,
    commit_stamping_consumes_exactly_once,
    concurrent_stampings_consume_each_authorization_once,
    mixed_concurrent_writes_keep_each_outcome,
    data_survives_reopening,
    stamping_limits_hold_across_concurrent_writers,
    a_large_batch_consumes_every_authorization,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_durability_settings_on_every_pooled_connection() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    // Hold several connections at once so that more than one is checked.
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(store.pool().acquire().await.unwrap());
    }
    for conn in &mut connections {
        let mode: String =
            sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut **conn).await.unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let synchronous: i64 =
            sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut **conn).await.unwrap();
        assert_eq!(synchronous, 2, "FULL");
        let foreign_keys: i64 =
            sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut **conn).await.unwrap();
        assert_eq!(foreign_keys, 1);
        let busy: i64 =
            sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut **conn).await.unwrap();
        assert!(busy >= 5_000, "busy timeout {busy} ms");
    }
}

/// A database of the schema before request ids were per principal (migrations 1 to 3) keeps
/// its stampings through the migrations, under their principal, and its seals' keys count for
/// the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_keep_old_stampings_and_seals() {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eseal.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let old = [
        (1, "init", include_str!("../migrations/sqlite/0001_init.sql")),
        (2, "merkle", include_str!("../migrations/sqlite/0002_merkle.sql")),
        (3, "stampings by seal", include_str!("../migrations/sqlite/0003_stampings_by_seal.sql")),
    ];
    let migrations = old
        .iter()
        .map(|&(v, d, sql)| {
            Migration::new(v, d.into(), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect();
    Migrator::with_migrations(migrations).run(&pool).await.unwrap();
    for sql in [
        "INSERT INTO audit_log (sequence, time, record) VALUES (1, 10, X'7B7D')",
        "INSERT INTO seals (id, name, organization, kind, image_png, certificate_chain, key_reference, valid_from, valid_until, state, registered_at) \
         VALUES ('old', 'n', 'o', 'k', X'00', X'0000000330010A', 'old.key', 0, 10, 'revoked', 1)",
        "INSERT INTO authorizations (id, seal_id, grantee, granted_by, case_number, document_sha256, granted_at, expires_at, state, closed_at, consumed_by_request, revoked_by) \
         VALUES ('a-old', 'old', 'dept', 'wang', 'c', NULL, 1, 100, 'consumed', 5, 'req-old', NULL)",
        "INSERT INTO stampings (request_id, principal, seal_id, authorization_id, case_number, input_sha256, output_sha256, output_size, signing_time, field_name, cms, cms_sha256, options_json, audit_sequence) \
         VALUES ('req-old', 'dept', 'old', 'a-old', 'c', zeroblob(32), zeroblob(32), 7, 5, 'Seal1', X'3003', zeroblob(32), '{}', 1)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = open(dir.path()).await;
    let kept = store
        .stamping("dept", "req-old")
        .await
        .unwrap()
        .expect("the old stamping, under its principal");
    assert_eq!(
        (
            kept.authorization_id.as_str(),
            kept.output_size,
            kept.cms.as_slice(),
            kept.audit_sequence
        ),
        ("a-old", 7, &[0x30, 0x03][..], 1)
    );
    assert_eq!(store.stamping("dept2", "req-old").await.unwrap(), None);
    let mut again = seal("new");
    again.key_reference = "old.key".into();
    match store.register_seal(&again, event(EventKind::SealRegistered), 20).await {
        Err(StoreError::KeyInUse { what: "key reference", seal }) => assert_eq!(seal, "old"),
        other => panic!("expected KeyInUse, got {other:?}"),
    }
    let mut same_certificate = seal("new");
    same_certificate.certificate_chain = vec![vec![0x30, 0x01, 0x0a]];
    match store.register_seal(&same_certificate, event(EventKind::SealRegistered), 20).await {
        Err(StoreError::KeyInUse { what: "certificate", seal }) => assert_eq!(seal, "old"),
        other => panic!("expected KeyInUse, got {other:?}"),
    }
    store.close().await;

    // The rebuilt table keeps its constraints and indexes, and the group commit's lookup of
    // request ids uses one.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("eseal.db"));
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let key: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, pk FROM pragma_table_info('stampings') WHERE pk > 0 ORDER BY pk",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(key, [("principal".to_string(), 1), ("request_id".to_string(), 2)]);
    let mut indexes: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, \"unique\" FROM pragma_index_list('stampings')")
            .fetch_all(&pool)
            .await
            .unwrap();
    indexes.sort();
    let names: Vec<&str> = indexes.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in ["stampings_by_cms", "stampings_by_request_id", "stampings_by_seal"] {
        assert!(names.contains(&wanted), "{wanted} in {names:?}");
    }
    assert_eq!(
        indexes.iter().filter(|(_, unique)| *unique == 1).count(),
        2,
        "the primary key and UNIQUE (authorization_id): {indexes:?}"
    );
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT principal, request_id FROM stampings WHERE request_id IN (?, ?)",
    )
    .bind("a")
    .bind("b")
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        plan.iter().any(|(_, _, _, detail)| detail.contains("stampings_by_request_id")),
        "{plan:?}"
    );
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    pool.close().await;
}
