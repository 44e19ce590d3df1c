//! The project a command runs in: its buildkit.toml, found upwards from the working
//! directory and read from disk (the manifest's own parsing is pure, in `manifest`), where its
//! lock lives, and how the Rust that runs there stands against the pin.

use std::path::{Path, PathBuf};

use super::Context;
use crate::Error;
use crate::lock::{LockError, Lockfile};
use crate::manifest::{self, MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest, ManifestError, NotAFile};
use crate::registry::Registry;

/// A buildkit.toml read from a file, and where its lock lives. (The embedded default set that
/// `setup` installs where there is none is not a project: it has no root and no lock file.)
pub struct Project {
    pub manifest: Manifest,
    pub(super) root: PathBuf,
    pub lock_path: PathBuf,
}

impl Project {
    /// buildkit.toml's path and text, as on disk (for edits in place, comments and all).
    pub fn manifest_text(&self) -> Result<(PathBuf, String), Error> {
        let path = self
            .manifest
            .path
            .clone()
            .unwrap_or_else(|| self.root.join(manifest::MANIFEST_FILE));
        let text = crate::fsutil::read_text_named(&path, manifest::MAX_MANIFEST_BYTES)?;
        Ok((path, text))
    }

    /// Writes an edited buildkit.toml (validated like any other) and the lock it resolves
    /// to: both, or neither.
    pub fn write_edited(&self, ctx: &Context, path: &Path, new_text: String) -> Result<(), Error> {
        let manifest = Manifest::parse(&new_text, path, &ctx.registry, crate::machine::today())?;
        let lock = Lockfile::resolve(&manifest, &ctx.registry);
        let mut files = crate::fsutil::FileSet::default();
        files.write(path.to_path_buf(), new_text, false);
        files.write(self.lock_path.clone(), lock.to_toml(), false);
        files.commit().map_err(|(path, source)| Error::File {
            action: "write",
            path,
            source,
        })
    }

    /// The directory holding buildkit.toml.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Rust the project pins against the rustc that runs here (rustup honours
    /// rust-toolchain.toml in the project, so this is what `cargo build` would use).
    /// How it stands against the pin: `None` when it matches (or nothing is
    /// pinned); overridden when it differs because RUSTUP_TOOLCHAIN chose another (a CI matrix
    /// job building with beta or its MSRV), which is the job's choice, not drift.
    pub fn rust_check(&self, env: &crate::env_vars::BuildEnv) -> Option<RustCheck> {
        let pinned = self.manifest.rust?;
        let root = self.root();
        let overridden = env
            .var(crate::env_vars::RUSTUP_TOOLCHAIN)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().into_owned());
        match crate::machine::active_rustc(root, &env.rustc) {
            Ok(active) if pinned.is_satisfied_by(&active.release) => None,
            Ok(active) => Some(match overridden {
                Some(toolchain) => RustCheck::Overridden(format!(
                    "RUSTUP_TOOLCHAIN={toolchain} chooses rustc {}, not toolchain.rust = \"{pinned}\" (a CI matrix job's choice; elsewhere unset it)",
                    active.release
                )),
                None => RustCheck::Differs(format!(
                    "rustc {} is active in {}, but buildkit.toml pins toolchain.rust = \"{pinned}\": run `rustup toolchain install {pinned}` (rust-toolchain.toml selects it)",
                    active.release,
                    root.display()
                )),
            }),
            Err(e) => Some(RustCheck::Differs(format!(
                "cannot run rustc in {} to compare with toolchain.rust = \"{pinned}\": {e}",
                root.display()
            ))),
        }
    }
}

/// Reads and validates the manifest at `path`, as of today.
pub fn load_manifest(path: &Path, registry: &Registry) -> Result<Manifest, ManifestError> {
    let text = crate::fsutil::read_text(path, MAX_MANIFEST_BYTES).map_err(|source| {
        ManifestError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Manifest::parse(&text, path, registry, crate::machine::today())
}

/// The nearest buildkit.toml in `start` or its parents, as cargo finds Cargo.toml: the first
/// name that exists at all, so that a directory, a FIFO or a dangling link of that name is
/// reported (by [`check_regular_file`]) rather than skipped.
pub fn discover(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(MANIFEST_FILE))
        .find(|candidate| candidate.symlink_metadata().is_ok())
}

/// A manifest must be a regular file (through links): never read a FIFO (it would block) or
/// a device, never mistake a directory for "no manifest".
pub fn check_regular_file(path: &Path) -> Result<(), ManifestError> {
    let not_a_file = |kind| ManifestError::NotAFile {
        path: path.to_path_buf(),
        kind,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) if meta.is_dir() => Err(not_a_file(NotAFile::Directory)),
        Ok(_) => Err(not_a_file(NotAFile::Special)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_a_file(NotAFile::Dangling)),
        Err(source) => Err(ManifestError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The active rustc against the pinned Rust, when they differ.
pub enum RustCheck {
    /// Drift: `check` and `doctor` fail.
    Differs(String),
    /// RUSTUP_TOOLCHAIN chose another Rust on purpose: said, not failed.
    Overridden(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    Missing,
    Stale,
    Fresh,
}

/// Reads the lock at `path`; `Ok(None)` when there is none.
pub fn read_lock(path: &Path) -> Result<Option<Lockfile>, LockError> {
    read_lock_text(path)?
        .map(|text| Lockfile::parse(&text, path))
        .transpose()
}

/// The lock file's text as it is on disk, or `None` when there is none.
pub fn read_lock_text(path: &Path) -> Result<Option<String>, LockError> {
    match crate::fsutil::read_text(path, crate::fsutil::MAX_TEXT_BYTES) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LockError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `lock` atomically (temp file + rename), so a reader never sees half a lock.
pub fn write_lock(lock: &Lockfile, path: &Path) -> Result<(), LockError> {
    crate::fsutil::write_atomically(path, lock.to_toml().as_bytes()).map_err(|source| {
        LockError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_walks_up() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(discover(&nested), None);
        std::fs::write(dir.path().join(MANIFEST_FILE), "").unwrap();
        assert_eq!(discover(&nested), Some(dir.path().join(MANIFEST_FILE)));
    }
}
