//! Filesystem pieces every module needs and none owns: writing a file so that readers see the
//! old or the new content, never a half; and resolving `..` in a path without touching the disk.

use std::io;
use std::path::{Path, PathBuf};

/// Writes `path` atomically: a temporary file in the same directory, then a rename. A new file
/// gets 0666 less the umask, like any editor's (a teammate or a container user must be able to
/// read what is committed); a replaced file keeps its mode.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    let mode = std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
    let mut temp = tempfile::Builder::new()
        .prefix(".buildkit-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
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
