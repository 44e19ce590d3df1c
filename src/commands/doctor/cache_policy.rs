//! A shared cache's policy as this machine meets it: who writes, and whether the paths its
//! keys are made at are the ones this machine builds at.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Findings, Status};
use crate::commands::{Context, Project};
use crate::env_vars;
use crate::lock::Lockfile;
use crate::manifest::{BuildPlace, CacheConfig, CacheWriters};

/// The shared cache as this environment uses it: whether it writes or only reads, whether its
/// layout (the project's absolute path, CARGO_HOME) is the team's, and what the sccache server
/// `buildkit env` selects has served since it started, level by level.
pub(super) fn cache_policy_findings(
    ctx: &Context,
    project: &Project,
    cache: &CacheConfig,
    lock: &Lockfile,
    findings: &mut Findings,
) {
    policy_finding(cache, BuildPlace::of(&ctx.env), findings);
    // sccache keys a Rust crate by absolute paths: the project's and CARGO_HOME's.
    let cargo_home = ctx
        .env
        .var(env_vars::CARGO_HOME)
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|h| h.join(".cargo")));
    layout_finding(cache, project.root(), cargo_home.as_deref(), findings);

    // The user's own sccache server (the one `buildkit env` selects), if it is running.
    let Some(socket) = lock
        .tool(crate::tool::Tool::Sccache)
        .and_then(|t| t.version())
        .and_then(|version| ctx.home.sccache_socket(version))
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
    if let Ok(stats) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
        hits_finding(&stats, findings);
    }
}

/// Who writes the shared cache, whether this place does, and the levels in front of it.
fn policy_finding(cache: &CacheConfig, place: BuildPlace, findings: &mut Findings) {
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
}

/// Whether this machine builds at the team's layout: sccache keys a Rust crate by the
/// project's and CARGO_HOME's absolute paths.
fn layout_finding(
    cache: &CacheConfig,
    project_root: &Path,
    cargo_home: Option<&Path>,
    findings: &mut Findings,
) {
    let mut differs = Vec::new();
    if let Some(dir) = &cache.project_dir
        && project_root != Path::new(dir)
    {
        differs.push(format!(
            "the project is at {}, not {dir}",
            project_root.display()
        ));
    }
    if let Some(home) = &cache.cargo_home
        && cargo_home != Some(Path::new(home))
    {
        differs.push(format!(
            "CARGO_HOME is {}, not {home}",
            cargo_home.map_or("unknown".into(), |p| p.display().to_string())
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
}

/// `sccache --show-stats --stats-format json`'s levels, as hits and misses each.
fn hits_finding(stats: &serde_json::Value, findings: &mut Findings) {
    let levels: Vec<String> = stats["stats"]["multi_level"]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_cache(text: &str) -> CacheConfig {
        crate::manifest::Manifest::for_test(text)
            .cache
            .expect("a [cache] table")
    }

    const REDIS: &str = "[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nendpoint = \"redis://cache:6379\"\n";

    fn details(findings: &Findings) -> Vec<(&'static str, Status, &str)> {
        findings
            .0
            .iter()
            .map(|f| (f.check, f.status, f.detail.as_str()))
            .collect()
    }

    #[test]
    fn the_policy_says_who_writes_from_where() {
        let cache = shared_cache(REDIS);
        let mut findings = Findings::default();
        policy_finding(&cache, BuildPlace::CiPullRequest, &mut findings);
        policy_finding(&cache, BuildPlace::CiBranch, &mut findings);
        assert_eq!(
            details(&findings),
            [
                (
                    "cache policy",
                    Status::Ok,
                    "this pull request's CI job only reads the shared cache (write = \"ci\": CI jobs that are not a pull request write); a local disk cache first, then the redis cache"
                ),
                (
                    "cache policy",
                    Status::Ok,
                    "this CI job reads and writes the shared cache (write = \"ci\": CI jobs that are not a pull request write); a local disk cache first, then the redis cache"
                ),
            ]
        );
    }

    #[test]
    fn the_layout_is_compared_path_by_path() {
        let unset = shared_cache(REDIS);
        let set = shared_cache(&format!(
            "{REDIS}project_dir = \"/work/app\"\ncargo_home = \"/home/ci/.cargo\"\n"
        ));
        let mut findings = Findings::default();
        layout_finding(&unset, Path::new("/work/app"), None, &mut findings);
        layout_finding(
            &set,
            Path::new("/work/app"),
            Some(Path::new("/home/ci/.cargo")),
            &mut findings,
        );
        layout_finding(&set, Path::new("/src/app"), None, &mut findings);
        let statuses: Vec<Status> = findings.0.iter().map(|f| f.status).collect();
        assert_eq!(statuses, [Status::Warn, Status::Ok, Status::Warn]);
        assert!(findings.0[2].detail.starts_with(
            "the project is at /src/app, not /work/app; CARGO_HOME is unknown, not /home/ci/.cargo: "
        ));
    }

    #[test]
    fn hits_are_counted_per_level() {
        let stats = serde_json::json!({"stats": {"multi_level": [
            {"name": "disk", "hits": 3, "misses": 1},
            {"name": "redis", "hits": 0, "misses": 0},
        ]}});
        let mut findings = Findings::default();
        hits_finding(&stats, &mut findings);
        hits_finding(&serde_json::json!({"stats": {}}), &mut findings);
        assert_eq!(
            details(&findings),
            [(
                "cache hits",
                Status::Ok,
                "since this machine's sccache server started: disk: 3 hits, 1 misses (75 %); redis: 0 hits, 0 misses (-)"
            )]
        );
    }
}
