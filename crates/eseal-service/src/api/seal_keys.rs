//! Whether each seal can stamp: its key loads (right KEK, right PIN, token present) and its
//! certificate is within its validity. Checked at start, so that a seal whose key is
//! unavailable is reported at once (log and per-seal health) while the others serve; and
//! readable at any time for the expiry warning (days until each seal certificate expires).

use crate::seal::SealState;
use crate::service::{ServiceError, ServiceState};
use eseal_encoding::civil_time::now;

/// Seal certificates expiring within this many days are warned about.
pub use crate::seal::CERTIFICATE_EXPIRY_WARNING_DAYS as EXPIRY_WARNING_DAYS;

/// One seal's readiness.
#[derive(Clone, Debug)]
pub struct SealReadiness {
    /// The seal.
    pub seal_id: String,
    /// `None` when it can stamp; otherwise why not (the key's error).
    pub unavailable: Option<String>,
    /// Whole days until its certificate's notAfter (negative once expired); `None` when the
    /// seal could not be loaded.
    pub days_until_expiry: Option<i64>,
}

impl SealReadiness {
    /// Whether the seal certificate expires within [`EXPIRY_WARNING_DAYS`] (or has expired).
    pub fn expires_soon(&self) -> bool {
        self.days_until_expiry.is_some_and(|d| d < EXPIRY_WARNING_DAYS)
    }
}

impl ServiceState {
    /// Loads every active seal (key, chain, picture) and reports which cannot stamp and how
    /// soon each certificate expires. Logs an error per unavailable seal and a warning per
    /// certificate expiring within [`EXPIRY_WARNING_DAYS`].
    pub async fn seal_readiness(&self) -> Result<Vec<SealReadiness>, ServiceError> {
        let mut report = Vec::new();
        for seal in self.store.list_seals().await? {
            if seal.state != SealState::Active {
                continue;
            }
            let readiness = match self.loaded_seal(&seal) {
                Ok(loaded) => SealReadiness {
                    seal_id: seal.id.clone(),
                    unavailable: None,
                    days_until_expiry: Some(
                        loaded.certificate_validity.1.saturating_sub(now()).div_euclid(86_400),
                    ),
                },
                Err(e) => SealReadiness {
                    seal_id: seal.id.clone(),
                    unavailable: Some(e.to_string()),
                    days_until_expiry: None,
                },
            };
            if let Some(why) = &readiness.unavailable {
                tracing::error!(seal = %seal.id, key = %seal.key_reference, error = %why, "SEAL UNAVAILABLE: its key cannot be used; the other seals keep working");
            }
            if readiness.expires_soon() {
                tracing::warn!(seal = %seal.id, days = readiness.days_until_expiry, "the seal certificate expires within {EXPIRY_WARNING_DAYS} days: renew it");
            }
            report.push(readiness);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_warning_threshold() {
        let at = |days| SealReadiness {
            seal_id: "s".into(),
            unavailable: None,
            days_until_expiry: days,
        };
        assert!(at(Some(29)).expires_soon());
        assert!(at(Some(-1)).expires_soon(), "expired already");
        assert!(!at(Some(30)).expires_soon());
        assert!(
            !at(None).expires_soon(),
            "an unavailable seal is reported as such, not as expiring"
        );
        assert_eq!(crate::health::seal_service("approval-ec"), "eseal.seal.approval-ec");
    }
}
