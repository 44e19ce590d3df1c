//! What `bench` and `tune` share to time the project's own build: which binary is measured
//! and which file the edit loop edits, the edit itself, and the progress line.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use crate::child::ChildError;

/// Why no binary is the one `cargo build` and `cargo run` mean: the user must say (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoBinary {
    #[error("--bin {0}: no binary target of that name in the workspace")]
    NoneNamed(String),
    #[error("--bin {name}: several packages have a binary of that name: {packages}")]
    SeveralNamed { name: String, packages: String },
    #[error("no binary target in the workspace: measuring linking needs one")]
    InTheWorkspace,
    #[error(
        "package `{package}` has several binaries and no `default-run`: {bins}; choose one with --bin NAME"
    )]
    NoDefaultRun { package: String, bins: String },
    #[error(
        "{count} packages have binaries, so which build to measure is not clear: {packages}; choose one with --bin NAME (or set `default-members`)"
    )]
    SeveralPackages { count: usize, packages: String },
}

/// What stops `bench` or `tune` from timing the project's build.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("`cargo metadata` in {root}: {source}")]
    Metadata { root: PathBuf, source: ChildError },
    #[error("{problem} (the workspace at {root})")]
    Binary { root: PathBuf, problem: NoBinary },
    #[error("cannot read the project's rustflags: {0}")]
    Rustc(crate::toolchain::ToolchainError),
    #[error("cannot run `rustc --print cfg`: {0}")]
    PrintCfg(std::io::Error),
    /// The project's configuration gives rustflags cargo would refuse.
    #[error(transparent)]
    Rustflags(#[from] crate::rustflags::RustflagsError),
    #[error(
        "{path} is held by {holder}: one tune or bench measures a project at a time; wait for it to finish, then run `buildkit {command}` again"
    )]
    Held {
        path: PathBuf,
        holder: String,
        command: &'static str,
    },
    #[error(
        "{0} is a symbolic link; buildkit works there only in a directory of its own: remove the link"
    )]
    Link(PathBuf),
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    /// A configuration uses a tool the lock's bin directory does not have.
    #[error("{0} is not installed")]
    NotInstalled(crate::tool::Tool),
    /// tune's first build, with cargo's defaults, failed: there is nothing to compare with.
    #[error("the project does not build with cargo's defaults, so there is nothing to tune: {0}")]
    NoBaseline(Box<TrialError>),
    /// The edit-loop edit cannot begin (`option`: in the file `--edit` named).
    #[error("{}{problem}", if *.option { "--edit " } else { "" })]
    Edit {
        option: bool,
        problem: SourceEditError,
    },
    /// PATH with the bin directory first cannot be written (a directory with a `:`).
    #[error("cannot put {bin_dir} first on PATH: {source}")]
    Path {
        bin_dir: PathBuf,
        source: std::env::JoinPathsError,
    },
}

/// Why one timed build gives no time. The caller says it beside the configuration and decides
/// whether the measurement goes on.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// cargo ran and failed: its first error.
    #[error("the build failed: {0}")]
    BuildFailed(String),
    #[error(transparent)]
    Measure(#[from] MeasureError),
    #[error(transparent)]
    Edit(#[from] SourceEditError),
    /// The configuration's target directory could not be emptied for a clean build.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl MeasureError {
    /// What the user must change (which binary, the project's flags, a link) is exit 2.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            MeasureError::Binary { .. }
                | MeasureError::Rustflags(_)
                | MeasureError::Link(_)
                | MeasureError::Edit { .. }
        )
    }
}

/// `tune --scenario` and `bench --scenario`: which builds are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioChoice {
    Edit,
    Clean,
    Both,
}

impl ScenarioChoice {
    pub fn scenarios(self) -> Vec<crate::tune::Scenario> {
        use crate::tune::Scenario;
        match self {
            ScenarioChoice::Edit => vec![Scenario::Edit],
            ScenarioChoice::Clean => vec![Scenario::Clean],
            ScenarioChoice::Both => vec![Scenario::Edit, Scenario::Clean],
        }
    }

    /// Whether edit-loop builds are timed.
    pub fn edit(self) -> bool {
        self != ScenarioChoice::Clean
    }

    /// Whether clean builds are timed.
    pub fn clean(self) -> bool {
        self != ScenarioChoice::Edit
    }
}

/// Which build `bench` and `tune` time: the binary, and the file each edit-loop build follows
/// an edit of.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MeasuredBuild {
    /// The binary whose link is measured (default: the one `cargo build` and `cargo run`
    /// mean: among `default-members`, the package's `default-run`).
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// The project's source file the edit loop edits: each build follows a comment line
    /// inserted at its top or removed again, put back at the end (default: the binary's
    /// main source file).
    #[arg(long, value_name = "FILE", alias = "touch")]
    pub edit: Option<PathBuf>,
}

/// The binary whose link is measured and its main source file (what the edit loop edits by
/// default), and why it is the one.
pub struct MainBinary {
    pub name: String,
    pub src: PathBuf,
    pub target_dir: PathBuf,
    /// Said in the first line: which package, and the rule that chose it.
    pub why: String,
}

/// The binary [`choose_binary`] chose: its package, its index there, and why.
pub struct Chosen<'p> {
    pub package: &'p BinPackage,
    pub bin: usize,
    pub why: String,
}

/// A package's binaries, for [`choose_binary`].
pub struct BinPackage {
    pub name: String,
    pub default_run: Option<String>,
    /// In the manifest's order, with each main source file.
    pub bins: Vec<(String, PathBuf)>,
}

/// The binary `cargo build` and `cargo run` mean, chosen as cargo does: `--bin NAME` among the
/// workspace's members; otherwise among the default members' binaries (`default-members`, else
/// the root package, else every member), then every member's where those have none; in a
/// package with several, its `default-run`. Several candidates left is an error listing them:
/// a guess would time a build the user does not mean.
pub fn choose_binary<'p>(
    defaults: &'p [BinPackage],
    members: &'p [BinPackage],
    name: Option<&str>,
) -> Result<Chosen<'p>, NoBinary> {
    if let Some(name) = name {
        return binary_named(members, name);
    }
    let with_bins = |packages: &[BinPackage]| -> Vec<usize> {
        (0..packages.len())
            .filter(|i| !packages[*i].bins.is_empty())
            .collect()
    };
    let (pool, from_defaults) = match with_bins(defaults) {
        found if !found.is_empty() => (defaults, true),
        _ => (members, false),
    };
    let candidates = with_bins(pool);
    let whose = if from_defaults {
        "the workspace's default member"
    } else {
        "the only workspace member with a binary (the default members have none)"
    };
    match candidates[..] {
        [] => Err(NoBinary::InTheWorkspace),
        [p] => {
            let package = &pool[p];
            let by_default_run = package
                .default_run
                .as_deref()
                .and_then(|run| package.bins.iter().position(|(b, _)| b == run));
            let chosen = |bin: usize, rule: &str| Chosen {
                package,
                bin,
                why: format!("{rule} of package `{}`, {whose}", package.name),
            };
            match (by_default_run, package.bins.len()) {
                (Some(bin), _) => Ok(chosen(bin, "`default-run`")),
                (None, 1) => Ok(chosen(0, "the binary")),
                _ => Err(NoBinary::NoDefaultRun {
                    package: package.name.clone(),
                    bins: list_bins(&[package]),
                }),
            }
        }
        _ => Err(NoBinary::SeveralPackages {
            count: candidates.len(),
            packages: list_bins(&candidates.iter().map(|p| &pool[*p]).collect::<Vec<_>>()),
        }),
    }
}

/// `--bin NAME`: the one member's binary of that name.
fn binary_named<'p>(members: &'p [BinPackage], name: &str) -> Result<Chosen<'p>, NoBinary> {
    let found: Vec<(usize, usize)> = members
        .iter()
        .enumerate()
        .filter_map(|(p, pkg)| pkg.bins.iter().position(|(b, _)| b == name).map(|b| (p, b)))
        .collect();
    match found[..] {
        [(p, bin)] => Ok(Chosen {
            package: &members[p],
            bin,
            why: format!("`--bin {name}` of package `{}`", members[p].name),
        }),
        [] => Err(NoBinary::NoneNamed(name.to_string())),
        _ => Err(NoBinary::SeveralNamed {
            name: name.to_string(),
            packages: list_bins(&found.iter().map(|(p, _)| &members[*p]).collect::<Vec<_>>()),
        }),
    }
}

/// `package (bin, bin); package (bin)`, as the errors list candidates.
fn list_bins(packages: &[&BinPackage]) -> String {
    packages
        .iter()
        .map(|p| {
            let bins: Vec<&str> = p.bins.iter().map(|(b, _)| b.as_str()).collect();
            format!("{} ({})", p.name, bins.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The binary the user means in the workspace at `root` ([`choose_binary`]), from `cargo
/// metadata`.
pub fn main_binary(root: &Path, name: Option<&str>) -> Result<MainBinary, Error> {
    let metadata = crate::child::cargo_metadata(
        cargo_metadata::MetadataCommand::new()
            .current_dir(root)
            .no_deps(),
    )
    .map_err(|source| MeasureError::Metadata {
        root: root.to_path_buf(),
        source,
    })?;
    let bin_package = |p: &cargo_metadata::Package| BinPackage {
        name: p.name.to_string(),
        default_run: p.default_run.clone(),
        bins: p
            .targets
            .iter()
            .filter(|t| t.is_bin())
            .map(|t| (t.name.clone(), t.src_path.clone().into_std_path_buf()))
            .collect(),
    };
    let members: Vec<BinPackage> = metadata
        .workspace_packages()
        .into_iter()
        .map(bin_package)
        .collect();
    let defaults: Vec<BinPackage> = if metadata.workspace_default_members.is_available() {
        metadata
            .workspace_default_packages()
            .into_iter()
            .map(bin_package)
            .collect()
    } else {
        Vec::new()
    };
    let chosen =
        choose_binary(&defaults, &members, name).map_err(|problem| MeasureError::Binary {
            root: root.to_path_buf(),
            problem,
        })?;
    let (bin, src) = chosen.package.bins[chosen.bin].clone();
    Ok(MainBinary {
        name: bin,
        src,
        target_dir: metadata.target_directory.clone().into_std_path_buf(),
        why: chosen.why,
    })
}

/// The rustflags the project's builds get on this host, as cargo computes them from every
/// configuration file and variable (see [`crate::rustflags`]), less buildkit's own linker
/// flags and any flag that picks the linker: what every timed build carries, the measured
/// lever added.
pub fn project_rustflags(
    env: &crate::env_vars::BuildEnv,
    root: &Path,
) -> Result<Vec<String>, Error> {
    use crate::env_vars::{
        CARGO_BUILD_RUSTFLAGS, CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS, TARGET_RUSTFLAGS,
    };
    let active = crate::machine::active_rustc(root, &env.rustc).map_err(MeasureError::Rustc)?;
    let host = active
        .host()
        .unwrap_or(crate::rustflags::DEFAULT_HOST)
        .to_string();
    let cfg = crate::child::output(
        std::process::Command::new(&env.rustc)
            .args(["--print", "cfg"])
            .current_dir(root),
        crate::child::Limits::PROBE,
    )
    .map_err(MeasureError::PrintCfg)?;
    let cfgs = crate::rustflags::parse_cfgs(&String::from_utf8_lossy(&cfg.stdout));
    // CARGO_HOME's first (lowest precedence), then from the filesystem root down to `root`.
    let mut dirs: Vec<PathBuf> = crate::env_vars::cargo_home().into_iter().collect();
    let ancestors: Vec<PathBuf> = root.ancestors().map(|d| d.join(".cargo")).collect();
    dirs.extend(ancestors.into_iter().rev());
    let mut files = Vec::new();
    let mut owned = Vec::new();
    for dir in dirs {
        let Some(path) = ["config.toml", "config"]
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.exists())
        else {
            continue;
        };
        let text = crate::fsutil::read_text_named(&path, crate::fsutil::MAX_TEXT_BYTES)?;
        if dir == root.join(".cargo") {
            owned = crate::render::owned_flags(&text);
        }
        files.push(crate::rustflags::ConfigFile { path, text });
    }
    let var = |name: &str| env.var(name).map(|v| v.to_string_lossy().into_owned());
    let vars = crate::rustflags::RustflagsVars {
        encoded: var(CARGO_ENCODED_RUSTFLAGS),
        rustflags: var(RUSTFLAGS),
        // The one target buildkit generates for.
        target: (host == crate::rustflags::DEFAULT_HOST)
            .then(|| var(TARGET_RUSTFLAGS))
            .flatten(),
        build: var(CARGO_BUILD_RUSTFLAGS),
    };
    let flags = crate::rustflags::host_rustflags(&files, &host, &cfgs, &vars)
        .map_err(MeasureError::from)?;
    Ok(crate::rustflags::without_linker_choice(&flags, &owned))
}

/// Held while `tune` or `bench` measures a project: one at a time per target directory, since
/// both edit the same source file and build into the same directories.
pub struct MeasureLock {
    _file: std::fs::File,
}

/// The lock file in `target_dir`, beside the working directories it guards.
const MEASURE_LOCK: &str = "buildkit-measure.lock";

/// Takes the project's measuring lock for `command` (`tune`, `bench`), or says who holds it.
/// Taken before anything is edited: a running measurement's edit is never taken for a
/// leftover.
pub fn lock_project(target_dir: &Path, command: &'static str) -> Result<MeasureLock, Error> {
    use std::io::{Read as _, Seek as _, Write as _};
    let path = target_dir.join(MEASURE_LOCK);
    let file_err = |action: &'static str| {
        let path = path.clone();
        move |source| Error::File {
            action,
            path,
            source,
        }
    };
    fs_err::create_dir_all(target_dir)?;
    refuse_link(&path)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(file_err("open"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = (&file).take(256).read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(MeasureError::Held {
                path,
                holder: if holder.is_empty() {
                    "another buildkit".to_string()
                } else {
                    crate::encode::Inert(holder).to_string()
                },
                command,
            }
            .into());
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(file_err("lock")(source)),
    }
    file.set_len(0).map_err(file_err("write"))?;
    file.rewind().map_err(file_err("write"))?;
    writeln!(file, "buildkit {command} (pid {})", std::process::id()).map_err(file_err("write"))?;
    Ok(MeasureLock { _file: file })
}

/// `target_dir/name`, created, as a directory of its own: a symbolic link there (which would
/// send tune's or bench's builds and files elsewhere) is refused.
pub fn working_dir(target_dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let dir = target_dir.join(name);
    refuse_link(&dir)?;
    fs_err::create_dir_all(&dir)?;
    Ok(dir)
}

fn refuse_link(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(MeasureError::Link(path.to_path_buf()).into())
        }
        _ => Ok(()),
    }
}

/// `cargo build --quiet` in `root` into `target_dir`, with the lock's `bin_dir` first on PATH
/// (the pinned linkers and sccache, never others found on PATH first). Callers add what their
/// configuration sets.
pub fn cargo_build(
    env: &crate::env_vars::BuildEnv,
    root: &Path,
    bin_dir: &Path,
    target_dir: &Path,
) -> Result<Command, MeasureError> {
    let mut paths = vec![bin_dir.to_path_buf()];
    paths.extend(std::env::split_paths(&env.path));
    let mut cargo = Command::new(&env.cargo);
    cargo
        .arg("build")
        .arg("--quiet")
        .current_dir(root)
        .env(
            crate::env_vars::PATH,
            std::env::join_paths(paths).map_err(|source| MeasureError::Path {
                bin_dir: bin_dir.to_path_buf(),
                source,
            })?,
        )
        .env("CARGO_TARGET_DIR", target_dir);
    Ok(cargo)
}

/// What a timed build follows: a clean target directory, an edit of the edit loop's file (for
/// the incremental cache named `cache`), or nothing (a warm build).
pub enum Before<'a> {
    Clean(&'a Path),
    Edit {
        edit: &'a std::cell::RefCell<SourceEdit>,
        cache: &'a str,
    },
    Nothing,
}

/// One timed build, as bench and tune both make it: `before` done, `cargo` run within its
/// limits and timed, and a failed build said by cargo's first error.
pub fn time_build(before: Before<'_>, cargo: &mut Command) -> Result<f64, TrialError> {
    match before {
        Before::Clean(target_dir) => {
            if target_dir.exists() {
                fs_err::remove_dir_all(target_dir)?;
            }
        }
        Before::Edit { edit, cache } => edit.borrow_mut().change_for(cache)?,
        Before::Nothing => {}
    }
    let (seconds, output) = run_timed(cargo)?;
    match failure(&output) {
        Some(why) => Err(why),
        None => Ok(seconds),
    }
}

/// Runs a build, timing it: the seconds and what cargo printed.
fn run_timed(cargo: &mut Command) -> Result<(f64, std::process::Output), MeasureError> {
    let started = std::time::Instant::now();
    let output =
        crate::child::output(cargo, crate::child::Limits::build()).map_err(MeasureError::Cargo)?;
    Ok((started.elapsed().as_secs_f64(), output))
}

/// Why a timed build does not count, if it failed: cargo's first error.
fn failure(output: &std::process::Output) -> Option<TrialError> {
    (!output.status.success()).then(|| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        TrialError::BuildFailed(super::first_error(&stderr))
    })
}

/// One progress line on a terminal (rewritten in place), plain lines otherwise.
/// A loopback port free right now, for a private sccache server (`SCCACHE_SERVER_PORT`), so
/// that its statistics and its cache directory are one measurement's alone; `None` where none
/// can be bound.
pub fn free_port() -> Option<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .ok()
}

/// sccache's own port, where no free one could be found.
pub const SCCACHE_DEFAULT_PORT: u16 = 4226;

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

mod edit;
#[cfg(test)]
mod tests;

#[cfg(test)]
use edit::{BOM, EDIT_MARK, marked, unmarked};
pub use edit::{SourceEdit, SourceEditError};
