//! One timed build of one configuration: its target directory, the link script's linker, the
//! project's rustflags, the edit it follows, and sccache's private server for clean builds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::commands::measure::{Before, MainBinary, MeasureError, TrialError, time_build};
use crate::tune::{Profile, Scenario, Settings};

pub(super) struct Runner<'a> {
    /// The profile every build is of (`--profile`).
    pub(super) profile: Profile,
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
    /// cargo's and rustc's own configuration of the profile tune measures.
    pub(super) fn defaults(&self) -> Settings {
        Settings::defaults(self.profile)
    }

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
    ) -> Result<f64, TrialError> {
        // One incremental cache per profile variant; the linker shares it.
        let cache = settings.cargo_config().join(" ");
        let before = match scenario {
            Scenario::Clean => Before::Clean(self.target_dir(scenario)),
            Scenario::Edit if timed => Before::Edit {
                edit: &self.edit,
                cache: &cache,
            },
            Scenario::Edit => Before::Nothing,
        };
        let mut cargo = self.command(settings, scenario)?;
        time_build(before, &mut cargo)
    }

    /// The `cargo build` of `settings` for `scenario`: the lock's bin directory first on PATH,
    /// the project's rustflags, the link script and its linker, incremental compilation as the
    /// scenario builds, the profile settings, and sccache's private server or no wrapper.
    pub(super) fn command(
        &self,
        settings: &Settings,
        scenario: Scenario,
    ) -> Result<Command, MeasureError> {
        let target_dir = self.target_dir(scenario);
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
        if settings.profile != Profile::Dev {
            cargo.arg("--profile").arg(settings.profile.name());
        }
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
            (None, true) => return Err(MeasureError::NotInstalled(crate::tool::Tool::Sccache)),
            (_, false) => {
                cargo.env(crate::env_vars::RUSTC_WRAPPER, "");
            }
        }
        Ok(cargo)
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
            .join(settings.profile.dir())
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::ffi::OsStr;

    use super::*;
    use crate::commands::measure::SourceEdit;
    use crate::linker::Linker;

    fn envs(command: &Command) -> BTreeMap<String, Option<String>> {
        command
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn each_build_names_its_linker_flags_and_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("main.rs");
        std::fs::write(&src, "fn main() {}\n").unwrap();
        let (edit, _) = SourceEdit::begin(&src, dir.path(), "tune").unwrap();
        let env = crate::env_vars::BuildEnv::for_test(&[]);
        let main = MainBinary {
            name: "app".into(),
            src: src.clone(),
            target_dir: dir.path().join("target"),
            why: String::new(),
        };
        let runner = Runner {
            profile: crate::tune::Profile::Dev,
            env: &env,
            root: dir.path(),
            bin_dir: Path::new("/locked/bin"),
            dispatcher: Path::new("/tune/link"),
            shared: dir.path().join("shared"),
            clean: dir.path().join("clean"),
            main: &main,
            rustflags: vec!["--cfg".into(), "tokio_unstable".into()],
            edit: RefCell::new(edit),
            sccache: None,
        };
        let mold = Settings {
            linker: Linker::Mold,
            ..Settings::default()
        };
        let edit = runner.command(&mold, Scenario::Edit).unwrap();
        let vars = envs(&edit);
        assert_eq!(vars["BUILDKIT_TUNE_LINKER"].as_deref(), Some("mold"));
        assert_eq!(
            vars["CARGO_ENCODED_RUSTFLAGS"].as_deref(),
            Some("--cfg\u{1f}tokio_unstable")
        );
        assert_eq!(
            vars["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER"].as_deref(),
            Some("/tune/link")
        );
        assert_eq!(
            vars["CARGO_INCREMENTAL"], None,
            "the edit loop keeps cargo's default"
        );
        assert_eq!(vars["RUSTC_WRAPPER"].as_deref(), Some(""));
        assert!(vars["PATH"].as_deref().unwrap().starts_with("/locked/bin"));
        assert_eq!(
            vars["CARGO_TARGET_DIR"].as_deref(),
            Some(runner.shared.to_str().unwrap())
        );

        let clean = runner
            .command(&Settings::default(), Scenario::Clean)
            .unwrap();
        let vars = envs(&clean);
        assert_eq!(vars["CARGO_INCREMENTAL"].as_deref(), Some("0"));
        assert_eq!(vars["BUILDKIT_TUNE_LINKER"].as_deref(), Some("default"));
        let args: Vec<&OsStr> = clean.get_args().collect();
        assert_eq!(args[..2], [OsStr::new("build"), OsStr::new("--quiet")]);

        let cached = Settings {
            sccache: true,
            ..Settings::default()
        };
        assert_eq!(
            runner
                .command(&cached, Scenario::Clean)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("sccache is not installed")
        );
        runner.edit.borrow_mut().restore().unwrap();
    }
}
