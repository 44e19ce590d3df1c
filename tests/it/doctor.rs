//! `buildkit doctor` on a known-good project, then with each way an environment can silently
//! build differently made on purpose: it must say so, on the right line, with the right status.

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
fn doctor(sandbox: &Sandbox, extra: &str) -> Run {
    doctor_with(sandbox, extra, &[])
}

/// `doctor ARGS` after `extra` (shell lines), in the project's `buildkit env`.
fn doctor_with(sandbox: &Sandbox, extra: &str, args: &[&str]) -> Run {
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    sandbox
        .sh(&format!(
            "eval \"$('{buildkit}' env)\"\n{extra}\nexec '{buildkit}' doctor {}",
            args.join(" ")
        ))
        .env_remove("RUSTC_WRAPPER")
        .run()
}

#[test]
fn a_good_environment_is_all_ok() {
    let sandbox = good_project();
    insta::assert_snapshot!(doctor(&sandbox, ""), @r#"
    exit 0
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    ok   tools            1 installed as locked
    ok   path             ld.lld -> [SANDBOX]/home/envs/[LOCK]/bin/ld.lld
    ok   linker           `cc -fuse-ld=lld` runs: LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e) (compatible with GNU linkers)
    ok   rustc            matches toolchain.rust = "1.95.0"
    ok   generated files  all match buildkit.toml
    ok   build            a probe crate linked with LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e)
    ok   project          `cargo build --workspace --all-targets` succeeds here
    ok   dependencies     no crate is built in more than one version
    "#);
}

/// The probe proves the configuration; the project's own build proves the project: one that
/// does not build fails doctor (`--probe-only` is the old fast check, which cannot tell).
#[test]
fn a_project_that_does_not_build_fails() {
    let sandbox = good_project();
    sandbox.write("src/lib.rs", "pub fn broken() -> u8 { \"no\" }\n");
    let run = doctor(&sandbox, "");
    assert_eq!(run.code, 1, "{run}");
    let project: Vec<_> = run
        .stdout
        .lines()
        .filter(|l| l.contains(" project "))
        .collect();
    assert_eq!(
        project,
        [
            "FAIL project          `cargo build --workspace --all-targets` fails here: error[E0308]: mismatched types"
        ]
    );
    let fast = doctor_with(&sandbox, "", &["--probe-only"]);
    assert_eq!(fast.code, 0, "{fast}");
}

#[test]
fn each_override_variable_is_named() {
    let sandbox = good_project();
    let mut reports = String::new();
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
        let run = doctor(&sandbox, &format!("export {var}='{value}' CI=false"));
        // Only the environment lines differ from the good report.
        let environment: Vec<_> = run
            .stdout
            .lines()
            .filter(|l| l.contains("environment"))
            .collect();
        reports += &format!("{var}: exit {}\n{}\n", run.code, environment.join("\n"));
    }
    insta::assert_snapshot!(reports, @"
    RUSTFLAGS: exit 0
    warn environment      RUSTFLAGS is set (`-C opt-level=0`): cargo uses it instead of the rustflags in .cargo/config.toml, buildkit's linker flags included; unset it
    CARGO_BUILD_RUSTFLAGS: exit 0
    warn environment      CARGO_BUILD_RUSTFLAGS is set (`-C opt-level=0`): cargo uses it instead of the rustflags in .cargo/config.toml, buildkit's linker flags included; unset it
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS: exit 0
    warn environment      CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS is set (`-C opt-level=0`): cargo uses it instead of the rustflags in .cargo/config.toml, buildkit's linker flags included; unset it
    CARGO_ENCODED_RUSTFLAGS: exit 0
    warn environment      CARGO_ENCODED_RUSTFLAGS is set (`-Copt-level=0`): cargo uses it instead of the rustflags in .cargo/config.toml, buildkit's linker flags included; unset it
    RUSTC_WRAPPER: exit 0
    warn environment      RUSTC_WRAPPER = `/usr/bin/env`: buildkit.toml has no sccache, yet builds go through it
    CARGO_BUILD_RUSTC_WRAPPER: exit 0
    warn environment      CARGO_BUILD_RUSTC_WRAPPER = `/usr/bin/env`: buildkit.toml has no sccache, yet builds go through it
    CARGO_INCREMENTAL: exit 0
    warn environment      CARGO_INCREMENTAL=0 outside CI turns off incremental builds, the faster edit loop; buildkit sets it in CI only
    ");
}

#[test]
fn an_override_that_changes_the_linker_is_caught_by_the_probe() {
    let sandbox = good_project();
    let run = doctor(
        &sandbox,
        "export RUSTFLAGS='-C linker-features=-lld -C link-arg=-fuse-ld=bfd'",
    );
    insta::assert_snapshot!(run, @r#"
    exit 1
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    ok   tools            1 installed as locked
    ok   path             ld.lld -> [SANDBOX]/home/envs/[LOCK]/bin/ld.lld
    ok   linker           `cc -fuse-ld=lld` runs: LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e) (compatible with GNU linkers)
    warn environment      RUSTFLAGS is set (`-C linker-features=-lld -C link-arg=-fuse-ld=bfd`): cargo uses it instead of the rustflags in .cargo/config.toml, buildkit's linker flags included; unset it
    ok   rustc            matches toolchain.rust = "1.95.0"
    ok   generated files  all match buildkit.toml
    FAIL build            a probe crate linked with no signature (GNU ld), not LLD: something in this environment or a config file overrides the linker
    ok   project          `cargo build --workspace --all-targets` succeeds here
    ok   dependencies     no crate is built in more than one version
    "#);
}

/// A production Dockerfile whose builder starts from a `rust:` image builds without what
/// buildkit.lock pins: doctor names the file, the line and the image; one on the toolchain
/// stage's image is not flagged.
#[test]
fn a_production_image_built_from_a_rust_image_is_named() {
    let sandbox = good_project();
    sandbox.write(
        "Dockerfile",
        "# the service\nFROM rust:1.95-bookworm AS builder\nCOPY . .\nRUN cargo build --release --locked\nFROM debian:bookworm-slim\nCOPY --from=builder /target/release/app /app\n",
    );
    sandbox.write(
        "Dockerfile.worker",
        "FROM myapp-toolchain AS builder\nRUN cargo build --release \\\n  --locked\n",
    );
    insta::assert_snapshot!(doctor_with(&sandbox, "", &["--probe-only"]), @r#"
    exit 0
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    ok   tools            1 installed as locked
    ok   path             ld.lld -> [SANDBOX]/home/envs/[LOCK]/bin/ld.lld
    ok   linker           `cc -fuse-ld=lld` runs: LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e) (compatible with GNU linkers)
    ok   rustc            matches toolchain.rust = "1.95.0"
    ok   generated files  all match buildkit.toml
    warn production image Dockerfile:2: the stage that runs cargo starts from rust:1.95-bookworm, not from buildkit's toolchain stage: it builds without the linker, tools and settings buildkit.lock pins; start it from an image built with `--target buildkit-toolchain` from .devcontainer/Dockerfile (buildkit's book, docs/src/devcontainer.md)
    ok   build            a probe crate linked with LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e)
    ok   dependencies     no crate is built in more than one version
    "#);
}

#[test]
fn a_legacy_cargo_config_is_caught_twice() {
    let sandbox = good_project();
    // cargo reads .cargo/config instead of config.toml: its linker wins.
    sandbox.write(
        ".cargo/config",
        "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"linker-features=-lld\", \"-C\", \"link-arg=-fuse-ld=bfd\"]\n",
    );
    insta::assert_snapshot!(doctor(&sandbox, ""), @r#"
    exit 1
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    ok   tools            1 installed as locked
    ok   path             ld.lld -> [SANDBOX]/home/envs/[LOCK]/bin/ld.lld
    ok   linker           `cc -fuse-ld=lld` runs: LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e) (compatible with GNU linkers)
    ok   rustc            matches toolchain.rust = "1.95.0"
    FAIL generated files  [SANDBOX]/project/.cargo/config is a legacy cargo config, which cargo reads instead of .cargo/config.toml: rename it to .cargo/config.toml (merging the two if both exist), then run `buildkit generate`
    FAIL build            a probe crate linked with no signature (GNU ld), not LLD: something in this environment or a config file overrides the linker
    ok   project          `cargo build --workspace --all-targets` succeeds here
    ok   dependencies     no crate is built in more than one version
    "#);
}

#[test]
fn the_bin_dir_off_path_and_a_missing_tool_fail() {
    let sandbox = good_project();
    insta::assert_snapshot!(sandbox.run(&["doctor"]), @r#"
    exit 1
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    ok   tools            1 installed as locked
    FAIL path             ld.lld is not on PATH: `eval "$(buildkit env)"`
    FAIL linker           `cc -fuse-ld=lld` fails: collect2: fatal error: cannot find 'ld'
    ok   rustc            matches toolchain.rust = "1.95.0"
    ok   generated files  all match buildkit.toml
    ok   build            a probe crate linked with LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e)
    ok   project          `cargo build --workspace --all-targets` succeeds here
    ok   dependencies     no crate is built in more than one version
    "#);
    std::fs::remove_dir_all(sandbox.home().join("envs")).unwrap();
    insta::assert_snapshot!(doctor(&sandbox, ""), @r#"
    exit 1
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    FAIL tools            lld rust: [SANDBOX]/home/envs/[LOCK]/bin/ld.lld is missing: run `buildkit setup`
    FAIL path             ld.lld is not on PATH: `eval "$(buildkit env)"`
    FAIL linker           `cc -fuse-ld=lld` fails: collect2: fatal error: cannot find 'ld'
    ok   rustc            matches toolchain.rust = "1.95.0"
    ok   generated files  all match buildkit.toml
    ok   build            a probe crate linked with LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e)
    ok   project          `cargo build --workspace --all-targets` succeeds here
    ok   dependencies     no crate is built in more than one version
    "#);
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
    insta::assert_snapshot!(doctor(&sandbox, ""), @r#"
    exit 1
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    FAIL tools            sccache 0.17.0: [SANDBOX]/home/tools/sccache/0.17.0/sccache changed since it was installed (sha256 520605f21620835171cf9bbaed3ffd36079d6daeb5130352bfb223b1f7ee3d1b, receipt says ffd98a91be97b5fcfc2b24bae2d6f9690cde3662ead100cdc2ec6d1f8929f5b1): run `buildkit setup` after removing [SANDBOX]/home/tools/sccache/0.17.0
    ok   path             sccache -> [SANDBOX]/home/envs/[LOCK]/bin/sccache
    FAIL generated files  [SANDBOX]/project/buildkit.toml: `toolchain.rust` is not set; the devcontainer and CI need a pinned Rust version (e.g. rust = "1.95.0")
    ok   sccache version  sccache 0.17.0 (patched)
    FAIL build            a probe crate in [SANDBOX]/project failed to build with this project's configuration: error: `rustc -vV` didn't have a line for `host:`, got:
    FAIL sccache          unreadable statistics: sccache 0.17.0 (patched)
    warn project          no Cargo.toml in [SANDBOX]/project: nothing to build
    "#);
}

/// A workspace with one crate in two versions (path crates, so no registry is needed) and a
/// member that declares a dependency [workspace.dependencies] already pins.
#[test]
fn duplicate_versions_and_bypassing_members_are_named() {
    let sandbox = good_project();
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"probe-host\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ndup-one = { package = \"dup\", path = \"../dup-1\" }\nmiddle = { path = \"middle\" }\ngreet = { path = \"greet\" }\n\n[target.'cfg(windows)'.dependencies]\nwdup = { path = \"../wdup-1\" }\n\n[workspace]\nmembers = [\"middle\", \"greet\"]\n\n[workspace.dependencies]\ngreet = { path = \"greet\" }\n",
    );
    sandbox.write("middle/Cargo.toml", "[package]\nname = \"middle\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ndup = { path = \"../../dup-2\" }\ngreet = { workspace = true }\n\n[target.'cfg(windows)'.dependencies]\nwdup = { path = \"../../wdup-2\" }\n");
    sandbox.write("middle/src/lib.rs", "");
    sandbox.write(
        "greet/Cargo.toml",
        "[package]\nname = \"greet\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    sandbox.write("greet/src/lib.rs", "");
    // Outside the workspace's directory: path dependencies inside it would be members.
    // wdup in two versions too, but only on Windows: never built here, left out.
    for (dir, name, version) in [
        ("dup-1", "dup", "1.0.0"),
        ("dup-2", "dup", "2.0.0"),
        ("wdup-1", "wdup", "1.0.0"),
        ("wdup-2", "wdup", "2.0.0"),
    ] {
        let dir = sandbox.root().join(dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n"),
        )
        .unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    }
    sandbox
        .exec("cargo", &["generate-lockfile", "--offline", "--quiet"])
        .run()
        .success();
    insta::assert_snapshot!(doctor(&sandbox, ""), @r#"
    exit 0
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    ok   tools            1 installed as locked
    ok   path             ld.lld -> [SANDBOX]/home/envs/[LOCK]/bin/ld.lld
    ok   linker           `cc -fuse-ld=lld` runs: LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e) (compatible with GNU linkers)
    ok   rustc            matches toolchain.rust = "1.95.0"
    ok   generated files  all match buildkit.toml
    ok   build            a probe crate linked with LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e)
    ok   project          `cargo build --workspace --all-targets` succeeds here
    ok   dependencies     1 more crate(s) in Cargo.lock come in several versions only for targets other than x86_64-unknown-linux-gnu: never built here, left out
    warn dependencies     dup is built in 2 versions (each compiled and linked): probe-host 0.1.0 -> dup 1.0.0; middle 0.1.0 -> dup 2.0.0
    warn dependencies     probe-host declares `greet` itself although [workspace.dependencies] has it: use `greet = { workspace = true }`
    "#);
}
