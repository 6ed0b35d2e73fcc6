//! New seal keys and their certificate requests: `eseal seal keygen` makes the key (in the
//! PKCS#11 token, or as an encrypted file) and a PKCS#10 request (PEM) for the seal CA, signed
//! with the new key through the same [`Signer`] the service stamps with.

use std::str::FromStr;
use std::sync::Arc;

use der::Encode;
use der::asn1::{BitString, ObjectIdentifier};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

use super::{KeyAlgorithm, KeyError, KeyLocation, Token, envelope, token_settings};
use crate::config::KeysConfig;
use eseal_cms::{RingSigner, Signer};

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// Where `eseal seal keygen` puts the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyHome {
    /// Generated inside the configured PKCS#11 token.
    Pkcs11,
    /// An encrypted key file in the key folder, sealed under the configured KEK.
    File,
}

/// A key just made: the reference to register the seal with, and the request for its certificate.
#[derive(Debug)]
pub struct NewKey {
    /// The seal's `key_reference` (`pkcs11:label=NAME` or the file name).
    pub reference: String,
    /// The PKCS#10 certificate request, PEM.
    pub csr_pem: String,
}

/// The SubjectPublicKeyInfo (DER) of an uncompressed P-256 point.
pub fn ec_p256_spki(point: &[u8]) -> Result<Vec<u8>, der::Error> {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::encode_from(&SECP256R1)?),
        },
        subject_public_key: BitString::from_bytes(point)?,
    }
    .to_der()
}

/// Makes a key named `name` in `home` and a certificate request for `subject` (RFC 4514, e.g.
/// `CN=示例市行政审批局行政审批专用章,O=示例市行政审批局,C=CN`). A file key needs a KEK
/// configured and is refused for RSA (ring cannot generate RSA keys: make one with
/// `openssl genpkey` and `eseal keys encrypt`); an existing file or token label is refused.
pub fn keygen(
    config: &KeysConfig,
    home: KeyHome,
    name: &str,
    algorithm: KeyAlgorithm,
    subject: &str,
) -> Result<NewKey, KeyError> {
    let subject = Name::from_str(subject).map_err(|e| KeyError::Invalid {
        reference: name.into(),
        message: format!("subject {subject:?}: {e}"),
    })?;
    let (reference, spki, signer): (String, Vec<u8>, Arc<dyn Signer>) = match home {
        KeyHome::Pkcs11 => {
            let settings = token_settings(config)?
                .ok_or_else(|| KeyError::NoToken(format!("pkcs11:label={name}")))?;
            let token = Token::open(&settings)?;
            let spki = token.generate(name, algorithm)?;
            let reference = format!("pkcs11:label={name}");
            let signer = token.signer(name)?;
            (reference, spki, signer)
        }
        KeyHome::File => {
            let KeyLocation::File(_) = KeyLocation::parse(name)? else {
                return Err(KeyError::BadReference(name.into()));
            };
            if algorithm != KeyAlgorithm::EcdsaP256 {
                return Err(KeyError::Invalid {
                    reference: name.into(),
                    message: "RSA file keys cannot be generated here: make one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -outform DER` and seal it with `eseal keys encrypt`".into(),
                });
            }
            let kek = super::configured_keks(config)?.into_iter().next().ok_or_else(|| {
                KeyError::Kek(
                    "keys.kek_file or kek_env must be configured to make a file key".into(),
                )
            })?;
            let path = config.directory.join(name);
            if path.exists() {
                return Err(KeyError::Invalid {
                    reference: name.into(),
                    message: format!("{} exists already", path.display()),
                });
            }
            let rng = SystemRandom::new();
            let invalid = |message: String| KeyError::Invalid { reference: name.into(), message };
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .map_err(|e| invalid(e.to_string()))?;
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
                    .map_err(|e| invalid(e.to_string()))?;
            let spki =
                ec_p256_spki(pair.public_key().as_ref()).map_err(|e| invalid(e.to_string()))?;
            let signer =
                RingSigner::from_pkcs8(pkcs8.as_ref()).map_err(|e| invalid(e.to_string()))?;
            super::write_atomically(&path, &envelope::seal(pkcs8.as_ref(), &kek)?)
                .map_err(|e| invalid(format!("writing {}: {e}", path.display())))?;
            (name.to_string(), spki, Arc::new(signer))
        }
    };
    let csr_pem = certificate_request(subject, &spki, algorithm, signer.as_ref())
        .map_err(|e| KeyError::Invalid { reference: reference.clone(), message: e })?;
    Ok(NewKey { reference, csr_pem })
}

/// A PKCS#10 request for `subject` and the public key `spki` (DER), signed by `signer`, in PEM.
pub fn certificate_request(
    subject: Name,
    spki: &[u8],
    algorithm: KeyAlgorithm,
    signer: &dyn Signer,
) -> Result<String, String> {
    let public_key = <SubjectPublicKeyInfoOwned as der::Decode>::from_der(spki)
        .map_err(|e| format!("public key: {e}"))?;
    let info =
        CertReqInfo { version: Version::V1, subject, public_key, attributes: Default::default() };
    let to_sign = info.to_der().map_err(|e| e.to_string())?;
    let signature = signer.sign(&to_sign).map_err(|e| e.to_string())?;
    let algorithm = match algorithm {
        // ecdsa-with-SHA256 has no parameters; sha256WithRSAEncryption has NULL.
        KeyAlgorithm::EcdsaP256 => {
            AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA256, parameters: None }
        }
        KeyAlgorithm::Rsa3072 => AlgorithmIdentifierOwned {
            oid: SHA256_WITH_RSA,
            parameters: Some(der::Any::encode_from(&der::asn1::Null).map_err(|e| e.to_string())?),
        },
    };
    let request = CertReq {
        info,
        algorithm,
        signature: BitString::from_bytes(&signature).map_err(|e| e.to_string())?,
    };
    let der = request.to_der().map_err(|e| e.to_string())?;
    Ok(pem("CERTIFICATE REQUEST", &der))
}

/// `der` as PEM with 64-character lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = eseal_encoding::base64::encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keygen_writes_an_encrypted_key_and_a_csr_that_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let kek_path = dir.path().join("kek");
        std::fs::write(&kek_path, "22".repeat(32)).unwrap();
        let config = KeysConfig {
            directory: dir.path().into(),
            kek_file: Some(kek_path),
            ..Default::default()
        };
        let made = keygen(
            &config,
            KeyHome::File,
            "new-seal.key.enc",
            KeyAlgorithm::EcdsaP256,
            "CN=测试专用章,O=测试局,C=CN",
        )
        .unwrap();
        assert_eq!(made.reference, "new-seal.key.enc");
        assert!(envelope::is_encrypted(
            &std::fs::read(dir.path().join("new-seal.key.enc")).unwrap()
        ));
        let der = x509_parser::pem::parse_x509_pem(made.csr_pem.as_bytes()).unwrap().1.contents;
        use x509_parser::prelude::FromDer;
        let (_, csr) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der).unwrap();
        let info = &csr.certification_request_info;
        let point = info.subject_pki.subject_public_key.data.to_vec();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
            .verify(info.raw, &csr.signature_value.data)
            .expect("the request is signed by the new key");
        assert!(csr.certification_request_info.subject.to_string().contains("CN=测试专用章"));
        // The same name again is refused, and RSA file keys are not generated here.
        assert!(
            keygen(&config, KeyHome::File, "new-seal.key.enc", KeyAlgorithm::EcdsaP256, "CN=x")
                .is_err()
        );
        assert!(
            keygen(&config, KeyHome::File, "rsa.key.enc", KeyAlgorithm::Rsa3072, "CN=x").is_err()
        );
        // The service opens the key with the KEK.
        let ring = super::super::KeyRing::from_config(&config, false).unwrap();
        use super::super::KeyStore;
        assert!(ring.signer("new-seal.key.enc").is_ok());
    }
}
