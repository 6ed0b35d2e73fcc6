//! BagIt bags (RFC 8493, version 1.0): writing one file by file with SHA-256 and SHA-512
//! manifests and tag manifests, and checking a bag's fixity (every payload file listed in
//! every manifest with matching digests, nothing missing, nothing extra).
//!
//! Paths inside a bag are kept to a portable alphabet (ASCII letters, digits, `.`, `_`, `-`,
//! separated by `/`, no `.` or `..` component), so that no manifest line needs RFC 8493's
//! percent-encoding and no path a server sends can leave the bag.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use eseal_encoding::hex;
use ring::digest::{Context, SHA256, SHA512};

/// The bag declaration's text.
pub const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
/// The manifest algorithms written and required, in the order of their files.
pub const ALGORITHMS: [&str; 2] = ["sha256", "sha512"];

/// Why a bag cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum BagError {
    /// A file or folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A path that a bag may not hold, a file given twice, or calls out of order.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BagError + '_ {
    move |source| BagError::Io { path: path.to_path_buf(), source }
}

/// Whether `path` is a relative path of the portable alphabet without `.`/`..` components.
pub fn is_portable_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// Whether `path` is a payload path: `data/` then a portable path.
pub fn is_payload_path(path: &str) -> bool {
    path.strip_prefix("data/").is_some_and(is_portable_path)
}

/// SHA-256 and SHA-512 of some bytes, lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    /// SHA-256.
    pub sha256: String,
    /// SHA-512.
    pub sha512: String,
}

impl Digests {
    /// The digest of `algorithm` (`sha256` or `sha512`).
    pub fn of(&self, algorithm: &str) -> Option<&str> {
        match algorithm {
            "sha256" => Some(&self.sha256),
            "sha512" => Some(&self.sha512),
            _ => None,
        }
    }
}

/// Both digests computed in one pass.
struct Hasher {
    sha256: Context,
    sha512: Context,
}

impl Hasher {
    fn new() -> Self {
        Hasher { sha256: Context::new(&SHA256), sha512: Context::new(&SHA512) }
    }
    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.sha512.update(bytes);
    }
    fn finish(self) -> Digests {
        Digests {
            sha256: hex(self.sha256.finish().as_ref()),
            sha512: hex(self.sha512.finish().as_ref()),
        }
    }
}

/// Both digests of a byte string.
pub fn digests_of(bytes: &[u8]) -> Digests {
    let mut h = Hasher::new();
    h.update(bytes);
    h.finish()
}

/// Both digests of a file, read in one pass, and its size.
pub fn digests_of_file(path: &Path) -> std::io::Result<(Digests, u64)> {
    let mut file = File::open(path)?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((h.finish(), len));
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
}

struct OpenFile {
    path: String,
    file: File,
    hasher: Hasher,
    len: u64,
}

/// What a finished bag holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BagSummary {
    /// Payload files.
    pub files: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// Writes a bag into a folder, one payload file at a time, then its tag files.
pub struct BagWriter {
    root: PathBuf,
    payload: BTreeMap<String, (Digests, u64)>,
    open: Option<OpenFile>,
}

impl BagWriter {
    /// Starts a bag in `root`, which must not exist or be an empty folder.
    pub fn create(root: &Path) -> Result<BagWriter, BagError> {
        if root.exists() {
            let mut entries = std::fs::read_dir(root).map_err(io(root))?;
            if entries.next().is_some() {
                return Err(BagError::Invalid(format!(
                    "{} exists and is not empty",
                    root.display()
                )));
            }
        }
        let data = root.join("data");
        std::fs::create_dir_all(&data).map_err(io(&data))?;
        Ok(BagWriter { root: root.to_path_buf(), payload: BTreeMap::new(), open: None })
    }

    /// The bag's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts payload file `path` (`data/...`, portable, new).
    pub fn start_file(&mut self, path: &str) -> Result<(), BagError> {
        if self.open.is_some() {
            return Err(BagError::Invalid(format!(
                "{path} started before the previous file ended"
            )));
        }
        if !is_payload_path(path) {
            return Err(BagError::Invalid(format!(
                "{path:?} is not a payload path a bag may hold (data/ then letters, digits, . _ - and /)"
            )));
        }
        if self.payload.contains_key(path)
            || self
                .payload
                .keys()
                .any(|p| p.starts_with(&format!("{path}/")) || path.starts_with(&format!("{p}/")))
        {
            return Err(BagError::Invalid(format!(
                "{path} is given twice, or as both a file and a folder"
            )));
        }
        let full = self.root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let file = File::options().write(true).create_new(true).open(&full).map_err(io(&full))?;
        self.open = Some(OpenFile { path: path.to_string(), file, hasher: Hasher::new(), len: 0 });
        Ok(())
    }

    /// The path of the file being written, if one is.
    pub fn current(&self) -> Option<&str> {
        self.open.as_ref().map(|f| f.path.as_str())
    }

    /// Appends bytes to the file being written.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BagError> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| BagError::Invalid("bytes written outside a file".into()))?;
        open.file
            .write_all(bytes)
            .map_err(|source| BagError::Io { path: self.root.join(&open.path), source })?;
        open.hasher.update(bytes);
        open.len += bytes.len() as u64;
        Ok(())
    }

    /// Ends the file being written (flushed to disk).
    pub fn finish_file(&mut self) -> Result<(), BagError> {
        let open = self.open.take().ok_or_else(|| BagError::Invalid("no file to end".into()))?;
        let full = self.root.join(&open.path);
        open.file.sync_all().map_err(io(&full))?;
        self.payload.insert(open.path, (open.hasher.finish(), open.len));
        Ok(())
    }

    /// Writes a whole payload file.
    pub fn add_file(&mut self, path: &str, bytes: &[u8]) -> Result<(), BagError> {
        self.start_file(path)?;
        self.write(bytes)?;
        self.finish_file()
    }

    /// Writes the tag files: `bagit.txt`, `bag-info.txt` (the `info` fields in order, then
    /// `Payload-Oxum`), the payload manifests and the tag manifests, each for SHA-256 and
    /// SHA-512.
    pub fn finish(self, info: &[(String, String)]) -> Result<BagSummary, BagError> {
        if let Some(open) = &self.open {
            return Err(BagError::Invalid(format!("{} was not ended", open.path)));
        }
        let files = self.payload.len() as u64;
        let bytes: u64 = self.payload.values().map(|(_, len)| len).sum();
        let mut bag_info = String::new();
        for (label, value) in info {
            if label.is_empty()
                || label.contains(':')
                || label.chars().any(char::is_control)
                || label.trim() != label
            {
                return Err(BagError::Invalid(format!("{label:?} cannot be a bag-info label")));
            }
            if label.eq_ignore_ascii_case("Payload-Oxum") {
                continue; // computed here
            }
            // One line per field: a value with line breaks is folded into spaces.
            let value: String =
                value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            bag_info.push_str(&format!("{label}: {}\n", value.trim()));
        }
        bag_info.push_str(&format!("Payload-Oxum: {bytes}.{files}\n"));

        let mut tags: Vec<(String, Vec<u8>)> = vec![
            ("bagit.txt".into(), BAGIT_TXT.as_bytes().to_vec()),
            ("bag-info.txt".into(), bag_info.into_bytes()),
        ];
        for algorithm in ALGORITHMS {
            let mut manifest = String::new();
            for (path, (digests, _)) in &self.payload {
                manifest
                    .push_str(&format!("{}  {path}\n", digests.of(algorithm).unwrap_or_default()));
            }
            tags.push((format!("manifest-{algorithm}.txt"), manifest.into_bytes()));
        }
        let tag_digests: Vec<(String, Digests)> =
            tags.iter().map(|(name, bytes)| (name.clone(), digests_of(bytes))).collect();
        for algorithm in ALGORITHMS {
            let mut manifest = String::new();
            for (name, digests) in &tag_digests {
                manifest
                    .push_str(&format!("{}  {name}\n", digests.of(algorithm).unwrap_or_default()));
            }
            tags.push((format!("tagmanifest-{algorithm}.txt"), manifest.into_bytes()));
        }
        for (name, bytes) in &tags {
            let path = self.root.join(name);
            let mut file = File::create(&path).map_err(io(&path))?;
            file.write_all(bytes).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        Ok(BagSummary { files, bytes })
    }
}

/// Reads `bag-info.txt` (or any tag file of `Label: value` lines, with continuation lines
/// starting with whitespace): the fields in order.
pub fn parse_bag_info(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((label, value)) = line.split_once(':') {
            fields.push((label.trim().to_string(), value.trim().to_string()));
        }
    }
    fields
}

/// The value of `label` (case-insensitive) among bag-info fields.
pub fn info_value<'a>(fields: &'a [(String, String)], label: &str) -> Option<&'a str> {
    fields.iter().find(|(l, _)| l.eq_ignore_ascii_case(label)).map(|(_, v)| v.as_str())
}

/// A manifest's lines: path to digest. Malformed lines, unsafe paths and paths given twice
/// are reported as problems.
fn parse_manifest(name: &str, text: &str, problems: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((digest, path)) = line.split_once([' ', '\t']) else {
            problems.push(format!("{name} line {}: not \"<digest> <path>\"", n + 1));
            continue;
        };
        let path = path.trim_start_matches([' ', '\t']);
        let path = path.strip_prefix("./").unwrap_or(path);
        if !is_portable_path(path) {
            problems.push(format!("{name} line {}: {path:?} is not a path inside the bag", n + 1));
            continue;
        }
        if entries.insert(path.to_string(), digest.to_ascii_lowercase()).is_some() {
            problems.push(format!("{name} lists {path} twice"));
        }
    }
    entries
}

/// Every regular file under `dir` (relative to `root`, `/`-separated); anything else
/// (symbolic links, devices, names outside the portable alphabet) is a problem.
fn list_files(root: &Path, dir: &Path, out: &mut BTreeSet<String>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("{} cannot be read: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let relative =
            path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        let Ok(kind) = entry.file_type() else {
            problems.push(format!("{relative} cannot be examined"));
            continue;
        };
        if kind.is_dir() {
            list_files(root, &path, out, problems);
        } else if kind.is_file() {
            if is_portable_path(&relative) {
                out.insert(relative);
            } else {
                problems.push(format!("{relative:?} is not a portable file name"));
            }
        } else {
            problems.push(format!("{relative} is not a regular file (a link or a device)"));
        }
    }
}

/// The fixity of a bag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fixity {
    /// Payload files found under `data/`.
    pub payload_files: u64,
    /// Their bytes.
    pub payload_bytes: u64,
    /// The bag-info fields.
    pub info: Vec<(String, String)>,
    /// Every problem, in plain words; empty when the bag is complete and valid.
    pub problems: Vec<String>,
}

/// Checks a bag's fixity: the declaration, both payload manifests and both tag manifests
/// (every digest matches; every payload file is in every manifest and every manifest entry
/// exists), the tag files all listed, and `Payload-Oxum`.
pub fn check_fixity(root: &Path) -> Fixity {
    let mut fixity = Fixity::default();
    let problems = &mut fixity.problems;
    match std::fs::read(root.join("bagit.txt")) {
        Ok(bytes) => {
            let fields = parse_bag_info(&String::from_utf8_lossy(&bytes));
            if info_value(&fields, "BagIt-Version") != Some("1.0") {
                problems.push("bagit.txt does not declare BagIt-Version: 1.0".into());
            }
            if !info_value(&fields, "Tag-File-Character-Encoding")
                .is_some_and(|e| e.eq_ignore_ascii_case("UTF-8"))
            {
                problems
                    .push("bagit.txt does not declare Tag-File-Character-Encoding: UTF-8".into());
            }
        }
        Err(e) => problems.push(format!("bagit.txt is missing: {e}")),
    }
    match std::fs::read(root.join("bag-info.txt")) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => fixity.info = parse_bag_info(&text),
            Err(_) => problems.push("bag-info.txt is not UTF-8".into()),
        },
        Err(e) => problems.push(format!("bag-info.txt is missing: {e}")),
    }

    let mut payload = BTreeSet::new();
    let data = root.join("data");
    if data.is_dir() {
        list_files(root, &data, &mut payload, problems);
    } else {
        problems.push("the payload folder data/ is missing".into());
    }
    let mut tag_files = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "data" {
                continue;
            }
            match entry.file_type() {
                Ok(kind) if kind.is_file() => {
                    tag_files.insert(name);
                }
                Ok(kind) if kind.is_dir() => {
                    list_files(root, &entry.path(), &mut tag_files, problems)
                }
                _ => problems.push(format!("{name} is not a regular file")),
            }
        }
    }

    // Each file is hashed once, for both algorithms.
    let mut cache: BTreeMap<String, Option<(Digests, u64)>> = BTreeMap::new();
    let mut digests = |path: &str| -> Option<(Digests, u64)> {
        cache
            .entry(path.to_string())
            .or_insert_with(|| digests_of_file(&root.join(path)).ok())
            .clone()
    };

    for algorithm in ALGORITHMS {
        let name = format!("manifest-{algorithm}.txt");
        let Ok(text) = std::fs::read_to_string(root.join(&name)) else {
            problems.push(format!("{name} is missing or not UTF-8"));
            continue;
        };
        let entries = parse_manifest(&name, &text, problems);
        for (path, expected) in &entries {
            if !path.starts_with("data/") {
                problems.push(format!("{name} lists {path}, which is not a payload file"));
            } else if !payload.contains(path) {
                problems.push(format!("{path} is in {name} but missing from the bag"));
            } else if let Some((actual, _)) = digests(path) {
                if actual.of(algorithm) != Some(expected.as_str()) {
                    problems.push(format!("{path}: its {algorithm} digest does not match {name} (the file was changed)"));
                }
            } else {
                problems.push(format!("{path} cannot be read"));
            }
        }
        for path in &payload {
            if !entries.contains_key(path) {
                problems.push(format!("{path} is in the bag but not in {name} (an extra file)"));
            }
        }
    }
    for algorithm in ALGORITHMS {
        let name = format!("tagmanifest-{algorithm}.txt");
        let Ok(text) = std::fs::read_to_string(root.join(&name)) else {
            problems.push(format!("{name} is missing or not UTF-8"));
            continue;
        };
        let entries = parse_manifest(&name, &text, problems);
        for (path, expected) in &entries {
            if path.starts_with("data/") || path.starts_with("tagmanifest-") {
                problems.push(format!("{name} lists {path}, which is not a tag file it may list"));
            } else if !tag_files.contains(path) {
                problems.push(format!("{path} is in {name} but missing from the bag"));
            } else if let Some((actual, _)) = digests(path) {
                if actual.of(algorithm) != Some(expected.as_str()) {
                    problems.push(format!("{path}: its {algorithm} digest does not match {name} (the tag file was changed)"));
                }
            }
        }
        for path in &tag_files {
            if !path.starts_with("tagmanifest-") && !entries.contains_key(path) {
                problems.push(format!("{path} is in the bag but not in {name}"));
            }
        }
    }

    fixity.payload_files = payload.len() as u64;
    fixity.payload_bytes =
        payload.iter().filter_map(|p| std::fs::metadata(root.join(p)).ok()).map(|m| m.len()).sum();
    match info_value(&fixity.info, "Payload-Oxum") {
        Some(oxum) => {
            let expected = format!("{}.{}", fixity.payload_bytes, fixity.payload_files);
            if oxum != expected {
                fixity.problems.push(format!(
                    "Payload-Oxum says {oxum} but the payload is {expected} (bytes.files)"
                ));
            }
        }
        None => fixity.problems.push("bag-info.txt has no Payload-Oxum".into()),
    }
    fixity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) {
        let mut bag = BagWriter::create(dir).unwrap();
        bag.add_file("data/a.txt", b"hello\n").unwrap();
        bag.start_file("data/sub/b.json").unwrap();
        bag.write(b"{\"x\":").unwrap();
        bag.write(b"1}").unwrap();
        bag.finish_file().unwrap();
        let summary = bag.finish(&[("Source-Organization".into(), "示例市\nline".into())]).unwrap();
        assert_eq!(summary, BagSummary { files: 2, bytes: 13 });
    }

    #[test]
    fn writes_a_bag_that_checks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("bag");
        sample(&root);
        let fixity = check_fixity(&root);
        assert!(fixity.problems.is_empty(), "{:?}", fixity.problems);
        assert_eq!(info_value(&fixity.info, "source-organization"), Some("示例市 line"));
        assert_eq!(info_value(&fixity.info, "Payload-Oxum"), Some("13.2"));
        let manifest = std::fs::read_to_string(root.join("manifest-sha256.txt")).unwrap();
        assert_eq!(
            manifest.lines().next().unwrap(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  data/a.txt"
        );
    }

    #[test]
    fn fixity_problems_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("bag");
        sample(&root);
        std::fs::write(root.join("data/a.txt"), b"hellO\n").unwrap();
        std::fs::write(root.join("data/extra.txt"), b"x").unwrap();
        std::fs::remove_file(root.join("data/sub/b.json")).unwrap();
        let problems = check_fixity(&root).problems.join("\n");
        assert!(problems.contains("data/a.txt: its sha256 digest does not match"), "{problems}");
        assert!(problems.contains("data/a.txt: its sha512 digest does not match"), "{problems}");
        assert!(
            problems.contains("data/extra.txt is in the bag but not in manifest-sha256.txt"),
            "{problems}"
        );
        assert!(
            problems.contains("data/sub/b.json is in manifest-sha512.txt but missing"),
            "{problems}"
        );
        assert!(problems.contains("Payload-Oxum"), "{problems}");
    }

    #[test]
    fn refuses_unsafe_paths_and_misuse() {
        let dir = tempfile::tempdir().unwrap();
        let mut bag = BagWriter::create(&dir.path().join("b")).unwrap();
        for bad in [
            "data/../x",
            "/data/x",
            "data//x",
            "data/./x",
            "x",
            "data/a b",
            "data/é",
            "data/",
            "data\\x",
        ] {
            assert!(bag.start_file(bad).is_err(), "{bad:?}");
        }
        bag.add_file("data/x", b"1").unwrap();
        assert!(bag.start_file("data/x").is_err());
        assert!(bag.start_file("data/x/y").is_err());
        assert!(bag.write(b"1").is_err());
        assert!(BagWriter::create(dir.path()).is_err(), "a non-empty folder");
    }
}
