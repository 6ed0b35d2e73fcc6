//! `eseal serve`: runs the service until interrupted.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::client::keys_sample;
use eseal_service::config::Config;

/// Options of `eseal serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Configuration file (TOML); without one, the development setup over keys-sample/.
    #[arg(long, env = "ESEAL_CONFIG")]
    config: Option<PathBuf>,
    /// The store: a PostgreSQL URL (`postgres://user:password@host:port/database`) shared by
    /// every node; overrides `[store] url` of the configuration. Without it (and without
    /// `[store] url`), the embedded SQLite file `[store] sqlite_path`.
    #[arg(long, env = "ESEAL_STORE")]
    store: Option<String>,
}

/// Starts the server (the file's configuration, or the development one, with the
/// `ESEAL__<SECTION>__<KEY>` environment variables on top), prints how to use it, and runs
/// until Ctrl-C or SIGTERM, then drains the calls in progress.
pub async fn run(args: ServeArgs) -> Result<(), CliError> {
    // Without a file, the development setup over ./keys-sample: never a folder found elsewhere.
    if args.config.is_none() && !keys_sample().is_dir() {
        return Err(CliError::Usage(
            "no configuration given and no ./keys-sample folder here: run from the source tree or pass --config (or ESEAL_CONFIG)".into(),
        ));
    }
    let root = PathBuf::new();
    // Only the ESEAL__ variables are read; the others may hold anything, valid UTF-8 or not.
    let environment = std::env::vars_os().map(|(name, value)| {
        (name.to_string_lossy().into_owned(), value.to_string_lossy().into_owned())
    });
    let mut config = Config::load_with_overrides(args.config.as_deref(), &root, environment)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(url) = &args.store {
        config.store.url = Some(url.clone());
        config.check().map_err(|e| CliError::Usage(e.to_string()))?;
    }
    eseal_service::logging::init(&config.log).map_err(|e| CliError::Usage(e.to_string()))?;
    let store = match &config.store.url {
        Some(url) => format!("PostgreSQL {}", url_without_password(url)),
        None => config.store.sqlite_path.display().to_string(),
    };
    let server =
        eseal_service::server::start(config).await.map_err(|e| CliError::Serve(e.to_string()))?;
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
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Serve(e.to_string()))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    println!("stopping");
    server.stop().await.map_err(|e| CliError::Serve(e.to_string()))
}

/// `url` with its password (if any) replaced by `***`, for printing.
fn url_without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::url_without_password;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            url_without_password("postgres://eseal:s3cr@t@db:5432/eseal"),
            "postgres://eseal:***@db:5432/eseal"
        );
        assert_eq!(url_without_password("postgres://eseal@db/eseal"), "postgres://eseal@db/eseal");
        assert_eq!(url_without_password("postgres://db/eseal"), "postgres://db/eseal");
    }
}
