//! What buildkit asks the machine it runs on, at the edge: the rustc that is active in a
//! directory, the toolchains rustup has, today's date, the workspace's `rust-version` and
//! where the running buildkit was installed from. Each runs the process or reads the clock or
//! the file, then hands the text to the pure parser of `toolchain`, `workspace` or
//! `provenance`, which is tested on text alone.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::provenance::InstalledFrom;
use crate::toolchain::{ActiveRustc, RustVersion, ToolchainError};

/// The rustc that cargo would use in `dir` (rustup resolves rust-toolchain.toml from there).
pub fn active_rustc(dir: &Path, rustc: &OsStr) -> Result<ActiveRustc, ToolchainError> {
    let rustc = rustc.to_string_lossy().into_owned();
    let output = crate::child::output(
        Command::new(&rustc).arg("-vV").current_dir(dir),
        crate::child::Limits::PROBE,
    )
    .map_err(|source| ToolchainError::Spawn {
        rustc: rustc.clone(),
        source,
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ToolchainError::Failed {
            rustc,
            stderr: stderr.lines().next().unwrap_or("").trim().to_string(),
        });
    }
    ActiveRustc::parse(&rustc, String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Today, in days since 1970-01-01 (UTC).
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 86_400) as i64
}

/// The stable toolchains rustup has installed, by version (`rustup toolchain list`: `1.95.0-…`
/// by name, `stable-…` by what its rustc says). Empty without rustup.
pub fn installed_stables(dir: &Path) -> Vec<RustVersion> {
    let Ok(output) = crate::child::output(
        Command::new("rustup")
            .args(["toolchain", "list"])
            .current_dir(dir),
        crate::child::Limits::PROBE,
    ) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        match crate::toolchain::listed_stable(line) {
            Ok(version) => found.push(version),
            Err(Some(name)) => {
                if let Ok(out) = crate::child::output(
                    Command::new("rustc")
                        .args([&format!("+{name}"), "--version"])
                        .current_dir(dir),
                    crate::child::Limits::PROBE,
                ) && let Some(version) =
                    crate::toolchain::version_of(&String::from_utf8_lossy(&out.stdout))
                {
                    found.push(version);
                }
            }
            Err(None) => {}
        }
    }
    found
}

/// [`crate::workspace::highest_rust_version`] of the workspace at `dir` (`cargo metadata
/// --no-deps`: no network); `None` where there is no workspace or no member declares one.
pub fn required_rust(dir: &Path, cargo: &OsStr) -> Option<(String, RustVersion)> {
    let metadata = crate::child::cargo_metadata(
        cargo_metadata::MetadataCommand::new()
            .cargo_path(cargo)
            .current_dir(dir)
            .no_deps(),
    )
    .ok()?;
    crate::workspace::highest_rust_version(&metadata)
}

/// Where the running buildkit came from: the `.crates2.json` of the install root it runs from
/// (`ROOT/bin/buildkit`); `None` for a binary cargo did not install (a `target/` build, a copy).
pub fn running_buildkit() -> Option<InstalledFrom> {
    let exe = std::env::current_exe().ok()?;
    let root = exe.parent()?.parent()?;
    let text = crate::fsutil::read_text(&root.join(".crates2.json"), crate::fsutil::MAX_TEXT_BYTES)
        .ok()?;
    crate::provenance::parse_crates2(&text, "buildkit")
}
