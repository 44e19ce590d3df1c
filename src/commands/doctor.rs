//! `buildkit doctor`: does this environment really build the way buildkit.toml says?
//!
//! Beyond comparing files, it asks the C driver which linker `-fuse-ld` picks, builds a tiny
//! crate with the project's cargo settings, and reads the linker's signature out of the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde::Serialize;

use super::{Context, LockState};
use crate::Error;
use crate::lock::Lockfile;
use crate::manifest::{LinkerKind, Manifest};
use crate::render::{CARGO_CONFIG, Ownership};

#[derive(Debug, Serialize)]
struct Finding {
    check: &'static str,
    ok: bool,
    detail: String,
}

pub fn run(ctx: &Context, json: bool) -> Result<ExitCode, Error> {
    let mut findings = Vec::new();
    let mut add = |check, ok, detail: String| findings.push(Finding { check, ok, detail });

    let project = ctx.project()?;
    let manifest = match &project {
        Some(p) => {
            add(
                "manifest",
                true,
                format!(
                    "{}",
                    p.manifest
                        .path
                        .as_deref()
                        .unwrap_or(Path::new("?"))
                        .display()
                ),
            );
            p.manifest.clone()
        }
        None => {
            add(
                "manifest",
                true,
                "no buildkit.toml here or above: checking the default set".into(),
            );
            Manifest::default_set(&ctx.registry)
        }
    };
    let lock = match &project {
        Some(p) => {
            let (lock, state) = ctx.resolve_lock(p)?;
            let (ok, detail) = match state {
                LockState::Fresh | LockState::NoFile => (true, "matches buildkit.toml".to_string()),
                LockState::Missing => (false, "missing: run `buildkit lock`".to_string()),
                LockState::Stale => (
                    false,
                    "does not match buildkit.toml: run `buildkit lock`".to_string(),
                ),
            };
            add("lock", ok, detail);
            lock
        }
        None => Lockfile::resolve(&manifest, &ctx.registry),
    };

    let tool_problems = super::check::check_tools(&ctx.home, &lock);
    add(
        "tools",
        tool_problems.is_empty(),
        if tool_problems.is_empty() {
            format!("{} installed as locked", lock.tools.len())
        } else {
            tool_problems.join("; ")
        },
    );

    // What PATH finds first must be the locked file (through this lock's bin directory, or
    // `bin/` where it selects the same file, as in the devcontainer).
    let bin = ctx.home.lock_bin_dir(&lock.id());
    for link in lock.tools.iter().flat_map(|t| t.binaries.keys()) {
        let found = which(link);
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
        add("path", ok, detail);
    }

    if let Some((ld, signature)) = expected_linker(manifest.linker) {
        let driver = manifest.driver.as_str();
        let output = Command::new(driver)
            .args([&format!("-fuse-ld={ld}"), "-Wl,--version"])
            .output();
        let (ok, detail) = match output {
            Ok(out) => {
                let first = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                (
                    out.status.success() && first.contains(signature),
                    format!("`{driver} -fuse-ld={ld}` runs: {first}"),
                )
            }
            Err(e) => (false, format!("cannot run {driver}: {e}")),
        };
        add("linker", ok, detail);
    }

    if let Some(p) = &project
        && let Some(pinned) = &p.manifest.rust
    {
        match p.rust_problem() {
            None => add(
                "rustc",
                true,
                format!("matches toolchain.rust = \"{pinned}\""),
            ),
            Some(problem) => add("rustc", false, problem),
        }
    }

    if let Some(p) = &project {
        match super::generate::plan(p, false) {
            Ok(files) => {
                let drifted: Vec<&str> = files
                    .iter()
                    .filter(|f| f.ownership != Ownership::Example && f.needs_writing())
                    .map(|f| f.rel)
                    .collect();
                add(
                    "generated files",
                    drifted.is_empty(),
                    if drifted.is_empty() {
                        "all match buildkit.toml".into()
                    } else {
                        format!("drifted: {} (run `buildkit generate`)", drifted.join(", "))
                    },
                );
            }
            Err(e) => add("generated files", false, e.to_string()),
        }
        if let Some(root) = p.root() {
            for (check, ok, detail) in probe_build(root, &manifest) {
                add(check, ok, detail);
            }
        }
    }

    let all_ok = findings.iter().all(|f| f.ok);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&findings).expect("serializes")
        );
    } else {
        for f in &findings {
            println!(
                "{} {:<16} {}",
                if f.ok { "ok  " } else { "FAIL" },
                f.check,
                f.detail
            );
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The first executable called `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            fs_err::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Builds a probe crate with the project's .cargo/config.toml, reads which linker signed the
/// binary, and (with sccache configured) asks a private sccache server how many compilations
/// went through it.
fn probe_build(root: &Path, manifest: &Manifest) -> Vec<(&'static str, bool, String)> {
    let Ok(dir) = tempfile::tempdir() else {
        return vec![("build", false, "cannot create a temporary directory".into())];
    };
    let crate_dir = dir.path().join("probe");
    let written = fs_err::create_dir_all(crate_dir.join("src"))
        .and_then(|_| fs_err::write(crate_dir.join("Cargo.toml"), "[package]\nname = \"buildkit-doctor-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n"))
        // A library too: sccache caches library crates, not the final binary.
        .and_then(|_| fs_err::write(crate_dir.join("src/lib.rs"), "pub fn probe() -> &'static str { \"probe\" }\n"))
        .and_then(|_| fs_err::write(crate_dir.join("src/main.rs"), "fn main() { println!(\"{}\", buildkit_doctor_probe::probe()); }\n"));
    if let Err(e) = written {
        return vec![("build", false, e.to_string())];
    }
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .arg("build")
        .arg("--quiet")
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", dir.path().join("target"));
    let config = root.join(CARGO_CONFIG);
    if config.is_file() {
        cargo.arg("--config").arg(&config);
    }
    // A private sccache server, so that its statistics are the probe's alone.
    let sccache_port = manifest
        .sccache
        .as_ref()
        .and_then(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port().to_string());
    if let Some(port) = &sccache_port {
        cargo.env("SCCACHE_SERVER_PORT", port);
    }
    let built = match cargo.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or("")
                .trim()
                .to_string();
            Err(format!(
                "a probe crate failed to build with {}: {line}",
                config.display()
            ))
        }
        Err(e) => Err(format!("cannot run cargo: {e}")),
    };
    let mut findings = Vec::new();
    match built {
        Ok(()) => findings.push(linker_finding(
            &dir.path().join("target/debug/buildkit-doctor-probe"),
            manifest,
        )),
        Err(detail) => findings.push(("build", false, detail)),
    }
    if let Some(port) = sccache_port {
        findings.push(sccache_finding(&port));
    }
    findings
}

/// The `-fuse-ld=` name of the configured linker and how its signature starts ("mold 2.41.0 …",
/// "LLD 22.1.2 …"), both in `--version` output and in a binary's `.comment`.
fn expected_linker(kind: LinkerKind) -> Option<(&'static str, &'static str)> {
    match kind {
        LinkerKind::Mold => Some(("mold", "mold ")),
        LinkerKind::Lld => Some(("lld", "LLD ")),
        LinkerKind::Default => None,
    }
}

fn linker_finding(binary: &Path, manifest: &Manifest) -> (&'static str, bool, String) {
    let comments = fs_err::read(binary)
        .ok()
        .and_then(|b| crate::elf::comment_strings(&b))
        .unwrap_or_default();
    let signature = crate::elf::linker_signature(&comments);
    let expected = expected_linker(manifest.linker).map(|(_, signature)| signature);
    let signed = signature
        .clone()
        .unwrap_or_else(|| "no signature (GNU ld)".into());
    match expected {
        Some(prefix) if signature.as_deref().is_some_and(|s| s.starts_with(prefix)) => {
            ("build", true, format!("a probe crate linked with {signed}"))
        }
        Some(prefix) => (
            "build",
            false,
            format!("a probe crate linked with {signed}, not {}", prefix.trim()),
        ),
        None => (
            "build",
            true,
            format!("a probe crate linked with {signed} (linker.kind = default)"),
        ),
    }
}

/// How many compilations of the probe build the private sccache server saw; then stops it.
fn sccache_finding(port: &str) -> (&'static str, bool, String) {
    let sccache = |arg: &str| {
        Command::new("sccache")
            .arg(arg)
            .env("SCCACHE_SERVER_PORT", port)
            .output()
    };
    let stats = sccache("--show-stats");
    let _ = sccache("--stop-server");
    let text = match stats {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => {
            return (
                "sccache",
                false,
                format!(
                    "`sccache --show-stats` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            );
        }
        Err(e) => return ("sccache", false, format!("cannot run sccache: {e}")),
    };
    let requests = text
        .lines()
        .find(|l| l.starts_with("Compile requests") && !l.contains("executed"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    if requests > 0 {
        (
            "sccache",
            true,
            format!("the probe build sent {requests} compile requests through sccache"),
        )
    } else {
        ("sccache", false, "the probe build did not go through sccache: is RUSTC_WRAPPER=sccache set (`eval \"$(buildkit env)\"`)?".into())
    }
}

/// Environment variables that change how cargo links, read into the fingerprint as they are.
const LINKER_OVERRIDES: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
];

/// `buildkit doctor --fingerprint`: one line to compare with another environment's.
pub fn fingerprint(ctx: &Context) -> Result<ExitCode, Error> {
    let project = ctx.require_project()?;
    let root = project
        .root()
        .expect("a project read from a file has a root");
    let rustc = crate::toolchain::active_rustc(root)
        .map_err(|e| Error::Failed(format!("fingerprint: {e}")))?;
    let lock_path = project
        .lock_path
        .as_deref()
        .expect("a project read from a file has a lock path");
    let lock_text = match fs_err::read_to_string(lock_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::Failed(e.to_string())),
    };
    let lock = match Lockfile::read(lock_path)? {
        Some(lock) => lock,
        None => Lockfile::resolve(&project.manifest, &ctx.registry),
    };

    let mut linker_settings = std::collections::BTreeMap::new();
    let config = root.join(CARGO_CONFIG);
    if let Ok(text) = fs_err::read_to_string(&config) {
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            Error::Failed(format!("{}: {}", config.display(), e.message().trim()))
        })?;
        let target = "x86_64-unknown-linux-gnu";
        for path in [
            ["target", target, "linker"],
            ["target", target, "rustflags"],
            ["build", "rustflags", ""],
            ["build", "rustc-wrapper", ""],
        ] {
            let mut item = doc.as_item();
            for key in path.iter().filter(|k| !k.is_empty()) {
                item = item.get(key).unwrap_or(&toml_edit::Item::None);
            }
            if !item.is_none() {
                linker_settings.insert(
                    path.iter()
                        .filter(|k| !k.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join("."),
                    item.to_string().trim().to_string(),
                );
            }
        }
    }
    for var in LINKER_OVERRIDES {
        if let Some(value) = std::env::var_os(var) {
            linker_settings.insert((*var).to_string(), value.to_string_lossy().into_owned());
        }
    }
    // The wrapper is found on PATH, whose directories differ between environments: its name
    // counts here, and its bytes through the installed tools.
    let wrapper = ["RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER"]
        .iter()
        .find_map(|var| std::env::var_os(var).filter(|v| !v.is_empty()))
        .map(|w| {
            Path::new(&w)
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();

    let links = ctx.home.links(&ctx.home.lock_bin_dir(&lock.id()));
    let mut tools = std::collections::BTreeMap::new();
    for tool in &lock.tools {
        for link in tool.binaries.keys() {
            let digest = links
                .get(link)
                .and_then(|target| crate::fetch::sha256_file(target).ok())
                .unwrap_or_else(|| "missing".into());
            tools.insert(format!("{}/{link}", tool.name), digest);
        }
    }
    let inputs = crate::fingerprint::Inputs {
        rustc: rustc.verbose,
        lock: lock_text,
        linker_settings,
        wrapper,
        tools,
    };
    println!("{}", inputs.line());
    Ok(ExitCode::SUCCESS)
}
