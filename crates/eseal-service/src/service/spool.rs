//! Receiving a document: in memory while small, in a temporary file past a threshold, hashed
//! on the way in. The service holds at most one copy of a document: the sealed document is sent
//! back as these bytes followed by the update.

use std::io::{self, Write};
use std::path::PathBuf;

use ring::digest;

use super::ServiceError;
use eseal_pdf::{FileSource, Source};

/// A document being received.
pub struct Spool {
    threshold: u64,
    directory: Option<PathBuf>,
    memory: Vec<u8>,
    file: Option<tempfile::NamedTempFile>,
    len: u64,
    hash: digest::Context,
}

/// A received document.
pub struct Spooled {
    bytes: SpooledBytes,
    /// SHA-256 context fed with exactly the document's bytes.
    pub hash: digest::Context,
}

enum SpooledBytes {
    Memory(Vec<u8>),
    /// The file source, and the temporary file, kept so that it is deleted when dropped.
    File(FileSource, #[allow(dead_code)] tempfile::NamedTempFile),
}

impl Spool {
    /// A spool that moves to a temporary file (in `directory`, or the system's) past
    /// `threshold` bytes.
    pub fn new(threshold: u64, directory: Option<PathBuf>) -> Self {
        Spool {
            threshold,
            directory,
            memory: Vec::new(),
            file: None,
            len: 0,
            hash: digest::Context::new(&digest::SHA256),
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a received chunk unless the document would exceed `limit` bytes. The first
    /// chunk of a document kept in memory becomes its buffer as it is (most documents arrive
    /// in one chunk, and are then never copied).
    pub fn write_within(&mut self, chunk: Vec<u8>, limit: u64) -> Result<(), ServiceError> {
        if self.len + chunk.len() as u64 > limit {
            return Err(ServiceError::TooLarge { limit });
        }
        if self.len == 0 && self.file.is_none() && chunk.len() as u64 <= self.threshold {
            self.hash.update(&chunk);
            self.len = chunk.len() as u64;
            self.memory = chunk;
            return Ok(());
        }
        self.write(&chunk)
            .map_err(|e| ServiceError::Internal(format!("cannot spool the document: {e}")))
    }

    /// Appends a chunk.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hash.update(chunk);
        self.len += chunk.len() as u64;
        if self.file.is_none() && self.len > self.threshold {
            let mut file = match &self.directory {
                Some(d) => tempfile::NamedTempFile::new_in(d)?,
                None => tempfile::NamedTempFile::new()?,
            };
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(chunk),
            None => {
                self.memory.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    /// The received document.
    pub fn finish(self) -> io::Result<Spooled> {
        let bytes = match self.file {
            None => SpooledBytes::Memory(self.memory),
            Some(mut file) => {
                file.flush()?;
                let source = FileSource::new(file.reopen()?)?;
                SpooledBytes::File(source, file)
            }
        };
        Ok(Spooled { bytes, hash: self.hash })
    }
}

impl Spooled {
    /// The document's bytes when it was kept in memory; itself back when it was spooled to a
    /// file.
    #[allow(clippy::result_large_err)] // the Err is the caller's own value, given back
    pub fn into_memory(self) -> Result<Vec<u8>, Spooled> {
        match self.bytes {
            SpooledBytes::Memory(m) => Ok(m),
            bytes @ SpooledBytes::File(..) => Err(Spooled { bytes, hash: self.hash }),
        }
    }

    /// The document's SHA-256.
    pub fn sha256(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.hash.clone().finish().as_ref());
        out
    }
}

impl Source for Spooled {
    fn len(&self) -> u64 {
        match &self.bytes {
            SpooledBytes::Memory(m) => m.len() as u64,
            SpooledBytes::File(f, _) => f.len(),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        match &self.bytes {
            SpooledBytes::Memory(m) => m.read_at(offset, buf),
            SpooledBytes::File(f, _) => f.read_at(offset, buf),
        }
    }
}

/// `bytes` in slices of at most `size` bytes, sharing its buffer (no copy): the chunks of a
/// document in transfer.
pub fn slices(bytes: bytes::Bytes, size: usize) -> impl Iterator<Item = bytes::Bytes> {
    (0..bytes.len())
        .step_by(size.max(1))
        .map(move |start| bytes.slice(start..bytes.len().min(start + size.max(1))))
}
