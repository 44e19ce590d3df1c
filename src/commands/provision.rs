//! Installing a lock's tools into BUILDKIT_HOME: what `setup` does for the project, and `tune`
//! for the linkers it measures. Phase 1 stages every missing tool in parallel, phase 2 commits
//! them one by one, and only once all succeeded are the links switched, so a failure changes
//! nothing visible. Lives below both commands, so neither calls the other.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Context;
use crate::Error;
use crate::fetch::{FetchOptions, Fetcher};
use crate::install::pipeline::{
    Staged, Status, ToolOutcome, archive_outcome, commit_archive, link_rust_lld, stage_archive,
};
use crate::lock::{LockedTool, Lockfile, ToolSource};
use crate::reporter::Reporter;

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
                    .unwrap_or_else(|_| Err(super::CommandError::InstallPanicked.into()))
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
            (ToolSource::Archive(archive), None) => Ok(archive_outcome(
                &ctx.home,
                tool,
                archive,
                Status::AlreadyInstalled,
            )),
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

fn several(mut errors: Vec<Error>) -> Error {
    if errors.len() == 1 {
        errors.remove(0)
    } else {
        Error::Several(errors)
    }
}

/// Where downloads come from, as `setup`, `tune` and `init --tune` take it from the command
/// line (or BUILDKIT_OFFLINE and BUILDKIT_MIRROR).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DownloadOptions {
    /// No network: install only what the download cache holds.
    #[arg(long, env = crate::env_vars::BUILDKIT_OFFLINE, value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub offline: bool,
    /// Fetch https://HOST/PATH as MIRROR/HOST/PATH.
    #[arg(long, value_name = "URL", env = crate::env_vars::BUILDKIT_MIRROR)]
    pub mirror: Option<String>,
}

impl DownloadOptions {
    /// How to provision with these options: the mirror checked.
    pub fn provision<'a>(
        &self,
        attempts: u32,
        reporter: &'a dyn Reporter,
    ) -> Result<Provision<'a>, Error> {
        Ok(Provision {
            offline: self.offline,
            mirror: mirror(self.mirror.clone())?,
            attempts,
            reporter,
        })
    }
}

/// How to get the tools: from the network (through a mirror) or the download cache only.
pub struct Provision<'a> {
    pub offline: bool,
    /// `MIRROR/HOST/PATH` for `https://HOST/PATH`; checked by [`mirror`].
    pub mirror: Option<String>,
    pub attempts: u32,
    pub reporter: &'a dyn Reporter,
}

/// What an install left in place.
pub struct Installed {
    pub outcomes: Vec<ToolOutcome>,
    /// The lock's own bin directory.
    pub bin: PathBuf,
    /// Whether BUILDKIT_HOME was taken (false: a read-only home that had everything already).
    pub home_written: bool,
}

/// `--mirror` / BUILDKIT_MIRROR: empty means none; anything else must be a URL buildkit
/// fetches from.
pub fn mirror(option: Option<String>) -> Result<Option<String>, Error> {
    let mirror = option.filter(|m| !m.is_empty());
    if let Some(mirror) = &mirror
        && !crate::fetch::is_download_url(mirror)
    {
        return Err(super::CommandError::Mirror(mirror.clone()).into());
    }
    Ok(mirror)
}

/// Installs every tool of `lock` that is missing, verified, and switches the lock's bin
/// directory and `bin/` to them.
pub fn install(
    ctx: &Context,
    lock: &Lockfile,
    how: Provision<'_>,
    say: &dyn Fn(&str),
) -> Result<Installed, Error> {
    // A home this user cannot write (installed by root in the devcontainer, a read-only
    // mount) still serves an install with nothing to do: everything verified in place.
    let guard = match ctx.home.lock() {
        Ok(guard) => Some(guard),
        Err(err)
            if err.is_read_only()
                && crate::install::verify_tools(&ctx.home, lock, None).is_empty() =>
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
        mirror: how.mirror,
        offline: how.offline,
        attempts: how.attempts.max(1),
        stall: ctx.stall,
        extra_roots: ctx.env.ssl_cert_file.clone(),
    });
    let mut staged = stage_missing(ctx, lock, &fetcher, how.reporter)?;
    let outcomes = commit_all(ctx, lock, &mut staged)?;
    let bin = switch_links(ctx, lock, &outcomes)?;
    Ok(Installed {
        outcomes,
        bin,
        home_written: guard.is_some(),
    })
}
