//! The TLS side of client authentication: a rustls verifier that requires every client to
//! present a certificate, checks that the client holds its key, and leaves judging the
//! certificate to the [`super::Authenticator`] of each call.

use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Accepts any client certificate whose key the client proves to hold; the certificate is
/// judged per call, where a refusal can be answered and audited. A client without a
/// certificate fails the handshake: it has no identity to answer or to rate-limit by, and
/// refusing it there costs the service no audit record.
#[derive(Debug)]
pub struct ClientCertificateRecorder {
    provider: Arc<CryptoProvider>,
    hints: Vec<DistinguishedName>,
}

impl ClientCertificateRecorder {
    /// A verifier using `provider`'s signature algorithms, hinting the subjects of `client_ca`.
    pub fn new(provider: Arc<CryptoProvider>, client_ca: &[CertificateDer<'_>]) -> Self {
        let hints = client_ca
            .iter()
            .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
            .map(|a| DistinguishedName::in_sequence(a.subject.as_ref()))
            .collect();
        Self { provider, hints }
    }
}

impl ClientCertVerifier for ClientCertificateRecorder {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
