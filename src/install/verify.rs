//! Proving what is installed: each binary's digest and `--version`, rust-lld's sysroot, and
//! `check`'s comparison of every installed file with its receipt and its archive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Home, InstallError};
use crate::child::ChildError;
use crate::digest::Sha256;
use crate::lock::LockedTool;

/// How an installed tool differs from what the lock pins, each with what mends it.
#[derive(Debug, thiserror::Error)]
pub enum Drift {
    #[error("{label}: {}/{link} points at {}, which is gone: run `buildkit setup`", .dir.display(), .target.display())]
    LinkGone {
        label: String,
        dir: PathBuf,
        link: String,
        target: PathBuf,
    },
    #[error("{label}: {}/{link} is missing: run `buildkit setup`", .dir.display())]
    LinkMissing {
        label: String,
        dir: PathBuf,
        link: String,
    },
    #[error("{label}: {}/{link} does not point at it: run `buildkit setup`", .dir.display())]
    LinkElsewhere {
        label: String,
        dir: PathBuf,
        link: String,
    },
    #[error("{label} is not installed: run `buildkit setup`")]
    NotInstalled { label: String },
    #[error(
        "{label} is installed from sha256 {installed}, but buildkit.lock pins {pinned}: run `buildkit setup`"
    )]
    OtherArchive {
        label: String,
        installed: Sha256,
        pinned: Sha256,
    },
    /// A binary whose digest is not its receipt's.
    #[error(
        "{label}: {} changed since it was installed (sha256 {actual}, receipt says {receipt}): run `buildkit setup` after removing {}",
        .file.display(),
        .tool_dir.display()
    )]
    Changed {
        label: String,
        file: PathBuf,
        actual: Sha256,
        receipt: Sha256,
        tool_dir: PathBuf,
    },
    /// A binary that matches a rewritten receipt but not the pinned archive.
    #[error(
        "{label}: {} is not the file the pinned archive holds (sha256 {actual}, the archive's {archive}), though its receipt was changed to match: run `buildkit setup` after removing {}",
        .file.display(),
        .tool_dir.display()
    )]
    NotTheArchives {
        label: String,
        file: PathBuf,
        actual: Sha256,
        archive: Sha256,
        tool_dir: PathBuf,
    },
    #[error("{label}: cannot read {}: {source}", .file.display())]
    Unreadable {
        label: String,
        file: PathBuf,
        source: std::io::Error,
    },
}

/// Runs `binary --version` and returns its first line of output.
pub fn version_line(binary: &Path) -> Result<String, ChildError> {
    let output = crate::child::output(
        Command::new(binary)
            .arg("--version")
            .env_remove(crate::env_vars::RUSTC_WRAPPER),
        crate::child::Limits::PROBE.outside_project(),
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(ChildError::Exited {
            program: "--version".into(),
            status: output.status,
            stderr: stderr.lines().next().unwrap_or("").trim().to_string(),
        });
    }
    Ok(stdout
        .lines()
        .chain(stderr.lines())
        .next()
        .unwrap_or("")
        .trim()
        .to_string())
}

/// The digest of each distinct binary of an unpacked tool, for the receipt (and `check`).
/// Fails when the archive lacks one of them.
pub fn hash_binaries(
    tool: &LockedTool,
    root: &Path,
) -> Result<BTreeMap<String, Sha256>, InstallError> {
    let mut digests = BTreeMap::new();
    for path_in_tool in tool.binaries.values() {
        if digests.contains_key(path_in_tool) {
            continue;
        }
        let path = root.join(path_in_tool);
        if !path.is_file() {
            return Err(InstallError::MissingBinary {
                tool: tool.name.to_string(),
                url: tool.archive().map(|a| a.url.clone()).unwrap_or_default(),
                path: path_in_tool.clone(),
                top_dir: tool
                    .archive()
                    .and_then(|a| a.top_dir.clone())
                    .unwrap_or_default(),
            });
        }
        let digest = crate::digest::sha256_file(&path).map_err(|source| InstallError::Read {
            path: path.clone(),
            source,
        })?;
        digests.insert(path_in_tool.clone(), digest);
    }
    Ok(digests)
}

/// Runs each binary once (`--version`) and checks that it reports the locked version: a binary
/// that cannot run on this machine is reported, not left to fail later.
pub fn run_binaries(
    tool: &LockedTool,
    version: &crate::version::Version,
    root: &Path,
    binaries: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<(), InstallError> {
    for path_in_tool in binaries {
        let path = root.join(path_in_tool.as_ref());
        let line = version_line(&path).map_err(|reason| InstallError::DoesNotRun {
            tool: tool.name.to_string(),
            path: path.clone(),
            reason,
        })?;
        if !version.is_said_by(&line) {
            return Err(InstallError::WrongVersion {
                tool: tool.name.to_string(),
                path,
                said: line,
                expected: version.to_string(),
            });
        }
    }
    Ok(())
}

/// The sysroot of the active Rust toolchain, which holds rust-lld.
pub fn rust_sysroot(rustc: &std::ffi::OsStr) -> Result<PathBuf, InstallError> {
    let rustc = rustc.to_string_lossy().into_owned();
    let output = crate::child::output(
        Command::new(&rustc).args(["--print", "sysroot"]),
        crate::child::Limits::PROBE,
    )
    .map_err(|e| InstallError::NoSysroot {
        rustc: rustc.clone(),
        reason: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(InstallError::NoSysroot {
            rustc,
            reason: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Each locked tool is installed as its receipt says, its binaries hash as they did at install
/// time, and the lock's own bin directory selects it.
pub fn verify_tools(
    home: &Home,
    lock: &crate::lock::Lockfile,
    cache_dir: Option<&Path>,
) -> Vec<Drift> {
    let mut problems = Vec::new();
    let dir = home.lock_bin_dir(&lock.id());
    let links = home.links(&dir);
    for tool in &lock.tools {
        let checked = check_tool(home, tool, &dir, &links).and_then(|()| {
            cache_dir.map_or(Ok(()), |cache| check_against_archive(home, tool, cache))
        });
        if let Err(problem) = checked {
            problems.push(problem);
        }
    }
    problems
}

/// Archives past this size are not re-read by `check` (LLVM's release is 1.9 GB).
const MAX_REDERIVED_ARCHIVE: u64 = 256 * 1024 * 1024;

/// Each installed binary against the file the pinned archive holds, where the archive is still
/// in the download cache: the receipt's digests could have been rewritten together with a
/// binary, but the archive is named by the digest the committed lock pins, and is hashed here
/// before it is trusted. Without the archive (or past [`MAX_REDERIVED_ARCHIVE`]) the receipt's
/// digests are all there is.
fn check_against_archive(home: &Home, tool: &LockedTool, cache_dir: &Path) -> Result<(), Drift> {
    let Some(archive) = tool.archive() else {
        return Ok(());
    };
    let path = cache_dir.join(crate::fetch::cache_file_name(
        &archive.sha256,
        archive.format,
    ));
    let Ok(file) = crate::fsutil::open_regular(&path) else {
        return Ok(());
    };
    if file
        .metadata()
        .map_or(true, |m| m.len() > MAX_REDERIVED_ARCHIVE)
    {
        return Ok(());
    }
    let hashed = crate::digest::HashingReader::new(std::io::BufReader::new(&file)).finish();
    if !hashed.is_ok_and(|(digest, _)| digest == archive.sha256) {
        // Not the pinned archive (a damaged cache file): setup replaces it; nothing to compare.
        return Ok(());
    }
    let Ok(file) = crate::fsutil::open_regular(&path) else {
        return Ok(());
    };
    let wanted: std::collections::BTreeSet<String> = tool.binaries.values().cloned().collect();
    let Ok(pinned) = crate::extract::digests_of(
        std::io::BufReader::new(file),
        archive.format,
        archive.top_dir.as_deref(),
        &wanted,
    ) else {
        return Ok(());
    };
    let tool_dir = home.tool_dir(tool.name.name(), &archive.version);
    for (rel, expected) in pinned {
        let installed = tool_dir.join(&rel);
        match crate::digest::sha256_file(&installed) {
            Ok(actual) if actual == expected => {}
            Ok(actual) => {
                return Err(Drift::NotTheArchives {
                    label: tool.label(),
                    file: installed,
                    actual,
                    archive: expected,
                    tool_dir,
                });
            }
            Err(source) => {
                return Err(Drift::Unreadable {
                    label: tool.label(),
                    file: installed,
                    source,
                });
            }
        }
    }
    Ok(())
}

fn check_tool(
    home: &Home,
    tool: &LockedTool,
    dir: &std::path::Path,
    links: &std::collections::BTreeMap<String, std::path::PathBuf>,
) -> Result<(), Drift> {
    let label = tool.label();
    let Some(archive) = tool.archive() else {
        for link in tool.binaries.keys() {
            match links.get(link) {
                Some(target) if target.is_file() => {}
                Some(target) => {
                    return Err(Drift::LinkGone {
                        label,
                        dir: dir.to_path_buf(),
                        link: link.clone(),
                        target: target.clone(),
                    });
                }
                None => {
                    return Err(Drift::LinkMissing {
                        label,
                        dir: dir.to_path_buf(),
                        link: link.clone(),
                    });
                }
            }
        }
        return Ok(());
    };
    let Some(receipt) = home.read_receipt(tool.name.name(), &archive.version) else {
        return Err(Drift::NotInstalled { label });
    };
    if receipt.sha256 != archive.sha256 {
        return Err(Drift::OtherArchive {
            label,
            installed: receipt.sha256,
            pinned: archive.sha256.clone(),
        });
    }
    let tool_dir = home.tool_dir(tool.name.name(), &archive.version);
    for (path, digest) in &receipt.binaries {
        let file = tool_dir.join(path);
        match crate::digest::sha256_file(&file) {
            Ok(actual) if &actual == digest => {}
            Ok(actual) => {
                return Err(Drift::Changed {
                    label,
                    file,
                    actual,
                    receipt: digest.clone(),
                    tool_dir,
                });
            }
            Err(source) => {
                return Err(Drift::Unreadable {
                    label,
                    file,
                    source,
                });
            }
        }
    }
    for (link, path) in &tool.binaries {
        let expected =
            home.root()
                .join(Home::link_target(tool.name.name(), &archive.version, path));
        match links.get(link) {
            Some(target) if target == &expected => {}
            _ => {
                return Err(Drift::LinkElsewhere {
                    label,
                    dir: dir.to_path_buf(),
                    link: link.clone(),
                });
            }
        }
    }
    Ok(())
}
