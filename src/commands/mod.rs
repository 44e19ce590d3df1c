//! One module per subcommand: the only place that orchestrates I/O. Shared set-up (directories,
//! manifest discovery, lock resolution) lives here so every command sees the same world.

pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod doctor;
pub(crate) mod env;
pub(crate) mod error;
pub(crate) mod gc;
pub(crate) mod generate;
pub(crate) mod init;
pub(crate) mod list;
pub(crate) mod lock;
pub(crate) mod measure;
pub(crate) mod outdated;
pub(crate) mod plan;
pub(crate) mod project;
pub(crate) mod provision;
pub(crate) mod setup;
pub(crate) mod tune;

use std::path::{Path, PathBuf};

use crate::Error;
use crate::env_vars;
use crate::install::Home;
use crate::lock::{LOCK_FILE, Lockfile};
use crate::manifest::Manifest;
use crate::registry::Registry;
pub use error::CommandError;
pub use project::{LockState, Project, RustCheck};

/// What every command needs to know about where it runs.
pub struct Context {
    pub cwd: PathBuf,
    pub config: Option<PathBuf>,
    pub home: Home,
    pub cache_dir: PathBuf,
    pub registry: Registry,
    /// RUSTC, CARGO, PATH and the like, read once.
    pub env: env_vars::BuildEnv,
    /// How long a download or an API response may go without progress
    /// (BUILDKIT_STALL_SECONDS); every network read's deadline follows from it.
    pub stall: std::time::Duration,
}

impl Context {
    pub fn from_env(
        config: Option<PathBuf>,
        home: Option<PathBuf>,
        cache_dir: Option<PathBuf>,
    ) -> Result<Context, Error> {
        let cwd = std::env::current_dir().map_err(CommandError::CurrentDir)?;
        let dirs = directories::ProjectDirs::from("", "", "buildkit");
        let pick = |given: Option<PathBuf>,
                    var: &'static str,
                    default: Option<PathBuf>,
                    what: &'static str|
         -> Result<PathBuf, CommandError> {
            match given.filter(|v| !v.as_os_str().is_empty()) {
                Some(value) => Ok(cwd.join(value)),
                None => default.ok_or(CommandError::NoDirectory { what, var }),
            }
        };
        let home = pick(
            home,
            env_vars::BUILDKIT_HOME,
            dirs.as_ref().map(|d| d.data_dir().to_path_buf()),
            "data",
        )?;
        let cache_dir = pick(
            cache_dir,
            env_vars::BUILDKIT_CACHE_DIR,
            dirs.as_ref().map(|d| d.cache_dir().to_path_buf()),
            "cache",
        )?;
        Ok(Context {
            config: config.map(|c| cwd.join(c)),
            cwd,
            home: Home::new(home),
            cache_dir,
            registry: Registry::embedded(),
            env: env_vars::BuildEnv::from_process(),
            stall: std::time::Duration::from_secs(crate::fetch::DEFAULT_STALL_SECONDS),
        })
    }

    /// `--config`, else the nearest buildkit.toml upwards; `None` when there is none.
    pub fn manifest_path(&self) -> Result<Option<PathBuf>, Error> {
        let found = match &self.config {
            Some(path) if path.symlink_metadata().is_err() => {
                return Err(CommandError::ConfigMissing(path.clone()).into());
            }
            Some(path) => Some(path.clone()),
            None => project::discover(&self.cwd),
        };
        if let Some(path) = &found {
            project::check_regular_file(path)?;
        }
        Ok(found)
    }

    /// The project's manifest, or an error saying how to create one.
    pub fn require_project(&self) -> Result<Project, Error> {
        self.project()?
            .ok_or_else(|| CommandError::NoProject(self.cwd.clone()).into())
    }

    pub fn project(&self) -> Result<Option<Project>, Error> {
        let Some(path) = self.manifest_path()? else {
            return Ok(None);
        };
        let manifest = project::load_manifest(&path, &self.registry)?;
        let root = path
            .parent()
            .map_or_else(|| self.cwd.clone(), Path::to_path_buf);
        Ok(Some(Project {
            manifest,
            lock_path: root.join(LOCK_FILE),
            root,
        }))
    }

    /// The lock that should be in effect, and whether the file on disk differs from it.
    pub fn resolve_lock(&self, project: &Project) -> Result<(Lockfile, LockState), Error> {
        let resolved = Lockfile::resolve(&project.manifest, &self.registry);
        let state = match project::read_lock(&project.lock_path)? {
            None => LockState::Missing,
            Some(existing) if existing == resolved => LockState::Fresh,
            Some(_) => LockState::Stale,
        };
        Ok((resolved, state))
    }
}

/// The project's workflow jobs whose choice of Rust the rust-toolchain.toml buildkit writes
/// overrides ([`crate::workflows`]), a line each with the fix; none where buildkit writes no
/// channel there (`[toolchain] file = false`, or no `rust`).
fn overridden_workflow_jobs(root: &Path, manifest: &Manifest) -> Vec<String> {
    let Some(rust) = manifest.rust.as_ref().filter(|_| manifest.toolchain.file) else {
        return Vec::new();
    };
    let dir = root.join(".github/workflows");
    let Ok(entries) = fs_err::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        // A workflow that is not a readable regular file is GitHub's problem, not this hint's.
        let Ok(bytes) = crate::fsutil::read_bounded(&file, crate::fsutil::MAX_TEXT_BYTES) else {
            continue;
        };
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for job in crate::workflows::overridden_jobs(&String::from_utf8_lossy(&bytes)) {
            lines.push(format!(
                "{rel}:{}: job `{}` chooses its Rust with {}, which rust-toolchain.toml overrides: it builds with {rust}; give the job `env: RUSTUP_TOOLCHAIN: <its Rust>` (buildkit's book, docs/src/ci.md: A CI matrix that builds with other toolchains), or set `[toolchain] file = false` in buildkit.toml",
                job.line, job.job, job.selector
            ));
        }
    }
    lines
}

/// Warns, in one line, when `dir` (where buildkit.toml is or is being written) holds no
/// Cargo.toml: buildkit.toml belongs at a workspace's root.
fn warn_without_cargo_toml(dir: &Path) {
    if !dir.join("Cargo.toml").is_file() {
        eprintln!(
            "warning: no Cargo.toml in {}: buildkit.toml belongs at the root of a Cargo workspace",
            dir.display()
        );
    }
}

/// cargo's first error, whole: from its `error` line to the blank line that ends it (the
/// source excerpt and notes included), or the last line of output when none says `error`.
fn first_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("error")) else {
        return lines.last().map_or("", |l| l.trim()).to_string();
    };
    lines[start..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}
