//! sha256, the only trust buildkit has in what it downloads: hashing while bytes stream past,
//! hashing a file, and telling a digest from anything else. Used by fetch, setup, check and
//! the fingerprint, so it belongs to none of them.

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Reads whatever is left (so the digest covers the whole stream) and returns it, lowercase.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((hex(&self.hasher.finalize()), self.bytes))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let file = crate::fsutil::open_regular(path)?;
    let (digest, _) = HashingReader::new(io::BufReader::with_capacity(1 << 16, file)).finish()?;
    Ok(digest)
}

/// Whether `digest` is 64 hexadecimal digits.
pub fn is_sha256_hex(digest: &str) -> bool {
    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
}
