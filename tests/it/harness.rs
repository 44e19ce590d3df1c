//! Sandboxes, fixture archives and a loopback HTTP server with fault injection.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Puts the executable `from` at `to`, ready to run at once. A file this process writes has a
/// write descriptor that any child another test thread forks meanwhile inherits (until its
/// exec closes it), and running the file while one is open fails with ETXTBSY. So the file is
/// never written here: a hard link where the filesystem allows, else a copy made by another
/// process (`install`), whose descriptors no test thread can inherit.
pub fn place_executable(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_ok() {
        return;
    }
    let status = Command::new("install")
        .arg("-m0755")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "install {} {}",
        from.display(),
        to.display()
    );
}

/// Writes an executable script at `path` (see [`place_executable`] for why not directly).
pub fn write_executable(path: &Path, text: &str) {
    let source = path.with_file_name(format!(
        ".{}.source",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&source, text).unwrap();
    let _ = std::fs::remove_file(path);
    let status = Command::new("install")
        .arg("-m0755")
        .arg(&source)
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "install {}", path.display());
    std::fs::remove_file(&source).unwrap();
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How the server answers one path.
#[derive(Clone)]
pub enum Route {
    Ok(Vec<u8>),
    Status(u16),
    /// Answer `status` the first `times` requests, then serve the body.
    FailThen {
        times: usize,
        status: u16,
        body: Vec<u8>,
    },
    /// Promise the whole length, send `cut` bytes, close.
    CutShort {
        body: Vec<u8>,
        cut: usize,
    },
    /// Answer 302 with this Location, as GitHub's release URLs do.
    Redirect(String),
    /// Send `cut` bytes, then hang until the client goes away.
    Stall {
        body: Vec<u8>,
        cut: usize,
    },
    /// Send the body one byte at a time, `every` apart: never silent, never done.
    Drip {
        body: Vec<u8>,
        every: Duration,
    },
    /// Any status, with these response headers, and a body.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

#[derive(Default)]
struct ServerState {
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
    /// Each request's path and its `authorization` header, in order.
    requests: Vec<(String, Option<String>)>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1, port 0, one thread per connection.
pub struct Server {
    pub port: u16,
    state: Arc<Mutex<ServerState>>,
    scheme: &'static str,
}

impl Server {
    pub fn start() -> Server {
        Server::listen(None)
    }

    /// The same server behind TLS, with a fresh self-signed certificate for 127.0.0.1; returns
    /// the certificate's PEM, for SSL_CERT_FILE.
    pub fn start_tls() -> (Server, String) {
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let pem = cert.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        (Server::listen(Some(Arc::new(config))), pem)
    }

    fn listen(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ServerState::default()));
        let shared = state.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                let tls = tls.clone();
                std::thread::spawn(move || {
                    let _ = match tls {
                        Some(config) => match rustls::ServerConnection::new(config) {
                            Ok(conn) => serve(rustls::StreamOwned::new(conn, stream), &state),
                            Err(_) => Ok(()),
                        },
                        None => serve(stream, &state),
                    };
                });
            }
        });
        Server {
            port,
            state,
            scheme,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    pub fn route(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), route);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Every request so far: its path and the `authorization` header it carried.
    pub fn requests(&self) -> Vec<(String, Option<String>)> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn total_hits(&self) -> usize {
        self.state.lock().unwrap().hits.values().sum()
    }
}

/// Reads the request head byte by byte (no buffering past it), then answers as routed.
fn serve(mut stream: impl Read + Write, state: &Mutex<ServerState>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let authorization = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_string())
    });
    let (route, hit) = {
        let mut state = state.lock().unwrap();
        state.requests.push((path.clone(), authorization));
        let hit = {
            let count = state.hits.entry(path.clone()).or_insert(0);
            *count += 1;
            *count
        };
        (state.routes.get(&path).cloned(), hit)
    };
    let head = |status: u16, len: usize| {
        format!("HTTP/1.1 {status} X\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n")
    };
    match route {
        None => stream.write_all(head(404, 0).as_bytes())?,
        Some(Route::Ok(body)) => {
            stream.write_all(head(200, body.len()).as_bytes())?;
            stream.write_all(&body)?;
        }
        Some(Route::Status(status)) => stream.write_all(head(status, 0).as_bytes())?,
        Some(Route::Full {
            status,
            headers,
            body,
        }) => {
            let mut text = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
            for (name, value) in headers {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("\r\n");
            stream.write_all(text.as_bytes())?;
            stream.write_all(&body)?;
        }
        Some(Route::Redirect(location)) => stream.write_all(
            format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
        )?,
        Some(Route::FailThen {
            times,
            status,
            body,
        }) => {
            if hit <= times {
                stream.write_all(head(status, 0).as_bytes())?;
            } else {
                stream.write_all(head(200, body.len()).as_bytes())?;
                stream.write_all(&body)?;
            }
        }
        Some(Route::CutShort { body, cut }) => {
            stream.write_all(head(200, body.len()).as_bytes())?;
            stream.write_all(&body[..cut])?;
        }
        Some(Route::Drip { body, every }) => {
            stream.write_all(head(200, body.len()).as_bytes())?;
            for byte in &body {
                stream.write_all(std::slice::from_ref(byte))?;
                stream.flush()?;
                std::thread::sleep(every);
            }
        }
        Some(Route::Stall { body, cut }) => {
            stream.write_all(head(200, body.len()).as_bytes())?;
            stream.write_all(&body[..cut])?;
            stream.flush()?;
            std::thread::sleep(Duration::from_secs(120));
        }
    }
    stream.flush()?;
    Ok(())
}

/// One entry of a fixture archive.
pub enum Entry {
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Dir {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    HardLink {
        path: String,
        target: String,
    },
}

impl Entry {
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Entry {
        Entry::File {
            path: path.into(),
            mode: 0o644,
            data: data.into(),
        }
    }
    pub fn exe(path: &str, data: impl Into<Vec<u8>>) -> Entry {
        Entry::File {
            path: path.into(),
            mode: 0o755,
            data: data.into(),
        }
    }
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }
    pub fn hard_link(path: &str, target: &str) -> Entry {
        Entry::HardLink {
            path: path.into(),
            target: target.into(),
        }
    }
}

/// A script that answers `--version` like the real tool would.
pub fn version_script(line: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho '{line}'\n").into_bytes()
}

/// Writes a raw path into a header, bypassing the tar crate's own safety checks (hostile
/// archives need paths it would refuse to write).
fn set_raw_path(header: &mut tar::Header, path: &str) {
    let name = &mut header.as_old_mut().name;
    name.fill(0);
    name[..path.len()].copy_from_slice(path.as_bytes());
}

fn set_raw_link(header: &mut tar::Header, target: &str) {
    let link = &mut header.as_old_mut().linkname;
    link.fill(0);
    link[..target.len()].copy_from_slice(target.as_bytes());
}

pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        match entry {
            Entry::File { path, mode, data } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                set_raw_path(&mut header, path);
                header.set_cksum();
                builder.append(&header, data.as_slice()).unwrap();
            }
            Entry::Dir { path } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                set_raw_path(&mut header, path);
                header.set_cksum();
                builder.append(&header, std::io::empty()).unwrap();
            }
            Entry::Symlink { path, target } | Entry::HardLink { path, target } => {
                let kind = if matches!(entry, Entry::Symlink { .. }) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                header.set_entry_type(kind);
                header.set_mode(0o777);
                header.set_size(0);
                set_raw_path(&mut header, path);
                set_raw_link(&mut header, target);
                header.set_cksum();
                builder.append(&header, std::io::empty()).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A mold release in the upstream layout, with a stand-in binary that prints `version`.
pub fn mold_archive(version: &str) -> Vec<u8> {
    let top = format!("mold-{version}-x86_64-linux");
    gzip(&tar(&[
        Entry::Dir {
            path: format!("{top}/"),
        },
        Entry::exe(
            &format!("{top}/bin/mold"),
            version_script(&format!("mold {version} (fixture; compatible with GNU ld)")),
        ),
        Entry::symlink(&format!("{top}/bin/ld.mold"), "mold"),
        Entry::file(
            &format!("{top}/lib/mold/mold-wrapper.so"),
            b"\x7fELF wrapper".to_vec(),
        ),
        Entry::symlink(&format!("{top}/libexec/mold/ld"), "../../bin/mold"),
        Entry::file(&format!("{top}/share/doc/mold/LICENSE"), b"MIT".to_vec()),
    ]))
}

/// An sccache release in the upstream layout.
pub fn sccache_archive(version: &str) -> Vec<u8> {
    let top = format!("sccache-v{version}-x86_64-unknown-linux-musl");
    gzip(&tar(&[
        Entry::exe(
            &format!("{top}/sccache"),
            version_script(&format!("sccache {version}")),
        ),
        Entry::file(&format!("{top}/README.md"), b"sccache".to_vec()),
        Entry::file(&format!("{top}/LICENSE"), b"Apache-2.0".to_vec()),
    ]))
}

/// `[tools.NAME]` pointing at the loopback server.
pub fn tool_table(name: &str, version: &str, url: &str, archive: &[u8]) -> String {
    format!(
        "[tools.{name}]\nversion = \"{version}\"\nurl = \"{url}\"\nsha256 = \"{}\"\n",
        sha256_hex(archive)
    )
}

/// A temporary world: project dir, BUILDKIT_HOME, cache, HOME.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["project", "home", "cache", "user"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Sandbox { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn project(&self) -> PathBuf {
        self.root().join("project")
    }
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }

    /// Writes a project file. A buildkit.toml without a `[buildkit]` table gets one (crates.io's
    /// 0.1.0): generate needs a source, and most tests are about something else. A test of the
    /// table itself writes the file with `std::fs::write`.
    pub fn write(&self, rel: &str, text: &str) {
        let text = if rel == "buildkit.toml" && !text.contains("[buildkit]") {
            format!("{text}\n[buildkit]\nversion = \"0.1.0\"\n")
        } else {
            text.to_string()
        };
        let text = text.as_str();
        let path = self.project().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Serves `archive` at `route` and pins `[tools.NAME]` in buildkit.toml to it.
    pub fn pin_served(
        &self,
        server: &Server,
        name: &str,
        version: &str,
        route: &str,
        archive: &[u8],
    ) {
        server.route(route, Route::Ok(archive.to_vec()));
        self.write(
            "buildkit.toml",
            &tool_table(name, version, &server.url(route), archive),
        );
    }

    /// Pins sccache 0.17.0 (served by `server`) with Rust 1.95.0 in buildkit.toml and runs
    /// `setup`: a home with one tool installed.
    pub fn install_served_sccache(&self, server: &Server) {
        let archive = sccache_archive("0.17.0");
        server.route("/sccache.tar.gz", Route::Ok(archive.clone()));
        self.write(
            "buildkit.toml",
            &format!(
                "[toolchain]\nrust = \"1.95.0\"\n{}",
                tool_table(
                    "sccache",
                    "0.17.0",
                    &server.url("/sccache.tar.gz"),
                    &archive
                )
            ),
        );
        self.run(&["setup", "--quiet"]).success();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.project().join(rel)).unwrap()
    }

    /// `buildkit ARGS` in the project dir, with the sandbox's clean environment.
    pub fn buildkit(&self, args: &[&str]) -> Invocation<'_> {
        self.exec(env!("CARGO_BIN_EXE_buildkit"), args)
    }

    /// A POSIX sh script in the project dir, with the sandbox's clean environment.
    pub fn sh(&self, script: &str) -> Invocation<'_> {
        self.exec("sh", &["-c", script])
    }

    /// Any program (an installed tool, bash) in the project dir, with the sandbox's clean
    /// environment.
    pub fn exec(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Invocation<'_> {
        let mut command = Command::new(program);
        command.args(args);
        Invocation {
            sandbox: self,
            command: self.enter(command),
        }
    }

    fn enter(&self, mut cmd: Command) -> Command {
        cmd.current_dir(self.project())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root().join("user"))
            .env("BUILDKIT_HOME", self.home())
            .env("BUILDKIT_CACHE_DIR", self.cache())
            .env("BUILDKIT_DOWNLOAD_ATTEMPTS", "3")
            .env("NO_PROXY", "*")
            // A pinned toolchain that is not installed fails the command; rustup never fetches one.
            .env("RUSTUP_AUTO_INSTALL", "0");
        // The sandbox's HOME is not the one rustup and cargo were installed under.
        for (var, value) in toolchain_homes() {
            if value.exists() {
                cmd.env(var, value);
            }
        }
        if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
            cmd.env("RUSTUP_TOOLCHAIN", toolchain);
        }
        cmd
    }

    /// Whether any path under BUILDKIT_HOME contains `needle` (leftovers, unpacked files).
    pub fn home_has(&self, needle: &str) -> bool {
        tree(&self.home()).iter().any(|p| p.contains(needle))
    }

    /// `buildkit ARGS`, run to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        self.buildkit(args).run()
    }

    /// Replaces what differs from run to run or machine to machine, for snapshots: the
    /// sandbox path, rustup's and cargo's homes, loopback ports, lock ids and the random part
    /// of temporary names.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.replace(&self.root().display().to_string(), "[SANDBOX]");
        for (var, home) in toolchain_homes() {
            text = text.replace(&home.display().to_string(), &format!("[{var}]"));
        }
        while let Some(at) = text.find("127.0.0.1:") {
            let start = at + "127.0.0.1:".len();
            let end = text[start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(text.len(), |e| start + e);
            text.replace_range(at..end, "[LOOPBACK]");
        }
        redact_timestamps(&redact_random_names(&redact_lock_ids(&text)))
    }
}

/// One command in a sandbox: the sandbox's clean environment plus what one test changes.
/// Every way to run it ends in a [`Run`], redacted, so no test reads raw output.
pub struct Invocation<'a> {
    sandbox: &'a Sandbox,
    command: Command,
}

impl<'a> Invocation<'a> {
    pub fn env(mut self, var: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(var, value);
        self
    }

    pub fn env_remove(mut self, var: &str) -> Self {
        self.command.env_remove(var);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Runs it to the end and captures both streams.
    /// Runs to the end and returns stdout as it was printed (nothing redacted): text that a
    /// test feeds to a shell.
    pub fn output_unredacted(mut self) -> String {
        let output = self.command.output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn run(mut self) -> Run {
        Run::from(self.command.output().unwrap(), self.sandbox)
    }

    /// Starts it in the background, both streams captured, for tests that race or kill it.
    pub fn spawn(mut self) -> Running<'a> {
        let child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Running {
            sandbox: self.sandbox,
            child,
        }
    }
}

/// A command started by [`Invocation::spawn`].
pub struct Running<'a> {
    sandbox: &'a Sandbox,
    child: Child,
}

impl Running<'_> {
    /// `kill -9`, then waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    pub fn wait(self) -> Run {
        Run::from(self.child.wait_with_output().unwrap(), self.sandbox)
    }
}

/// What a command did, with the sandbox path, loopback ports and lock ids replaced.
///
/// Tests assert the whole of it (`insta::assert_snapshot!(run, @"...")` shows the exit code
/// and both streams), never a substring: a message that gains a stray line fails the test.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output, sandbox: &Sandbox) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: sandbox.redact(&String::from_utf8_lossy(&output.stdout)),
            stderr: sandbox.redact(&String::from_utf8_lossy(&output.stderr)),
        }
    }

    /// Asserts the whole run as [`Display`](fmt::Display) shows it, where an inline snapshot
    /// cannot stand (in a loop, or a helper several tests share).
    #[track_caller]
    pub fn assert_is(&self, expected: &str) {
        assert_eq!(self.to_string(), expected);
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// `exit N`, then each stream that printed anything, as a snapshot shows them.
impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.code)?;
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.is_empty() {
                write!(f, "\n--- {name}\n{}", text.trim_end_matches('\n'))?;
            }
        }
        Ok(())
    }
}

/// RUSTUP_HOME and CARGO_HOME as this test process has them (rustup's defaults under the real
/// HOME when unset): the sandbox passes them on, and snapshots name them.
fn toolchain_homes() -> [(&'static str, PathBuf); 2] {
    let real_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")].map(|(var, default)| {
        let home = std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| real_home.join(default));
        (var, home)
    })
}

/// `2026-11-24T07:14:35Z` (when a tool was installed) -> `[TIMESTAMP]`.
fn redact_timestamps(text: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < bytes.len() {
        let fits = bytes.len() - at >= SHAPE.len()
            && SHAPE
                .iter()
                .zip(&bytes[at..])
                .all(|(shape, byte)| match shape {
                    b'd' => byte.is_ascii_digit(),
                    other => other == byte,
                });
        if fits {
            out.push_str("[TIMESTAMP]");
            at += SHAPE.len();
        } else {
            let len = text[at..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[at..at + len]);
            at += len;
        }
    }
    out
}

/// The random part of temporary names (`.staging-Ab3dE9`, `<sha256>.x7Yq2a.partial`) ->
/// `[RANDOM]`.
fn redact_random_names(text: &str) -> String {
    let mut out = text.to_string();
    for marker in [".staging-", ".replaced-", ".partial"] {
        let mut from = 0;
        while let Some(found) = out[from..].find(marker) {
            let at = from + found;
            // Prefixes are followed by the random part; the suffix follows it.
            let (start, end) = if marker == ".partial" {
                let start = out[..at]
                    .rfind(|c: char| !c.is_ascii_alphanumeric())
                    .map_or(0, |dot| dot + 1);
                (start, at)
            } else {
                let start = at + marker.len();
                let len = out[start..]
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(out.len() - start);
                (start, start + len)
            };
            // Only a dot-separated random part: a plain `<sha256>.partial` has none.
            let random = start < end && (marker != ".partial" || out[..start].ends_with('.'));
            let shift = if random {
                out.replace_range(start..end, "[RANDOM]");
                "[RANDOM]".len() as isize - (end - start) as isize
            } else {
                0
            };
            // Past the marker and, for a prefix, the random part after it.
            let past = if marker == ".partial" {
                at + marker.len()
            } else {
                end
            };
            from = (past as isize + shift) as usize;
        }
    }
    out
}

/// `envs/<16 hex>` (a lock's bin directory, named by a digest of the lock) -> `envs/[LOCK]`.
pub fn redact_lock_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("envs/") {
        let (before, after) = rest.split_at(at + "envs/".len());
        out.push_str(before);
        let id_len = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if id_len == 16 {
            out.push_str("[LOCK]");
            rest = &after[16..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Every leaf of a TOML text as a dotted path (`target.x86_64-unknown-linux-gnu.rustflags`,
/// `tool.0.sha256` in an array of tables), sorted: asserted whole, a key that should not be there fails as a missing one does, and
/// the file's wording (comments, spacing) does not matter.
pub fn toml_keys(text: &str) -> Vec<String> {
    fn walk(prefix: &str, table: &toml::Table, keys: &mut Vec<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => walk(&path, inner, keys),
                // An array of tables (`[[tool]]`): each by its index.
                toml::Value::Array(items)
                    if items.iter().all(toml::Value::is_table) && !items.is_empty() =>
                {
                    for (i, item) in items.iter().enumerate() {
                        walk(
                            &format!("{path}.{i}"),
                            item.as_table().expect("a table"),
                            keys,
                        );
                    }
                }
                _ => keys.push(path),
            }
        }
    }
    let table: toml::Table = text.parse().expect("TOML");
    let mut keys = Vec::new();
    walk("", &table, &mut keys);
    keys.sort();
    keys
}

/// Every path under `dir`, relative, sorted, links shown with their targets.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    std::fs::read_link(&path).unwrap().display()
                ));
            } else if meta.is_dir() {
                out.push(format!("{rel}/"));
                pending.push(path);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}
