//! The files `generate` writes, as they are and as buildkit.toml renders them: one plan that
//! `generate` carries out and `check` and `doctor` compare, so the three never disagree.

use std::path::{Path, PathBuf};

use super::Project;
use crate::Error;
use crate::commands::CommandError;
use crate::render::{self, CARGO_CONFIG, Ownership, RUST_TOOLCHAIN};

/// One file as it is and as buildkit.toml renders it. `check` compares; `generate` writes.
pub struct PlannedFile {
    pub rel: &'static str,
    pub path: PathBuf,
    pub current: Option<String>,
    pub wanted: String,
    pub ownership: Ownership,
    /// It must be executable (the linker script).
    pub executable: bool,
    /// It must be executable but is not.
    pub lacks_execute: bool,
}

impl PlannedFile {
    /// Whether `generate` would write it: an owned file that differs, or an example that is
    /// missing or still an old file buildkit generated at that path.
    pub fn needs_writing(&self) -> bool {
        match self.ownership {
            Ownership::Owned => {
                self.current.as_deref() != Some(self.wanted.as_str()) || self.lacks_execute
            }
            Ownership::Example => self.current.as_deref().is_none_or(render::is_generated),
            Ownership::Stale => true,
        }
    }
}

/// Renders every generated file of `project`. Refuses to plan over a file buildkit did not
/// write unless `force`.
pub fn plan(project: &Project, force: bool) -> Result<Vec<PlannedFile>, Error> {
    let root = project.root();
    let manifest = &project.manifest;
    let bootstrap = render::bootstrap(manifest)?;
    refuse_what_cannot_be_generated(project)?;
    let read = |rel: &str| read_current(root, rel);

    let cargo_path = root.join(CARGO_CONFIG);
    let cargo_current = read(CARGO_CONFIG)?;
    let cargo_wanted = render::merge_cargo_config(
        cargo_current.as_deref(),
        &render::cargo_config_keys(manifest),
        &cargo_path,
        force,
    )?;
    let mut planned = vec![PlannedFile {
        rel: CARGO_CONFIG,
        path: cargo_path,
        current: cargo_current,
        wanted: cargo_wanted,
        ownership: Ownership::Owned,
        executable: false,
        lacks_execute: false,
    }];
    planned.extend(toolchain_file(project, read(RUST_TOOLCHAIN)?, force)?);
    for file in render::render_files(manifest, &bootstrap)? {
        let current = read(file.path)?;
        let path = root.join(file.path);
        if let Some(text) = &current
            && file.ownership == Ownership::Owned
            && !render::is_generated(text)
            && !force
        {
            return Err(CommandError::NotGenerated(path).into());
        }
        let lacks_execute = file.executable && current.is_some() && !is_executable(&path);
        planned.push(PlannedFile {
            rel: file.path,
            path,
            current,
            wanted: file.contents,
            ownership: file.ownership,
            executable: file.executable,
            lacks_execute,
        });
    }
    // What an earlier buildkit.toml made and this one does not: removed.
    for rel in render::GENERATED_PATHS {
        if planned.iter().any(|f| f.rel == *rel) {
            continue;
        }
        if let Some(text) = read(rel)?
            && render::is_generated(&text)
        {
            planned.push(PlannedFile {
                rel,
                path: root.join(rel),
                current: Some(text),
                wanted: String::new(),
                ownership: Ownership::Stale,
                executable: false,
                lacks_execute: false,
            });
        }
    }
    Ok(planned)
}

/// A file of the project as it is now; `None` when it does not exist.
fn read_current(root: &Path, rel: &str) -> Result<Option<String>, Error> {
    let path = inside_project(root, rel)?;
    match crate::fsutil::read_text_named(&path, crate::fsutil::MAX_TEXT_BYTES) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What generate refuses before writing anything: a `[buildkit] path` without a Cargo.toml,
/// and a legacy `.cargo/config`, which cargo reads instead of `config.toml` when both exist
/// (settings written to config.toml would be silently ignored).
fn refuse_what_cannot_be_generated(project: &Project) -> Result<(), Error> {
    let root = project.root();
    let manifest = &project.manifest;
    if let Some(crate::manifest::BuildkitSource::Path { path }) = &manifest.buildkit {
        let tree = root.join(path).join("Cargo.toml");
        if !tree.is_file() {
            return Err(CommandError::NoBuildkitTree {
                manifest: manifest.path.as_deref().unwrap_or(root).to_path_buf(),
                path: path.clone(),
                tree,
            }
            .into());
        }
    }
    let legacy = root.join(".cargo/config");
    if legacy.is_file() {
        return Err(CommandError::LegacyCargoConfig(legacy).into());
    }
    Ok(())
}

/// rust-toolchain.toml, merged: buildkit owns the channel and what [toolchain] names. With
/// `file = false` buildkit hands a file it generated back without its header (and removes one
/// left empty), and leaves any other alone (`None`).
fn toolchain_file(
    project: &Project,
    current: Option<String>,
    force: bool,
) -> Result<Option<PlannedFile>, Error> {
    let root = project.root();
    let opted_out = !project.manifest.toolchain.file;
    if opted_out && current.as_deref().is_none_or(|t| !render::is_generated(t)) {
        return Ok(None);
    }
    let wanted = if opted_out {
        // Handed back as it is, without buildkit's header: the project's from now on.
        render::without_header(current.as_deref().unwrap_or(""))
    } else {
        render::merge_rust_toolchain(
            current.as_deref(),
            &render::toolchain_keys(&project.manifest),
            &root.join(RUST_TOOLCHAIN),
            force,
        )?
    };
    let left_empty = opted_out && render::is_empty_but_header(&wanted);
    Ok(Some(PlannedFile {
        rel: RUST_TOOLCHAIN,
        path: root.join(RUST_TOOLCHAIN),
        current,
        wanted,
        ownership: if left_empty {
            Ownership::Stale
        } else {
            Ownership::Owned
        },
        executable: false,
        lacks_execute: false,
    }))
}

/// The directories generate writes into (where a killed run may have left temporary files).
pub fn generated_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::iter::once(CARGO_CONFIG)
        .chain(render::GENERATED_PATHS.iter().copied())
        .filter_map(|rel| Path::new(rel).parent().map(|p| root.join(p)))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// `root/rel`, provided that nothing between the project root and the file is a symbolic
/// link: generate writes and removes only inside the project, never through a link to
/// somewhere else (`.devcontainer -> /etc`).
pub fn inside_project(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let mut path = root.to_path_buf();
    for part in Path::new(rel).components() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(CommandError::LinkInProject(path).into());
            }
            Ok(_) => {}
            // Missing: nothing below it exists either.
            Err(_) => break,
        }
    }
    Ok(root.join(rel))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}
