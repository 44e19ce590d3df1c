//! Every environment variable buildkit reads, named once and documented here.

/// Root of installed tools: `tools/<name>/<version>/`, `bin/`, receipts. Default: the platform
/// data dir (`~/.local/share/buildkit`).
pub const BUILDKIT_HOME: &str = "BUILDKIT_HOME";
/// Downloaded archives, named by sha256. Default: the platform cache dir (`~/.cache/buildkit`).
pub const BUILDKIT_CACHE_DIR: &str = "BUILDKIT_CACHE_DIR";
/// Same as `--mirror`: `https://HOST/PATH` is fetched as `MIRROR/HOST/PATH`.
pub const BUILDKIT_MIRROR: &str = "BUILDKIT_MIRROR";
/// Same as `--offline` when set to `1` or `true`: install from the download cache only.
pub const BUILDKIT_OFFLINE: &str = "BUILDKIT_OFFLINE";
/// How many times a download is tried in all (default 4). Tests lower it.
pub const BUILDKIT_DOWNLOAD_ATTEMPTS: &str = "BUILDKIT_DOWNLOAD_ATTEMPTS";
/// Seconds a download may go without progress before it fails (default 30). Tests lower it.
pub const BUILDKIT_STALL_SECONDS: &str = "BUILDKIT_STALL_SECONDS";
/// Extra PEM roots for HTTPS downloads, trusted in addition to the system's bundle.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// Set by GitHub Actions: the file `setup --ci` appends the bin dir to.
pub const GITHUB_PATH: &str = "GITHUB_PATH";
/// Set by GitHub Actions: the file `setup --ci` appends variables to.
pub const GITHUB_ENV: &str = "GITHUB_ENV";
/// Rust toolchain driver, used to find the sysroot holding rust-lld.
pub const RUSTC: &str = "RUSTC";

/// Whether a boolean-ish variable is set to a true value.
pub fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"))
}
