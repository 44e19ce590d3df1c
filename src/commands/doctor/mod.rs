//! `buildkit doctor`: does this environment really build the way buildkit.toml says?
//!
//! Each line is ok, warn or fail, with what to do; any fail exits 1. Beyond comparing files, it
//! builds a probe crate *inside the project's tree*, so that cargo resolves its configuration
//! as the user's builds do (a legacy `.cargo/config`, a parent directory's, CARGO_HOME's), reads
//! which linker signed the binary and at which version, and asks a private sccache server what
//! it saw. It names the environment variables that silently beat the configuration, and the
//! workspace's dependencies compiled more than once.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

mod cache_policy;
mod environment;
mod fingerprint;
mod probe;
mod project;

pub use fingerprint::fingerprint;

use super::{Context, LockState};
use crate::Error;
use crate::lock::Lockfile;
use crate::manifest::Manifest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Finding {
    check: &'static str,
    status: Status,
    /// `status != fail`, for scripts that only ask whether to worry.
    ok: bool,
    detail: String,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, check: &'static str, status: Status, detail: impl Into<String>) {
        self.0.push(Finding {
            check,
            status,
            ok: status != Status::Fail,
            detail: detail.into(),
        });
    }

    fn pass_or_fail(&mut self, check: &'static str, ok: bool, detail: impl Into<String>) {
        self.add(check, if ok { Status::Ok } else { Status::Fail }, detail);
    }
}

/// `buildkit doctor`'s options, as the command line gives them.
#[derive(Debug, clap::Args)]
pub struct DoctorOptions {
    /// Print the findings as JSON (one object per finding) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Build only a probe crate with the project's configuration, not the project itself
    /// (the fast check; a project that does not build is then not caught).
    #[arg(long)]
    pub probe_only: bool,
    /// Do not let cargo touch the network (it reads dependencies from its cache only), as
    /// `cargo --offline` does.
    #[arg(long)]
    pub offline: bool,
    /// Print one line (a digest of rustc, the lock, the linker settings, the wrapper and the
    /// installed tools) to compare this environment with another.
    #[arg(long, conflicts_with = "json")]
    pub fingerprint: bool,
}

pub fn run(ctx: &Context, options: DoctorOptions) -> Result<ExitCode, Error> {
    let json = options.json;
    let mut findings = Findings::default();
    let project = ctx.project()?;
    let (manifest, lock) = manifest_and_lock(ctx, project.as_ref(), &mut findings)?;

    let tool_problems = crate::install::verify_tools(&ctx.home, &lock, None);
    findings.pass_or_fail(
        "tools",
        tool_problems.is_empty(),
        if tool_problems.is_empty() {
            format!("{} installed as locked", lock.tools.len())
        } else {
            tool_problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        },
    );
    // What `buildkit env` puts on PATH here: the project's lock's directory, or `bin/` outside
    // a project.
    let bin = if project.is_some() {
        ctx.home.lock_bin_dir(&lock.id())
    } else {
        ctx.home.bin_dir()
    };
    environment::path_findings(ctx, &lock, &bin, &mut findings);
    environment::linker_driver_finding(
        &manifest,
        &crate::install::Home::wild_ld_dir(&bin),
        &mut findings,
    );
    environment::environment_findings(&ctx.env, &manifest, &mut findings);
    if let Some(p) = &project {
        project::project_findings(ctx, p, &manifest, &lock, &options, &mut findings);
    }

    let failed = findings.0.iter().any(|f| f.status == Status::Fail);
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&findings.0).expect("serializes")
        );
    } else {
        crate::out!("{}", table(&findings.0));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The manifest and its lock, or (without a buildkit.toml) the default set's; whether the
/// lock matches.
fn manifest_and_lock(
    ctx: &Context,
    project: Option<&super::Project>,
    findings: &mut Findings,
) -> Result<(Manifest, Lockfile), Error> {
    Ok(match project {
        Some(p) => {
            findings.add(
                "manifest",
                Status::Ok,
                p.manifest
                    .path
                    .as_deref()
                    .unwrap_or(Path::new("?"))
                    .display()
                    .to_string(),
            );
            let (lock, state) = ctx.resolve_lock(p)?;
            match state {
                LockState::Fresh => findings.add("lock", Status::Ok, "matches buildkit.toml"),
                LockState::Missing => {
                    findings.add("lock", Status::Fail, "missing: run `buildkit lock`")
                }
                LockState::Stale => findings.add(
                    "lock",
                    Status::Fail,
                    "does not match buildkit.toml: run `buildkit lock`",
                ),
            }
            (p.manifest.clone(), lock)
        }
        None => {
            findings.add(
                "manifest",
                Status::Ok,
                "no buildkit.toml here or above: checking the default set",
            );
            let manifest = Manifest::default_set(&ctx.registry);
            let lock = Lockfile::resolve(&manifest, &ctx.registry);
            (manifest, lock)
        }
    })
}

/// The findings as text: a mark, the check and what was found, a line each.
fn table(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let mark = match f.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            format!("{mark} {:<16} {}\n", f.check, f.detail)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_read_as_a_table_and_only_fail_is_not_ok() {
        let mut findings = Findings::default();
        findings.add("manifest", Status::Ok, "/p/buildkit.toml");
        findings.pass_or_fail("lock", false, "missing: run `buildkit lock`");
        findings.add("environment", Status::Warn, "RUSTFLAGS is set");
        assert_eq!(
            table(&findings.0),
            "ok   manifest         /p/buildkit.toml\nFAIL lock             missing: run `buildkit lock`\nwarn environment      RUSTFLAGS is set\n"
        );
        let ok: Vec<bool> = findings.0.iter().map(|f| f.ok).collect();
        assert_eq!(ok, [true, false, true]);
    }
}
