//! Checking an archive bag offline, with nothing but the log's verifier key and the trust
//! anchors of the seal certificates, for the four properties of electronic records that
//! DA/T 70 asks an archive to keep:
//!
//! - **authenticity**: every record's proof file leads to a checkpoint signed by the log key;
//!   every sealed document's signatures verify (the engine's verifier), its seal signature is
//!   trusted, and its SHA-256 is the output digest of a record of the bag;
//! - **integrity**: the bag's fixity (every file in both manifests with matching SHA-256 and
//!   SHA-512, nothing missing or extra); bag-info's counts of records, documents and seals;
//!   when the service keeps documents, every document a `document_sealed` record names is in
//!   the bag (or listed as one the service did not have); the records' sequence numbers cover the range without
//!   a gap, and signed boundary records show nothing was cut at either end; the consistency
//!   proof from the previous export, when there is one, holds between its two signed notes;
//! - **usability**: every payload file is in an open format (JSON, PEM, PNG, PDF, text) and
//!   parses;
//! - **security**: every checkpoint note of the bag is signed by the given key (never one read
//!   from the bag) and no record lies outside the signed checkpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::bag::{check_fixity, digests_of_file, info_value};
use super::layout::{self, ConsistencyFile, is_sha256_hex, sequence_of};
use super::time::{format_rfc3339, parse_time};
use eseal_audit::{AuditRecord, Checkpoint, EventKind, LogVerifier, ProofFile};
use eseal_verify::{DocumentVerdict, Indication, TrustAnchors, verify_document};

/// At most this many problems are listed per property; the rest are counted.
const MAX_PROBLEMS: usize = 200;

/// One of the four properties.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Property {
    /// Whether it holds: no problem was found.
    pub holds: bool,
    /// What was examined, in plain words.
    pub checked: Vec<String>,
    /// Every problem found, in plain words.
    pub problems: Vec<String>,
    /// Problems found beyond those listed.
    pub more_problems: u64,
}

impl Property {
    fn problem(&mut self, text: impl Into<String>) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text.into());
        } else {
            self.more_problems += 1;
        }
    }

    fn seal(&mut self) {
        self.holds = self.problems.is_empty() && self.more_problems == 0;
    }
}

/// The report of `eseal archive verify`.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ArchiveReport {
    /// The bag's folder.
    pub bag: String,
    /// The verifier key the bag was checked with.
    pub log_key: String,
    /// The log's origin, from the signed checkpoint.
    pub log_origin: Option<String>,
    /// The signed checkpoint's tree size.
    pub tree_size: Option<u64>,
    /// Start of the exported time range (RFC 3339).
    pub from: Option<String>,
    /// End of the exported time range (RFC 3339, exclusive).
    pub to: Option<String>,
    /// The first record's sequence number.
    pub first_sequence: Option<u64>,
    /// The last record's sequence number.
    pub last_sequence: Option<u64>,
    /// Record files in the bag.
    pub records: u64,
    /// Sealed documents in the bag.
    pub documents: u64,
    /// Seals in the bag.
    pub seals: u64,
    /// The previous export's tree size, when the bag proves consistency with it.
    pub previous_tree_size: Option<u64>,
    /// Authenticity.
    pub authenticity: Property,
    /// Integrity.
    pub integrity: Property,
    /// Usability.
    pub usability: Property,
    /// Security.
    pub security: Property,
}

impl ArchiveReport {
    /// Whether all four properties hold.
    pub fn ok(&self) -> bool {
        self.authenticity.holds
            && self.integrity.holds
            && self.usability.holds
            && self.security.holds
    }

    /// The report as text for a person.
    pub fn to_text(&self) -> String {
        let mut out = format!("archive {}\n", self.bag);
        let opt = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
        out.push_str(&format!(
            "  log {} (key {}), checkpoint of {} records\n",
            self.log_origin.as_deref().unwrap_or("?"),
            self.log_key,
            opt(self.tree_size)
        ));
        out.push_str(&format!(
            "  records {}-{} ({} files) with time in [{}, {}), {} documents, {} seals\n",
            opt(self.first_sequence),
            opt(self.last_sequence),
            self.records,
            self.from.as_deref().unwrap_or("?"),
            self.to.as_deref().unwrap_or("?"),
            self.documents,
            self.seals
        ));
        for (name, property) in [
            ("authenticity", &self.authenticity),
            ("integrity", &self.integrity),
            ("usability", &self.usability),
            ("security", &self.security),
        ] {
            out.push_str(&format!(
                "{name:<13} {}\n",
                if property.holds { "HOLDS" } else { "FAILS" }
            ));
            for c in &property.checked {
                out.push_str(&format!("    {c}\n"));
            }
            for p in &property.problems {
                out.push_str(&format!("  ! {p}\n"));
            }
            if property.more_problems > 0 {
                out.push_str(&format!("  ! ... and {} more problems\n", property.more_problems));
            }
        }
        out.push_str(if self.ok() {
            "the archive verifies: all four properties hold\n"
        } else {
            "THE ARCHIVE DOES NOT VERIFY\n"
        });
        out
    }
}

/// What else the check may be given.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Roots the seal certificates must chain to.
    pub anchors: TrustAnchors,
    /// The previous export's signed checkpoint (its `data/checkpoint.txt`): the bag's
    /// consistency proof must start from it.
    pub previous_checkpoint: Option<String>,
}

/// What the bag's records say that other checks need.
#[derive(Default)]
struct Seen {
    /// output SHA-256 → (record sequence, seal certificate fingerprint).
    outputs: BTreeMap<String, (u64, Option<String>)>,
    /// seal id → certificate fingerprints the records name.
    seal_fingerprints: BTreeMap<String, BTreeSet<String>>,
}

/// Numbered JSON files of a folder (`00000042.json`), and the names that are not.
fn numbered_files(root: &Path, dir: &str) -> (BTreeSet<u64>, Vec<String>) {
    let mut numbers = BTreeSet::new();
    let mut others = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match sequence_of(&name) {
                Some(n) if entry.file_type().is_ok_and(|t| t.is_file()) => {
                    numbers.insert(n);
                }
                _ => others.push(format!("{dir}/{name}")),
            }
        }
    }
    (numbers, others)
}

/// Every regular file under `data/`, relative to the bag.
fn payload_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => walk(root, &path, out),
                Ok(t) if t.is_file() => out.push(
                    path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/"),
                ),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &root.join("data"), &mut out);
    out.sort();
    out
}

/// Checks the bag in `root` with the log key `verifier`.
pub fn check_bag(root: &Path, verifier: &LogVerifier, options: &CheckOptions) -> ArchiveReport {
    let mut report = ArchiveReport {
        bag: root.display().to_string(),
        log_key: verifier.verifier_key(),
        ..Default::default()
    };
    let mut authenticity = Property::default();
    let mut integrity = Property::default();
    let mut usability = Property::default();
    let mut security = Property::default();
    let key = verifier.verifier_key();
    let mut notes_verified = 0u64;

    // Integrity: fixity.
    let fixity = check_fixity(root);
    let fixity_ok = fixity.problems.is_empty();
    for p in &fixity.problems {
        integrity.problem(format!("fixity: {p}"));
    }
    integrity.checked.push(format!(
        "fixity: {} payload files ({} bytes) against manifest-sha256.txt and manifest-sha512.txt, tag files against their tag manifests: {}",
        fixity.payload_files,
        fixity.payload_bytes,
        if fixity_ok { "all match" } else { "MISMATCHES" }
    ));
    let info = &fixity.info;
    let info_number = |label: &str| info_value(info, label).and_then(|v| v.parse::<u64>().ok());
    let from = info_value(info, layout::INFO_FROM).and_then(|v| parse_time(v).ok());
    let to = info_value(info, layout::INFO_TO).and_then(|v| parse_time(v).ok());
    report.from = from.map(format_rfc3339);
    report.to = to.map(format_rfc3339);
    for (label, present) in [(layout::INFO_FROM, from.is_some()), (layout::INFO_TO, to.is_some())] {
        if !present {
            integrity.problem(format!("bag-info.txt has no readable {label}"));
        }
    }

    // Security: the bag's checkpoint is signed by the given key.
    let checkpoint_note = std::fs::read_to_string(root.join(layout::CHECKPOINT_PATH)).ok();
    let checkpoint: Option<Checkpoint> = match &checkpoint_note {
        None => {
            security.problem(format!(
                "{} is missing: nothing in the bag is under a signature",
                layout::CHECKPOINT_PATH
            ));
            None
        }
        Some(note) => match verifier.verify_note(note) {
            Ok(c) => {
                notes_verified += 1;
                Some(c)
            }
            Err(e) => {
                security.problem(format!(
                    "{} is not a checkpoint signed by the log key {key}: {e}",
                    layout::CHECKPOINT_PATH
                ));
                None
            }
        },
    };
    if let Some(c) = &checkpoint {
        report.log_origin = Some(c.origin.clone());
        report.tree_size = Some(c.size);
        if c.origin != verifier.name() {
            security.problem(format!(
                "the checkpoint is of log {:?}, not of the key's log {:?}",
                c.origin,
                verifier.name()
            ));
        }
        if info_value(info, layout::INFO_ORIGIN) != Some(c.origin.as_str()) {
            integrity.problem(format!(
                "bag-info.txt's {} is not the checkpoint's origin {:?}",
                layout::INFO_ORIGIN,
                c.origin
            ));
        }
        if info_number(layout::INFO_TREE_SIZE) != Some(c.size) {
            integrity.problem(format!(
                "bag-info.txt's {} is not the checkpoint's size {}",
                layout::INFO_TREE_SIZE,
                c.size
            ));
        }
    }

    // Records and their proofs.
    let mut seen = Seen::default();
    let (records, odd_records) = numbered_files(root, layout::RECORDS_DIR);
    let (proofs, odd_proofs) = numbered_files(root, layout::PROOFS_DIR);
    for name in odd_records.iter().chain(&odd_proofs) {
        integrity.problem(format!("{name} is not a record or proof file of this archive's form (<sequence, 8 digits>.json)"));
    }
    report.records = records.len() as u64;
    let mut proofs_held = 0u64;
    let mut outside_range = 0u64;
    let mut against_other_checkpoint = 0u64;
    for &sequence in &records {
        let path = layout::record_path(sequence);
        let Ok(bytes) = std::fs::read(root.join(&path)) else {
            integrity.problem(format!("{path} cannot be read"));
            continue;
        };
        match AuditRecord::from_json(&bytes) {
            Ok(record) => {
                if record.sequence != sequence {
                    integrity.problem(format!(
                        "{path} holds record {}, not record {sequence}",
                        record.sequence
                    ));
                }
                if from.is_some_and(|f| record.time < f) || to.is_some_and(|t| record.time >= t) {
                    outside_range += 1;
                }
                let event = &record.event;
                if let (Some(seal), Some(fingerprint)) =
                    (&event.seal_id, &event.seal_certificate_sha256)
                {
                    seen.seal_fingerprints
                        .entry(seal.clone())
                        .or_default()
                        .insert(fingerprint.clone());
                }
                if event.event == Some(EventKind::DocumentSealed) {
                    if let Some(output) = &event.output_sha256 {
                        seen.outputs.insert(
                            output.clone(),
                            (sequence, event.seal_certificate_sha256.clone()),
                        );
                    }
                }
            }
            Err(e) => authenticity.problem(format!("{path} is not a readable audit record: {e}")),
        }
        if let Some(c) = &checkpoint {
            if sequence > c.size {
                security.problem(format!(
                    "record {sequence} is outside the signed checkpoint of {} records",
                    c.size
                ));
            }
        }
        if !proofs.contains(&sequence) {
            authenticity.problem(format!(
                "record {sequence} has no proof file {}",
                layout::proof_path(sequence)
            ));
            continue;
        }
        let proof_path = layout::proof_path(sequence);
        let proof = match std::fs::read(root.join(&proof_path))
            .map_err(|e| e.to_string())
            .and_then(|b| ProofFile::from_json(&b).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                authenticity.problem(format!("{proof_path} is not a proof file: {e}"));
                continue;
            }
        };
        match verifier.verify_note(&proof.checkpoint) {
            Ok(_) => notes_verified += 1,
            Err(e) => security.problem(format!(
                "the checkpoint in {proof_path} is not signed by the log key {key}: {e}"
            )),
        }
        if checkpoint_note.as_deref() != Some(proof.checkpoint.as_str()) {
            against_other_checkpoint += 1;
        }
        if proof.sequence != sequence {
            authenticity.problem(format!(
                "{proof_path} is the proof of record {}, not of record {sequence}",
                proof.sequence
            ));
            continue;
        }
        let differs = proof.record != bytes;
        // The record file itself must be the leaf the signed tree holds.
        let of_the_file = ProofFile { record: bytes, ..proof };
        match of_the_file.check(verifier) {
            Ok(_) => proofs_held += 1,
            Err(e) => authenticity.problem(format!(
                "record {sequence}: its proof does not hold for {path}: {e}{}",
                if differs {
                    " (the record file is not the record its proof was issued for)"
                } else {
                    ""
                }
            )),
        }
    }
    for sequence in proofs.difference(&records) {
        integrity.problem(format!(
            "{} has no record file {}",
            layout::proof_path(*sequence),
            layout::record_path(*sequence)
        ));
    }
    if against_other_checkpoint > 0 {
        integrity.problem(format!(
            "{against_other_checkpoint} proof files are against another checkpoint than {}",
            layout::CHECKPOINT_PATH
        ));
    }
    authenticity.checked.push(format!("{proofs_held} of {} records: the record file is included in the tree of a checkpoint signed by the log key", records.len()));

    // Integrity: the range is complete.
    let present_first = records.first().copied();
    let present_last = records.last().copied();
    let first = info_number(layout::INFO_FIRST);
    let last = info_number(layout::INFO_LAST);
    report.first_sequence = first.or(present_first);
    report.last_sequence = last.or(present_last);
    match (first, last) {
        (Some(first), Some(last)) if first >= 1 && first <= last => {
            let missing: Vec<u64> =
                (first..=last).filter(|s| !records.contains(s)).take(MAX_PROBLEMS + 1).collect();
            for range in ranges(&missing) {
                integrity.problem(format!(
                    "records {range} are missing: a gap in the sequence {first}-{last}"
                ));
            }
            for s in records.iter().filter(|s| **s < first || **s > last) {
                integrity.problem(format!(
                    "record {s} is outside the range {first}-{last} that bag-info.txt declares"
                ));
            }
            if let Some(c) = &checkpoint {
                let mut boundary = |path: &str,
                                    expected: u64,
                                    is_outside: &dyn Fn(i64) -> bool,
                                    what: &str| {
                    let proof = match std::fs::read(root.join(path))
                        .map_err(|e| e.to_string())
                        .and_then(|b| ProofFile::from_json(&b).map_err(|e| e.to_string()))
                    {
                        Ok(p) => p,
                        Err(e) => {
                            integrity.problem(format!("{path} ({what}) is missing or unreadable ({e}): nothing shows that no record was cut there"));
                            return;
                        }
                    };
                    match proof.check(verifier) {
                        Ok(checked) => {
                            notes_verified += 1;
                            if proof.sequence != expected {
                                integrity.problem(format!("{path} proves record {}, not record {expected} ({what}): records may be missing", proof.sequence));
                            } else if !is_outside(checked.record.time) {
                                integrity.problem(format!("{path}: record {expected} ({what}) has time {}, inside the range: it should be in the bag", format_rfc3339(checked.record.time)));
                            }
                        }
                        Err(e) => {
                            security.problem(format!(
                                "{path} ({what}) does not hold against the log key: {e}"
                            ));
                        }
                    }
                };
                if first > 1 {
                    let from = from.unwrap_or(i64::MIN);
                    boundary(
                        layout::BEFORE_PATH,
                        first - 1,
                        &|t| t < from,
                        "the last record before the range",
                    );
                }
                if last < c.size {
                    let to = to.unwrap_or(i64::MAX);
                    boundary(
                        layout::AFTER_PATH,
                        last + 1,
                        &|t| t >= to,
                        "the first record after the range",
                    );
                } else if last > c.size {
                    security.problem(format!("the range ends at record {last}, after the signed checkpoint of {} records", c.size));
                }
            }
            integrity.checked.push(format!(
                "sequence: records {first}-{last} present without a gap, bounded by signed records outside [from, to){}",
                if outside_range > 0 { format!(" ({outside_range} records inside carry a time outside it: clocks of concurrent appends)") } else { String::new() }
            ));
        }
        _ => integrity.problem(format!(
            "bag-info.txt does not declare the range ({} and {})",
            layout::INFO_FIRST,
            layout::INFO_LAST
        )),
    }
    if records.is_empty() {
        integrity.problem("the bag holds no records");
    }

    // Integrity: consistency with the previous export.
    let previous = info_number(layout::INFO_PREVIOUS);
    match std::fs::read(root.join(layout::CONSISTENCY_PATH)) {
        Ok(bytes) => {
            match ConsistencyFile::from_json(&bytes) {
                Ok(file) => {
                    for (which, note) in
                        [("old", &file.old_checkpoint), ("new", &file.new_checkpoint)]
                    {
                        match verifier.verify_note(note) {
                        Ok(_) => notes_verified += 1,
                        Err(e) => security.problem(format!("the {which} checkpoint of {} is not signed by the log key {key}: {e}", layout::CONSISTENCY_PATH)),
                    }
                    }
                    match file.check(verifier) {
                        Ok((old, new)) => {
                            report.previous_tree_size = Some(old.size);
                            if checkpoint.as_ref().is_some_and(|c| *c != new) {
                                integrity.problem(format!(
                                    "{} ends at another checkpoint than {}",
                                    layout::CONSISTENCY_PATH,
                                    layout::CHECKPOINT_PATH
                                ));
                            }
                            if previous != Some(old.size) {
                                integrity.problem(format!(
                                    "bag-info.txt's {} is not the consistency proof's old size {}",
                                    layout::INFO_PREVIOUS,
                                    old.size
                                ));
                            }
                            if let Some(note) = &options.previous_checkpoint {
                                match verifier.verify_note(note) {
                                Ok(p) if p == old => {}
                                Ok(p) => integrity.problem(format!(
                                    "the consistency proof starts at a checkpoint of {} records, not at the previous export's checkpoint of {}",
                                    old.size, p.size
                                )),
                                Err(e) => security.problem(format!("the previous export's checkpoint is not signed by the log key: {e}")),
                            }
                            }
                            integrity.checked.push(format!("consistency: the signed tree of {} records is a prefix of the signed tree of {}", old.size, new.size));
                        }
                        Err(e) => integrity.problem(format!("{}: {e}", layout::CONSISTENCY_PATH)),
                    }
                }
                Err(e) => integrity.problem(format!("{}: {e}", layout::CONSISTENCY_PATH)),
            }
        }
        Err(_) => {
            if let Some(size) = previous {
                integrity.problem(format!(
                    "bag-info.txt names a previous tree size {size} but the bag has no {}",
                    layout::CONSISTENCY_PATH
                ));
            }
            if options.previous_checkpoint.is_some() {
                integrity.problem(format!(
                    "a previous export was given but the bag has no {}",
                    layout::CONSISTENCY_PATH
                ));
            }
        }
    }

    // Seals.
    if let Ok(entries) = std::fs::read_dir(root.join(layout::SEALS_DIR)) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                usability.problem(format!("{}/{id} is not a seal folder", layout::SEALS_DIR));
                continue;
            }
            report.seals += 1;
            let chain_path = layout::seal_chain_path(&id);
            match std::fs::read_to_string(root.join(&chain_path))
                .map_err(|e| e.to_string())
                .and_then(|pem| {
                    eseal_cms::CertificateChain::from_pem(&pem).map_err(|e| e.to_string())
                }) {
                Ok(chain) => {
                    let fingerprint = chain.fingerprint_hex();
                    for named in seen.seal_fingerprints.get(&id).into_iter().flatten() {
                        if *named != fingerprint {
                            authenticity.problem(format!("records name seal {id} with certificate {named}, but {chain_path} holds certificate {fingerprint}"));
                        }
                    }
                }
                Err(e) => usability
                    .problem(format!("{chain_path} is not a readable certificate chain: {e}")),
            }
            if !root.join(layout::seal_image_path(&id)).is_file() {
                usability.problem(format!("seal {id} has no {}", layout::seal_image_path(&id)));
            }
        }
    }

    // Documents.
    let mut documents_verified = 0u64;
    let mut present = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(root.join(layout::DOCUMENTS_DIR)) {
        let mut names: Vec<String> =
            entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for name in names {
            let path = format!("{}/{name}", layout::DOCUMENTS_DIR);
            let Some(named) = name.strip_suffix(".pdf").filter(|h| is_sha256_hex(h)) else {
                integrity.problem(format!("{path} is not named <sha256 hex>.pdf"));
                continue;
            };
            report.documents += 1;
            present.insert(named.to_string());
            let full = root.join(&path);
            match digests_of_file(&full) {
                Ok((digests, _)) if digests.sha256 != named => {
                    authenticity.problem(format!(
                        "{path}: its SHA-256 is {}, not its name",
                        digests.sha256
                    ));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    integrity.problem(format!("{path} cannot be read: {e}"));
                    continue;
                }
            }
            let Some((sequence, seal_fingerprint)) = seen.outputs.get(named).cloned() else {
                authenticity.problem(format!(
                    "{path}: no document_sealed record of the bag has this output SHA-256"
                ));
                continue;
            };
            let report_of = eseal_pdf::FileSource::open(&full)
                .map_err(|e| e.to_string())
                .and_then(|s| verify_document(&s, &options.anchors).map_err(|e| e.to_string()));
            match report_of {
                Ok(verification) => {
                    let mut fine = true;
                    // Signatures other than the seal's (an earlier signer's, under anchors
                    // this verifier lacks) may be INDETERMINATE; none may fail, and nothing may
                    // have changed after signing.
                    if matches!(
                        verification.verdict,
                        DocumentVerdict::Failed | DocumentVerdict::ChangedAfterSigning
                    ) {
                        fine = false;
                        let details: Vec<String> = verification
                            .signatures
                            .iter()
                            .filter(|s| {
                                s.indication == Indication::TotalFailed || s.modified_after_signing
                            })
                            .map(|s| {
                                format!(
                                    "{} {}{}: {}",
                                    s.field_name,
                                    s.indication.as_str(),
                                    s.sub_indication
                                        .map(|i| format!(" {}", i.as_str()))
                                        .unwrap_or_default(),
                                    s.problems.join("; ")
                                )
                            })
                            .collect();
                        authenticity.problem(format!(
                            "{path} (record {sequence}): the verdict is {}: {}",
                            verification.verdict.as_str(),
                            details.join(" | ")
                        ));
                    }
                    let seal_signature = match &seal_fingerprint {
                        Some(f) => verification.signatures.iter().find(|s| {
                            s.signer.as_ref().is_some_and(|c| &c.sha256_fingerprint == f)
                        }),
                        None => verification.signatures.last(),
                    };
                    match seal_signature {
                        Some(s) if s.indication == Indication::TotalPassed => {}
                        Some(s) => {
                            fine = false;
                            authenticity.problem(format!(
                                "{path} (record {sequence}): the seal's signature {} {} ({}{}): {}",
                                s.field_name,
                                if s.trusted { "does not pass" } else { "is not trusted" },
                                s.indication.as_str(),
                                s.sub_indication
                                    .map(|i| format!(" {}", i.as_str()))
                                    .unwrap_or_default(),
                                s.trust_problem.clone().unwrap_or_else(|| s.problems.join("; "))
                            ));
                        }
                        None => {
                            fine = false;
                            authenticity.problem(format!("{path} (record {sequence}): no signature by the seal certificate the record names"));
                        }
                    }
                    if fine {
                        documents_verified += 1;
                    }
                }
                Err(e) => authenticity
                    .problem(format!("{path} (record {sequence}): cannot be verified: {e}")),
            }
        }
    }
    authenticity.checked.push(format!(
        "{documents_verified} of {} sealed documents: signatures verify, the seal's is trusted, and the SHA-256 is a record's output digest",
        report.documents
    ));

    completeness(root, info, &seen, &present, &mut report, &mut integrity);

    // Usability: open formats that parse.
    let files = payload_files(root);
    let mut readable = 0u64;
    for path in &files {
        match parses(&root.join(path), path) {
            Ok(()) => readable += 1,
            Err(e) => usability.problem(format!("{path}: {e}")),
        }
    }
    usability.checked.push(format!(
        "{readable} of {} payload files are JSON, PEM, PNG, PDF or UTF-8 text and parse",
        files.len()
    ));

    security.checked.push(format!("{notes_verified} checkpoint notes (the checkpoint, every proof, the boundaries, the consistency proof) signed by {key}"));
    if let Some(c) = &checkpoint {
        security.checked.push(format!(
            "every record of the bag is within the signed checkpoint of {} records",
            c.size
        ));
    }

    for p in [&mut authenticity, &mut integrity, &mut usability, &mut security] {
        p.seal();
    }
    report.authenticity = authenticity;
    report.integrity = integrity;
    report.usability = usability;
    report.security = security;
    report
}

/// Integrity: bag-info's counts match the payload, and, when the bag says the service keeps
/// documents, every document a `document_sealed` record of the bag names is in it or listed in
/// the not-kept file (and only those).
fn completeness(
    root: &Path,
    info: &[(String, String)],
    seen: &Seen,
    present: &BTreeSet<String>,
    report: &mut ArchiveReport,
    integrity: &mut Property,
) {
    for (label, actual, what) in [
        (layout::INFO_RECORD_COUNT, report.records, "record files"),
        (layout::INFO_DOCUMENT_COUNT, report.documents, "sealed documents"),
        (layout::INFO_SEAL_COUNT, report.seals, "seals"),
    ] {
        match info_value(info, label).map(|v| v.parse::<u64>()) {
            None => {}
            Some(Ok(declared)) if declared == actual => integrity
                .checked
                .push(format!("count: {actual} {what}, as bag-info.txt's {label} declares")),
            Some(Ok(declared)) => integrity.problem(format!(
                "bag-info.txt's {label} declares {declared} {what} but the bag holds {actual}"
            )),
            Some(Err(_)) => integrity.problem(format!("bag-info.txt's {label} is not a number")),
        }
    }

    // The not-kept list: `<sha256 hex> <sequence>` lines.
    let mut not_kept = BTreeMap::new();
    let listed = match std::fs::read_to_string(root.join(layout::NOT_KEPT_PATH)) {
        Ok(text) => {
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                match line
                    .split_once(' ')
                    .and_then(|(hex, seq)| Some((hex, seq.trim().parse::<u64>().ok()?)))
                    .filter(|(hex, _)| is_sha256_hex(hex))
                {
                    Some((hex, sequence)) => {
                        not_kept.insert(hex.to_string(), sequence);
                    }
                    None => integrity.problem(format!(
                        "{} line {}: not `<sha256 hex> <record sequence>`",
                        layout::NOT_KEPT_PATH,
                        n + 1
                    )),
                }
            }
            true
        }
        Err(_) => false,
    };

    match info_value(info, layout::INFO_DOCUMENTS_KEPT) {
        Some("yes") => {
            let mut missing = 0u64;
            // Only digests that can name a file are exported (the records are the service's own).
            for (hex, (sequence, _)) in seen.outputs.iter().filter(|(h, _)| is_sha256_hex(h)) {
                let in_bag = present.contains(hex);
                match not_kept.get(hex) {
                    Some(_) if in_bag => integrity.problem(format!("{} lists {hex} as not kept, but the bag holds it", layout::NOT_KEPT_PATH)),
                    Some(listed) if listed != sequence => integrity.problem(format!(
                        "{} lists {hex} with record {listed}, but record {sequence} is the document_sealed record that names it",
                        layout::NOT_KEPT_PATH
                    )),
                    Some(_) => {}
                    None if in_bag => {}
                    None => {
                        missing += 1;
                        integrity.problem(format!(
                            "the sealed document {} named by record {sequence} (document_sealed) is missing from the bag, although bag-info.txt says documents are kept",
                            layout::document_path(hex)
                        ));
                    }
                }
            }
            for (hex, sequence) in &not_kept {
                if !seen.outputs.contains_key(hex) {
                    integrity.problem(format!("{} lists {hex} (record {sequence}), which no document_sealed record of the bag names", layout::NOT_KEPT_PATH));
                }
            }
            if missing == 0 {
                integrity.checked.push(format!(
                    "documents: each of the {} documents the document_sealed records name is in the bag{}",
                    seen.outputs.keys().filter(|h| is_sha256_hex(h)).count(),
                    if not_kept.is_empty() { String::new() } else { format!(" or among the {} the service did not have ({})", not_kept.len(), layout::NOT_KEPT_PATH) }
                ));
            }
        }
        Some("no") => {
            if report.documents > 0 || listed {
                integrity.problem(format!("bag-info.txt says documents are not kept, but the bag holds {} (or {})", report.documents, layout::NOT_KEPT_PATH));
            } else {
                integrity.checked.push("documents: the service does not keep sealed documents (bag-info.txt), so the bag holds none".into());
            }
        }
        Some(other) => integrity.problem(format!("bag-info.txt's {} is {other:?}, not yes or no", layout::INFO_DOCUMENTS_KEPT)),
        None => integrity.checked.push(format!(
            "documents: bag-info.txt does not say whether the service keeps them ({}; an older export): their completeness is not checked",
            layout::INFO_DOCUMENTS_KEPT
        )),
    }
}

/// `3-5, 9` style ranges of sorted numbers.
fn ranges(numbers: &[u64]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end + 1 {
            i += 1;
            end = numbers[i];
        }
        out.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    out
}

/// Whether a payload file is in an open format this archive uses and parses as one.
fn parses(full: &Path, path: &str) -> Result<(), String> {
    let extension = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match extension {
        "json" => {
            let bytes = std::fs::read(full).map_err(|e| e.to_string())?;
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map(|_| ())
                .map_err(|e| format!("not JSON: {e}"))
        }
        "txt" => {
            let bytes = std::fs::read(full).map_err(|e| e.to_string())?;
            String::from_utf8(bytes).map(|_| ()).map_err(|_| "not UTF-8 text".into())
        }
        "pem" => {
            let bytes = std::fs::read(full).map_err(|e| e.to_string())?;
            let mut blocks = 0;
            for block in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
                let block = block.map_err(|e| format!("not PEM: {e}"))?;
                if block.label == "CERTIFICATE" {
                    x509_parser::parse_x509_certificate(&block.contents)
                        .map_err(|e| format!("a certificate does not parse: {e}"))?;
                }
                blocks += 1;
            }
            if blocks == 0 { Err("no PEM block".into()) } else { Ok(()) }
        }
        "png" => {
            let bytes = std::fs::read(full).map_err(|e| e.to_string())?;
            eseal_pdf::SealImage::from_png(&bytes).map(|_| ()).map_err(|e| e.to_string())
        }
        "pdf" => {
            let source = eseal_pdf::FileSource::open(full).map_err(|e| e.to_string())?;
            eseal_pdf::Document::open(&source)
                .map(|_| ())
                .map_err(|e| format!("not a readable PDF: {e}"))
        }
        other => Err(format!(
            "the format .{other} is not one this archive uses (JSON, PEM, PNG, PDF, text)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), vec!["1-3", "5", "7-8"]);
        assert!(ranges(&[]).is_empty());
    }
}
