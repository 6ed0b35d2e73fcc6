//! The `eseal` binary: parses the command line and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() {
    // Logging is set up by the command: `serve` as its configuration says, others as text.
    let cli = eseal::cli::Cli::parse();
    if let Err(e) = cli.run().await {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
