//! Reading the CMS SignedData of a PDF signature made by any tool (this
//! service, pyHanko, Adobe, ...), or of an RFC 3161 timestamp token.

use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{AnyRef, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Header, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use super::algorithms::{DigestAlgorithm, SignatureAlgorithm, oid_display};
use super::error::CmsError;
use super::ess::SigningCertificateV2;
use super::oids;
use super::tst::TstInfo;
use super::verify::{resolve_signature_algorithm, verify_with_spki};

/// How deep timestamp tokens may nest inside each other's unsigned attributes.
/// A signature's timestamp is level 1; nothing legitimate goes deeper than 2,
/// and the bound keeps crafted input from recursing without end.
const MAX_TIMESTAMP_NESTING: usize = 2;

/// What a CMS SignedData (one signer) says, as needed to verify and report on it.
#[derive(Debug)]
pub struct SignedDataInfo {
    der_len: usize,
    digest_algorithm: DigestAlgorithm,
    signature_algorithm: SignatureAlgorithm,
    certificates: Vec<Vec<u8>>,
    signer_index: Option<usize>,
    content_type: ObjectIdentifier,
    encapsulated_content: Option<Vec<u8>>,
    tst_info: Option<TstInfo>,
    /// The signed attributes re-tagged as a SET (0x31), i.e. the signed bytes.
    signed_attrs_der: Option<Vec<u8>>,
    signed_attribute_oids: Vec<ObjectIdentifier>,
    message_digest: Option<Vec<u8>>,
    content_type_attribute: Option<ObjectIdentifier>,
    signing_certificate_v2_matches: Option<bool>,
    signature: Vec<u8>,
    unsigned_attribute_oids: Vec<ObjectIdentifier>,
    signature_timestamps: Vec<Result<SignedDataInfo, CmsError>>,
}

impl SignedDataInfo {
    /// Decodes a DER `ContentInfo(SignedData)` with exactly one SignerInfo.
    ///
    /// Zero bytes after the DER are ignored: a PDF `/Contents` string is
    /// zero-padded to its reserved size. Anything else after it is an error.
    /// Unknown digest or signature algorithms are errors; a malformed
    /// signature timestamp token is not (see [`Self::signature_timestamps`]).
    pub fn parse(der: &[u8]) -> Result<SignedDataInfo, CmsError> {
        Self::parse_nested(der, 0)
    }

    fn parse_nested(der: &[u8], depth: usize) -> Result<SignedDataInfo, CmsError> {
        let der = strip_zero_padding(der)?;
        let content_info = ContentInfo::from_der(der).map_err(CmsError::malformed)?;
        if content_info.content_type != oids::ID_SIGNED_DATA {
            return Err(CmsError::NotSignedData(oid_display(&content_info.content_type)));
        }
        // The typed view is decoded without the certificates: they are read once, from their
        // original bytes in `raw` (re-encoding a decoded certificate is not guaranteed to give
        // them back), and a SET OF that repeats one, as pyHanko writes when its chain file
        // holds the signer's certificate, is DER (X.690 11.6) the typed decoder refuses.
        let raw = RawSignedData::walk(der).map_err(CmsError::malformed)?;
        let signed_data: SignedData = ContentInfo::from_der(&raw.without_certificates)
            .and_then(|c| c.content.decode_as())
            .map_err(CmsError::malformed)?;

        let signer_count = signed_data.signer_infos.0.len();
        let signer_info: &SignerInfo = match signed_data.signer_infos.0.as_slice() {
            [one] => one,
            _ => return Err(CmsError::SignerCount(signer_count)),
        };

        let digest_algorithm = DigestAlgorithm::from_oid(&signer_info.digest_alg.oid)?;
        let signature_algorithm =
            resolve_signature_algorithm(&signer_info.signature_algorithm, digest_algorithm)?;

        // Certificates: original bytes (re-encoding a decoded certificate is
        // not guaranteed to give them back), decoded alongside for matching.
        let parsed: Vec<Option<Certificate>> =
            raw.certificates.iter().map(|c| Certificate::from_der(c).ok()).collect();
        let signer_index =
            parsed.iter().position(|c| c.as_ref().is_some_and(|c| is_signer(c, &signer_info.sid)));
        let signer_cert = signer_index.and_then(|i| parsed.get(i)).and_then(Option::as_ref);

        let content_type = signed_data.encap_content_info.econtent_type;
        let (encapsulated_content, tst_info) = encapsulated(&signed_data.encap_content_info)?;

        // Signed attributes, from the original bytes so their order and
        // encoding are the signer's, not a re-sorted re-encoding.
        let signed_attrs: Vec<Attribute> = match &raw.signed_attrs_value {
            Some(value) => attributes_in_order(value).map_err(CmsError::malformed)?,
            None => Vec::new(),
        };
        let signed_attrs_der = match &raw.signed_attrs_value {
            Some(value) => Some(as_set_of(value).map_err(CmsError::malformed)?),
            None => None,
        };
        let message_digest = single_value(&signed_attrs, oids::ID_MESSAGE_DIGEST)?
            .map(|v| v.decode_as::<OctetString>().map(|o| o.as_bytes().to_vec()))
            .transpose()
            .map_err(|_| CmsError::MissingMessageDigest)?;
        let content_type_attribute = single_value(&signed_attrs, oids::ID_CONTENT_TYPE)?
            .map(|v| v.decode_as::<ObjectIdentifier>())
            .transpose()
            .map_err(|e| CmsError::Malformed(format!("content-type attribute: {e}")))?;
        let signing_certificate_v2_matches =
            single_value(&signed_attrs, oids::ID_AA_SIGNING_CERTIFICATE_V2)?.map(|v| {
                let signer_der = signer_index.and_then(|i| raw.certificates.get(i));
                match (signer_der, signer_cert) {
                    (Some(der), Some(cert)) => ess_v2_matches(v, der, cert),
                    _ => false,
                }
            });

        let unsigned_attrs: &[Attribute] =
            signer_info.unsigned_attrs.as_ref().map(|a| a.as_slice()).unwrap_or_default();
        let signature_timestamps = Self::timestamp_tokens(unsigned_attrs, depth);

        Ok(SignedDataInfo {
            der_len: der.len(),
            digest_algorithm,
            signature_algorithm,
            certificates: raw.certificates,
            signer_index,
            content_type,
            encapsulated_content,
            tst_info,
            signed_attrs_der,
            signed_attribute_oids: signed_attrs.iter().map(|a| a.oid).collect(),
            message_digest,
            content_type_attribute,
            signing_certificate_v2_matches,
            signature: signer_info.signature.as_bytes().to_vec(),
            unsigned_attribute_oids: unsigned_attrs.iter().map(|a| a.oid).collect(),
            signature_timestamps,
        })
    }

    /// Parses each id-aa-timeStampToken value of the unsigned attributes.
    fn timestamp_tokens(
        unsigned_attrs: &[Attribute],
        depth: usize,
    ) -> Vec<Result<SignedDataInfo, CmsError>> {
        unsigned_attrs
            .iter()
            .filter(|a| a.oid == oids::ID_AA_TIME_STAMP_TOKEN)
            .flat_map(|a| a.values.iter())
            .map(|token| {
                if depth >= MAX_TIMESTAMP_NESTING {
                    return Err(CmsError::Malformed(
                        "timestamp tokens nested too deeply".to_owned(),
                    ));
                }
                let token = token.to_der().map_err(CmsError::malformed)?;
                Self::parse_nested(&token, depth.saturating_add(1))
            })
            .collect()
    }

    /// Verifies the signer's signature over the signed attributes.
    ///
    /// Checks, in order: signed attributes present; a well-formed
    /// message-digest attribute; the content-type attribute (if any) equals
    /// the eContentType; for encapsulated content (timestamp tokens), that the
    /// message digest is the content's digest; the signer certificate is
    /// present; and the signature value, with that certificate's key.
    ///
    /// It does not check that the message digest matches the PDF: the caller
    /// hashes the `/ByteRange` with [`Self::digest_algorithm`] and compares
    /// with [`Self::message_digest`]. Nor does it validate the certificate.
    pub fn verify_signature(&self) -> Result<(), CmsError> {
        let signed_attrs =
            self.signed_attrs_der.as_deref().ok_or(CmsError::MissingSignedAttributes)?;
        let message_digest = self
            .message_digest
            .as_deref()
            .filter(|d| d.len() == self.digest_algorithm.output_len())
            .ok_or(CmsError::MissingMessageDigest)?;
        if let Some(attribute) = self.content_type_attribute
            && attribute != self.content_type
        {
            return Err(CmsError::ContentTypeMismatch {
                attribute: oid_display(&attribute),
                content: oid_display(&self.content_type),
            });
        }
        if let Some(content) = &self.encapsulated_content
            && self.digest_algorithm.digest([content.as_slice()]) != message_digest
        {
            return Err(CmsError::ContentDigestMismatch);
        }
        let signer = self.signer_certificate().ok_or(CmsError::SignerCertificateNotFound)?;
        let cert = Certificate::from_der(signer).map_err(CmsError::malformed)?;
        verify_with_spki(
            &cert.tbs_certificate.subject_public_key_info,
            self.signature_algorithm,
            signed_attrs,
            &self.signature,
        )
    }

    /// Length of the DER structure, without the zero padding that followed it.
    pub fn der_len(&self) -> usize {
        self.der_len
    }

    /// The SignerInfo's digest algorithm: the one the document (or the
    /// encapsulated content) was hashed with.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest_algorithm
    }

    /// The signature algorithm, resolved (e.g. `rsaEncryption` + SHA-256 → sha256WithRSAEncryption).
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }

    /// Name of the signature algorithm: "ecdsa-with-SHA256", "sha256WithRSAEncryption", "rsassa-pss", ...
    pub fn signature_algorithm_name(&self) -> &'static str {
        self.signature_algorithm.name()
    }

    /// All certificates of the SignedData, DER, in the order they were stored.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.certificates
    }

    /// The signer's certificate (matched by issuerAndSerialNumber or
    /// subjectKeyIdentifier), if the SignedData carries it.
    pub fn signer_certificate(&self) -> Option<&[u8]> {
        self.signer_index.and_then(|i| self.certificates.get(i)).map(Vec::as_slice)
    }

    /// Subject of the signer's certificate (RFC 4514 string), if found.
    pub fn signer_subject(&self) -> Option<String> {
        let der = self.signer_certificate()?;
        Certificate::from_der(der).ok().map(|c| c.tbs_certificate.subject.to_string())
    }

    /// The value of the message-digest signed attribute.
    pub fn message_digest(&self) -> Option<&[u8]> {
        self.message_digest.as_deref()
    }

    /// The eContentType: id-data for PDF signatures, id-ct-TSTInfo for timestamp tokens.
    pub fn content_type(&self) -> ObjectIdentifier {
        self.content_type
    }

    /// The encapsulated content, if not detached (the DER TSTInfo of a timestamp token).
    pub fn encapsulated_content(&self) -> Option<&[u8]> {
        self.encapsulated_content.as_deref()
    }

    /// The decoded TSTInfo, when this is an RFC 3161 timestamp token.
    pub fn tst_info(&self) -> Option<&TstInfo> {
        self.tst_info.as_ref()
    }

    /// Types of the signed attributes, in the order the signer encoded them.
    pub fn signed_attribute_oids(&self) -> &[ObjectIdentifier] {
        &self.signed_attribute_oids
    }

    /// Types of the unsigned attributes.
    pub fn unsigned_attribute_oids(&self) -> &[ObjectIdentifier] {
        &self.unsigned_attribute_oids
    }

    /// Whether a signing-time signed attribute is present (forbidden in PAdES B-B).
    pub fn has_signing_time(&self) -> bool {
        self.signed_attribute_oids.contains(&oids::ID_SIGNING_TIME)
    }

    /// Whether an ESS signing-certificate-v2 signed attribute is present.
    pub fn has_signing_certificate_v2(&self) -> bool {
        self.signed_attribute_oids.contains(&oids::ID_AA_SIGNING_CERTIFICATE_V2)
    }

    /// Whether an ESS signing-certificate (v1, SHA-1) signed attribute is present.
    pub fn has_signing_certificate_v1(&self) -> bool {
        self.signed_attribute_oids.contains(&oids::ID_AA_SIGNING_CERTIFICATE)
    }

    /// Whether the signing-certificate-v2 attribute designates the signer
    /// certificate (its first ESSCertIDv2: hash and, if present, issuer and
    /// serial). `None` when the attribute is absent; `Some(false)` when it is
    /// malformed or the signer certificate is missing.
    pub fn signing_certificate_v2_matches(&self) -> Option<bool> {
        self.signing_certificate_v2_matches
    }

    /// The signature value (what a signature timestamp's imprint hashes).
    pub fn signature_value(&self) -> &[u8] {
        &self.signature
    }

    /// The signature timestamp tokens (id-aa-timeStampToken unsigned
    /// attributes), each parsed on its own: a broken token does not make the
    /// signature unreadable.
    pub fn signature_timestamps(&self) -> &[Result<SignedDataInfo, CmsError>] {
        &self.signature_timestamps
    }

    /// The first signature timestamp token, if any.
    pub fn signature_timestamp(&self) -> Option<Result<&SignedDataInfo, &CmsError>> {
        self.signature_timestamps.first().map(Result::as_ref)
    }
}

/// Returns the DER structure at the start of `bytes`, checking that only zero
/// bytes follow it.
fn strip_zero_padding(bytes: &[u8]) -> Result<&[u8], CmsError> {
    let mut reader = SliceReader::new(bytes).map_err(CmsError::malformed)?;
    AnyRef::decode(&mut reader).map_err(CmsError::malformed)?;
    let used = usize::try_from(reader.position()).map_err(CmsError::malformed)?;
    let (der, padding) = bytes
        .split_at_checked(used)
        .ok_or_else(|| CmsError::Malformed("DER length beyond the end of the input".to_owned()))?;
    if padding.iter().any(|&b| b != 0) {
        return Err(CmsError::Malformed("non-zero bytes after the CMS structure".to_owned()));
    }
    Ok(der)
}

/// The encapsulated content (an OCTET STRING's octets) and, for a timestamp
/// token, its decoded TSTInfo.
fn encapsulated(
    encap: &EncapsulatedContentInfo,
) -> Result<(Option<Vec<u8>>, Option<TstInfo>), CmsError> {
    let content = match &encap.econtent {
        None => None,
        Some(any) if any.tag() == Tag::OctetString => Some(any.value().to_vec()),
        Some(any) => {
            return Err(CmsError::Malformed(format!(
                "encapsulated content is a {} instead of an OCTET STRING",
                any.tag()
            )));
        }
    };
    if encap.econtent_type != oids::ID_CT_TST_INFO {
        return Ok((content, None));
    }
    let tst_info = match content.as_deref() {
        Some(tst) => TstInfo::parse(tst)?,
        None => {
            return Err(CmsError::InvalidTimestamp(
                "the token has no encapsulated TSTInfo".to_owned(),
            ));
        }
    };
    Ok((content, Some(tst_info)))
}

/// The parts of a SignedData whose exact original bytes matter, found by
/// walking the TLVs (the typed decoders re-sort SETs and lose them).
struct RawSignedData {
    /// DER of each `Certificate` in `certificates` (other choices skipped).
    certificates: Vec<Vec<u8>>,
    /// Content octets of the first SignerInfo's `[0] IMPLICIT signedAttrs`.
    signed_attrs_value: Option<Vec<u8>>,
    /// The whole ContentInfo without the `[0] certificates`; every other byte as it was.
    without_certificates: Vec<u8>,
}

impl RawSignedData {
    fn walk(content_info: &[u8]) -> der::Result<RawSignedData> {
        // ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
        let outer = AnyRef::from_der(content_info)?;
        let [content_type, explicit] = children::<2>(outer.value())?;
        let [signed_data] = children::<1>(explicit.value())?;
        // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo,
        //   [0] certificates OPTIONAL, [1] crls OPTIONAL, signerInfos }
        let fields = all_children(signed_data.value())?;
        let certificates = fields
            .iter()
            .find(|f| is_context(f, 0))
            .map(|set| {
                all_children(set.value()).map(|certs| {
                    certs
                        .iter()
                        .filter(|c| c.tag() == Tag::Sequence)
                        .map(|c| c.to_der())
                        .collect::<der::Result<Vec<_>>>()
                })
            })
            .transpose()?
            .transpose()?
            .unwrap_or_default();
        let signer_infos = fields.last().ok_or_else(|| der::Error::from(der::ErrorKind::Failed))?;
        let signed_attrs_value = match all_children(signer_infos.value())?.first() {
            // SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, [0] signedAttrs OPTIONAL, ... }
            Some(signer_info) => all_children(signer_info.value())?
                .get(3)
                .filter(|f| is_context(f, 0))
                .map(|f| f.value().to_vec()),
            None => None,
        };
        let tlv = |tag: Tag, value: &[u8]| AnyRef::new(tag, value).and_then(|a| a.to_der());
        let mut kept = Vec::new();
        for field in fields.iter().filter(|f| !is_context(f, 0)) {
            kept.extend(field.to_der()?);
        }
        let mut value = content_type.to_der()?;
        value.extend(tlv(explicit.tag(), &tlv(signed_data.tag(), &kept)?)?);
        Ok(RawSignedData {
            certificates,
            signed_attrs_value,
            without_certificates: tlv(outer.tag(), &value)?,
        })
    }
}

/// The TLVs inside a constructed value.
fn all_children(value: &[u8]) -> der::Result<Vec<AnyRef<'_>>> {
    let mut reader = SliceReader::new(value)?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(AnyRef::decode(&mut reader)?);
    }
    Ok(out)
}

/// Exactly `N` TLVs inside a constructed value.
fn children<const N: usize>(value: &[u8]) -> der::Result<[AnyRef<'_>; N]> {
    all_children(value)?.try_into().map_err(|_| der::Error::from(der::ErrorKind::Failed))
}

/// Whether a TLV is the constructed `[number]` context-specific field.
fn is_context(tlv: &AnyRef<'_>, number: u8) -> bool {
    tlv.tag() == Tag::ContextSpecific { constructed: true, number: TagNumber::new(number) }
}

/// The signed attributes as the signer encoded them: the `[0] IMPLICIT`
/// content octets under a SET OF tag. The length octets are re-encoded, which
/// is exact because DER (enforced by the decoder) admits a single length form.
fn as_set_of(value: &[u8]) -> der::Result<Vec<u8>> {
    let mut out = Header::new(Tag::Set, value.len())?.to_der()?;
    out.extend_from_slice(value);
    Ok(out)
}

/// Decodes the attributes of a SET OF content, keeping their order.
fn attributes_in_order(value: &[u8]) -> der::Result<Vec<Attribute>> {
    all_children(value)?.iter().map(|tlv| tlv.decode_as::<Attribute>()).collect()
}

/// The one value of the attribute of type `oid`, if present. An attribute
/// repeated, or with several values, is ambiguous and rejected.
fn single_value(attrs: &[Attribute], oid: ObjectIdentifier) -> Result<Option<&der::Any>, CmsError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(attr), None) if attr.values.len() == 1 => Ok(attr.values.iter().next()),
        _ => Err(CmsError::Malformed(format!(
            "the signed attribute {} must appear once with a single value",
            oid_display(&oid)
        ))),
    }
}

/// Whether `cert` is the one a SignerInfo's `sid` designates.
fn is_signer(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    let tbs = &cert.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            tbs.issuer == ias.issuer && tbs.serial_number == ias.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => tbs
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == oids::ID_CE_SUBJECT_KEY_IDENTIFIER)
            .any(|e| {
                OctetString::from_der(e.extn_value.as_bytes())
                    .is_ok_and(|id| id.as_bytes() == ski.0.as_bytes())
            }),
    }
}

/// Whether a signing-certificate-v2 attribute value designates `cert`.
fn ess_v2_matches(value: &der::Any, cert_der: &[u8], cert: &Certificate) -> bool {
    let Ok(attribute) = value.decode_as::<SigningCertificateV2>() else {
        return false;
    };
    // RFC 5035 §5.4: the first ESSCertIDv2 is the signing certificate.
    let Some(id) = attribute.certs.first() else {
        return false;
    };
    let Ok(hash) = DigestAlgorithm::from_oid(&id.hash_oid()) else {
        return false;
    };
    if hash.digest([cert_der]) != id.cert_hash.as_bytes() {
        return false;
    }
    match &id.issuer_serial {
        None => true,
        Some(is) => {
            let tbs = &cert.tbs_certificate;
            is.serial_number == tbs.serial_number
                && is.issuer.iter().any(|name| {
                    matches!(name, x509_cert::ext::pkix::name::GeneralName::DirectoryName(n) if *n == tbs.issuer)
                })
        }
    }
}
