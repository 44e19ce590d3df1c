//! Getting archives onto disk, verified: HTTP(S) or file URLs, mirrors, retries, offline mode.
//!
//! Bytes are hashed as they stream into `<sha256>.partial` and the file is renamed to its final
//! name only once the digest matches, so nothing unverified is ever visible in the cache.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::digest::HashingReader;
use crate::registry::ArchiveFormat;

use crate::reporter::Reporter;

mod body;
mod cache_files;
mod client;
mod url;

#[cfg(test)]
use body::MIN_PROGRESS_BYTES;
use body::{Pace, SizeLimit, copy_bounded};
pub use cache_files::{CacheFile, cache_file_name, lock_file_name, parse_cache_file_name};
use cache_files::{DownloadLock, open_cached, remove_killed_partials};
pub use client::ClientError;
use client::{backoff, build_client};
#[cfg(test)]
use url::redact_url;
pub use url::{DOWNLOAD_SCHEMES, Url, apply_mirror, credentials_end, is_download_url};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("download of {} failed: HTTP {status}{hint}", .url)]
    Status {
        url: Url,
        status: u16,
        hint: &'static str,
    },
    #[error("download of {} failed: {message}", .url)]
    Transport { url: Url, message: String },
    #[error(
        "checksum mismatch for {}: expected sha256 {expected}, got {actual}; nothing was installed (the pinned digest is the only trust: check the url and the pin)",
        .url
    )]
    ChecksumMismatch {
        url: Url,
        expected: crate::digest::Sha256,
        actual: crate::digest::Sha256,
    },
    #[error(
        "download of {} failed: {message} (the server's certificate is not trusted here: add your CA to the bundle SSL_CERT_FILE names)",
        .url
    )]
    Untrusted { url: Url, message: String },
    #[error("download of {} is cut short: got {got} of {expected} bytes", .url)]
    Truncated { url: Url, got: u64, expected: u64 },
    #[error(
        "offline: {} (sha256 {sha256}) is not in the download cache {cache_dir}; run `buildkit setup` once with network access, or copy the archive there",
        .url
    )]
    NotCached {
        url: Url,
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
    Client(std::sync::Arc<ClientError>),
    #[error(
        "no data from {} for {secs} s; the server or the network stalled (try again, or use --mirror)",
        .url
    )]
    Stalled { url: Url, secs: u64 },
    #[error(
        "{} did not finish within {secs} s (buildkit's deadline for the whole body, from BUILDKIT_STALL_SECONDS); the server or the network is too slow (try again, or use --mirror)",
        .url
    )]
    Deadline { url: Url, secs: u64 },
    #[error(
        "download of {} stopped: it is larger than {limit} bytes ({why}); nothing was installed",
        .url
    )]
    TooLarge {
        url: Url,
        limit: u64,
        why: &'static str,
    },
    #[error("download of {} failed: {message}", .url)]
    Redirect { url: Url, message: String },
    #[error("{} is not a URL buildkit can fetch: {message}", .url)]
    BadUrl { url: Url, message: String },
    #[error("{path} is not a regular file; a file:// url must name the archive itself")]
    NotAFile { path: PathBuf },
}

impl FetchError {
    /// Errors worth another attempt: the network, the server's 5xx. Never a 4xx or a mismatch.
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            FetchError::Transport { .. }
            | FetchError::Truncated { .. }
            | FetchError::Stalled { .. }
            | FetchError::Deadline { .. } => true,
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
    /// How long a transfer may go without progress (at least [`MIN_PROGRESS_BYTES`]) before
    /// it fails: catches a server that stalls and one that drips a byte at a time.
    pub stall: Duration,
    /// A PEM bundle trusted beside the system's roots (SSL_CERT_FILE).
    pub extra_roots: Option<PathBuf>,
}

pub struct Fetcher {
    options: FetchOptions,
    /// Built on first use: a no-op `setup` never pays for TLS roots or a runtime thread.
    client: OnceLock<Result<reqwest::blocking::Client, std::sync::Arc<ClientError>>>,
}

/// An archive in the download cache, open.
pub struct CachedArchive {
    pub path: PathBuf,
    /// Positioned at the start. Unpack from this handle, never by opening `path` again: another
    /// process sharing the cache may replace the path in between, and what is unpacked must be
    /// the bytes that were verified.
    pub file: std::fs::File,
    /// Downloaded and hashed by this call; otherwise it was already there (perhaps copied from
    /// another machine, perhaps planted) and must be hashed, through `file`, before use.
    pub verified_now: bool,
}

/// What an API request answered.
pub struct ApiResponse {
    pub status: u16,
    /// Header names in lowercase; values that are not text are left out.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Tries per download where nothing says otherwise (`setup --download-attempts`).
pub const DEFAULT_ATTEMPTS: u32 = 4;
/// Seconds a download may go without progress where nothing says otherwise.
pub const DEFAULT_STALL_SECONDS: u64 = 30;

/// The most buildkit downloads for one archive whose size the lock does not give (LLVM's full
/// release, the largest, is 1.9 GB).
pub const MAX_DOWNLOAD_BYTES: u64 = 4 << 30;

/// What a single download should produce.
pub struct Artifact<'a> {
    pub label: &'a str,
    pub url: &'a str,
    pub sha256: &'a crate::digest::Sha256,
    pub size: Option<u64>,
    pub format: ArchiveFormat,
}

impl Fetcher {
    pub fn new(options: FetchOptions) -> Fetcher {
        Fetcher {
            options,
            client: OnceLock::new(),
        }
    }

    /// Where the verified archive for `sha256` lives in the cache (whether or not it is there).
    fn cached_path(&self, sha256: &str, format: ArchiveFormat) -> PathBuf {
        self.options.cache_dir.join(cache_file_name(sha256, format))
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, FetchError> {
        self.client
            .get_or_init(|| {
                build_client(self.options.stall, self.options.extra_roots.as_deref())
                    .map_err(std::sync::Arc::new)
            })
            .as_ref()
            .map_err(|e| FetchError::Client(e.clone()))
    }

    /// Makes sure the verified archive is in the cache and says where, and whether this call
    /// verified it. Downloads at most once per call; a digest mismatch is never retried.
    pub fn fetch_to_cache(
        &self,
        artifact: &Artifact<'_>,
        reporter: &dyn Reporter,
    ) -> Result<CachedArchive, FetchError> {
        let final_path = self.cached_path(artifact.sha256, artifact.format);
        if let Some(cached) = open_cached(&final_path)? {
            return Ok(cached);
        }
        if self.options.offline {
            return Err(FetchError::NotCached {
                url: artifact.url.into(),
                sha256: artifact.sha256.to_string(),
                cache_dir: self.options.cache_dir.clone(),
            });
        }
        let cache_dir = &self.options.cache_dir;
        std::fs::create_dir_all(cache_dir).map_err(write_err(cache_dir))?;
        let lock = DownloadLock::take(cache_dir, artifact.sha256)?;
        if let Some(cached) = open_cached(&final_path)? {
            return Ok(cached);
        }
        remove_killed_partials(cache_dir, artifact.sha256);

        let mut partial = tempfile::Builder::new()
            .prefix(&format!("{}.", artifact.sha256))
            .suffix(".partial")
            .tempfile_in(cache_dir)
            .map_err(write_err(cache_dir))?;
        let partial_path = partial.path().to_path_buf();
        let url = apply_mirror(artifact.url, self.options.mirror.as_deref());
        let downloaded = self.with_retries(artifact.label, reporter, || {
            self.download_once(
                &url,
                artifact,
                partial.as_file_mut(),
                &partial_path,
                reporter,
            )
        });
        if let Err(err) = downloaded {
            drop(partial);
            lock.release();
            return Err(err);
        }
        let persisted = partial.persist(&final_path);
        lock.release();
        let mut file = persisted.map_err(|e| FetchError::WriteCache {
            path: final_path.clone(),
            source: e.error,
        })?;
        io::Seek::rewind(&mut file).map_err(write_err(&final_path))?;
        Ok(CachedArchive {
            path: final_path,
            file,
            verified_now: true,
        })
    }

    /// One attempt: the body streamed into `file` (emptied first), hashed on the way, then held
    /// against the length the server promised and the pinned digest.
    fn download_once(
        &self,
        url: &str,
        artifact: &Artifact<'_>,
        file: &mut std::fs::File,
        partial: &Path,
        reporter: &dyn Reporter,
    ) -> Result<(), FetchError> {
        let (body, length) = self.open(url)?;
        // The lock's size, when it has one, is what the pinned archive weighs: never more, and
        // never past buildkit's own limit, whatever a manifest or an API claimed.
        let limit = match artifact.size {
            Some(size) if size <= MAX_DOWNLOAD_BYTES => SizeLimit {
                bytes: size,
                why: "the size buildkit.lock records",
            },
            Some(_) => SizeLimit {
                bytes: MAX_DOWNLOAD_BYTES,
                why: "buildkit's limit for one archive, below the size buildkit.lock records",
            },
            None => SizeLimit {
                bytes: MAX_DOWNLOAD_BYTES,
                why: "buildkit's limit for an archive of unknown size",
            },
        };
        if length.is_some_and(|l| l > limit.bytes) {
            return Err(limit.exceeded(url));
        }
        // Each attempt starts from an empty file.
        file.set_len(0).map_err(write_err(partial))?;
        io::Seek::rewind(file).map_err(write_err(partial))?;
        let mut reader = HashingReader::new(body);
        let progress = reporter.start(artifact.label, length.or(artifact.size));
        // Stops past `limit`, on a stall (a silent or dripping server) and at the whole
        // body's deadline (a server that sends just enough never to stall).
        let pace = Pace::download(
            self.options.stall,
            length.or(artifact.size).unwrap_or(limit.bytes),
        );
        let streamed = copy_bounded(url, &mut reader, &limit, &pace, |chunk| {
            file.write_all(chunk).map_err(write_err(partial))?;
            progress.advance(chunk.len() as u64);
            Ok(())
        });
        progress.finish();
        streamed?;
        file.flush().map_err(write_err(partial))?;
        let (actual, got) = reader.finish().map_err(write_err(partial))?;
        if let Some(expected) = length
            && got < expected
        {
            return Err(FetchError::Truncated {
                url: url.into(),
                got,
                expected,
            });
        }
        if actual != *artifact.sha256 {
            return Err(FetchError::ChecksumMismatch {
                url: url.into(),
                expected: artifact.sha256.clone(),
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
            let meta = file.metadata().map_err(|source| FetchError::ReadLocal {
                path: path.clone(),
                source,
            })?;
            // Not a device, a FIFO or a directory: those never end, or are not archives.
            if !meta.is_file() {
                return Err(FetchError::NotAFile { path });
            }
            return Ok((Box::new(file), Some(meta.len())));
        }
        let response = self
            .client()?
            .get(url)
            .send()
            .map_err(|err| self.send_error(url, err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.into(),
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

    /// A request that got no response, classified: a bad URL, a refused redirect, a stall, an
    /// untrusted certificate, or the network.
    fn send_error(&self, url: &str, err: reqwest::Error) -> FetchError {
        if err.is_builder() {
            return FetchError::BadUrl {
                url: url.into(),
                message: error_chain(&err.without_url()),
            };
        }
        if err.is_redirect() {
            return FetchError::Redirect {
                url: url.into(),
                message: error_chain(&err.without_url()),
            };
        }
        if err.is_timeout() {
            return FetchError::Stalled {
                url: url.into(),
                secs: self.options.stall.as_secs(),
            };
        }
        let connect = err.is_connect();
        // The url is in our own message already.
        let untrusted = is_untrusted(&err);
        let message = error_chain(&err.without_url());
        if untrusted {
            FetchError::Untrusted {
                url: url.into(),
                message,
            }
        } else {
            let hint = if connect {
                " (check the network and HTTPS_PROXY, or use --mirror or --offline)"
            } else {
                ""
            };
            FetchError::Transport {
                url: url.into(),
                message: format!("{message}{hint}"),
            }
        }
    }

    /// One GET of an API (JSON) URL with the given headers: the status, the response headers
    /// and at most `limit` bytes of body. Statuses are the caller's to judge.
    pub fn get_api(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        limit: u64,
    ) -> Result<ApiResponse, FetchError> {
        let mut request = self.client()?.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send().map_err(|err| self.send_error(url, err))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        let mut body = Vec::new();
        copy_bounded(
            url,
            &mut response,
            &SizeLimit {
                bytes: limit,
                why: "buildkit's limit for an API response",
            },
            &Pace::api(self.options.stall),
            |chunk| {
                body.extend_from_slice(chunk);
                Ok(())
            },
        )?;
        Ok(ApiResponse {
            status,
            headers,
            body,
        })
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

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + use<> {
    let path = path.to_path_buf();
    move |source| FetchError::WriteCache { path, source }
}

/// Every error in `err`'s chain, the errors an `io::Error` wraps included (its `source()`
/// skips them).
fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut all = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        all.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    all
}

/// Whether the TLS handshake failed on the server's certificate (rustls said so, through
/// hyper's and reqwest's wrapping).
fn is_untrusted(err: &reqwest::Error) -> bool {
    causes(err).iter().any(|e| {
        e.downcast_ref::<rustls::Error>().is_some_and(|tls| {
            matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        })
    })
}

/// Whether an I/O error (through any wrapping) is a read timing out.
fn is_timeout(err: &io::Error) -> bool {
    causes(err).iter().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
            || e.downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout)
    })
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
mod tests;
