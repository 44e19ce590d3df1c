//! BUILDKIT_HOME's layout and its changes: `tools/<name>/<version>/` trees committed by rename,
//! the `bin/` and `envs/<lock id>/bin` links switched atomically, receipts, the home's lock,
//! leftovers of killed runs, and the projects `gc` keeps tools for.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::{InstallError, RECEIPT_FILE, Receipt};
use crate::lock::LockedTool;

/// The layout of BUILDKIT_HOME.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: PathBuf) -> Home {
        Home { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tools_dir(&self) -> PathBuf {
        self.root.join("tools")
    }

    pub fn tool_dir(&self, name: &str, version: &str) -> PathBuf {
        self.tools_dir().join(name).join(version)
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// Where `ld.bfd` is wild, beside a bin directory (`envs/<id>/wild-ld`, or `wild-ld` beside
    /// `bin/`): the directory the C driver is given with `-B` to link with wild.
    pub fn wild_ld_dir(bin_dir: &Path) -> PathBuf {
        bin_dir
            .parent()
            .map_or_else(|| PathBuf::from("wild-ld"), |p| p.join("wild-ld"))
    }

    /// `envs/`: one directory per lock, named by the lock's id.
    pub fn envs_dir(&self) -> PathBuf {
        self.root.join("envs")
    }

    /// `run/`: the sockets of the sccache servers.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// The socket of the sccache server of one sccache version, so that a project never talks
    /// to a server another project's sccache started; `None` where the path would not fit in a
    /// socket address (108 bytes), and sccache's default port it is.
    pub fn sccache_socket(&self, version: &str) -> Option<PathBuf> {
        let socket = self.run_dir().join(format!("sccache-{version}.sock"));
        (socket.as_os_str().len() < 100).then_some(socket)
    }

    /// Serializes commands that change BUILDKIT_HOME. Released when the guard drops (or the
    /// process dies: the kernel drops the lock with the file descriptor).
    pub fn lock(&self) -> Result<HomeLock, InstallError> {
        let path = self.root.join(".lock");
        if std::fs::metadata(&self.root).is_ok_and(|m| !m.is_dir()) {
            return Err(InstallError::HomeIsAFile {
                path: self.root.clone(),
            });
        }
        let unwritable = |path: &Path| {
            let path = path.to_path_buf();
            move |source: io::Error| {
                if is_read_only_error(&source) {
                    InstallError::NotWritable { path, source }
                } else {
                    InstallError::Write { path, source }
                }
            }
        };
        std::fs::create_dir_all(&self.root).map_err(unwritable(&self.root))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(unwritable(&path))?;
        file.lock().map_err(|source| InstallError::Lock {
            path: path.clone(),
            source,
        })?;
        self.check_layout()?;
        Ok(HomeLock { _file: file })
    }

    /// Every directory buildkit changes inside the home (`tools/`, each tool and version under
    /// it, `bin/`, `envs/`, each lock's bin directory, `run/`) is a real directory of its own or
    /// absent: never a link (to a directory outside, whose files setup would replace and gc
    /// delete) nor a file. Checked with the home's lock held, before anything is changed.
    pub fn check_layout(&self) -> Result<(), InstallError> {
        let mut dirs = vec![
            self.tools_dir(),
            self.bin_dir(),
            self.envs_dir(),
            self.run_dir(),
            Home::wild_ld_dir(&self.bin_dir()),
        ];
        for (parent, depth) in [(self.tools_dir(), 2), (self.envs_dir(), 2)] {
            let mut level = vec![parent];
            for _ in 0..depth {
                let mut next = Vec::new();
                for dir in &level {
                    if let Ok(entries) = std::fs::read_dir(dir) {
                        for entry in entries.flatten() {
                            let name = entry.file_name();
                            if name.to_string_lossy().starts_with('.') {
                                continue;
                            }
                            next.push(entry.path());
                        }
                    }
                }
                dirs.extend(next.iter().cloned());
                level = next;
            }
        }
        for dir in dirs {
            match std::fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(InstallError::NotOwnDirectory {
                        path: dir,
                        what: "a symbolic link",
                    });
                }
                Ok(meta) if !meta.is_dir() && !dir.starts_with(self.envs_dir()) => {
                    return Err(InstallError::NotOwnDirectory {
                        path: dir,
                        what: "not a directory",
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn read_receipt(&self, name: &str, version: &str) -> Option<Receipt> {
        let path = self.tool_dir(name, version).join(RECEIPT_FILE);
        let text = crate::fsutil::read_text(&path, crate::fsutil::MAX_TEXT_BYTES).ok()?;
        // A receipt with a malformed digest (edited, truncated), or one whose binaries lie
        // outside its tool's directory, is no proof of anything.
        toml::from_str::<Receipt>(&text).ok().filter(|r| {
            r.binaries.keys().all(|p| crate::lock::is_inside_path(p))
                && r.name == name
                && r.version == version
        })
    }

    /// Whether `tool` is installed exactly as locked: the same archive digest (the digest is the
    /// identity; a url moved to another host serves the same bytes). Reads one small file: no
    /// archive is re-hashed.
    pub fn is_installed(&self, tool: &LockedTool) -> bool {
        tool.archive().is_some_and(|archive| {
            self.read_receipt(tool.name.name(), &archive.version)
                .is_some_and(|r| r.sha256 == archive.sha256)
        })
    }

    /// Every installed tool version with its receipt, sorted.
    pub fn installed(&self) -> Vec<Receipt> {
        let mut found = Vec::new();
        let Ok(names) = fs_err::read_dir(self.tools_dir()) else {
            return found;
        };
        for name in names.flatten() {
            let Ok(versions) = fs_err::read_dir(name.path()) else {
                continue;
            };
            for version in versions.flatten() {
                let (Some(n), Some(v)) = (
                    name.file_name().to_str().map(String::from),
                    version.file_name().to_str().map(String::from),
                ) else {
                    continue;
                };
                // `read_receipt` takes only a receipt that names this very directory's tool and
                // version (one naming `../../victim` is no receipt).
                if let Some(receipt) = self.read_receipt(&n, &v) {
                    found.push(receipt);
                }
            }
        }
        found.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        found
    }

    /// A temporary directory on the same filesystem as `tools/`, so the final rename is atomic.
    pub fn staging_dir(&self) -> Result<tempfile::TempDir, InstallError> {
        let tools = self.tools_dir();
        std::fs::create_dir_all(&tools).map_err(|source| InstallError::Write {
            path: tools.clone(),
            source,
        })?;
        tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&tools)
            .map_err(|source| InstallError::Write {
                path: tools,
                source,
            })
    }

    /// Moves a verified, unpacked tree into `tools/<name>/<version>/`, replacing what was there.
    pub fn commit(
        &self,
        staged: tempfile::TempDir,
        name: &str,
        version: &str,
    ) -> Result<PathBuf, InstallError> {
        let target = self.tool_dir(name, version);
        let parent = target.parent().expect("tool dir has a parent");
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| InstallError::Write { path, source }
        };
        std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        let staged = staged.keep();
        if target.exists() {
            // Same name and version, other bytes (a re-pinned url): swap the two trees in one
            // step, so that `target` (and every link into it) is never missing, whatever kills
            // this process; `staged` then holds the old tree, removed after.
            let exchanged = rustix::fs::renameat_with(
                rustix::fs::CWD,
                &staged,
                rustix::fs::CWD,
                &target,
                rustix::fs::RenameFlags::EXCHANGE,
            );
            match exchanged {
                Ok(()) => {
                    let _ = fs_err::remove_dir_all(&staged);
                }
                // A filesystem without RENAME_EXCHANGE: the old two-step, its window narrow.
                Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                    let old = tempfile::Builder::new()
                        .prefix(".replaced-")
                        .tempdir_in(self.tools_dir())
                        .map_err(write_err(&self.tools_dir()))?;
                    let old_path = old.path().join("old");
                    std::fs::rename(&target, &old_path).map_err(write_err(&target))?;
                    let renamed = std::fs::rename(&staged, &target).map_err(write_err(&target));
                    if renamed.is_err() {
                        let _ = fs_err::rename(&old_path, &target);
                    }
                    renamed?;
                }
                Err(errno) => {
                    let _ = fs_err::remove_dir_all(&staged);
                    return Err(write_err(&target)(errno.into()));
                }
            }
        } else if let Err(err) = std::fs::rename(&staged, &target) {
            let _ = fs_err::remove_dir_all(&staged);
            return Err(write_err(&target)(err));
        }
        Ok(target)
    }

    /// Removes what killed runs left: staging and replaced trees in `tools/`, half-made links
    /// in the bin directories. Call with the home lock held: then no live process owns them.
    pub fn clean_leftovers(&self) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        if let Ok(entries) = fs_err::read_dir(self.tools_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if (name.starts_with(".staging-") || name.starts_with(".replaced-"))
                    && fs_err::remove_dir_all(entry.path()).is_ok()
                {
                    removed.push(entry.path());
                }
            }
        }
        for dir in self.all_bin_dirs() {
            if let Ok(entries) = fs_err::read_dir(&dir) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if name.starts_with('.')
                        && name.ends_with(".tmp")
                        && fs_err::remove_file(entry.path()).is_ok()
                    {
                        removed.push(entry.path());
                    }
                }
            }
        }
        removed
    }

    /// The bin directory of one lock (`envs/<lock id>/bin`): the versions that lock pins, so
    /// that each project builds with its own whatever another project installed since.
    /// `buildkit env` puts it on PATH; `bin/` holds the most recent setup's links.
    pub fn lock_bin_dir(&self, lock_id: &str) -> PathBuf {
        self.envs_dir().join(lock_id).join("bin")
    }

    /// `bin/` and every lock's bin directory.
    pub fn all_bin_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.bin_dir()];
        if let Ok(entries) = fs_err::read_dir(self.envs_dir()) {
            let mut envs: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
            envs.sort();
            dirs.extend(envs);
        }
        dirs
    }

    /// Points `<dir>/<link>` at `target` (absolute, or relative to BUILDKIT_HOME), atomically:
    /// a new link renamed over the old one. Links into the home are relative, so that a moved
    /// BUILDKIT_HOME keeps working.
    pub fn switch_link(&self, dir: &Path, link: &str, target: &Path) -> Result<(), InstallError> {
        std::fs::create_dir_all(dir).map_err(|source| InstallError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let target = if target.is_absolute() {
            target.to_path_buf()
        } else {
            let depth = dir
                .strip_prefix(&self.root)
                .map_or(0, |d| d.components().count());
            let mut up = PathBuf::new();
            for _ in 0..depth {
                up.push("..");
            }
            up.join(target)
        };
        let final_path = dir.join(link);
        if fs_err::read_link(&final_path).is_ok_and(|current| current == target) {
            return Ok(());
        }
        let temp = dir.join(format!(".{link}.{}.tmp", std::process::id()));
        let _ = fs_err::remove_file(&temp);
        std::os::unix::fs::symlink(&target, &temp).map_err(|source| InstallError::Write {
            path: temp.clone(),
            source,
        })?;
        std::fs::rename(&temp, &final_path).map_err(|source| {
            let _ = fs_err::remove_file(&temp);
            InstallError::Write {
                path: final_path.clone(),
                source,
            }
        })
    }

    /// A file of an installed tool, relative to BUILDKIT_HOME (what the links point at).
    pub fn link_target(name: &str, version: &str, path_in_tool: &str) -> PathBuf {
        Path::new("tools")
            .join(name)
            .join(version)
            .join(path_in_tool)
    }

    /// Where each link in `dir` points, as an absolute path with `..` resolved lexically (the
    /// target need not exist).
    pub fn links(&self, dir: &Path) -> BTreeMap<String, PathBuf> {
        let mut links = BTreeMap::new();
        if let Ok(entries) = fs_err::read_dir(dir) {
            for entry in entries.flatten() {
                let Some(name) = entry.file_name().to_str().map(String::from) else {
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                if let Ok(target) = fs_err::read_link(entry.path()) {
                    links.insert(name, crate::fsutil::lexical(&dir.join(target)));
                }
            }
        }
        links
    }

    /// The lock files of the projects that ran `setup` with this home (kept by `setup`, read
    /// by `gc`): one absolute path per line.
    fn projects_file(&self) -> PathBuf {
        self.root.join("projects")
    }

    pub fn projects(&self) -> Vec<PathBuf> {
        crate::fsutil::read_path_list(&self.projects_file())
    }

    /// Adds `lock` to the projects that use this home and forgets those whose lock is gone.
    /// Call with the home lock held.
    pub fn record_project(&self, lock: &Path) -> Result<(), InstallError> {
        let known = self.projects();
        let mut projects: Vec<PathBuf> = known.iter().filter(|p| p.is_file()).cloned().collect();
        if !projects.iter().any(|p| p == lock) {
            projects.push(lock.to_path_buf());
        }
        projects.sort();
        // A no-op setup writes nothing.
        if projects == known {
            return Ok(());
        }
        let text: String = projects
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect();
        let path = self.projects_file();
        crate::fsutil::write_atomically(&path, text.as_bytes())
            .map_err(|source| InstallError::Write { path, source })
    }
}

/// Holds the BUILDKIT_HOME lock while alive.
pub struct HomeLock {
    _file: std::fs::File,
}

/// An I/O error that says the place cannot be written at all (permission, a read-only mount).
pub(super) fn is_read_only_error(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::PermissionDenied
        || error.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error())
}
