use super::*;

const NOW: i64 = 1_800_000_000;

fn seal() -> Seal {
    Seal {
        id: "approval-ec".into(),
        name: "n".into(),
        organization: "o".into(),
        kind: "k".into(),
        image_png: vec![],
        certificate_chain: vec![],
        key_reference: "k".into(),
        custodians: vec!["wang".into()],
        valid_from: NOW - 100,
        valid_until: NOW + 100,
        state: SealState::Active,
        registered_at: NOW - 100,
    }
}

fn authorization() -> Authorization {
    Authorization {
        id: "A1".into(),
        seal_id: "approval-ec".into(),
        grantee: "approval-system".into(),
        granted_by: "wang".into(),
        case_number: "2026-001".into(),
        document_sha256: Some([7; 32]),
        granted_at: NOW - 10,
        expires_at: NOW + 10,
        state: AuthorizationState::Active,
    }
}

fn request(digest: &[u8; 32]) -> StampingRequest<'_> {
    StampingRequest {
        principal: "approval-system",
        seal_id: "approval-ec",
        case_number: "2026-001",
        document_sha256: Some(digest),
    }
}

#[test]
fn a_matching_request_may_consume() {
    assert_eq!(
        check_stamping(&authorization(), &seal(), Some((0, i64::MAX)), &request(&[7; 32]), NOW),
        Ok(())
    );
}

#[test]
fn every_refusal_names_its_reason() {
    let digest = [7; 32];
    let check = |a: Authorization, s: Seal, r: StampingRequest<'_>, now: i64| {
        check_stamping(&a, &s, Some((0, NOW + 50)), &r, now)
    };
    let mut a = authorization();
    a.state = AuthorizationState::Consumed { at: NOW, request_id: "r1".into() };
    assert!(matches!(
        check(a, seal(), request(&digest), NOW),
        Err(PolicyError::AlreadyUsed { .. })
    ));
    let mut a = authorization();
    a.state = AuthorizationState::Revoked { at: NOW, by: "wang".into() };
    assert!(matches!(check(a, seal(), request(&digest), NOW), Err(PolicyError::Revoked { .. })));
    assert!(matches!(
        check(authorization(), seal(), request(&digest), NOW + 11),
        Err(PolicyError::Expired { .. })
    ));
    let other_seal = StampingRequest { seal_id: "housing-rsa", ..request(&digest) };
    assert!(matches!(
        check(authorization(), seal(), other_seal, NOW),
        Err(PolicyError::OtherSeal { .. })
    ));
    let other_principal = StampingRequest { principal: "housing-system", ..request(&digest) };
    assert!(matches!(
        check(authorization(), seal(), other_principal, NOW),
        Err(PolicyError::OtherGrantee { .. })
    ));
    let other_case = StampingRequest { case_number: "2026-002", ..request(&digest) };
    assert!(matches!(
        check(authorization(), seal(), other_case, NOW),
        Err(PolicyError::OtherCase { .. })
    ));
    let other_document = [8; 32];
    let e = check(authorization(), seal(), request(&other_document), NOW).unwrap_err();
    assert!(matches!(e, PolicyError::DocumentMismatch { .. }));
    assert!(e.to_string().contains(&"07".repeat(32)) && e.to_string().contains(&"08".repeat(32)));
    let mut s = seal();
    s.state = SealState::Suspended;
    assert!(matches!(
        check(authorization(), s, request(&digest), NOW),
        Err(PolicyError::SealSuspended { .. })
    ));
    let mut s = seal();
    s.state = SealState::Revoked;
    assert!(matches!(
        check(authorization(), s, request(&digest), NOW),
        Err(PolicyError::SealRevoked { .. })
    ));
    let mut s = seal();
    s.valid_until = NOW - 1;
    assert!(matches!(
        check(authorization(), s, request(&digest), NOW),
        Err(PolicyError::SealOutsideValidity { .. })
    ));
    let expired_cert =
        check_stamping(&authorization(), &seal(), Some((0, NOW - 1)), &request(&digest), NOW);
    assert!(matches!(expired_cert, Err(PolicyError::SealCertificateExpired { .. })));
    // Before the document arrives, the binding cannot be judged yet.
    let before = StampingRequest { document_sha256: None, ..request(&other_document) };
    assert_eq!(check(authorization(), seal(), before, NOW), Ok(()));
    // Without a document binding any document is accepted.
    let mut a = authorization();
    a.document_sha256 = None;
    assert_eq!(check(a, seal(), request(&other_document), NOW), Ok(()));
}

#[test]
fn grants_follow_the_separation_of_duties() {
    let grant = |custodian, grantee, case, expires| {
        check_grant(
            &seal(),
            &GrantRequest { custodian, grantee, case_number: case, expires_at: expires },
            NOW,
            86_400,
        )
    };
    assert_eq!(grant("wang", "approval-system", "2026-001", NOW + 3600), Ok(()));
    assert!(matches!(
        grant("li", "approval-system", "2026-001", NOW + 3600),
        Err(PolicyError::NotCustodian { .. })
    ));
    assert!(matches!(
        grant("wang", "wang", "2026-001", NOW + 3600),
        Err(PolicyError::SelfAuthorization { .. })
    ));
    assert!(matches!(
        grant("wang", "approval-system", " ", NOW + 3600),
        Err(PolicyError::MissingCaseNumber)
    ));
    assert!(matches!(
        grant("wang", "approval-system", "c", NOW),
        Err(PolicyError::BadExpiry { .. })
    ));
    assert!(matches!(
        grant("wang", "approval-system", "c", NOW + 86_401),
        Err(PolicyError::BadExpiry { .. })
    ));
}
