//! One timed build of one configuration: its target directory, the link script's linker, the
//! project's rustflags, the edit it follows, and sccache's private server for clean builds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::commands::measure::MainBinary;
use crate::tune::{Scenario, Settings};

pub(super) struct Runner<'a> {
    pub(super) env: &'a crate::env_vars::BuildEnv,
    pub(super) root: &'a Path,
    pub(super) bin_dir: &'a Path,
    pub(super) dispatcher: &'a Path,
    pub(super) shared: PathBuf,
    pub(super) clean: PathBuf,
    pub(super) main: &'a MainBinary,
    /// The project's own rustflags (its linker choice left out): in every build.
    pub(super) rustflags: Vec<String>,
    /// The edit each edit-loop build follows.
    pub(super) edit: std::cell::RefCell<crate::commands::measure::SourceEdit>,
    /// The pinned sccache, its cache directory and the port of tune's own server.
    pub(super) sccache: Option<SccacheRun>,
}

pub(super) struct SccacheRun {
    pub(super) program: PathBuf,
    pub(super) dir: PathBuf,
    pub(super) port: u16,
}

impl Runner<'_> {
    pub(super) fn target_dir(&self, scenario: Scenario) -> &Path {
        match scenario {
            Scenario::Edit => &self.shared,
            Scenario::Clean => &self.clean,
        }
    }

    /// One `cargo build` of `settings`: after an edit (the edit loop, when `timed`) or from an
    /// empty directory (a clean build); its seconds, or why it failed.
    pub(super) fn build(
        &self,
        settings: &Settings,
        scenario: Scenario,
        timed: bool,
    ) -> Result<f64, String> {
        let target_dir = self.target_dir(scenario);
        match scenario {
            Scenario::Clean => {
                if target_dir.exists() {
                    fs_err::remove_dir_all(target_dir).map_err(|e| e.to_string())?;
                }
            }
            Scenario::Edit if timed => {
                // One incremental cache per profile variant; the linker shares it.
                let cache = settings.cargo_config().join(" ");
                self.edit.borrow_mut().change_for(&cache)?;
            }
            Scenario::Edit => {}
        }
        let mut cargo =
            crate::commands::measure::cargo_build(self.env, self.root, self.bin_dir, target_dir)?;
        cargo
            // The project's own rustflags for every configuration (the linker is chosen at
            // link time), replacing .cargo/config.toml's, which would pick the project's linker.
            .env(
                crate::env_vars::CARGO_ENCODED_RUSTFLAGS,
                self.rustflags.join("\u{1f}"),
            )
            .env(crate::env_vars::LINKER_OVERRIDE, self.dispatcher)
            .env(
                crate::env_vars::BUILDKIT_TUNE_LINKER,
                settings.linker.name(),
            );
        match scenario {
            // Incremental compilation as the project has it (cargo's default: on), whatever
            // this shell says: the edit loop a contributor gets.
            Scenario::Edit => cargo.env_remove(crate::env_vars::CARGO_INCREMENTAL),
            // A clean build as CI makes it.
            Scenario::Clean => cargo.env(crate::env_vars::CARGO_INCREMENTAL, "0"),
        };
        for setting in settings.cargo_config() {
            cargo.arg("--config").arg(setting);
        }
        match (&self.sccache, settings.sccache) {
            (Some(sccache), true) => {
                // A private server on its own port and cache directory (it reads SCCACHE_DIR
                // when it starts): the local cache, whatever the environment names.
                cargo
                    .env(crate::env_vars::RUSTC_WRAPPER, &sccache.program)
                    .env(crate::env_vars::SCCACHE_DIR, &sccache.dir)
                    .env(
                        crate::env_vars::SCCACHE_SERVER_PORT,
                        sccache.port.to_string(),
                    )
                    .env_remove(crate::env_vars::SCCACHE_SERVER_UDS);
                for (name, _) in std::env::vars_os() {
                    if let Some(name) = name.to_str()
                        && name.starts_with("SCCACHE_")
                        && ![
                            crate::env_vars::SCCACHE_DIR,
                            crate::env_vars::SCCACHE_SERVER_PORT,
                        ]
                        .contains(&name)
                    {
                        cargo.env_remove(name);
                    }
                }
            }
            (None, true) => return Err("sccache is not installed".into()),
            (_, false) => {
                cargo.env(crate::env_vars::RUSTC_WRAPPER, "");
            }
        }
        let (seconds, output) = crate::commands::measure::run_timed(&mut cargo)?;
        if let Some(why) = crate::commands::measure::failure(&output) {
            return Err(why);
        }
        Ok(seconds)
    }

    /// Stops tune's sccache server, if it started one.
    pub(super) fn stop_sccache(&self) {
        if let Some(sccache) = &self.sccache {
            let _ = crate::child::output(
                Command::new(&sccache.program)
                    .arg("--stop-server")
                    .env(
                        crate::env_vars::SCCACHE_SERVER_PORT,
                        sccache.port.to_string(),
                    )
                    .env_remove(crate::env_vars::SCCACHE_SERVER_UDS),
                crate::child::Limits::PROBE.outside_project(),
            );
        }
    }

    /// Why the binary just built does not count: another linker than the configuration's made
    /// it.
    pub(super) fn wrong_linker(&self, settings: &Settings, scenario: Scenario) -> Option<String> {
        let binary = self
            .target_dir(scenario)
            .join("debug")
            .join(&self.main.name);
        let seen = crate::fsutil::read_bounded(&binary, crate::elf::MAX_BINARY_BYTES)
            .ok()
            .and_then(|bytes| crate::elf::comment_strings(&bytes))
            .and_then(|strings| crate::elf::linker_signature(&strings));
        (!settings.linker.signed(seen.as_deref())).then(|| {
            format!(
                "{} was linked by {}, not {}",
                binary.display(),
                seen.as_deref().unwrap_or("GNU ld (no signature)"),
                settings.linker
            )
        })
    }
}
