//! Hostile manifests and homes: a committed buildkit.toml never becomes a command, buildkit
//! never acts outside its home and the project, and no file it reads can hang it.
//!
//! The generated files are checked by running them: `run_generated.py` executes every shell
//! line of the action, the GitLab job, the Dockerfile and `buildkit env` (sh and fish) with
//! stand-ins for the tools they call, and fails when a marker file appears, an expression or
//! a YAML key buildkit did not write shows up, or a Dockerfile gains an instruction.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::harness::*;

const RUST: &str = "[toolchain]\nrust = \"1.95.0\"\n";

/// A TOML basic string holding exactly `value`.
fn toml_str(value: &str) -> String {
    toml_edit::Value::from(value).to_string().trim().to_string()
}

fn marker_dir(sandbox: &Sandbox) -> PathBuf {
    let dir = sandbox.root().join("markers");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `buildkit env` for sh, fish and GitHub into files, then every generated shell line;
/// returns the runner's report (`ran N shell lines`, or the violation).
fn run_everything(sandbox: &Sandbox) -> Run {
    let mut outputs = Vec::new();
    for shell in ["sh", "fish", "github"] {
        let run = sandbox.run(&["env", "--shell", shell]);
        assert_eq!(run.code, 0, "buildkit env --shell {shell}:\n{run}");
        let raw = sandbox
            .buildkit(&["env", "--shell", shell])
            .output_unredacted();
        let path = sandbox.root().join(format!("env.{shell}"));
        std::fs::write(&path, raw).unwrap();
        outputs.push(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/run_generated.py");
    let project = sandbox.project();
    let markers = marker_dir(sandbox);
    let mut args: Vec<&str> = vec![
        script.to_str().unwrap(),
        project.to_str().unwrap(),
        markers.to_str().unwrap(),
    ];
    args.extend(outputs.iter().map(|p| p.to_str().unwrap()));
    sandbox.exec("python3", &args).run()
}

/// Fragments an attacker or a careless user would put into a value.
const HOSTILE: &[&str] = &[
    "$(touch MARK/dollar)",
    "`touch MARK/backtick`",
    ";touch MARK/semicolon;",
    "&&touch MARK/and",
    "|touch MARK/pipe",
    ">MARK/redirect",
    "'",
    "\"",
    "\\",
    "\\'",
    "$HOME",
    "${PATH}",
    "#",
    ": ",
    "- ",
    "{",
    "}",
    " ",
    "x",
    "/",
    "é",
    "\n",
    "\r",
    "\0",
    "\t",
    "\u{2028}",
    "\u{1b}[31m",
    "${{ github.event.pull_request.title }}",
];

fn hostile_value() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..HOSTILE.len(), 1..6)
}

fn assemble(parts: &[usize], marks: &Path) -> String {
    parts
        .iter()
        .map(|&i| HOSTILE[i].replace("MARK", &marks.display().to_string()))
        .collect()
}

/// One buildkit.toml with `value` in every string setting that accepts free text.
fn manifest_with(value: &str, remote: bool) -> String {
    // A remote backend that `buildkit env` does not try to reach (S3 without an endpoint), so
    // that its settings reach every output; and a local directory.
    let cache = if remote {
        format!(
            "backend = \"s3\"\nbucket = {}\nregion = {}\nkey_prefix = {}\n",
            toml_str(&format!("team{value}")),
            toml_str(value),
            toml_str(value)
        )
    } else {
        format!("dir = {}\n", toml_str(&format!("/var/{value}")))
    };
    format!(
        "{RUST}[tools.sccache]\nversion = \"0.17.0\"\n[cache]\n{cache}[ci]\nproviders = [\"github\", \"gitlab\"]\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever a value holds, either buildkit.toml is refused in one line with nothing
    /// written, or everything generated from it runs without running the value.
    #[test]
    fn no_value_becomes_a_command(parts in hostile_value(), remote in any::<bool>()) {
        let sandbox = Sandbox::new();
        let marks = marker_dir(&sandbox);
        let value = assemble(&parts, &marks);
        sandbox.write("buildkit.toml", &manifest_with(&value, remote));
        let run = sandbox.run(&["generate"]);
        if run.code == 2 {
            prop_assert!(run.stdout.is_empty());
            prop_assert_eq!(run.stderr.lines().count(), 1, "{}", run);
            prop_assert!(run.stderr.starts_with("error: [SANDBOX]/project/buildkit.toml:"), "{}", run);
            prop_assert!(!sandbox.project().join(".devcontainer").exists());
            prop_assert!(!sandbox.project().join("buildkit.lock").exists());
        } else {
            prop_assert_eq!(run.code, 0, "{}", run);
            let report = run_everything(&sandbox);
            prop_assert_eq!(report.code, 0, "value {:?}:\n{}", value, report);
        }
        prop_assert!(std::fs::read_dir(&marks).unwrap().next().is_none());
    }
}

/// The first case of the issue: a payload in an ssh URL.
#[test]
fn an_ssh_url_with_a_payload_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[buildkit]\ngit = \"ssh://git@h/x$(touch /tmp/p1)`touch /tmp/p2`;touch /tmp/p3;\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n"
        ),
    );
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml:4: `buildkit.git`: must be an https://, http://, ssh:// or file:// URL without quotes, spaces or `$`
    ");
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[buildkit]\ngit = \"ssh://bot:hunter2@h/x.git\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n"
        ),
    );
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 2
    --- stderr
    error: [SANDBOX]/project/buildkit.toml:4: `buildkit.git`: holds credentials (`user@` or `user:password@`); buildkit.toml is committed: give them through a mirror instead (BUILDKIT_MIRROR=https://user:password@mirror.example)
    ");
    // An ssh URL that names its user (no password) is what ssh URLs look like.
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[buildkit]\ngit = \"ssh://git@github.com/team/buildkit.git\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n"
        ),
    );
    sandbox.run(&["generate"]).success();
    let report = run_everything(&sandbox);
    assert_eq!(report.code, 0, "{report}");
}

#[test]
fn a_cache_dir_that_closes_its_quotes_stays_a_value() {
    let sandbox = Sandbox::new();
    let marks = marker_dir(&sandbox);
    let dir = format!(
        "/tmp/x$(touch {m}/p5)\" ; touch {m}/p6 ; echo \"",
        m = marks.display()
    );
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[tools.sccache]\nversion = \"0.17.0\"\n[cache]\ndir = {}\n",
            toml_str(&dir)
        ),
    );
    sandbox.run(&["generate"]).success();
    let report = run_everything(&sandbox);
    assert_eq!(report.code, 0, "{report}");
    // The action takes the directory from the environment `buildkit env` set, never as text.
    let action = sandbox.read(".github/actions/buildkit/action.yml");
    assert!(!action.contains("/tmp/x"), "{action}");
    let github = sandbox.run(&["env", "--shell", "github"]);
    assert_eq!(
        github
            .stdout
            .lines()
            .find(|l| l.starts_with("SCCACHE_DIR=")),
        Some(
            format!("SCCACHE_DIR={dir}")
                .replace(&sandbox.root().display().to_string(), "[SANDBOX]")
        )
        .as_deref()
    );
}

#[test]
fn control_characters_and_expressions_are_refused_in_every_string() {
    let sandbox = Sandbox::new();
    let cases = [
        (
            "[tools.sccache]\nversion = \"0.17.0\"\n[cache]\ndir = \"/tmp/x\\nLD_PRELOAD=/tmp/evil.so\"\n",
            "error: [SANDBOX]/project/buildkit.toml:6: `cache.dir`: holds a control or invisible line-break character (a newline, tab, NUL, U+2028, …); values in buildkit.toml are single lines",
        ),
        (
            "[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"gha\"\nversion = \"${{ github.event.pull_request.title }}\"\n",
            "error: [SANDBOX]/project/buildkit.toml:7: `cache.version`: holds `${{`, which GitHub Actions would evaluate as an expression",
        ),
        (
            "[profile.dev]\n\"a\\u0000b\" = 1\n",
            "error: [SANDBOX]/project/buildkit.toml:4: `profile.dev.a\\u{0}b`: holds a control or invisible line-break character (a newline, tab, NUL, U+2028, …); values in buildkit.toml are single lines",
        ),
        (
            "[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nendpoint = \"redis://:hunter2@10.0.0.1:6379\"\n",
            "error: [SANDBOX]/project/buildkit.toml:7: `cache.endpoint`: holds credentials (`user:password@`); buildkit.toml is committed: give them to sccache through each machine's environment instead (SCCACHE_REDIS_PASSWORD, SCCACHE_WEBDAV_PASSWORD, AWS_ACCESS_KEY_ID, …)",
        ),
        (
            "[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nendpoint = \"redis://10.0.0.1:6379/0?password=hunter2\"\n",
            "error: [SANDBOX]/project/buildkit.toml:7: `cache.endpoint`: holds a secret in its query (`password=`); buildkit.toml is committed: give them to sccache through each machine's environment instead (SCCACHE_REDIS_PASSWORD, SCCACHE_WEBDAV_PASSWORD, AWS_ACCESS_KEY_ID, …)",
        ),
        (
            "[devcontainer]\nimage = \"x\\\\\"\n",
            "error: [SANDBOX]/project/buildkit.toml:4: `devcontainer.image`: `x\\` is not an image reference (letters, digits and `._-/:@`, as in rust:1.95.0-bookworm)",
        ),
        (
            "[buildkit]\npath = \"--link\"\n",
            "error: [SANDBOX]/project/buildkit.toml:4: `buildkit.path`: has a segment that starts with `-`, which commands would read as an option",
        ),
    ];
    for (tail, error) in cases {
        sandbox.write("buildkit.toml", &format!("{RUST}{tail}"));
        sandbox
            .run(&["generate"])
            .assert_is(&format!("exit 2\n--- stderr\n{error}"));
    }
}

#[test]
fn env_quotes_for_fish_as_fish_reads_it() {
    let sandbox = Sandbox::new();
    let marks = marker_dir(&sandbox);
    let prefix = format!("x\\'; touch {}/pf; #", marks.display());
    sandbox.write(
        "buildkit.toml",
        &format!(
            "{RUST}[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"s3\"\nbucket = \"team\"\nkey_prefix = {}\n",
            toml_str(&prefix)
        ),
    );
    sandbox.run(&["generate"]).success();
    let fish = sandbox
        .buildkit(&["env", "--shell", "fish"])
        .output_unredacted();
    let script = format!("{fish}\nprintf '%s' \"$SCCACHE_S3_KEY_PREFIX\"");
    let run = sandbox.exec("fish", &["--no-config", "-c", &script]).run();
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.stdout,
        prefix.replace(&sandbox.root().display().to_string(), "[SANDBOX]")
    );
    assert!(std::fs::read_dir(&marks).unwrap().next().is_none());
}

#[test]
fn a_hostile_home_path_is_quoted_or_refused() {
    let sandbox = Sandbox::new();
    let marks = marker_dir(&sandbox);
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n"),
    );
    let home = sandbox
        .root()
        .join(format!("h$(touch {}/pc)'\"", marks.display()));
    let run = sandbox
        .buildkit(&["setup", "--ci", "--quiet"])
        .env("BUILDKIT_HOME", &home)
        .output_unredacted();
    let eval = sandbox
        .sh(&format!("{run}\nprintf '%s' \"$PATH\" | cut -d: -f1"))
        .run();
    assert_eq!(
        eval.stdout.trim_end(),
        sandbox.redact(&format!("{}/envs/[LOCK]/bin", home.display()))
    );
    assert!(std::fs::read_dir(&marks).unwrap().next().is_none());

    // A line break cannot go into $GITHUB_PATH: refused, nothing appended.
    let github_path = sandbox.root().join("github_path");
    let run = sandbox
        .buildkit(&["setup", "--ci", "--quiet"])
        .env("BUILDKIT_HOME", sandbox.root().join("h\nx"))
        .env("GITHUB_PATH", &github_path)
        .env("GITHUB_ACTIONS", "true")
        .run();
    insta::assert_snapshot!(run, @r"
    exit 1
    --- stderr
    error: [SANDBOX]/github_path: `[SANDBOX]/h\nx/envs/[LOCK]/bin` cannot go into $GITHUB_PATH: it holds a control character (a newline, NUL, …)
    ");
    assert!(!github_path.exists() || std::fs::read_to_string(&github_path).unwrap().is_empty());

    // A home whose name is not UTF-8 cannot be written into PATH as text: said, not mangled.
    use std::os::unix::ffi::OsStrExt as _;
    let odd = sandbox
        .root()
        .join(std::ffi::OsStr::from_bytes(b"home-\xff"));
    let run = sandbox.buildkit(&["env"]).env("BUILDKIT_HOME", &odd).run();
    insta::assert_snapshot!(run, @"
    exit 2
    --- stderr
    error: [SANDBOX]/home-\u{fffd}/envs/[LOCK]/bin is not valid UTF-8; set BUILDKIT_HOME to a directory whose name is
    ");
}

/// A home with sccache installed from the loopback server.
fn installed(sandbox: &Sandbox, server: &Server) {
    sandbox.install_served_sccache(server);
}

/// A directory outside the home that must survive whatever gc and setup do.
fn victim(sandbox: &Sandbox) -> PathBuf {
    let victim = sandbox.root().join("victim");
    std::fs::create_dir_all(victim.join("sub")).unwrap();
    std::fs::write(victim.join("precious"), "keep").unwrap();
    victim
}

fn assert_untouched(victim: &Path) {
    assert_eq!(
        std::fs::read_to_string(victim.join("precious")).unwrap(),
        "keep"
    );
    assert!(victim.join("sub").is_dir());
}

#[test]
fn gc_ignores_a_receipt_that_names_another_directory() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    installed(&sandbox, &server);
    let victim = victim(&sandbox);
    // A stray version directory whose receipt claims to be `../../victim`.
    let stray = sandbox.home().join("tools/sccache/0.1.0");
    std::fs::create_dir_all(&stray).unwrap();
    let receipt = std::fs::read_to_string(
        sandbox
            .home()
            .join("tools/sccache/0.17.0/buildkit-receipt.toml"),
    )
    .unwrap()
    .replace("name = \"sccache\"", "name = \"../../../victim\"");
    std::fs::write(stray.join("buildkit-receipt.toml"), receipt).unwrap();
    let run = sandbox.run(&["gc"]);
    insta::assert_snapshot!(run, @"
    exit 0
    --- stdout
    kept sccache 0.17.0: locked by [SANDBOX]/project/buildkit.lock
    --- stderr
    nothing to remove
    ");
    assert_untouched(&victim);
}

#[test]
fn gc_and_setup_refuse_links_out_of_the_home() {
    for link in ["tools/sccache", "envs", "bin", "tools"] {
        let sandbox = Sandbox::new();
        let server = Server::start();
        installed(&sandbox, &server);
        let victim = victim(&sandbox);
        let path = sandbox.home().join(link);
        std::fs::remove_dir_all(&path).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let expected = format!(
            "exit 1\n--- stderr\nerror: [SANDBOX]/home/{link} is a symbolic link, where buildkit keeps a directory of its own; buildkit never acts through a link out of BUILDKIT_HOME: remove it (buildkit setup recreates what is needed)"
        );
        sandbox.run(&["gc"]).assert_is(&expected);
        sandbox.run(&["setup", "--quiet"]).assert_is(&expected);
        assert_untouched(&victim);
    }
}

#[test]
fn generate_never_writes_or_removes_through_a_link() {
    let sandbox = Sandbox::new();
    let victim = victim(&sandbox);
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[ci]\nproviders = [\"github\"]\n"),
    );
    std::os::unix::fs::symlink(&victim, sandbox.project().join(".devcontainer")).unwrap();
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 2
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    error: [SANDBOX]/project/.devcontainer is a symbolic link; buildkit writes generated files only inside the project, never through a link: replace it with the directory or file itself
    ");
    assert_eq!(tree(&victim), ["precious", "sub/"]);
    assert!(!sandbox.project().join("buildkit.lock").exists());
}

#[test]
fn generate_removes_what_a_killed_run_left() {
    let sandbox = Sandbox::new();
    sandbox.write("buildkit.toml", RUST);
    sandbox.run(&["generate"]).success();
    // A pid no process has (above the kernel's limit).
    let leftover = sandbox
        .project()
        .join(".devcontainer/.buildkit-2147483646-x1");
    std::fs::write(&leftover, "half").unwrap();
    insta::assert_snapshot!(sandbox.run(&["generate"]), @"
    exit 0
    --- stderr
    warning: no Cargo.toml in [SANDBOX]/project: buildkit.toml belongs at the root of a Cargo workspace
    removed [SANDBOX]/project/.devcontainer/.buildkit-2147483646-x1 (left by an interrupted buildkit)
    .cargo/config.toml is up to date
    rust-toolchain.toml is up to date
    .devcontainer/devcontainer.json is up to date
    .devcontainer/Dockerfile is up to date
    .dockerignore is yours: left as it is
    .github/actions/buildkit/action.yml is up to date
    .github/workflows/buildkit.yml is yours: left as it is
    ");
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `rel` in the project as a link to /dev/zero (`zero`) or a FIFO.
fn plant(sandbox: &Sandbox, rel: &str, zero: bool) {
    let path = sandbox.project().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if zero {
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    } else {
        mkfifo(&path);
    }
}

/// Every file buildkit reads, as a FIFO (which blocks a plain read forever) or /dev/zero
/// (which never ends): each command finishes within seconds with one line naming the file.
#[test]
fn no_read_hangs_or_exhausts_memory() {
    for (rel, zero) in [
        ("buildkit.lock", false),
        ("buildkit.lock", true),
        (".cargo/config.toml", false),
        (".cargo/config.toml", true),
        ("rust-toolchain.toml", true),
        (".devcontainer/Dockerfile", false),
    ] {
        let sandbox = Sandbox::new();
        sandbox.write("buildkit.toml", RUST);
        plant(&sandbox, rel, zero);
        for command in ["generate", "check", "env"] {
            if command == "env" && rel != "buildkit.lock" {
                continue;
            }
            let started = Instant::now();
            let run = sandbox.run(&[command]);
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{command} on {rel}"
            );
            assert_ne!(run.code, 0, "{command} on {rel}: {run}");
            // A FIFO or device is refused as such; a link to /dev/zero where buildkit writes
            // a generated file is refused before it is read, as any link there is.
            assert!(
                run.stderr
                    .lines()
                    .any(|line| line.contains(&format!("[SANDBOX]/project/{rel}"))
                        && (line.contains("not a regular file")
                            || line.contains("is a symbolic link"))),
                "{command} on {rel}: {run}"
            );
        }
    }
}

#[test]
fn a_projects_entry_or_receipt_binary_that_is_a_device_does_not_hang() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    installed(&sandbox, &server);
    let projects = sandbox.home().join("projects");
    let mut text = std::fs::read_to_string(&projects).unwrap();
    text.push_str("/dev/zero\n");
    std::fs::write(&projects, text).unwrap();
    let started = Instant::now();
    let run = sandbox.run(&["gc"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    error: could not read /dev/zero: is not a regular file (a FIFO, socket or device); gc removes nothing while a project's lock cannot be read
    ");
    // A receipt whose binary is /dev/zero is no receipt: check says so, at once.
    std::fs::write(&projects, "").unwrap();
    let receipt = sandbox
        .home()
        .join("tools/sccache/0.17.0/buildkit-receipt.toml");
    let text = std::fs::read_to_string(&receipt).unwrap();
    let edited = text.replace("\nsccache = ", "\n\"/dev/zero\" = ");
    assert_ne!(edited, text, "the receipt names its binary");
    std::fs::write(&receipt, edited).unwrap();
    let started = Instant::now();
    let run = sandbox.run(&["check"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains("sccache 0.17.0 is not installed: run `buildkit setup`"),
        "{run}"
    );
}

#[test]
fn list_and_errors_show_control_characters_escaped() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    installed(&sandbox, &server);
    let receipt = sandbox
        .home()
        .join("tools/sccache/0.17.0/buildkit-receipt.toml");
    let text = std::fs::read_to_string(&receipt).unwrap();
    let at = text
        .lines()
        .find(|l| l.starts_with("installed_at"))
        .unwrap();
    std::fs::write(
        &receipt,
        text.replace(at, "installed_at = \"\\u001b[2J\\u001b]0;owned\\u0007\""),
    )
    .unwrap();
    let run = sandbox.run(&["list"]);
    insta::assert_snapshot!(run, @r"
    exit 0
    --- stdout
    sccache 0.17.0  sha256:5e9cbf466c72  \u{1b}[2J\u{1b}]0;owned\u{7}  (bin: sccache)
    ");
}

#[test]
fn gc_in_one_home_keeps_what_another_home_sharing_the_cache_pins() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    // Home A installs sccache for this project; its archive is in the shared cache.
    installed(&sandbox, &server);
    let archive = format!("{}.tar.gz", sha256_hex(&sccache_archive("0.17.0")));
    assert!(sandbox.cache().join(&archive).exists());
    // Home B, same cache, another project that pins nothing: its gc must keep A's archive.
    let other = sandbox.root().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("buildkit.toml"),
        format!("{RUST}[linker]\nkind = \"default\"\n"),
    )
    .unwrap();
    let home_b = sandbox.root().join("home-b");
    sandbox
        .buildkit(&["setup", "--quiet"])
        .current_dir(&other)
        .env("BUILDKIT_HOME", &home_b)
        .run()
        .success();
    let run = sandbox
        .buildkit(&["gc"])
        .current_dir(&other)
        .env("BUILDKIT_HOME", &home_b)
        .run();
    insta::assert_snapshot!(run, @"
    exit 0
    --- stderr
    nothing to remove
    ");
    assert!(sandbox.cache().join(&archive).exists());
    // Once home A is gone, its pins no longer count.
    std::fs::remove_dir_all(sandbox.home()).unwrap();
    let run = sandbox
        .buildkit(&["gc"])
        .current_dir(&other)
        .env("BUILDKIT_HOME", &home_b)
        .run();
    assert_eq!(run.code, 0, "{run}");
    assert!(!sandbox.cache().join(&archive).exists(), "{run}");
}

#[test]
fn an_unusable_home_is_named_for_what_it_is() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!("{RUST}[linker]\nkind = \"default\"\n"),
    );
    let file = sandbox.root().join("home-file");
    std::fs::write(&file, "not a directory").unwrap();
    let run = sandbox
        .buildkit(&["setup", "--quiet"])
        .env("BUILDKIT_HOME", &file)
        .run();
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    error: BUILDKIT_HOME [SANDBOX]/home-file is a file, not a directory: point BUILDKIT_HOME at a directory
    ");
}

/// A binary replaced together with its receipt's digest: the receipt agrees, but the archive
/// the lock pins (still in the download cache, hashed first) says otherwise.
#[test]
fn a_binary_replaced_with_its_receipt_is_caught_against_the_pinned_archive() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    installed(&sandbox, &server);
    sandbox.run(&["generate"]).success();
    sandbox.run(&["check"]).success();
    let binary = sandbox.home().join("tools/sccache/0.17.0/sccache");
    let forged = version_script("sccache 0.17.0 (forged)");
    std::fs::write(&binary, &forged).unwrap();
    let receipt = sandbox
        .home()
        .join("tools/sccache/0.17.0/buildkit-receipt.toml");
    let text = std::fs::read_to_string(&receipt).unwrap();
    let line = text.lines().find(|l| l.starts_with("sccache = ")).unwrap();
    std::fs::write(
        &receipt,
        text.replace(line, &format!("sccache = \"{}\"", sha256_hex(&forged))),
    )
    .unwrap();
    let run = sandbox.run(&["check"]);
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "drift: sccache 0.17.0: [SANDBOX]/home/tools/sccache/0.17.0/sccache is not the file the pinned archive holds (sha256 {}, the archive's ",
        sha256_hex(&forged)
    );
    assert!(run.stderr.starts_with(&expected), "{run}");
}

/// The files cargo, rustc and rustup read in a project, as a FIFO or a link to /dev/zero: no
/// command that starts one of them hangs (a FIFO blocks them forever, /dev/zero makes rustup
/// grow without bound); each says which file, before starting anything.
#[test]
fn no_child_hangs_on_a_file_it_reads() {
    let commands: &[&[&str]] = &[
        &["check"],
        &["doctor"],
        &["doctor", "--fingerprint"],
        &["init", "--force"],
        &["tune", "--offline", "--runs", "3"],
        &["bench", "--runs", "1"],
    ];
    for (rel, zero) in [
        ("rust-toolchain.toml", false),
        ("rust-toolchain.toml", true),
        ("rust-toolchain", false),
        (".cargo/config.toml", false),
        (".cargo/config.toml", true),
        ("Cargo.toml", false),
        ("crates/member/Cargo.toml", false),
    ] {
        let sandbox = Sandbox::new();
        sandbox.write("buildkit.toml", RUST);
        if rel.starts_with("crates/") {
            sandbox.write("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n");
        } else if rel != "Cargo.toml" {
            sandbox.write(
                "Cargo.toml",
                "[package]\nname = \"p\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            );
            sandbox.write("src/main.rs", "fn main() {}\n");
        }
        plant(&sandbox, rel, zero);
        for args in commands {
            // `timeout` turns a hang into a failure with exit 124 instead of a stuck suite.
            let mut all = vec!["60", env!("CARGO_BIN_EXE_buildkit")];
            all.extend_from_slice(args);
            let started = Instant::now();
            let run = sandbox.exec("timeout", &all).run();
            let what = format!(
                "`{}` with {rel} a {}",
                args.join(" "),
                if zero { "link to /dev/zero" } else { "FIFO" }
            );
            assert!(started.elapsed() < Duration::from_secs(30), "{what}: {run}");
            assert_ne!(run.code, 124, "{what} hung: {run}");
            assert_ne!(run.code, 0, "{what}: {run}");
            // Refused by buildkit's own read of it, or before a child would read it.
            let path = format!("[SANDBOX]/project/{rel}");
            assert!(
                run.stderr
                    .lines()
                    .chain(run.stdout.lines())
                    .any(|l| l.contains(&path) && l.contains("not a regular file")),
                "{what}: {run}"
            );
        }
    }
}

/// A child buildkit started (here a rustc that never answers) dies with buildkit, even when
/// buildkit is killed with SIGKILL and can clean up nothing.
#[test]
fn a_child_never_outlives_buildkit() {
    let sandbox = Sandbox::new();
    sandbox.write("buildkit.toml", RUST);
    let pid_file = sandbox.root().join("rustc.pid");
    let rustc = sandbox.root().join("slow-rustc");
    write_executable(
        &rustc,
        &format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 600\n",
            pid_file.display()
        ),
    );
    let running = sandbox.buildkit(&["check"]).env("RUSTC", &rustc).spawn();
    let started = Instant::now();
    while !pid_file.exists()
        || std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "rustc was not started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    let alive = || {
        Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    };
    assert!(alive());
    running.kill();
    let killed = Instant::now();
    while alive() {
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the child outlived buildkit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
