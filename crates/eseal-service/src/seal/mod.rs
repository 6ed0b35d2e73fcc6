//! The seal record and its life cycle: registered (active), suspended, resumed, revoked.
//!
//! A seal is what a custodian is responsible for: a certificate chain, a key reference, a
//! picture, and the people who may authorize its use. This module holds the rules of its
//! states; storing them is the store's business.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Seal certificates expiring within this many days are warned about (log at start, the
/// `eseal_seal_certificate_expiring` metric): time to renew them.
pub const CERTIFICATE_EXPIRY_WARNING_DAYS: i64 = 30;

/// The state of a seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealState {
    /// May be used for stampings.
    Active,
    /// Temporarily out of use; may be resumed.
    Suspended,
    /// Permanently out of use.
    Revoked,
}

impl SealState {
    /// The state's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SealState::Active => "active",
            SealState::Suspended => "suspended",
            SealState::Revoked => "revoked",
        }
    }

    /// Parses a stored state name.
    pub fn parse(text: &str) -> Option<SealState> {
        match text {
            "active" => Some(SealState::Active),
            "suspended" => Some(SealState::Suspended),
            "revoked" => Some(SealState::Revoked),
            _ => None,
        }
    }
}

/// A life-cycle change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Active to suspended.
    Suspend,
    /// Suspended to active.
    Resume,
    /// Active or suspended to revoked (final).
    Revoke,
}

/// Why a life-cycle change is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LifecycleError {
    /// The change does not apply to the seal's current state.
    #[error("seal {seal} is {from}; it cannot be {action}")]
    NotAllowed {
        /// The seal.
        seal: String,
        /// Its current state.
        from: &'static str,
        /// What was asked, as a past participle ("suspended", "resumed", "revoked").
        action: &'static str,
    },
}

/// A registered seal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// Stable identifier chosen at registration (e.g. `approval-ec`).
    pub id: String,
    /// The seal's name as engraved (e.g. 示例市行政审批局行政审批专用章).
    pub name: String,
    /// The organisation that owns the seal.
    pub organization: String,
    /// The kind of seal (e.g. 行政审批专用章).
    pub kind: String,
    /// The seal picture (PNG).
    pub image_png: Vec<u8>,
    /// The seal certificate first, then its issuing chain (DER).
    pub certificate_chain: Vec<Vec<u8>>,
    /// Where the private key lives, in the key store's terms (e.g. a file name).
    pub key_reference: String,
    /// Principals who may authorize stampings with this seal.
    pub custodians: Vec<String>,
    /// Start of the seal's validity (Unix seconds).
    pub valid_from: i64,
    /// End of the seal's validity (Unix seconds).
    pub valid_until: i64,
    /// Current state.
    pub state: SealState,
    /// When it was registered (Unix seconds).
    pub registered_at: i64,
}

impl Seal {
    /// The state after `transition`, or why it is not allowed.
    pub fn after(&self, transition: Transition) -> Result<SealState, LifecycleError> {
        match (self.state, transition) {
            (SealState::Active, Transition::Suspend) => Ok(SealState::Suspended),
            (SealState::Suspended, Transition::Resume) => Ok(SealState::Active),
            (SealState::Active | SealState::Suspended, Transition::Revoke) => {
                Ok(SealState::Revoked)
            }
            (_, Transition::Suspend) => Err(self.not_allowed("suspended")),
            (_, Transition::Resume) => Err(self.not_allowed("resumed")),
            (SealState::Revoked, Transition::Revoke) => Err(self.not_allowed("revoked")),
        }
    }

    fn not_allowed(&self, action: &'static str) -> LifecycleError {
        LifecycleError::NotAllowed { seal: self.id.clone(), from: self.state.as_str(), action }
    }

    /// Whether `principal` is a custodian of this seal.
    pub fn is_custodian(&self, principal: &str) -> bool {
        self.custodians.iter().any(|c| c == principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(state: SealState) -> Seal {
        Seal {
            id: "s".into(),
            name: "n".into(),
            organization: "o".into(),
            kind: "k".into(),
            image_png: vec![],
            certificate_chain: vec![],
            key_reference: "k".into(),
            custodians: vec!["wang".into()],
            valid_from: 0,
            valid_until: 10,
            state,
            registered_at: 0,
        }
    }

    #[test]
    fn life_cycle_rules() {
        assert_eq!(seal(SealState::Active).after(Transition::Suspend), Ok(SealState::Suspended));
        assert_eq!(seal(SealState::Suspended).after(Transition::Resume), Ok(SealState::Active));
        assert_eq!(seal(SealState::Suspended).after(Transition::Revoke), Ok(SealState::Revoked));
        assert!(seal(SealState::Active).after(Transition::Resume).is_err());
        assert!(seal(SealState::Revoked).after(Transition::Resume).is_err());
        assert!(seal(SealState::Revoked).after(Transition::Revoke).is_err());
        let e = seal(SealState::Revoked).after(Transition::Suspend).unwrap_err();
        assert_eq!(e.to_string(), "seal s is revoked; it cannot be suspended");
        assert!(seal(SealState::Active).is_custodian("wang"));
        assert!(!seal(SealState::Active).is_custodian("li"));
    }
}
