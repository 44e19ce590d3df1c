//! `buildkit setup`: install every locked tool, verified, into BUILDKIT_HOME.
//!
//! Tools are fetched, verified and unpacked in parallel, each into its own staging directory;
//! then, one by one, each new binary is run once, recorded in a receipt and renamed into
//! `tools/`. The `bin/` links are switched only once every tool succeeded, so a failure changes
//! nothing visible.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use super::{Context, LockState};
use crate::Error;
use crate::fetch::{FetchOptions, Fetcher};
use crate::install::InstallError;
use crate::install::pipeline::{
    Staged, Status, ToolOutcome, archive_outcome, commit_archive, link_rust_lld, stage_archive,
};
use crate::lock::{LockedTool, Lockfile, ToolSource};
use crate::manifest::Manifest;
use crate::reporter::{Bars, Lines, Reporter, Silent};

/// `buildkit setup`'s options, as the command line gives them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SetupOptions {
    /// Fail if buildkit.lock is missing or does not match buildkit.toml, instead of updating it.
    #[arg(long)]
    pub locked: bool,
    /// No network: install only from the download cache.
    #[arg(long, env = crate::env_vars::BUILDKIT_OFFLINE, value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub offline: bool,
    /// Fetch https://HOST/PATH as MIRROR/HOST/PATH.
    #[arg(long, value_name = "URL", env = crate::env_vars::BUILDKIT_MIRROR)]
    pub mirror: Option<String>,
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
    // An empty BUILDKIT_MIRROR means none.
    let mirror = options.mirror.clone().filter(|m| !m.is_empty());
    if let Some(mirror) = &mirror
        && !["http://", "https://", "file://"]
            .iter()
            .any(|s| mirror.starts_with(s))
    {
        return Err(Error::Usage(format!(
            "mirror `{mirror}` must start with http://, https:// or file://"
        )));
    }
    let say = |line: &str| {
        if !options.quiet && !options.json {
            eprintln!("{line}");
        }
    };

    let project = ctx.project()?;
    let lock = lock_for_setup(ctx, project.as_ref(), options, &say)?;

    // A home this user cannot write (installed by root in the devcontainer, a read-only
    // mount) still serves a setup with nothing to do: everything verified in place.
    let guard = match ctx.home.lock() {
        Ok(guard) => Some(guard),
        Err(err)
            if err.is_read_only()
                && crate::install::verify_tools(&ctx.home, &lock, None).is_empty() =>
        {
            say(&format!(
                "{} is read-only here, and every locked tool is installed in it: nothing to do",
                ctx.home.root().display()
            ));
            None
        }
        Err(err) => return Err(err.into()),
    };
    if guard.is_some() {
        ctx.home.clean_leftovers();
    }
    let fetcher = Fetcher::new(FetchOptions {
        cache_dir: ctx.cache_dir.clone(),
        mirror,
        offline: options.offline,
        attempts: options.download_attempts.max(1),
        stall: ctx.stall,
        extra_roots: ctx.env.ssl_cert_file.clone(),
    });
    let reporter: Box<dyn Reporter> = if options.quiet || options.json {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines)
    };

    let mut staged = stage_missing(ctx, &lock, &fetcher, reporter.as_ref())?;
    let outcomes = commit_all(ctx, &lock, &mut staged)?;
    let bin = switch_links(ctx, &lock, &outcomes)?;
    if guard.is_some() {
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

/// Phase 1, in parallel: download and unpack what is missing, each into its own staging
/// directory. Nothing here starts a process: a fork while another thread still has a fresh
/// binary open for writing would make running that binary fail with ETXTBSY.
fn stage_missing(
    ctx: &Context,
    lock: &Lockfile,
    fetcher: &Fetcher,
    reporter: &dyn Reporter,
) -> Result<BTreeMap<crate::tool::Tool, Staged>, Error> {
    let missing: Vec<&LockedTool> = lock
        .tools
        .iter()
        .filter(|t| t.archive().is_some() && !ctx.home.is_installed(t))
        .collect();
    let staged: Vec<Result<Staged, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = missing
            .iter()
            .map(|tool| scope.spawn(move || stage_archive(&ctx.home, fetcher, tool, reporter)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Failed("an install thread panicked".into())))
            })
            .collect()
    });
    let mut errors = Vec::new();
    let mut staged_by_name = BTreeMap::new();
    for (tool, result) in missing.iter().zip(staged) {
        match result {
            Ok(dir) => {
                staged_by_name.insert(tool.name, dir);
            }
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(staged_by_name)
    } else {
        Err(several(errors))
    }
}

/// Phase 2, one tool after the other: run each new binary, write its receipt, move it into
/// place; link rust-lld.
fn commit_all(
    ctx: &Context,
    lock: &Lockfile,
    staged: &mut BTreeMap<crate::tool::Tool, Staged>,
) -> Result<Vec<ToolOutcome>, Error> {
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for tool in &lock.tools {
        let outcome = match (&tool.source, staged.remove(&tool.name)) {
            (ToolSource::RustToolchain, _) => link_rust_lld(tool, &ctx.env.rustc),
            (ToolSource::Archive(_), Some(staging)) => commit_archive(&ctx.home, tool, staging),
            (ToolSource::Archive(_), None) => {
                Ok(archive_outcome(&ctx.home, tool, Status::AlreadyInstalled))
            }
        };
        match outcome {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(outcomes)
    } else {
        Err(several(errors))
    }
}

/// Every tool is in place: now, and only now, switch what users run. The lock's own bin
/// directory first (what `buildkit env` selects for this project), then `bin/`. Returns the
/// lock's bin directory.
fn switch_links(
    ctx: &Context,
    lock: &Lockfile,
    outcomes: &[ToolOutcome],
) -> Result<PathBuf, Error> {
    let bin = ctx.home.lock_bin_dir(&lock.id());
    for dir in [&bin, &ctx.home.bin_dir()] {
        for outcome in outcomes {
            for (link, target) in &outcome.links {
                ctx.home.switch_link(dir, link, target)?;
                // gcc takes wild only as the `ld.bfd` of a directory given with -B (it knows no
                // -fuse-ld=wild): that directory sits beside the bin directory, off PATH.
                if outcome.name == "wild" && link == "wild" {
                    ctx.home.switch_link(
                        &crate::install::Home::wild_ld_dir(dir),
                        "ld.bfd",
                        target,
                    )?;
                }
            }
        }
    }
    Ok(bin)
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
                    let what = if state == LockState::Missing {
                        "is missing"
                    } else {
                        "does not match buildkit.toml"
                    };
                    return Err(Error::Usage(format!(
                        "{} {what}, and --locked forbids updating it; run `buildkit lock` and commit the result",
                        lock_path.display()
                    )));
                }
                LockState::Missing | LockState::Stale => {
                    lock.write(lock_path)?;
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
            let line = crate::encode::github_path_line(bin)
                .map_err(|e| Error::Failed(format!("{}: {e}", path.display())))?;
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

fn several(mut errors: Vec<Error>) -> Error {
    if errors.len() == 1 {
        errors.remove(0)
    } else {
        Error::Several(errors)
    }
}
