//! `buildkit setup`: install every locked tool, verified, into BUILDKIT_HOME.
//!
//! Tools are fetched, verified and unpacked in parallel, each into its own staging directory;
//! then, one by one, each new binary is run once, recorded in a receipt and renamed into
//! `tools/`. The `bin/` links are switched only once every tool succeeded, so a failure changes
//! nothing visible.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use super::provision::Installed;
use super::{Context, LockState};
use crate::Error;
use crate::install::InstallError;
use crate::install::pipeline::{Status, ToolOutcome};
use crate::lock::{LockedTool, Lockfile, ToolSource};
use crate::manifest::Manifest;
use crate::reporter::{Bars, Lines, Reporter, Silent};

/// `buildkit setup`'s options, as the command line gives them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SetupOptions {
    /// Fail if buildkit.lock is missing or does not match buildkit.toml, instead of updating it.
    #[arg(long)]
    pub locked: bool,
    #[command(flatten)]
    pub download: super::provision::DownloadOptions,
    /// Also put the bin dir on PATH for the CI job ($GITHUB_PATH, or printed exports).
    #[arg(long)]
    pub ci: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print a machine-readable summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Tries per download, on network, stall and 5xx errors.
    #[arg(long, env = crate::env_vars::BUILDKIT_DOWNLOAD_ATTEMPTS, default_value_t = crate::fetch::DEFAULT_ATTEMPTS, hide = true)]
    pub download_attempts: u32,
}

#[derive(Serialize)]
struct Summary<'a> {
    #[serde(serialize_with = "crate::output::lossy_path")]
    home: &'a Path,
    #[serde(serialize_with = "crate::output::lossy_path")]
    bin: PathBuf,
    #[serde(serialize_with = "lossy_option")]
    lock: Option<&'a Path>,
    tools: &'a [ToolOutcome],
}

fn lossy_option<S: serde::Serializer>(path: &Option<&Path>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => crate::output::lossy_path(path, s),
        None => s.serialize_none(),
    }
}

pub fn run(ctx: &Context, options: &SetupOptions) -> Result<ExitCode, Error> {
    let say = |line: &str| {
        if !options.quiet && !options.json {
            eprintln!("{line}");
        }
    };

    let project = ctx.project()?;
    let lock = lock_for_setup(ctx, project.as_ref(), options, &say)?;
    let reporter: Box<dyn Reporter> = if options.quiet || options.json {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines)
    };
    let how = options
        .download
        .provision(options.download_attempts, reporter.as_ref())?;
    let Installed {
        outcomes,
        bin,
        home_written,
    } = super::provision::install(ctx, &lock, how, &say)?;
    if home_written {
        record(ctx, &lock, project.as_ref())?;
    }

    for outcome in &outcomes {
        let verb = match outcome.status {
            Status::Installed => "installed",
            Status::AlreadyInstalled => "already installed",
            Status::LinkedFromToolchain => "linked from the Rust toolchain",
        };
        say(&format!("{} {}: {verb}", outcome.name, outcome.version));
    }
    if options.ci {
        publish_for_ci(&bin, ctx.env.github_path.as_deref(), options.json)?;
    }
    if options.json {
        let summary = Summary {
            home: ctx.home.root(),
            bin: bin.clone(),
            lock: project.as_ref().map(|p| p.lock_path.as_path()),
            tools: &outcomes,
        };
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summary serializes")
        );
    } else if !on_path(&bin, &ctx.env.path) && !options.ci {
        say(&format!(
            "{} is not on PATH: run `eval \"$(buildkit env)\"` or add it to your shell profile",
            bin.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// What later commands need: the directory for each sccache version's server socket (`env`),
/// and this project among those using the home (`gc`).
fn record(ctx: &Context, lock: &Lockfile, project: Option<&super::Project>) -> Result<(), Error> {
    if lock.tool(crate::tool::Tool::Sccache).is_some() {
        let run = ctx.home.run_dir();
        std::fs::create_dir_all(&run)
            .map_err(|source| InstallError::Write { path: run, source })?;
    }
    if let Some(project) = project {
        ctx.home.record_project(&project.lock_path)?;
    }
    // Best effort: a read-only shared cache still serves this setup.
    if let Err(e) = crate::install::record_cache_user(&ctx.cache_dir, ctx.home.root()) {
        eprintln!(
            "warning: {e}; gc in another home sharing this cache cannot see this home's pins"
        );
    }
    Ok(())
}

/// The lock to install: the project's (written when missing or stale, unless `--locked`), or
/// the embedded default set's when there is no buildkit.toml.
fn lock_for_setup(
    ctx: &Context,
    project: Option<&super::Project>,
    options: &SetupOptions,
    say: &dyn Fn(&str),
) -> Result<Lockfile, Error> {
    Ok(match project {
        Some(project) => {
            let (lock, state) = ctx.resolve_lock(project)?;
            let lock_path = project.lock_path.as_path();
            match state {
                LockState::Missing | LockState::Stale if options.locked => {
                    return Err(super::CommandError::LockedButStale {
                        lock: lock_path.to_path_buf(),
                        missing: state == LockState::Missing,
                    }
                    .into());
                }
                LockState::Missing | LockState::Stale => {
                    super::project::write_lock(&lock, lock_path)?;
                    say(&format!("wrote {}", lock_path.display()));
                }
                LockState::Fresh => {}
            }
            lock
        }
        None => {
            let manifest = Manifest::default_set(&ctx.registry);
            let lock = Lockfile::resolve(&manifest, &ctx.registry);
            say(&format!(
                "no buildkit.toml in {} or its parents: installing the default set ({})",
                ctx.cwd.display(),
                lock.tools
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            lock
        }
    })
}

fn describe(tool: &LockedTool) -> String {
    match &tool.source {
        ToolSource::Archive(_) => tool.label(),
        ToolSource::RustToolchain => format!("{} from the Rust toolchain", tool.name),
    }
}

fn on_path(dir: &Path, path: &std::ffi::OsStr) -> bool {
    std::env::split_paths(path).any(|p| p == dir)
}

/// GitHub Actions: append to $GITHUB_PATH; elsewhere print an export line for the CI script.
fn publish_for_ci(bin: &Path, github_path: Option<&Path>, json: bool) -> Result<(), Error> {
    let bin = super::env::utf8_path(bin)?;
    match github_path {
        Some(path) => {
            let line = crate::encode::github_path_line(bin).map_err(|source| {
                super::CommandError::GithubPath {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            let path = path.to_path_buf();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(|source| InstallError::Write {
                    path: path.clone(),
                    source,
                })?;
            writeln!(f, "{line}").map_err(|source| InstallError::Write { path, source })?;
        }
        None if !json => crate::outln!("export PATH={}:\"$PATH\"", crate::encode::sh_word(bin)),
        None => {}
    }
    Ok(())
}
