//! The checks of this machine, outside any build: what PATH finds first, whether the C driver
//! finds the configured linker, and the variables that silently beat the configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Findings, Status};
use crate::commands::Context;
use crate::env_vars;
use crate::lock::Lockfile;
use crate::manifest::{LinkerKind, Manifest};
use crate::render::CARGO_CONFIG;

/// What PATH finds first must be the locked file (through this lock's bin directory, or `bin/`
/// where it selects the same file, as in the devcontainer).
pub(super) fn path_findings(ctx: &Context, lock: &Lockfile, bin: &Path, findings: &mut Findings) {
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
pub(super) fn linker_driver_finding(manifest: &Manifest, wild_dir: &Path, findings: &mut Findings) {
    let Some((ld, signature)) = super::probe::expected_linker(manifest.linker) else {
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
            let why = match crate::child::error_line(&stderr) {
                "" => "it printed nothing",
                line => line,
            };
            findings.add(
                "linker",
                Status::Fail,
                format!("`{driver} -fuse-ld={ld}` fails: {why}"),
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
pub(super) fn environment_findings(
    env: &env_vars::BuildEnv,
    manifest: &Manifest,
    findings: &mut Findings,
) {
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

/// The first executable called `name` on PATH.
pub(super) fn which(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| {
            fs_err::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(vars: &[(&'static str, &str)], manifest: &str) -> Vec<String> {
        let mut findings = Findings::default();
        environment_findings(
            &env_vars::BuildEnv::for_test(vars),
            &Manifest::for_test(manifest),
            &mut findings,
        );
        assert!(findings.0.iter().all(|f| f.status == Status::Warn));
        findings.0.into_iter().map(|f| f.detail).collect()
    }

    const SCCACHE: &str = "[tools.sccache]\nversion = \"0.17.0\"\n";

    #[test]
    fn the_variables_that_beat_the_configuration_are_named() {
        assert_eq!(
            warnings(&[("RUSTC_WRAPPER", "/opt/sccache")], SCCACHE),
            Vec::<String>::new()
        );
        assert_eq!(
            warnings(
                &[("RUSTFLAGS", "-Cdebuginfo=0"), ("RUSTC_WRAPPER", "ccache")],
                SCCACHE
            ),
            [
                "RUSTFLAGS is set (`-Cdebuginfo=0`): cargo uses it instead of the rustflags in .cargo/config.toml, buildkit's linker flags included; unset it",
                "RUSTC_WRAPPER = `ccache`: builds go through it, not the locked sccache; unset it and `eval \"$(buildkit env)\"`",
            ]
        );
        assert_eq!(
            warnings(&[("CARGO_INCREMENTAL", "0")], ""),
            [
                "CARGO_INCREMENTAL=0 outside CI turns off incremental builds, the faster edit loop; buildkit sets it in CI only"
            ]
        );
        assert_eq!(
            warnings(&[("CARGO_INCREMENTAL", "0"), ("CI", "true")], ""),
            Vec::<String>::new()
        );
        assert_eq!(
            warnings(&[], SCCACHE),
            [
                "RUSTC_WRAPPER is not set: builds here do not use sccache (`eval \"$(buildkit env)\"`)"
            ]
        );
    }

    #[test]
    fn which_searches_path_in_order_for_executables() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&first).unwrap();
        std::fs::create_dir_all(&second).unwrap();
        std::fs::write(first.join("mold"), "").unwrap();
        crate::fsutil::write_atomically(&second.join("mold"), b"#!/bin/sh\n").unwrap();
        std::process::Command::new("chmod")
            .args(["755"])
            .arg(second.join("mold"))
            .status()
            .unwrap();
        let path = std::env::join_paths([&first, &second]).unwrap();
        assert_eq!(which("mold", &path), Some(second.join("mold")));
        assert_eq!(which("wild", &path), None);
    }
}
