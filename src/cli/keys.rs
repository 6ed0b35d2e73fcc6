//! `eseal keys ...` (encrypted key files and their key-encryption key) and `eseal seal keygen`
//! (a new seal key in the token or an encrypted file, with its certificate request). These work
//! on local files and the token, not through the server.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::CliError;
use eseal_service::config::Config;
use eseal_service::keys::csr::{KeyHome, keygen as make_key};
use eseal_service::keys::{Kek, KeyAlgorithm, envelope, read_secret, rotate_kek, write_atomically};

/// Options of `eseal keys`.
#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    action: KeysAction,
}

/// Where a KEK comes from on the command line (for `keys encrypt`, and for `audit log-key` on
/// an encrypted key file).
#[derive(Args, Debug, Clone)]
pub struct KekSource {
    /// File holding the KEK (64 hex digits, base64 or 32 raw bytes).
    #[arg(long)]
    kek_file: Option<PathBuf>,
    /// Environment variable holding the KEK (hex or base64).
    #[arg(long)]
    kek_env: Option<String>,
}

#[derive(Subcommand, Debug)]
enum KeysAction {
    /// Writes a new random KEK (64 hex digits) to a file readable by its owner only.
    GenerateKek {
        /// The file to create.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Encrypts a plaintext PKCS#8 key (DER, or PEM `PRIVATE KEY`) under a KEK: a seal key
    /// (ECDSA P-256, RSA) or the audit log's Ed25519 signing key.
    Encrypt {
        /// The plaintext key.
        input: PathBuf,
        /// The encrypted key file to write (e.g. keys/approval-ec.key.enc).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        kek: KekSource,
    },
    /// Re-seals every encrypted key file of a folder under a new KEK, one atomic rename per
    /// file. Running services keep their loaded keys; configure the new KEK as keys.kek_file
    /// and the old one as keys.previous_kek_file while nodes restart.
    RotateKek {
        /// The key folder ([keys] directory).
        #[arg(long)]
        directory: PathBuf,
        /// File holding the current (old) KEK.
        #[arg(long)]
        old_kek_file: Option<PathBuf>,
        /// Environment variable holding the current (old) KEK.
        #[arg(long)]
        old_kek_env: Option<String>,
        /// File holding the new KEK.
        #[arg(long)]
        new_kek_file: Option<PathBuf>,
        /// Environment variable holding the new KEK.
        #[arg(long)]
        new_kek_env: Option<String>,
    },
}

/// Key algorithms on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum AlgorithmArg {
    /// ECDSA P-256.
    EcP256,
    /// RSA 3072.
    Rsa3072,
}

/// Options of `eseal seal keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// The service's configuration ([keys]: the KEK for file keys, [keys.pkcs11] for the token).
    #[arg(long, env = "ESEAL_CONFIG")]
    config: PathBuf,
    /// Where the key lives.
    #[arg(long, value_parser = ["pkcs11", "file"])]
    store: String,
    /// The key's name: its token label, or its file name in the key folder.
    #[arg(long)]
    name: String,
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ec-p256")]
    algorithm: AlgorithmArg,
    /// Subject of the certificate request, RFC 4514 (e.g. "CN=某某专用章,O=某某局,C=CN").
    #[arg(long)]
    subject: String,
    /// Where to write the certificate request (PEM).
    #[arg(long)]
    csr: PathBuf,
}

fn kek(file: Option<&Path>, env: Option<&str>, what: &str) -> Result<Kek, CliError> {
    let usage = |e: eseal_service::keys::KeyError| CliError::Usage(e.to_string());
    let material = read_secret(file, env, what)
        .map_err(usage)?
        .ok_or_else(|| CliError::Usage(format!("{what} is required")))?;
    Kek::parse(&material, what).map_err(usage)
}

/// Runs `eseal keys ...`.
pub fn run(args: KeysArgs) -> Result<(), CliError> {
    let usage = |e: eseal_service::keys::KeyError| CliError::Usage(e.to_string());
    match args.action {
        KeysAction::GenerateKek { output } => {
            let hex = Kek::generate_hex().map_err(usage)?;
            write_private(&output, format!("{}\n", hex.as_str()).as_bytes())?;
            let id = Kek::parse(hex.as_bytes(), "the new KEK").map_err(usage)?.id_hex();
            println!("KEK {id} written to {}", output.display());
        }
        KeysAction::Encrypt { input, output, kek: source } => {
            let kek = kek(
                source.kek_file.as_deref(),
                source.kek_env.as_deref(),
                "--kek-file / --kek-env",
            )?;
            let raw =
                zeroize::Zeroizing::new(std::fs::read(&input).map_err(|e| {
                    CliError::Usage(format!("cannot read {}: {e}", input.display()))
                })?);
            let pkcs8 = match x509_parser::pem::parse_x509_pem(&raw) {
                Ok((_, pem)) if pem.label == "PRIVATE KEY" => zeroize::Zeroizing::new(pem.contents),
                Ok((_, pem)) => {
                    return Err(CliError::Usage(format!(
                        "{} holds a {} (PEM), not a PKCS#8 PRIVATE KEY",
                        input.display(),
                        pem.label
                    )));
                }
                Err(_) => raw,
            };
            if envelope::is_encrypted(&pkcs8) {
                return Err(CliError::Usage(format!("{} is already encrypted", input.display())));
            }
            // Only keys the service can use: a typo must not produce a file that fails at start.
            if let Err(e) = eseal_cms::RingSigner::from_pkcs8(&pkcs8) {
                if ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).is_err() {
                    return Err(CliError::Usage(format!(
                        "{}: neither a seal key ({e}) nor an Ed25519 audit-log key",
                        input.display()
                    )));
                }
            }
            write_atomically(&output, &envelope::seal(&pkcs8, &kek).map_err(usage)?)
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", output.display())))?;
            println!(
                "{} encrypted under KEK {} into {}; remove the plaintext key",
                input.display(),
                kek.id_hex(),
                output.display()
            );
        }
        KeysAction::RotateKek {
            directory,
            old_kek_file,
            old_kek_env,
            new_kek_file,
            new_kek_env,
        } => {
            let old = kek(
                old_kek_file.as_deref(),
                old_kek_env.as_deref(),
                "--old-kek-file / --old-kek-env",
            )?;
            let new = kek(
                new_kek_file.as_deref(),
                new_kek_env.as_deref(),
                "--new-kek-file / --new-kek-env",
            )?;
            let resealed = rotate_kek(&directory, &old, &new).map_err(usage)?;
            for name in &resealed {
                println!("re-sealed {name}");
            }
            println!(
                "{} key file(s) now under KEK {} (was {})",
                resealed.len(),
                new.id_hex(),
                old.id_hex()
            );
        }
    }
    Ok(())
}

/// The plaintext PKCS#8 of a key file: the file itself, or, when `eseal keys encrypt` made it,
/// the key opened with the KEK of `kek` (required then).
pub fn plaintext_key(
    path: &Path,
    kek_source: &KekSource,
) -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?,
    );
    if !envelope::is_encrypted(&bytes) {
        return Ok(bytes);
    }
    if kek_source.kek_file.is_none() && kek_source.kek_env.is_none() {
        return Err(CliError::Usage(format!(
            "{} is an encrypted key file: give its KEK with --kek-file or --kek-env",
            path.display()
        )));
    }
    let kek = kek(
        kek_source.kek_file.as_deref(),
        kek_source.kek_env.as_deref(),
        "--kek-file / --kek-env",
    )?;
    envelope::open(&bytes, std::slice::from_ref(&kek), &path.display().to_string())
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// Runs `eseal seal keygen`: prints the key reference to register the seal with.
pub fn keygen(args: KeygenArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config).map_err(|e| CliError::Usage(e.to_string()))?;
    let home = if args.store == "pkcs11" { KeyHome::Pkcs11 } else { KeyHome::File };
    let algorithm = match args.algorithm {
        AlgorithmArg::EcP256 => KeyAlgorithm::EcdsaP256,
        AlgorithmArg::Rsa3072 => KeyAlgorithm::Rsa3072,
    };
    let made = make_key(&config.keys, home, &args.name, algorithm, &args.subject)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    std::fs::write(&args.csr, &made.csr_pem)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", args.csr.display())))?;
    println!("key reference: {}\ncertificate request: {}", made.reference, args.csr.display());
    Ok(())
}

/// Creates `path` readable and writable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| CliError::Usage(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}
