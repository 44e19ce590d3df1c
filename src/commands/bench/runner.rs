//! One bench build: its configuration's directory, the linker and profile it sets, the edit it
//! follows, and its timing; the notes and timings the run keeps.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::Build;
use crate::bench::{Config, Linker, Timings};
use crate::commands::measure::{Before, MainBinary, Progress, TrialError, time_build};
use crate::linker::RustLld;

pub(super) struct Runner<'a> {
    pub(super) env: &'a crate::env_vars::BuildEnv,
    pub(super) root: &'a Path,
    pub(super) bin_dir: &'a Path,
    pub(super) bench_dir: &'a Path,
    pub(super) scratch: &'a Path,
    pub(super) main: &'a MainBinary,
    /// The project's own rustflags (its linker choice left out): in every build.
    pub(super) rustflags: Vec<String>,
    /// The edit each edit-loop build follows (every configuration has its own cache).
    pub(super) edit: std::cell::RefCell<crate::commands::measure::SourceEdit>,
    pub(super) progress: Progress,
    /// The lines that stay, for the JSON report too.
    pub(super) notes: std::cell::RefCell<Vec<String>>,
    /// What each build took so far.
    pub(super) timings: std::cell::RefCell<Timings>,
    pub(super) started: Instant,
    pub(super) budget: Option<Duration>,
}

impl Runner<'_> {
    /// A line that stays on stderr and goes into the report's notes.
    pub(super) fn note(&self, line: String) {
        self.progress.note(&line);
        self.notes.borrow_mut().push(line);
    }

    /// What is left of `--budget`; `None` without one.
    pub(super) fn left(&self) -> Option<Duration> {
        self.budget
            .map(|budget| budget.saturating_sub(self.started.elapsed()))
    }

    pub(super) fn target_dir(&self, config: &Config) -> PathBuf {
        self.bench_dir.join(config.name.replace(['/', '+'], "-"))
    }

    /// Prepares, then times one `cargo build`; the seconds, or why it failed.
    pub(super) fn build(
        &self,
        config: &Config,
        build: Build,
        run: usize,
    ) -> Result<f64, TrialError> {
        let target_dir = self.target_dir(config);
        let before = match build {
            Build::Clean | Build::CleanColdCache | Build::CleanWarmCache => {
                Before::Clean(&target_dir)
            }
            Build::Edit => Before::Edit {
                edit: &self.edit,
                cache: &config.name,
            },
        };
        let mut cargo =
            crate::commands::measure::cargo_build(self.env, self.root, self.bin_dir, &target_dir)?;
        cargo
            // The project's flags and the configuration's linker flags replace every other
            // source of rustflags.
            .env(crate::env_vars::CARGO_ENCODED_RUSTFLAGS, {
                let mut flags = self.rustflags.clone();
                // bench's rustc is 1.90+ (rust-lld on); lld keeps it, the others turn it off.
                flags.extend(config.linker.rustflags(if config.linker == Linker::Lld {
                    RustLld::Keep
                } else {
                    RustLld::TurnOff
                }));
                if config.linker == Linker::Wild {
                    // The directory whose `ld.bfd` is the pinned wild.
                    let dir = crate::install::Home::wild_ld_dir(self.bin_dir);
                    flags.extend(["-C".to_string(), format!("link-arg=-B{}", dir.display())]);
                }
                flags.join("\u{1f}")
            })
            // And the C driver links as they say: not the project's linker script, which
            // would pick the project's linker whatever the configuration.
            .env(crate::env_vars::LINKER_OVERRIDE, "cc")
            .env_remove(crate::env_vars::SCCACHE_SERVER_UDS);
        for setting in &config.cargo_config {
            cargo.arg("--config").arg(setting);
        }
        let sccache_dir = self.scratch.join(format!("sccache-{}", run));
        // A private server per cache directory: it reads SCCACHE_DIR when it starts.
        let port = config.sccache.then(|| {
            crate::commands::measure::free_port()
                .unwrap_or(crate::commands::measure::SCCACHE_DEFAULT_PORT)
        });
        if let Some(port) = port {
            if build == Build::CleanColdCache {
                let _ = fs_err::remove_dir_all(&sccache_dir);
            }
            cargo
                .env(crate::env_vars::RUSTC_WRAPPER, self.bin_dir.join("sccache"))
                .env(crate::env_vars::CARGO_INCREMENTAL, "0")
                .env(crate::env_vars::SCCACHE_DIR, &sccache_dir)
                .env(crate::env_vars::SCCACHE_SERVER_PORT, port.to_string());
        } else {
            cargo.env(crate::env_vars::RUSTC_WRAPPER, "");
        }
        let timed = time_build(before, &mut cargo);
        if let Some(port) = port {
            let _ = crate::child::output(
                Command::new(self.bin_dir.join("sccache"))
                    .arg("--stop-server")
                    .env(crate::env_vars::SCCACHE_SERVER_PORT, port.to_string())
                    .env_remove(crate::env_vars::SCCACHE_SERVER_UDS),
                crate::child::Limits::PROBE.outside_project(),
            );
        }
        timed
    }

    pub(super) fn linker_seen(&self, config: &Config) -> Option<String> {
        let binary = self.target_dir(config).join("debug").join(&self.main.name);
        let bytes = crate::fsutil::read_bounded(&binary, crate::elf::MAX_BINARY_BYTES).ok()?;
        crate::elf::linker_signature(&crate::elf::comment_strings(&bytes)?)
    }
}
