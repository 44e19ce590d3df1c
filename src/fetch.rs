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
        expected: String,
        actual: String,
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
    Client(String),
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

/// A URL as it appears in an error: its credentials (a mirror's `user:secret@`) are redacted
/// whenever it is displayed, so no message can carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url(String);

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl From<&str> for Url {
    fn from(url: &str) -> Url {
        Url(url.to_string())
    }
}

impl From<String> for Url {
    fn from(url: String) -> Url {
        Url(url)
    }
}

impl From<&String> for Url {
    fn from(url: &String) -> Url {
        Url(url.clone())
    }
}

/// `scheme://user:secret@host/…` -> `scheme://***@host/…`: credentials never reach a message.
fn redact_url(url: &str) -> String {
    match credentials_end(url) {
        Some((scheme, after)) => format!("{scheme}://***@{}", &url[after..]),
        None => url.to_string(),
    }
}

/// Where `user:secret@` ends in `scheme://user:secret@host/…`: the scheme, and the index just
/// past the `@`. `None` when the URL carries no credentials (an `@` in the path is not one).
pub fn credentials_end(url: &str) -> Option<(&str, usize)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((scheme, scheme.len() + 3 + at + 1))
}

/// Bytes a transfer must move per stall window to count as progressing.
const MIN_PROGRESS_BYTES: u64 = 16 * 1024;

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
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
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
    pub sha256: &'a str,
    pub size: Option<u64>,
    pub format: ArchiveFormat,
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
pub fn cache_file_name(sha256: &str, format: ArchiveFormat) -> String {
    format!("{sha256}.{}", format.extension())
}

/// The lock a download of `sha256` holds, shared by every home using the cache.
pub fn lock_file_name(sha256: &str) -> String {
    format!("{sha256}.lock")
}

/// A file in the download cache as buildkit names it.
#[derive(Debug, PartialEq, Eq)]
pub enum CacheFile<'a> {
    Verified {
        sha256: &'a str,
    },
    /// `<sha256>.<random>.partial`: a download in progress, or left by a killed one.
    Partial {
        sha256: &'a str,
    },
    /// `<sha256>.lock`.
    Lock {
        sha256: &'a str,
    },
}

/// Reads a cache file name back; `None` for a file buildkit did not name (the cache dir may be
/// shared with other things).
pub fn parse_cache_file_name(name: &str) -> Option<CacheFile<'_>> {
    let (sha256, extension) = name.split_once('.')?;
    if !crate::digest::is_sha256_hex(sha256) {
        return None;
    }
    match extension {
        "lock" => Some(CacheFile::Lock { sha256 }),
        "tar.gz" | "tar.xz" => Some(CacheFile::Verified { sha256 }),
        other
            if other.ends_with(".partial") && !other.trim_end_matches(".partial").contains('.') =>
        {
            Some(CacheFile::Partial { sha256 })
        }
        _ => None,
    }
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
            .get_or_init(|| build_client(self.options.stall, self.options.extra_roots.as_deref()))
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
        if actual != artifact.sha256 {
            return Err(FetchError::ChecksumMismatch {
                url: url.into(),
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
fn trusted_roots(extra: Option<&Path>) -> Result<Vec<reqwest::Certificate>, String> {
    let mut roots = Vec::new();
    let system = SYSTEM_CA_BUNDLES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file());
    for path in system.into_iter().chain(extra).map(Path::to_path_buf) {
        let pem = crate::fsutil::read_bounded(&path, crate::fsutil::MAX_TEXT_BYTES * 4)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not a PEM certificate bundle ({e})", path.display()))?;
        roots.extend(certs);
    }
    Ok(roots)
}

fn build_client(
    stall: Duration,
    extra_roots: Option<&Path>,
) -> Result<reqwest::blocking::Client, String> {
    let mut builder = reqwest::blocking::Client::builder()
        .user_agent(concat!("buildkit/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        // In the blocking client this bounds each read, not the whole transfer: a server that
        // stops sending fails after the stall window (download_once also catches a drip).
        .timeout(stall)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            // Release URLs redirect to a CDN; never from https down to http, never in a loop.
            let downgrade = attempt.previous().iter().any(|u| u.scheme() == "https")
                && attempt.url().scheme() == "http";
            if downgrade {
                attempt.error("a redirect from https to http was refused")
            } else if attempt.previous().len() >= 10 {
                attempt.error("more than 10 redirects")
            } else {
                attempt.follow()
            }
        }))
        .tls_built_in_root_certs(false);
    for root in trusted_roots(extra_roots)? {
        builder = builder.add_root_certificate(root);
    }
    builder.build().map_err(|e| error_chain(&e))
}

/// How fast a transfer must go: at least MIN_PROGRESS_BYTES per `window`, and all of it
/// before `deadline`.
#[derive(Debug, Clone, Copy)]
struct Pace {
    window: Duration,
    deadline: Duration,
}

/// The average rate below which a download of known size misses its deadline (on top of a
/// few stall windows for the start): far below any working link, far above a drip.
const MIN_AVERAGE_BYTES_PER_SEC: u64 = 64 * 1024;

impl Pace {
    /// An archive of `bytes`: four stall windows, plus its size at MIN_AVERAGE_BYTES_PER_SEC.
    fn download(window: Duration, bytes: u64) -> Pace {
        Pace {
            window,
            deadline: window
                .saturating_mul(4)
                .saturating_add(Duration::from_secs(bytes / MIN_AVERAGE_BYTES_PER_SEC)),
        }
    }

    /// An API response (a page of JSON, a checksum file): two stall windows for all of it.
    fn api(window: Duration) -> Pace {
        Pace {
            window,
            deadline: window.saturating_mul(2),
        }
    }
}

/// Reads `reader` to its end, handing each chunk to `sink`, and fails past `limit`, on a
/// stall (less than MIN_PROGRESS_BYTES in one window) and past the deadline.
fn copy_bounded(
    url: &str,
    reader: &mut impl Read,
    limit: &SizeLimit,
    pace: &Pace,
    mut sink: impl FnMut(&[u8]) -> Result<(), FetchError>,
) -> Result<(), FetchError> {
    let stalled = || FetchError::Stalled {
        url: url.into(),
        secs: pace.window.as_secs(),
    };
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 1 << 16];
    let (mut window_start, mut window_bytes) = (started, 0u64);
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if is_timeout(&err) => return Err(stalled()),
            Err(err) => {
                return Err(FetchError::Transport {
                    url: url.into(),
                    message: format!("reading the body: {}", error_chain(&err)),
                });
            }
        };
        total += n as u64;
        if total > limit.bytes {
            return Err(limit.exceeded(url));
        }
        sink(&buf[..n])?;
        window_bytes += n as u64;
        if window_bytes >= MIN_PROGRESS_BYTES {
            (window_start, window_bytes) = (std::time::Instant::now(), 0);
        } else if window_start.elapsed() > pace.window {
            return Err(stalled());
        }
        if started.elapsed() > pace.deadline {
            return Err(FetchError::Deadline {
                url: url.into(),
                secs: pace.deadline.as_secs(),
            });
        }
    }
}

/// The most bytes one download may bring, and why that many.
struct SizeLimit {
    bytes: u64,
    why: &'static str,
}

impl SizeLimit {
    fn exceeded(&self, url: &str) -> FetchError {
        FetchError::TooLarge {
            url: url.into(),
            limit: self.bytes,
            why: self.why,
        }
    }
}

/// `<sha256>.lock` in the download cache, held. The cache may be shared by several
/// BUILDKIT_HOMEs: whoever holds it downloads; the others wait and then find the verified
/// archive. The lock file never moves, and each download writes its own partial file, so no
/// process ever writes into a file another has verified or is unpacking.
struct DownloadLock {
    path: PathBuf,
    file: std::fs::File,
}

impl DownloadLock {
    fn take(cache_dir: &Path, sha256: &str) -> Result<DownloadLock, FetchError> {
        use std::os::unix::fs::MetadataExt as _;
        let path = cache_dir.join(lock_file_name(sha256));
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)
                .map_err(write_err(&path))?;
            file.lock().map_err(write_err(&path))?;
            // The holder before removed the file on release: a lock on that removed file would
            // be shared with whoever opens the name next. Only the file the name still names
            // counts.
            let held = file.metadata().map_err(write_err(&path))?;
            let named = std::fs::metadata(&path);
            if named.is_ok_and(|m| m.dev() == held.dev() && m.ino() == held.ino()) {
                return Ok(DownloadLock { path, file });
            }
        }
    }

    /// The lock file goes with the download, done or failed: a process still waiting on it
    /// then finds the archive (or downloads into a partial file of its own).
    fn release(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.file);
    }
}

/// The verified archive at `path`, opened, if the cache has it.
fn open_cached(path: &Path) -> Result<Option<CachedArchive>, FetchError> {
    match std::fs::File::open(path) {
        Ok(file) => Ok(Some(CachedArchive {
            path: path.to_path_buf(),
            file,
            verified_now: false,
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FetchError::ReadLocal {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Only the holder of a digest's lock writes partial files of that digest: any found when it
/// is taken were left by a killed run.
fn remove_killed_partials(cache_dir: &Path, sha256: &str) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if matches!(
            parse_cache_file_name(&entry.file_name().to_string_lossy()),
            Some(CacheFile::Partial { sha256: partial }) if partial == sha256
        ) {
            let _ = std::fs::remove_file(entry.path());
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
