//! `eseal seal ...` (seal administrator) and `eseal grant` (custodian).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tonic::transport::Channel;

use super::{CliError, ClientArgs, parse_duration};
use eseal_service::api::proto::seal_admin_service_client::SealAdminServiceClient;
use eseal_service::api::proto::{self, Authorization, Seal};

/// Options of `eseal seal`.
#[derive(Args, Debug)]
pub struct SealArgs {
    #[command(subcommand)]
    action: SealAction,
    #[command(flatten)]
    client: ClientArgs,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum SealAction {
    /// Makes a new seal key (in the PKCS#11 token or an encrypted file) and a certificate
    /// request for it; local, no server.
    Keygen(super::keys::KeygenArgs),
    /// Lists the seals.
    List,
    /// Shows one seal.
    Show {
        /// Seal id.
        id: String,
    },
    /// Registers a seal.
    Register {
        /// Seal id.
        #[arg(long)]
        id: String,
        /// Name as engraved.
        #[arg(long)]
        name: String,
        /// Owning organisation.
        #[arg(long)]
        organization: String,
        /// Kind (e.g. 行政审批专用章).
        #[arg(long)]
        kind: String,
        /// PNG picture.
        #[arg(long)]
        image: PathBuf,
        /// PEM chain, seal certificate first.
        #[arg(long)]
        chain: PathBuf,
        /// Key reference: a file name in the server's key folder, or `pkcs11:label=NAME`.
        /// (Not `--key`: that is the client's own private key.)
        #[arg(long)]
        key_reference: String,
        /// Custodians (repeat).
        #[arg(long = "custodian", required = true)]
        custodians: Vec<String>,
    },
    /// Suspends a seal.
    Suspend {
        /// Seal id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Resumes a suspended seal.
    Resume {
        /// Seal id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Revokes a seal for good.
    Revoke {
        /// Seal id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// Options of `eseal grant`.
#[derive(Args, Debug)]
pub struct GrantArgs {
    /// The seal.
    #[arg(long)]
    seal: String,
    /// The department principal that may use it.
    #[arg(long)]
    to: String,
    /// The case number.
    #[arg(long)]
    case: String,
    /// Bind the authorization to this exact document.
    #[arg(long)]
    document: Option<PathBuf>,
    /// Validity (e.g. 2h, 30m, 1d); default: the server's (24 h).
    #[arg(long)]
    expires: Option<String>,
    /// Print the whole authorization as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientArgs,
}

fn seal_json(s: &Seal) -> serde_json::Value {
    let state = proto::SealState::try_from(s.state).map(|st| st.as_str_name()).unwrap_or("UNKNOWN");
    serde_json::json!({
        "id": s.id, "name": s.name, "organization": s.organization, "kind": s.kind,
        "state": state.trim_start_matches("SEAL_STATE_").to_lowercase(), "custodians": s.custodians,
        "valid_from": s.valid_from, "valid_until": s.valid_until, "registered_at": s.registered_at,
        "certificate_sha256": s.certificate_sha256, "key_reference": s.key_reference,
    })
}

/// JSON of an authorization, as `eseal grant --json` prints it.
pub fn authorization_json(a: &Authorization) -> serde_json::Value {
    let state = proto::AuthorizationState::try_from(a.state)
        .map(|st| st.as_str_name())
        .unwrap_or("UNKNOWN");
    serde_json::json!({
        "id": a.id, "seal_id": a.seal_id, "grantee": a.grantee, "granted_by": a.granted_by,
        "case_number": a.case_number, "document_sha256": eseal_encoding::hex(&a.document_sha256),
        "granted_at": a.granted_at, "expires_at": a.expires_at,
        "state": state.trim_start_matches("AUTHORIZATION_STATE_").to_lowercase(),
        "consumed_by_request": a.consumed_by_request, "revoked_by": a.revoked_by,
    })
}

fn print_seal(seal: &Seal, json: bool) {
    let v = seal_json(seal);
    if json {
        println!("{v}");
    } else {
        println!(
            "{:<16} {:<10} {} ({}) custodians: {}",
            seal.id,
            v["state"].as_str().unwrap_or(""),
            seal.name,
            seal.kind,
            seal.custodians.join(", ")
        );
    }
}

async fn client(
    args: &ClientArgs,
    identity: &str,
) -> Result<SealAdminServiceClient<Channel>, CliError> {
    Ok(SealAdminServiceClient::new(args.connect(identity).await?))
}

fn read(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

/// Runs `eseal seal ...`.
pub async fn run(args: SealArgs) -> Result<(), CliError> {
    if let SealAction::Keygen(keygen) = args.action {
        return super::keys::keygen(keygen);
    }
    let mut admin = client(&args.client, "client-seal-admin").await?;
    let transition = |id: String, reason: String| proto::SealTransitionRequest { id, reason };
    match args.action {
        SealAction::List => {
            let seals = admin.list_seals(proto::ListSealsRequest {}).await?.into_inner().seals;
            if args.json {
                println!("{}", serde_json::Value::Array(seals.iter().map(seal_json).collect()));
            } else {
                seals.iter().for_each(|s| print_seal(s, false));
            }
        }
        SealAction::Show { id } => {
            print_seal(&admin.get_seal(proto::GetSealRequest { id }).await?.into_inner(), args.json)
        }
        SealAction::Register {
            id,
            name,
            organization,
            kind,
            image,
            chain,
            key_reference,
            custodians,
        } => {
            let pem = read(&chain)?;
            let certificate_chain = x509_parser::pem::Pem::iter_from_buffer(&pem)
                .filter_map(Result::ok)
                .filter(|p| p.label == "CERTIFICATE")
                .map(|p| p.contents)
                .collect();
            let request = proto::RegisterSealRequest {
                id,
                name,
                organization,
                kind,
                image_png: read(&image)?,
                certificate_chain,
                key_reference,
                custodians,
                valid_from: 0,
                valid_until: 0,
            };
            print_seal(&admin.register_seal(request).await?.into_inner(), args.json);
        }
        SealAction::Suspend { id, reason } => {
            print_seal(&admin.suspend_seal(transition(id, reason)).await?.into_inner(), args.json)
        }
        SealAction::Resume { id, reason } => {
            print_seal(&admin.resume_seal(transition(id, reason)).await?.into_inner(), args.json)
        }
        SealAction::Revoke { id, reason } => {
            print_seal(&admin.revoke_seal(transition(id, reason)).await?.into_inner(), args.json)
        }
        SealAction::Keygen(_) => {}
    }
    Ok(())
}

/// Runs `eseal grant`: prints the authorization id (or the whole authorization with --json).
pub async fn grant(args: GrantArgs) -> Result<(), CliError> {
    let document_sha256 = match &args.document {
        Some(path) => ring::digest::digest(&ring::digest::SHA256, &read(path)?).as_ref().to_vec(),
        None => Vec::new(),
    };
    let valid_for_seconds = match &args.expires {
        Some(text) => parse_duration(text).map_err(CliError::Usage)?,
        None => 0,
    };
    let mut admin = client(&args.client, "client-custodian").await?;
    let request = proto::GrantAuthorizationRequest {
        seal_id: args.seal,
        grantee: args.to,
        case_number: args.case,
        document_sha256,
        valid_for_seconds,
    };
    let authorization = admin.grant_authorization(request).await?.into_inner();
    if args.json {
        println!("{}", authorization_json(&authorization));
    } else {
        println!("{}", authorization.id);
    }
    Ok(())
}
