//! The toolchain directory (BUILDKIT_HOME): unpacked tools, receipts, and the `bin/` links.
//!
//! Every change is a rename: a tool is unpacked and checked in a temporary directory beside
//! `tools/`, renamed into `tools/<name>/<version>/`, and only then are the `bin/` links switched,
//! each by renaming a fresh link over the old one. A kill at any point leaves the previous state.

mod home;
pub mod pipeline;
mod verify;

pub use home::Home;
use home::is_read_only_error;
pub use verify::{hash_binaries, run_binaries, rust_sysroot, verify_tools, version_line};

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const RECEIPT_FILE: &str = "buildkit-receipt.toml";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is {what}, where buildkit keeps a directory of its own; buildkit never acts through a link out of BUILDKIT_HOME: remove it (buildkit setup recreates what is needed)"
    )]
    NotOwnDirectory { path: PathBuf, what: &'static str },
    #[error(
        "{path} is not writable ({source}): installing needs a home this user can write; point BUILDKIT_HOME at one"
    )]
    NotWritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("BUILDKIT_HOME {path} is a file, not a directory: point BUILDKIT_HOME at a directory")]
    HomeIsAFile { path: PathBuf },
    #[error("could not lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{tool}: the archive from {url} has no `{path}`; check the url or the archive's layout (expected top directory `{top_dir}`)"
    )]
    MissingBinary {
        tool: String,
        url: String,
        path: String,
        top_dir: String,
    },
    #[error("{tool}: {path} does not run on this machine ({reason}); nothing was installed")]
    DoesNotRun {
        tool: String,
        path: PathBuf,
        reason: crate::child::ChildError,
    },
    #[error(
        "{tool}: {path} says `{said}`, not version {expected} as buildkit.lock pins; nothing was installed"
    )]
    WrongVersion {
        tool: String,
        path: PathBuf,
        said: String,
        expected: String,
    },
    #[error(
        "lld: cannot find rust-lld: `{rustc} --print sysroot` failed ({reason}); install Rust with rustup, or use [tools.lld] source = \"llvm\""
    )]
    NoSysroot { rustc: String, reason: String },
    #[error("{0} comes from the Rust toolchain: there is no archive to install")]
    NoArchive(crate::tool::Tool),
    #[error(
        "lld: {path} does not exist (rust-lld ships in the toolchain's rustc component): reinstall the toolchain with rustup, or use [tools.lld] source = \"llvm\""
    )]
    NoRustLld { path: PathBuf },
}

/// What an install recorded: enough to tell later whether it still matches the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub name: String,
    pub version: String,
    pub url: String,
    pub sha256: crate::digest::Sha256,
    pub installed_at: String,
    pub installed_by: String,
    /// Path inside the tool directory -> sha256 of the file, for `check`.
    pub binaries: BTreeMap<String, crate::digest::Sha256>,
}

impl InstallError {
    /// The home cannot be written at all (a read-only mount, another user's install): fine for
    /// commands that have nothing to change.
    pub fn is_read_only(&self) -> bool {
        let source = match self {
            InstallError::Lock { source, .. }
            | InstallError::Write { source, .. }
            | InstallError::NotWritable { source, .. } => source,
            _ => return false,
        };
        is_read_only_error(source)
    }
}

/// The file in the download cache that lists the homes using it (one absolute path a line), so
/// that gc in one home keeps what another home's projects pin.
const CACHE_USERS_FILE: &str = "buildkit-homes";

/// The homes that recorded themselves as users of `cache_dir`.
pub fn cache_users(cache_dir: &Path) -> Vec<PathBuf> {
    crate::fsutil::read_path_list(&cache_dir.join(CACHE_USERS_FILE))
}

/// Records `home` as a user of `cache_dir` (once): an append of one line, which concurrent
/// setups of other homes cannot interleave.
pub fn record_cache_user(cache_dir: &Path, home: &Path) -> Result<(), InstallError> {
    use std::io::Write as _;
    if cache_users(cache_dir).iter().any(|h| h == home) {
        return Ok(());
    }
    let path = cache_dir.join(CACHE_USERS_FILE);
    let line = match home.to_str() {
        Some(text) if !text.contains('\n') => format!("{text}\n"),
        // A home whose name cannot be a line is not recorded; gc in another home then
        // cannot see its pins, as before.
        _ => return Ok(()),
    };
    std::fs::create_dir_all(cache_dir)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
        })
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(|source| InstallError::Write { path, source })
}

#[cfg(test)]
mod tests;
