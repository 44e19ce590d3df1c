//! The install pipeline, one tool at a time: stage (download or find in the cache, verify,
//! unpack from the verified handle, hash the binaries), then commit (run the binaries, write
//! the receipt, move the tree into `tools/`), or link rust-lld from the toolchain. `setup`
//! runs the stages (the first in parallel) and switches the links once all succeeded.

use std::io::{BufReader, Seek as _};
use std::path::PathBuf;

use serde::Serialize;

use super::{Home, InstallError, RECEIPT_FILE, Receipt};
use crate::Error;
use crate::digest::HashingReader;
use crate::extract::{self, UnpackOptions};
use crate::fetch::{Artifact, FetchError, Fetcher};
use crate::lock::{Archive, LockedTool};
use crate::reporter::Reporter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Status {
    Installed,
    AlreadyInstalled,
    LinkedFromToolchain,
}

#[derive(Debug, Serialize)]
pub(crate) struct ToolOutcome {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<crate::digest::Sha256>,
    #[serde(serialize_with = "crate::output::lossy_path")]
    pub(crate) path: PathBuf,
    /// Where each bin/ link points.
    #[serde(skip)]
    pub(crate) links: Vec<(String, PathBuf)>,
}

/// lld from the Rust toolchain: nothing to download; `bin/ld.lld` points at rust-lld, which acts
/// as the ELF linker when called by that name.
pub(crate) fn link_rust_lld(
    tool: &LockedTool,
    rustc: &std::ffi::OsStr,
) -> Result<ToolOutcome, Error> {
    let sysroot = super::rust_sysroot(rustc)?;
    let mut links = Vec::new();
    for (link, in_sysroot) in &tool.binaries {
        let target = sysroot.join(in_sysroot);
        if !target.is_file() {
            return Err(InstallError::NoRustLld { path: target }.into());
        }
        // Prove it runs under the name it will be called by, before anything is switched.
        let probe = tempfile::tempdir().map_err(|source| InstallError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let probe_link = probe.path().join(link);
        std::os::unix::fs::symlink(&target, &probe_link).map_err(|source| InstallError::Write {
            path: probe_link.clone(),
            source,
        })?;
        let line = super::version_line(&probe_link).map_err(|reason| InstallError::DoesNotRun {
            tool: tool.name.to_string(),
            path: target.clone(),
            reason,
        })?;
        if !line.starts_with("LLD") {
            return Err(InstallError::WrongVersion {
                tool: tool.name.to_string(),
                path: target,
                said: line,
                expected: "LLD".into(),
            }
            .into());
        }
        links.push((link.clone(), target));
    }
    Ok(ToolOutcome {
        name: tool.name.to_string(),
        version: crate::lock::TOOLCHAIN_VERSION.to_string(),
        status: Status::LinkedFromToolchain,
        sha256: None,
        path: sysroot,
        links,
    })
}

pub(crate) fn archive_outcome(
    home: &Home,
    tool: &LockedTool,
    archive: &Archive,
    status: Status,
) -> ToolOutcome {
    let links = tool
        .binaries
        .iter()
        .map(|(link, path)| {
            (
                link.clone(),
                Home::link_target(tool.name.name(), &archive.version, path),
            )
        })
        .collect();
    ToolOutcome {
        name: tool.name.to_string(),
        version: archive.version.to_string(),
        status,
        sha256: Some(archive.sha256.clone()),
        path: home.tool_dir(tool.name.name(), &archive.version),
        links,
    }
}

/// The archive a tool comes from (setup stages only archive tools).
fn archive_of(tool: &LockedTool) -> Result<&Archive, Error> {
    tool.archive()
        .ok_or_else(|| InstallError::NoArchive(tool.name).into())
}

/// Downloads (or takes from the cache) and unpacks a tool into a fresh staging directory,
/// verified against its pinned digest.
pub(crate) fn stage_archive(
    home: &Home,
    fetcher: &Fetcher,
    tool: &LockedTool,
    reporter: &dyn Reporter,
) -> Result<Staged, Error> {
    let archive = archive_of(tool)?;
    let (url, sha256) = (&archive.url, &archive.sha256);
    let label = tool.label();
    let artifact = Artifact {
        label: &label,
        url,
        sha256,
        size: archive.size,
        format: archive.format,
    };
    let staging = home.staging_dir()?;
    let unpack_options = UnpackOptions {
        archive: url,
        format: archive.format,
        top_dir: archive.top_dir.as_deref(),
        keep: &archive.keep,
        max_bytes: extract::MAX_UNPACKED_BYTES,
    };
    // Every archive, LLVM's too, is verified in full before a byte of it is unpacked, and
    // unpacked from the very handle that was verified (see `CachedArchive::file`).
    let cached = fetcher.fetch_to_cache(&artifact, reporter)?;
    let mut file = cached.file;
    if !cached.verified_now {
        // Found in the cache (perhaps copied from another machine, perhaps planted): hash it.
        let read_err = |source| InstallError::Read {
            path: cached.path.clone(),
            source,
        };
        let (actual, _) = HashingReader::new(BufReader::with_capacity(1 << 18, &mut file))
            .finish()
            .map_err(read_err)?;
        if actual != *sha256 {
            let _ = fs_err::remove_file(&cached.path);
            return Err(FetchError::ChecksumMismatch {
                url: format!(
                    "{} (cached copy of {url}, now removed)",
                    cached.path.display()
                )
                .into(),
                expected: sha256.clone(),
                actual,
            }
            .into());
        }
        file.rewind().map_err(read_err)?;
    }
    extract::unpack(
        BufReader::with_capacity(1 << 18, file),
        staging.path(),
        &unpack_options,
    )?;

    // Hashing reads, it does not run: it belongs to this parallel phase.
    let digests = super::hash_binaries(tool, staging.path())?;
    Ok(Staged {
        dir: staging,
        digests,
    })
}

/// A tool unpacked and verified in its staging directory, waiting to be run and committed.
pub(crate) struct Staged {
    dir: tempfile::TempDir,
    /// Path inside the tool -> sha256, for the receipt.
    digests: std::collections::BTreeMap<String, crate::digest::Sha256>,
}

/// Runs the staged binaries, writes the receipt, and moves the tree into `tools/`.
pub(crate) fn commit_archive(
    home: &Home,
    tool: &LockedTool,
    staged: Staged,
) -> Result<ToolOutcome, Error> {
    let archive = archive_of(tool)?;
    let (url, sha256) = (&archive.url, &archive.sha256);
    let Staged {
        dir: staging,
        digests,
    } = staged;
    super::run_binaries(tool, &archive.version, staging.path(), digests.keys())?;
    let receipt = Receipt {
        name: tool.name.to_string(),
        version: archive.version.to_string(),
        url: url.clone(),
        sha256: sha256.clone(),
        installed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        installed_by: concat!("buildkit ", env!("CARGO_PKG_VERSION")).to_string(),
        binaries: digests,
    };
    let receipt_path = staging.path().join(RECEIPT_FILE);
    crate::fsutil::write_atomically(
        &receipt_path,
        toml::to_string(&receipt)
            .expect("receipt serializes")
            .as_bytes(),
    )
    .map_err(|source| InstallError::Write {
        path: receipt_path,
        source,
    })?;
    home.commit(staging, tool.name.name(), &archive.version)?;
    Ok(archive_outcome(home, tool, archive, Status::Installed))
}
