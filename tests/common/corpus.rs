//! Where the test corpus is: tests/corpus/ of this repository, or the folder `ESEAL_CORPUS`
//! names. The one place that knows it, for the integration tests (tests/common) and the unit
//! tests of the library (included there by path).

use std::path::{Path, PathBuf};

/// The corpus folder: `ESEAL_CORPUS` when set, else tests/corpus/ of the repository (the
/// including crate is the repository's root or one of its crates/).
fn corpus_dir() -> PathBuf {
    std::env::var_os("ESEAL_CORPUS").map(PathBuf::from).unwrap_or_else(|| {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        crate_dir
            .ancestors()
            .map(|dir| dir.join("tests/corpus"))
            .find(|dir| dir.is_dir())
            .unwrap_or_else(|| crate_dir.join("tests/corpus"))
    })
}

/// The corpus file whose name starts with `prefix` (e.g. "01", or a whole file name).
pub fn corpus(prefix: &str) -> PathBuf {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {} unreadable: {e}", dir.display()));
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".pdf"))
        })
        .unwrap_or_else(|| panic!("no corpus file {prefix}_*.pdf in {}", dir.display()))
}
