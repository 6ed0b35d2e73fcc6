//! `eseal health [--service NAME]`: the server's gRPC health, for probes (Kubernetes exec
//! probes, systemd, scripts). The health service requires an authenticated caller like every
//! other service, which is why stock gRPC probes (without a client certificate) cannot be used.

use clap::Args;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::{CliError, ClientArgs};

/// Options of `eseal health`.
#[derive(Args, Debug)]
pub struct HealthArgs {
    /// The service to ask about (e.g. `eseal.v1.SigningService`); empty: the server as a whole.
    #[arg(long, default_value = "")]
    service: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
    #[command(flatten)]
    client: ClientArgs,
}

/// Prints the serving status; succeeds only when it is SERVING (exit code 1 otherwise, 3 when
/// the server cannot be reached).
pub async fn run(args: HealthArgs) -> Result<(), CliError> {
    let deadline = std::time::Duration::from_millis(args.timeout_ms);
    let check = async {
        // The archivist's keys-sample identity by default: any configured principal may ask.
        let channel = args.client.connect("client-archivist").await?;
        let request = HealthCheckRequest { service: args.service.clone() };
        Ok::<_, CliError>(HealthClient::new(channel).check(request).await?.into_inner())
    };
    let answer = tokio::time::timeout(deadline, check).await.map_err(|_| {
        CliError::Connect(format!(
            "{}: no health answer within {} ms",
            args.client.server, args.timeout_ms
        ))
    })??;
    let status = ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown);
    let name = if args.service.is_empty() { "server" } else { args.service.as_str() };
    println!("{name}: {}", status.as_str_name());
    match status {
        ServingStatus::Serving => Ok(()),
        other => Err(CliError::Serve(format!("{name} is {}", other.as_str_name()))),
    }
}
