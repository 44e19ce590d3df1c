//! `init`, `generate` and `check`: snapshots of every generated file, the cargo config merge,
//! and drift detection for each file and for installed tools.

use crate::harness::*;

/// Generates in a fresh sandbox and snapshots every file written.
fn snapshot_generated(name: &str, manifest: &str) {
    let sandbox = Sandbox::new();
    sandbox.write("buildkit.toml", manifest);
    sandbox.run(&["generate"]).success();
    let files = [
        ".cargo/config.toml",
        ".devcontainer/devcontainer.json",
        ".devcontainer/Dockerfile",
        ".github/workflows/buildkit.yml",
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
    assert!(written >= 4, "{name}: only {written} files");
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
    sandbox.write(
        ".cargo/config.toml",
        "[build]\nrustc-wrapper = \"ccache\"\n",
    );
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.sccache]\nversion = \"0.17.0\"\n"),
    );
    let run = sandbox.run(&["generate"]).failure(1);
    assert!(
        run.stderr.contains(
            "[SANDBOX]/project/.cargo/config.toml already sets `build.rustc-wrapper` = \"ccache\""
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        sandbox.read(".cargo/config.toml"),
        "[build]\nrustc-wrapper = \"ccache\"\n"
    );
    sandbox.run(&["generate", "--force"]).success();
    assert!(
        sandbox
            .read(".cargo/config.toml")
            .contains("rustc-wrapper = \"sccache\"")
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
    let run = sandbox.run(&["generate"]).failure(1);
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
        "ok: 5 generated files and 1 tools match buildkit.toml and buildkit.lock\n"
    );

    for file in [
        ".cargo/config.toml",
        ".devcontainer/devcontainer.json",
        ".devcontainer/Dockerfile",
        ".github/workflows/buildkit.yml",
        ".gitlab-ci.yml",
    ] {
        let original = sandbox.read(file);
        sandbox.write(
            file,
            &original
                .replacen("1.95.0", "1.94.0", 1)
                .replacen("fuse-ld=lld", "fuse-ld=bfd", 1),
        );
        let run = sandbox.run(&["check"]).failure(1);
        assert!(
            run.stdout.contains(&format!("--- a/{file}")),
            "{file}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("-") && run.stdout.contains("+"),
            "{}",
            run.stdout
        );
        assert!(
            run.stderr.contains(&format!(
                "drift: {file} drifted from buildkit.toml: run `buildkit generate`"
            )),
            "{}",
            run.stderr
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
    std::fs::remove_file(sandbox.home().join("bin/sccache")).unwrap();
    let run = sandbox.run(&["check"]).failure(1);
    assert!(
        run.stderr.contains("changed since it was installed"),
        "{}",
        run.stderr
    );
}
