//! One cache for the team, on real servers: Debian's redis-server and memcached, PyPI's moto
//! (an S3-compatible store) and wsgidav (WebDAV), each started here on a free loopback port
//! with its own data directory and stopped at the end, and the real sccache.
//!
//! Two sandboxes play two machines: their own HOME, BUILDKIT_HOME and local sccache cache.
//! The first builds as CI does on a branch (which writes); the second as a pull request's job
//! (which only reads) at the same absolute project path and CARGO_HOME, the layout buildkit.toml's
//! `[cache] project_dir` and `cargo_home` name, and gets every cacheable crate from the
//! remote level. A third machine elsewhere gets nothing, and doctor says why.
//!
//! When a server is missing these tests fail and say how to install it (`scripts/test-tools`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::e2e::{python_script, rust_version, serve_real};
use crate::harness::*;

const SERVERS_INSTALL: &str = "scripts/test-tools installs them: apt-get install -y redis-server memcached; pip install 'moto[server]' wsgidav cheroot";

/// A server this test started, stopped (and its data removed) when dropped.
struct Daemon {
    child: Child,
    port: u16,
    data: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(program: &str, args: &[String], data: tempfile::TempDir, port: u16) -> Daemon {
    let child = Command::new(program)
        .args(args)
        .current_dir(data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} ({e}): {SERVERS_INSTALL}"));
    let daemon = Daemon { child, port, data };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{program} did not listen on 127.0.0.1:{port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon
}

/// One request on a fresh connection, the whole answer.
fn ask(port: u16, request: &[u8], until: &dyn Fn(&str) -> bool) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if until(&String::from_utf8_lossy(&answer)) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn http(port: u16, method: &str, path: &str) -> String {
    ask(
        port,
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
        &|_| false,
    )
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Redis,
    Memcached,
    S3,
    Webdav,
}

const BUCKET: &str = "team-cache";

impl Backend {
    fn start(self) -> Daemon {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let dir = data.path().display().to_string();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            Backend::Redis => start(
                "redis-server",
                &args(&[
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    &dir,
                ]),
                data,
                port,
            ),
            Backend::Memcached => {
                // -I: memcached refuses items over 1 MiB by default, and a crate's rlib is
                // often larger (sccache's write then fails and the crate is never shared).
                let mut a = args(&[
                    "-l",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-U",
                    "0",
                    "-I",
                    "64m",
                    "-m",
                    "512",
                ]);
                // memcached refuses to run as root unless told which user to be.
                if rustix::process::geteuid().is_root() {
                    a.extend(args(&["-u", "root"]));
                }
                start("memcached", &a, data, port)
            }
            Backend::S3 => {
                let daemon = start(
                    &python_script("moto_server", SERVERS_INSTALL)
                        .display()
                        .to_string(),
                    &args(&["-H", "127.0.0.1", "-p", &port.to_string()]),
                    data,
                    port,
                );
                let answer = http(port, "PUT", &format!("/{BUCKET}"));
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                daemon
            }
            Backend::Webdav => start(
                &python_script("wsgidav", SERVERS_INSTALL)
                    .display()
                    .to_string(),
                &args(&[
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--root",
                    &dir,
                    "--auth",
                    "anonymous",
                    "--no-config",
                ]),
                data,
                port,
            ),
        }
    }

    /// buildkit.toml's `[cache]` for the server, and the credentials a machine sets.
    fn table(self, port: u16) -> (String, Vec<(&'static str, &'static str)>) {
        match self {
            Backend::Redis => (
                format!("backend = \"redis\"\nendpoint = \"redis://127.0.0.1:{port}\"\n"),
                Vec::new(),
            ),
            Backend::Memcached => (
                format!("backend = \"memcached\"\nendpoint = \"tcp://127.0.0.1:{port}\"\n"),
                Vec::new(),
            ),
            Backend::S3 => (
                format!(
                    "backend = \"s3\"\nbucket = \"{BUCKET}\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\nuse_ssl = false\ncredentials = [\"AWS_ACCESS_KEY_ID\", \"AWS_SECRET_ACCESS_KEY\"]\n"
                ),
                vec![
                    ("AWS_ACCESS_KEY_ID", "team-key"),
                    ("AWS_SECRET_ACCESS_KEY", "team-secret"),
                ],
            ),
            Backend::Webdav => (
                format!("backend = \"webdav\"\nendpoint = \"http://127.0.0.1:{port}\"\n"),
                Vec::new(),
            ),
        }
    }

    /// How many entries the server holds.
    fn entries(self, daemon: &Daemon) -> usize {
        match self {
            Backend::Redis => {
                let answer = ask(daemon.port, b"DBSIZE\r\n", &|a| a.ends_with("\r\n"));
                answer.trim().trim_start_matches(':').parse().unwrap()
            }
            Backend::Memcached => {
                let answer = ask(daemon.port, b"stats\r\n", &|a| a.ends_with("END\r\n"));
                answer
                    .lines()
                    .find_map(|l| l.strip_prefix("STAT curr_items "))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            }
            Backend::S3 => {
                let answer = http(daemon.port, "GET", &format!("/{BUCKET}?list-type=2"));
                answer.matches("<Key>").count()
            }
            Backend::Webdav => files_under(daemon.data.path()),
        }
    }
}

fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { files_under(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Where a machine builds: the project's absolute path and CARGO_HOME.
struct Layout {
    project: PathBuf,
    cargo_home: PathBuf,
}

/// A project with dependencies from crates.io (a build script, a proc-macro, libraries) and a
/// library of its own, written at `layout` with buildkit.toml's `[cache]`.
fn write_project(layout: &Layout, manifest: &str) {
    let _ = std::fs::remove_dir_all(&layout.project);
    std::fs::create_dir_all(layout.project.join("src")).unwrap();
    let files = [
        (
            "Cargo.toml",
            "[package]\nname = \"team\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\nitoa = \"1\"\n\n[workspace]\n",
        ),
        (
            "src/lib.rs",
            "#[derive(serde::Serialize)]\npub struct Greeting { pub text: String }\npub fn greeting(n: u32) -> String { format!(\"hello {}\", itoa::Buffer::new().format(n)) }\n",
        ),
        (
            "src/main.rs",
            "fn main() { println!(\"{}\", team::greeting(1)); }\n",
        ),
        ("buildkit.toml", manifest),
    ];
    for (rel, text) in files {
        std::fs::write(layout.project.join(rel), text).unwrap();
    }
}

/// `buildkit setup`, then a clean build in `buildkit env` on one machine, as `place` builds
/// (CI on a branch, CI on a pull request, or a laptop); sccache's statistics of that build.
fn build_on(
    machine: &Sandbox,
    layout: &Layout,
    place: &[(&str, &str)],
    credentials: &[(&str, &str)],
) -> (Run, serde_json::Value) {
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    machine
        .buildkit(&["setup", "--quiet"])
        .current_dir(&layout.project)
        .run()
        .success();
    let _ = std::fs::remove_dir_all(layout.project.join("target"));
    let mut script = machine
        .sh(&format!(
            "set -e\neval \"$('{buildkit}' env)\"\ncargo build --quiet\nsccache --show-stats --stats-format json > stats.json\nsccache --stop-server >/dev/null"
        ))
        .current_dir(&layout.project)
        .env("CARGO_HOME", &layout.cargo_home)
        .env_remove("RUSTC_WRAPPER");
    for (name, value) in place.iter().chain(credentials) {
        script = script.env(name, value);
    }
    let run = script.run();
    assert_eq!(run.code, 0, "{run}");
    let stats = std::fs::read_to_string(layout.project.join("stats.json")).unwrap();
    std::fs::remove_file(layout.project.join("stats.json")).unwrap();
    (run, serde_json::from_str(&stats).unwrap())
}

/// One finding of `doctor --json`, by its check's name.
fn finding(doctor: &Run, name: &str) -> serde_json::Value {
    let findings: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == name)
        .unwrap_or_else(|| panic!("no `{name}` finding: {doctor}"))
        .clone()
}

fn rust_count(stats: &serde_json::Value, key: &str) -> u64 {
    stats["stats"][key]["counts"]["Rust"].as_u64().unwrap_or(0)
}

/// CI as the generated building blocks set it up: `buildkit env` plus CARGO_INCREMENTAL=0
/// (incremental compilations are not cacheable), on a branch or for a pull request.
const CI_BRANCH: &[(&str, &str)] = &[
    ("CI", "true"),
    ("GITHUB_EVENT_NAME", "push"),
    ("CARGO_INCREMENTAL", "0"),
];
const CI_PULL_REQUEST: &[(&str, &str)] = &[
    ("CI", "true"),
    ("GITHUB_EVENT_NAME", "pull_request"),
    ("CARGO_INCREMENTAL", "0"),
];

/// buildkit.toml pinning the real sccache (served by `server`) with `cache` as its `[cache]`.
fn team_manifest(server: &Server, cache: &str) -> String {
    let (version, archive) = serve_real(server, "sccache");
    format!(
        "[toolchain]\nrust = \"{}\"\n{}[cache]\n{cache}\n[buildkit]\nversion = \"0.1.0\"\n",
        rust_version(),
        tool_table(
            "sccache",
            &version,
            &server.url("/sccache.tar.gz"),
            &archive
        ),
    )
}

fn team_cache_is_shared_at_the_same_layout(backend: Backend) {
    let server = Server::start();
    let daemon = backend.start();
    let (cache, credentials) = backend.table(daemon.port);
    let world = tempfile::tempdir().unwrap();
    let team = Layout {
        project: world.path().join("work/team/team"),
        cargo_home: world.path().join("cargo-home"),
    };
    let manifest = team_manifest(
        &server,
        &format!(
            "{cache}project_dir = \"{}\"\ncargo_home = \"{}\"\n",
            team.project.display(),
            team.cargo_home.display()
        ),
    );

    // The first machine, as CI on a branch: every cacheable crate compiled and written.
    let ci = Sandbox::new();
    write_project(&team, &manifest);
    let (_, first) = build_on(&ci, &team, CI_BRANCH, &credentials);
    let cacheable = rust_count(&first, "cache_misses");
    assert!(cacheable >= 6, "{backend:?}: {first}");
    assert_eq!(rust_count(&first, "cache_hits"), 0, "{backend:?}: {first}");
    let written = backend.entries(&daemon);
    assert!(
        written as u64 >= cacheable,
        "{backend:?}: {written} entries"
    );

    // The second machine, a pull request's job at the same layout: its local level starts
    // empty, so every hit is the remote level's: every dependency and the workspace's
    // library, nothing compiled that sccache can cache.
    let pull_request = Sandbox::new();
    write_project(&team, &manifest);
    let (_, second) = build_on(&pull_request, &team, CI_PULL_REQUEST, &credentials);
    assert_eq!(
        rust_count(&second, "cache_hits"),
        cacheable,
        "{backend:?}: {second}"
    );
    assert_eq!(
        rust_count(&second, "cache_misses"),
        0,
        "{backend:?}: {second}"
    );
    assert_eq!(second["cache_location"], "Multi-level (2 levels)");
    // doctor on a laptop there: a reader, at the team's layout.
    let laptop = Sandbox::new();
    laptop
        .buildkit(&["setup", "--quiet"])
        .current_dir(&team.project)
        .run()
        .success();
    let doctor = laptop
        .buildkit(&["doctor", "--probe-only", "--json"])
        .current_dir(&team.project)
        .env("CARGO_HOME", &team.cargo_home)
        .run();
    assert_eq!(finding(&doctor, "cache layout")["status"], "ok", "{doctor}");
    assert!(
        finding(&doctor, "cache policy")["detail"]
            .as_str()
            .unwrap()
            .starts_with("this machine (not CI) only reads the shared cache"),
        "{doctor}"
    );

    // A pull request's change is compiled and not written: the server holds what the branch
    // wrote.
    std::fs::write(
        team.project.join("src/lib.rs"),
        "pub fn greeting(n: u32) -> String { format!(\"hi {}\", itoa::Buffer::new().format(n)) }\n",
    )
    .unwrap();
    let (_, changed) = build_on(&pull_request, &team, CI_PULL_REQUEST, &credentials);
    assert_eq!(
        rust_count(&changed, "cache_misses"),
        1,
        "{backend:?}: {changed}"
    );
    assert_eq!(
        backend.entries(&daemon),
        written,
        "{backend:?}: a reader wrote"
    );

    // Elsewhere (another path, another CARGO_HOME), nothing is shared, and doctor says why.
    let elsewhere = Layout {
        project: world.path().join("home/someone/src/team"),
        cargo_home: world.path().join("home/someone/.cargo"),
    };
    let other = Sandbox::new();
    write_project(&elsewhere, &manifest);
    let (_, third) = build_on(&other, &elsewhere, CI_PULL_REQUEST, &credentials);
    assert_eq!(rust_count(&third, "cache_hits"), 0, "{backend:?}: {third}");
    let doctor = other
        .buildkit(&["doctor", "--probe-only", "--json"])
        .current_dir(&elsewhere.project)
        .env("CARGO_HOME", &elsewhere.cargo_home)
        .run();
    let layout = finding(&doctor, "cache layout");
    assert_eq!(layout["status"], "warn", "{doctor}");
    assert!(
        layout["detail"]
            .as_str()
            .unwrap()
            .contains("sccache keys Rust crates by absolute paths"),
        "{doctor}"
    );
}

#[test]
fn redis_team_cache_hits_across_machines_and_laptops_only_read() {
    team_cache_is_shared_at_the_same_layout(Backend::Redis);
}

#[test]
fn memcached_team_cache_hits_across_machines_and_laptops_only_read() {
    team_cache_is_shared_at_the_same_layout(Backend::Memcached);
}

#[test]
fn s3_team_cache_hits_across_machines_and_laptops_only_read() {
    team_cache_is_shared_at_the_same_layout(Backend::S3);
}

#[test]
fn webdav_team_cache_hits_across_machines_and_laptops_only_read() {
    team_cache_is_shared_at_the_same_layout(Backend::Webdav);
}

/// A pull request's CI job reads and does not write; a branch's job writes. Credentials that
/// are not set leave the machine on its local cache, said in one line naming them.
#[test]
fn a_pull_request_only_reads_and_missing_credentials_are_named() {
    let server = Server::start();
    let daemon = Backend::S3.start();
    let (cache, credentials) = Backend::S3.table(daemon.port);
    let world = tempfile::tempdir().unwrap();
    let layout = Layout {
        project: world.path().join("work/team/team"),
        cargo_home: world.path().join("cargo-home"),
    };
    let manifest = team_manifest(&server, &cache);
    let machine = Sandbox::new();
    write_project(&layout, &manifest);
    build_on(&machine, &layout, CI_PULL_REQUEST, &credentials);
    assert_eq!(Backend::S3.entries(&daemon), 0, "a pull request wrote");
    build_on(&machine, &layout, CI_BRANCH, &credentials);
    assert!(Backend::S3.entries(&daemon) > 0, "the branch did not write");

    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    let env = machine
        .sh(&format!("'{buildkit}' env >/dev/null"))
        .current_dir(&layout.project)
        .run();
    insta::assert_snapshot!(env, @"
    exit 0
    --- stderr
    note: the s3 cache needs AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (buildkit.toml [cache] credentials), not set here; sccache uses its local cache
    ");
}

/// A wrong password: the server is up, sccache refuses to start with it (every compile would
/// fail), so `buildkit env` leaves this machine on its local cache and says so in one line
/// naming the variable to check; the build succeeds.
#[test]
fn a_wrong_password_falls_back_to_the_local_cache_and_names_the_variable() {
    let server = Server::start();
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    let _redis = start(
        "redis-server",
        &[
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir,
            "--requirepass",
            "the-right-one",
        ]
        .map(String::from),
        data,
        port,
    );
    let world = tempfile::tempdir().unwrap();
    let layout = Layout {
        project: world.path().join("work/team/team"),
        cargo_home: world.path().join("cargo-home"),
    };
    let manifest = team_manifest(
        &server,
        &format!(
            "backend = \"redis\"\nendpoint = \"redis://127.0.0.1:{port}\"\ncredentials = [\"SCCACHE_REDIS_PASSWORD\"]\n"
        ),
    );
    write_project(&layout, &manifest);
    let machine = Sandbox::new();
    let (run, stats) = build_on(
        &machine,
        &layout,
        CI_BRANCH,
        &[("SCCACHE_REDIS_PASSWORD", "a-wrong-one")],
    );
    assert_eq!(
        stats["cache_location"],
        serde_json::json!(format!(
            "Local disk: \"{}\"",
            machine.root().join("user/.cache/sccache").display()
        ))
    );
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("note:"))
        .collect();
    assert_eq!(notes.len(), 1, "{run}");
    assert!(
        notes[0].starts_with("note: sccache refused the redis cache (")
            && notes[0].ends_with("; check SCCACHE_REDIS_PASSWORD); sccache uses its local cache"),
        "{run}"
    );
}

/// The server stops after `buildkit env` started sccache with it, in the middle of the work:
/// the build still succeeds (each cache request waits for its timeout first: this test takes
/// about a minute for one cacheable crate), and doctor then reports the backend down.
#[test]
fn a_server_stopping_mid_build_does_not_fail_it_and_doctor_says_so() {
    let server = Server::start();
    let redis = Backend::Redis.start();
    let (cache, _) = Backend::Redis.table(redis.port);
    let machine = Sandbox::new();
    machine.write(
        "Cargo.toml",
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    machine.write(
        "src/lib.rs",
        "pub fn add(a: u32, b: u32) -> u32 { a + b }\n",
    );
    machine.write(
        "src/main.rs",
        "fn main() { println!(\"{}\", tiny::add(1, 2)); }\n",
    );
    machine.write("buildkit.toml", &team_manifest(&server, &cache));
    machine.run(&["setup", "--quiet"]).success();
    let buildkit = env!("CARGO_BIN_EXE_buildkit");
    // `buildkit env` finds the server up and starts sccache with it.
    let env = machine
        .sh(&format!("'{buildkit}' env > env.sh"))
        .env_remove("RUSTC_WRAPPER")
        .run();
    assert_eq!(env.code, 0, "{env}");
    drop(redis);
    let build = machine
        .sh(". ./env.sh && CARGO_INCREMENTAL=0 cargo build --quiet && sccache --show-stats --stats-format json > stats.json; status=$?; sccache --stop-server >/dev/null; exit $status")
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_TARGET_DIR", machine.root().join("target"))
        .run();
    assert_eq!(build.code, 0, "{build}");
    let stats: serde_json::Value = serde_json::from_str(&machine.read("stats.json")).unwrap();
    assert_eq!(stats["cache_location"], "Multi-level (2 levels)", "{stats}");
    let doctor = machine
        .buildkit(&["doctor", "--probe-only", "--json"])
        .env_remove("RUSTC_WRAPPER")
        .run();
    let cache = finding(&doctor, "cache");
    assert_eq!(cache["status"], "warn", "{doctor}");
    assert!(
        cache["detail"]
            .as_str()
            .unwrap()
            .contains("cannot be reached from here"),
        "{doctor}"
    );
}
