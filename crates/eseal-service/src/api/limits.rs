//! The size of every request field, in one place. A request with a field over its bound is
//! refused with INVALID_ARGUMENT before anything else is done with it (the refusal record
//! holds clipped values), so that no caller can make the service store, log or echo megabytes
//! of text it chose. How messages and records show a client's string is
//! [`crate::service::clip`].

use super::proto;
use crate::service::ServiceError;

/// Seal ids (registration also requires letters, digits, '-' and '_').
pub const MAX_SEAL_ID: usize = 64;
/// Authorization ids (the service makes 37-character ones).
pub const MAX_AUTHORIZATION_ID: usize = 128;
/// Request ids chosen by clients.
pub const MAX_REQUEST_ID: usize = 128;
/// Case numbers.
pub const MAX_CASE_NUMBER: usize = 256;
/// Principal names (grantees, custodians, filters).
pub const MAX_PRINCIPAL: usize = 128;
/// Reasons given to suspend, resume or revoke (kept in the audit trail).
pub const MAX_REASON: usize = 1024;
/// Seal names, organizations, kinds; a signature's reason, location, contact and field name.
pub const MAX_TEXT: usize = 256;
/// Key references (a file name or a PKCS#11 URI).
pub const MAX_KEY_REFERENCE: usize = 512;
/// Custodians of one seal.
pub const MAX_CUSTODIANS: usize = 32;
/// A seal picture (PNG).
pub const MAX_IMAGE_BYTES: usize = 1 << 20;
/// Certificates in a seal's chain.
pub const MAX_CHAIN_CERTIFICATES: usize = 8;
/// One certificate of a seal's chain (DER).
pub const MAX_CERTIFICATE_BYTES: usize = 64 << 10;
/// Page tokens (the service issues hex of "<time>:<id>", well under this).
pub const MAX_PAGE_TOKEN: usize = 512;

/// A request whose fields are checked against the bounds above.
pub trait Bounded {
    /// `InvalidArgument` naming the first field over its bound.
    fn check_bounds(&self) -> Result<(), ServiceError>;
}

/// Refuses `value` when it is longer than `max` bytes.
fn text(field: &str, value: &str, max: usize) -> Result<(), ServiceError> {
    if value.len() > max {
        return Err(ServiceError::InvalidArgument(format!(
            "{field} is {} bytes long; at most {max} are accepted",
            value.len()
        )));
    }
    Ok(())
}

/// Refuses more than `max` items, or an item longer than `max_item` bytes.
fn list<T: AsRef<[u8]>>(
    field: &str,
    values: &[T],
    max: usize,
    max_item: usize,
) -> Result<(), ServiceError> {
    if values.len() > max {
        return Err(ServiceError::InvalidArgument(format!(
            "{field} has {} entries; at most {max} are accepted",
            values.len()
        )));
    }
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| v.as_ref().len() > max_item) {
        return Err(ServiceError::InvalidArgument(format!(
            "{field}[{i}] is {} bytes long; at most {max_item} are accepted",
            v.as_ref().len()
        )));
    }
    Ok(())
}

impl Bounded for proto::RegisterSealRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        text("id", &self.id, MAX_SEAL_ID)?;
        text("name", &self.name, MAX_TEXT)?;
        text("organization", &self.organization, MAX_TEXT)?;
        text("kind", &self.kind, MAX_TEXT)?;
        text("key_reference", &self.key_reference, MAX_KEY_REFERENCE)?;
        list("custodians", &self.custodians, MAX_CUSTODIANS, MAX_PRINCIPAL)?;
        list(
            "certificate_chain",
            &self.certificate_chain,
            MAX_CHAIN_CERTIFICATES,
            MAX_CERTIFICATE_BYTES,
        )?;
        if self.image_png.len() > MAX_IMAGE_BYTES {
            return Err(ServiceError::InvalidArgument(format!(
                "image_png is {} bytes; at most {MAX_IMAGE_BYTES} are accepted",
                self.image_png.len()
            )));
        }
        Ok(())
    }
}

impl Bounded for proto::GetSealRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        text("id", &self.id, MAX_SEAL_ID)
    }
}

impl Bounded for proto::ListSealsRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

impl Bounded for proto::SealTransitionRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        text("id", &self.id, MAX_SEAL_ID)?;
        text("reason", &self.reason, MAX_REASON)
    }
}

impl Bounded for proto::GrantAuthorizationRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        text("seal_id", &self.seal_id, MAX_SEAL_ID)?;
        text("grantee", &self.grantee, MAX_PRINCIPAL)?;
        text("case_number", &self.case_number, MAX_CASE_NUMBER)?;
        // Exactly 32 when set; checked with its own message later. Bounded here so that the
        // refusal never quotes more.
        if self.document_sha256.len() > 64 {
            return Err(ServiceError::InvalidArgument(format!(
                "document_sha256 is {} bytes; it must be 32",
                self.document_sha256.len()
            )));
        }
        Ok(())
    }
}

impl Bounded for proto::RevokeAuthorizationRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        text("id", &self.id, MAX_AUTHORIZATION_ID)?;
        text("reason", &self.reason, MAX_REASON)
    }
}

impl Bounded for proto::GetAuthorizationRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        text("id", &self.id, MAX_AUTHORIZATION_ID)
    }
}

impl Bounded for proto::ListAuthorizationsRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        text("seal_id", &self.seal_id, MAX_SEAL_ID)?;
        text("grantee", &self.grantee, MAX_PRINCIPAL)?;
        text("page_token", &self.page_token, MAX_PAGE_TOKEN)
    }
}

impl Bounded for proto::SignHeader {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        text("seal_id", &self.seal_id, MAX_SEAL_ID)?;
        text("authorization_id", &self.authorization_id, MAX_AUTHORIZATION_ID)?;
        text("request_id", &self.request_id, MAX_REQUEST_ID)?;
        text("case_number", &self.case_number, MAX_CASE_NUMBER)?;
        text("reason", &self.reason, MAX_TEXT)?;
        text("location", &self.location, MAX_TEXT)?;
        text("contact_info", &self.contact_info, MAX_TEXT)?;
        text("field_name", &self.field_name, MAX_TEXT)
    }
}

// The audit service's requests hold numbers only.
impl Bounded for proto::GetCheckpointRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

impl Bounded for proto::GetRecordsRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

impl Bounded for proto::GetInclusionProofRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

impl Bounded for proto::GetConsistencyProofRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

impl Bounded for proto::ExportArchiveRequest {
    fn check_bounds(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bounded_field_is_refused_one_byte_over() {
        let over = |n: usize| "x".repeat(n + 1);
        let refused = |r: Result<(), ServiceError>, field: &str| match r {
            Err(ServiceError::InvalidArgument(m)) => assert!(m.starts_with(field), "{m}"),
            other => panic!("{field}: {other:?}"),
        };
        refused(proto::GetSealRequest { id: over(MAX_SEAL_ID) }.check_bounds(), "id");
        assert!(proto::GetSealRequest { id: "x".repeat(MAX_SEAL_ID) }.check_bounds().is_ok());
        refused(
            proto::SealTransitionRequest { id: "s".into(), reason: over(MAX_REASON) }
                .check_bounds(),
            "reason",
        );
        refused(
            proto::GrantAuthorizationRequest {
                case_number: over(MAX_CASE_NUMBER),
                ..Default::default()
            }
            .check_bounds(),
            "case_number",
        );
        refused(
            proto::GrantAuthorizationRequest { grantee: over(MAX_PRINCIPAL), ..Default::default() }
                .check_bounds(),
            "grantee",
        );
        refused(
            proto::RevokeAuthorizationRequest {
                id: over(MAX_AUTHORIZATION_ID),
                ..Default::default()
            }
            .check_bounds(),
            "id",
        );
        refused(
            proto::GetAuthorizationRequest { id: over(MAX_AUTHORIZATION_ID) }.check_bounds(),
            "id",
        );
        refused(
            proto::ListAuthorizationsRequest {
                page_token: over(MAX_PAGE_TOKEN),
                ..Default::default()
            }
            .check_bounds(),
            "page_token",
        );
        refused(
            proto::ListAuthorizationsRequest { grantee: over(MAX_PRINCIPAL), ..Default::default() }
                .check_bounds(),
            "grantee",
        );
        refused(
            proto::SignHeader { request_id: over(MAX_REQUEST_ID), ..Default::default() }
                .check_bounds(),
            "request_id",
        );
        refused(
            proto::SignHeader { field_name: over(MAX_TEXT), ..Default::default() }.check_bounds(),
            "field_name",
        );
        refused(
            proto::RegisterSealRequest {
                key_reference: over(MAX_KEY_REFERENCE),
                ..Default::default()
            }
            .check_bounds(),
            "key_reference",
        );
        refused(
            proto::RegisterSealRequest {
                custodians: vec!["c".into(); MAX_CUSTODIANS + 1],
                ..Default::default()
            }
            .check_bounds(),
            "custodians",
        );
        refused(
            proto::RegisterSealRequest {
                custodians: vec![over(MAX_PRINCIPAL)],
                ..Default::default()
            }
            .check_bounds(),
            "custodians[0]",
        );
        refused(
            proto::RegisterSealRequest {
                image_png: vec![0; MAX_IMAGE_BYTES + 1],
                ..Default::default()
            }
            .check_bounds(),
            "image_png",
        );
        refused(
            proto::RegisterSealRequest {
                certificate_chain: vec![vec![0; MAX_CERTIFICATE_BYTES + 1]],
                ..Default::default()
            }
            .check_bounds(),
            "certificate_chain[0]",
        );
    }
}
