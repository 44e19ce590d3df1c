//! `buildkit doctor` on a known-good project, then with each way an environment can silently
//! build differently made on purpose: it must say so, on the right line, with the right status.

use std::process::Command;

use crate::harness::*;

/// A project with lld from the Rust toolchain (no download), set up and generated.
fn good_project() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"probe-host\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    );
    sandbox.write("src/main.rs", "fn main() {}\n");
    sandbox.write(
        "buildkit.toml",
        "[toolchain]\nrust = \"1.95.0\"\n[tools.lld]\nsource = \"rust\"\n",
    );
    sandbox.run(&["setup", "--quiet"]).success();
    sandbox.run(&["generate"]).success();
    sandbox
}

/// `eval "$(buildkit env)"`, then `extra` (variables to set), then `buildkit doctor`.
fn doctor(sandbox: &Sandbox, extra: &str) -> (i32, String) {
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    let out = sandbox
        .shell(&format!(
            "eval \"$('{buildkit}' env)\"\n{extra}\nexec '{buildkit}' doctor"
        ))
        .env_remove("RUSTC_WRAPPER")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        sandbox.redact(&String::from_utf8_lossy(&out.stdout)),
    )
}

fn line<'a>(report: &'a str, start: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting `{start}` in:\n{report}"))
}

#[test]
fn a_good_environment_is_all_ok() {
    let sandbox = good_project();
    let (code, report) = doctor(&sandbox, "");
    assert_eq!(code, 0, "{report}");
    assert!(
        report.lines().all(|l| l.starts_with("ok  ")),
        "every line ok:\n{report}"
    );
    assert!(
        line(&report, "ok   build").contains("a probe crate linked with LLD "),
        "{report}"
    );
    assert!(
        line(&report, "ok   path").contains("ld.lld -> [SANDBOX]/home/envs/[LOCK]/bin/ld.lld"),
        "{report}"
    );
}

#[test]
fn each_override_variable_is_named() {
    let sandbox = good_project();
    for (var, value) in [
        ("RUSTFLAGS", "-C opt-level=0"),
        ("CARGO_BUILD_RUSTFLAGS", "-C opt-level=0"),
        (
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
            "-C opt-level=0",
        ),
        ("CARGO_ENCODED_RUSTFLAGS", "-Copt-level=0"),
        ("RUSTC_WRAPPER", "/usr/bin/env"),
        ("CARGO_BUILD_RUSTC_WRAPPER", "/usr/bin/env"),
        ("CARGO_INCREMENTAL", "0"),
    ] {
        let (_, report) = doctor(&sandbox, &format!("export {var}='{value}' CI=false"));
        let warned = report
            .lines()
            .filter(|l| l.starts_with("warn environment") && l.contains(var))
            .count();
        assert_eq!(warned, 1, "{var}:\n{report}");
    }
}

#[test]
fn an_override_that_changes_the_linker_is_caught_by_the_probe() {
    let sandbox = good_project();
    let (code, report) = doctor(
        &sandbox,
        "export RUSTFLAGS='-C linker-features=-lld -C link-arg=-fuse-ld=bfd'",
    );
    assert_eq!(code, 1, "{report}");
    assert!(
        line(&report, "FAIL build")
            .contains("a probe crate linked with no signature (GNU ld), not LLD"),
        "{report}"
    );
}

#[test]
fn a_legacy_cargo_config_is_caught_twice() {
    let sandbox = good_project();
    // cargo reads .cargo/config instead of config.toml: its linker wins.
    sandbox.write(
        ".cargo/config",
        "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"linker-features=-lld\", \"-C\", \"link-arg=-fuse-ld=bfd\"]\n",
    );
    let (code, report) = doctor(&sandbox, "");
    assert_eq!(code, 1, "{report}");
    assert!(
        line(&report, "FAIL generated files").contains(".cargo/config is a legacy cargo config"),
        "{report}"
    );
    assert!(line(&report, "FAIL build").contains("not LLD"), "{report}");
}

#[test]
fn the_bin_dir_off_path_and_a_missing_tool_fail() {
    let sandbox = good_project();
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    let out = sandbox
        .shell(&format!("exec '{buildkit}' doctor"))
        .output()
        .unwrap();
    let report = sandbox.redact(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(line(&report, "FAIL path").contains("ld.lld"), "{report}");
    std::fs::remove_dir_all(sandbox.home().join("envs")).unwrap();
    let (code, report) = doctor(&sandbox, "");
    assert_eq!(code, 1, "{report}");
    assert!(
        line(&report, "FAIL tools").contains("bin/ld.lld is missing"),
        "{report}"
    );
}

#[test]
fn a_tampered_binary_fails() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let sccache = sccache_archive("0.17.0");
    sandbox.pin_served(&server, "sccache", "0.17.0", "/sccache.tar.gz", &sccache);
    sandbox.run(&["setup", "--quiet"]).success();
    std::fs::write(
        sandbox.home().join("tools/sccache/0.17.0/sccache"),
        version_script("sccache 0.17.0 (patched)"),
    )
    .unwrap();
    let (code, report) = doctor(&sandbox, "");
    assert_eq!(code, 1, "{report}");
    assert!(
        line(&report, "FAIL tools").contains("sccache 0.17.0: [SANDBOX]/home/tools/sccache/0.17.0/sccache changed since it was installed"),
        "{report}"
    );
}

/// A workspace with one crate in two versions (path crates, so no registry is needed) and a
/// member that declares a dependency [workspace.dependencies] already pins.
#[test]
fn duplicate_versions_and_bypassing_members_are_named() {
    let sandbox = good_project();
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"probe-host\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ndup-one = { package = \"dup\", path = \"../dup-1\" }\nmiddle = { path = \"middle\" }\ngreet = { path = \"greet\" }\n\n[workspace]\nmembers = [\"middle\", \"greet\"]\n\n[workspace.dependencies]\ngreet = { path = \"greet\" }\n",
    );
    sandbox.write("middle/Cargo.toml", "[package]\nname = \"middle\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ndup = { path = \"../../dup-2\" }\ngreet = { workspace = true }\n");
    sandbox.write("middle/src/lib.rs", "");
    sandbox.write(
        "greet/Cargo.toml",
        "[package]\nname = \"greet\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    sandbox.write("greet/src/lib.rs", "");
    // Outside the workspace's directory: path dependencies inside it would be members.
    for (dir, version) in [("dup-1", "1.0.0"), ("dup-2", "2.0.0")] {
        let dir = sandbox.root().join(dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("[package]\nname = \"dup\"\nversion = \"{version}\"\nedition = \"2021\"\n"),
        )
        .unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    }
    let status = Command::new("cargo")
        .args(["generate-lockfile", "--offline", "--quiet"])
        .current_dir(sandbox.project())
        .status()
        .unwrap();
    assert!(status.success());
    let (_, report) = doctor(&sandbox, "");
    assert!(
        report.contains("warn dependencies     dup is built in 2 versions (each compiled and linked): probe-host 0.1.0 -> dup 1.0.0; middle 0.1.0 -> dup 2.0.0\n"),
        "{report}"
    );
    assert!(
        report.contains("warn dependencies     probe-host declares `greet` itself although [workspace.dependencies] has it: use `greet = { workspace = true }`\n"),
        "{report}"
    );
    assert!(!report.contains("middle declares"), "{report}");
}
