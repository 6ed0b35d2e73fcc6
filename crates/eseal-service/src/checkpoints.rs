//! Signing checkpoints of the audit log: at most one per interval while the log grows, and on
//! demand. Before signing, the new tree is proved consistent with the last checkpoint, so that
//! the log never signs two checkpoints that contradict each other.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Store, StoreError, StoredCheckpoint};
use eseal_audit::{AuditEvent, Checkpoint, EventKind, LogSigner, verify_consistency};

/// Why a checkpoint was not signed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored tree does not extend the last checkpoint: nothing is signed.
    #[error(
        "the stored log of {size} records is not consistent with checkpoint {checkpoint}: refusing to sign"
    )]
    Inconsistent {
        /// The current size.
        size: u64,
        /// The last checkpoint's size.
        checkpoint: u64,
    },
    /// The database holds less than the latest signed checkpoint: restored from a backup.
    #[error(
        "the audit log holds {size} records but checkpoint {checkpoint} (witness {witness}) was signed: the database was restored from an older backup or altered; appending would fork the log"
    )]
    Restored {
        /// Records in the store.
        size: u64,
        /// The witnessed checkpoint's size.
        checkpoint: u64,
        /// The witness file.
        witness: String,
    },
    /// Signing failed.
    #[error("signing the checkpoint failed: {0}")]
    Signing(String),
}

/// Signs checkpoints with the log key.
pub struct Checkpointer {
    store: Arc<dyn Store>,
    signer: LogSigner,
    /// A copy of the latest signed checkpoint kept outside the database: a database restored
    /// from an older backup brings its old checkpoints back, but not this file.
    witness: Option<std::path::PathBuf>,
    /// One signing at a time: two concurrent signers could store two checkpoints of a size.
    signing: tokio::sync::Mutex<()>,
}

impl Checkpointer {
    /// A checkpointer over `store`, signing with `signer` (whose name is the log origin).
    pub fn new(
        store: Arc<dyn Store>,
        signer: LogSigner,
        witness: Option<std::path::PathBuf>,
    ) -> Self {
        Self { store, signer, witness, signing: tokio::sync::Mutex::new(()) }
    }

    /// Checks the store against the witness file of the latest signed checkpoint: the log must
    /// still hold every record that checkpoint covers, with the same root. Refuses a database
    /// restored from an older backup (appending to it would fork the log).
    pub async fn check_witness(&self) -> Result<(), CheckpointError> {
        let Some(path) = &self.witness else { return Ok(()) };
        let note = match std::fs::read_to_string(path) {
            Ok(note) => note,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(CheckpointError::Signing(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        let witnessed = self
            .signer
            .verifier()
            .verify_note(&note)
            .map_err(|e| CheckpointError::Signing(format!("{}: {e}", path.display())))?;
        let size = self.store.audit_len().await?;
        let holds =
            size >= witnessed.size && self.store.tree_root(witnessed.size).await? == witnessed.root;
        if !holds {
            return Err(CheckpointError::Restored {
                size,
                checkpoint: witnessed.size,
                witness: path.display().to_string(),
            });
        }
        Ok(())
    }

    /// The log's verifier key.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// Signs a checkpoint of the current log when it grew since the last checkpoint by more than
    /// that checkpoint's own signing record; returns the latest checkpoint either way.
    pub async fn sign_if_grown(
        &self,
        now: i64,
    ) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let _one_at_a_time = self.signing.lock().await;
        let size = self.store.audit_len().await?;
        let last = self.store.latest_checkpoint().await?;
        let covered = last.as_ref().map(|c| c.size).unwrap_or(0);
        // The record of the last signing follows the checkpoint it records.
        if size == 0 || size <= covered + u64::from(last.is_some()) {
            return Ok(last);
        }
        let root = self.store.tree_root(size).await?;
        if let Some(last) = &last {
            let proof = self.store.consistency_proof(last.size, size).await?;
            if !verify_consistency(last.size, size, &last.root, &root, &proof) {
                return Err(CheckpointError::Inconsistent { size, checkpoint: last.size });
            }
        }
        let checkpoint = Checkpoint { origin: self.signer.name().to_string(), size, root };
        let note =
            self.signer.sign(&checkpoint).map_err(|e| CheckpointError::Signing(e.to_string()))?;
        let stored = StoredCheckpoint { size, root, note, signed_at: now };
        let mut event = AuditEvent::new(EventKind::CheckpointSigned, "eseal");
        event.reason = Some(format!("checkpoint of {size} records"));
        self.store.save_checkpoint(&stored, event, now).await?;
        if let Some(path) = &self.witness {
            // Written beside, then renamed: the witness is never half a note.
            let temporary = path.with_extension("checkpoint.tmp");
            let written = write_owner_only(&temporary, stored.note.as_bytes())
                .and_then(|()| std::fs::rename(&temporary, path));
            if let Err(e) = written {
                tracing::error!(error = %e, path = %path.display(), "cannot write the checkpoint witness");
            }
        }
        tracing::info!(size, "checkpoint signed");
        Ok(Some(stored))
    }

    /// Signs checkpoints every `interval` while the log grows, until the process ends.
    pub fn spawn_periodic(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // The first checkpoint one interval after start, not at once.
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(e) = self.sign_if_grown(eseal_encoding::civil_time::now()).await {
                    tracing::error!(error = %e, "checkpoint not signed");
                }
            }
        })
    }
}

/// Writes `bytes` to `path` (replacing it) with mode 0600, set explicitly whatever the umask.
fn write_owner_only(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}
