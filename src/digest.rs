//! sha256, the only trust buildkit has in what it downloads: hashing while bytes stream past,
//! hashing a file, and telling a digest from anything else. Used by fetch, setup, check and
//! the fingerprint, so it belongs to none of them.

use std::io::{self, Read};
use std::path::Path;

use sha2::Digest as _;

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: sha2::Sha256::new(),
            bytes: 0,
        }
    }

    /// Reads whatever is left (so the digest covers the whole stream) and returns its digest
    /// and how many bytes passed.
    pub fn finish(mut self) -> io::Result<(Sha256, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Sha256(hex(&self.hasher.finalize())), self.bytes))
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

/// The sha256 of a file.
pub fn sha256_file(path: &Path) -> io::Result<Sha256> {
    let file = crate::fsutil::open_regular(path)?;
    let (digest, _) = HashingReader::new(io::BufReader::with_capacity(1 << 16, file)).finish()?;
    Ok(digest)
}

/// A sha256 digest: 64 lowercase hexadecimal digits, by construction (parsed from text that
/// may be in either case, and refused otherwise). What a pin, a lock, a receipt and a cache
/// file name hold, so that a malformed digest cannot get past the file it was read from.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256(String);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(hex(&sha2::Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Text that is not 64 hexadecimal digits, kept (escaped when shown) for the message.
#[derive(Debug, thiserror::Error)]
#[error("`{}` is not a sha256 (64 hexadecimal digits)", crate::encode::inert(.0))]
pub struct NotSha256(pub String);

impl std::str::FromStr for Sha256 {
    type Err = NotSha256;

    fn from_str(text: &str) -> Result<Sha256, NotSha256> {
        if is_sha256_hex(text) {
            Ok(Sha256(text.to_ascii_lowercase()))
        } else {
            Err(NotSha256(text.to_string()))
        }
    }
}

impl TryFrom<String> for Sha256 {
    type Error = NotSha256;

    fn try_from(text: String) -> Result<Sha256, NotSha256> {
        text.parse()
    }
}

impl From<Sha256> for String {
    fn from(digest: Sha256) -> String {
        digest.0
    }
}

impl std::ops::Deref for Sha256 {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sets of digests are looked up by the text a file name holds.
impl std::borrow::Borrow<str> for Sha256 {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Sha256 {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// Whether `digest` is 64 hexadecimal digits.
pub fn is_sha256_hex(digest: &str) -> bool {
    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
}
