//! `eseal sign IN.pdf --seal ID --authorization AID -o OUT.pdf`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, ClientArgs, progress};
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::sign_document_request::Part as RequestPart;
use eseal_service::api::proto::sign_document_response::Part as ResponsePart;
use eseal_service::api::proto::signing_service_client::SigningServiceClient;
use eseal_service::api::proto::{self, SignDocumentRequest, SignHeader};

/// Options of `eseal sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// The PDF to seal.
    input: PathBuf,
    /// The seal.
    #[arg(long)]
    seal: String,
    /// The custodian's authorization id.
    #[arg(long)]
    authorization: String,
    /// Where to write the sealed PDF.
    #[arg(short, long)]
    output: PathBuf,
    /// Page, 1-based or negative from the end (-1: last page).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    page: i64,
    /// Visible seal rectangle X,Y,W,H from --corner in --unit; without it the seal is invisible.
    #[arg(long)]
    rect: Option<String>,
    /// Unit of --rect: mm or pt.
    #[arg(long, default_value = "mm")]
    unit: String,
    /// Corner --rect is measured from: bottom-left, bottom-right, top-left, top-right.
    #[arg(long, default_value = "bottom-right")]
    corner: String,
    /// Case number (default: the authorization's).
    #[arg(long)]
    case: Option<String>,
    /// /Reason of the signature.
    #[arg(long, default_value = "")]
    reason: String,
    /// /Location of the signature.
    #[arg(long, default_value = "")]
    location: String,
    /// Idempotency key (default: derived from the authorization, which permits one stamping,
    /// so that running the same command again replays the same result).
    #[arg(long)]
    request_id: Option<String>,
    /// Download the whole sealed document. By default only the update the server appends is
    /// downloaded: the output is written from the bytes sent, as they are sent, followed by the
    /// update, and checked against the receipt's SHA-256 either way.
    #[arg(long)]
    whole_document: bool,
    #[command(flatten)]
    client: ClientArgs,
}

fn rect(args: &SignArgs) -> Result<Option<proto::SealRect>, CliError> {
    let Some(text) = &args.rect else { return Ok(None) };
    let numbers: Vec<f64> = text
        .split(',')
        .map(|n| n.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| CliError::Usage(format!("--rect {text:?}: expected X,Y,W,H")))?;
    let [x, y, width, height] = numbers[..] else {
        return Err(CliError::Usage(format!("--rect {text:?}: expected four numbers X,Y,W,H")));
    };
    let unit = match args.unit.as_str() {
        "mm" => proto::Unit::Millimetres,
        "pt" => proto::Unit::Points,
        other => return Err(CliError::Usage(format!("--unit {other:?}: use mm or pt"))),
    };
    let corner = match args.corner.as_str() {
        "bottom-left" => proto::Corner::BottomLeft,
        "bottom-right" => proto::Corner::BottomRight,
        "top-left" => proto::Corner::TopLeft,
        "top-right" => proto::Corner::TopRight,
        other => {
            return Err(CliError::Usage(format!(
                "--corner {other:?}: use bottom-left, bottom-right, top-left or top-right"
            )));
        }
    };
    Ok(Some(proto::SealRect { x, y, width, height, unit: unit as i32, corner: corner as i32 }))
}

/// Bytes per uploaded message.
const UPLOAD_CHUNK: usize = 1 << 20;

/// A failed read of the document, with the sender of the upload stream: held until the call
/// is cancelled, so that the server never sees a normal end of a partial document.
type ReadFailure = (String, tokio::sync::mpsc::Sender<SignDocumentRequest>);

/// The output writer's task (see [`output_writer`]).
type WriterTask = tokio::task::JoinHandle<Result<(ring::digest::Digest, u64), CliError>>;

/// The header, then the file's bytes read a chunk at a time on a blocking thread while the
/// previous chunks are being sent (at most four chunks queued, and four more for `copy`). Each
/// chunk also goes to `copy`, when given, before it is sent. A read error, or a file that
/// changes size while being read, is reported on the returned channel instead of ending the
/// stream.
fn upload_stream(
    header: SignHeader,
    mut file: std::fs::File,
    size: u64,
    bar: indicatif::ProgressBar,
    copy: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
) -> (
    impl tokio_stream::Stream<Item = SignDocumentRequest>,
    tokio::sync::oneshot::Receiver<ReadFailure>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (fail, failed) = tokio::sync::oneshot::channel();
    let header = SignDocumentRequest { part: Some(RequestPart::Header(header)) };
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        if tx.blocking_send(header).is_err() {
            return;
        }
        let mut sent = 0u64;
        loop {
            let mut chunk = vec![0u8; UPLOAD_CHUNK];
            let failure = match file.read(&mut chunk) {
                Ok(0) if sent == size => return,
                Ok(0) => {
                    Some(format!("the document shrank while being read ({sent} of {size} bytes)"))
                }
                Ok(n) if sent + n as u64 > size => {
                    Some(format!("the document grew while being read (more than {size} bytes)"))
                }
                Err(e) => Some(format!("reading the document failed after {sent} bytes: {e}")),
                Ok(read) => {
                    chunk.truncate(read);
                    None
                }
            };
            // A copy that stops taking chunks failed to write the output: nothing may be sealed.
            let failure = failure.or_else(|| {
                let copy = copy.as_ref()?;
                copy.blocking_send(bytes::Bytes::copy_from_slice(&chunk))
                    .err()
                    .map(|_| "the output file could not be written".to_string())
            });
            if let Some(failure) = failure {
                let _ = fail.send((failure, tx));
                return;
            }
            let read = chunk.len();
            sent += read as u64;
            bar.inc(read as u64);
            if tx
                .blocking_send(SignDocumentRequest { part: Some(RequestPart::Chunk(chunk)) })
                .is_err()
            {
                return;
            }
        }
    });
    (tokio_stream::wrappers::ReceiverStream::new(rx), failed)
}

/// Bytes written between two requests to start putting the output on disk.
const SYNC_EVERY: u64 = 16 << 20;

/// A thread that hashes and writes the chunks sent to it, then syncs the file; it answers the
/// SHA-256 and the length of everything written. A second thread syncs what is written so far
/// every [`SYNC_EVERY`] bytes, so that the disk works during the transfer and the final sync
/// has little left to do.
///
/// The task ends with the SHA-256 and the length of what it wrote.
fn output_writer(
    mut file: std::fs::File,
    path: PathBuf,
) -> (tokio::sync::mpsc::Sender<bytes::Bytes>, WriterTask) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let writer = tokio::task::spawn_blocking(move || {
        let cannot_write =
            |e: std::io::Error| CliError::Usage(format!("cannot write {}: {e}", path.display()));
        // The early syncs are only a head start: their failures are seen by the final sync.
        let (sync_now, sync_requests) = std::sync::mpsc::sync_channel::<()>(1);
        let syncer = file.try_clone().ok().map(|early| {
            std::thread::spawn(move || {
                while sync_requests.recv().is_ok() {
                    let _ = early.sync_data();
                }
            })
        });
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        let mut unsynced = 0u64;
        let mut written = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            hash.update(&chunk);
            file.write_all(&chunk).map_err(cannot_write)?;
            written += chunk.len() as u64;
            unsynced += chunk.len() as u64;
            if unsynced >= SYNC_EVERY {
                unsynced = 0;
                let _ = sync_now.try_send(()); // one sync waiting is enough
            }
        }
        drop(sync_now);
        if let Some(syncer) = syncer {
            let _ = syncer.join();
        }
        file.sync_all().map_err(cannot_write)?;
        Ok((hash.finish(), written))
    });
    (tx, writer)
}

/// Seals the file through the server and writes the result.
pub async fn run(args: SignArgs) -> Result<(), CliError> {
    let file = std::fs::File::open(&args.input)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.input.display())))?;
    let size = file
        .metadata()
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.input.display())))?
        .len();
    let rect = rect(&args)?;
    let channel = args.client.connect("client-department").await?;
    let case_number = match &args.case {
        Some(c) => c.clone(),
        None => {
            let request = proto::GetAuthorizationRequest { id: args.authorization.clone() };
            SealAdminServiceClient::new(channel.clone())
                .get_authorization(request)
                .await?
                .into_inner()
                .case_number
        }
    };
    // One authorization permits one stamping: an id derived from it alone makes a re-run
    // replay, without reading the document twice to hash it first.
    let request_id = args.request_id.clone().unwrap_or_else(|| {
        let seed = [b"eseal sign:".as_slice(), args.authorization.as_bytes()].concat();
        format!(
            "req-{}",
            &eseal_encoding::hex(ring::digest::digest(&ring::digest::SHA256, &seed).as_ref())[..32]
        )
    });
    let returned = if args.whole_document {
        proto::ReturnedBytes::SealedDocument
    } else {
        proto::ReturnedBytes::UpdateOnly
    };
    let header = SignHeader {
        seal_id: args.seal.clone(),
        authorization_id: args.authorization.clone(),
        request_id,
        placement: Some(proto::Placement { page: args.page, rect }),
        reason: args.reason.clone(),
        location: args.location.clone(),
        case_number,
        returned_bytes: returned as i32,
        ..Default::default()
    };
    let partial = args.output.with_extension("pdf.partial");
    let output = std::fs::File::create(&partial)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", partial.display())))?;
    // Hashing and writing run on their own thread, fed with the bytes sent (update only) and
    // the bytes received.
    let (chunks, writer) = output_writer(output, partial.clone());
    // `exchange` drops its sender when it returns: the writer then finishes what it was given.
    let exchanged = exchange(&args, channel, header, file, size, chunks).await;
    let sealed = check_written(exchanged, writer).await.and_then(|receipt| {
        std::fs::rename(&partial, &args.output)
            .map(|()| receipt)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", args.output.display())))
    });
    let receipt = match sealed {
        Ok(receipt) => receipt,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    println!(
        "sealed {} -> {} ({} bytes), seal {}, field {}, audit record #{}{}",
        args.input.display(),
        args.output.display(),
        receipt.output_size,
        receipt.seal_id,
        receipt.field_name,
        receipt.audit_sequence,
        if receipt.replayed { " (replayed: this stamping was already done)" } else { "" }
    );
    Ok(())
}

/// The outcome of `exchanged` (the call, which fed `writer`) once `writer` has finished: the
/// receipt when everything written hashes to its SHA-256 and is synced. When writing failed,
/// the writer's error is the one reported.
async fn check_written(
    exchanged: Result<proto::StampingReceipt, CliError>,
    writer: tokio::task::JoinHandle<Result<(ring::digest::Digest, u64), CliError>>,
) -> Result<proto::StampingReceipt, CliError> {
    let written =
        writer.await.map_err(|e| CliError::Serve(format!("the output's writer failed: {e}")));
    match (exchanged, written) {
        (Ok(receipt), Ok(Ok((digest, len)))) => {
            if len != receipt.output_size || digest.as_ref() != receipt.output_sha256.as_slice() {
                return Err(CliError::Serve(
                    "the sealed document written does not match the receipt's size and SHA-256"
                        .into(),
                ));
            }
            Ok(receipt)
        }
        (Ok(receipt), Ok(Err(e)) | Err(e)) => Err(CliError::Usage(format!(
            "{e}; the stamping is recorded (audit record #{}): run the same command again to write it",
            receipt.audit_sequence
        ))),
        // A write that failed during the upload cancelled the call: the writer's error says why.
        (Err(_), Ok(Err(e))) => Err(CliError::Usage(format!("{e}; nothing was sealed"))),
        (Err(e), _) => Err(e),
    }
}

/// The call itself: the upload (copied to `chunks` in update-only mode), the receipt, then the
/// answer's chunks to `chunks`.
async fn exchange(
    args: &SignArgs,
    channel: tonic::transport::Channel,
    header: SignHeader,
    file: std::fs::File,
    size: u64,
    chunks: tokio::sync::mpsc::Sender<bytes::Bytes>,
) -> Result<proto::StampingReceipt, CliError> {
    let update_only = header.returned_bytes == proto::ReturnedBytes::UpdateOnly as i32;
    let upload = progress::bar(size, "upload");
    let (outgoing, failed) =
        upload_stream(header, file, size, upload.clone(), update_only.then(|| chunks.clone()));
    let mut client = SigningServiceClient::new(channel).max_decoding_message_size(16 << 20);
    // A failed read cancels the call (the future is dropped): the server discards the upload.
    let outcome = tokio::select! {
        answer = client.sign_document(outgoing) => Ok(answer),
        Ok(failure) = failed => Err(failure),
    };
    let mut responses = match outcome {
        Ok(answer) => answer?.into_inner(),
        Err((message, upload_sender)) => {
            drop(upload_sender);
            return Err(CliError::Usage(format!(
                "{}: {message}; nothing was sealed",
                args.input.display()
            )));
        }
    };
    upload.finish_and_clear();
    let receipt = match responses.message().await? {
        Some(proto::SignDocumentResponse { part: Some(ResponsePart::Receipt(r)) }) => r,
        _ => return Err(CliError::Serve("the server answered without a receipt".into())),
    };
    // A server older than ReturnedBytes leaves input_size at 0 and sends the whole document:
    // the bytes already written from the upload are then skipped in the answer.
    let mut skip = match receipt.input_size {
        0 if update_only && size > 0 => size,
        0 => 0,
        received if received == size => 0,
        received => {
            return Err(CliError::Serve(format!(
                "the server received {received} bytes of the {size} sent"
            )));
        }
    };
    let download = progress::bar(
        if update_only { receipt.output_size.saturating_sub(size) } else { receipt.output_size },
        "download",
    );
    loop {
        let chunk = match responses.message().await? {
            Some(proto::SignDocumentResponse { part: Some(ResponsePart::Chunk(chunk)) }) => chunk,
            Some(_) => continue,
            None => break,
        };
        let skipped = skip.min(chunk.len() as u64);
        skip -= skipped;
        let chunk = chunk.slice(skipped as usize..);
        download.inc(chunk.len() as u64);
        if !chunk.is_empty() && chunks.send(chunk).await.is_err() {
            break; // the writer failed; its error is reported by the caller
        }
    }
    download.finish_and_clear();
    Ok(receipt)
}
