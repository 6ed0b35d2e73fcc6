//! Random access to the bytes of a PDF, from memory or from a file, without loading it whole.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes the engine can read at any offset. Implemented for byte slices and files.
pub trait Source {
    /// The total length in bytes.
    fn len(&self) -> u64;

    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Reads exactly the bytes `offset .. offset + len` (fewer only at the end of the source).
    fn read_range(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let available = self.len().saturating_sub(offset);
        let len = len.min(usize::try_from(available).unwrap_or(usize::MAX));
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            let n = self.read_at(offset + filled as u64, &mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(buf)
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Ok(start) = usize::try_from(offset) else { return Ok(0) };
        let Some(rest) = self.get(start..) else { return Ok(0) };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    // A copy of the bytes, without zeroing a buffer first.
    fn read_range(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        Ok(self[start..start.saturating_add(len).min(self.len())].to_vec())
    }
}

impl Source for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }

    fn read_range(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.as_slice().read_range(offset, len)
    }
}

/// A file read with positioned reads; its length is taken once, when it is opened.
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// Wraps an open file.
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }

    /// Opens the file at `path`.
    pub fn open(path: impl AsRef<std::path::Path>) -> io::Result<Self> {
        Self::new(File::open(path)?)
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        match within(self.len, offset, buf) {
            Some(buf) => self.file.read_at(buf, offset),
            None => Ok(0),
        }
    }
}

impl<S: Source + ?Sized> Source for &S {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }

    fn read_range(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        (**self).read_range(offset, len)
    }
}

/// The first `len` bytes of another source: how the document looked at an earlier revision.
pub struct Prefix<'a, S: Source + ?Sized> {
    inner: &'a S,
    len: u64,
}

impl<'a, S: Source + ?Sized> Prefix<'a, S> {
    /// The first `len` bytes of `inner` (all of it when shorter).
    pub fn new(inner: &'a S, len: u64) -> Self {
        Self { inner, len: len.min(inner.len()) }
    }
}

impl<S: Source + ?Sized> Source for Prefix<'_, S> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        match within(self.len, offset, buf) {
            Some(buf) => self.inner.read_at(offset, buf),
            None => Ok(0),
        }
    }

    fn read_range(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let available = usize::try_from(self.len.saturating_sub(offset)).unwrap_or(usize::MAX);
        self.inner.read_range(offset, len.min(available))
    }
}

/// The part of `buf` that a read at `offset` of a source of `len` bytes can fill, or `None`
/// at or past the end.
fn within(len: u64, offset: u64, buf: &mut [u8]) -> Option<&mut [u8]> {
    if offset >= len {
        return None;
    }
    let max = usize::try_from(len - offset).unwrap_or(usize::MAX).min(buf.len());
    Some(&mut buf[..max])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_range_gives_the_bytes_in_range_and_fewer_at_the_end() {
        let bytes = b"0123456789".to_vec();
        let prefix = Prefix::new(&bytes, 6);
        for (offset, len, whole, first_six) in [
            (0, 4, "0123", "0123"),
            (4, 4, "4567", "45"),
            (8, 10, "89", ""),
            (10, 1, "", ""),
            (u64::MAX, 3, "", ""),
        ] {
            assert_eq!(
                bytes.read_range(offset, len).unwrap(),
                whole.as_bytes(),
                "Vec at {offset}+{len}"
            );
            assert_eq!(
                bytes.as_slice().read_range(offset, len).unwrap(),
                whole.as_bytes(),
                "slice at {offset}+{len}"
            );
            assert_eq!(
                (&bytes.as_slice()).read_range(offset, len).unwrap(),
                whole.as_bytes(),
                "&slice at {offset}+{len}"
            );
            assert_eq!(
                prefix.read_range(offset, len).unwrap(),
                first_six.as_bytes(),
                "prefix at {offset}+{len}"
            );
        }
    }
}
