//! Sealing benchmark: what one in-process seal costs, on a small and on a large document.
//!
//! Run it with `cargo bench --bench seal` (or `scripts/bench.sh`, which also generates the large
//! file, runs the pyHanko peer and prints the side-by-side table; see BENCHMARKS.md).
//!
//! What it measures (every figure is the median of individually timed runs, wall clock):
//!
//! * **small**: `eseal_service::stamp::seal` on tests/corpus/01_debian_shared-mime-info-spec.pdf
//!   (140 KB, 17 pages) held in a `Vec<u8>`, to a fresh `Vec<u8>` (the complete output), visible
//!   seal (30 mm x 30 mm, 10 mm from the bottom-right corner of the last page), with the ECDSA
//!   P-256 seal and, as a second row, the RSA-3072 seal of keys-sample/. The seal image is
//!   decoded once, outside the timed loop, as the service caches it.
//! * **large**: the same seal (ECDSA P-256) on target/bench-data/large-scanned.pdf (generated
//!   by benches/make_large_pdf.py, ~68 MB), from a `FileSource` to a newly created output file
//!   in target/bench-data (opening both files is timed; removing the previous output is not).
//!   In the same loop, interleaved run by run, `openssl dgst -sha256 FILE` (a child process,
//!   spawn to exit) gives the hashing floor. The file is read once before timing, so that both
//!   read it from the page cache.
//! * **memory**: the peak-RSS growth of one large seal, measured in a child process (this
//!   binary re-executed with `--memory-child IN OUT`): after loading key, chain and image, the
//!   peak is reset to the current RSS (`5` written to /proc/self/clear_refs) and `VmRSS` read
//!   from /proc/self/status; after sealing, `VmHWM` is read; growth = VmHWM after - VmRSS before.
//!
//! Diagnostics printed but not compared with a peer: the time of each phase of a seal
//! (open, size estimate, prepare, copy+hash, sign, finish), the large seal written to
//! `io::sink()`, and an in-process read+SHA-256 of the large file with `ring`.
//!
//! Rows: `small_ec`, `small_rsa`, `large_ec`, `memory_large_ec`; all by default, or those
//! containing one of the arguments: `cargo bench --bench seal -- small_ec`.
//!
//! Environment: `ESEAL_BENCH_SMALL_ITERS` (default 1001), `ESEAL_BENCH_LARGE_RUNS` (default 9),
//! `ESEAL_BENCH_LARGE` (the large file), `ESEAL_BENCH_JSON` (write the results there as JSON,
//! for scripts/bench.sh).

use std::fs::File;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eseal_cms::{CertificateChain, RingSigner, build_pades_signed_data};
use eseal_pdf::{
    Corner, Document, FileSource, Placement, SealImage, SealOptions, SealRect, Source, Unit,
};
use serde_json::{Value, json};

#[path = "../tests/common/corpus.rs"]
mod corpus;

/// The small document: corpus file 01.
fn small() -> PathBuf {
    corpus::corpus("01")
}
const EC: &str = "seal-approval-ec";
const RSA: &str = "seal-housing-rsa";

type BoxError = Box<dyn std::error::Error>;

/// A keys-sample seal: image, chain and key, loaded once.
struct Seal {
    name: &'static str,
    image: SealImage,
    chain: CertificateChain,
    signer: RingSigner,
}

impl Seal {
    fn load(name: &'static str) -> Result<Seal, BoxError> {
        let dir = root().join("keys-sample");
        Ok(Seal {
            name,
            image: SealImage::from_png(&std::fs::read(dir.join(format!("{name}.png")))?)?,
            chain: CertificateChain::from_pem(&std::fs::read_to_string(
                dir.join(format!("{name}-chain.pem")),
            )?)?,
            signer: RingSigner::from_pkcs8(&std::fs::read(dir.join(format!("{name}.pk8")))?)?,
        })
    }

    /// A visible seal, 30 mm square, 10 mm from the bottom-right corner of the last page.
    fn options(&self) -> SealOptions<'_> {
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
            image: Some(&self.image),
            signing_time: 1_790_000_000,
            reason: Some("审批通过".into()),
            location: Some("示例市".into()),
            contact_info: None,
            certify: false,
            contents_size: 0,
            reserve_fields: Vec::new(),
        }
    }

    /// One complete seal, as the service does it.
    fn seal<S: Source, W: Write>(&self, source: &S, out: &mut W) -> Result<u64, BoxError> {
        let stamped =
            eseal_service::stamp::seal(source, out, &self.options(), &self.chain, &self.signer)?;
        Ok(stamped.document.output_len)
    }

    /// The same steps as `eseal_service::stamp::seal`, each timed (diagnostics only).
    fn seal_phased<S: Source, W: Write>(
        &self,
        source: &S,
        out: &mut W,
        phases: &mut Phases,
    ) -> Result<(), BoxError> {
        let mut t = Instant::now();
        let mut lap = |slot: &mut Vec<Duration>| {
            let now = Instant::now();
            slot.push(now - t);
            t = now;
        };
        let doc = Document::open(source)?;
        lap(&mut phases.open);
        let options = SealOptions {
            contents_size: eseal_service::stamp::contents_size(&self.chain),
            ..self.options()
        };
        lap(&mut phases.estimate);
        let prepared = eseal_pdf::prepare(&doc, &options)?;
        lap(&mut phases.prepare);
        let hashed = prepared.copy_original(source, out)?;
        lap(&mut phases.copy);
        let cms = build_pades_signed_data(hashed.document_digest(), &self.chain, &self.signer)?;
        lap(&mut phases.sign);
        black_box(hashed.finish(out, &cms)?);
        lap(&mut phases.finish);
        Ok(())
    }
}

/// Per-phase timings of [`Seal::seal_phased`].
#[derive(Default)]
struct Phases {
    open: Vec<Duration>,
    estimate: Vec<Duration>,
    prepare: Vec<Duration>,
    copy: Vec<Duration>,
    sign: Vec<Duration>,
    finish: Vec<Duration>,
}

impl Phases {
    fn report(&self, label: &str) -> Value {
        let rows = [
            ("open (Document::open: header, xref)", &self.open),
            ("size estimate (stamp::contents_size)", &self.estimate),
            ("prepare (pdf::prepare: objects, update)", &self.prepare),
            ("copy_original (read + SHA-256 + write)", &self.copy),
            ("sign (build_pades_signed_data)", &self.sign),
            ("finish (hex signature, write update)", &self.finish),
        ];
        println!("  phases of {label} (medians):");
        let mut out = serde_json::Map::new();
        for (name, samples) in rows {
            let m = Stats::of(samples).median;
            println!("    {name:<44} {}", ms(m));
            out.insert(
                name.split(' ').next().unwrap_or(name).to_string(),
                json!(m.as_nanos() as u64),
            );
        }
        Value::Object(out)
    }
}

/// Order statistics of a set of timings.
struct Stats {
    median: Duration,
    min: Duration,
    p10: Duration,
    p90: Duration,
    n: usize,
}

impl Stats {
    fn of(samples: &[Duration]) -> Stats {
        assert!(!samples.is_empty(), "no samples");
        let mut s = samples.to_vec();
        s.sort();
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        let median = if s.len() % 2 == 1 {
            s[s.len() / 2]
        } else {
            (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2
        };
        Stats { median, min: s[0], p10: at(0.1), p90: at(0.9), n: s.len() }
    }

    fn json(&self) -> Value {
        json!({
            "n": self.n,
            "median_ns": self.median.as_nanos() as u64,
            "min_ns": self.min.as_nanos() as u64,
            "p10_ns": self.p10.as_nanos() as u64,
            "p90_ns": self.p90.as_nanos() as u64,
        })
    }

    fn line(&self) -> String {
        format!(
            "median {}  (min {}, p10 {}, p90 {}, n={})",
            ms(self.median),
            ms(self.min),
            ms(self.p10),
            ms(self.p90),
            self.n
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

/// Times `f` `n` times after `warmup` untimed calls.
fn time_runs(
    warmup: usize,
    n: usize,
    mut f: impl FnMut() -> Result<(), BoxError>,
) -> Result<Vec<Duration>, BoxError> {
    for _ in 0..warmup {
        f()?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed());
    }
    Ok(samples)
}

/// The small-file benchmark for one seal.
fn bench_small(seal: &Seal, data: &Vec<u8>, iters: usize) -> Result<Value, BoxError> {
    let mut output_len = 0;
    let samples = time_runs(iters / 10 + 5, iters, || {
        let mut out = Vec::new();
        output_len = seal.seal(data, &mut out)?;
        assert_eq!(out.len() as u64, output_len);
        black_box(out);
        Ok(())
    })?;
    let stats = Stats::of(&samples);
    println!("small, {} ({} -> {output_len} bytes): {}", seal.name, data.len(), stats.line());
    let mut phases = Phases::default();
    for _ in 0..iters.min(301) {
        seal.seal_phased(data, &mut Vec::new(), &mut phases)?;
    }
    let phases = phases.report(&format!("small, {}", seal.name));
    Ok(
        json!({ "seal": seal.name, "file": small().display().to_string(), "input_bytes": data.len(), "output_bytes": output_len, "stats": stats.json(), "phases_median_ns": phases }),
    )
}

/// Reads the whole file (into the page cache) and returns its SHA-256 computed with `ring`.
fn read_and_hash(path: &Path) -> io::Result<ring::digest::Digest> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(ctx.finish());
        }
        ctx.update(&buf[..n]);
    }
}

fn openssl_dgst(path: &Path) -> Result<(), BoxError> {
    let status = Command::new("openssl")
        .arg("dgst")
        .arg("-sha256")
        .arg(path)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("openssl dgst failed: {status}").into());
    }
    Ok(())
}

/// The large-file benchmark: seal file-to-file and `openssl dgst -sha256`, interleaved.
fn bench_large(seal: &Seal, path: &Path, runs: usize) -> Result<Value, BoxError> {
    let len = std::fs::metadata(path)?.len();
    let out_path = path.with_file_name("large-sealed-eseal.pdf");
    // Warm the page cache and every code path once.
    read_and_hash(path)?;
    openssl_dgst(path)?;
    seal.seal(&FileSource::open(path)?, &mut File::create(&out_path)?)?;

    let (mut ours, mut openssl, mut sink, mut hash) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut phases = Phases::default();
    let mut output_len = 0;
    for _ in 0..runs {
        let t = Instant::now();
        openssl_dgst(path)?;
        openssl.push(t.elapsed());

        std::fs::remove_file(&out_path)?;
        let t = Instant::now();
        let source = FileSource::open(path)?;
        let mut out = File::create(&out_path)?;
        output_len = seal.seal(&source, &mut out)?;
        drop(out);
        ours.push(t.elapsed());

        let t = Instant::now();
        seal.seal(&FileSource::open(path)?, &mut io::sink())?;
        sink.push(t.elapsed());

        let t = Instant::now();
        black_box(read_and_hash(path)?);
        hash.push(t.elapsed());

        std::fs::remove_file(&out_path)?;
        seal.seal_phased(&FileSource::open(path)?, &mut File::create(&out_path)?, &mut phases)?;
    }
    let written = std::fs::metadata(&out_path)?.len();
    assert_eq!(written, output_len, "the sealed file has the length the seal reported");
    let (ours, openssl, sink, hash) =
        (Stats::of(&ours), Stats::of(&openssl), Stats::of(&sink), Stats::of(&hash));
    let ratio = ours.median.as_secs_f64() / openssl.median.as_secs_f64();
    println!("large ({len} bytes), {}:", seal.name);
    println!("  eseal seal, file -> new file:     {}", ours.line());
    println!("  openssl dgst -sha256 FILE:        {}", openssl.line());
    println!("  ratio eseal / openssl:            {ratio:.2}x (target <= 2x)");
    println!("  eseal seal, file -> io::sink():   {}", sink.line());
    println!("  ring SHA-256 of the file (read):  {}", hash.line());
    let phases = phases.report("large, file -> new file");
    Ok(json!({
        "seal": seal.name,
        "file": path,
        "input_bytes": len,
        "output_bytes": output_len,
        "output_file": out_path,
        "seal_to_file": ours.json(),
        "openssl_dgst": openssl.json(),
        "seal_to_sink": sink.json(),
        "ring_read_sha256": hash.json(),
        "ratio_to_openssl": ratio,
        "phases_median_ns": phases,
    }))
}

/// `VmHWM` and `VmRSS` of this process, in KiB.
fn memory_kib() -> Result<(u64, u64), BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> Result<u64, BoxError> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| format!("no {name} in /proc/self/status"))?;
        Ok(line[name.len()..].trim().trim_end_matches("kB").trim().parse()?)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// The child side of the memory measurement: one seal of `input` to the file `output`.
fn memory_child(input: &str, output: &str) -> Result<(), BoxError> {
    let seal = Seal::load(EC)?;
    let source = FileSource::open(input)?;
    let mut out = File::create(output)?;
    // Reset the peak to the current RSS, so that a higher peak reached while loading (the
    // PNG decoding) cannot hide the seal's; without the reset, measure from the current RSS.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let (hwm_before, rss_before) = memory_kib()?;
    let len = seal.seal(&source, &mut out)?;
    drop(out);
    let (hwm_after, rss_after) = memory_kib()?;
    println!(
        "{}",
        json!({
            "output_bytes": len, "hwm_reset": reset,
            "vmhwm_before_kib": hwm_before, "vmrss_before_kib": rss_before,
            "vmhwm_after_kib": hwm_after, "vmrss_after_kib": rss_after,
            "growth_kib": hwm_after.saturating_sub(rss_before),
        })
    );
    Ok(())
}

fn bench_memory(path: &Path) -> Result<Value, BoxError> {
    let out_path = path.with_file_name("large-sealed-eseal-memory.pdf");
    let output = Command::new(std::env::current_exe()?)
        .arg("--memory-child")
        .arg(path)
        .arg(&out_path)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("memory child failed: {}", output.status).into());
    }
    std::fs::remove_file(&out_path)?;
    let v: Value = serde_json::from_slice(&output.stdout)?;
    let kib = |k: &str| v[k].as_u64().unwrap_or(0);
    println!(
        "memory, large seal in a child process: RSS {} KiB before, peak {} KiB during: growth {:.1} MiB (target < 32 MiB)",
        kib("vmrss_before_kib"),
        kib("vmhwm_after_kib"),
        kib("growth_kib") as f64 / 1024.0
    );
    Ok(v)
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        let (Some(input), Some(output)) = (args.get(i + 1), args.get(i + 2)) else {
            return Err("usage: --memory-child IN OUT".into());
        };
        return memory_child(input, output);
    }

    let small_iters = env_usize("ESEAL_BENCH_SMALL_ITERS", 1001);
    let large_runs = env_usize("ESEAL_BENCH_LARGE_RUNS", 9);
    let large = std::env::var_os("ESEAL_BENCH_LARGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/bench-data/large-scanned.pdf"));

    // Positional arguments (cargo bench --bench seal -- small_ec) select rows by substring.
    let filters: Vec<&String> = args.iter().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |row: &str| filters.is_empty() || filters.iter().any(|f| row.contains(f.as_str()));

    let ec = Seal::load(EC)?;
    let rsa = Seal::load(RSA)?;
    let small = std::fs::read(small())?;
    let mut results = serde_json::Map::new();
    if wanted("small_ec") {
        results.insert("small_ec".into(), bench_small(&ec, &small, small_iters)?);
    }
    if wanted("small_rsa") {
        results.insert("small_rsa".into(), bench_small(&rsa, &small, small_iters)?);
    }
    let want_large = wanted("large_ec") || wanted("memory_large_ec");
    if want_large && !large.exists() {
        println!(
            "large: {} is missing; skipped (scripts/bench.sh generates it with benches/make_large_pdf.py)",
            large.display()
        );
    } else if want_large {
        if wanted("large_ec") {
            results.insert("large_ec".into(), bench_large(&ec, &large, large_runs)?);
        }
        if wanted("memory_large_ec") {
            results.insert("memory_large_ec".into(), bench_memory(&large)?);
        }
    }
    if let Some(path) = std::env::var_os("ESEAL_BENCH_JSON") {
        std::fs::write(&path, serde_json::to_vec_pretty(&Value::Object(results))?)?;
    }
    Ok(())
}
