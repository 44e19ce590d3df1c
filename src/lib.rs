//! buildkit installs mold, lld and sccache at pinned, verified versions and generates the cargo,
//! devcontainer and CI configuration that uses them, from one committed buildkit.toml.
//!
//! The core (manifest, lock, registry, render) is pure; I/O lives in fetch, extract, install and
//! the commands that orchestrate them.
//!
//! I/O errors name their path: through `fs-err` where an error is passed on as it is, and
//! through the module's own error variant (with `std::fs`) where that variant already carries
//! the path, so that no message says it twice.

pub(crate) mod bench;
#[cfg(test)]
mod book;
pub(crate) mod child;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod digest;
pub(crate) mod dockerfile;
pub mod elf;
pub(crate) mod encode;
pub(crate) mod env_vars;
pub(crate) mod extract;
pub(crate) mod fetch;
pub(crate) mod fingerprint;
pub(crate) mod fsutil;
pub(crate) mod github;
pub(crate) mod host;
pub(crate) mod install;
pub(crate) mod linker;
pub(crate) mod lock;
pub(crate) mod machine;
pub(crate) mod manifest;
pub(crate) mod output;
pub(crate) mod provenance;
pub(crate) mod registry;
pub(crate) mod render;
pub(crate) mod reporter;
pub(crate) mod rustflags;
pub(crate) mod tool;
pub(crate) mod toolchain;
pub(crate) mod tune;
pub(crate) mod upstream;
pub(crate) mod version;
pub(crate) mod workflows;
pub(crate) mod workspace;

use std::process::ExitCode;

use clap::Parser;

/// Everything a command can fail with. Each variant keeps the url or path of what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Extract(#[from] extract::ExtractError),
    #[error(transparent)]
    Install(#[from] install::InstallError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    /// The releases API could not say (exit 2: `outdated` keeps 1 for "something is newer").
    #[error(transparent)]
    Github(Box<github::GithubError>),
    /// What stops `bench` or `tune` from timing the project's build.
    #[error(transparent)]
    Measure(#[from] commands::measure::MeasureError),
    /// A build bench or tune timed, or the edit before it, failed where the run cannot go on.
    #[error(transparent)]
    Trial(#[from] commands::measure::TrialError),
    #[error(transparent)]
    Upgrade(#[from] commands::lock::UpgradeError),
    #[error(transparent)]
    Init(#[from] commands::init::InitError),
    /// An I/O error from fs-err, whose message names the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An I/O error from std, said with what was being done and where.
    #[error("could not {action} {path}: {source}")]
    File {
        action: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A command's own refusal or failure; its variant says which (exit 2 or 1).
    #[error(transparent)]
    Command(#[from] commands::CommandError),
    /// Several independent failures (parallel installs), one line each.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Several(Vec<Error>),
}

impl From<github::GithubError> for Error {
    fn from(err: github::GithubError) -> Error {
        Error::Github(Box::new(err))
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Manifest(manifest::ManifestError::Edit { problem, .. })
                if !problem.is_in_the_file() =>
            {
                1
            }
            Error::Manifest(_)
            | Error::Init(_)
            | Error::Github(_)
            | Error::Lock(lock::LockError::Malformed { .. })
            // A buildkit.toml without the Rust version it must pin is a bad manifest.
            | Error::Render(
                render::RenderError::NoRustVersion { .. }
                | render::RenderError::NoBuildkitSource { .. },
            ) => 2,
            Error::Measure(err) if err.is_usage() => 2,
            Error::Command(err) => err.exit_code(),
            Error::Upgrade(commands::lock::UpgradeError::NotPinned { .. }) => 2,
            Error::Several(errors) => errors.iter().map(Error::exit_code).max().unwrap_or(1),
            _ => 1,
        }
    }
}

/// The whole program: parse the command line, run the command, report.
pub fn main() -> ExitCode {
    // Past a file size limit (`ulimit -f`) a write should fail with EFBIG, which buildkit
    // reports with the path, instead of the process dying silently of SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions, and no other
    // thread exists yet.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            print_error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}

/// One `error:` line per failure. A message may quote a value from a file buildkit did not
/// write (a manifest, a receipt): its control characters are shown escaped, so that a value
/// cannot add a line or drive the terminal.
fn print_error(err: &Error) {
    match err {
        Error::Several(errors) => errors.iter().for_each(print_error),
        err => eprintln!("error: {}", encode::Inert(&err.to_string())),
    }
}
