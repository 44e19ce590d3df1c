//! The files `generate` writes, as they are and as buildkit.toml renders them: one plan that
//! `generate` carries out and `check` and `doctor` compare, so the three never disagree.

use std::path::{Path, PathBuf};

use super::Project;
use crate::Error;
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
    if let Some(crate::manifest::BuildkitSource::Path { path }) = &manifest.buildkit {
        let tree = root.join(path).join("Cargo.toml");
        if !tree.is_file() {
            return Err(Error::Usage(format!(
                "{}: `buildkit.path` = \"{path}\" holds no Cargo.toml ({} is missing); CI and the devcontainer build buildkit from there",
                manifest.path.as_deref().unwrap_or(root).display(),
                tree.display()
            )));
        }
    }
    let read = |rel: &str| -> Result<Option<String>, Error> {
        let path = inside_project(root, rel)?;
        match crate::fsutil::read_text_named(&path, crate::fsutil::MAX_TEXT_BYTES) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    };

    // cargo reads a legacy `.cargo/config` instead of `config.toml` when both exist: settings
    // written to config.toml would be silently ignored.
    let legacy = root.join(".cargo/config");
    if legacy.is_file() {
        return Err(Error::Usage(format!(
            "{} is a legacy cargo config, which cargo reads instead of {CARGO_CONFIG}: rename it to {CARGO_CONFIG} (merging the two if both exist), then run `buildkit generate`",
            legacy.display()
        )));
    }

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
    // rust-toolchain.toml is merged too: buildkit owns the channel and what [toolchain] names.
    // With `file = false` buildkit hands a file it generated back without its header (and
    // removes one left empty), and leaves any other alone.
    let toolchain_current = read(RUST_TOOLCHAIN)?;
    let opted_out = !manifest.toolchain.file;
    if !(opted_out
        && toolchain_current
            .as_deref()
            .is_none_or(|t| !render::is_generated(t)))
    {
        let wanted = if opted_out {
            // Handed back as it is, without buildkit's header: the project's from now on.
            render::without_header(toolchain_current.as_deref().unwrap_or(""))
        } else {
            render::merge_rust_toolchain(
                toolchain_current.as_deref(),
                &render::toolchain_keys(manifest),
                &root.join(RUST_TOOLCHAIN),
                force,
            )?
        };
        let left_empty = opted_out && render::is_empty_but_header(&wanted);
        planned.push(PlannedFile {
            rel: RUST_TOOLCHAIN,
            path: root.join(RUST_TOOLCHAIN),
            current: toolchain_current,
            wanted,
            ownership: if left_empty {
                Ownership::Stale
            } else {
                Ownership::Owned
            },
            executable: false,
            lacks_execute: false,
        });
    }
    for file in render::render_files(manifest, &bootstrap)? {
        let current = read(file.path)?;
        let path = root.join(file.path);
        if let Some(text) = &current
            && file.ownership == Ownership::Owned
            && !render::is_generated(text)
            && !force
        {
            return Err(Error::Usage(format!(
                "{} exists and was not generated by buildkit; move it aside, or re-run with --force to replace it",
                path.display()
            )));
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
                return Err(Error::Usage(format!(
                    "{} is a symbolic link; buildkit writes generated files only inside the project, never through a link: replace it with the directory or file itself",
                    path.display()
                )));
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
