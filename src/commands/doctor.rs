//! `buildkit doctor`: does this environment really build the way buildkit.toml says?
//!
//! Each line is ok, warn or fail, with what to do; any fail exits 1. Beyond comparing files, it
//! builds a probe crate *inside the project's tree*, so that cargo resolves its configuration
//! as the user's builds do (a legacy `.cargo/config`, a parent directory's, CARGO_HOME's), reads
//! which linker signed the binary and at which version, and asks a private sccache server what
//! it saw. It names the environment variables that silently beat the configuration, and the
//! workspace's dependencies compiled more than once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde::Serialize;

use super::{Context, LockState, Project};
use crate::lock::Lockfile;
use crate::manifest::{LinkerKind, Manifest};
use crate::render::{CARGO_CONFIG, Ownership};
use crate::{Error, env_vars};

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
    let (manifest, lock) = match &project {
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
    };

    let tool_problems = crate::install::verify_tools(&ctx.home, &lock, None);
    findings.pass_or_fail(
        "tools",
        tool_problems.is_empty(),
        if tool_problems.is_empty() {
            format!("{} installed as locked", lock.tools.len())
        } else {
            tool_problems.join("; ")
        },
    );
    // What `buildkit env` puts on PATH here: the project's lock's directory, or `bin/` outside
    // a project.
    let bin = if project.is_some() {
        ctx.home.lock_bin_dir(&lock.id())
    } else {
        ctx.home.bin_dir()
    };
    path_findings(ctx, &lock, &bin, &mut findings);
    linker_driver_finding(
        &manifest,
        &crate::install::Home::wild_ld_dir(&bin),
        &mut findings,
    );
    environment_findings(&ctx.env, &manifest, &mut findings);
    if let Some(p) = &project {
        project_findings(ctx, p, &manifest, &lock, &options, &mut findings);
    }

    let failed = findings.0.iter().any(|f| f.status == Status::Fail);
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&findings.0).expect("serializes")
        );
    } else {
        for f in &findings.0 {
            let mark = match f.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            crate::outln!("{mark} {:<16} {}", f.check, f.detail);
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What PATH finds first must be the locked file (through this lock's bin directory, or `bin/`
/// where it selects the same file, as in the devcontainer).
fn path_findings(ctx: &Context, lock: &Lockfile, bin: &Path, findings: &mut Findings) {
    for link in lock.tools.iter().flat_map(|t| t.binaries.keys()) {
        let found = which(link, &ctx.env.path);
        let locked = fs_err::canonicalize(bin.join(link)).ok();
        let ok = found
            .as_deref()
            .and_then(|p| fs_err::canonicalize(p).ok())
            .is_some_and(|p| Some(p) == locked);
        let detail = match found {
            Some(p) if ok => format!("{link} -> {}", p.display()),
            Some(p) => format!(
                "{link} resolves to {} first, not {}: put {} first on PATH (`eval \"$(buildkit env)\"`)",
                p.display(),
                bin.join(link).display(),
                bin.display()
            ),
            None => format!("{link} is not on PATH: `eval \"$(buildkit env)\"`"),
        };
        findings.pass_or_fail("path", ok, detail);
    }
}

/// The C driver finds the configured linker under the name `-fuse-ld` gives it.
fn linker_driver_finding(manifest: &Manifest, wild_dir: &Path, findings: &mut Findings) {
    let Some((ld, signature)) = expected_linker(manifest.linker) else {
        return;
    };
    let driver = manifest.driver.as_str();
    let mut command = Command::new(driver);
    if manifest.linker == LinkerKind::Wild {
        // As the linker script runs it: wild is the `ld.bfd` of this directory.
        command.arg(format!("-B{}", wild_dir.display()));
    }
    let output = crate::child::output(
        command.args([&format!("-fuse-ld={ld}"), "-Wl,--version"]),
        crate::child::Limits::PROBE.outside_project(),
    );
    match output {
        Ok(out) if !out.status.success() => {
            // The driver's own words: gcc's collect2 and clang each say `error` on the line
            // that names what is missing.
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = stderr
                .lines()
                .find(|l| l.contains("error"))
                .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
                .unwrap_or("it printed nothing");
            findings.add(
                "linker",
                Status::Fail,
                format!("`{driver} -fuse-ld={ld}` fails: {}", why.trim()),
            );
        }
        Ok(out) => {
            let first = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            findings.pass_or_fail(
                "linker",
                first.contains(signature),
                format!("`{driver} -fuse-ld={ld}` runs: {first}"),
            );
        }
        Err(e) => findings.add("linker", Status::Fail, format!("cannot run {driver}: {e}")),
    }
}

/// Variables that silently beat what .cargo/config.toml and `buildkit env` set.
fn environment_findings(env: &env_vars::BuildEnv, manifest: &Manifest, findings: &mut Findings) {
    for &var in env_vars::RUSTFLAGS_OVERRIDES {
        if let Some(value) = env.var(var) {
            findings.add(
                "environment",
                Status::Warn,
                format!(
                    "{var} is set (`{}`): cargo uses it instead of the rustflags in {CARGO_CONFIG}, buildkit's linker flags included; unset it",
                    value.to_string_lossy().replace('\u{1f}', " ")
                ),
            );
        }
    }
    let wants_sccache = manifest.sccache.is_some();
    for &var in env_vars::WRAPPERS {
        let Some(value) = env.var(var) else {
            continue;
        };
        let value = value.to_string_lossy().into_owned();
        let is_sccache = Path::new(&value)
            .file_name()
            .is_some_and(|n| n == "sccache");
        match (wants_sccache, is_sccache, value.is_empty()) {
            (true, true, _) => {}
            (_, _, true) if !wants_sccache => {}
            (true, _, _) => findings.add(
                "environment",
                Status::Warn,
                format!("{var} = `{value}`: builds go through it, not the locked sccache; unset it and `eval \"$(buildkit env)\"`"),
            ),
            (false, _, _) => findings.add(
                "environment",
                Status::Warn,
                format!("{var} = `{value}`: buildkit.toml has no sccache, yet builds go through it"),
            ),
        }
    }
    if wants_sccache && env_vars::WRAPPERS.iter().all(|v| env.var(v).is_none()) {
        findings.add(
            "environment",
            Status::Warn,
            "RUSTC_WRAPPER is not set: builds here do not use sccache (`eval \"$(buildkit env)\"`)",
        );
    }
    if env
        .var(env_vars::CARGO_INCREMENTAL)
        .is_some_and(|v| v == "0")
        && !env.flag(env_vars::CI)
    {
        findings.add(
            "environment",
            Status::Warn,
            "CARGO_INCREMENTAL=0 outside CI turns off incremental builds, the faster edit loop; buildkit sets it in CI only",
        );
    }
}

fn project_findings(
    ctx: &Context,
    project: &Project,
    manifest: &Manifest,
    lock: &Lockfile,
    options: &DoctorOptions,
    findings: &mut Findings,
) {
    // The remote cache: usable from here (its credentials set, its server reachable), or
    // sccache keeps to its local cache.
    if let Some(cache) = &manifest.cache
        && (cache.remote_address().is_some() || !cache.credentials.is_empty())
    {
        match super::env::unusable_remote(&ctx.env, cache) {
            None => findings.add(
                "cache",
                Status::Ok,
                format!("the {} cache is usable from here", cache.backend),
            ),
            Some(why) => findings.add(
                "cache",
                Status::Warn,
                format!("{why}: builds here use sccache's local cache"),
            ),
        }
    }
    if let Some(cache) = manifest.cache.as_ref().filter(|c| c.backend.is_remote()) {
        cache_policy_findings(ctx, project, cache, lock, findings);
    }
    for line in super::overridden_workflow_jobs(project.root(), manifest) {
        findings.add("workflows", Status::Warn, line);
    }
    if let Some(pinned) = &manifest.rust {
        match project.rust_check(&ctx.env) {
            None => findings.add(
                "rustc",
                Status::Ok,
                format!("matches toolchain.rust = \"{pinned}\""),
            ),
            Some(super::RustCheck::Overridden(note)) => findings.add("rustc", Status::Warn, note),
            Some(super::RustCheck::Differs(problem)) => {
                findings.add("rustc", Status::Fail, problem)
            }
        }
    }
    match super::plan::plan(project, false) {
        Ok(files) => {
            let drifted: Vec<&str> = files
                .iter()
                .filter(|f| f.ownership != Ownership::Example && f.needs_writing())
                .map(|f| f.rel)
                .collect();
            findings.pass_or_fail(
                "generated files",
                drifted.is_empty(),
                if drifted.is_empty() {
                    "all match buildkit.toml".to_string()
                } else {
                    format!("drifted: {} (run `buildkit generate`)", drifted.join(", "))
                },
            );
        }
        Err(e) => findings.add("generated files", Status::Fail, e.to_string()),
    }
    if let Some(tool) = lock.tool(crate::tool::Tool::Sccache) {
        let bin = ctx.home.lock_bin_dir(&lock.id()).join("sccache");
        match crate::install::version_line(&bin) {
            Ok(line) if crate::install::says_version(&line, &tool.version) => {
                findings.add("sccache version", Status::Ok, line)
            }
            Ok(line) => findings.add(
                "sccache version",
                Status::Fail,
                format!(
                    "{} says `{line}`, but buildkit.lock pins {}: run `buildkit setup`",
                    bin.display(),
                    tool.version
                ),
            ),
            Err(e) => findings.add(
                "sccache version",
                Status::Fail,
                format!("{}: {e}", bin.display()),
            ),
        }
    }
    probe_build(project.root(), &ctx.env.cargo, manifest, lock, findings);
    if !options.probe_only {
        project_build(project.root(), &ctx.env.cargo, options.offline, findings);
    }
    // The platforms this project builds for: the host rustc answers for, and the targets
    // buildkit.toml names; other targets' crates are never compiled here.
    let mut platforms: Vec<String> = crate::toolchain::active_rustc(project.root(), &ctx.env.rustc)
        .ok()
        .and_then(|r| r.host().map(str::to_string))
        .into_iter()
        .collect();
    platforms.extend(manifest.toolchain.targets.iter().flatten().cloned());
    workspace_findings(project.root(), options.offline, &platforms, findings);
}

/// The project's own build, as `cargo build` in its root would do it here (the probe proves the
/// configuration; this proves the project builds with it). Skipped without a Cargo.toml.
fn project_build(root: &Path, cargo: &std::ffi::OsStr, offline: bool, findings: &mut Findings) {
    if !root.join("Cargo.toml").is_file() {
        findings.add(
            "project",
            Status::Warn,
            format!("no Cargo.toml in {}: nothing to build", root.display()),
        );
        return;
    }
    let mut command = std::process::Command::new(cargo);
    command
        .args(["build", "--workspace", "--all-targets", "--quiet"])
        .current_dir(root);
    if offline {
        command.arg("--offline");
    }
    match crate::child::output(&mut command, crate::child::Limits::build()) {
        Ok(out) if out.status.success() => findings.add(
            "project",
            Status::Ok,
            "`cargo build --workspace --all-targets` succeeds here",
        ),
        Ok(out) => {
            let error = super::first_error(&String::from_utf8_lossy(&out.stderr));
            let first = error.lines().next().unwrap_or("").trim();
            findings.add(
                "project",
                Status::Fail,
                format!("`cargo build --workspace --all-targets` fails here: {first}"),
            );
        }
        Err(e) => findings.add(
            "project",
            Status::Fail,
            format!("cannot run {}: {e}", cargo.to_string_lossy()),
        ),
    }
}

/// Crates built in several versions for `platforms` (the host and buildkit.toml's targets;
/// every platform when empty), and members bypassing `[workspace.dependencies]`.
fn workspace_findings(root: &Path, offline: bool, platforms: &[String], findings: &mut Findings) {
    if !root.join("Cargo.toml").is_file() {
        return;
    }
    // As cargo would: fetching what a fresh clone lacks, unless told to stay offline.
    let metadata_for = |platforms: &[String]| {
        let mut command = cargo_metadata::MetadataCommand::new();
        command.current_dir(root);
        let mut options: Vec<String> = offline
            .then(|| "--offline".to_string())
            .into_iter()
            .collect();
        for platform in platforms {
            options.extend(["--filter-platform".to_string(), platform.clone()]);
        }
        command.other_options(options);
        crate::child::cargo_metadata(&command)
    };
    let metadata = metadata_for(platforms);
    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => {
            let first = e.to_string();
            findings.add(
                "dependencies",
                Status::Warn,
                format!(
                    "`cargo metadata` failed, so duplicates were not looked for: {}",
                    first.lines().next().unwrap_or("")
                ),
            );
            return;
        }
    };
    let duplicates = crate::workspace::duplicates(&metadata);
    // What the whole lock file holds beyond that: other targets' crates, said as a count.
    let elsewhere = if platforms.is_empty() {
        0
    } else {
        metadata_for(&[]).map_or(0, |all| {
            crate::workspace::duplicates(&all)
                .iter()
                .filter(|d| !duplicates.iter().any(|h| h.name == d.name))
                .count()
        })
    };
    if elsewhere > 0 {
        findings.add(
            "dependencies",
            Status::Ok,
            format!(
                "{elsewhere} more crate(s) in Cargo.lock come in several versions only for targets other than {}: never built here, left out",
                platforms.join(", ")
            ),
        );
    }
    if duplicates.is_empty() {
        findings.add(
            "dependencies",
            Status::Ok,
            "no crate is built in more than one version",
        );
    }
    for duplicate in duplicates {
        let chains: Vec<String> = duplicate.chains.values().cloned().collect();
        findings.add(
            "dependencies",
            Status::Warn,
            format!(
                "{} is built in {} versions (each compiled and linked): {}",
                duplicate.name,
                duplicate.chains.len(),
                chains.join("; ")
            ),
        );
    }
    for bypass in crate::workspace::bypasses(&metadata, |p| {
        crate::fsutil::read_text(p, crate::fsutil::MAX_TEXT_BYTES).ok()
    }) {
        findings.add(
            "dependencies",
            Status::Warn,
            format!(
                "{} declares `{}` itself although [workspace.dependencies] has it: use `{} = {{ workspace = true }}`",
                bypass.member, bypass.dependency, bypass.dependency
            ),
        );
    }
}

/// The first executable called `name` on PATH.
fn which(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| {
            fs_err::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Builds a probe crate inside the project's `target/`, where cargo reads the configuration
/// the project's own builds read, with this environment; reads which linker (and version)
/// signed it and, with sccache, what a private sccache server saw.
fn probe_build(
    root: &Path,
    cargo_program: &std::ffi::OsStr,
    manifest: &Manifest,
    lock: &Lockfile,
    findings: &mut Findings,
) {
    let parent = match super::measure::working_dir(&root.join("target"), "buildkit-doctor") {
        Ok(parent) => parent,
        Err(e) => {
            findings.add("build", Status::Fail, e.to_string());
            return;
        }
    };
    probe_build_in(root, &parent, cargo_program, manifest, lock, findings);
    // The probe's own directory went with it; its parent goes too when nothing else is there.
    let _ = std::fs::remove_dir(&parent);
}

fn probe_build_in(
    root: &Path,
    parent: &Path,
    cargo_program: &std::ffi::OsStr,
    manifest: &Manifest,
    lock: &Lockfile,
    findings: &mut Findings,
) {
    let dir = match tempfile::Builder::new().prefix("probe-").tempdir_in(parent) {
        Ok(dir) => dir,
        Err(e) => {
            findings.add(
                "build",
                Status::Fail,
                format!("cannot create a probe under {}: {e}", parent.display()),
            );
            return;
        }
    };
    let crate_dir = dir.path();
    let written = fs_err::write(crate_dir.join("Cargo.toml"), "[package]\nname = \"buildkit-doctor-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n")
        .and_then(|_| fs_err::create_dir_all(crate_dir.join("src")))
        // A library too: sccache caches library crates, not the final binary.
        .and_then(|_| fs_err::write(crate_dir.join("src/lib.rs"), "pub fn probe() -> &'static str { \"probe\" }\n"))
        .and_then(|_| fs_err::write(crate_dir.join("src/main.rs"), "fn main() { println!(\"{}\", buildkit_doctor_probe::probe()); }\n"));
    if let Err(e) = written {
        findings.add("build", Status::Fail, e.to_string());
        return;
    }
    let mut cargo = Command::new(cargo_program);
    cargo
        .args(["build", "--quiet"])
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", crate_dir.join("target"))
        // A private server (by port), so that its statistics are the probe's alone.
        .env_remove(crate::env_vars::SCCACHE_SERVER_UDS);
    let sccache_port = manifest
        .sccache
        .as_ref()
        .and_then(|_| super::measure::free_port())
        .map(|port| port.to_string());
    if let Some(port) = &sccache_port {
        cargo.env(crate::env_vars::SCCACHE_SERVER_PORT, port);
    }
    match crate::child::output(&mut cargo, crate::child::Limits::build()) {
        Ok(out) if out.status.success() => {
            let binary = crate_dir.join("target/debug/buildkit-doctor-probe");
            linker_finding(&binary, manifest, lock, findings);
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or("")
                .trim();
            findings.add(
                "build",
                Status::Fail,
                format!(
                    "a probe crate in {} failed to build with this project's configuration: {line}",
                    root.display()
                ),
            );
        }
        Err(e) => findings.add("build", Status::Fail, format!("cannot run cargo: {e}")),
    }
    if let Some(port) = sccache_port {
        sccache_finding(&port, findings);
    }
}

/// The `-fuse-ld=` name of the configured linker and how its signature starts.
fn expected_linker(kind: LinkerKind) -> Option<(&'static str, &'static str)> {
    let linker = kind.linker();
    linker.fuse_ld().zip(linker.signature_prefix())
}

/// Which linker, at which version, signed the probe, against the configuration and the lock.
fn linker_finding(binary: &Path, manifest: &Manifest, lock: &Lockfile, findings: &mut Findings) {
    let comments = crate::fsutil::read_bounded(binary, crate::elf::MAX_BINARY_BYTES)
        .ok()
        .and_then(|b| crate::elf::comment_strings(&b))
        .unwrap_or_default();
    let signature = crate::elf::linker_signature(&comments);
    let signed = signature
        .clone()
        .unwrap_or_else(|| "no signature (GNU ld)".into());
    let Some((_, prefix)) = expected_linker(manifest.linker) else {
        findings.add(
            "build",
            Status::Ok,
            format!("a probe crate linked with {signed} (linker.kind = default)"),
        );
        return;
    };
    let Some(signature) = signature.filter(|s| s.starts_with(prefix)) else {
        findings.add(
            "build",
            Status::Fail,
            format!("a probe crate linked with {signed}, not {}: something in this environment or a config file overrides the linker", prefix.trim()),
        );
        return;
    };
    // The version that signed it, against the lock's (rust-lld's is the toolchain's own).
    let seen_version = signature.split_whitespace().nth(1).unwrap_or("");
    let locked = manifest
        .linker
        .linker()
        .tool()
        .and_then(|tool| lock.tool(tool))
        .map(|t| t.version.as_str())
        .filter(|v| *v != "rust");
    match locked {
        Some(version) if version != seen_version => findings.add(
            "build",
            Status::Fail,
            format!("a probe crate linked with {signature}, but buildkit.lock pins {version}: another {} comes first", prefix.trim()),
        ),
        _ => findings.add("build", Status::Ok, format!("a probe crate linked with {signature}")),
    }
}

/// The shared cache as this environment uses it: whether it writes or only reads, whether its
/// layout (the project's absolute path, CARGO_HOME) is the team's, and what the sccache server
/// `buildkit env` selects has served since it started, level by level.
fn cache_policy_findings(
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

/// What the probe's private sccache server saw, with each count called what it is; then stops it.
fn sccache_finding(port: &str, findings: &mut Findings) {
    let sccache = |arg: &[&str]| {
        crate::child::output(
            Command::new("sccache")
                .args(arg)
                .env(crate::env_vars::SCCACHE_SERVER_PORT, port)
                .env_remove(crate::env_vars::SCCACHE_SERVER_UDS),
            crate::child::Limits::PROBE.outside_project(),
        )
    };
    let stats = sccache(&["--show-stats", "--stats-format", "json"]);
    let _ = sccache(&["--stop-server"]);
    let text = match stats {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => {
            findings.add(
                "sccache",
                Status::Fail,
                format!(
                    "its server did not answer: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            );
            return;
        }
        Err(e) => {
            findings.add("sccache", Status::Fail, format!("cannot run sccache: {e}"));
            return;
        }
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        findings.add(
            "sccache",
            Status::Fail,
            format!("unreadable statistics: {}", text.trim()),
        );
        return;
    };
    let stats = &json["stats"];
    let count = |key: &str| stats[key].as_u64().unwrap_or(0);
    let sum = |key: &str| {
        stats[key]["counts"].as_object().map_or(0, |m| {
            m.values()
                .filter_map(serde_json::Value::as_u64)
                .sum::<u64>()
        })
    };
    let requests = count("compile_requests");
    let hits = sum("cache_hits");
    let misses = sum("cache_misses");
    let errors = sum("cache_errors") + count("cache_read_errors") + count("cache_write_errors");
    let location = json["cache_location"].as_str().unwrap_or("?");
    let detail = format!(
        "the probe sent {requests} compile requests through sccache: {hits} cache hits, {misses} misses, {} not cacheable (incremental builds, binaries); cache: {location}",
        count("requests_not_cacheable")
    );
    if requests == 0 {
        findings.add("sccache", Status::Fail, "the probe build did not go through sccache: is RUSTC_WRAPPER=sccache set (`eval \"$(buildkit env)\"`)?");
    } else if errors > 0 {
        findings.add(
            "sccache",
            Status::Fail,
            format!(
                "{detail}; {errors} cache errors: the backend is not reachable or refuses writes"
            ),
        );
    } else {
        findings.add("sccache", Status::Ok, detail);
    }
}

/// `buildkit doctor --fingerprint`: one line to compare with another environment's.
pub fn fingerprint(ctx: &Context) -> Result<ExitCode, Error> {
    let project = ctx.require_project()?;
    let root = project.root();
    let rustc = crate::toolchain::active_rustc(root, &ctx.env.rustc)
        .map_err(|e| Error::Failed(format!("fingerprint: {e}")))?;
    let (lock_text, lock) = lock_as_built(ctx, &project)?;
    let inputs = crate::fingerprint::Inputs {
        rustc: rustc.verbose,
        tools: installed_digests(ctx, &lock),
        lock: lock_text,
        linker_settings: linker_settings(&ctx.env, &root.join(CARGO_CONFIG))?,
        wrapper: wrapper_name(&ctx.env),
        cache: cache_settings(&project.manifest, crate::manifest::BuildPlace::of(&ctx.env)),
    };
    crate::outln!("{}", inputs.line());
    Ok(ExitCode::SUCCESS)
}

/// The cache configuration, for the fingerprint: the backend, its settings and the names of
/// its credentials (their values are never read here).
fn cache_settings(
    manifest: &Manifest,
    ctx_place: crate::manifest::BuildPlace,
) -> BTreeMap<String, String> {
    let Some(cache) = &manifest.cache else {
        return BTreeMap::new();
    };
    let mut settings: BTreeMap<String, String> = cache.settings.clone();
    settings.insert("backend".into(), cache.backend.to_string());
    if !cache.credentials.is_empty() {
        settings.insert("credentials".into(), cache.credentials.join(","));
    }
    if cache.backend.is_remote() {
        // Who writes here and the layout: two environments whose keys or policy differ do
        // not share a cache the same way.
        settings.insert("writes here".into(), cache.writes(ctx_place).to_string());
        settings.insert("local_first".into(), cache.local_first.to_string());
        for (key, value) in [
            ("project_dir", &cache.project_dir),
            ("cargo_home", &cache.cargo_home),
        ] {
            if let Some(value) = value {
                settings.insert(key.into(), value.clone());
            }
        }
    }
    settings
}

/// buildkit.lock's text as committed (empty when there is none) and the lock it means (resolved
/// from the manifest when there is none).
fn lock_as_built(ctx: &Context, project: &Project) -> Result<(String, Lockfile), Error> {
    let lock_path = project.lock_path.as_path();
    let lock_text = Lockfile::read_text(lock_path)?.unwrap_or_default();
    let lock = if lock_text.is_empty() {
        Lockfile::resolve(&project.manifest, &ctx.registry)
    } else {
        Lockfile::parse(&lock_text, lock_path)?
    };
    Ok((lock_text, lock))
}

/// Every setting cargo would link with: the linker keys of .cargo/config.toml and the
/// variables that override them, by name.
fn linker_settings(
    env: &env_vars::BuildEnv,
    config: &Path,
) -> Result<BTreeMap<String, String>, Error> {
    let mut settings = BTreeMap::new();
    if let Ok(text) = crate::fsutil::read_text(config, crate::fsutil::MAX_TEXT_BYTES) {
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            Error::Failed(format!("{}: {}", config.display(), e.message().trim()))
        })?;
        let target = "x86_64-unknown-linux-gnu";
        for path in [
            &["target", target, "linker"][..],
            &["target", target, "rustflags"],
            &["build", "rustflags"],
            &["build", "rustc-wrapper"],
        ] {
            let item = path.iter().fold(doc.as_item(), |item, key| {
                item.get(key).unwrap_or(&toml_edit::Item::None)
            });
            if !item.is_none() {
                settings.insert(path.join("."), item.to_string().trim().to_string());
            }
        }
    }
    for var in env_vars::RUSTFLAGS_OVERRIDES
        .iter()
        .chain(std::iter::once(&env_vars::LINKER_OVERRIDE))
    {
        if let Some(value) = env.var(var) {
            settings.insert((*var).to_string(), value.to_string_lossy().into_owned());
        }
    }
    Ok(settings)
}

/// The compiler wrapper's file name. It is found on PATH, whose directories differ between
/// environments: its name counts here, and its bytes through the installed tools.
fn wrapper_name(env: &env_vars::BuildEnv) -> String {
    env_vars::WRAPPERS
        .iter()
        .find_map(|var| env.var(var).filter(|v| !v.is_empty()))
        .map(|w| {
            Path::new(&w)
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// `<tool>/<binary>` -> the sha256 of what the lock's bin directory links to ("missing" if
/// nothing).
fn installed_digests(ctx: &Context, lock: &Lockfile) -> BTreeMap<String, String> {
    let links = ctx.home.links(&ctx.home.lock_bin_dir(&lock.id()));
    let mut tools = BTreeMap::new();
    for tool in &lock.tools {
        for link in tool.binaries.keys() {
            let digest = links
                .get(link)
                .and_then(|target| crate::digest::sha256_file(target).ok())
                .unwrap_or_else(|| "missing".into());
            tools.insert(format!("{}/{link}", tool.name), digest);
        }
    }
    tools
}
