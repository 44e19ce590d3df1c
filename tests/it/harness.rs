//! Sandboxes, fixture archives and a loopback HTTP server with fault injection.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

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
}

#[derive(Default)]
struct ServerState {
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
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
    let (route, hit) = {
        let mut state = state.lock().unwrap();
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

    pub fn write(&self, rel: &str, text: &str) {
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

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.project().join(rel)).unwrap()
    }

    /// `buildkit ARGS` in the project dir, with the sandbox's clean environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_buildkit"));
        cmd.args(args);
        self.enter(cmd)
    }

    /// A POSIX sh script in the project dir, with the sandbox's clean environment.
    pub fn shell(&self, script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        self.enter(cmd)
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
        let real_home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        for (var, default) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
            let value = std::env::var_os(var)
                .map(PathBuf::from)
                .unwrap_or_else(|| real_home.join(default));
            if value.exists() {
                cmd.env(var, value);
            }
        }
        if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
            cmd.env("RUSTUP_TOOLCHAIN", toolchain);
        }
        cmd
    }

    /// Runs a prepared command (from [`Sandbox::cmd`] or [`Sandbox::shell`], with extra
    /// variables or another directory) and captures it, redacted.
    pub fn output_of(&self, mut cmd: impl std::borrow::BorrowMut<Command>) -> Run {
        Run::from(cmd.borrow_mut().output().unwrap(), self)
    }

    /// Whether any path under BUILDKIT_HOME contains `needle` (leftovers, unpacked files).
    pub fn home_has(&self, needle: &str) -> bool {
        tree(&self.home()).iter().any(|p| p.contains(needle))
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().unwrap(), self)
    }

    /// Replaces the sandbox path and loopback ports, for snapshots.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.replace(&self.root().display().to_string(), "[SANDBOX]");
        while let Some(at) = text.find("127.0.0.1:") {
            let start = at + "127.0.0.1:".len();
            let end = text[start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(text.len(), |e| start + e);
            text.replace_range(at..end, "[LOOPBACK]");
        }
        redact_lock_ids(&text)
    }
}

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
