//! Log lines on standard error: text or JSON (`[log] format`), coloured only on a terminal, at
//! the level of `ESEAL_LOG` or else `[log] level` (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// The environment variable whose filter (e.g. `debug`, `eseal=debug,sqlx=warn`) wins over
/// `[log] level`.
pub const LEVEL_VARIABLE: &str = "ESEAL_LOG";

/// Why logging cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The level is not a tracing filter.
    #[error(
        "{source_name} {filter:?} is not a log filter such as info or eseal=debug,sqlx=warn: {message}"
    )]
    BadFilter {
        /// Where the filter came from.
        source_name: &'static str,
        /// The filter.
        filter: String,
        /// Why.
        message: String,
    },
}

/// Installs the process's log subscriber as `config` says. A second call changes nothing.
pub fn init(config: &LogConfig) -> Result<(), LogError> {
    let (source_name, filter) = match std::env::var(LEVEL_VARIABLE) {
        Ok(filter) => (LEVEL_VARIABLE, filter),
        Err(_) => ("[log] level", config.level.clone().unwrap_or_else(|| "info".into())),
    };
    let filter = EnvFilter::try_new(&filter).map_err(|e| LogError::BadFilter {
        source_name,
        filter,
        message: e.to_string(),
    })?;
    // Escape sequences belong on a terminal, not in a file or a collector's pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // Already installed (a test, or a second start in one process): keep the first.
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}

/// Text at `ESEAL_LOG`'s level (`info` when unset or unreadable): for the client commands.
pub fn init_default() {
    if init(&LogConfig::default()).is_err() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("info"))
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init();
    }
}
