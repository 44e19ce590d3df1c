//! Getting archives onto disk, verified: HTTP(S) or file URLs, mirrors, retries, offline mode.
//!
//! Bytes are hashed as they stream into `<sha256>.partial` and the file is renamed to its final
//! name only once the digest matches, so nothing unverified is ever visible in the cache.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::reporter::Reporter;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("download of {url} failed: HTTP {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("download of {url} failed: {message}")]
    Transport { url: String, message: String },
    #[error(
        "checksum mismatch for {url}: expected sha256 {expected}, got {actual}; nothing was installed (the pinned digest is the only trust: check the url and the pin)"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "download of {url} failed: {message} (the server's certificate is not trusted here: add your CA to the bundle SSL_CERT_FILE names)"
    )]
    Untrusted { url: String, message: String },
    #[error("download of {url} is cut short: got {got} of {expected} bytes")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error(
        "offline: {url} (sha256 {sha256}) is not in the download cache {cache_dir}; run `buildkit setup` once with network access, or copy the archive there"
    )]
    NotCached {
        url: String,
        sha256: String,
        cache_dir: PathBuf,
    },
    #[error("could not read {path}: {source}")]
    ReadLocal {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not write {path}: {source}")]
    WriteCache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
}

impl FetchError {
    /// Errors worth another attempt: the network, the server's 5xx. Never a 4xx or a mismatch.
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            FetchError::Transport { .. } | FetchError::Truncated { .. } => true,
            _ => false,
        }
    }
}

/// How downloads are made. Built once per command from flags and environment.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub cache_dir: PathBuf,
    pub mirror: Option<String>,
    pub offline: bool,
    pub attempts: u32,
}

pub struct Fetcher {
    options: FetchOptions,
    /// Built on first use: a no-op `setup` never pays for TLS roots or a runtime thread.
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

/// A verified archive in the download cache.
pub struct CachedArchive {
    pub path: PathBuf,
    /// Downloaded and hashed by this call; otherwise it was already there (perhaps copied from
    /// another machine) and is worth hashing again.
    pub verified_now: bool,
}

/// What a single download should produce.
pub struct Artifact<'a> {
    pub label: &'a str,
    pub url: &'a str,
    pub sha256: &'a str,
    pub size: Option<u64>,
    pub format: &'a str,
}

/// `https://HOST/PATH` through `mirror` becomes `MIRROR/HOST/PATH`; other URLs are kept.
pub fn apply_mirror(url: &str, mirror: Option<&str>) -> String {
    let Some(mirror) = mirror else {
        return url.to_string();
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => format!("{}/{}", mirror.trim_end_matches('/'), rest),
        None => url.to_string(),
    }
}

/// The cache file name of a verified archive: its digest and its format.
pub fn cache_file_name(sha256: &str, format: &str) -> String {
    format!("{sha256}.{format}")
}

/// Where a download in progress is written, beside its final name.
pub fn partial_file_name(sha256: &str) -> String {
    format!("{sha256}.partial")
}

/// A file in the download cache as buildkit names it.
#[derive(Debug, PartialEq, Eq)]
pub enum CacheFile<'a> {
    Verified { sha256: &'a str },
    Partial { sha256: &'a str },
}

/// Reads a cache file name back; `None` for a file buildkit did not name (the cache dir may be
/// shared with other things).
pub fn parse_cache_file_name(name: &str) -> Option<CacheFile<'_>> {
    let (sha256, extension) = name.split_once('.')?;
    if !crate::manifest::is_sha256_hex(sha256) {
        return None;
    }
    match extension {
        "partial" => Some(CacheFile::Partial { sha256 }),
        "tar.gz" | "tar.xz" => Some(CacheFile::Verified { sha256 }),
        _ => None,
    }
}

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
    let file = fs_err::File::open(path)?;
    let (digest, _) = HashingReader::new(io::BufReader::with_capacity(1 << 16, file)).finish()?;
    Ok(digest)
}

impl Fetcher {
    pub fn new(options: FetchOptions) -> Fetcher {
        Fetcher {
            options,
            client: OnceLock::new(),
        }
    }

    /// Where the verified archive for `sha256` lives in the cache (whether or not it is there).
    fn cached_path(&self, sha256: &str, format: &str) -> PathBuf {
        self.options.cache_dir.join(cache_file_name(sha256, format))
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, FetchError> {
        self.client
            .get_or_init(build_client)
            .as_ref()
            .map_err(|message| FetchError::Client(message.clone()))
    }

    /// Makes sure the verified archive is in the cache and says where, and whether this call
    /// verified it. Downloads at most once per call; a digest mismatch is never retried.
    pub fn fetch_to_cache(
        &self,
        artifact: &Artifact<'_>,
        reporter: &dyn Reporter,
    ) -> Result<CachedArchive, FetchError> {
        let final_path = self.cached_path(artifact.sha256, artifact.format);
        let found = |path: PathBuf| CachedArchive {
            path,
            verified_now: false,
        };
        if final_path.is_file() {
            return Ok(found(final_path));
        }
        if self.options.offline {
            return Err(FetchError::NotCached {
                url: artifact.url.to_string(),
                sha256: artifact.sha256.to_string(),
                cache_dir: self.options.cache_dir.clone(),
            });
        }
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FetchError::WriteCache { path, source }
        };
        std::fs::create_dir_all(&self.options.cache_dir)
            .map_err(write_err(&self.options.cache_dir))?;
        let partial = self
            .options
            .cache_dir
            .join(partial_file_name(artifact.sha256));
        // The cache may be shared by several BUILDKIT_HOMEs: whoever holds the lock on the
        // partial file downloads; the others wait and then find the verified archive.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&partial)
            .map_err(write_err(&partial))?;
        file.lock().map_err(write_err(&partial))?;
        if final_path.is_file() {
            return Ok(found(final_path));
        }

        let url = apply_mirror(artifact.url, self.options.mirror.as_deref());
        let downloaded = self.with_retries(artifact.label, reporter, || {
            self.download_once(&url, artifact, &mut file, &partial, reporter)
        });
        if let Err(err) = downloaded {
            let _ = fs_err::remove_file(&partial);
            return Err(err);
        }
        std::fs::rename(&partial, &final_path).map_err(write_err(&final_path))?;
        Ok(CachedArchive {
            path: final_path,
            verified_now: true,
        })
    }

    fn download_once(
        &self,
        url: &str,
        artifact: &Artifact<'_>,
        file: &mut std::fs::File,
        partial: &Path,
        reporter: &dyn Reporter,
    ) -> Result<(), FetchError> {
        let (body, length) = self.open(url)?;
        let expected_len = length.or(artifact.size);
        let progress = reporter.start(artifact.label, expected_len);
        let write_err = |source| FetchError::WriteCache {
            path: partial.to_path_buf(),
            source,
        };
        // Each attempt starts from an empty file.
        file.set_len(0).map_err(write_err)?;
        io::Seek::rewind(file).map_err(write_err)?;
        let mut reader = HashingReader::new(body);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    progress.finish();
                    return Err(FetchError::Transport {
                        url: url.to_string(),
                        message: format!("reading the body: {}", error_chain(&err)),
                    });
                }
            };
            file.write_all(&buf[..n]).map_err(write_err)?;
            progress.advance(n as u64);
        }
        progress.finish();
        file.flush().map_err(write_err)?;
        let (actual, got) = reader.finish().map_err(write_err)?;
        if let Some(expected) = length
            && got < expected
        {
            return Err(FetchError::Truncated {
                url: url.to_string(),
                got,
                expected,
            });
        }
        if actual != artifact.sha256 {
            return Err(FetchError::ChecksumMismatch {
                url: url.to_string(),
                expected: artifact.sha256.to_string(),
                actual,
            });
        }
        Ok(())
    }

    /// Opens `url` for streaming, with the response length where the server gave one.
    pub fn open(&self, url: &str) -> Result<(Box<dyn Read + Send>, Option<u64>), FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            let path = PathBuf::from(path);
            let file = std::fs::File::open(&path).map_err(|source| FetchError::ReadLocal {
                path: path.clone(),
                source,
            })?;
            let len = file.metadata().ok().map(|m| m.len());
            return Ok((Box::new(file), len));
        }
        let response = self.client()?.get(url).send().map_err(|err| {
            let connect = err.is_connect();
            // The url is in our own message already.
            let message = error_chain(&err.without_url());
            if message.contains("certificate") {
                FetchError::Untrusted {
                    url: url.to_string(),
                    message,
                }
            } else {
                let hint = if connect {
                    " (check the network and HTTPS_PROXY, or use --mirror or --offline)"
                } else {
                    ""
                };
                FetchError::Transport {
                    url: url.to_string(),
                    message: format!("{message}{hint}"),
                }
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                hint: match status.as_u16() {
                    404 | 410 => {
                        " (not found: check the version and url in buildkit.toml, or the mirror)"
                    }
                    401 | 403 => {
                        " (access denied: check the url, the mirror, or proxy credentials)"
                    }
                    _ => "",
                },
            });
        }
        let length = response.content_length();
        Ok((Box::new(response), length))
    }

    /// Opens `url` (through the mirror) with the same retry policy as `fetch_to_cache`, for
    /// archives too large to keep: the caller streams it straight into the extractor.
    pub fn open_with_retries(
        &self,
        artifact: &Artifact<'_>,
        reporter: &dyn Reporter,
    ) -> Result<(Box<dyn Read + Send>, Option<u64>), FetchError> {
        if self.options.offline {
            return Err(FetchError::NotCached {
                url: artifact.url.to_string(),
                sha256: artifact.sha256.to_string(),
                cache_dir: self.options.cache_dir.clone(),
            });
        }
        let url = apply_mirror(artifact.url, self.options.mirror.as_deref());
        self.with_retries(artifact.label, reporter, || self.open(&url))
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts are used up, waiting
    /// longer after each transient failure.
    fn with_retries<T>(
        &self,
        label: &str,
        reporter: &dyn Reporter,
        mut attempt: impl FnMut() -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let mut tried = 1;
        loop {
            match attempt() {
                Err(err) if err.is_transient() && tried < self.options.attempts => {
                    reporter.retrying(label, &err.to_string());
                    std::thread::sleep(backoff(tried));
                    tried += 1;
                }
                result => return result,
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.saturating_sub(1).min(5)))
}

/// Where Linux distributions keep the system's trusted roots (the first that exists is used).
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
];

/// The roots HTTPS downloads trust: the system's bundle plus, for corporate proxies and private
/// mirrors, the certificates in SSL_CERT_FILE.
fn trusted_roots() -> Result<Vec<reqwest::Certificate>, String> {
    let mut roots = Vec::new();
    let system = SYSTEM_CA_BUNDLES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file());
    let extra = std::env::var_os(crate::env_vars::SSL_CERT_FILE).map(PathBuf::from);
    for path in system.into_iter().map(Path::to_path_buf).chain(extra) {
        let pem = fs_err::read(&path).map_err(|e| e.to_string())?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not a PEM certificate bundle ({e})", path.display()))?;
        roots.extend(certs);
    }
    Ok(roots)
}

fn build_client() -> Result<reqwest::blocking::Client, String> {
    let mut builder = reqwest::blocking::Client::builder()
        .user_agent(concat!("buildkit/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        // In the blocking client this bounds each read, not the whole transfer.
        .timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::limited(10))
        .tls_built_in_root_certs(false);
    for root in trusted_roots()? {
        builder = builder.add_root_certificate(root);
    }
    builder.build().map_err(|e| error_chain(&e))
}

/// An error and its causes on one line, each said once.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rewrites_host_and_path() {
        assert_eq!(
            apply_mirror(
                "https://github.com/a/b.tar.gz",
                Some("http://127.0.0.1:9/m/")
            ),
            "http://127.0.0.1:9/m/github.com/a/b.tar.gz"
        );
        assert_eq!(
            apply_mirror("https://github.com/a/b.tar.gz", Some("file:///srv/mirror")),
            "file:///srv/mirror/github.com/a/b.tar.gz"
        );
        assert_eq!(
            apply_mirror("file:///x.tar.gz", Some("http://m")),
            "file:///x.tar.gz"
        );
        assert_eq!(apply_mirror("https://h/p", None), "https://h/p");
    }

    #[test]
    fn cache_file_names_read_back() {
        let sha = "ab".repeat(32);
        assert_eq!(
            parse_cache_file_name(&cache_file_name(&sha, "tar.xz")),
            Some(CacheFile::Verified { sha256: &sha })
        );
        assert_eq!(
            parse_cache_file_name(&partial_file_name(&sha)),
            Some(CacheFile::Partial { sha256: &sha })
        );
        assert_eq!(parse_cache_file_name("notes.txt"), None);
        assert_eq!(parse_cache_file_name(&format!("{sha}.zip")), None);
    }

    #[test]
    fn hashing_reader_hashes_everything() {
        let (digest, n) = HashingReader::new(&b"abc"[..]).finish().unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_network_and_server_errors_are_retried() {
        let status = |status| FetchError::Status {
            url: "u".into(),
            status,
            hint: "",
        };
        assert!(status(500).is_transient());
        assert!(status(503).is_transient());
        assert!(!status(404).is_transient());
        assert!(
            !FetchError::ChecksumMismatch {
                url: "u".into(),
                expected: "a".into(),
                actual: "b".into()
            }
            .is_transient()
        );
    }
}
