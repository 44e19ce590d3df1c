//! Filesystem pieces every module needs and none owns: reading a file that might be a FIFO, a
//! device or huge without hanging or running out of memory; writing a file so that readers see
//! the old or the new content, never a half; and resolving `..` in a path without touching the
//! disk.

use std::io;
use std::path::{Path, PathBuf};

/// The most buildkit reads of a small text file it did not write itself (a lock, a receipt,
/// a config file): far beyond any real one, and a bound on what a hostile one costs.
pub const MAX_TEXT_BYTES: u64 = 8 * 1024 * 1024;

/// Opens `path` for reading only if it is a regular file (through links). The open itself never
/// blocks: a FIFO is opened non-blocking, then refused, as are devices, sockets and directories.
pub fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "is a directory, not a file"
        } else {
            "is not a regular file (a FIFO, socket or device)"
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
    }
    // O_NONBLOCK means nothing to a regular file's reads; clear it all the same.
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(file)
}

/// The lines of a list file buildkit keeps (one path a line), or none when it cannot be read.
pub fn read_path_list(path: &Path) -> Vec<PathBuf> {
    read_text(path, MAX_TEXT_BYTES)
        .map(|text| {
            text.lines()
                .filter(|l| !l.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The bytes of the regular file `path`, refused past `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("is larger than {limit} bytes, more than such a file ever holds"),
        ));
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// [`read_text`] with the path in the error (`fs_err` style), for errors passed on as they are.
pub fn read_text_named(path: &Path, limit: u64) -> io::Result<String> {
    read_text(path, limit)
        .map_err(|e| io::Error::new(e.kind(), format!("could not read {}: {e}", path.display())))
}

/// Writes `path` atomically: a temporary file in the same directory, then a rename. A new file
/// gets 0666 less the umask, like any editor's (a teammate or a container user must be able to
/// read what is committed); a replaced file keeps its mode.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(path, bytes, false)?
        .persist(path)
        .map_err(|e| e.error)?;
    Ok(())
}

/// `bytes` in a synced temporary file beside `path` (its directory created), ready to be
/// renamed over `path`. A file that exists keeps its owner, group and mode (buildkit run as
/// root in a devcontainer must not leave the user's files to root); a new one gets 0666 less
/// the umask. An executable gets the execute bits of its read bits. A file with other hard
/// links is refused: a rename would split it from them.
fn stage(path: &Path, bytes: &[u8], executable: bool) -> io::Result<tempfile::TempPath> {
    use std::io::Write as _;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let dir = parent_dir(path);
    fs_err::create_dir_all(dir)?;
    let mut existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|m| m.nlink() > 1) {
        // A backup link a killed run left counts as one; it goes first.
        remove_leftover_temps(dir);
        existing = std::fs::metadata(path).ok();
    }
    if let Some(links) = existing.as_ref().map(|m| m.nlink()).filter(|n| *n > 1) {
        return Err(io::Error::other(format!(
            "has {} other hard link(s); buildkit replaces a file whole, which would split it from them: keep one name for it",
            links - 1
        )));
    }
    let mut mode = existing
        .as_ref()
        .map_or(0o666, |m| m.permissions().mode() & 0o7777);
    if executable {
        mode |= (mode & 0o444) >> 2;
    }
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix())
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    if let Some(meta) = &existing {
        // Another user's file, written by a user who may not give it away: it becomes this
        // user's, as with any editor.
        match std::os::unix::fs::fchown(temp.as_file(), Some(meta.uid()), Some(meta.gid())) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
            other => other?,
        }
        // Exactly the old mode: the umask narrowed the one given at creation, and a change of
        // owner clears set-id bits.
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(temp.into_temp_path())
}

/// The start of every temporary name buildkit makes beside a file it writes: `.buildkit-<pid>-`,
/// so that a later run can tell a leftover of a killed process from a live one's.
fn temp_prefix() -> String {
    format!(".buildkit-{}-", std::process::id())
}

/// Removes the temporary files that killed buildkit processes left in `dir` (by
/// [`write_atomically`] or [`FileSet`]), and returns their paths. A file of a process that is
/// still running is kept.
pub fn remove_leftover_temps(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(".buildkit-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = rustix::process::Pid::from_raw(pid).is_some_and(|pid| {
            rustix::process::test_kill_process(pid) != Err(rustix::io::Errno::SRCH)
        });
        if !alive
            && entry.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed
}

/// A set of files replaced (or removed) together: every new content is staged beside its file
/// first, then each is renamed into place; if any step fails, the files already replaced get
/// their old content back and the new ones are removed, so the set is all old or all new.
#[derive(Default)]
pub struct FileSet {
    changes: Vec<(PathBuf, Change)>,
}

/// What a [`FileSet`] does to one path.
enum Change {
    Write { bytes: Vec<u8>, executable: bool },
    Remove,
}

impl FileSet {
    /// Writes `bytes` to `path`; an `executable` file (a script) gets the execute bits added
    /// to its mode.
    pub fn write(&mut self, path: PathBuf, bytes: impl Into<Vec<u8>>, executable: bool) {
        self.changes.push((
            path,
            Change::Write {
                bytes: bytes.into(),
                executable,
            },
        ));
    }

    pub fn remove(&mut self, path: PathBuf) {
        self.changes.push((path, Change::Remove));
    }

    /// Carries out every change, or none. The error names the file that failed.
    pub fn commit(self) -> Result<(), (PathBuf, io::Error)> {
        let mut staged = Vec::new();
        for (path, change) in &self.changes {
            let Change::Write { bytes, executable } = change else {
                staged.push(None);
                continue;
            };
            match stage(path, bytes, *executable) {
                Ok(temp) => staged.push(Some(temp)),
                Err(e) => return Err((path.clone(), e)),
            }
        }
        // Each replaced file's old content stays reachable through a backup link until the
        // whole set is in place.
        let mut done: Vec<(&Path, Option<PathBuf>)> = Vec::new();
        for ((path, _), temp) in self.changes.iter().zip(staged) {
            let step = (|| -> io::Result<Option<PathBuf>> {
                let backup = if std::fs::symlink_metadata(path).is_ok() {
                    let backup =
                        parent_dir(path).join(format!("{}backup-{}", temp_prefix(), done.len()));
                    let _ = std::fs::remove_file(&backup);
                    std::fs::hard_link(path, &backup)?;
                    Some(backup)
                } else {
                    None
                };
                match temp {
                    Some(temp) => temp.persist(path).map_err(|e| e.error)?,
                    None if backup.is_some() => std::fs::remove_file(path)?,
                    None => {}
                }
                Ok(backup)
            })();
            match step {
                Ok(backup) => done.push((path, backup)),
                Err(e) => {
                    for (path, backup) in done.into_iter().rev() {
                        match backup {
                            Some(backup) => {
                                let _ = std::fs::rename(&backup, path);
                            }
                            None => {
                                let _ = std::fs::remove_file(path);
                            }
                        }
                    }
                    return Err((path.clone(), e));
                }
            }
        }
        for (_, backup) in done {
            if let Some(backup) = backup {
                let _ = std::fs::remove_file(backup);
            }
        }
        Ok(())
    }
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `a/bin/../tools/x` -> `a/tools/x`, without touching the filesystem.
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_refuse_fifos_devices_and_huge_files() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read_text(&fifo, 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "is not a regular file (a FIFO, socket or device)"
        );
        let err = read_text(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "is not a regular file (a FIFO, socket or device)"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(11)).unwrap();
        assert_eq!(
            read_text(&big, 10).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        assert_eq!(read_text(&big, 11).unwrap(), "x".repeat(11));
    }

    #[test]
    fn a_file_set_is_all_old_or_all_new() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let locked = dir.path().join("locked");
        std::fs::write(&a, "old a").unwrap();
        std::fs::create_dir(&locked).unwrap();
        let b = locked.join("b");
        std::fs::write(&b, "old b").unwrap();
        let gone = dir.path().join("gone");
        std::fs::write(&gone, "stale").unwrap();
        // `b`'s directory refuses the rename: the set fails after `a` was replaced.
        let mut set = FileSet::default();
        set.write(a.clone(), "new a", false);
        set.remove(gone.clone());
        set.write(b.clone(), "new b", false);
        // Staging needs the directory writable; make the swap itself fail instead: a directory
        // where the file should be.
        std::fs::remove_file(&b).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("x"), "").unwrap();
        let (failed, _) = set.commit().unwrap_err();
        assert_eq!(failed, b);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        assert_eq!(std::fs::read_to_string(&gone).unwrap(), "stale");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(".buildkit-")),
            "{names:?}"
        );
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".buildkit-2147483646-abc");
        let live = dir
            .path()
            .join(format!(".buildkit-{}-abc", std::process::id()));
        let other = dir.path().join(".buildkit-notes");
        for f in [&dead, &live, &other] {
            std::fs::write(f, "").unwrap();
        }
        assert_eq!(remove_leftover_temps(dir.path()), vec![dead.clone()]);
        assert!(live.exists() && other.exists() && !dead.exists());
    }

    #[test]
    fn a_replaced_file_keeps_its_owner_group_and_mode_and_a_hard_link_is_never_split() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        // As root (the devcontainer), a file of another user and group keeps them.
        let root = rustix::process::geteuid().is_root();
        if root {
            std::os::unix::fs::chown(&path, Some(4321), Some(4322)).unwrap();
        }
        write_atomically(&path, b"new").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o664);
        if root {
            assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
        }
        // A second name for the file: refused, both names keep the old content.
        let other = dir.path().join("other-name");
        std::fs::hard_link(&path, &other).unwrap();
        let err = write_atomically(&path, b"newer").unwrap_err();
        assert_eq!(
            err.to_string(),
            "has 1 other hard link(s); buildkit replaces a file whole, which would split it from them: keep one name for it"
        );
        assert_eq!(std::fs::read(&other).unwrap(), b"new");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        // A backup link a killed run left is not a user's: removed, then the write goes on.
        std::fs::remove_file(&other).unwrap();
        std::fs::hard_link(&path, dir.path().join(".buildkit-2147483646-backup-0")).unwrap();
        write_atomically(&path, b"newest").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"newest");
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        // 0666 less this process's umask (tests run with 022 or 002; never 0600).
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert!(mode & 0o044 == 0o044, "readable by others: {mode:o}");
        assert_eq!(fs_err::read(&path).unwrap(), b"two");
    }
}
