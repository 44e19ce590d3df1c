//! A shared cache's policy as this machine meets it: who writes, and whether the paths its
//! keys are made at are the ones this machine builds at.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Findings, Status};
use crate::commands::{Context, Project};
use crate::env_vars;
use crate::lock::Lockfile;

/// The shared cache as this environment uses it: whether it writes or only reads, whether its
/// layout (the project's absolute path, CARGO_HOME) is the team's, and what the sccache server
/// `buildkit env` selects has served since it started, level by level.
pub(super) fn cache_policy_findings(
    ctx: &Context,
    project: &Project,
    cache: &crate::manifest::CacheConfig,
    lock: &Lockfile,
    findings: &mut Findings,
) {
    use crate::manifest::{BuildPlace, CacheWriters};
    let place = crate::manifest::BuildPlace::of(&ctx.env);
    let policy = match cache.writers {
        CacheWriters::Ci => "write = \"ci\": CI jobs that are not a pull request write",
        CacheWriters::All => "write = \"all\"",
        CacheWriters::None => "write = \"none\"",
    };
    let here = match place {
        BuildPlace::Local => "this machine (not CI)",
        BuildPlace::CiBranch => "this CI job",
        BuildPlace::CiPullRequest => "this pull request's CI job",
    };
    let levels = if cache.local_first {
        format!("a local disk cache first, then the {} cache", cache.backend)
    } else {
        format!("the {} cache only", cache.backend)
    };
    findings.add(
        "cache policy",
        Status::Ok,
        format!(
            "{here} {} ({policy}); {levels}",
            if cache.writes(place) {
                "reads and writes the shared cache"
            } else {
                "only reads the shared cache"
            }
        ),
    );

    // sccache keys a Rust crate by absolute paths: the project's and CARGO_HOME's.
    let cargo_home = ctx
        .env
        .var(env_vars::CARGO_HOME)
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|h| h.join(".cargo")));
    let mut differs = Vec::new();
    if let Some(dir) = &cache.project_dir
        && project.root() != Path::new(dir)
    {
        differs.push(format!(
            "the project is at {}, not {dir}",
            project.root().display()
        ));
    }
    if let Some(home) = &cache.cargo_home
        && cargo_home.as_deref() != Some(Path::new(home))
    {
        differs.push(format!(
            "CARGO_HOME is {}, not {home}",
            cargo_home
                .as_deref()
                .map_or("unknown".into(), |p| p.display().to_string())
        ));
    }
    match (&cache.project_dir, differs.is_empty()) {
        (None, _) if cache.cargo_home.is_none() => findings.add(
            "cache layout",
            Status::Warn,
            "sccache keys Rust crates by absolute paths (the project's, CARGO_HOME's): set [cache] project_dir and cargo_home to where CI builds, so the devcontainer builds there too and doctor can tell whether this machine shares entries",
        ),
        (_, true) => findings.add(
            "cache layout",
            Status::Ok,
            "this machine builds at the team's layout (project_dir, cargo_home): its crates share cache entries with CI and the devcontainer",
        ),
        (_, false) => findings.add(
            "cache layout",
            Status::Warn,
            format!(
                "{}: sccache keys Rust crates by absolute paths, so builds here neither hit nor fill the team's entries (clone to the same path and set CARGO_HOME, or build in the devcontainer)",
                differs.join("; ")
            ),
        ),
    }

    // The user's own sccache server (the one `buildkit env` selects), if it is running.
    let Some(socket) = lock
        .tool(crate::tool::Tool::Sccache)
        .and_then(|t| ctx.home.sccache_socket(&t.version))
        .filter(|s| s.exists())
    else {
        return;
    };
    let bin = ctx.home.lock_bin_dir(&lock.id()).join("sccache");
    let Ok(out) = crate::child::output(
        Command::new(&bin)
            .args(["--show-stats", "--stats-format", "json"])
            .env(crate::env_vars::SCCACHE_SERVER_UDS, &socket),
        crate::child::Limits::PROBE.outside_project(),
    ) else {
        return;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return;
    };
    let levels: Vec<String> = json["stats"]["multi_level"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|level| {
            let hits = level["hits"].as_u64().unwrap_or(0);
            let misses = level["misses"].as_u64().unwrap_or(0);
            let rate = if hits + misses == 0 {
                "-".to_string()
            } else {
                format!("{:.0} %", 100.0 * hits as f64 / (hits + misses) as f64)
            };
            format!(
                "{}: {hits} hits, {misses} misses ({rate})",
                level["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if !levels.is_empty() {
        findings.add(
            "cache hits",
            Status::Ok,
            format!(
                "since this machine's sccache server started: {}",
                levels.join("; ")
            ),
        );
    }
}
