//! Building the detached CMS SignedData of a PAdES B-B signature.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::Encode;
use der::asn1::{Any, OctetString, SetOfVec};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;

use super::chain::{CertificateChain, SealKeyType, sha256};
use super::error::CmsError;
use super::ess::{EssCertIdV2, IssuerSerial, SigningCertificateV2};
use super::oids;
use super::signer::Signer;
use super::verify::verify_with_spki;

/// Room, in bytes, that callers add to [`signature_size_estimate`] when the
/// signature will later receive an RFC 3161 signature timestamp in its
/// unsigned attributes (a token with its TSA chain is typically 4–10 KiB).
pub const TIMESTAMP_RESERVE: usize = 16 * 1024;

/// Builds the DER `ContentInfo(SignedData)` of a PAdES B-B seal over a
/// document whose SHA-256 (over the PDF `/ByteRange`) is `document_digest`.
///
/// The structure is detached (no eContent, eContentType id-data), carries the
/// whole `chain`, and one SignerInfo (issuerAndSerialNumber) whose signed
/// attributes are exactly content-type, message-digest and ESS
/// signing-certificate-v2 — no signing-time, as PAdES takes the time from the
/// PDF `/M` entry or a timestamp.
///
/// `signer` is called exactly once. Its signature is then checked against the
/// seal certificate's public key, so a key that does not match the
/// certificate is reported ([`CmsError::KeyCertificateMismatch`]) instead of
/// producing a seal that no one can verify.
pub fn build_pades_signed_data(
    document_digest: &[u8; 32],
    chain: &CertificateChain,
    signer: &dyn Signer,
) -> Result<Vec<u8>, CmsError> {
    let signed_attrs = signed_attributes(document_digest, chain)?;
    // The signature covers the attributes encoded as a SET OF (tag 0x31),
    // not as the [0] IMPLICIT field they are stored in (RFC 5652 §5.4).
    let to_be_signed = signed_attrs.to_der().map_err(CmsError::encoding)?;
    let signature = signer.sign(&to_be_signed)?;
    let spki = &chain.end_entity().tbs_certificate.subject_public_key_info;
    verify_with_spki(spki, chain.signature_algorithm(), &to_be_signed, &signature)
        .map_err(|_| CmsError::KeyCertificateMismatch)?;
    assemble(chain, signed_attrs, signature)
}

/// An upper bound of the size in bytes of what [`build_pades_signed_data`]
/// returns for `chain`, so that the PDF `/Contents` placeholder can be sized
/// before signing. Add [`TIMESTAMP_RESERVE`] if a timestamp will be added.
///
/// Computed by assembling the real structure with a dummy signature of the
/// largest length the key can produce: everything else in it has a size fixed
/// by the chain, so the bound is tight.
pub fn signature_size_estimate(chain: &CertificateChain) -> usize {
    *chain.signature_size.get_or_init(|| assemble_size_estimate(chain))
}

/// [`signature_size_estimate`] computed.
fn assemble_size_estimate(chain: &CertificateChain) -> usize {
    let max_sig = chain.key_type().max_signature_len();
    let exact = signed_attributes(&[0u8; 32], chain)
        .and_then(|attrs| assemble(chain, attrs, vec![0xff; max_sig]))
        .map(|der| der.len());
    match exact {
        Ok(len) => len,
        // Assembling cannot fail for a chain that decoded; should it ever,
        // a generous formula keeps the caller working.
        Err(_) => {
            let certs: usize = chain.certificates().iter().map(Vec::len).sum();
            certs + chain.end_entity_der().len() + max_sig + 2048
        }
    }
}

/// The three signed attributes of a PAdES B-B signature, DER-sorted.
fn signed_attributes(
    document_digest: &[u8; 32],
    chain: &CertificateChain,
) -> Result<SetOfVec<Attribute>, CmsError> {
    let tbs = &chain.end_entity().tbs_certificate;
    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            // SHA-256 is the DEFAULT, which DER requires to be omitted.
            hash_algorithm: None,
            cert_hash: octets(&sha256(chain.end_entity_der()))?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                serial_number: tbs.serial_number.clone(),
            }),
        }],
        policies: None,
    };
    let attributes = vec![
        attribute(oids::ID_CONTENT_TYPE, &oids::ID_DATA)?,
        attribute(oids::ID_MESSAGE_DIGEST, &octets(document_digest)?)?,
        attribute(oids::ID_AA_SIGNING_CERTIFICATE_V2, &signing_certificate)?,
    ];
    // try_from sorts the attributes as DER requires of a SET OF.
    SetOfVec::try_from(attributes).map_err(CmsError::encoding)
}

/// Wraps the signed attributes and the signature value into the final DER.
fn assemble(
    chain: &CertificateChain,
    signed_attrs: SetOfVec<Attribute>,
    signature: Vec<u8>,
) -> Result<Vec<u8>, CmsError> {
    let tbs = &chain.end_entity().tbs_certificate;
    let signature_algorithm = match chain.key_type() {
        SealKeyType::EcdsaP256 => AlgorithmIdentifierOwned {
            oid: oids::ECDSA_WITH_SHA256,
            // RFC 5758 §3.2: the parameters field MUST be absent.
            parameters: None,
        },
        SealKeyType::Rsa { .. } => AlgorithmIdentifierOwned {
            oid: oids::SHA256_WITH_RSA,
            // RFC 4055 §5: the parameters MUST be NULL.
            parameters: Some(Any::null()),
        },
    };
    let signer_info = SignerInfo {
        // v1 because the signer is identified by issuerAndSerialNumber.
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        }),
        digest_alg: sha256_algorithm(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(CmsError::encoding)?,
        unsigned_attrs: None,
    };

    let mut certificates: Vec<CertificateChoices> = Vec::with_capacity(chain.parsed().len());
    for cert in chain.parsed() {
        let choice = CertificateChoices::Certificate(cert.clone());
        // A SET OF must not hold duplicates (e.g. a root listed twice in a bundle).
        if !certificates.contains(&choice) {
            certificates.push(choice);
        }
    }

    let signed_data = SignedData {
        // v1: no attribute certificates, no v2 SignerInfo, eContentType id-data.
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_algorithm()])
            .map_err(CmsError::encoding)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oids::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(
            SetOfVec::try_from(certificates).map_err(CmsError::encoding)?,
        )),
        crls: None,
        signer_infos: SignerInfos(
            SetOfVec::try_from(vec![signer_info]).map_err(CmsError::encoding)?,
        ),
    };
    ContentInfo {
        content_type: oids::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).map_err(CmsError::encoding)?,
    }
    .to_der()
    .map_err(CmsError::encoding)
}

/// id-sha256 with absent parameters (RFC 5754 §2: implementations SHOULD omit them).
fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: oids::ID_SHA256, parameters: None }
}

/// One attribute with a single value.
fn attribute(
    oid: der::asn1::ObjectIdentifier,
    value: &(impl der::EncodeValue + der::Tagged),
) -> Result<Attribute, CmsError> {
    let value = Any::encode_from(value).map_err(CmsError::encoding)?;
    Ok(Attribute { oid, values: SetOfVec::try_from(vec![value]).map_err(CmsError::encoding)? })
}

fn octets(bytes: &[u8]) -> Result<OctetString, CmsError> {
    OctetString::new(bytes).map_err(CmsError::encoding)
}
