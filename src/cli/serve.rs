//! `eseal serve`: runs the service until interrupted.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::client::keys_sample;
use crate::config::Config;

/// Options of `eseal serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Configuration file (TOML); without one, the development setup over keys-sample/.
    #[arg(long, env = "ESEAL_CONFIG")]
    config: Option<PathBuf>,
}

/// Starts the server (the file's configuration, or the development one, with the
/// `ESEAL__<SECTION>__<KEY>` environment variables on top), prints how to use it, and runs
/// until Ctrl-C or SIGTERM, then drains the calls in progress.
pub async fn run(args: ServeArgs) -> Result<(), CliError> {
    let root = keys_sample().parent().map(PathBuf::from).unwrap_or_default();
    // Only the ESEAL__ variables are read; the others may hold anything, valid UTF-8 or not.
    let environment = std::env::vars_os().map(|(name, value)| (name.to_string_lossy().into_owned(), value.to_string_lossy().into_owned()));
    let config = Config::load_with_overrides(args.config.as_deref(), &root, environment).map_err(|e| CliError::Usage(e.to_string()))?;
    crate::logging::init(&config.log).map_err(|e| CliError::Usage(e.to_string()))?;
    let store = config.store.sqlite_path.display().to_string();
    let server = crate::server::start(config).await.map_err(|e| CliError::Serve(e.to_string()))?;
    println!("eseal is listening on {} (mTLS), store {store}", server.address);
    if args.config.is_none() {
        println!(
            "Development setup (keys-sample/, not for production). Seal a document in three commands:\n  \
             AUTH=$(eseal grant --seal approval-ec --to approval-system --case CASE-2026-001)\n  \
             eseal sign document.pdf --seal approval-ec --authorization $AUTH --page -1 --rect 20,20,40,40 -o sealed.pdf\n  \
             eseal verify sealed.pdf\n\
             (from the source tree: cargo run --release -- grant ... ; stop the server with Ctrl-C)"
        );
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| CliError::Serve(e.to_string()))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    println!("stopping");
    server.stop().await.map_err(|e| CliError::Serve(e.to_string()))
}
