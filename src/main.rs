//! The `eseal` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ESEAL_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = eseal::cli::Cli::parse();
    if let Err(e) = cli.run().await {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
