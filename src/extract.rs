//! Unpacking .tar.gz and .tar.xz archives into a fresh directory, refusing anything that could
//! write or point outside it.
//!
//! The caller unpacks into a temporary directory and renames it into place only on success, so
//! a refused entry means nothing of the archive is installed.

use std::collections::HashSet;
use std::io::{self, BufRead, Read};
use std::path::{Component, Path, PathBuf};

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
        "{archive} is a {format} archive, which buildkit cannot unpack (it reads tar.gz and tar.xz)"
    )]
    UnknownFormat { archive: String, format: String },
}

/// What to unpack and how.
pub struct UnpackOptions<'a> {
    /// The url or path, for messages.
    pub archive: &'a str,
    pub format: &'a str,
    /// The archive's single top directory, stripped from every path when present.
    pub top_dir: Option<&'a str>,
    /// Keep only these paths (after stripping); empty keeps everything.
    pub keep: &'a [String],
}

/// Unpacks `reader` (compressed as `options.format`) into `dest`, an empty directory.
pub fn unpack(
    reader: impl BufRead,
    dest: &Path,
    options: &UnpackOptions<'_>,
) -> Result<(), ExtractError> {
    match options.format {
        "tar.gz" => unpack_tar(flate2::bufread::MultiGzDecoder::new(reader), dest, options),
        "tar.xz" => unpack_tar(
            xz2::bufread::XzDecoder::new_multi_decoder(reader),
            dest,
            options,
        ),
        other => Err(ExtractError::UnknownFormat {
            archive: options.archive.to_string(),
            format: other.to_string(),
        }),
    }?;
    check_symlinks_stay_inside(dest, options)
}

fn unpack_tar(
    decoder: impl Read,
    dest: &Path,
    options: &UnpackOptions<'_>,
) -> Result<(), ExtractError> {
    let archive_name = options.archive;
    let read_err = |source| ExtractError::Read {
        archive: archive_name.to_string(),
        source,
    };
    let write_err = |path: &Path, source| ExtractError::Write {
        archive: archive_name.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let refuse = |entry: &Path, reason: &str| ExtractError::EntryEscapes {
        archive: archive_name.to_string(),
        entry: entry.to_path_buf(),
        reason: reason.to_string(),
    };

    let mut archive = tar::Archive::new(decoder);
    archive.set_preserve_mtime(true);
    archive.set_preserve_permissions(false);
    // Directories this extraction created itself: known to be real directories, not links.
    let mut real_dirs: HashSet<PathBuf> = HashSet::from([PathBuf::new()]);

    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let raw_path = entry.path().map_err(read_err)?.into_owned();
        let Some(rel) =
            relative_path(&raw_path, options.top_dir).map_err(|r| refuse(&raw_path, r))?
        else {
            continue; // the top directory itself
        };
        let kind = entry.header().entry_type();
        let link_target = match kind {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(read_err)?
                    .ok_or_else(|| refuse(&raw_path, "is a link without a target"))?
                    .into_owned();
                Some(target)
            }
            _ => None,
        };
        // Validate every entry, kept or not: a hostile archive is refused as a whole.
        let hard_link_source = match (kind, &link_target) {
            (tar::EntryType::Symlink, Some(target)) => {
                check_symlink_target(&rel, target).map_err(|r| refuse(&raw_path, r))?;
                None
            }
            (tar::EntryType::Link, Some(target)) => {
                let source = relative_path(target, options.top_dir)
                    .map_err(|_| {
                        refuse(
                            &raw_path,
                            "is a hard link pointing outside the tool's directory",
                        )
                    })?
                    .ok_or_else(|| refuse(&raw_path, "is a hard link to the archive's root"))?;
                Some(source)
            }
            (
                tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory,
                _,
            ) => None,
            (tar::EntryType::XGlobalHeader | tar::EntryType::XHeader, _) => continue,
            _ => return Err(refuse(&raw_path, "is a device, fifo or other special file")),
        };
        if !options.keep.is_empty() && !options.keep.iter().any(|k| Path::new(k) == rel) {
            continue;
        }

        let target = dest.join(&rel);
        if let Some(parent) = rel.parent() {
            ensure_real_dir(dest, parent, &mut real_dirs).map_err(|e| match e {
                DirError::Io(source) => write_err(&dest.join(parent), source),
                DirError::ThroughSymlink => refuse(&raw_path, "is inside a symlinked directory"),
            })?;
        }
        if kind == tar::EntryType::Directory {
            ensure_real_dir(dest, &rel, &mut real_dirs).map_err(|e| match e {
                DirError::Io(source) => write_err(&target, source),
                DirError::ThroughSymlink => {
                    refuse(&raw_path, "replaces a symlink with a directory")
                }
            })?;
            continue;
        }
        // A later entry with the same name replaces the earlier one, never writes through it.
        if fs_err::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(&target).map_err(|e| write_err(&target, e))?;
        }
        match (kind, link_target, hard_link_source) {
            (tar::EntryType::Symlink, Some(link), _) => {
                std::os::unix::fs::symlink(&link, &target).map_err(|e| write_err(&target, e))?;
            }
            (tar::EntryType::Link, _, Some(source)) => {
                let source_path = dest.join(&source);
                if fs_err::symlink_metadata(&source_path).is_ok_and(|m| m.file_type().is_symlink())
                {
                    return Err(refuse(&raw_path, "is a hard link to a symlink"));
                }
                std::fs::hard_link(&source_path, &target).map_err(|e| write_err(&target, e))?;
            }
            _ => {
                entry.unpack(&target).map_err(|e| write_err(&target, e))?;
            }
        }
    }
    // Read the compressed stream to its end: the tar end blocks and the gzip/xz trailer (its
    // checksum) must be there too, or the archive was cut short.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
    Ok(())
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

/// Creates `rel` under `dest` as real directories, refusing to pass through a symlink.
fn ensure_real_dir(
    dest: &Path,
    rel: &Path,
    real_dirs: &mut HashSet<PathBuf>,
) -> Result<(), DirError> {
    let mut current = PathBuf::new();
    for component in rel.components() {
        current.push(component);
        if real_dirs.contains(&current) {
            continue;
        }
        let path = dest.join(&current);
        match fs_err::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(DirError::ThroughSymlink);
            }
            Ok(_) => {
                std::fs::remove_file(&path).map_err(DirError::Io)?;
                std::fs::create_dir(&path).map_err(DirError::Io)?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir(&path).map_err(DirError::Io)?;
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
    while let Some(dir) = pending.pop() {
        for entry in fs_err::read_dir(&dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let file_type = entry.file_type().map_err(read_err)?;
            let path = entry.path();
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_strip_top_and_refuse_escapes() {
        let top = Some("mold-1-x");
        assert_eq!(
            relative_path(Path::new("mold-1-x/bin/mold"), top),
            Ok(Some("bin/mold".into()))
        );
        assert_eq!(relative_path(Path::new("./mold-1-x/"), top), Ok(None));
        assert_eq!(
            relative_path(Path::new("other/x"), top),
            Ok(Some("other/x".into()))
        );
        assert!(relative_path(Path::new("/etc/passwd"), top).is_err());
        assert!(relative_path(Path::new("mold-1-x/../../x"), top).is_err());
    }

    fn sample_archive() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in [
            ("top/bin/tool", &b"#!/bin/sh\n"[..]),
            ("top/README", &[7u8; 3000][..]),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            builder.append_data(&mut header, path, data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn every_truncation_of_an_archive_is_an_error_not_a_panic() {
        let archive = sample_archive();
        let options = UnpackOptions {
            archive: "a.tar.gz",
            format: "tar.gz",
            top_dir: Some("top"),
            keep: &[],
        };
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole");
        std::fs::create_dir(&whole).unwrap();
        unpack(&archive[..], &whole, &options).unwrap();
        assert!(whole.join("bin/tool").is_file());
        for end in (0..archive.len() - 8).step_by(7) {
            let dest = dir.path().join(format!("cut-{end}"));
            std::fs::create_dir(&dest).unwrap();
            let err =
                unpack(&archive[..end], &dest, &options).expect_err("a cut archive is refused");
            assert!(err.to_string().contains("a.tar.gz"), "{err}");
        }
    }

    #[test]
    fn symlink_targets_are_judged_from_their_directory() {
        assert!(
            check_symlink_target(Path::new("libexec/mold/ld"), Path::new("../../bin/mold")).is_ok()
        );
        assert!(check_symlink_target(Path::new("bin/ld.mold"), Path::new("mold")).is_ok());
        assert!(check_symlink_target(Path::new("bin/x"), Path::new("../../etc")).is_err());
        assert!(check_symlink_target(Path::new("x"), Path::new("/etc/passwd")).is_err());
    }
}
