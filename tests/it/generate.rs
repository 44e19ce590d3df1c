//! `init`, `generate` and `check`: snapshots of every generated file, the cargo config merge,
//! and drift detection for each file and for installed tools.

use crate::harness::*;

/// Generates in a fresh sandbox and snapshots every file written.
fn snapshot_generated(name: &str, manifest: &str) {
    let sandbox = Sandbox::new();
    sandbox.write("buildkit.toml", manifest);
    // A source tree for `[buildkit] path = "."`.
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"buildkit-toolchain\"\nversion = \"0.1.0\"\n",
    );
    sandbox.run(&["generate"]).success();
    let files = [
        ".cargo/config.toml",
        "rust-toolchain.toml",
        ".devcontainer/devcontainer.json",
        ".devcontainer/Dockerfile",
        ".github/actions/buildkit/action.yml",
        ".github/workflows/buildkit.yml",
        ".gitlab/buildkit.yml",
        ".gitlab-ci.yml",
    ];
    let mut written = 0;
    for file in files {
        let path = sandbox.project().join(file);
        if path.exists() {
            written += 1;
            let snapshot = format!(
                "{name}__{}",
                file.trim_start_matches('.').replace(['/', '.'], "_")
            );
            insta::assert_snapshot!(snapshot, std::fs::read_to_string(path).unwrap());
        }
    }
    assert!(written >= 6, "{name}: only {written} files");
    // Rendering is stable: a second run changes nothing, and check agrees.
    let again = sandbox.run(&["generate"]).success();
    assert!(!again.stderr.contains("wrote"), "{}", again.stderr);
}

const RUST: &str = "[toolchain]\nrust = \"1.95.0\"\n";

#[test]
fn mold_with_sccache_on_github() {
    snapshot_generated(
        "mold_sccache_github",
        &format!(
            "{RUST}[tools.mold]\nversion = \"2.41.0\"\n[tools.sccache]\nversion = \"0.17.0\"\n[profile.dev]\ndebug = \"line-tables-only\"\n[profile.dev.package.\"*\"]\nopt-level = 1\n[buildkit]\nversion = \"0.1.0\"\n"
        ),
    );
}

#[test]
fn mold_without_sccache_on_gitlab_and_github() {
    snapshot_generated(
        "mold_gitlab",
        &format!(
            "{RUST}[tools.mold]\nversion = \"2.42.0\"\n[ci]\nproviders = [\"github\", \"gitlab\"]\n[buildkit]\nversion = \"0.1.0\"\n"
        ),
    );
}

#[test]
fn lld_from_rust_with_sccache_on_gitlab() {
    snapshot_generated(
        "lld_sccache_gitlab",
        &format!(
            "{RUST}[linker]\nkind = \"lld\"\ndriver = \"clang\"\n[tools.lld]\nsource = \"rust\"\n[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nendpoint = \"redis://cache.internal:6379\"\n[ci]\nproviders = [\"gitlab\"]\n[buildkit]\nversion = \"0.1.0\"\n"
        ),
    );
}

#[test]
fn lld_from_llvm_with_the_github_cache() {
    snapshot_generated(
        "lld_llvm_gha",
        &format!(
            "{RUST}[tools.lld]\nsource = \"llvm\"\nversion = \"22.1.8\"\n[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"gha\"\n[devcontainer]\nimage = \"ghcr.io/acme/rust:1.95.0\"\n[buildkit]\ngit = \"https://git.example.com/team/buildkit\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n"
        ),
    );
}

#[test]
fn default_linker_without_sccache() {
    snapshot_generated(
        "default_plain",
        &format!("{RUST}[linker]\nkind = \"default\"\n[buildkit]\npath = \".\"\n"),
    );
}

#[test]
fn init_writes_a_valid_manifest_and_refuses_to_overwrite() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["init"]).success();
    assert!(
        run.stderr.starts_with(
            "wrote [SANDBOX]/project/buildkit.toml and [SANDBOX]/project/buildkit.lock"
        ),
        "{}",
        run.stderr
    );
    let manifest = sandbox.read("buildkit.toml");
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .unwrap();
    let rust = String::from_utf8_lossy(&rustc.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    insta::assert_snapshot!(
        "init_default",
        manifest.replace(&format!("\"{rust}\""), "\"[RUST]\"")
    );
    assert!(
        manifest.contains(&format!("rust = \"{rust}\"")),
        "{manifest}"
    );
    let run = sandbox.run(&["init"]).failure(2);
    assert_eq!(
        run.stderr,
        "error: [SANDBOX]/project/buildkit.toml already exists; edit it, or re-run with --force to start over\n"
    );
    sandbox
        .run(&["init", "--force", "--linker", "lld", "--no-sccache"])
        .success();
    let manifest = sandbox.read("buildkit.toml");
    assert!(
        manifest.contains("[tools.lld]\n# rust: rust-lld from the Rust toolchain"),
        "{manifest}"
    );
    assert!(!manifest.contains("sccache]"), "{manifest}");
    // The lock matches what init wrote.
    sandbox.run(&["setup", "--locked", "--quiet"]).success();
}

#[test]
fn lock_upgrade_moves_pins_to_the_newest() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        "[tools.mold]\nversion = \"2.40.4\" # old\n",
    );
    sandbox.run(&["lock"]).success();
    assert!(
        sandbox
            .read("buildkit.lock")
            .contains("version = \"2.40.4\"")
    );
    sandbox.run(&["lock", "--upgrade"]).success();
    assert_eq!(
        sandbox.read("buildkit.toml"),
        "[tools.mold]\nversion = \"2.42.0\" # old\n"
    );
    assert!(
        sandbox
            .read("buildkit.lock")
            .contains("version = \"2.42.0\"")
    );
}

#[test]
fn cargo_config_merge_keeps_the_users_keys_and_comments() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[tools.mold]\nversion = \"2.41.0\"\n[tools.sccache]\nversion = \"0.17.0\"\n"
        ),
    );
    let user = "# Team settings: keep.\n[alias]\nxt = \"run --package xtask --\" # our task runner\n\n[target.x86_64-unknown-linux-gnu]\n# a runner for tests\nrunner = \"scripts/run.sh\"\n\n[net]\ngit-fetch-with-cli = true\n";
    sandbox.write(".cargo/config.toml", user);
    sandbox.run(&["generate"]).success();
    let merged = sandbox.read(".cargo/config.toml");
    insta::assert_snapshot!("merge_into_users_config", merged);
    assert!(merged.contains(
        "# Team settings: keep.\n[alias]\nxt = \"run --package xtask --\" # our task runner\n"
    ));
    assert!(merged.contains("# a runner for tests\nrunner = \"scripts/run.sh\"\n"));

    // Dropping sccache and mold: buildkit removes its keys and only its keys.
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n"),
    );
    sandbox.run(&["generate"]).success();
    let after = sandbox.read(".cargo/config.toml");
    assert!(
        after.ends_with(user),
        "the user's bytes are back as they were:\n{after}"
    );
    assert!(
        !after.contains("sccache") && !after.contains("fuse-ld"),
        "{after}"
    );

    // A user's own value for a key buildkit wants is a conflict, not an overwrite.
    let user = "[target.x86_64-unknown-linux-gnu]\nlinker = \"gcc-12\"\n";
    sandbox.write(".cargo/config.toml", user);
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.mold]\nversion = \"2.41.0\"\n"),
    );
    let run = sandbox.run(&["generate"]).failure(1);
    assert_eq!(
        run.stderr,
        "error: [SANDBOX]/project/.cargo/config.toml already sets `target.x86_64-unknown-linux-gnu.linker` = \"gcc-12\", and buildkit.toml wants \"cc\"; re-run with --force to let buildkit own that key\n"
    );
    assert_eq!(sandbox.read(".cargo/config.toml"), user);
    sandbox.run(&["generate", "--force"]).success();
    assert!(
        sandbox
            .read(".cargo/config.toml")
            .contains("linker = \"cc\"")
    );
}

#[test]
fn sccache_is_selected_through_the_environment_not_a_committed_wrapper() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"gha\"\n[ci]\nproviders = [\"github\", \"gitlab\"]\n"),
    );
    sandbox.run(&["generate"]).success();
    assert!(!sandbox.read(".cargo/config.toml").contains("rustc-wrapper"));
    let env = sandbox.run(&["env"]).success();
    assert_eq!(
        env.stdout,
        "export PATH='[SANDBOX]/home/envs/[LOCK]/bin':\"$PATH\"\nexport RUSTC_WRAPPER='sccache'\nexport SCCACHE_SERVER_UDS='[SANDBOX]/home/run/sccache-0.17.0.sock'\n"
    );
    assert_eq!(
        env.stderr,
        "note: cache.backend = \"gha\" works only inside GitHub Actions (the generated action enables it there); here sccache uses its local cache\n"
    );
    // The gha backend and CARGO_INCREMENTAL=0 live in CI files only.
    for file in [".devcontainer/Dockerfile", ".gitlab/buildkit.yml"] {
        let text = sandbox.read(file);
        assert!(!text.contains("SCCACHE_GHA"), "{file}:\n{text}");
    }
    assert!(
        !sandbox
            .read(".devcontainer/Dockerfile")
            .contains("CARGO_INCREMENTAL")
    );
    let action = sandbox.read(".github/actions/buildkit/action.yml");
    assert!(
        action.contains("core.exportVariable(\"SCCACHE_GHA_ENABLED\", \"true\");"),
        "{action}"
    );
    assert!(
        action.contains("echo \"CARGO_INCREMENTAL=0\" >> \"$GITHUB_ENV\""),
        "{action}"
    );
    assert!(
        sandbox
            .read(".gitlab/buildkit.yml")
            .contains("CARGO_INCREMENTAL: \"0\"")
    );
}

#[test]
fn files_buildkit_did_not_write_are_not_overwritten_without_force() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.lld]\nsource = \"rust\"\n"),
    );
    sandbox.write(".devcontainer/Dockerfile", "FROM debian\n");
    let run = sandbox.run(&["generate"]).failure(2);
    assert_eq!(
        run.stderr,
        "error: [SANDBOX]/project/.devcontainer/Dockerfile exists and was not generated by buildkit; move it aside, or re-run with --force to replace it\n"
    );
    assert_eq!(sandbox.read(".devcontainer/Dockerfile"), "FROM debian\n");
    sandbox.run(&["generate", "--force"]).success();
    assert!(
        sandbox
            .read(".devcontainer/Dockerfile")
            .starts_with("# @generated by buildkit")
    );
}

#[test]
fn generate_needs_a_pinned_rust_version() {
    let sandbox = Sandbox::new();
    sandbox.write("buildkit.toml", "[tools.lld]\nsource = \"rust\"\n");
    let run = sandbox.run(&["generate"]).failure(2);
    assert!(
        run.stderr
            .contains("[SANDBOX]/project/buildkit.toml: `toolchain.rust` is not set"),
        "{}",
        run.stderr
    );
}

#[test]
fn check_passes_then_fails_on_each_drifted_file() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[tools.lld]\nsource = \"rust\"\n[ci]\nproviders = [\"github\", \"gitlab\"]\n"
        ),
    );
    sandbox.run(&["setup", "--quiet"]).success();
    sandbox.run(&["generate"]).success();
    let ok = sandbox.run(&["check"]).success();
    assert_eq!(
        ok.stderr,
        "ok: 6 generated files and 1 tools match buildkit.toml and buildkit.lock\n"
    );

    // In .cargo/config.toml only buildkit's keys are buildkit's: a changed flag is drift.
    let config = sandbox.read(".cargo/config.toml");
    let at = config.rfind("fuse-ld=lld").unwrap();
    sandbox.write(
        ".cargo/config.toml",
        &format!(
            "{}fuse-ld=bfd{}",
            &config[..at],
            &config[at + "fuse-ld=lld".len()..]
        ),
    );
    // A linker flag that is not buildkit's fights buildkit's: check says so, and only
    // `generate --force` replaces it.
    let run = sandbox.run(&["check"]).failure(1);
    assert_eq!(
        run.stderr,
        "drift: [SANDBOX]/project/.cargo/config.toml already sets `target.x86_64-unknown-linux-gnu.rustflags` = -C link-arg=-fuse-ld=bfd, and buildkit.toml wants -C link-arg=-fuse-ld=lld; re-run with --force to let buildkit own that key\nerror: 1 thing(s) drifted from buildkit.toml\n"
    );
    sandbox.run(&["generate"]).failure(1);
    sandbox.run(&["generate", "--force"]).success();
    sandbox.run(&["check"]).success();
    // Its own key changed by hand is plain drift.
    let config = sandbox.read(".cargo/config.toml");
    sandbox.write(
        ".cargo/config.toml",
        &config.replace("linker = \"cc\"", "linker = \"gcc\""),
    );
    let run = sandbox.run(&["check"]).failure(1);
    assert!(
        run.stderr.starts_with("drift: .cargo/config.toml:")
            && run.stderr.contains("linker = \"gcc\""),
        "{}",
        run.stderr
    );
    sandbox.run(&["generate"]).success();

    for file in [
        "rust-toolchain.toml",
        ".devcontainer/devcontainer.json",
        ".devcontainer/Dockerfile",
        ".github/actions/buildkit/action.yml",
        ".gitlab/buildkit.yml",
    ] {
        let original = sandbox.read(file);
        let comment = if file.ends_with(".json") { "//" } else { "#" };
        let lines = original.lines().count();
        sandbox.write(file, &format!("{original}{comment} edited by hand\n"));
        let run = sandbox.run(&["check"]).failure(1);
        assert!(
            run.stdout.contains(&format!(
                "--- a/{file}\n+++ b/{file} (as buildkit.toml renders it)\n"
            )),
            "{file}: {}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains(&format!("\n-{comment} edited by hand\n")),
            "{}",
            run.stdout
        );
        let expected = if file.starts_with(".github/") || file.starts_with(".gitlab/") {
            format!(
                "drift: {file}:{}: differs from what buildkit.toml renders (`{comment} edited by hand`); buildkit owns this file: put your own steps in your workflow (which calls it), then run `buildkit generate`\n",
                lines + 1
            )
        } else {
            format!(
                "drift: {file}:{}: drifted from buildkit.toml (`{comment} edited by hand`): run `buildkit generate`\n",
                lines + 1
            )
        };
        assert_eq!(
            run.stderr,
            format!("{expected}error: 1 thing(s) drifted from buildkit.toml\n"),
            "{file}"
        );
        std::fs::remove_file(sandbox.project().join(file)).unwrap();
        let run = sandbox.run(&["check"]).failure(1);
        assert!(
            run.stderr.contains(&format!("drift: {file} is missing")),
            "{}",
            run.stderr
        );
        sandbox.run(&["generate"]).success();
        sandbox.run(&["check"]).success();
    }

    // The examples are the user's: edited, they are neither checked nor rewritten.
    for file in [".github/workflows/buildkit.yml", ".gitlab-ci.yml"] {
        let edited = format!("{}# my own step\n", sandbox.read(file));
        sandbox.write(file, &edited);
        sandbox.run(&["check"]).success();
        let run = sandbox.run(&["generate"]).success();
        assert!(
            run.stderr
                .contains(&format!("{file} is yours: left as it is")),
            "{}",
            run.stderr
        );
        assert_eq!(sandbox.read(file), edited);
    }

    // A manifest edit without `buildkit lock` is drift too.
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.lld]\nsource = \"rust\"\n[tools.sccache]\nversion = \"0.17.0\"\n"),
    );
    let run = sandbox.run(&["check"]).failure(1);
    assert!(
        run.stderr
            .contains("drift: buildkit.lock does not match buildkit.toml"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("drift: sccache 0.17.0 is not installed"),
        "{}",
        run.stderr
    );
}

#[test]
fn check_rehashes_installed_binaries() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let sccache = sccache_archive("0.17.0");
    server.route("/sccache.tar.gz", Route::Ok(sccache.clone()));
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}{}",
            tool_table(
                "sccache",
                "0.17.0",
                &server.url("/sccache.tar.gz"),
                &sccache
            )
        ),
    );
    sandbox.run(&["setup", "--quiet"]).success();
    sandbox.run(&["generate"]).success();
    sandbox.run(&["check"]).success();
    let binary = sandbox.home().join("tools/sccache/0.17.0/sccache");
    std::fs::write(&binary, version_script("sccache 0.17.0 (patched)")).unwrap();
    let run = sandbox.run(&["check"]).failure(1);
    assert!(run.stderr.contains("drift: sccache 0.17.0: [SANDBOX]/home/tools/sccache/0.17.0/sccache changed since it was installed"), "{}", run.stderr);
    // Put the binary back: now the link the project builds through is what drifts.
    sandbox.run(&["gc"]).success();
    std::fs::remove_dir_all(sandbox.home().join("tools/sccache")).unwrap();
    sandbox.run(&["setup", "--quiet"]).success();
    sandbox.run(&["check"]).success();
    let env = sandbox.home().join("envs");
    let id = std::fs::read_dir(&env)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let link = env.join(&id).join("bin/sccache");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/bin/true", &link).unwrap();
    let run = sandbox.run(&["check"]).failure(1);
    assert_eq!(
        run.stderr,
        "drift: sccache 0.17.0: [SANDBOX]/home/envs/[LOCK]/bin/sccache does not point at it: run `buildkit setup`\nerror: 1 thing(s) drifted from buildkit.toml\n"
    );
    std::fs::remove_file(&link).unwrap();
    let run = sandbox.run(&["check"]).failure(1);
    assert!(
        run.stderr.starts_with(
            "drift: sccache 0.17.0: [SANDBOX]/home/envs/[LOCK]/bin/sccache does not point at it"
        ),
        "{}",
        run.stderr
    );
    sandbox.run(&["setup", "--quiet"]).success();
    sandbox.run(&["check"]).success();
}

/// The generated bootstrap builds buildkit from a `path` source inside a project whose own
/// .cargo/config.toml names a linker, flags and a wrapper that do not exist yet (as mold and
/// sccache do before `buildkit setup`). A small crate stands in for buildkit's source tree.
#[test]
fn the_generated_install_builds_despite_the_projects_own_linker_settings() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n[buildkit]\npath = \"tools/buildkit\"\n"),
    );
    sandbox.write(
        "tools/buildkit/Cargo.toml",
        "[package]\nname = \"buildkit-toolchain\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[[bin]]\nname = \"buildkit\"\npath = \"main.rs\"\n[workspace]\n",
    );
    sandbox.write(
        "tools/buildkit/main.rs",
        "fn main() { println!(\"buildkit 0.1.0\"); }\n",
    );
    sandbox.write(
        "tools/buildkit/Cargo.lock",
        "version = 4\n\n[[package]]\nname = \"buildkit-toolchain\"\nversion = \"0.1.0\"\n",
    );
    sandbox.run(&["generate"]).success();
    sandbox.write(
        ".cargo/config.toml",
        "[build]\nrustc-wrapper = \"not-installed-wrapper\"\nrustflags = [\"-C\", \"link-arg=-fuse-ld=not-installed\"]\n[target.x86_64-unknown-linux-gnu]\nlinker = \"not-installed-cc\"\nrustflags = [\"-C\", \"link-arg=-fuse-ld=not-installed\"]\n",
    );
    let action = sandbox.read(".github/actions/buildkit/action.yml");
    let install = action
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("env ") && l.contains("cargo install"))
        .unwrap_or_else(|| panic!("no install command in:\n{action}"));
    let runner_temp = sandbox.root().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let run = sandbox
        .shell(install)
        .current_dir(&runner_temp)
        .env("GITHUB_WORKSPACE", sandbox.project())
        .env("CARGO_TARGET_DIR", sandbox.root().join("install-target"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{install}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let installed = sandbox.root().join("user/.buildkit-cli/bin/buildkit");
    let out = std::process::Command::new(&installed).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "buildkit 0.1.0\n");
}

/// A fake rustc whose `-vV` says `release`, for the toolchain checks.
fn fake_rustc(sandbox: &Sandbox, release: &str) -> std::path::PathBuf {
    let path = sandbox.root().join("fake-rustc");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nprintf 'rustc {release} (0000000 2026-01-01)\\nbinary: rustc\\nhost: x86_64-unknown-linux-gnu\\nrelease: {release}\\nLLVM version: 22.1.2\\n'\n"),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

#[test]
fn check_and_doctor_fail_when_another_rustc_is_active() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n[ci]\nproviders = []\n"),
    );
    sandbox.run(&["generate"]).success();
    assert_eq!(
        sandbox.read("rust-toolchain.toml"),
        "# @generated by buildkit from buildkit.toml; do not edit. Regenerate with `buildkit generate`.\n# rustup reads this file, so a laptop builds with the same compiler as CI and the devcontainer.\n[toolchain]\nchannel = \"1.95.0\"\nprofile = \"minimal\"\n"
    );
    let rustc = fake_rustc(&sandbox, "1.93.0");
    let run = sandbox
        .cmd(&["check"])
        .env("RUSTC", &rustc)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr)
        .replace(&sandbox.root().display().to_string(), "[SANDBOX]");
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "drift: rustc 1.93.0 is active in [SANDBOX]/project, but buildkit.toml pins toolchain.rust = \"1.95.0\": run `rustup toolchain install 1.95.0` (rust-toolchain.toml selects it)\nerror: 1 thing(s) drifted from buildkit.toml\n"
    );
    let doctor = sandbox
        .cmd(&["doctor"])
        .env("RUSTC", &rustc)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL rustc") && l.contains("rustc 1.93.0 is active")),
        "{stdout}"
    );
    // With the pinned one, both agree.
    let rustc = fake_rustc(&sandbox, "1.95.0");
    sandbox
        .output_of(sandbox.cmd(&["check"]).env("RUSTC", &rustc))
        .success();
}

#[test]
fn init_pins_the_newest_stable_when_the_active_rustc_is_a_nightly() {
    let sandbox = Sandbox::new();
    let rustc = fake_rustc(&sandbox, "1.97.0-nightly");
    let run = sandbox
        .cmd(&["init", "--linker", "default", "--no-sccache"])
        .env("RUSTC", &rustc)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("note: the active rustc 1.97.0-nightly is not a stable release; pinned Rust 1.95.0, the newest stable it can name"),
        "{stderr}"
    );
    assert!(
        sandbox
            .read("buildkit.toml")
            .contains("rust = \"1.95.0\"\n")
    );
}

#[test]
fn bad_buildkit_sources_and_unreleased_rust_name_the_file_and_key() {
    let sandbox = Sandbox::new();
    for (manifest, expected) in [
        (
            "[buildkit]\ngit = \"https://g.example/b\"\nrev = \"main\"\n",
            "error: [SANDBOX]/project/buildkit.toml:3: `buildkit.rev`: `main` is not a pin: give the full 40-hex commit (a branch or tag can move)\n",
        ),
        (
            "[buildkit]\npath = \"../buildkit\"\n",
            "error: [SANDBOX]/project/buildkit.toml:2: `buildkit.path`: leaves the project (`..`); the container build context and the CI checkout hold only the project\n",
        ),
        (
            "[toolchain]\nrust = \"1.300.0\"\n",
            "error: [SANDBOX]/project/buildkit.toml:2: `toolchain.rust`: Rust 1.300.0 is not released yet (1.300.0 is due around 2049-11-12); pin a released stable version\n",
        ),
    ] {
        sandbox.write("buildkit.toml", manifest);
        let run = sandbox.run(&["generate"]).failure(2);
        assert_eq!(run.stderr, expected);
    }
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n[buildkit]\npath = \"tools/buildkit\"\n"),
    );
    let run = sandbox.run(&["generate"]).failure(2);
    assert_eq!(
        run.stderr,
        "error: [SANDBOX]/project/buildkit.toml: `buildkit.path` = \"tools/buildkit\" holds no Cargo.toml ([SANDBOX]/project/tools/buildkit/Cargo.toml is missing); CI and the devcontainer build buildkit from there\n"
    );
}

#[test]
fn the_fingerprint_is_stable_and_sees_a_linker_override() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.lld]\nsource = \"rust\"\n"),
    );
    sandbox.run(&["setup", "--quiet"]).success();
    sandbox.run(&["generate"]).success();
    let once = sandbox.run(&["doctor", "--fingerprint"]).success();
    let twice = sandbox.run(&["doctor", "--fingerprint"]).success();
    assert_eq!(once.stdout, twice.stdout);
    assert_eq!(once.stdout.lines().count(), 1, "{}", once.stdout);
    assert!(
        once.stdout.starts_with("sha256:") && once.stdout.contains("lld/ld.lld "),
        "{}",
        once.stdout
    );
    let overridden = sandbox
        .cmd(&["doctor", "--fingerprint"])
        .env("RUSTFLAGS", "-C link-arg=-fuse-ld=bfd")
        .output()
        .unwrap();
    assert!(overridden.status.success());
    assert_ne!(String::from_utf8_lossy(&overridden.stdout), once.stdout);
}

#[test]
fn a_removed_provider_leaves_no_generated_file_behind() {
    let sandbox = Sandbox::new();
    let both =
        format!("{RUST}[linker]\nkind = \"default\"\n[ci]\nproviders = [\"github\", \"gitlab\"]\n");
    sandbox.write("buildkit.toml", &both);
    sandbox.run(&["generate"]).success();
    sandbox.write(
        "buildkit.toml",
        &both.replace("[\"github\", \"gitlab\"]", "[\"github\"]"),
    );
    let run = sandbox.run(&["check"]).failure(1);
    assert_eq!(
        run.stderr,
        "drift: .gitlab/buildkit.yml was generated by buildkit, but buildkit.toml no longer asks for it: run `buildkit generate` to remove it\nerror: 1 thing(s) drifted from buildkit.toml\n"
    );
    let run = sandbox.run(&["generate"]).success();
    assert!(
        run.stderr.contains("removed .gitlab/buildkit.yml (buildkit generated it; buildkit.toml no longer asks for it)"),
        "{}",
        run.stderr
    );
    assert!(!sandbox.project().join(".gitlab/buildkit.yml").exists());
    // The example .gitlab-ci.yml is the user's: it stays.
    assert!(sandbox.project().join(".gitlab-ci.yml").exists());
    sandbox.run(&["check"]).success();
}

#[test]
fn a_legacy_cargo_config_is_refused_clearly() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.lld]\nsource = \"rust\"\n"),
    );
    sandbox.write(".cargo/config", "[build]\njobs = 1\n");
    let expected = "[SANDBOX]/project/.cargo/config is a legacy cargo config, which cargo reads instead of .cargo/config.toml: rename it to .cargo/config.toml (merging the two if both exist), then run `buildkit generate`";
    let run = sandbox.run(&["generate"]).failure(2);
    assert_eq!(run.stderr, format!("error: {expected}\n"));
    assert!(!sandbox.project().join(".cargo/config.toml").exists());
    sandbox.run(&["setup", "--quiet"]).success();
    let run = sandbox.run(&["check"]).failure(1);
    assert!(
        run.stderr.contains(&format!("drift: {expected}\n")),
        "{}",
        run.stderr
    );
    std::fs::rename(
        sandbox.project().join(".cargo/config"),
        sandbox.project().join(".cargo/config.toml"),
    )
    .unwrap();
    sandbox.run(&["generate"]).success();
    let merged = sandbox.read(".cargo/config.toml");
    assert!(
        merged.contains("[build]\njobs = 1\n") && merged.contains("fuse-ld=lld"),
        "{merged}"
    );
}

#[test]
fn written_files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    let mode = |rel: &str| {
        std::fs::metadata(sandbox.project().join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for umask in ["022", "002"] {
        sandbox.output_of(sandbox
            .shell(&format!(
                "umask {umask} && rm -f buildkit.toml buildkit.lock rust-toolchain.toml && '{}' init --linker lld --no-sccache && '{}' generate",
                env!("CARGO_BIN_EXE_buildkit"),
                env!("CARGO_BIN_EXE_buildkit")
            ))).success();
        let expected = 0o666 & !u32::from_str_radix(umask, 8).unwrap();
        for rel in ["buildkit.toml", "buildkit.lock", "rust-toolchain.toml"] {
            assert_eq!(mode(rel), expected, "{rel} with umask {umask}");
        }
    }
}
