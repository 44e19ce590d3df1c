//! The checks of the project: the remote cache from here, its workflows, the active rustc,
//! the generated files, the locked sccache, then the probe and the project's own build, and
//! the dependencies the workspace builds more than once.

use std::path::Path;

use super::{DoctorOptions, Findings, Status};
use crate::commands::{Context, Project};
use crate::lock::Lockfile;
use crate::manifest::Manifest;
use crate::render::Ownership;

pub(super) fn project_findings(
    ctx: &Context,
    project: &Project,
    manifest: &Manifest,
    lock: &Lockfile,
    options: &DoctorOptions,
    findings: &mut Findings,
) {
    remote_cache_finding(ctx, manifest, findings);
    if let Some(cache) = manifest.cache.as_ref().filter(|c| c.backend.is_remote()) {
        super::cache_policy::cache_policy_findings(ctx, project, cache, lock, findings);
    }
    for line in crate::commands::overridden_workflow_jobs(project.root(), manifest) {
        findings.add("workflows", Status::Warn, line);
    }
    rustc_finding(ctx, project, manifest, findings);
    generated_files_finding(project, findings);
    production_image_findings(project.root(), findings);
    sccache_version_finding(ctx, lock, findings);
    super::probe::probe_build(project.root(), &ctx.env.cargo, manifest, lock, findings);
    if !options.probe_only {
        project_build(project.root(), &ctx.env.cargo, options.offline, findings);
    }
    // The platforms this project builds for: the host rustc answers for, and the targets
    // buildkit.toml names; other targets' crates are never compiled here.
    let mut platforms: Vec<String> = crate::machine::active_rustc(project.root(), &ctx.env.rustc)
        .ok()
        .and_then(|r| r.host().map(str::to_string))
        .into_iter()
        .collect();
    platforms.extend(manifest.toolchain.targets.iter().flatten().cloned());
    workspace_findings(project.root(), options.offline, &platforms, findings);
}

/// The remote cache: usable from here (its credentials set, its server reachable), or sccache
/// keeps to its local cache.
fn remote_cache_finding(ctx: &Context, manifest: &Manifest, findings: &mut Findings) {
    if let Some(cache) = &manifest.cache
        && (cache.remote_address().is_some() || !cache.credentials.is_empty())
    {
        match crate::commands::env::unusable_remote(&ctx.env, cache) {
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
}

/// The active rustc against `toolchain.rust`.
fn rustc_finding(ctx: &Context, project: &Project, manifest: &Manifest, findings: &mut Findings) {
    if let Some(pinned) = &manifest.rust {
        match project.rust_check(&ctx.env) {
            None => findings.add(
                "rustc",
                Status::Ok,
                format!("matches toolchain.rust = \"{pinned}\""),
            ),
            Some(crate::commands::RustCheck::Overridden(note)) => {
                findings.add("rustc", Status::Warn, note)
            }
            Some(crate::commands::RustCheck::Differs(problem)) => {
                findings.add("rustc", Status::Fail, problem)
            }
        }
    }
}

/// Every generated file as buildkit.toml would write it now.
fn generated_files_finding(project: &Project, findings: &mut Findings) {
    match crate::commands::plan::plan(project, false) {
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
}

/// The project's own Dockerfiles at its root (a production image, most often): a stage that runs
/// `cargo build` from a `rust:` image builds without the pinned tools and settings.
fn production_image_findings(root: &Path, findings: &mut Findings) {
    let Ok(entries) = fs_err::read_dir(root) else {
        return;
    };
    let mut files: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| {
            name == "Dockerfile"
                || name == "Containerfile"
                || name.starts_with("Dockerfile.")
                || name.ends_with(".Dockerfile")
        })
        .collect();
    files.sort();
    for name in files {
        let Ok(text) = crate::fsutil::read_text(&root.join(&name), crate::fsutil::MAX_TEXT_BYTES)
        else {
            continue;
        };
        for stage in crate::dockerfile::cargo_stages(&text)
            .into_iter()
            .filter(|s| s.starts_from_a_rust_image())
        {
            findings.add(
                "production image",
                Status::Warn,
                format!(
                    "{name}:{}: the stage that runs cargo starts from {}, not from buildkit's toolchain stage: it builds without the linker, tools and settings buildkit.lock pins; start it from an image built with `--target {}` from .devcontainer/Dockerfile (buildkit's book, docs/src/devcontainer.md)",
                    stage.line,
                    crate::encode::Inert(&stage.from),
                    crate::render::TOOLCHAIN_STAGE
                ),
            );
        }
    }
}

/// The locked sccache, as this project's bin directory runs it.
fn sccache_version_finding(ctx: &Context, lock: &Lockfile, findings: &mut Findings) {
    if let Some(tool) = lock.tool(crate::tool::Tool::Sccache) {
        let bin = ctx.home.lock_bin_dir(&lock.id()).join("sccache");
        match crate::install::version_line(&bin) {
            Ok(line) if tool.version().is_some_and(|v| v.is_said_by(&line)) => {
                findings.add("sccache version", Status::Ok, line)
            }
            Ok(line) => findings.add(
                "sccache version",
                Status::Fail,
                format!(
                    "{} says `{line}`, but buildkit.lock pins {}: run `buildkit setup`",
                    bin.display(),
                    tool.label()
                ),
            ),
            Err(e) => findings.add(
                "sccache version",
                Status::Fail,
                format!("{}: {e}", bin.display()),
            ),
        }
    }
}

/// The project's own build, as `cargo build` in its root would do it here (the probe proves the
/// configuration; this proves the project builds with it). Skipped without a Cargo.toml.
pub(super) fn project_build(
    root: &Path,
    cargo: &std::ffi::OsStr,
    offline: bool,
    findings: &mut Findings,
) {
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
            let error = crate::commands::first_error(&String::from_utf8_lossy(&out.stderr));
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
pub(super) fn workspace_findings(
    root: &Path,
    offline: bool,
    platforms: &[String],
    findings: &mut Findings,
) {
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
    if !platforms.is_empty() {
        // What the whole lock file holds beyond that: other targets' crates, said as a count.
        if let Ok(all) = metadata_for(&[]) {
            elsewhere_finding(&duplicates, &all, platforms, findings);
        }
    }
    duplicate_findings(&duplicates, findings);
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

/// Crates Cargo.lock holds in several versions only for targets other than `platforms`.
fn elsewhere_finding(
    duplicates: &[crate::workspace::Duplicate],
    all: &cargo_metadata::Metadata,
    platforms: &[String],
    findings: &mut Findings,
) {
    let elsewhere = crate::workspace::duplicates(all)
        .iter()
        .filter(|d| !duplicates.iter().any(|h| h.name == d.name))
        .count();
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
}

/// Each crate built in more than one version, with the chains that pull each in.
fn duplicate_findings(duplicates: &[crate::workspace::Duplicate], findings: &mut Findings) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_cargo_toml_has_nothing_to_build_and_no_graph() {
        let dir = tempfile::tempdir().unwrap();
        let mut findings = Findings::default();
        // No cargo is started: the missing Cargo.toml is seen first.
        project_build(
            dir.path(),
            "/nonexistent/cargo".as_ref(),
            false,
            &mut findings,
        );
        workspace_findings(dir.path(), true, &[], &mut findings);
        assert_eq!(findings.0.len(), 1);
        assert_eq!(findings.0[0].check, "project");
        assert_eq!(findings.0[0].status, Status::Warn);
        assert_eq!(
            findings.0[0].detail,
            format!(
                "no Cargo.toml in {}: nothing to build",
                dir.path().display()
            )
        );
    }
}
