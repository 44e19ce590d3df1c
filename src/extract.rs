//! Unpacking .tar.gz and .tar.xz archives into a fresh directory, refusing anything that could
//! write or point outside it.
//!
//! The caller unpacks into a temporary directory and renames it into place only on success, so
//! a refused entry means nothing of the archive is installed.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, Read};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use cap_std::fs::Dir;

use crate::registry::ArchiveFormat;

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("refusing {archive}: entry `{entry}` {reason}; nothing of it was installed")]
    EntryEscapes {
        archive: String,
        entry: PathBuf,
        reason: String,
    },
    #[error("could not unpack {archive}: {source}")]
    Read {
        archive: String,
        #[source]
        source: io::Error,
    },
    #[error("could not write {path} while unpacking {archive}: {source}")]
    Write {
        archive: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "refusing {archive}: it unpacks to more than {limit} bytes, buildkit's limit for one tool; nothing of it was installed"
    )]
    TooLarge { archive: String, limit: u64 },
}

/// What to unpack and how.
pub struct UnpackOptions<'a> {
    /// The url or path, for messages.
    pub archive: &'a str,
    pub format: ArchiveFormat,
    /// The archive's single top directory as the registry names it, stripped from every path.
    /// An archive whose one top directory has another name (another of upstream's builds of
    /// the release, pinned by url) has that one stripped instead, and every entry must be in it.
    pub top_dir: Option<&'a str>,
    /// Keep only these paths (after stripping); empty keeps everything.
    pub keep: &'a [String],
    /// The most this unpack may write ([`MAX_UNPACKED_BYTES`] for a tool).
    pub max_bytes: u64,
}

/// Unpacks `reader` (compressed as `options.format`) into `dest`, an empty directory.
pub fn unpack(
    reader: impl BufRead,
    dest: &Path,
    options: &UnpackOptions<'_>,
) -> Result<(), ExtractError> {
    match options.format {
        ArchiveFormat::TarGz => {
            unpack_tar(flate2::bufread::MultiGzDecoder::new(reader), dest, options)
        }
        ArchiveFormat::TarXz => unpack_tar(
            xz2::bufread::XzDecoder::new_multi_decoder(reader),
            dest,
            options,
        ),
    }?;
    check_symlinks_stay_inside(dest, options)
}

/// The sha256 of each file of the archive whose path (top directory stripped) is in `wanted`,
/// read as the archive streams past, nothing written: what a pinned archive holds, to compare
/// an installed tree with. A hard link counts as the file it links to.
pub fn digests_of(
    reader: impl BufRead,
    format: ArchiveFormat,
    top_dir: Option<&str>,
    wanted: &std::collections::BTreeSet<String>,
) -> io::Result<std::collections::BTreeMap<String, crate::digest::Sha256>> {
    fn walk(
        reader: impl Read,
        top_dir: Option<&str>,
        wanted: &std::collections::BTreeSet<String>,
    ) -> io::Result<std::collections::BTreeMap<String, crate::digest::Sha256>> {
        let mut digests = std::collections::BTreeMap::new();
        let mut links = Vec::new();
        let mut archive = tar::Archive::new(reader);
        let mut top = TopDir::new(top_dir);
        for entry in archive.entries()? {
            let entry = entry?;
            if top
                .see(&entry.path()?, entry.header().entry_type())
                .is_err()
            {
                continue;
            }
            let top_dir = top.get();
            let Ok(Some(rel)) = relative_path(&entry.path()?, top_dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().into_owned();
            let kind = entry.header().entry_type();
            if kind.is_hard_link() {
                if let Some(Ok(Some(target))) = entry.link_name()?.map(|t| {
                    relative_path(&t, top_dir).map(|r| r.map(|p| p.to_string_lossy().into_owned()))
                }) {
                    links.push((rel, target));
                }
            } else if kind.is_file() {
                let (digest, _) = crate::digest::HashingReader::new(entry).finish()?;
                digests.insert(rel, digest);
            }
        }
        for (link, target) in links {
            if let Some(digest) = digests.get(&target).cloned() {
                digests.insert(link, digest);
            }
        }
        digests.retain(|path, _| wanted.contains(path));
        Ok(digests)
    }
    match format {
        ArchiveFormat::TarGz => walk(
            flate2::bufread::MultiGzDecoder::new(reader),
            top_dir,
            wanted,
        ),
        ArchiveFormat::TarXz => walk(
            xz2::bufread::XzDecoder::new_multi_decoder(reader),
            top_dir,
            wanted,
        ),
    }
}

/// What one unpack may write at most: far above any tool buildkit installs (mold's tree is
/// 10 MB; lld out of LLVM is kept alone), far below what fills a disk. A 10 MB archive that
/// expands past it is refused, not installed.
pub const MAX_UNPACKED_BYTES: u64 = 4 << 30;

fn unpack_tar(
    decoder: impl Read,
    dest: &Path,
    options: &UnpackOptions<'_>,
) -> Result<(), ExtractError> {
    // Every write goes through this handle: cap-std resolves each path beneath it (openat2's
    // RESOLVE_BENEATH on Linux), so no order of symlinks, hard links and replaced entries can
    // reach outside, whatever the checks below miss.
    let root = Dir::open_ambient_dir(dest, cap_std::ambient_authority())
        .map_err(|e| write_error(options.archive, dest, e))?;
    let mut unpacker = Unpacker {
        root,
        dest,
        options,
        real_dirs: HashSet::from([PathBuf::new()]),
        written: 0,
        top_dir: options.top_dir.map(str::to_string),
    };
    let mut archive = tar::Archive::new(decoder);
    let mut top = TopDir::new(options.top_dir);
    for entry in archive.entries().map_err(|e| unpacker.read_err(e))? {
        let mut entry = entry.map_err(|e| unpacker.read_err(e))?;
        let raw_path = entry.path().map_err(|e| unpacker.read_err(e))?.into_owned();
        top.see(&raw_path, entry.header().entry_type())
            .map_err(|r| unpacker.refuse(&raw_path, r))?;
        unpacker.top_dir = top.get().map(str::to_string);
        let Some(rel) = relative_path(&raw_path, unpacker.top_dir.as_deref())
            .map_err(|r| unpacker.refuse(&raw_path, r))?
        else {
            continue; // the top directory itself
        };
        // Validate every entry, kept or not: a hostile archive is refused as a whole.
        let Some(kind) = unpacker.classify(&entry, &raw_path, &rel)? else {
            continue; // a pax header, not a file
        };
        if !options.keep.is_empty() && !options.keep.iter().any(|k| Path::new(k) == rel) {
            continue;
        }
        unpacker.place(&mut entry, &raw_path, &rel, kind)?;
    }
    // Read the compressed stream to its end: the tar end blocks and the gzip/xz trailer (its
    // checksum) must be there too, or the archive was cut short.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| unpacker.read_err(e))?;
    Ok(())
}

/// What a validated entry is, with what a link points at.
enum EntryKind {
    File,
    Dir,
    Symlink(PathBuf),
    /// The source, relative to the tool's directory.
    HardLink(PathBuf),
}

/// One unpack in progress: the destination and what the entries so far made there.
struct Unpacker<'a> {
    root: Dir,
    dest: &'a Path,
    options: &'a UnpackOptions<'a>,
    /// Directories this extraction created itself: known to be real directories, not links.
    real_dirs: HashSet<PathBuf>,
    written: u64,
    /// The top directory stripped from paths and hard-link targets: the archive's own.
    top_dir: Option<String>,
}

impl Unpacker<'_> {
    fn read_err(&self, source: io::Error) -> ExtractError {
        ExtractError::Read {
            archive: self.options.archive.to_string(),
            source,
        }
    }

    fn write_err(&self, path: &Path, source: io::Error) -> ExtractError {
        write_error(self.options.archive, path, source)
    }

    fn refuse(&self, entry: &Path, reason: &str) -> ExtractError {
        ExtractError::EntryEscapes {
            archive: self.options.archive.to_string(),
            entry: entry.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// What the entry is, refusing any that could leave the tree or is a special file; `None`
    /// for pax headers.
    fn classify(
        &self,
        entry: &tar::Entry<'_, impl Read>,
        raw_path: &Path,
        rel: &Path,
    ) -> Result<Option<EntryKind>, ExtractError> {
        let link_target = || -> Result<PathBuf, ExtractError> {
            Ok(entry
                .link_name()
                .map_err(|e| self.read_err(e))?
                .ok_or_else(|| self.refuse(raw_path, "is a link without a target"))?
                .into_owned())
        };
        let kind = match entry.header().entry_type() {
            tar::EntryType::Symlink => {
                let target = link_target()?;
                check_symlink_target(rel, &target).map_err(|r| self.refuse(raw_path, r))?;
                EntryKind::Symlink(target)
            }
            tar::EntryType::Link => {
                let source = relative_path(&link_target()?, self.top_dir.as_deref())
                    .map_err(|_| {
                        self.refuse(
                            raw_path,
                            "is a hard link pointing outside the tool's directory",
                        )
                    })?
                    .ok_or_else(|| self.refuse(raw_path, "is a hard link to the archive's root"))?;
                EntryKind::HardLink(source)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => return Ok(None),
            _ => return Err(self.refuse(raw_path, "is a device, fifo or other special file")),
        };
        Ok(Some(kind))
    }

    /// Writes one validated entry at `rel`, in directories this unpack made.
    fn place(
        &mut self,
        entry: &mut tar::Entry<'_, impl Read>,
        raw_path: &Path,
        rel: &Path,
        kind: EntryKind,
    ) -> Result<(), ExtractError> {
        let target = self.dest.join(rel);
        if let Some(parent) = rel.parent() {
            ensure_real_dir(&self.root, parent, &mut self.real_dirs).map_err(|e| match e {
                DirError::Io(source) => self.write_err(&self.dest.join(parent), source),
                DirError::ThroughSymlink => {
                    self.refuse(raw_path, "is inside a symlinked directory")
                }
            })?;
        }
        if let EntryKind::Dir = kind {
            return ensure_real_dir(&self.root, rel, &mut self.real_dirs).map_err(|e| match e {
                DirError::Io(source) => self.write_err(&target, source),
                DirError::ThroughSymlink => {
                    self.refuse(raw_path, "replaces a symlink with a directory")
                }
            });
        }
        // A later entry with the same name replaces the earlier one, never writes through it.
        if self.root.symlink_metadata(rel).is_ok_and(|m| !m.is_dir()) {
            self.root
                .remove_file(rel)
                .map_err(|e| self.write_err(&target, e))?;
        }
        match kind {
            EntryKind::Symlink(link) => self
                .root
                .symlink(&link, rel)
                .map_err(|e| self.write_err(&target, e)),
            EntryKind::HardLink(source) => self.hard_link(&source, raw_path, rel),
            EntryKind::File | EntryKind::Dir => self.write_file(entry, rel, &target),
        }
    }

    /// Its source must sit in directories this unpack made (no symlink on the way) and not be
    /// a symlink itself; cap-std refuses anything that still escapes.
    fn hard_link(&self, source: &Path, raw_path: &Path, rel: &Path) -> Result<(), ExtractError> {
        let outside = "is a hard link pointing outside the tool's directory";
        let through_real_dirs = source
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty() || self.real_dirs.contains(p));
        if !through_real_dirs {
            return Err(self.refuse(raw_path, outside));
        }
        match self.root.symlink_metadata(source) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(self.refuse(raw_path, "is a hard link to a symlink"));
            }
            Ok(meta) if meta.is_file() => {}
            _ => {
                return Err(self.refuse(
                    raw_path,
                    "is a hard link to nothing the archive put before it",
                ));
            }
        }
        self.root
            .hard_link(source, &self.root, rel)
            .map_err(|_| self.refuse(raw_path, outside))
    }

    /// A regular file: 0755 if any execute bit is set, else 0644 (never group or other
    /// writable, never setuid), counted against the unpack's byte limit.
    fn write_file(
        &mut self,
        entry: &mut tar::Entry<'_, impl Read>,
        rel: &Path,
        target: &Path,
    ) -> Result<(), ExtractError> {
        let mode = entry.header().mode().map_err(|e| self.read_err(e))?;
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        let mut file = self
            .root
            .open_with(
                rel,
                cap_std::fs::OpenOptions::new().write(true).create_new(true),
            )
            .map_err(|e| self.write_err(target, e))?;
        let budget = self.options.max_bytes.saturating_sub(self.written);
        let copied = io::copy(&mut entry.take(budget + 1), &mut file)
            .map_err(|e| copy_err(e, self.options.archive, target))?;
        self.written += copied;
        if copied > budget {
            return Err(ExtractError::TooLarge {
                archive: self.options.archive.to_string(),
                limit: self.options.max_bytes,
            });
        }
        file.set_permissions(cap_std::fs::Permissions::from_std(
            std::fs::Permissions::from_mode(mode),
        ))
        .map_err(|e| self.write_err(target, e))
    }
}

fn write_error(archive: &str, path: &Path, source: io::Error) -> ExtractError {
    ExtractError::Write {
        archive: archive.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

/// A failed copy out of the archive: a read error is the archive's (cut short, corrupt), a
/// write error the destination's (a full disk, a file size limit).
fn copy_err(error: io::Error, archive: &str, path: &Path) -> ExtractError {
    let read_side = matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
    );
    if read_side {
        ExtractError::Read {
            archive: archive.to_string(),
            source: error,
        }
    } else {
        ExtractError::Write {
            archive: archive.to_string(),
            path: path.to_path_buf(),
            source: error,
        }
    }
}

/// The top directory an archive really has: the one named, or the first entry's first
/// component where that differs (then every entry must be inside it).
struct TopDir<'a> {
    named: Option<&'a str>,
    found: Option<String>,
}

impl<'a> TopDir<'a> {
    fn new(named: Option<&'a str>) -> TopDir<'a> {
        TopDir { named, found: None }
    }

    /// Learns the top directory from the first entry that is a file, a directory or a link
    /// (never a pax header), and refuses an entry outside a top directory that was learned.
    fn see(&mut self, path: &Path, kind: tar::EntryType) -> Result<(), &'static str> {
        let Some(named) = self.named else {
            return Ok(());
        };
        let first = path.components().find_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        });
        let content = kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_hard_link();
        match (&self.found, first) {
            (None, Some(first)) if content => self.found = Some(first),
            (Some(found), Some(first)) if content && found != named && *found != first => {
                return Err("is outside the archive's single top directory");
            }
            _ => {}
        }
        Ok(())
    }

    fn get(&self) -> Option<&str> {
        self.found.as_deref().or(self.named)
    }
}

/// The entry's path inside the tool's directory: validated, with the top directory stripped.
/// `Ok(None)` is the top directory itself.
fn relative_path(path: &Path, top_dir: Option<&str>) -> Result<Option<PathBuf>, &'static str> {
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("has a `..` component"),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    if let Some(top) = top_dir
        && let Ok(stripped) = rel.strip_prefix(top)
    {
        rel = stripped.to_path_buf();
    }
    Ok((!rel.as_os_str().is_empty()).then_some(rel))
}

/// A symlink at `rel` pointing to `target` must stay inside the tree, judged lexically.
fn check_symlink_target(rel: &Path, target: &Path) -> Result<(), &'static str> {
    if target.is_absolute() {
        return Err("is a symlink to an absolute path");
    }
    let mut depth: usize = rel.parent().map_or(0, |p| p.components().count());
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("is a symlink pointing outside the tool's directory")?;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("is a symlink to an absolute path");
            }
        }
    }
    Ok(())
}

/// Why a directory of an entry's path could not be made.
enum DirError {
    Io(io::Error),
    /// A component is a symlink: writing through it could leave the tree.
    ThroughSymlink,
}

/// Creates `rel` under the unpack root as real directories, refusing to pass through a symlink.
fn ensure_real_dir(
    root: &Dir,
    rel: &Path,
    real_dirs: &mut HashSet<PathBuf>,
) -> Result<(), DirError> {
    let mut current = PathBuf::new();
    for component in rel.components() {
        current.push(component);
        if real_dirs.contains(&current) {
            continue;
        }
        match root.symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(DirError::ThroughSymlink);
            }
            Ok(_) => {
                root.remove_file(&current).map_err(DirError::Io)?;
                root.create_dir(&current).map_err(DirError::Io)?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                root.create_dir(&current).map_err(DirError::Io)?;
            }
            Err(err) => return Err(DirError::Io(err)),
        }
        real_dirs.insert(current.clone());
    }
    Ok(())
}

/// The last word on links: each one must resolve, through any chain of links, to a path inside
/// `dest`. Lexical checks alone miss chains such as `a -> .` followed by `a/b -> ..`.
fn check_symlinks_stay_inside(
    dest: &Path,
    options: &UnpackOptions<'_>,
) -> Result<(), ExtractError> {
    let read_err = |source| ExtractError::Read {
        archive: options.archive.to_string(),
        source,
    };
    let root = fs_err::canonicalize(dest).map_err(read_err)?;
    let mut pending = vec![dest.to_path_buf()];
    // Every name of every file (with its link count): a file with more links than names here
    // has one outside.
    let mut names: HashMap<(u64, u64), (u64, u64, PathBuf)> = HashMap::new();
    while let Some(dir) = pending.pop() {
        for entry in fs_err::read_dir(&dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let file_type = entry.file_type().map_err(read_err)?;
            let path = entry.path();
            if file_type.is_file() {
                let meta = entry.metadata().map_err(read_err)?;
                let seen = names.entry((meta.dev(), meta.ino())).or_insert((
                    0,
                    meta.nlink(),
                    path.clone(),
                ));
                seen.0 += 1;
            }
            if file_type.is_dir() {
                pending.push(path);
            } else if file_type.is_symlink() {
                let inside =
                    std::fs::canonicalize(&path).is_ok_and(|resolved| resolved.starts_with(&root));
                if !inside {
                    let entry = path.strip_prefix(dest).unwrap_or(&path).to_path_buf();
                    return Err(ExtractError::EntryEscapes {
                        archive: options.archive.to_string(),
                        entry,
                        reason: "is a symlink that does not resolve to a file inside the tool's directory".into(),
                    });
                }
            }
        }
    }
    for ((dev, ino), (count, links, path)) in names {
        if links > count {
            let entry = path.strip_prefix(dest).unwrap_or(&path).to_path_buf();
            return Err(ExtractError::EntryEscapes {
                archive: options.archive.to_string(),
                entry,
                reason: format!(
                    "is a hard link to a file outside the tool's directory ({links} links, {count} inside; inode {dev}:{ino})"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// Property tests: random sequences of entries, hostile ones included, in random orders.
/// Bounded by PROPTEST_CASES (256 by default; `.ci/run` runs more); a failing case is saved
/// under proptest-regressions/ and becomes a regression test.
#[cfg(test)]
mod properties;
