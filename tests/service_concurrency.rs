//! One seal, one authorization under contention: 100 concurrent SignDocument calls race over
//! 10 authorizations on a real server (mTLS on loopback, SQLite file). Exactly one stamping per
//! authorization wins; the 90 others are refused as already used, naming the winner; the
//! audit trail holds exactly one consumption and one stamping record per authorization; and a
//! retry of a won request replays the same bytes without writing anything.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::service::*;
use eseal_audit::EventKind;
use eseal_service::api::proto::signing_service_client::SigningServiceClient;
use eseal_service::api::proto::{AuthorizationState, GetAuthorizationRequest};
use tonic::Code;

const SEAL: &str = "approval-ec";
const AUTHORIZATIONS: usize = 10;
const PER_AUTHORIZATION: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_stampings_over_ten_authorizations() {
    // 90 refusals of one principal at once: above the default rate limit of audited refusals,
    // raised here so that each one is recorded on its own.
    let mut server = TestServer::start_with(|c| c.server.refusal_burst = 1000).await;
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let mut authorizations = Vec::new();
    for i in 0..AUTHORIZATIONS {
        let case = format!("审批-2026-C{i:02}");
        let id = grant(&mut custodian, grant_request(SEAL, "approval-system", &case)).await.id;
        authorizations.push((id, case));
    }
    let audit_before = server.audit().await.len();

    // Four connections (HTTP/2 multiplexes the rest); every call waits at a barrier so that
    // all 100 are in flight together.
    let department = ClientIdentity::department();
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(server.channel(Some(&department)).await);
    }
    let documents = Arc::new([corpus_bytes("13"), corpus_bytes("10")]);
    let barrier = Arc::new(tokio::sync::Barrier::new(AUTHORIZATIONS * PER_AUTHORIZATION));
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..PER_AUTHORIZATION {
        for (a, (id, case)) in authorizations.iter().enumerate() {
            let k = round * AUTHORIZATIONS + a;
            let mut client = SigningServiceClient::new(channels[k % channels.len()].clone())
                .max_decoding_message_size(64 << 20);
            let (id, case, barrier, documents) =
                (id.clone(), case.clone(), Arc::clone(&barrier), Arc::clone(&documents));
            tasks.spawn(async move {
                let request_id = format!("race-{a}-{round}");
                let document = &documents[k % 2];
                barrier.wait().await;
                let result =
                    sign(&mut client, header(SEAL, &id, &request_id, &case), document).await;
                (id, request_id, k % 2, result)
            });
        }
    }
    let mut won: BTreeMap<String, (String, usize, Sealed)> = BTreeMap::new();
    let mut lost: Vec<(String, String, tonic::Status)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, request_id, document, result) = joined.expect("no client task panics");
        match result {
            Ok(sealed) => {
                assert!(!sealed.receipt.replayed, "a first stamping is not a replay");
                assert_eq!(sealed.receipt.request_id, request_id);
                if let Some((other, ..)) =
                    won.insert(id.clone(), (request_id.clone(), document, sealed))
                {
                    panic!("authorization {id} was used twice: by {other} and {request_id}");
                }
            }
            Err(status) => lost.push((id, request_id, status)),
        }
    }
    assert_eq!(won.len(), AUTHORIZATIONS, "exactly one stamping per authorization succeeds");
    assert_eq!(lost.len(), AUTHORIZATIONS * (PER_AUTHORIZATION - 1), "all the others are refused");
    for (id, request_id, status) in &lost {
        let winner = &won[id].0;
        assert_eq!(status.code(), Code::FailedPrecondition, "{request_id}: {status:?}");
        let expected = format!("authorization {id} was already used (request {winner})");
        assert!(
            status.message().contains(&expected),
            "{request_id} is refused as already used by the winner: {}",
            status.message()
        );
    }

    // The store agrees: each authorization consumed by its winner.
    for (id, (winner, ..)) in &won {
        let a = custodian
            .get_authorization(GetAuthorizationRequest { id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(a.state, AuthorizationState::Consumed as i32, "{id}");
        assert_eq!(&a.consumed_by_request, winner, "{id}");
    }

    // The audit trail: exactly 10 consumptions and 10 stampings, each pair written together
    // (consumed, then sealed, consecutive), each sealed record the one the receipt names; and
    // one refusal per lost call.
    let records = server.audit().await;
    let consumed = of_kind(&records, EventKind::AuthorizationConsumed);
    let sealed = of_kind(&records, EventKind::DocumentSealed);
    assert_eq!(consumed.len(), AUTHORIZATIONS, "exactly 10 authorization_consumed records");
    assert_eq!(sealed.len(), AUTHORIZATIONS, "exactly 10 document_sealed records");
    let refused = of_kind(&records, EventKind::CallRefused);
    assert_eq!(refused.len(), lost.len(), "one call_refused record per lost call");
    assert!(refused.iter().all(|r| {
        r.event.method.as_deref() == Some("SignDocument")
            && r.event
                .reason
                .as_deref()
                .is_some_and(|s| s.starts_with("FailedPrecondition") && s.contains("already used"))
    }));
    let refused_ids: BTreeSet<&str> =
        refused.iter().filter_map(|r| r.event.request_id.as_deref()).collect();
    let lost_ids: BTreeSet<&str> = lost.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(refused_ids, lost_ids, "the refusals name the lost requests");
    assert_eq!(
        records.len(),
        audit_before + 2 * AUTHORIZATIONS + lost.len(),
        "nothing else was written"
    );
    for (id, (winner, document, result)) in &won {
        let seq = result.receipt.audit_sequence as usize;
        let record = &records[seq - 1];
        assert_eq!(record.event.event, Some(EventKind::DocumentSealed));
        assert_eq!(record.event.request_id.as_deref(), Some(winner.as_str()));
        assert_eq!(record.event.authorization_id.as_deref(), Some(id.as_str()));
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            record.event.output_sha256.as_deref(),
            Some(hex(&result.receipt.output_sha256).as_str())
        );
        assert_eq!(
            record.event.input_sha256.as_deref(),
            Some(hex(&sha256(&documents[*document])).as_str())
        );
        let before = &records[seq - 2];
        assert_eq!(
            before.event.event,
            Some(EventKind::AuthorizationConsumed),
            "the consumption is written with its stamping"
        );
        assert_eq!(before.event.authorization_id.as_deref(), Some(id.as_str()));
        assert_eq!(before.event.request_id.as_deref(), Some(winner.as_str()));
    }
    {
        use sqlx::Row;
        let pool = read_only(&server.db).await;
        let rows = sqlx::query("SELECT request_id, authorization_id FROM stampings")
            .fetch_all(&pool)
            .await
            .unwrap();
        let stored: BTreeMap<String, String> =
            rows.iter().map(|r| (r.get::<String, _>(1), r.get::<String, _>(0))).collect();
        assert_eq!(rows.len(), AUTHORIZATIONS, "10 stamping rows");
        for (id, (winner, ..)) in &won {
            assert_eq!(stored.get(id), Some(winner), "the stamping row of {id}");
        }
        pool.close().await;
    }

    // Retries of the won requests, all at once: the same bytes, replayed, nothing written.
    let audit_len = records.len();
    let mut retries = tokio::task::JoinSet::new();
    for (i, (id, (winner, document, first))) in won.iter().enumerate() {
        let mut client = SigningServiceClient::new(channels[i % channels.len()].clone())
            .max_decoding_message_size(64 << 20);
        let (id, winner, first, documents, document) =
            (id.clone(), winner.clone(), first.clone(), Arc::clone(&documents), *document);
        let case = authorizations.iter().find(|(a, _)| *a == id).unwrap().1.clone();
        retries.spawn(async move {
            // Half the retries ask for the update alone: the same sealed document either way.
            let header = if i % 2 == 0 {
                header(SEAL, &id, &winner, &case)
            } else {
                update_only(header(SEAL, &id, &winner, &case))
            };
            let again =
                sign(&mut client, header, &documents[document]).await.expect("a retry succeeds");
            (first, again)
        });
    }
    while let Some(joined) = retries.join_next().await {
        let (first, again) = joined.unwrap();
        assert!(again.receipt.replayed, "the retry is answered as a replay");
        assert!(again.document == first.document, "the replay is byte-identical");
        assert_eq!(again.receipt.audit_sequence, first.receipt.audit_sequence);
        assert_eq!(again.receipt.signing_time, first.receipt.signing_time);
        assert_eq!(again.receipt.output_sha256, first.receipt.output_sha256);
        assert_eq!(again.receipt.field_name, first.receipt.field_name);
    }
    assert_eq!(server.audit().await.len(), audit_len, "replays write nothing to the audit trail");
    server.stop().await;
}

/// A client that retries while its first call is still in flight (a timeout shorter than the
/// server's work) sends the same request id, authorization and document again. The issue's
/// idempotency rule: a retry returns the same sealed document and consumes nothing more. So
/// every such call either gets the one sealed document (byte-identical) or a retryable status
/// (ABORTED or UNAVAILABLE), never a refusal that blames the request on itself; and once they
/// settle, a retry replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_request_get_the_same_document() {
    let mut server = TestServer::start().await;
    let mut custodian = server.admin(&ClientIdentity::custodian()).await;
    let case = "审批-2026-R01";
    let id = grant(&mut custodian, grant_request(SEAL, "approval-system", case)).await.id;
    let channel = server.channel(Some(&ClientIdentity::department())).await;
    let document = Arc::new(corpus_bytes("13"));
    let barrier = Arc::new(tokio::sync::Barrier::new(5));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let mut client =
            SigningServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
        let (id, document, barrier) = (id.clone(), Arc::clone(&document), Arc::clone(&barrier));
        tasks.spawn(async move {
            barrier.wait().await;
            sign(&mut client, header(SEAL, &id, "retry-1", case), &document).await
        });
    }
    let mut documents = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(sealed) => documents.push(sealed.document),
            Err(status) => assert!(
                matches!(status.code(), Code::Aborted | Code::Unavailable),
                "a concurrent retry of request retry-1 must get the document or a retryable status, not {:?}: {}",
                status.code(),
                status.message()
            ),
        }
    }
    assert!(!documents.is_empty());
    assert!(
        documents.iter().all(|d| *d == documents[0]),
        "every answer is the same sealed document"
    );
    let again = sign(
        &mut SigningServiceClient::new(channel).max_decoding_message_size(64 << 20),
        update_only(header(SEAL, &id, "retry-1", case)),
        &document,
    )
    .await
    .expect("a retry after the race");
    assert!(again.receipt.replayed);
    assert!(again.document == documents[0]);
    let records = server.audit().await;
    assert_eq!(of_kind(&records, EventKind::DocumentSealed).len(), 1);
    server.stop().await;
}
