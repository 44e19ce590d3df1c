//! Every process buildkit starts (cargo, rustc, rustup, the tools' `--version`, the C driver)
//! goes through here, so that none can hang buildkit, eat the machine or outlive it.
//!
//! - **Files first.** cargo, rustc and rustup read files of the project before buildkit does
//!   (rust-toolchain.toml, `.cargo/config.toml` up the tree and in CARGO_HOME, the manifests).
//!   A FIFO there blocks them forever and `/dev/zero` makes rustup grow without bound, so a
//!   child started in a project only starts once those files pass the check buildkit's own
//!   reads pass: a regular file (through links), at most [`MAX_TEXT_BYTES`].
//! - **A deadline.** Each kind of child has its own ([`Limits`]); past it the child is killed
//!   and the error says how long it had.
//! - **A memory bound.** `RLIMIT_AS` in the child: a probe gets 4 GiB of address space, a
//!   build the machine's memory and swap.
//! - **Never an orphan.** The child gets SIGKILL when buildkit dies (`PR_SET_PDEATHSIG`),
//!   however buildkit ends.
//!
//! Errors are `io::Error`s whose message names the program and the file or the deadline, so
//! that each caller's own error (which names what it was doing) carries them.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::fsutil::MAX_TEXT_BYTES;

/// Why a child gave no answer buildkit can use.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// It did not start, or was killed past its deadline (the message names which).
    #[error("{0}")]
    Run(#[from] io::Error),
    /// It exited unsuccessfully; what it said on stderr, trimmed.
    #[error("`{program}` exited with {status}{}{stderr}", if .stderr.is_empty() { "" } else { ": " })]
    Exited {
        program: String,
        status: ExitStatus,
        stderr: String,
    },
    /// It succeeded but its output is not what it should be.
    #[error("`{program}` printed {problem}")]
    Output {
        program: &'static str,
        problem: String,
    },
}

/// What a child may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Killed past this.
    pub timeout: Duration,
    /// Its address space (`RLIMIT_AS`), where bounded.
    pub memory: Option<u64>,
    /// Started in a project: the files cargo, rustc and rustup read there are checked first.
    pub reads_project: bool,
}

const GIB: u64 = 1 << 30;

impl Limits {
    /// `rustc -vV`, `--version`, `rustup toolchain list`: answers in a second, and in two
    /// minutes even where rustup installs the project's toolchain first.
    pub const PROBE: Limits = Limits {
        timeout: Duration::from_secs(120),
        memory: Some(4 * GIB),
        reads_project: true,
    };
    /// `cargo metadata`, which may fetch the index and the dependencies' manifests.
    pub const METADATA: Limits = Limits {
        timeout: Duration::from_secs(15 * 60),
        memory: Some(16 * GIB),
        reads_project: true,
    };

    /// A build: [`BUILD_TIMEOUT`], and the machine's memory and swap (rustc takes what it
    /// needs; only a runaway is stopped).
    pub fn build() -> Limits {
        Limits {
            timeout: BUILD_TIMEOUT,
            memory: machine_memory().map(|bytes| bytes.max(4 * GIB)),
            reads_project: true,
        }
    }

    /// The same, for a program that reads nothing of the project (an installed tool's
    /// `--version`, a C driver).
    pub fn outside_project(self) -> Limits {
        Limits {
            reads_project: false,
            ..self
        }
    }
}

/// The builds tune, bench and doctor run: none of buildkit's takes anywhere near this.
const BUILD_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

/// RAM plus swap, from sysinfo(2).
fn machine_memory() -> Option<u64> {
    // SAFETY: sysinfo writes into the struct it is given and nothing else.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return None;
    }
    let unit = u64::from(info.mem_unit.max(1));
    Some((info.totalram as u64).saturating_add(info.totalswap as u64) * unit)
}

/// The most of a child's stdout and stderr kept (the rest is read and dropped, so the child
/// never blocks on a full pipe).
const MAX_STDOUT: usize = 256 << 20;
const MAX_STDERR: usize = 16 << 20;

/// Runs `command` to its end within `limits`, capturing both streams (stdin is null).
pub fn output(command: &mut Command, limits: Limits) -> io::Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    if limits.reads_project {
        let dir = match command.get_current_dir() {
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_dir()?,
        };
        check_project_files(&dir, cargo_home(command).as_deref())
            .map_err(|e| io::Error::new(e.kind(), format!("not starting `{program}`: {e}")))?;
    }
    refuse_unknown_format(command.get_program())?;
    let parent = std::process::id() as libc::pid_t;
    let memory = limits.memory;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid, setrlimit, _exit); it allocates nothing.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // buildkit died before the line above took effect: go too.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            if let Some(bytes) = memory {
                let limit = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = drain(child.stdout.take(), MAX_STDOUT);
    let stderr = drain(child.stderr.take(), MAX_STDERR);
    let Some(status) = wait_within(&mut child, limits.timeout)? else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "`{program}` did not finish within {} and was killed",
                humantime::format_duration(limits.timeout)
            ),
        ));
    };
    // A grandchild (a daemon the child started) may keep a pipe open: what arrived within a
    // few seconds of the exit is all there is.
    let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

/// A program named by its path must be a `#!` script or an ELF binary for this machine. With a
/// `pre_exec` hook std starts children through `execvp`, which hands a file the kernel refuses
/// (ENOEXEC) to /bin/sh: a binary for another machine, or garbage, would be read as shell
/// commands. This refuses such a file as the kernel would, with ENOEXEC, before any exec.
fn refuse_unknown_format(program: &std::ffi::OsStr) -> io::Result<()> {
    let path = Path::new(program);
    if path.components().count() < 2 {
        // Found on PATH by the child, as a shell would.
        return Ok(());
    }
    let Ok(file) = crate::fsutil::open_regular(path) else {
        // Missing or not a file: exec says so in its own words.
        return Ok(());
    };
    let mut head = Vec::with_capacity(64);
    file.take(64).read_to_end(&mut head)?;
    let script = head.starts_with(b"#!");
    if script || crate::elf::machine(&head) == Some(crate::elf::HOST_MACHINE) {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(libc::ENOEXEC))
    }
}

/// The line of a failed child's stderr that says what went wrong: the first that says
/// `error` (gcc's collect2, clang and cargo all do), else the last line it printed.
pub fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.contains("error"))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .map_or("", str::trim)
}

/// `cargo metadata` as `command` describes it, run within [`Limits::METADATA`]; the error is
/// cargo's first line, or why it did not run.
pub fn cargo_metadata(
    command: &cargo_metadata::MetadataCommand,
) -> Result<cargo_metadata::Metadata, ChildError> {
    const PROGRAM: &str = "cargo metadata";
    let out = output(&mut command.cargo_command(), Limits::METADATA)?;
    if !out.status.success() {
        return Err(ChildError::Exited {
            program: PROGRAM.to_string(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let output_problem = |problem: String| ChildError::Output {
        program: PROGRAM,
        problem,
    };
    let json = stdout
        .lines()
        .find(|line| line.starts_with('{'))
        .ok_or_else(|| output_problem("no JSON".into()))?;
    cargo_metadata::MetadataCommand::parse(json)
        .map_err(|e| output_problem(format!("JSON that is not cargo's metadata ({e})")))
}

/// Short polls first (a probe ends in milliseconds), then a tenth of a second.
/// The child's exit status once it exits, or `None` when `timeout` passes first (the child is
/// still running). The wait ends the moment the child exits: its pidfd becomes readable then, so
/// a timed build (bench and tune time through here) is not rounded up to the next tick of a
/// polling loop. Where the kernel gives no pidfd (before Linux 5.3, or a seccomp filter
/// refuses it), the loop polls instead, finely at first.
fn wait_within(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let started = Instant::now();
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(child),
        rustix::process::PidfdFlags::empty(),
    )
    .ok();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        match &pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd, PollFlags::IN)];
                let until = Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: i64::MAX,
                    tv_nsec: 0,
                });
                match rustix::event::poll(&mut fds, Some(&until)) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            None => std::thread::sleep(poll_interval(started.elapsed()).min(left)),
        }
    }
}

fn poll_interval(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_millis(100) {
        Duration::from_millis(1)
    } else {
        Duration::from_millis(10)
    }
}

/// Reads a pipe to its end on a thread of its own, keeping at most `keep` bytes.
fn drain(
    pipe: Option<impl Read + Send + 'static>,
    keep: usize,
) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut pipe) = pipe {
            let mut buf = [0u8; 1 << 16];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let room = keep.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

/// CARGO_HOME as the child will see it: the command's own setting, the environment's, or
/// `~/.cargo`.
fn cargo_home(command: &Command) -> Option<PathBuf> {
    let set = command
        .get_envs()
        .find(|(name, _)| *name == crate::env_vars::CARGO_HOME)
        .map(|(_, value)| value.map(PathBuf::from));
    match set {
        Some(value) => value,
        None => crate::env_vars::cargo_home(),
    }
}

/// The files cargo, rustc and rustup read when started in `dir`, each checked like one of
/// buildkit's own reads; the first that fails is the error, naming it.
pub fn check_project_files(dir: &Path, cargo_home: Option<&Path>) -> io::Result<()> {
    for path in project_files(dir, cargo_home) {
        check_file(&path)?;
    }
    Ok(())
}

/// What the check looks at: up the tree from `dir`, every `.cargo/config.toml` (and legacy
/// `.cargo/config`) and `Cargo.toml` (cargo reads them all to find the workspace root and the
/// configuration), the nearest directory's rust-toolchain.toml or rust-toolchain (rustup
/// stops at the first), CARGO_HOME's configuration, and the manifests of the workspace
/// members the nearest workspace root names.
fn project_files(dir: &Path, cargo_home: Option<&Path>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut toolchain_found = false;
    let mut workspace_root = None;
    for ancestor in dir.ancestors() {
        for name in [".cargo/config.toml", ".cargo/config", "Cargo.toml"] {
            files.push(ancestor.join(name));
        }
        if !toolchain_found {
            for name in ["rust-toolchain.toml", "rust-toolchain"] {
                let path = ancestor.join(name);
                if std::fs::symlink_metadata(&path).is_ok() {
                    toolchain_found = true;
                    files.push(path);
                }
            }
        }
        if workspace_root.is_none() && declares_workspace(&ancestor.join("Cargo.toml")) {
            workspace_root = Some(ancestor.to_path_buf());
        }
    }
    if let Some(home) = cargo_home {
        files.push(home.join("config.toml"));
        files.push(home.join("config"));
    }
    if let Some(root) = workspace_root {
        files.extend(member_manifests(&root));
    }
    files
}

/// Whether the manifest at `path` has a `[workspace]` table (false where it cannot be read:
/// the check of the file itself reports that).
fn declares_workspace(path: &Path) -> bool {
    crate::fsutil::read_text(path, MAX_TEXT_BYTES)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_some_and(|table| table.contains_key("workspace"))
}

/// The `Cargo.toml` of each `[workspace] members` entry: a path, or a path whose last part is
/// `*` (every directory there).
fn member_manifests(root: &Path) -> Vec<PathBuf> {
    let Some(table) = crate::fsutil::read_text(&root.join("Cargo.toml"), MAX_TEXT_BYTES)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
    else {
        return Vec::new();
    };
    let members = table
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str());
    let mut manifests = Vec::new();
    for member in members {
        match member.strip_suffix("/*") {
            Some(parent) if !parent.contains(['*', '?', '[']) => {
                let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
                    continue;
                };
                manifests.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path().join("Cargo.toml")),
                );
            }
            _ if !member.contains(['*', '?', '[']) => {
                manifests.push(root.join(member).join("Cargo.toml"));
            }
            // Other patterns are cargo's to expand; its deadline still holds.
            _ => {}
        }
    }
    manifests
}

/// A file that is absent is fine; one that is there must be a regular file (through links)
/// of at most MAX_TEXT_BYTES.
fn check_file(path: &Path) -> io::Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A dangling link is absent to cargo too; a link loop is not.
            return match std::fs::symlink_metadata(path) {
                Ok(_) if e.raw_os_error() == Some(libc::ELOOP) => {
                    Err(refused(path, "is a link loop"))
                }
                _ => Ok(()),
            };
        }
        // Unreadable for another reason (a permission): cargo reports it in its own words.
        Err(_) => return Ok(()),
    };
    if meta.is_dir() {
        // `.cargo/config` may be a directory in no setup cargo accepts, but absent is the
        // common case; a directory named Cargo.toml is cargo's to refuse, and it does not hang.
        return Ok(());
    }
    if !meta.is_file() {
        return Err(refused(
            path,
            "is not a regular file (a FIFO, socket or device), and cargo, rustc or rustup would read it",
        ));
    }
    if meta.len() > MAX_TEXT_BYTES {
        return Err(refused(
            path,
            &format!(
                "is larger than {MAX_TEXT_BYTES} bytes, more than such a file ever holds, and cargo, rustc or rustup would read it"
            ),
        ));
    }
    Ok(())
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} {why}", path.display()),
    )
}

#[cfg(test)]
mod tests;
