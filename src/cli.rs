//! The command line, as clap sees it, and its dispatch: the global options make the Context,
//! and each subcommand runs with its options. Commands never see clap's `Cli`; the option
//! structs they define are flattened in here.

use std::path::PathBuf;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::Error;
use crate::commands::{self, env::Shell};

#[derive(Debug, Parser)]
#[command(
    name = "buildkit",
    version,
    about = "Pinned, verified mold, lld and sccache, and the cargo, devcontainer and CI configuration that use them"
)]
pub struct Cli {
    /// The buildkit.toml to use (default: the nearest one in this directory or its parents).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Where tools are installed (default: the platform data dir).
    #[arg(long, global = true, value_name = "DIR", env = crate::env_vars::BUILDKIT_HOME, hide = true)]
    pub home: Option<PathBuf>,

    /// Where downloads are cached (default: the platform cache dir).
    #[arg(long, global = true, value_name = "DIR", env = crate::env_vars::BUILDKIT_CACHE_DIR, hide = true)]
    pub cache_dir: Option<PathBuf>,

    /// Seconds a download or an API response may go without progress before it fails; the
    /// whole body's deadline is derived from it.
    #[arg(long, global = true, env = crate::env_vars::BUILDKIT_STALL_SECONDS, default_value_t = crate::fetch::DEFAULT_STALL_SECONDS, hide = true)]
    pub stall_seconds: u64,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write buildkit.toml pinned to the newest releases buildkit knows, and buildkit.lock.
    Init(commands::init::InitOptions),
    /// Resolve buildkit.toml into buildkit.lock.
    Lock(crate::commands::lock::LockOptions),
    /// List each locked tool's newest upstream release; exit 1 when one is newer than the lock.
    Outdated(commands::outdated::OutdatedOptions),
    /// Download, verify and install every locked tool into BUILDKIT_HOME.
    Setup(crate::commands::setup::SetupOptions),
    /// Write .cargo/config.toml, the devcontainer and the CI configuration.
    Generate {
        /// Overwrite files that buildkit did not generate.
        #[arg(long)]
        force: bool,
    },
    /// Fail when a generated file or an installed tool drifted from buildkit.toml and its lock.
    Check,
    /// Print PATH and the other variables an environment needs.
    Env {
        /// The syntax to print in.
        #[arg(long, value_enum, default_value_t = Shell::Sh)]
        shell: Shell,
    },
    /// Say whether this environment really builds the way buildkit.toml says.
    Doctor(crate::commands::doctor::DoctorOptions),
    /// Measure each linker (and the cache) on this project, on this machine.
    Bench(crate::commands::bench::BenchOptions),
    /// Measure debug info, split debuginfo, the linker and build-script optimisation on this
    /// project, and (with --apply) write the fastest configuration into buildkit.toml.
    Tune(crate::commands::tune::TuneOptions),
    /// List installed tools.
    List,
    /// Remove tool versions and cached archives that the lock does not use.
    Gc {
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the completion script for a shell (`buildkit completions bash > …`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Runs the command the line names, in the Context its global options give.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    let mut ctx = crate::commands::Context::from_env(cli.config, cli.home, cli.cache_dir)?;
    ctx.stall = std::time::Duration::from_secs(cli.stall_seconds.max(1));
    match cli.command {
        Command::Init(options) => {
            let code = commands::init::run(&ctx, &options)?;
            if !options.tune {
                return Ok(code);
            }
            commands::tune::run(
                &ctx,
                &commands::tune::TuneOptions::after_init(options.download),
            )
        }
        Command::Tune(options) => commands::tune::run(&ctx, &options),
        Command::Lock(options) => commands::lock::run(&ctx, &options),
        Command::Outdated(options) => commands::outdated::run(&ctx, options),
        Command::Setup(options) => commands::setup::run(&ctx, &options),
        Command::Generate { force } => commands::generate::run(&ctx, force),
        Command::Check => commands::check::run(&ctx),
        Command::Env { shell } => commands::env::run(&ctx, shell),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "buildkit", &mut out);
            crate::out!("{}", String::from_utf8_lossy(&out));
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor(options) if options.fingerprint => commands::doctor::fingerprint(&ctx),
        Command::Doctor(options) => commands::doctor::run(&ctx, options),
        Command::Bench(options) => commands::bench::run(&ctx, &options),
        Command::List => commands::list::run(&ctx),
        Command::Gc { dry_run } => commands::gc::run(&ctx, dry_run),
    }
}
