//! Seal-key benchmark: stampings per second of one document with the same seal picture and
//! placement, signed by three kinds of key, in one run (BENCHMARKS.md, "Seal keys"):
//!
//! * **software**: the plaintext PKCS#8 key held by `ring` (keys-sample/seal-approval-ec.pk8);
//! * **encrypted file**: the same key read from an encrypted key file through
//!   [`eseal_service::keys::KeyRing`] (decrypted once at load, then the same `ring` key);
//! * **SoftHSM2**: an ECDSA P-256 key generated in a SoftHSM2 token, signing through the
//!   session pool (`CKM_ECDSA` over the digest), its certificate issued at start by the
//!   development seal CA.
//!
//! Each stamping is `eseal_service::stamp::seal` of corpus 01 (140 KB) from memory to a fresh
//! `Vec<u8>`, the whole engine (parse, prepare, hash, CMS, one signature, write), in process:
//! no gRPC, no store. Sequential (one thread) and with 4 threads at once (the token's pool
//! has 8 sessions). Run through `scripts/bench_keys.sh`, which makes the token.
//!
//! Environment: `ESEAL_BENCH_KEYS_ITERS` (stampings per row, default 400), `SOFTHSM2_CONF`,
//! `ESEAL_BENCH_TOKEN` (token label), `ESEAL_BENCH_PIN`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use eseal_cms::{CertificateChain, RingSigner, Signer};
use eseal_pdf::{Corner, Placement, SealImage, SealOptions, SealRect, Unit};
use eseal_service::keys::{Kek, KeyAlgorithm, KeyRing, KeyStore, Token, TokenSettings, envelope};

type BoxError = Box<dyn std::error::Error>;

#[path = "../tests/common/corpus.rs"]
mod corpus;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn options(image: &SealImage) -> SealOptions<'_> {
    SealOptions {
        field_name: None,
        placement: Placement {
            page: -1,
            rect: Some(SealRect {
                x: 10.0,
                y: 10.0,
                width: 30.0,
                height: 30.0,
                unit: Unit::Millimetres,
                corner: Corner::BottomRight,
            }),
        },
        image: Some(image),
        signing_time: 1_790_000_000,
        reason: Some("审批通过".into()),
        location: Some("示例市".into()),
        contact_info: None,
        certify: false,
        contents_size: 0,
        reserve_fields: Vec::new(),
    }
}

/// A public key rcgen can certify.
struct Spki(Vec<u8>);

impl rcgen::PublicKeyData for Spki {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// A chain for the token key `spki`, issued by keys-sample's seal CA.
fn token_chain(spki: &[u8]) -> Result<CertificateChain, BoxError> {
    use x509_parser::prelude::FromDer;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)?;
    let dir = root().join("keys-sample");
    let ca_key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.join("seal-ca.key"))?)?;
    let mut ca = rcgen::CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name.push(
        rcgen::DnType::CountryName,
        rcgen::DnValue::PrintableString(rcgen::string::PrintableString::try_from("CN")?),
    );
    ca.distinguished_name.push(rcgen::DnType::OrganizationName, "eseal Development");
    ca.distinguished_name.push(rcgen::DnType::CommonName, "eseal Development Seal Issuing CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "HSM 基准测试专用章");
    params.key_usages =
        vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::ContentCommitment];
    params.not_before = (SystemTime::now() - Duration::from_secs(86_400)).into();
    params.not_after = (SystemTime::now() + Duration::from_secs(86_400 * 30)).into();
    let certificate = params.signed_by(&Spki(info.subject_public_key.data.to_vec()), &issuer)?;
    Ok(CertificateChain::from_pem(&format!(
        "{}{}",
        certificate.pem(),
        std::fs::read_to_string(dir.join("seal-ca.pem"))?
    ))?)
}

/// Stampings per second and median latency of `iterations` stampings over `threads` threads.
fn measure(
    document: &Arc<Vec<u8>>,
    image: &Arc<SealImage>,
    chain: &Arc<CertificateChain>,
    signer: &Arc<dyn Signer>,
    iterations: usize,
    threads: usize,
) -> Result<(f64, Duration), BoxError> {
    let per_thread = iterations / threads;
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (document, image, chain, signer) =
                (Arc::clone(document), Arc::clone(image), Arc::clone(chain), Arc::clone(signer));
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let mut latencies = Vec::with_capacity(per_thread);
                for _ in 0..per_thread {
                    let t = Instant::now();
                    let mut out = Vec::with_capacity(document.len() + 64 * 1024);
                    eseal_service::stamp::seal(
                        &document.as_slice(),
                        &mut out,
                        &options(&image),
                        &chain,
                        signer.as_ref(),
                    )
                    .map_err(|e| e.to_string())?;
                    std::hint::black_box(&out);
                    latencies.push(t.elapsed());
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.join().map_err(|_| "a worker panicked")??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(((per_thread * threads) as f64 / elapsed.as_secs_f64(), latencies[latencies.len() / 2]))
}

fn main() -> Result<(), BoxError> {
    // `cargo bench` passes --bench; nothing else is read from the command line.
    let iterations: usize =
        std::env::var("ESEAL_BENCH_KEYS_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let dir = root().join("keys-sample");
    let document = Arc::new(std::fs::read(corpus::corpus("01"))?);
    let image = Arc::new(SealImage::from_png(&std::fs::read(dir.join("seal-approval-ec.png"))?)?);
    let sample_chain = Arc::new(CertificateChain::from_pem(&std::fs::read_to_string(
        dir.join("seal-approval-ec-chain.pem"),
    )?)?);
    let pkcs8 = std::fs::read(dir.join("seal-approval-ec.pk8"))?;

    let software: Arc<dyn Signer> = Arc::new(RingSigner::from_pkcs8(&pkcs8)?);

    let folder = tempfile::tempdir()?;
    let kek = Kek::parse("5a".repeat(32).as_bytes(), "bench")?;
    std::fs::write(folder.path().join("approval-ec.key.enc"), envelope::seal(&pkcs8, &kek)?)?;
    let ring = KeyRing::files(folder.path(), vec![kek], false);
    let load = Instant::now();
    let encrypted = ring.signer("approval-ec.key.enc")?;
    let load_time = load.elapsed();

    let label = std::env::var("ESEAL_BENCH_TOKEN")
        .map_err(|_| "ESEAL_BENCH_TOKEN is not set: run scripts/bench_keys.sh")?;
    let pin = std::env::var("ESEAL_BENCH_PIN")
        .map_err(|_| "ESEAL_BENCH_PIN is not set: run scripts/bench_keys.sh")?;
    let token = Token::open(&TokenSettings {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        token_label: label,
        pin: pin.into(),
        sessions: 8,
    })?;
    let spki = token.generate("bench-ec", KeyAlgorithm::EcdsaP256)?;
    let token_chain = Arc::new(token_chain(&spki)?);
    let hsm = token.signer("bench-ec")?;

    println!(
        "seal-key benchmark: corpus 01 ({} bytes), {iterations} stampings per row, in process (engine + CMS + one signature)",
        document.len()
    );
    println!("encrypted key file: load and decrypt once {:.2} ms", load_time.as_secs_f64() * 1e3);
    println!("{:<16} {:>8} {:>14} {:>14}", "key", "threads", "stampings/s", "median ms");
    for threads in [1, 4] {
        for (name, chain, signer) in [
            ("software", &sample_chain, &software),
            ("encrypted file", &sample_chain, &encrypted),
            ("SoftHSM2", &token_chain, &hsm),
        ] {
            // A short warm-up: page cache, allocator, token sessions.
            measure(&document, &image, chain, signer, 8.max(threads), threads)?;
            let (rate, median) = measure(&document, &image, chain, signer, iterations, threads)?;
            println!("{name:<16} {threads:>8} {rate:>14.0} {:>14.3}", median.as_secs_f64() * 1e3);
        }
    }
    Ok(())
}
