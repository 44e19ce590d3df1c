//! `buildkit setup`: install every locked tool, verified, into BUILDKIT_HOME.
//!
//! Tools are fetched, verified and unpacked in parallel, each into its own staging directory;
//! then, one by one, each new binary is run once, recorded in a receipt and renamed into
//! `tools/`. The `bin/` links are switched only once every tool succeeded, so a failure changes
//! nothing visible.

use std::io::{BufReader, IsTerminal, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use super::{Context, LockState};
use crate::Error;
use crate::env_vars;
use crate::extract::{self, ExtractError, UnpackOptions};
use crate::fetch::{Artifact, FetchError, FetchOptions, Fetcher, HashingReader};
use crate::install::{self, Home, InstallError, RECEIPT_FILE, Receipt};
use crate::lock::{LockedTool, Lockfile, ToolSource};
use crate::manifest::Manifest;
use crate::reporter::{Bars, Lines, Progress, Reporter, Silent};

#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    pub locked: bool,
    pub offline: bool,
    pub mirror: Option<String>,
    pub ci: bool,
    pub quiet: bool,
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Status {
    Installed,
    AlreadyInstalled,
    LinkedFromToolchain,
}

#[derive(Debug, Serialize)]
struct ToolOutcome {
    name: String,
    version: String,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    path: PathBuf,
    /// Where each bin/ link points.
    #[serde(skip)]
    links: Vec<(String, PathBuf)>,
}

#[derive(Serialize)]
struct Summary<'a> {
    home: &'a Path,
    bin: PathBuf,
    lock: Option<&'a Path>,
    tools: &'a [ToolOutcome],
}

pub fn run(ctx: &Context, options: &SetupOptions) -> Result<ExitCode, Error> {
    if let Some(mirror) = &options.mirror
        && !["http://", "https://", "file://"]
            .iter()
            .any(|s| mirror.starts_with(s))
    {
        return Err(Error::Usage(format!(
            "mirror `{mirror}` must start with http://, https:// or file://"
        )));
    }
    let say = |line: &str| {
        if !options.quiet && !options.json {
            eprintln!("{line}");
        }
    };

    let project = ctx.project()?;
    let lock = lock_for_setup(ctx, project.as_ref(), options, &say)?;

    let _guard = ctx.home.lock()?;
    let fetcher = Fetcher::new(FetchOptions {
        cache_dir: ctx.cache_dir.clone(),
        mirror: options.mirror.clone(),
        offline: options.offline,
        attempts: std::env::var(env_vars::BUILDKIT_DOWNLOAD_ATTEMPTS)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n >= 1)
            .unwrap_or(4),
    });
    let reporter: Box<dyn Reporter> = if options.quiet || options.json {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines)
    };

    // Phase 1, in parallel: download and unpack what is missing, each into its own staging
    // directory. Nothing here starts a process: a fork while another thread still has a fresh
    // binary open for writing would make running that binary fail with ETXTBSY.
    let missing: Vec<&LockedTool> = lock
        .tools
        .iter()
        .filter(|t| t.source == ToolSource::Archive && !ctx.home.is_installed(t))
        .collect();
    let staged: Vec<Result<Staged, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = missing
            .iter()
            .map(|tool| {
                let (home, fetcher, reporter) = (&ctx.home, &fetcher, reporter.as_ref());
                scope.spawn(move || stage_archive(home, fetcher, tool, reporter))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Failed("an install thread panicked".into())))
            })
            .collect()
    });
    let mut errors = Vec::new();
    let mut staged_by_name = std::collections::BTreeMap::new();
    for (tool, result) in missing.iter().zip(staged) {
        match result {
            Ok(dir) => {
                staged_by_name.insert(tool.name.clone(), dir);
            }
            Err(err) => errors.push(err),
        }
    }
    if !errors.is_empty() {
        return Err(several(errors));
    }

    // Phase 2, one tool after the other: run each new binary, write its receipt, move it into
    // place; link rust-lld.
    let mut outcomes = Vec::new();
    for tool in &lock.tools {
        let outcome = match (tool.source, staged_by_name.remove(&tool.name)) {
            (ToolSource::RustToolchain, _) => link_rust_lld(tool),
            (ToolSource::Archive, Some(staging)) => commit_archive(&ctx.home, tool, staging),
            (ToolSource::Archive, None) => {
                Ok(archive_outcome(&ctx.home, tool, Status::AlreadyInstalled))
            }
        };
        match outcome {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => errors.push(err),
        }
    }
    if !errors.is_empty() {
        return Err(several(errors));
    }

    // Every tool is in place: now, and only now, switch what users run. The lock's own bin
    // directory first (what `buildkit env` selects for this project), then `bin/`.
    let bin = ctx.home.lock_bin_dir(&lock.id());
    for dir in [&bin, &ctx.home.bin_dir()] {
        for outcome in &outcomes {
            for (link, target) in &outcome.links {
                ctx.home.switch_link(dir, link, target)?;
            }
        }
    }
    // Where `buildkit env` puts each sccache version's server socket.
    if lock.tool("sccache").is_some() {
        let run = ctx.home.root().join("run");
        std::fs::create_dir_all(&run)
            .map_err(|source| InstallError::Write { path: run, source })?;
    }
    // gc keeps what any project that used this home still locks.
    if let Some(lock_path) = project.as_ref().and_then(|p| p.lock_path.as_deref()) {
        ctx.home.record_project(lock_path)?;
    }

    for outcome in &outcomes {
        let verb = match outcome.status {
            Status::Installed => "installed",
            Status::AlreadyInstalled => "already installed",
            Status::LinkedFromToolchain => "linked from the Rust toolchain",
        };
        say(&format!("{} {}: {verb}", outcome.name, outcome.version));
    }
    if options.ci {
        publish_for_ci(&bin, options.json)?;
    }
    if options.json {
        let summary = Summary {
            home: ctx.home.root(),
            bin: bin.clone(),
            lock: project.as_ref().and_then(|p| p.lock_path.as_deref()),
            tools: &outcomes,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summary serializes")
        );
    } else if !on_path(&bin) && !options.ci {
        say(&format!(
            "{} is not on PATH: run `eval \"$(buildkit env)\"` or add it to your shell profile",
            bin.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The lock to install: the project's (written when missing or stale, unless `--locked`), or
/// the embedded default set's when there is no buildkit.toml.
fn lock_for_setup(
    ctx: &Context,
    project: Option<&super::Project>,
    options: &SetupOptions,
    say: &dyn Fn(&str),
) -> Result<Lockfile, Error> {
    Ok(match project {
        Some(project) => {
            let (lock, state) = ctx.resolve_lock(project)?;
            let lock_path = project
                .lock_path
                .as_deref()
                .expect("a project has a lock path");
            match state {
                LockState::Missing | LockState::Stale if options.locked => {
                    let what = if state == LockState::Missing {
                        "is missing"
                    } else {
                        "does not match buildkit.toml"
                    };
                    return Err(Error::Usage(format!(
                        "{} {what}, and --locked forbids updating it; run `buildkit lock` and commit the result",
                        lock_path.display()
                    )));
                }
                LockState::Missing | LockState::Stale => {
                    lock.write(lock_path)?;
                    say(&format!("wrote {}", lock_path.display()));
                }
                LockState::Fresh | LockState::NoFile => {}
            }
            lock
        }
        None => {
            let manifest = Manifest::default_set(&ctx.registry);
            let lock = Lockfile::resolve(&manifest, &ctx.registry);
            say(&format!(
                "no buildkit.toml in {} or its parents: installing the default set ({})",
                ctx.cwd.display(),
                lock.tools
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            lock
        }
    })
}

fn describe(tool: &LockedTool) -> String {
    match tool.source {
        ToolSource::Archive => tool.label(),
        ToolSource::RustToolchain => format!("{} from the Rust toolchain", tool.name),
    }
}

fn on_path(dir: &Path) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|p| p == dir))
}

/// GitHub Actions: append to $GITHUB_PATH; elsewhere print an export line for the CI script.
fn publish_for_ci(bin: &Path, json: bool) -> Result<(), Error> {
    match std::env::var_os(env_vars::GITHUB_PATH) {
        Some(file) => {
            let path = PathBuf::from(file);
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(|source| InstallError::Write {
                    path: path.clone(),
                    source,
                })?;
            writeln!(f, "{}", bin.display())
                .map_err(|source| InstallError::Write { path, source })?;
        }
        None if !json => println!("export PATH=\"{}:$PATH\"", bin.display()),
        None => {}
    }
    Ok(())
}

fn several(mut errors: Vec<Error>) -> Error {
    if errors.len() == 1 {
        errors.remove(0)
    } else {
        Error::Several(errors)
    }
}

/// lld from the Rust toolchain: nothing to download; `bin/ld.lld` points at rust-lld, which acts
/// as the ELF linker when called by that name.
fn link_rust_lld(tool: &LockedTool) -> Result<ToolOutcome, Error> {
    let sysroot = install::rust_sysroot()?;
    let mut links = Vec::new();
    for (link, in_sysroot) in &tool.binaries {
        let target = sysroot.join(in_sysroot);
        if !target.is_file() {
            return Err(InstallError::NoRustLld { path: target }.into());
        }
        // Prove it runs under the name it will be called by, before anything is switched.
        let probe = tempfile::tempdir().map_err(|source| InstallError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let probe_link = probe.path().join(link);
        std::os::unix::fs::symlink(&target, &probe_link).map_err(|source| InstallError::Write {
            path: probe_link.clone(),
            source,
        })?;
        let line =
            install::version_line(&probe_link).map_err(|reason| InstallError::DoesNotRun {
                tool: tool.name.clone(),
                path: target.clone(),
                reason,
            })?;
        if !line.starts_with("LLD") {
            return Err(InstallError::WrongVersion {
                tool: tool.name.clone(),
                path: target,
                said: line,
                expected: "LLD".into(),
            }
            .into());
        }
        links.push((link.clone(), target));
    }
    Ok(ToolOutcome {
        name: tool.name.clone(),
        version: tool.version.clone(),
        status: Status::LinkedFromToolchain,
        sha256: None,
        path: sysroot,
        links,
    })
}

fn archive_outcome(home: &Home, tool: &LockedTool, status: Status) -> ToolOutcome {
    let links = tool
        .binaries
        .iter()
        .map(|(link, path)| {
            (
                link.clone(),
                Home::link_target(&tool.name, &tool.version, path),
            )
        })
        .collect();
    ToolOutcome {
        name: tool.name.clone(),
        version: tool.version.clone(),
        status,
        sha256: tool.sha256.clone(),
        path: home.tool_dir(&tool.name, &tool.version),
        links,
    }
}

/// Where a locked archive comes from; the lock parser guarantees all three.
fn archive_source(tool: &LockedTool) -> Result<(&String, &String, &String), Error> {
    match (&tool.url, &tool.sha256, &tool.format) {
        (Some(url), Some(sha256), Some(format)) => Ok((url, sha256, format)),
        _ => Err(Error::Usage(format!(
            "buildkit.lock entry for {} lacks url, sha256 or format; run `buildkit lock`",
            tool.name
        ))),
    }
}

/// Downloads (or takes from the cache) and unpacks a tool into a fresh staging directory,
/// verified against its pinned digest.
fn stage_archive(
    home: &Home,
    fetcher: &Fetcher,
    tool: &LockedTool,
    reporter: &dyn Reporter,
) -> Result<Staged, Error> {
    let (url, sha256, format) = archive_source(tool)?;
    let label = tool.label();
    let artifact = Artifact {
        label: &label,
        url,
        sha256,
        size: tool.size,
        format,
    };
    let staging = home.staging_dir()?;
    let unpack_options = UnpackOptions {
        archive: url,
        format,
        top_dir: tool.top_dir.as_deref(),
        keep: &tool.keep,
    };
    if tool.keep.is_empty() {
        let cached = fetcher.fetch_to_cache(&artifact, reporter)?;
        let path = cached.path;
        let file = std::fs::File::open(&path).map_err(|source| InstallError::Read {
            path: path.clone(),
            source,
        })?;
        if !cached.verified_now {
            // The cache may have been copied from elsewhere: verify again, in the same pass.
            // If unpacking fails, the digest says whether the copy is corrupt (then it goes) or
            // the pinned archive itself is bad.
            let actual = match unpack_hashing(file, staging.path(), &unpack_options) {
                Ok(actual) => actual,
                Err(err) => match crate::fetch::sha256_file(&path) {
                    Ok(actual) if &actual != sha256 => actual,
                    _ => return Err(err),
                },
            };
            if &actual != sha256 {
                let _ = fs_err::remove_file(&path);
                return Err(FetchError::ChecksumMismatch {
                    url: format!("{} (cached copy of {url}, now removed)", path.display()),
                    expected: sha256.clone(),
                    actual,
                }
                .into());
            }
        } else {
            extract::unpack(
                BufReader::with_capacity(1 << 18, file),
                staging.path(),
                &unpack_options,
            )?;
        }
    } else {
        // Too large to keep (LLVM): stream once, hash all of it, keep only what `keep` names.
        let (body, length) = fetcher.open_with_retries(&artifact, reporter)?;
        let progress = reporter.start(&label, length.or(tool.size));
        let unpacked = unpack_hashing(
            ProgressReader {
                inner: body,
                progress: progress.as_ref(),
            },
            staging.path(),
            &unpack_options,
        );
        progress.finish();
        let actual = unpacked?;
        if &actual != sha256 {
            return Err(FetchError::ChecksumMismatch {
                url: url.clone(),
                expected: sha256.clone(),
                actual,
            }
            .into());
        }
    }

    // Hashing reads, it does not run: it belongs to this parallel phase.
    let digests = install::hash_binaries(tool, staging.path())?;
    Ok(Staged {
        dir: staging,
        digests,
    })
}

/// A tool unpacked and verified in its staging directory, waiting to be run and committed.
struct Staged {
    dir: tempfile::TempDir,
    /// Path inside the tool -> sha256, for the receipt.
    digests: std::collections::BTreeMap<String, String>,
}

/// Runs the staged binaries, writes the receipt, and moves the tree into `tools/`.
fn commit_archive(home: &Home, tool: &LockedTool, staged: Staged) -> Result<ToolOutcome, Error> {
    let (url, sha256, _) = archive_source(tool)?;
    let Staged {
        dir: staging,
        digests,
    } = staged;
    install::run_binaries(tool, staging.path(), digests.keys())?;
    let receipt = Receipt {
        name: tool.name.clone(),
        version: tool.version.clone(),
        url: url.clone(),
        sha256: sha256.clone(),
        installed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        installed_by: concat!("buildkit ", env!("CARGO_PKG_VERSION")).to_string(),
        binaries: digests,
    };
    let receipt_path = staging.path().join(RECEIPT_FILE);
    install::write_atomically(
        &receipt_path,
        toml::to_string(&receipt)
            .expect("receipt serializes")
            .as_bytes(),
    )
    .map_err(|source| InstallError::Write {
        path: receipt_path,
        source,
    })?;
    home.commit(staging, &tool.name, &tool.version)?;
    Ok(archive_outcome(home, tool, Status::Installed))
}

/// Unpacks while hashing every byte of the stream, trailing bytes included; returns its sha256.
fn unpack_hashing(
    reader: impl Read,
    dest: &Path,
    options: &UnpackOptions<'_>,
) -> Result<String, Error> {
    let mut hashing = HashingReader::new(reader);
    // A refused or corrupt archive fails here, without reading (maybe gigabytes of) the rest.
    extract::unpack(
        BufReader::with_capacity(1 << 18, &mut hashing),
        dest,
        options,
    )?;
    let (digest, _) = hashing.finish().map_err(|source| ExtractError::Read {
        archive: options.archive.to_string(),
        source,
    })?;
    Ok(digest)
}

struct ProgressReader<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
