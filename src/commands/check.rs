//! `buildkit check`: exit 1 when a generated file or an installed tool drifted from
//! buildkit.toml and its lock. CI runs it, so drift fails the build.

use std::process::ExitCode;

use super::generate::plan;
use super::{Context, LockState};
use crate::Error;
use crate::fetch::sha256_file;
use crate::install::Home;
use crate::lock::{LockedTool, Lockfile, ToolSource};
use crate::render::Ownership;

pub fn run(ctx: &Context) -> Result<ExitCode, Error> {
    let project = ctx.require_project()?;
    let mut problems: Vec<String> = Vec::new();

    let (lock, state) = ctx.resolve_lock(&project)?;
    match state {
        LockState::Missing => {
            problems.push("buildkit.lock is missing: run `buildkit lock` and commit it".into())
        }
        LockState::Stale => problems.push(
            "buildkit.lock does not match buildkit.toml: run `buildkit lock` and commit it".into(),
        ),
        LockState::Fresh | LockState::NoFile => {}
    }

    let files = match plan(&project, false) {
        Ok(files) => files,
        Err(err @ (Error::Usage(_) | Error::Render(_))) => {
            problems.push(err.to_string());
            Vec::new()
        }
        Err(err) => return Err(err),
    };
    let mut checked_files = 0;
    for file in files.iter().filter(|f| f.ownership == Ownership::Owned) {
        checked_files += 1;
        match &file.current {
            None => problems.push(format!("{} is missing: run `buildkit generate`", file.rel)),
            Some(current) if current != &file.wanted => {
                let diff = similar::TextDiff::from_lines(current.as_str(), file.wanted.as_str());
                print!(
                    "{}",
                    diff.unified_diff().context_radius(3).header(
                        &format!("a/{}", file.rel),
                        &format!("b/{} (as buildkit.toml renders it)", file.rel)
                    )
                );
                problems.push(drift_message(file.rel, current, &file.wanted));
            }
            Some(_) => {}
        }
    }

    if let Some(problem) = project.rust_problem() {
        problems.push(problem);
    }

    let tool_problems = check_tools(&ctx.home, &lock);
    let checked_tools = lock.tools.len();
    problems.extend(tool_problems);

    if problems.is_empty() {
        eprintln!(
            "ok: {checked_files} generated files and {checked_tools} tools match buildkit.toml and buildkit.lock"
        );
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("drift: {problem}");
    }
    Err(Error::Failed(format!(
        "{} thing(s) drifted from buildkit.toml",
        problems.len()
    )))
}

/// One line for a drifted file: where it first differs, and what to do. A file buildkit owns
/// that was edited by hand says so, since `generate` would throw the edit away.
fn drift_message(rel: &str, current: &str, wanted: &str) -> String {
    let line = current
        .lines()
        .zip(wanted.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| current.lines().count().min(wanted.lines().count()))
        + 1;
    let edited = current
        .lines()
        .nth(line - 1)
        .map(|l| format!(" (`{}`)", l.trim()))
        .unwrap_or_default();
    if rel.starts_with(".github/") || rel.starts_with(".gitlab/") {
        format!(
            "{rel}:{line}: differs from what buildkit.toml renders{edited}; buildkit owns this file: put your own steps in your workflow (which calls it), then run `buildkit generate`"
        )
    } else {
        format!("{rel}:{line}: drifted from buildkit.toml{edited}: run `buildkit generate`")
    }
}

/// Each locked tool is installed as its receipt says, its binaries hash as they did at install
/// time, and the `bin/` links select it.
pub fn check_tools(home: &Home, lock: &Lockfile) -> Vec<String> {
    let mut problems = Vec::new();
    let links = home.links();
    for tool in &lock.tools {
        if let Err(problem) = check_tool(home, tool, &links) {
            problems.push(problem);
        }
    }
    problems
}

fn check_tool(
    home: &Home,
    tool: &LockedTool,
    links: &std::collections::BTreeMap<String, std::path::PathBuf>,
) -> Result<(), String> {
    let label = tool.label();
    if tool.source == ToolSource::RustToolchain {
        for link in tool.binaries.keys() {
            match links.get(link) {
                Some(target) if target.is_file() => {}
                Some(target) => {
                    return Err(format!(
                        "{label}: bin/{link} points at {}, which is gone: run `buildkit setup`",
                        target.display()
                    ));
                }
                None => {
                    return Err(format!(
                        "{label}: bin/{link} is missing: run `buildkit setup`"
                    ));
                }
            }
        }
        return Ok(());
    }
    let Some(receipt) = home.read_receipt(&tool.name, &tool.version) else {
        return Err(format!("{label} is not installed: run `buildkit setup`"));
    };
    if Some(&receipt.sha256) != tool.sha256.as_ref() {
        return Err(format!(
            "{label} is installed from sha256 {}, but buildkit.lock pins {}: run `buildkit setup`",
            receipt.sha256,
            tool.sha256.as_deref().unwrap_or("?")
        ));
    }
    let dir = home.tool_dir(&tool.name, &tool.version);
    for (path, digest) in &receipt.binaries {
        let file = dir.join(path);
        match sha256_file(&file) {
            Ok(actual) if &actual == digest => {}
            Ok(actual) => {
                return Err(format!(
                    "{label}: {} changed since it was installed (sha256 {actual}, receipt says {digest}): run `buildkit setup` after removing {}",
                    file.display(),
                    dir.display()
                ));
            }
            Err(e) => return Err(format!("{label}: cannot read {}: {e}", file.display())),
        }
    }
    for (link, path) in &tool.binaries {
        let expected = home
            .bin_dir()
            .join(Home::link_target(&tool.name, &tool.version, path));
        match links.get(link) {
            Some(target) if target == &expected => {}
            _ => {
                return Err(format!(
                    "{label}: bin/{link} does not point at it: run `buildkit setup`"
                ));
            }
        }
    }
    Ok(())
}
