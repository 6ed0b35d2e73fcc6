//! The stamping use case, top to bottom: the caller's role, a retry's replay, the policy
//! (before the upload, then again with the document's digest), the seal's key and the engine,
//! the durable commit, the kept copy. Nothing is returned before the commit; a failure before
//! it consumes nothing. The API translates a SignDocument call into a [`StampingOrder`] and
//! the [`Stamping`] back into a receipt and the sealed bytes.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::spool::Spooled;
use super::{LoadedSeal, ServiceError, ServiceState};
use crate::auth::{Principal, Role};
use crate::policy::{self, Authorization, PolicyError, StampingRequest};
use crate::stamp;
use crate::store::StampingRecord;
use eseal_audit::{AuditEvent, EventKind};
use eseal_encoding::civil_time::now;
use eseal_encoding::hex;
use eseal_pdf::{Corner, Placement, SealOptions, SealRect, Source, Unit};

/// Bytes per read when the sealed document is copied to the kept folder.
const COPY_CHUNK: usize = 1 << 20;

/// What a department system asks: which seal, under which authorization, for which case, and
/// how the seal looks on the page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StampingOrder {
    /// The seal.
    pub seal_id: String,
    /// The custodian's authorization, consumed by the stamping.
    pub authorization_id: String,
    /// The caller's own id of this request: the same id with the same document replays.
    pub request_id: String,
    /// The approval's case number, checked against the authorization's.
    pub case_number: String,
    /// Page and rectangle, signature dictionary texts, certification, field name.
    pub appearance: Appearance,
}

/// How and where the seal appears, and what its signature dictionary says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Appearance {
    /// 1-based page; negative counts from the end.
    pub page: i64,
    /// Where on the page; `None` for an invisible seal.
    pub rect: Option<SealRect>,
    /// /Reason ("" for none).
    pub reason: String,
    /// /Location ("" for none).
    pub location: String,
    /// /ContactInfo ("" for none).
    pub contact_info: String,
    /// A certification (DocMDP) seal rather than an approval one.
    pub certify: bool,
    /// The signature field's name ("" for one the engine chooses).
    pub field_name: String,
}

/// A stamping done, new or replayed: its record, the seal it used, and the sealed document as
/// the received bytes followed by the incremental update.
pub struct Stamping {
    /// The committed record (with its audit sequence number).
    pub record: StampingRecord,
    /// The seal, for the receipt's certificate.
    pub seal: Arc<LoadedSeal>,
    /// The document as received.
    pub document: Spooled,
    /// The incremental update that seals it.
    pub update: Vec<u8>,
    /// Whether this answers a retry of a stamping already made.
    pub replayed: bool,
}

/// Stamps the document that `upload` receives, as `principal` orders. `upload` is awaited only
/// once every rule but the document binding has passed: nothing is received for a request
/// that cannot succeed.
pub async fn stamp(
    state: &ServiceState,
    principal: &Principal,
    order: &StampingOrder,
    upload: impl Future<Output = Result<Spooled, ServiceError>>,
) -> Result<Stamping, ServiceError> {
    if !principal.has(Role::Department, Some(&order.seal_id)) {
        return Err(ServiceError::denied(&principal.name, Role::Department, Some(&order.seal_id)));
    }

    // One read for both: a retry of a stamping whose answer was lost (the same bytes again,
    // nothing consumed), and the authorization the order names. Request ids are the caller's
    // own: another principal's never answers here.
    let (done, authorization) = state
        .store
        .stamping_and_authorization(&principal.name, &order.request_id, &order.authorization_id)
        .await?;
    if let Some(done) = done {
        return retry(state, order, done, upload).await;
    }

    // Every rule but the document binding, before the upload.
    let authorization = authorization.ok_or_else(|| ServiceError::NotFound {
        what: "authorization",
        id: order.authorization_id.clone(),
    })?;
    let seal = state
        .recent_seal(&order.seal_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: "seal", id: order.seal_id.clone() })?;
    let loaded = state.loaded_seal(&seal)?;
    let certificate = Some(loaded.certificate_validity);
    let request = |digest| StampingRequest {
        principal: &principal.name,
        seal_id: &order.seal_id,
        case_number: &order.case_number,
        document_sha256: digest,
    };
    policy::check_stamping(&authorization, &seal, certificate, &request(None), now())?;

    // The document, and the rules again with its digest.
    let document = upload.await?;
    let input_sha256 = document.sha256();
    let signing_time = now();
    let checked = &request(Some(&input_sha256));
    if let Err(refusal) =
        policy::check_stamping(&authorization, &seal, certificate, checked, signing_time)
    {
        // A retry racing its own original finds the authorization used by itself: replay.
        return match already_done(state, principal, order, &input_sha256).await? {
            Some(done) => replay(state, done, document).await,
            None => Err(refusal.into()),
        };
    }

    // The key and the engine: one private-key operation.
    let (document, update, record) = seal_document(
        &loaded,
        &authorization,
        principal,
        order,
        document,
        input_sha256,
        signing_time,
    )
    .await?;

    // The durable step: the authorization consumed, the stamping kept for replay, both audit
    // records appended, in one transaction. Nothing is returned before it commits.
    let record = match commit(state, &loaded, record).await {
        Ok(record) => record,
        Err(e) => {
            // The same request may have committed meanwhile (a concurrent retry): replay it.
            return match already_done(state, principal, order, &input_sha256).await? {
                Some(done) => replay(state, done, document).await,
                None => Err(e),
            };
        }
    };

    // The kept copy, before anything is sent.
    let (document, update) =
        keep_document(state, document, update, &record.output_sha256, record.audit_sequence)
            .await?;
    Ok(Stamping { record, seal: loaded, document, update, replayed: false })
}

/// A request id this principal used before: the same seal, authorization and document replay
/// the recorded stamping; anything else is refused.
async fn retry(
    state: &ServiceState,
    order: &StampingOrder,
    done: StampingRecord,
    upload: impl Future<Output = Result<Spooled, ServiceError>>,
) -> Result<Stamping, ServiceError> {
    if done.seal_id != order.seal_id || done.authorization_id != order.authorization_id {
        return Err(ServiceError::RequestIdReused(order.request_id.clone()));
    }
    let document = upload.await?;
    if document.sha256() != done.input_sha256 {
        // Same caller, seal and authorization, another document: what stands in the way is
        // the authorization, used already for the recorded one.
        let used =
            PolicyError::AlreadyUsed { id: done.authorization_id, request_id: done.request_id };
        return Err(used.into());
    }
    replay(state, done, document).await
}

/// Seals `document` (whose digest is `input_sha256`) with `seal` under `authorization`, as
/// `principal`'s `order` says, signed at `signing_time`: the incremental update, and the record
/// of the stamping to commit.
async fn seal_document(
    seal: &Arc<LoadedSeal>,
    authorization: &Authorization,
    principal: &Principal,
    order: &StampingOrder,
    document: Spooled,
    input_sha256: [u8; 32],
    signing_time: i64,
) -> Result<(Spooled, Vec<u8>, StampingRecord), ServiceError> {
    let options =
        StoredOptions::new(&order.appearance, signing_time, stamp::contents_size(&seal.chain));
    let options_json =
        serde_json::to_string(&options).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let engine_seal = Arc::clone(seal);
    let (document, update, stamped) = run_engine(document, move |document| {
        let original = document.hash.clone();
        stamp::seal_update(
            document,
            original,
            &options.seal_options(&engine_seal),
            &engine_seal.chain,
            engine_seal.signer.as_ref(),
        )
    })
    .await?;
    let record = StampingRecord {
        request_id: order.request_id.clone(),
        principal: principal.name.clone(),
        seal_id: order.seal_id.clone(),
        authorization_id: authorization.id.clone(),
        case_number: order.case_number.clone(),
        input_sha256,
        output_sha256: stamped.document.output_sha256,
        output_size: stamped.document.output_len,
        signing_time,
        field_name: stamped.document.field_name.clone(),
        cms_sha256: sha256(&stamped.cms),
        cms: stamped.cms,
        options_json,
        audit_sequence: 0,
    };
    Ok((document, update, record))
}

/// Commits `record` with its two audit records (authorization consumed, document sealed);
/// returns it with its audit sequence number.
async fn commit(
    state: &ServiceState,
    seal: &LoadedSeal,
    record: StampingRecord,
) -> Result<StampingRecord, ServiceError> {
    let event = |kind| {
        let mut e = AuditEvent::new(kind, record.principal.clone());
        e.seal_id = Some(record.seal_id.clone());
        e.authorization_id = Some(record.authorization_id.clone());
        e.request_id = Some(record.request_id.clone());
        e.case_number = Some(record.case_number.clone());
        e.input_sha256 = Some(hex(&record.input_sha256));
        e.seal_certificate_sha256 = Some(seal.chain.fingerprint_hex());
        e
    };
    let consumed = event(EventKind::AuthorizationConsumed);
    let mut sealed = event(EventKind::DocumentSealed);
    sealed.output_sha256 = Some(hex(&record.output_sha256));
    let committing = std::time::Instant::now();
    let committed = state.store.commit_stamping(&record, consumed, sealed, now()).await;
    state.metrics.store_commit(committing.elapsed());
    Ok(committed?)
}

/// The recorded stamping: the same bytes again from the stored signature, consuming nothing.
async fn replay(
    state: &ServiceState,
    done: StampingRecord,
    document: Spooled,
) -> Result<Stamping, ServiceError> {
    let seal = state
        .recent_seal(&done.seal_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: "seal", id: done.seal_id.clone() })?;
    let loaded = state.loaded_seal(&seal)?;
    let options: StoredOptions = serde_json::from_str(&done.options_json)
        .map_err(|e| ServiceError::Internal(format!("stored options unreadable: {e}")))?;
    let engine_seal = Arc::clone(&loaded);
    let cms = done.cms.clone();
    let (document, update, sealed) = run_engine(document, move |document| {
        let original = document.hash.clone();
        stamp::replay_update(
            document,
            original,
            &options.seal_options(&engine_seal),
            &engine_seal.chain,
            &cms,
        )
    })
    .await?;
    if sealed.output_sha256 != done.output_sha256 {
        return Err(ServiceError::Internal(format!(
            "the replay of request {} does not reproduce the recorded document",
            done.request_id
        )));
    }
    tracing::info!(request_id = %done.request_id, "stamping replayed");
    let (document, update) =
        keep_document(state, document, update, &done.output_sha256, done.audit_sequence).await?;
    Ok(Stamping { record: done, seal: loaded, document, update, replayed: true })
}

/// The recorded stamping of the order's request id, when this principal already made it with
/// this seal, authorization and document; a request id this principal used for another
/// request is refused.
async fn already_done(
    state: &ServiceState,
    principal: &Principal,
    order: &StampingOrder,
    input_sha256: &[u8; 32],
) -> Result<Option<StampingRecord>, ServiceError> {
    let request_id = &order.request_id;
    match state.store.stamping(&principal.name, request_id).await? {
        Some(done)
            if done.seal_id != order.seal_id
                || done.authorization_id != order.authorization_id
                || done.input_sha256 != *input_sha256 =>
        {
            Err(ServiceError::RequestIdReused(request_id.clone()))
        }
        other => Ok(other),
    }
}

/// Documents up to this size are sealed on the calling task (well under a millisecond for a
/// typical approval document); larger ones on the blocking pool, so that reading a spooled
/// file never holds up the runtime's workers.
const INLINE_SEAL_BYTES: u64 = 1 << 20;

/// Runs the engine over `document`: inline when small, on the blocking pool otherwise.
/// Returns the document with the engine's result.
async fn run_engine<T, F>(document: Spooled, work: F) -> Result<(Spooled, Vec<u8>, T), ServiceError>
where
    T: Send + 'static,
    F: FnOnce(&Spooled) -> Result<(Vec<u8>, T), stamp::StampError> + Send + 'static,
{
    if document.len() <= INLINE_SEAL_BYTES {
        let (update, result) = work(&document)?;
        return Ok((document, update, result));
    }
    let (document, result) = tokio::task::spawn_blocking(move || {
        let result = work(&document);
        (document, result)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("the sealing task failed: {e}")))?;
    let (update, result) = result?;
    Ok((document, update, result))
}

/// Keeps the sealed document (the received bytes, then the update) as `<SHA-256 hex>.pdf` in
/// `[archive] keep_documents_dir`, when it is configured, for archive exports. Called after the
/// stamping committed and before anything is sent: a document is released only once kept. A
/// failure fails the call; the same request again replays the stamping and keeps it then.
async fn keep_document(
    state: &ServiceState,
    document: Spooled,
    update: Vec<u8>,
    output_sha256: &[u8; 32],
    sequence: u64,
) -> Result<(Spooled, Vec<u8>), ServiceError> {
    let Some(dir) = state.settings.keep_documents_dir.clone() else {
        return Ok((document, update));
    };
    let expected = *output_sha256;
    let (document, update, written) = tokio::task::spawn_blocking(move || {
        let written = write_kept(&dir, &document, &update, &expected);
        (document, update, written)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("the task keeping the document failed: {e}")))?;
    written.map_err(|e| {
        ServiceError::Internal(format!(
            "the document was sealed (audit record #{sequence}) but could not be kept in archive.keep_documents_dir: {e}; send the same request again to receive it"
        ))
    })?;
    Ok((document, update))
}

/// Writes `document` then `update` to `dir/<hex of expected>.pdf`: into a temporary file beside
/// it, checked against `expected`, synced, then renamed (the folder never holds half a
/// document). A file already there with the right size is kept as it is (a replay).
fn write_kept(
    dir: &std::path::Path,
    document: &Spooled,
    update: &[u8],
    expected: &[u8; 32],
) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(format!("{}.pdf", hex(expected)));
    let len = document.len() + update.len() as u64;
    if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == len) {
        return Ok(());
    }
    // Sealed documents are the service's own: the folder is created 0700, the files 0600
    // (NamedTempFile's mode, kept by the rename).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; COPY_CHUNK];
    let mut offset = 0u64;
    while offset < document.len() {
        let want = COPY_CHUNK.min((document.len() - offset) as usize);
        let read = document.read_at(offset, &mut buffer[..want])?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the spooled document ended early",
            ));
        }
        digest.update(&buffer[..read]);
        file.write_all(&buffer[..read])?;
        offset += read as u64;
    }
    digest.update(update);
    file.write_all(update)?;
    if digest.finish().as_ref() != expected {
        return Err(std::io::Error::other(
            "the bytes to keep do not hash to the recorded output SHA-256",
        ));
    }
    file.as_file().sync_all()?;
    file.persist(&path).map_err(|e| e.error)?;
    // The rename itself is durable once the folder is synced.
    std::fs::File::open(dir)?.sync_all()
}

/// The SHA-256 of `bytes`.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// The options of a stamping as stored for its replay (JSON in the stamping record: the field
/// names and the rectangle's form are a stored format).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct StoredOptions {
    page: i64,
    rect: Option<(f64, f64, f64, f64, String, String)>,
    reason: String,
    location: String,
    contact_info: String,
    certify: bool,
    field_name: String,
    signing_time: i64,
    /// Bytes reserved in /Contents. Absent in records made while every seal kept room for a
    /// timestamp: their replays reserve that again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contents_size: Option<usize>,
}

impl StoredOptions {
    fn new(appearance: &Appearance, signing_time: i64, contents_size: usize) -> Self {
        let rect = appearance.rect.as_ref().map(|r| {
            let unit = match r.unit {
                Unit::Millimetres => "mm",
                Unit::Points => "pt",
            };
            let corner = match r.corner {
                Corner::BottomRight => "bottom-right",
                Corner::TopLeft => "top-left",
                Corner::TopRight => "top-right",
                Corner::BottomLeft => "bottom-left",
            };
            (r.x, r.y, r.width, r.height, unit.to_string(), corner.to_string())
        });
        StoredOptions {
            page: appearance.page,
            rect,
            reason: appearance.reason.clone(),
            location: appearance.location.clone(),
            contact_info: appearance.contact_info.clone(),
            certify: appearance.certify,
            field_name: appearance.field_name.clone(),
            signing_time,
            contents_size: Some(contents_size),
        }
    }

    fn seal_options<'a>(&self, seal: &'a LoadedSeal) -> SealOptions<'a> {
        let optional = |s: &String| (!s.is_empty()).then(|| s.clone());
        let rect = self.rect.as_ref().map(|(x, y, width, height, unit, corner)| SealRect {
            x: *x,
            y: *y,
            width: *width,
            height: *height,
            unit: if unit == "mm" { Unit::Millimetres } else { Unit::Points },
            corner: match corner.as_str() {
                "bottom-right" => Corner::BottomRight,
                "top-left" => Corner::TopLeft,
                "top-right" => Corner::TopRight,
                _ => Corner::BottomLeft,
            },
        });
        SealOptions {
            field_name: optional(&self.field_name),
            placement: Placement { page: self.page, rect },
            image: Some(&seal.image),
            signing_time: self.signing_time,
            reason: optional(&self.reason),
            location: optional(&self.location),
            contact_info: optional(&self.contact_info),
            certify: self.certify,
            contents_size: self
                .contents_size
                .unwrap_or_else(|| stamp::contents_size_with_timestamp_room(&seal.chain)),
            reserve_fields: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records written before the reserve was stored read as "no reserve recorded" (replayed
    /// with the old timestamp room); new ones keep theirs, and the rectangle's stored form.
    #[test]
    fn stored_options_read_old_records_and_keep_the_reserve()
    -> Result<(), Box<dyn std::error::Error>> {
        let old = r#"{"page":-1,"rect":null,"reason":"","location":"","contact_info":"","certify":false,"field_name":"","signing_time":1795000000}"#;
        let parsed: StoredOptions = serde_json::from_str(old)?;
        assert_eq!(parsed.contents_size, None);
        let rect = SealRect {
            x: 1.0,
            y: 2.0,
            width: 30.0,
            height: 40.0,
            unit: Unit::Millimetres,
            corner: Corner::TopRight,
        };
        let appearance = Appearance { page: -1, rect: Some(rect), ..Default::default() };
        let new = StoredOptions::new(&appearance, 1_795_000_000, 2_345);
        let json = serde_json::to_string(&new)?;
        assert!(json.contains(r#""contents_size":2345"#), "{json}");
        assert!(json.contains(r#""rect":[1.0,2.0,30.0,40.0,"mm","top-right"]"#), "{json}");
        assert_eq!(serde_json::from_str::<StoredOptions>(&json)?, new);
        Ok(())
    }
}
