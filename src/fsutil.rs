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
        assert_eq!(err.to_string(), "is not a regular file (a FIFO, socket or device)");
        let err = read_text(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(err.to_string(), "is not a regular file (a FIFO, socket or device)");
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(11)).unwrap();
        assert_eq!(read_text(&big, 10).unwrap_err().kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(read_text(&big, 11).unwrap(), "x".repeat(11));
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
