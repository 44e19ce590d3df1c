//! The probe: a crate built inside the project's tree with its configuration, whose binary
//! says which linker signed it, and whose build a private sccache server saw.

use std::path::Path;
use std::process::Command;

use super::{Findings, Status};
use crate::lock::Lockfile;
use crate::manifest::{LinkerKind, Manifest};

/// Builds a probe crate inside the project's `target/`, where cargo reads the configuration
/// the project's own builds read, with this environment; reads which linker (and version)
/// signed it and, with sccache, what a private sccache server saw.
pub(super) fn probe_build(
    root: &Path,
    cargo_program: &std::ffi::OsStr,
    manifest: &Manifest,
    lock: &Lockfile,
    findings: &mut Findings,
) {
    let parent =
        match crate::commands::measure::working_dir(&root.join("target"), "buildkit-doctor") {
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

pub(super) fn probe_build_in(
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
        .and_then(|_| crate::commands::measure::free_port())
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
            let line = crate::child::error_line(&err);
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
pub(super) fn expected_linker(kind: LinkerKind) -> Option<(&'static str, &'static str)> {
    let linker = kind.linker();
    linker.fuse_ld().zip(linker.signature_prefix())
}

/// Which linker, at which version, signed the probe, against the configuration and the lock.
pub(super) fn linker_finding(
    binary: &Path,
    manifest: &Manifest,
    lock: &Lockfile,
    findings: &mut Findings,
) {
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
        .and_then(|t| t.version())
        .map(|v| v.as_str());
    match locked {
        Some(version) if version != seen_version => findings.add(
            "build",
            Status::Fail,
            format!("a probe crate linked with {signature}, but buildkit.lock pins {version}: another {} comes first", prefix.trim()),
        ),
        _ => findings.add("build", Status::Ok, format!("a probe crate linked with {signature}")),
    }
}

/// What the probe's private sccache server saw, with each count called what it is; then stops it.
pub(super) fn sccache_finding(port: &str, findings: &mut Findings) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_linker_is_asked_for_by_its_fuse_ld_name_and_known_by_its_signature() {
        assert_eq!(expected_linker(LinkerKind::Mold), Some(("mold", "mold ")));
        assert_eq!(expected_linker(LinkerKind::Lld), Some(("lld", "LLD ")));
        assert_eq!(expected_linker(LinkerKind::Default), None);
    }
}
