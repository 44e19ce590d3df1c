//! The download cache's files: `<sha256>.<ext>` archives, their `.partial` and `.lock`
//! siblings, the per-digest lock that lets one process download while the others wait, and
//! the leftovers of a killed download.

use std::io;
use std::path::{Path, PathBuf};

use super::{CachedArchive, FetchError, write_err};
use crate::registry::ArchiveFormat;

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

/// `<sha256>.lock` in the download cache, held. The cache may be shared by several
/// BUILDKIT_HOMEs: whoever holds it downloads; the others wait and then find the verified
/// archive. The lock file never moves, and each download writes its own partial file, so no
/// process ever writes into a file another has verified or is unpacking.
pub(super) struct DownloadLock {
    pub(super) path: PathBuf,
    pub(super) file: std::fs::File,
}

impl DownloadLock {
    pub(super) fn take(cache_dir: &Path, sha256: &str) -> Result<DownloadLock, FetchError> {
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
    pub(super) fn release(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.file);
    }
}

/// The verified archive at `path`, opened, if the cache has it.
pub(super) fn open_cached(path: &Path) -> Result<Option<CachedArchive>, FetchError> {
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
pub(super) fn remove_killed_partials(cache_dir: &Path, sha256: &str) {
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
