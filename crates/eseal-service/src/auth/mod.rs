//! Who is calling: the TLS client certificate, checked against the client CA, names a
//! principal of the configuration, whose roles say what it may do with which seal.
//!
//! The TLS layer ([`tls::ClientCertificateRecorder`]) refuses a connection without a client
//! certificate, and otherwise only requires that the client holds the key of the certificate
//! it shows; judging the certificate happens here, per call, so that a foreign, expired or
//! revoked certificate becomes an UNAUTHENTICATED answer that is recorded in the audit trail
//! rather than a failed handshake nobody sees.

pub mod crl;
pub mod peer;
pub mod refusal_limit;
pub mod tls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use thiserror::Error;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::config::PrincipalConfig;

/// id-kp-clientAuth (1.3.6.1.5.5.7.3.2), DER value bytes: required, not merely allowed.
const CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// A role of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Requests stampings with listed seals.
    Department,
    /// Grants and revokes authorizations for listed seals.
    Custodian,
    /// Manages seal life cycles.
    SealAdmin,
    /// Verifies documents and reads the audit trail.
    Archivist,
}

impl Role {
    /// The role's name as configured and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Department => "department",
            Role::Custodian => "custodian",
            Role::SealAdmin => "seal-admin",
            Role::Archivist => "archivist",
        }
    }
}

/// Why a caller is not authenticated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The connection carries no client certificate.
    #[error("no client certificate: connect with a certificate issued by the service's client CA")]
    NoCertificate,
    /// The certificate does not chain to the client CA, is expired, or is not for client use.
    #[error("the client certificate is not accepted: {0}")]
    Rejected(String),
    /// The certificate is valid but names no configured principal.
    #[error("the client certificate ({0}) names no principal of this service")]
    UnknownPrincipal(String),
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The principal's name.
    pub name: String,
    department: Vec<String>,
    custodian: Vec<String>,
    seal_admin: bool,
    archivist: bool,
}

impl Principal {
    /// Whether the principal has `role`, for `seal` when the role is per seal.
    pub fn has(&self, role: Role, seal: Option<&str>) -> bool {
        let listed = |seals: &[String]| seals.iter().any(|s| s == "*" || Some(s.as_str()) == seal);
        match role {
            Role::Department => listed(&self.department),
            Role::Custodian => listed(&self.custodian),
            Role::SealAdmin => self.seal_admin,
            Role::Archivist => self.archivist,
        }
    }

    /// Whether the principal has `role` for any seal at all.
    pub fn has_any(&self, role: Role) -> bool {
        match role {
            Role::Department => !self.department.is_empty(),
            Role::Custodian => !self.custodian.is_empty(),
            Role::SealAdmin => self.seal_admin,
            Role::Archivist => self.archivist,
        }
    }
}

/// Turns client certificates into principals.
pub struct Authenticator {
    client_ca: Vec<CertificateDer<'static>>,
    principals: Vec<PrincipalConfig>,
    /// Chains accepted before (by SHA-256 of the chain), with the principal and the time window
    /// within which the same verification gives the same answer: a connection's every call
    /// shows the same chain, and verifying its signatures again cost a tenth of a stamping.
    /// Entries hold the generation of the CRLs they were checked with: a reload makes them
    /// stale, so a certificate revoked since is checked again (and refused).
    accepted: Mutex<HashMap<[u8; 32], Accepted>>,
    /// The client CRLs in use.
    revocation: RwLock<Arc<Revocation>>,
    /// The configured CRL files, as last read.
    crl_files: Mutex<Vec<crl::CrlFile>>,
}

/// The client CRLs in use, and a number that changes whenever they do.
#[derive(Default)]
struct Revocation {
    generation: u64,
    files: Vec<Arc<Vec<crl::LoadedCrl>>>,
}

/// What a check of the CRL files found.
#[derive(Debug, Default)]
pub struct CrlReport {
    /// Files read again and now in use, with how many certificates they list.
    pub reloaded: Vec<(PathBuf, usize)>,
    /// Files that changed (or went missing) but cannot be used, and why: the list read from
    /// them before stays in use.
    pub failed: Vec<(PathBuf, String)>,
    /// Files whose CRL in use is past its nextUpdate, with the nextUpdate (Unix seconds).
    pub expired: Vec<(PathBuf, i64)>,
}

/// A chain that was verified, and until when that holds.
#[derive(Clone)]
struct Accepted {
    principal: Principal,
    /// The latest notBefore and the earliest notAfter of the presented certificates (Unix
    /// seconds): inside it, every certificate of the chain is within its validity, and nothing
    /// else the verification depends on changes with time.
    window: (i64, i64),
    /// The generation of the CRLs it was checked with.
    generation: u64,
}

/// At most this many accepted chains are remembered (the cache starts afresh when full). Only
/// accepted chains are kept: certificates that fail are verified, and refused, every time.
const MAX_ACCEPTED: usize = 4096;

impl Authenticator {
    /// An authenticator trusting the CA certificates of `client_ca_pem` and knowing `principals`.
    pub fn new(client_ca_pem: &str, principals: Vec<PrincipalConfig>) -> Result<Self, String> {
        let mut client_ca = Vec::new();
        for item in x509_parser::pem::Pem::iter_from_buffer(client_ca_pem.as_bytes()) {
            let item = item.map_err(|e| format!("bad client CA PEM: {e}"))?;
            if item.label == "CERTIFICATE" {
                client_ca.push(CertificateDer::from(item.contents));
            }
        }
        if client_ca.is_empty() {
            return Err("the client CA file holds no certificate".into());
        }
        Ok(Self {
            client_ca,
            principals,
            accepted: Mutex::new(HashMap::new()),
            revocation: RwLock::new(Arc::new(Revocation::default())),
            crl_files: Mutex::new(Vec::new()),
        })
    }

    /// The authenticator checking client certificates against the CRLs of `paths` too. Every
    /// file must be readable and hold CRLs signed by the client CA.
    pub fn with_crls(self, paths: &[PathBuf]) -> Result<Self, String> {
        let mut files = Vec::new();
        for path in paths {
            let stamp = crl::FileStamp::of(path).ok();
            let crls = crl::read_crls(path, &self.client_ca)
                .map_err(|e| format!("client CRL {}: {e}", path.display()))?;
            files.push(crl::CrlFile {
                path: path.clone(),
                stamp,
                crls: Arc::new(crls),
                missing_reported: false,
            });
        }
        let revocation = Revocation {
            generation: 0,
            files: files.iter().map(|f| Arc::clone(&f.crls)).collect(),
        };
        *self.revocation.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(revocation);
        *self.crl_files.lock().unwrap_or_else(|p| p.into_inner()) = files;
        Ok(self)
    }

    /// Reads again the CRL files that changed since they were last read (every file when
    /// `force`), and puts the ones that can be used in use at once. `now` (Unix seconds) says
    /// which lists are past their nextUpdate.
    pub fn reload_crls(&self, force: bool, now: i64) -> CrlReport {
        let mut report = CrlReport::default();
        let mut files = self.crl_files.lock().unwrap_or_else(|p| p.into_inner());
        for file in files.iter_mut() {
            match crl::FileStamp::of(&file.path) {
                Err(e) => {
                    if force || !file.missing_reported {
                        report.failed.push((file.path.clone(), format!("cannot read it: {e}")));
                    }
                    file.missing_reported = true;
                    file.stamp = None;
                }
                Ok(stamp) if !force && file.stamp == Some(stamp) => {}
                Ok(stamp) => {
                    file.stamp = Some(stamp);
                    file.missing_reported = false;
                    match crl::read_crls(&file.path, &self.client_ca) {
                        Ok(crls) => {
                            report
                                .reloaded
                                .push((file.path.clone(), crls.iter().map(|c| c.revoked).sum()));
                            file.crls = Arc::new(crls);
                        }
                        Err(e) => report.failed.push((file.path.clone(), e)),
                    }
                }
            }
            for loaded in file.crls.iter().filter(|c| c.next_update <= now) {
                report.expired.push((file.path.clone(), loaded.next_update));
            }
        }
        if !report.reloaded.is_empty() {
            let mut revocation = self.revocation.write().unwrap_or_else(|p| p.into_inner());
            let generation = revocation.generation + 1;
            *revocation = Arc::new(Revocation {
                generation,
                files: files.iter().map(|f| Arc::clone(&f.crls)).collect(),
            });
            drop(revocation);
            // Entries of the previous generation are never used again: free them now.
            self.accepted.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        report
    }

    /// The configured CRL files.
    pub fn crl_paths(&self) -> Vec<PathBuf> {
        self.crl_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|f| f.path.clone())
            .collect()
    }

    /// The client CA certificates (for the TLS layer's hints).
    pub fn client_ca(&self) -> &[CertificateDer<'static>] {
        &self.client_ca
    }

    /// The configured principal called `name`, with its roles (to check a grantee).
    pub fn principal_named(&self, name: &str) -> Option<Principal> {
        self.principals.iter().find(|p| p.name == name).map(principal_of)
    }

    /// Authenticates the certificate chain a client presented (end entity first) at `now`.
    ///
    /// The answer is the same as verifying the chain from scratch at `now`; a chain accepted
    /// before is recognised without verifying its signatures again while `now` is inside the
    /// validity of all its certificates.
    pub fn authenticate(
        &self,
        chain: Option<&[CertificateDer<'_>]>,
        now: i64,
    ) -> Result<Principal, AuthError> {
        let chain = chain.filter(|c| !c.is_empty()).ok_or(AuthError::NoCertificate)?;
        let key = chain_key(chain);
        let revocation = Arc::clone(&self.revocation.read().unwrap_or_else(|p| p.into_inner()));
        let accepted = self.accepted.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        if let Some(accepted) = accepted.filter(|a| {
            a.window.0 <= now && now <= a.window.1 && a.generation == revocation.generation
        }) {
            return Ok(accepted.principal);
        }
        let principal = self.verify(chain, now, &revocation)?;
        if let Some(window) = validity_window(chain) {
            let mut cache = self.accepted.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= MAX_ACCEPTED {
                cache.clear();
            }
            cache.insert(
                key,
                Accepted {
                    principal: principal.clone(),
                    window,
                    generation: revocation.generation,
                },
            );
        }
        Ok(principal)
    }

    /// [`Authenticator::authenticate`] from scratch: the chain to the client CA at `now`, the
    /// clientAuth usage, the SAN URI of a configured principal.
    fn verify(
        &self,
        chain: &[CertificateDer<'_>],
        now: i64,
        revocation: &Revocation,
    ) -> Result<Principal, AuthError> {
        let anchors: Vec<TrustAnchor<'_>> = self
            .client_ca
            .iter()
            .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
            .collect();
        let end_entity = webpki::EndEntityCert::try_from(&chain[0])
            .map_err(|e| AuthError::Rejected(format!("unreadable: {e}")))?;
        let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));
        // Every certificate of the chain is looked up in the CRL of its issuer, when one is
        // configured; a CRL past its nextUpdate is still used (see the crl module).
        let crls: Vec<&webpki::CertRevocationList<'static>> =
            revocation.files.iter().flat_map(|f| f.iter().map(|c| &c.crl)).collect();
        let revocation = webpki::RevocationOptionsBuilder::new(&crls).ok().map(|options| {
            options
                .with_depth(webpki::RevocationCheckDepth::Chain)
                .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
                .build()
        });
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &chain[1..],
                at,
                webpki::KeyUsage::required(CLIENT_AUTH),
                revocation,
                None,
            )
            .map_err(|e| {
                let reason: String = match e {
                    webpki::Error::CertRevoked => {
                        "it is revoked (listed in the client CA's revocation list)".into()
                    }
                    webpki::Error::UnknownIssuer => {
                        "it is not issued by the service's client CA".into()
                    }
                    webpki::Error::CertExpired { .. } => "it has expired".into(),
                    webpki::Error::CertNotValidYet { .. } => "it is not valid yet".into(),
                    webpki::Error::RequiredEkuNotFoundContext(_) => {
                        "it is not a client certificate (no clientAuth extended key usage)".into()
                    }
                    webpki::Error::InvalidSignatureForPublicKey => {
                        "its signature does not verify with the client CA's key".into()
                    }
                    other => format!("it does not validate ({other:?})"),
                };
                // Which certificate: a refusal record must let an investigator find it.
                AuthError::Rejected(format!("{reason} (certificate {})", identify(&chain[0])))
            })?;
        let (_, cert) = X509Certificate::from_der(chain[0].as_ref())
            .map_err(|e| AuthError::Rejected(format!("unreadable: {e}")))?;
        let subject = cert.subject().to_string();
        let uris: Vec<String> = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::URI(u) => Some(u.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Principals are recognised by SAN URI only: a URI is one exact string, where subject
        // names have escaping and ordering rules that text comparison gets wrong.
        let config =
            self.principals.iter().find(|p| uris.contains(&p.san_uri)).ok_or_else(|| {
                AuthError::UnknownPrincipal(uris.first().cloned().unwrap_or(subject))
            })?;
        Ok(principal_of(config))
    }
}

/// A presented certificate, for refusal records: its serial number (when it parses) and the
/// SHA-256 of its DER.
fn identify(certificate: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate.as_ref());
    let fingerprint = eseal_encoding::hex(digest.as_ref());
    match X509Certificate::from_der(certificate.as_ref()) {
        // A serial is at most 20 bytes (RFC 5280); a longer one is cut.
        Ok((_, cert)) => format!(
            "serial {}, SHA-256 {fingerprint}",
            cert.raw_serial_as_string().chars().take(64).collect::<String>()
        ),
        Err(_) => format!("SHA-256 {fingerprint}"),
    }
}

/// SHA-256 over each certificate's length and DER: the identity of a presented chain.
fn chain_key(chain: &[CertificateDer<'_>]) -> [u8; 32] {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for certificate in chain {
        digest.update(&(certificate.len() as u64).to_be_bytes());
        digest.update(certificate.as_ref());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.finish().as_ref());
    key
}

/// The latest notBefore and earliest notAfter over the presented certificates; `None` when one
/// does not parse (then nothing is remembered).
fn validity_window(chain: &[CertificateDer<'_>]) -> Option<(i64, i64)> {
    let mut window = (i64::MIN, i64::MAX);
    for certificate in chain {
        let (_, cert) = X509Certificate::from_der(certificate.as_ref()).ok()?;
        window.0 = window.0.max(cert.validity().not_before.timestamp());
        window.1 = window.1.min(cert.validity().not_after.timestamp());
    }
    Some(window)
}

fn principal_of(config: &PrincipalConfig) -> Principal {
    Principal {
        name: config.name.clone(),
        department: config.department.clone(),
        custodian: config.custodian.clone(),
        seal_admin: config.seal_admin,
        archivist: config.archivist,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample authenticator and the department's certificate chain (end entity only).
    fn sample() -> (Authenticator, Vec<CertificateDer<'static>>) {
        let root = &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config = crate::config::Config::development(root);
        let ca = std::fs::read_to_string(&config.server.client_ca).unwrap();
        let authenticator = Authenticator::new(&ca, config.principals.clone()).unwrap();
        let pem = std::fs::read(root.join("keys-sample/client-department.pem")).unwrap();
        let chain = x509_parser::pem::Pem::iter_from_buffer(&pem)
            .map(|item| CertificateDer::from(item.unwrap().contents))
            .collect();
        (authenticator, chain)
    }

    #[test]
    fn a_remembered_chain_is_still_judged_at_each_time() {
        let (authenticator, chain) = sample();
        let (not_before, not_after) = validity_window(&chain).unwrap();
        let principal = authenticator.authenticate(Some(&chain), not_before + 10).unwrap();
        assert_eq!(authenticator.accepted.lock().unwrap().len(), 1, "remembered");
        assert_eq!(authenticator.authenticate(Some(&chain), not_before + 20).unwrap(), principal);
        match authenticator.authenticate(Some(&chain), not_after + 1) {
            Err(AuthError::Rejected(reason)) => assert!(reason.contains("expired"), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        match authenticator.authenticate(Some(&chain), not_before - 1) {
            Err(AuthError::Rejected(reason)) => {
                assert!(reason.contains("not valid yet"), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Another chain (one byte of the signature changed) is verified, not recognised.
        let mut forged = chain[0].to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(
            authenticator
                .authenticate(Some(&[CertificateDer::from(forged)]), not_before + 10)
                .is_err()
        );
        assert_eq!(authenticator.accepted.lock().unwrap().len(), 1, "refusals are not remembered");
    }
}
