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
        ".cargo/buildkit-link",
        ".devcontainer/devcontainer.json",
        ".devcontainer/Dockerfile",
        ".dockerignore",
        ".github/actions/buildkit/action.yml",
        ".github/workflows/buildkit.yml",
        ".gitlab/buildkit.yml",
        ".gitlab-ci.yml",
    ];
    let mut written = 0;
    // What a second run must say of each file: nothing changed.
    let mut unchanged = String::new();
    for file in files {
        let path = sandbox.project().join(file);
        if path.exists() {
            written += 1;
            let example = [
                ".github/workflows/buildkit.yml",
                ".gitlab-ci.yml",
                ".dockerignore",
            ]
            .contains(&file);
            let state = if example {
                "is yours: left as it is"
            } else {
                "is up to date"
            };
            unchanged += &format!("\n{file} {state}");
            let snapshot = format!(
                "{name}__{}",
                file.trim_start_matches('.').replace(['/', '.'], "_")
            );
            insta::assert_snapshot!(snapshot, std::fs::read_to_string(path).unwrap());
        }
    }
    assert!(written >= 6, "{name}: only {written} files");
    // Rendering is stable: a second run changes nothing.
    let again = sandbox.run(&["generate"]);
    again.assert_is(&format!("exit 0\n--- stderr{unchanged}"));
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
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\n",
    );
    let run = sandbox.run(&["init"]).success();
    insta::assert_snapshot!(run, @"
    exit 0
    --- stderr
    wrote [SANDBOX]/project/buildkit.toml and [SANDBOX]/project/buildkit.lock
    note: this buildkit was not installed by cargo, so CI cannot install the same: set [buildkit] git + rev (or url + sha256) in buildkit.toml before `buildkit generate`
    linker: rustc's own (rust-lld): nothing to install, nothing a contributor can lack; `buildkit tune` measures mold, wild and less debug info against it on this project (`buildkit init --tune` runs it)
    next: `buildkit setup` installs the tools, `buildkit generate` writes the cargo, devcontainer and CI files
    ");
    let manifest = sandbox.read("buildkit.toml");
    let rustc = sandbox.exec("rustc", &["--version"]).run().success();
    let rust = rustc.stdout.split_whitespace().nth(1).unwrap().to_string();
    insta::assert_snapshot!(
        "init_default",
        manifest.replace(&format!("\"{rust}\""), "\"[RUST]\"")
    );
    assert!(
        manifest.contains(&format!("rust = \"{rust}\"")),
        "{manifest}"
    );
    insta::assert_snapshot!(sandbox.run(&["init"]), @"
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml already exists; edit it, or re-run with --force to start over
    ");
    sandbox
        .run(&["init", "--force", "--linker", "lld", "--no-sccache"])
        .success();
    let manifest = sandbox.read("buildkit.toml");
    assert!(
        manifest.contains("[tools.lld]\n# rust: rust-lld from the Rust toolchain"),
        "{manifest}"
    );
    assert_eq!(
        toml_keys(&manifest)
            .iter()
            .filter(|k| k.starts_with("tools."))
            .collect::<Vec<_>>(),
        ["tools.lld.source"],
        "{manifest}"
    );
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
    sandbox.run(&["lock", "--upgrade", "--offline"]).success();
    assert_eq!(
        sandbox.read("buildkit.toml"),
        "[tools.mold]\nversion = \"2.42.0\" # old\n\n[buildkit]\nversion = \"0.1.0\"\n"
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
    assert_eq!(toml_keys(&after), toml_keys(user), "{after}");

    // A user's own value for a key buildkit wants is a conflict, not an overwrite.
    let user = "[target.x86_64-unknown-linux-gnu]\nlinker = \"gcc-12\"\n";
    sandbox.write(".cargo/config.toml", user);
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.mold]\nversion = \"2.41.0\"\n"),
    );
    let run = sandbox.run(&["generate"]).failure(1);
    insta::assert_snapshot!(run, @r#"
    exit 1
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    error: [SANDBOX]/project/.cargo/config.toml already sets `target.x86_64-unknown-linux-gnu.linker` = "gcc-12", and buildkit.toml wants ".cargo/buildkit-link"; re-run with --force to let buildkit own that key
    "#);
    assert_eq!(sandbox.read(".cargo/config.toml"), user);
    sandbox.run(&["generate", "--force"]).success();
    assert!(
        sandbox
            .read(".cargo/config.toml")
            .contains("linker = \".cargo/buildkit-link\"")
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
    assert_eq!(
        toml_keys(&sandbox.read(".cargo/config.toml")),
        Vec::<String>::new()
    );
    let env = sandbox.run(&["env"]).success();
    insta::assert_snapshot!(env, @r#"
    exit 0
    --- stdout
    export PATH=[SANDBOX]/home/envs/[LOCK]/bin:"$PATH"
    export RUSTC_WRAPPER=sccache
    export SCCACHE_SERVER_UDS=[SANDBOX]/home/run/sccache-0.17.0.sock
    --- stderr
    note: cache.backend = "gha" works only inside GitHub Actions (the generated action enables it there); here sccache uses its local cache
    "#);
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
        action.contains("echo 'CARGO_INCREMENTAL=0' >> \"$GITHUB_ENV\""),
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
    insta::assert_snapshot!(run, @"
    exit 2
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    error: [SANDBOX]/project/.devcontainer/Dockerfile exists and was not generated by buildkit; move it aside, or re-run with --force to replace it
    ");
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
    insta::assert_snapshot!(run, @r#"
    exit 2
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    error: [SANDBOX]/project/buildkit.toml: `toolchain.rust` is not set; the devcontainer and CI need a pinned Rust version (e.g. rust = "1.95.0")
    "#);
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
    insta::assert_snapshot!(ok, @"
    exit 0
    --- stderr
    ok: 6 generated files and 1 tools match buildkit.toml and buildkit.lock
    ");

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
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    drift: [SANDBOX]/project/.cargo/config.toml already sets `target.x86_64-unknown-linux-gnu.rustflags` = -C link-arg=-fuse-ld=bfd, and buildkit.toml wants -C link-arg=-fuse-ld=lld; re-run with --force to let buildkit own that key
    error: 1 thing(s) drifted from buildkit.toml
    ");
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
    insta::assert_snapshot!(run, @r#"
    exit 1
    --- stdout
    --- a/.cargo/config.toml
    +++ b/.cargo/config.toml (as buildkit.toml renders it)
    @@ -6,4 +6,4 @@
     
     [target.x86_64-unknown-linux-gnu]
     rustflags = ["-C", "link-arg=-fuse-ld=lld"]
    -linker = "gcc"
    +linker = "cc"
    --- stderr
    drift: .cargo/config.toml:9: drifted from buildkit.toml (`linker = "gcc"`): run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    "#);
    sandbox.run(&["generate"]).success();

    // Each owned file edited by hand (a line appended), then removed.
    let mut edited = String::new();
    let mut removed = String::new();
    for file in [
        "rust-toolchain.toml",
        ".devcontainer/devcontainer.json",
        ".devcontainer/Dockerfile",
        ".github/actions/buildkit/action.yml",
        ".gitlab/buildkit.yml",
    ] {
        let original = sandbox.read(file);
        let comment = if file.ends_with(".json") { "//" } else { "#" };
        sandbox.write(file, &format!("{original}{comment} edited by hand\n"));
        let run = sandbox.run(&["check"]);
        edited += &format!("{run}\n");
        std::fs::remove_file(sandbox.project().join(file)).unwrap();
        removed += &format!("{}\n", sandbox.run(&["check"]));
        sandbox.run(&["generate"]).success();
        sandbox.run(&["check"]).success();
    }
    insta::assert_snapshot!(edited, @r#"
    exit 0
    --- stderr
    ok: 6 generated files and 1 tools match buildkit.toml and buildkit.lock
    exit 1
    --- stdout
    --- a/.devcontainer/devcontainer.json
    +++ b/.devcontainer/devcontainer.json (as buildkit.toml renders it)
    @@ -12,4 +12,3 @@
       },
       "postCreateCommand": "buildkit check"
     }
    -// edited by hand
    --- stderr
    drift: .devcontainer/devcontainer.json:15: drifted from buildkit.toml (`// edited by hand`): run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    exit 1
    --- stdout
    --- a/.devcontainer/Dockerfile
    +++ b/.devcontainer/Dockerfile (as buildkit.toml renders it)
    @@ -13,4 +13,3 @@
     
     # What `buildkit env` sets on a laptop (CI-only settings stay in CI).
     ENV PATH=/usr/local/buildkit/bin:$PATH
    -# edited by hand
    --- stderr
    drift: .devcontainer/Dockerfile:16: drifted from buildkit.toml (`# edited by hand`): run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    exit 1
    --- stdout
    --- a/.github/actions/buildkit/action.yml
    +++ b/.github/actions/buildkit/action.yml (as buildkit.toml renders it)
    @@ -60,4 +60,3 @@
         - name: Check that nothing drifted from buildkit.toml
           shell: bash
           run: buildkit check
    -# edited by hand
    --- stderr
    drift: .github/actions/buildkit/action.yml:63: differs from what buildkit.toml renders (`# edited by hand`); buildkit owns this file: put your own steps in your workflow (which calls it), then run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    exit 1
    --- stdout
    --- a/.gitlab/buildkit.yml
    +++ b/.gitlab/buildkit.yml (as buildkit.toml renders it)
    @@ -33,4 +33,3 @@
         - buildkit setup --locked
         - "eval \"$(buildkit env --shell sh)\""
         - buildkit check
    -# edited by hand
    --- stderr
    drift: .gitlab/buildkit.yml:36: differs from what buildkit.toml renders (`# edited by hand`); buildkit owns this file: put your own steps in your workflow (which calls it), then run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    "#);
    insta::assert_snapshot!(removed, @"
    exit 1
    --- stderr
    drift: rust-toolchain.toml is missing: run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    exit 1
    --- stderr
    drift: .devcontainer/devcontainer.json is missing: run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    exit 1
    --- stderr
    drift: .devcontainer/Dockerfile is missing: run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    exit 1
    --- stderr
    drift: .github/actions/buildkit/action.yml is missing: run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    exit 1
    --- stderr
    drift: .gitlab/buildkit.yml is missing: run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    ");

    // The examples are the user's: edited, they are neither checked nor rewritten.
    let mut kept = String::new();
    for file in [".github/workflows/buildkit.yml", ".gitlab-ci.yml"] {
        let edited = format!("{}# my own step\n", sandbox.read(file));
        sandbox.write(file, &edited);
        sandbox.run(&["check"]).success();
        kept += &format!("{}\n", sandbox.run(&["generate"]));
        assert_eq!(sandbox.read(file), edited);
    }
    insta::assert_snapshot!(kept, @"
    exit 0
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    .cargo/config.toml is up to date
    rust-toolchain.toml is up to date
    .devcontainer/devcontainer.json is up to date
    .devcontainer/Dockerfile is up to date
    .dockerignore is yours: left as it is
    .github/actions/buildkit/action.yml is up to date
    .github/workflows/buildkit.yml is yours: left as it is
    .gitlab/buildkit.yml is up to date
    .gitlab-ci.yml is yours: left as it is
    exit 0
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    .cargo/config.toml is up to date
    rust-toolchain.toml is up to date
    .devcontainer/devcontainer.json is up to date
    .devcontainer/Dockerfile is up to date
    .dockerignore is yours: left as it is
    .github/actions/buildkit/action.yml is up to date
    .github/workflows/buildkit.yml is yours: left as it is
    .gitlab/buildkit.yml is up to date
    .gitlab-ci.yml is yours: left as it is
    ");

    // A manifest edit without `buildkit lock` is drift too.
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.lld]\nsource = \"rust\"\n[tools.sccache]\nversion = \"0.17.0\"\n"),
    );
    let run = sandbox.run(&["check"]).failure(1);
    insta::assert_snapshot!(run, @r#"
    exit 1
    --- stdout
    --- a/.devcontainer/devcontainer.json
    +++ b/.devcontainer/devcontainer.json (as buildkit.toml renders it)
    @@ -1,6 +1,6 @@
     // @generated by buildkit from buildkit.toml; do not edit. Regenerate with `buildkit generate`.
     {
    -  "name": "Rust 1.95.0 (lld)",
    +  "name": "Rust 1.95.0 (lld + sccache)",
       "build": {
         "dockerfile": "Dockerfile",
         "context": ".."
    --- a/.devcontainer/Dockerfile
    +++ b/.devcontainer/Dockerfile (as buildkit.toml renders it)
    @@ -12,4 +12,5 @@
     RUN ["/bin/sh","-c","buildkit setup --locked --config /usr/local/buildkit/project/buildkit.toml && rm -rf /root/.cache/buildkit"]
     
     # What `buildkit env` sets on a laptop (CI-only settings stay in CI).
    -ENV PATH=/usr/local/buildkit/bin:$PATH
    +ENV PATH=/usr/local/buildkit/bin:$PATH \
    +    RUSTC_WRAPPER="sccache"
    --- a/.github/actions/buildkit/action.yml
    +++ b/.github/actions/buildkit/action.yml (as buildkit.toml renders it)
    @@ -46,6 +46,8 @@
           shell: bash
           run: |-
             buildkit env --shell github >> "$GITHUB_ENV"
    +        echo 'CARGO_INCREMENTAL=0' >> "$GITHUB_ENV"
    +        echo "SCCACHE_DIR=$HOME/.cache/sccache" >> "$GITHUB_ENV"
     
         - name: Restore the cargo registry
           uses: actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5
    @@ -57,6 +59,13 @@
             key: cargo-registry-${{ runner.os }}-${{ runner.arch }}-${{ hashFiles('**/Cargo.lock') }}
             restore-keys: cargo-registry-${{ runner.os }}-${{ runner.arch }}-
     
    +    - name: Restore the sccache cache
    +      uses: actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5
    +      with:
    +        path: ~/.cache/sccache
    +        key: "sccache-${{ runner.os }}-${{ runner.arch }}-rust-1.95.0-${{ hashFiles('**/Cargo.lock', 'buildkit.lock') }}"
    +        restore-keys: "sccache-${{ runner.os }}-${{ runner.arch }}-rust-1.95.0-"
    +
         - name: Check that nothing drifted from buildkit.toml
           shell: bash
           run: buildkit check
    --- stderr
    drift: buildkit.lock does not match buildkit.toml: run `buildkit lock` and commit it
    drift: .gitlab/buildkit.yml was generated by buildkit, but buildkit.toml no longer asks for it: run `buildkit generate` to remove it
    drift: .devcontainer/devcontainer.json:3: drifted from buildkit.toml (`"name": "Rust 1.95.0 (lld)",`): run `buildkit generate`
    drift: .devcontainer/Dockerfile:15: drifted from buildkit.toml (`ENV PATH=/usr/local/buildkit/bin:$PATH`): run `buildkit generate`
    drift: .github/actions/buildkit/action.yml:49: differs from what buildkit.toml renders (``); buildkit owns this file: put your own steps in your workflow (which calls it), then run `buildkit generate`
    drift: lld rust: [SANDBOX]/home/envs/[LOCK]/bin/ld.lld is missing: run `buildkit setup`
    drift: sccache 0.17.0 is not installed: run `buildkit setup`
    error: 7 thing(s) drifted from buildkit.toml
    "#);
}

#[test]
fn check_rehashes_installed_binaries() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    sandbox.install_served_sccache(&server);
    sandbox.run(&["generate"]).success();
    sandbox.run(&["check"]).success();
    let binary = sandbox.home().join("tools/sccache/0.17.0/sccache");
    std::fs::write(&binary, version_script("sccache 0.17.0 (patched)")).unwrap();
    let run = sandbox.run(&["check"]).failure(1);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    drift: sccache 0.17.0: [SANDBOX]/home/tools/sccache/0.17.0/sccache changed since it was installed (sha256 520605f21620835171cf9bbaed3ffd36079d6daeb5130352bfb223b1f7ee3d1b, receipt says ffd98a91be97b5fcfc2b24bae2d6f9690cde3662ead100cdc2ec6d1f8929f5b1): run `buildkit setup` after removing [SANDBOX]/home/tools/sccache/0.17.0
    error: 1 thing(s) drifted from buildkit.toml
    ");
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
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    drift: sccache 0.17.0: [SANDBOX]/home/envs/[LOCK]/bin/sccache does not point at it: run `buildkit setup`
    error: 1 thing(s) drifted from buildkit.toml
    ");
    std::fs::remove_file(&link).unwrap();
    let run = sandbox.run(&["check"]).failure(1);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    drift: sccache 0.17.0: [SANDBOX]/home/envs/[LOCK]/bin/sccache does not point at it: run `buildkit setup`
    error: 1 thing(s) drifted from buildkit.toml
    ");
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
        .sh(install)
        .current_dir(&runner_temp)
        .env("GITHUB_WORKSPACE", sandbox.project())
        .env("CARGO_TARGET_DIR", sandbox.root().join("install-target"))
        .run();
    assert_eq!(run.code, 0, "{install}\n{run}");
    let installed = sandbox.root().join("user/.buildkit-cli/bin/buildkit");
    insta::assert_snapshot!(sandbox.exec(installed, &[]).run(), @"
    exit 0
    --- stdout
    buildkit 0.1.0
    ");
}

/// A fake rustc whose `-vV` says `release`, for the toolchain checks.
fn fake_rustc(sandbox: &Sandbox, release: &str) -> std::path::PathBuf {
    let path = sandbox.root().join("fake-rustc");
    write_executable(
        &path,
        &format!(
            "#!/bin/sh\nprintf 'rustc {release} (0000000 2026-01-01)\\nbinary: rustc\\nhost: x86_64-unknown-linux-gnu\\nrelease: {release}\\nLLVM version: 22.1.2\\n'\n"
        ),
    );
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
    let rustc = fake_rustc(&sandbox, "1.93.0");
    let run = sandbox
        .buildkit(&["check"])
        .env("RUSTC", &rustc)
        .env_remove("RUSTUP_TOOLCHAIN")
        .run();
    insta::assert_snapshot!(run, @r#"
    exit 1
    --- stderr
    drift: rustc 1.93.0 is active in [SANDBOX]/project, but buildkit.toml pins toolchain.rust = "1.95.0": run `rustup toolchain install 1.95.0` (rust-toolchain.toml selects it)
    error: 1 thing(s) drifted from buildkit.toml
    "#);
    let doctor = sandbox
        .buildkit(&["doctor"])
        .env("RUSTC", &rustc)
        .env_remove("RUSTUP_TOOLCHAIN")
        .run();
    let rustc_line = doctor.stdout.lines().find(|l| l.contains(" rustc "));
    assert_eq!(doctor.code, 1, "{doctor}");
    insta::assert_snapshot!(rustc_line.unwrap_or_default(), @r#"FAIL rustc            rustc 1.93.0 is active in [SANDBOX]/project, but buildkit.toml pins toolchain.rust = "1.95.0": run `rustup toolchain install 1.95.0` (rust-toolchain.toml selects it)"#);
    // A CI matrix job that chose its Rust with RUSTUP_TOOLCHAIN (above rust-toolchain.toml):
    // said, not drift.
    let matrix = sandbox
        .buildkit(&["check"])
        .env("RUSTC", &rustc)
        .env("RUSTUP_TOOLCHAIN", "beta")
        .run();
    insta::assert_snapshot!(matrix, @r#"
    exit 0
    --- stderr
    note: RUSTUP_TOOLCHAIN=beta chooses rustc 1.93.0, not toolchain.rust = "1.95.0" (a CI matrix job's choice; elsewhere unset it)
    ok: 4 generated files and 0 tools match buildkit.toml and buildkit.lock
    "#);
    // With the pinned one, both agree.
    let rustc = fake_rustc(&sandbox, "1.95.0");
    sandbox
        .buildkit(&["check"])
        .env("RUSTC", &rustc)
        .run()
        .success();
}

#[test]
fn init_pins_the_newest_stable_when_the_active_rustc_is_a_nightly() {
    let sandbox = Sandbox::new();
    let rustc = fake_rustc(&sandbox, "1.97.0-nightly");
    let run = sandbox
        .buildkit(&["init", "--linker", "default", "--no-sccache"])
        .env("RUSTC", &rustc)
        .run();
    insta::assert_snapshot!(run, @"
    exit 0
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    wrote [SANDBOX]/project/buildkit.toml and [SANDBOX]/project/buildkit.lock
    note: the active rustc 1.97.0-nightly is not a stable release; pinned Rust 1.95.0, the newest stable it can name (edit toolchain.rust to choose another)
    note: this buildkit was not installed by cargo, so CI cannot install the same: set [buildkit] git + rev (or url + sha256) in buildkit.toml before `buildkit generate`
    linker: rustc's own (rust-lld): nothing to install, nothing a contributor can lack; `buildkit tune` measures mold, wild and less debug info against it on this project (`buildkit init --tune` runs it)
    next: `buildkit setup` installs the tools, `buildkit generate` writes the cargo, devcontainer and CI files
    ");
    assert!(
        sandbox
            .read("buildkit.toml")
            .contains("rust = \"1.95.0\"\n")
    );
}

#[test]
fn bad_buildkit_sources_and_unreleased_rust_name_the_file_and_key() {
    let sandbox = Sandbox::new();
    let mut runs = String::new();
    for manifest in [
        "[buildkit]\ngit = \"https://g.example/b\"\nrev = \"main\"\n",
        "[buildkit]\npath = \"../buildkit\"\n",
        "[toolchain]\nrust = \"1.300.0\"\n",
    ] {
        sandbox.write("buildkit.toml", manifest);
        runs += &format!("{}\n", sandbox.run(&["generate"]));
    }
    insta::assert_snapshot!(runs, @"
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml:3: `buildkit.rev`: `main` is not a pin: give the full 40-hex commit (a branch or tag can move)
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml:2: `buildkit.path`: leaves the project (`..`); the container build context and the CI checkout hold only the project
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml:2: `toolchain.rust`: Rust 1.300.0 is not released yet (1.300.0 is due around 2049-11-12); pin a released stable version
    ");
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n[buildkit]\npath = \"tools/buildkit\"\n"),
    );
    let run = sandbox.run(&["generate"]).failure(2);
    insta::assert_snapshot!(run, @r#"
    exit 2
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    error: [SANDBOX]/project/buildkit.toml: `buildkit.path` = "tools/buildkit" holds no Cargo.toml ([SANDBOX]/project/tools/buildkit/Cargo.toml is missing); CI and the devcontainer build buildkit from there
    "#);
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
    let once = sandbox.run(&["doctor", "--fingerprint"]);
    let twice = sandbox.run(&["doctor", "--fingerprint"]);
    assert_eq!(once.to_string(), twice.to_string());
    // The digests depend on the machine's rustc and rust-lld; the words around them do not.
    let words: String = once
        .to_string()
        .split(' ')
        .map(|word| match word.split_once(':').or(word.split_once('/')) {
            _ if word.len() >= 12 && word.bytes().all(|b| b.is_ascii_hexdigit() || b == b';') => {
                "[DIGEST]"
            }
            Some(("sha256" | "--- stdout\nsha256", _)) => "[SHA256]",
            _ => word,
        })
        .collect::<Vec<_>>()
        .join(" ");
    insta::assert_snapshot!(words, @"
    exit 0
    --- stdout
    sha256:a4594f4dc94ea189e18f829d9274b713500f7342dcde4b0bf9cea763f2dbab14 rustc 1.95.0; lld/ld.lld [DIGEST] wrapper none
    ");
    let overridden = sandbox
        .buildkit(&["doctor", "--fingerprint"])
        .env("RUSTFLAGS", "-C link-arg=-fuse-ld=bfd")
        .run()
        .success();
    assert_ne!(overridden.stdout, once.stdout);
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
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    drift: .gitlab/buildkit.yml was generated by buildkit, but buildkit.toml no longer asks for it: run `buildkit generate` to remove it
    error: 1 thing(s) drifted from buildkit.toml
    ");
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 0
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    .cargo/config.toml is up to date
    rust-toolchain.toml is up to date
    .devcontainer/devcontainer.json is up to date
    .devcontainer/Dockerfile is up to date
    .dockerignore is yours: left as it is
    .github/actions/buildkit/action.yml is up to date
    .github/workflows/buildkit.yml is yours: left as it is
    removed .gitlab/buildkit.yml (buildkit generated it; buildkit.toml no longer asks for it)
    ");
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
    let run = sandbox.run(&["generate"]).failure(2);
    insta::assert_snapshot!(run, @"
    exit 2
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    error: [SANDBOX]/project/.cargo/config is a legacy cargo config, which cargo reads instead of .cargo/config.toml: rename it to .cargo/config.toml (merging the two if both exist), then run `buildkit generate`
    ");
    assert!(!sandbox.project().join(".cargo/config.toml").exists());
    sandbox.run(&["setup", "--quiet"]).success();
    let run = sandbox.run(&["check"]).failure(1);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    drift: [SANDBOX]/project/.cargo/config is a legacy cargo config, which cargo reads instead of .cargo/config.toml: rename it to .cargo/config.toml (merging the two if both exist), then run `buildkit generate`
    error: 1 thing(s) drifted from buildkit.toml
    ");
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
        sandbox
            .sh(&format!(
                "umask {umask} && rm -f buildkit.toml buildkit.lock rust-toolchain.toml && '{}' init --linker lld --no-sccache && printf '[buildkit]\\nversion = \"0.1.0\"\\n' >> buildkit.toml && '{}' generate",
                env!("CARGO_BIN_EXE_buildkit"),
                env!("CARGO_BIN_EXE_buildkit")
            ))
            .run()
            .success();
        let expected = 0o666 & !u32::from_str_radix(umask, 8).unwrap();
        for rel in ["buildkit.toml", "buildkit.lock", "rust-toolchain.toml"] {
            assert_eq!(mode(rel), expected, "{rel} with umask {umask}");
        }
    }
}

/// init pins `[buildkit]` from where cargo installed the running buildkit (its install root's
/// `.crates2.json`): a registry version, a git commit, or a path inside the project; a path
/// outside, or a binary cargo did not install, pins nothing and says why.
#[test]
fn init_pins_buildkit_from_where_it_was_installed() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\n",
    );
    let root = sandbox.root().join("install-root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let binary = root.join("bin/buildkit");
    place_executable(
        std::path::Path::new(env!("CARGO_BIN_EXE_buildkit")),
        &binary,
    );
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let project = sandbox.project().display().to_string();
    let cases = [
        (
            "buildkit-toolchain 0.3.0 (registry+https://github.com/rust-lang/crates.io-index)"
                .to_string(),
            "[buildkit]\n# How the devcontainer and CI install buildkit itself, one of: git + rev (a full 40-hex\n# commit), url + sha256 (a prebuilt binary or .tar.gz, verified like any tool), path (a\n# source tree inside this project), or version (crates.io's buildkit-toolchain, once published).\nversion = \"0.3.0\"\n",
        ),
        (
            format!("buildkit-toolchain 0.1.0 (git+https://git.example/team/buildkit#{rev})"),
            "git = \"https://git.example/team/buildkit\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n",
        ),
        (
            format!("buildkit-toolchain 0.1.0 (path+file://{project}/tools/buildkit)"),
            "path = \"tools/buildkit\"\n",
        ),
        (
            "buildkit-toolchain 0.1.0 (path+file:///somewhere/else)".to_string(),
            "# [buildkit]\n# git = \"https://github.com/OWNER/buildkit\"\n# rev = \"<full 40-hex commit>\"\n",
        ),
    ];
    for (id, expected_tail) in cases {
        std::fs::write(
            root.join(".crates2.json"),
            format!(r#"{{"installs":{{"{id}":{{"bins":["buildkit"]}}}}}}"#),
        )
        .unwrap();
        let run = sandbox
            .exec(&binary, &["init", "--force", "--no-sccache"])
            .run();
        assert_eq!(run.code, 0, "{id}: {run}");
        let manifest = sandbox.read("buildkit.toml");
        assert!(manifest.ends_with(expected_tail), "{id}:\n{manifest}");
        let outside = id.contains("/somewhere/else");
        assert_eq!(
            run.stderr.contains("note: this buildkit was installed from /somewhere/else, outside this project, where CI and the devcontainer cannot build it: set [buildkit] git + rev (or url + sha256) in buildkit.toml before `buildkit generate`"),
            outside,
            "{run}"
        );
    }
    // Without a source, generate says what to add.
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml: `[buildkit]` is not set, and CI and the devcontainer install buildkit from it: add `git` + `rev` (a commit of buildkit's repository), `url` + `sha256` (a release binary), or `path` (a copy inside this project); buildkit-toolchain is not published on crates.io yet
    ");
}

/// init never pins a Rust below what the workspace declares (`rust-version`).
#[test]
fn init_respects_the_workspaces_rust_version() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"needs-new-rust\"\nversion = \"0.1.0\"\nrust-version = \"1.99\"\n",
    );
    sandbox.write("src/lib.rs", "");
    insta::assert_snapshot!(sandbox.run(&["init"]), @"
    exit 2
    --- stderr
    error: package `needs-new-rust` needs rust-version 1.99.0, but the newest stable Rust installed here is 1.95.0: install one (`rustup toolchain install 1.99.0`), then run `buildkit init` again
    ");
    assert!(!sandbox.project().join("buildkit.toml").exists());
    // One that the installed toolchain meets: pinned as usual.
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"old-enough\"\nversion = \"0.1.0\"\nrust-version = \"1.80\"\n",
    );
    sandbox.run(&["init"]).success();
}

/// The project's own rust-toolchain.toml stays the project's: buildkit owns the channel and what
/// `[toolchain]` names; the file's components, targets and comments are kept, and `file = false`
/// hands the whole file back.
#[test]
fn an_existing_rust_toolchain_file_is_merged_not_replaced() {
    let sandbox = Sandbox::new();
    let theirs = "# the project's pin\n[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"clippy\", \"rustfmt\"] # for CI\ntargets = [\"wasm32-unknown-unknown\"]\n";
    sandbox.write("rust-toolchain.toml", theirs);
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n[ci]\nproviders = []\n"),
    );
    sandbox.run(&["generate"]).success();
    insta::assert_snapshot!(sandbox.read("rust-toolchain.toml"), @r#"
    # Partly @generated by buildkit from buildkit.toml: the keys listed below are buildkit's
    # ([toolchain] in buildkit.toml; run `buildkit generate` after changing it). Everything else is
    # yours. rustup reads this file, so a laptop builds with the same compiler as CI and the
    # devcontainer; a job that sets RUSTUP_TOOLCHAIN (a CI matrix) builds with its own.
    # buildkit-owned: toolchain.channel

    # the project's pin
    [toolchain]
    channel = "1.95.0"
    components = ["clippy", "rustfmt"] # for CI
    targets = ["wasm32-unknown-unknown"]
    "#);
    // buildkit.toml names components: buildkit owns that key from now on.
    sandbox.write(
        "buildkit.toml",
        "[toolchain]\nrust = \"1.95.0\"\ncomponents = [\"clippy\", \"rust-src\"]\nprofile = \"minimal\"\n[linker]\nkind = \"default\"\n[ci]\nproviders = []\n",
    );
    insta::assert_snapshot!(sandbox.run(&["generate"]), @r#"
    exit 1
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    error: [SANDBOX]/project/rust-toolchain.toml already sets `toolchain.components` = ["clippy", "rustfmt"] # for CI, and buildkit.toml wants ["clippy", "rust-src"]; re-run with --force to let buildkit own that key, or set `[toolchain] file = false` in buildkit.toml to keep rust-toolchain.toml yours (CI and the devcontainer stay pinned to toolchain.rust)
    "#);
    sandbox.run(&["generate", "--force"]).success();
    insta::assert_snapshot!(sandbox.read("rust-toolchain.toml"), @r#"
    # Partly @generated by buildkit from buildkit.toml: the keys listed below are buildkit's
    # ([toolchain] in buildkit.toml; run `buildkit generate` after changing it). Everything else is
    # yours. rustup reads this file, so a laptop builds with the same compiler as CI and the
    # devcontainer; a job that sets RUSTUP_TOOLCHAIN (a CI matrix) builds with its own.
    # buildkit-owned: toolchain.channel, toolchain.components, toolchain.profile

    # the project's pin
    [toolchain]
    channel = "1.95.0"
    components = ["clippy", "rust-src"] # for CI
    targets = ["wasm32-unknown-unknown"]
    profile = "minimal"
    "#);
    // Opting out hands the file back as it is (without buildkit's header): the project's.
    sandbox.write(
        "buildkit.toml",
        "[toolchain]\nrust = \"1.95.0\"\nfile = false\n[linker]\nkind = \"default\"\n[ci]\nproviders = []\n",
    );
    sandbox.run(&["generate"]).success();
    insta::assert_snapshot!(sandbox.read("rust-toolchain.toml"), @r#"
    # the project's pin
    [toolchain]
    channel = "1.95.0"
    components = ["clippy", "rust-src"] # for CI
    targets = ["wasm32-unknown-unknown"]
    profile = "minimal"
    "#);
    sandbox.run(&["check"]).success();
}

/// Credentials are named, never written: buildkit.toml lists the variables sccache reads its
/// secrets from; the example workflow maps the CI secrets of those names, the devcontainer
/// passes the laptop's through, `buildkit env` prints none of them, and a machine without them
/// keeps to the local cache and is told which is missing.
#[test]
fn cache_credentials_are_named_never_written() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"s3\"\nbucket = \"team-cache\"\ncredentials = [\"AWS_ACCESS_KEY_ID\", \"AWS_SECRET_ACCESS_KEY\"]\n"
        ),
    );
    sandbox.run(&["generate"]).success();
    let workflow = sandbox.read(".github/workflows/buildkit.yml");
    assert!(
        workflow.contains("      CARGO_TERM_COLOR: always\n      AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}\n      AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n"),
        "{workflow}"
    );
    let devcontainer = sandbox.read(".devcontainer/devcontainer.json");
    assert!(
        devcontainer.contains(r#""remoteEnv": {"AWS_ACCESS_KEY_ID":"${localEnv:AWS_ACCESS_KEY_ID}","AWS_SECRET_ACCESS_KEY":"${localEnv:AWS_SECRET_ACCESS_KEY}"},"#),
        "{devcontainer}"
    );
    // Without them: the local cache, and which is missing.
    let env = sandbox
        .buildkit(&["env"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .run();
    insta::assert_snapshot!(env, @r#"
    exit 0
    --- stdout
    export PATH=[SANDBOX]/home/envs/[LOCK]/bin:"$PATH"
    export RUSTC_WRAPPER=sccache
    export SCCACHE_DIR=[SANDBOX]/user/.cache/sccache
    export SCCACHE_SERVER_UDS=[SANDBOX]/home/run/sccache-0.17.0.sock
    --- stderr
    note: the s3 cache needs AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (buildkit.toml [cache] credentials), not set here; sccache uses its local cache
    "#);
    // With them: the bucket, and still no secret in the output.
    let env = sandbox
        .buildkit(&["env"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
        .run();
    assert!(
        env.stdout.contains("export SCCACHE_BUCKET=team-cache"),
        "{env}"
    );
    assert!(
        !env.to_string().contains("s3cr3t-value") && !env.to_string().contains("AKIDEXAMPLE"),
        "{env}"
    );
    // A credential the backend does not read is refused by name.
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nendpoint = \"redis://cache:6379\"\ncredentials = [\"AWS_ACCESS_KEY_ID\"]\n"
        ),
    );
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml:8: `cache.credentials`: `AWS_ACCESS_KEY_ID` is not a variable the redis backend reads its secrets from (SCCACHE_REDIS_USERNAME, SCCACHE_REDIS_PASSWORD)
    ");
}

/// `[cache] project_dir` and `cargo_home`: the devcontainer mounts the project where CI builds
/// it and sets CARGO_HOME likewise; the GitHub action sets the same CARGO_HOME, so their cache
/// keys are the same.
#[test]
fn the_cache_layout_reaches_the_devcontainer_and_the_action() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nendpoint = \"redis://cache.internal:6379\"\nproject_dir = \"/home/runner/work/app/app\"\ncargo_home = \"/home/runner/.cargo\"\n"
        ),
    );
    sandbox.run(&["generate"]).success();
    insta::assert_snapshot!(sandbox.read(".devcontainer/devcontainer.json"), @r#"
    // @generated by buildkit from buildkit.toml; do not edit. Regenerate with `buildkit generate`.
    {
      "name": "Rust 1.95.0 (default + sccache)",
      "build": {
        "dockerfile": "Dockerfile",
        "context": ".."
      },
      "customizations": {
        "vscode": {
          "extensions": ["rust-lang.rust-analyzer"]
        }
      },
      "workspaceMount": "source=${localWorkspaceFolder},target=/home/runner/work/app/app,type=bind",
      "workspaceFolder": "/home/runner/work/app/app",
      "containerEnv": {"CARGO_HOME":"/home/runner/.cargo"},
      "postCreateCommand": "buildkit check"
    }
    "#);
    let action = sandbox.read(".github/actions/buildkit/action.yml");
    assert!(
        action
            .lines()
            .any(|l| l.trim() == "echo 'CARGO_HOME=/home/runner/.cargo' >> \"$GITHUB_ENV\""),
        "{action}"
    );
    // The registry is cached from that CARGO_HOME, not from cargo's default one.
    let registry: Vec<&str> = action
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("registry/") || l.contains("git/db"))
        .collect();
    assert_eq!(
        registry,
        [
            "${{ env.CARGO_HOME }}/registry/index/",
            "${{ env.CARGO_HOME }}/registry/cache/",
            "${{ env.CARGO_HOME }}/git/db/"
        ],
        "{action}"
    );
    // A path that would end the mount option is refused where it is written.
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nendpoint = \"redis://cache.internal:6379\"\nproject_dir = \"/w/app,readonly\"\n"
        ),
    );
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml:8: `cache.project_dir`: `/w/app,readonly`: give a plain absolute path (no `~`, `$`, `..`, comma, quote or backslash): it must mean the same in every environment
    ");
}

/// Run as root on a bind-mounted project (the usual devcontainer), the files generate merges
/// stay the user's: owner, group and mode; a hard-linked one is refused, never split.
#[test]
fn a_merged_file_keeps_its_owner_and_a_hard_link_is_refused() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let sandbox = Sandbox::new();
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"p\"\nversion = \"0.1.0\"\n",
    );
    sandbox.write("buildkit.toml", RUST);
    let config = sandbox.project().join(".cargo/config.toml");
    sandbox.write(".cargo/config.toml", "[alias]\nxt = \"run -p xtask --\"\n");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if root {
        std::os::unix::fs::chown(&config, Some(1234), Some(1235)).unwrap();
    }
    sandbox.run(&["generate"]).success();
    let meta = std::fs::metadata(&config).unwrap();
    assert!(
        sandbox
            .read(".cargo/config.toml")
            .contains("\n# buildkit-owned: nothing (buildkit.toml sets no key here)\n"),
        "merged, saying in words that buildkit owns no key"
    );
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    if root {
        assert_eq!((meta.uid(), meta.gid()), (1234, 1235));
    }
    // The same file under a second name: generate refuses, and both names keep it.
    let merged = sandbox.read(".cargo/config.toml");
    std::fs::hard_link(&config, sandbox.root().join("config-elsewhere.toml")).unwrap();
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[tools.mold]\nversion = \"2.41.0\"\n"),
    );
    let run = sandbox.run(&["generate"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("[SANDBOX]/project/.cargo/config.toml: has 1 other hard link(s); buildkit replaces a file whole"),
        "{run}"
    );
    assert_eq!(sandbox.read(".cargo/config.toml"), merged);
    assert_eq!(
        std::fs::read_to_string(sandbox.root().join("config-elsewhere.toml")).unwrap(),
        merged
    );
}

/// init reads the project's own toolchain pin: it keeps the channel rust-toolchain.toml names
/// where it can, and says why where it cannot (here: a release that is not installed).
#[test]
fn init_proposes_the_projects_own_toolchain_pin() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"p\"\nversion = \"0.1.0\"\n",
    );
    sandbox.write(
        "rust-toolchain.toml",
        "[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"clippy\"]\n",
    );
    // As a contributor's shell runs it: rustup picks the toolchain from the file.
    let init = |args: &[&str]| sandbox.buildkit(args).env_remove("RUSTUP_TOOLCHAIN").run();
    let run = init(&["init", "--no-sccache"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("note: pinned Rust 1.95.0, the channel [SANDBOX]/project/rust-toolchain.toml already names"),
        "{run}"
    );
    sandbox.write("rust-toolchain.toml", "[toolchain]\nchannel = \"1.90.0\"\n");
    let run = init(&["init", "--no-sccache", "--force"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("note: [SANDBOX]/project/rust-toolchain.toml names Rust 1.90.0, not installed here (`rustup toolchain install 1.90.0` installs it); pinned Rust 1.95.0, the newest stable installed here, instead (`buildkit generate` asks before changing the file's channel)"),
        "{run}"
    );
    assert!(sandbox.read("buildkit.toml").contains("rust = \"1.95.0\""));
}

/// A job that chooses its Rust with `rustup default` (as dtolnay/rust-toolchain does) is
/// overridden by the rust-toolchain.toml buildkit writes: generate and doctor say which job, on
/// which line, and the fix; a job with its own RUSTUP_TOOLCHAIN, or `file = false`, gets nothing.
#[test]
fn generate_and_doctor_name_the_jobs_the_toolchain_file_overrides() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"p\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    sandbox.write("src/lib.rs", "");
    let manifest =
        "[toolchain]\nrust = \"1.95.0\"\n[linker]\nkind = \"default\"\n[ci]\nproviders = []\n";
    sandbox.write("buildkit.toml", manifest);
    sandbox.write(
        ".github/workflows/ci.yml",
        "on: [push]\njobs:\n  msrv:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n      - uses: dtolnay/rust-toolchain@1.90\n      - run: cargo check\n  matrix:\n    strategy:\n      matrix:\n        rust: [beta, nightly]\n    runs-on: ubuntu-24.04\n    env:\n      RUSTUP_TOOLCHAIN: ${{ matrix.rust }}\n    steps:\n      - uses: dtolnay/rust-toolchain@master\n        with:\n          toolchain: ${{ matrix.rust }}\n      - run: cargo test\n",
    );
    let warning = "[SANDBOX]/project/.github/workflows/ci.yml:7: job `msrv` chooses its Rust with dtolnay/rust-toolchain@1.90 (which runs `rustup default`), which rust-toolchain.toml overrides: it builds with 1.95.0; give the job `env: RUSTUP_TOOLCHAIN: <its Rust>` (buildkit's book, docs/src/ci.md: A CI matrix that builds with other toolchains), or set `[toolchain] file = false` in buildkit.toml";
    let warning = warning.replace("[SANDBOX]/project/", "");
    let run = sandbox.run(&["generate"]);
    assert_eq!(run.code, 0, "{run}");
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings, [format!("warning: {warning}")], "{run}");
    let run = sandbox.run(&["doctor", "--probe-only", "--offline"]);
    let found: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(" workflows "))
        .collect();
    assert_eq!(found, [format!("warn workflows        {warning}")], "{run}");

    sandbox.write(
        "buildkit.toml",
        &manifest.replace("rust = \"1.95.0\"\n", "rust = \"1.95.0\"\nfile = false\n"),
    );
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 0
    --- stderr
    .cargo/config.toml is up to date
    wrote rust-toolchain.toml
    .devcontainer/devcontainer.json is up to date
    .devcontainer/Dockerfile is up to date
    .dockerignore is yours: left as it is
    ");
}
