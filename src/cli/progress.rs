//! A progress bar for transfers over a few megabytes (on a terminal only).

use indicatif::{ProgressBar, ProgressStyle};

/// Transfers smaller than this show no bar.
const SHOW_FROM: u64 = 4 * 1024 * 1024;

/// A bar for `total` bytes labelled `what`, or a hidden one for small transfers.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    if total < SHOW_FROM {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}
