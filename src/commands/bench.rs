//! `buildkit bench`: measures, on this project and this machine, what each linker and the
//! cache really save, instead of quoting someone else's figures.
//!
//! Each configuration builds into its own target directory under `target/buildkit-bench/`, so
//! none invalidates another; one warm-up build each (which also proves, from the binary's
//! `.comment`, which linker made it), then runs interleaved A B C A B C … so that drift on the
//! machine hits every configuration alike. The summary, the table and the recommendation come
//! from `crate::bench`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use super::Context;
use super::measure::{MainBinary, Progress};
use crate::Error;
use crate::bench::{self, Config, Linker, Measured, Scenario};

pub struct BenchOptions {
    pub linkers: Vec<Linker>,
    /// `--linkers` was given (otherwise a linker the lock does not pin is left out, not refused).
    pub linkers_given: bool,
    pub sccache: bool,
    pub runs: usize,
    pub json: bool,
    /// Keep the build directories.
    pub keep: bool,
}

/// What cargo does for a profile key when nothing sets it: the baseline buildkit.toml's
/// `[profile.*]` is measured against (a value in .cargo/config.toml cannot be unset, only set
/// back to the default).
fn cargo_default(profile: &str, key: &str) -> Option<&'static str> {
    let release = profile == "release" || profile == "bench";
    Some(match key {
        "opt-level" => {
            if release {
                "3"
            } else {
                "0"
            }
        }
        "debug" => {
            if release {
                "false"
            } else {
                "true"
            }
        }
        "debug-assertions" | "overflow-checks" => {
            if release {
                "false"
            } else {
                "true"
            }
        }
        "incremental" => {
            if release {
                "false"
            } else {
                "true"
            }
        }
        "codegen-units" => {
            if release {
                "16"
            } else {
                "256"
            }
        }
        "lto" => "false",
        "strip" => "\"none\"",
        "panic" => "\"unwind\"",
        _ => return None,
    })
}

pub fn run(ctx: &Context, options: &BenchOptions) -> Result<ExitCode, Error> {
    let project = ctx.require_project()?;
    let root = project.root();
    let (lock, _) = ctx.resolve_lock(&project)?;
    let bin_dir = ctx.home.lock_bin_dir(&lock.id());
    let main = super::measure::main_binary(root, None)?;
    let runs = options.runs.max(1);
    if options.sccache && lock.tool("sccache").is_none() {
        return Err(Error::Usage(
            "--sccache needs [tools.sccache] in buildkit.toml (and `buildkit setup`)".into(),
        ));
    }

    // Only linkers buildkit pins: mold from the lock's bin directory, never whatever mold is on
    // PATH (bfd, GNU ld, is the pre-1.90 baseline every machine has).
    let mut options_linkers = options.linkers.clone();
    for (linker, tool) in [(Linker::Mold, "mold"), (Linker::Wild, "wild")] {
        if lock.tool(tool).is_some() || !options_linkers.contains(&linker) {
            continue;
        }
        if options.linkers_given {
            return Err(Error::Usage(format!(
                "--linkers {tool}: buildkit.lock pins no {tool}; add [tools.{tool}] to buildkit.toml and run `buildkit setup`, then bench measures that version (never one found on PATH)"
            )));
        }
        options_linkers.retain(|l| *l != linker);
        eprintln!("bench: {tool} left out (buildkit.lock pins none)");
    }
    let options = &BenchOptions {
        linkers: options_linkers,
        ..*options
    };
    let configs = configurations(&project.manifest, options);
    let _lock = super::measure::lock_project(&main.target_dir, "bench")?;
    let bench_dir = super::measure::working_dir(&main.target_dir, "buildkit-bench")?;
    let scratch = tempfile::tempdir().map_err(|source| Error::File {
        action: "create a temporary directory in",
        path: std::env::temp_dir(),
        source,
    })?;
    let (edit, leftover) =
        super::measure::SourceEdit::begin(&main.src, root, "bench").map_err(Error::Usage)?;
    let rustflags = super::measure::project_rustflags(&ctx.env, root)?;
    let runner = Runner {
        env: &ctx.env,
        root,
        rustflags,
        bin_dir: &bin_dir,
        bench_dir: &bench_dir,
        scratch: scratch.path(),
        main: &main,
        edit: std::cell::RefCell::new(edit),
        progress: Progress::new("bench"),
    };
    runner
        .progress
        .note(&format!("measuring binary `{}`: {}", main.name, main.why));
    if let Some(line) = leftover {
        runner.progress.note(&line);
    }
    if !runner.rustflags.is_empty() {
        runner.progress.note(&format!(
            "every build carries the project's rustflags: {}",
            crate::encode::Inert(&runner.rustflags.join(" "))
        ));
    }

    let mut rows = warm_up(&runner, &configs);
    measure(&runner, &configs, &mut rows, runs);
    let restored = runner.edit.borrow_mut().restore();
    runner.progress.done();
    restored.map_err(Error::Failed)?;
    if !options.keep {
        let _ = fs_err::remove_dir_all(&bench_dir);
    }

    let summaries = bench::summarize(&rows);
    let recommendation = bench::recommendation(&summaries);
    if options.json {
        let report = serde_json::json!({
            "results": summaries,
            "recommendation": recommendation,
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    } else {
        crate::out!("{}", bench::table(&summaries));
        crate::outln!("\n{recommendation}");
    }
    // A gate: a configuration that could not be measured fails the run (the report above, or
    // its JSON `invalid`, says which and why).
    let unmeasured: Vec<&str> = summaries
        .iter()
        .filter(|s| s.invalid.is_some())
        .map(|s| s.config.as_str())
        .collect();
    if unmeasured.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut names = unmeasured;
    names.dedup();
    Err(Error::Failed(format!(
        "{} could not be measured (see `invalid` above)",
        names.join(", ")
    )))
}

/// The configurations to measure: each linker asked for with buildkit.toml's profile settings
/// (given explicitly), buildkit.toml's profile against cargo's defaults, and sccache.
fn configurations(manifest: &crate::manifest::Manifest, options: &BenchOptions) -> Vec<Config> {
    // buildkit.toml's profile settings, given to every configuration explicitly, and the
    // baseline that sets the same keys back to cargo's defaults.
    let profile_keys: Vec<(Vec<String>, String)> = crate::render::cargo_config_keys(manifest)
        .into_iter()
        .filter(|(path, _)| path.first().is_some_and(|p| p == "profile"))
        .map(|(path, value)| (path, value.to_string().trim().to_string()))
        .collect();
    let as_config = |path: &[String], value: &str| format!("{}={value}", path.join("."));
    let with_profile: Vec<String> = profile_keys.iter().map(|(p, v)| as_config(p, v)).collect();
    let mut configs: Vec<Config> = options
        .linkers
        .iter()
        .map(|&linker| Config {
            name: linker.name().to_string(),
            linker,
            cargo_config: with_profile.clone(),
            sccache: false,
        })
        .collect();
    if !profile_keys.is_empty() {
        let defaults: Option<Vec<String>> = profile_keys
            .iter()
            .map(|(path, _)| match path.as_slice() {
                [_, profile, key] => cargo_default(profile, key).map(|d| as_config(path, d)),
                _ => None,
            })
            .collect();
        match defaults {
            Some(defaults) => configs.push(Config {
                name: "default/no-profile".into(),
                linker: Linker::Default,
                cargo_config: defaults,
                sccache: false,
            }),
            None => eprintln!(
                "note: buildkit.toml's [profile.*] sets keys whose cargo default buildkit does not know (package overrides?): the profile is not measured against none"
            ),
        }
    }
    if options.sccache {
        configs.push(Config {
            name: "default+sccache".into(),
            linker: Linker::Default,
            cargo_config: with_profile.clone(),
            sccache: true,
        });
    }

    configs
}

/// One clean build of each configuration, which also shows which linker signed its binary:
/// the rows to fill, a configuration whose binary was not signed as named marked invalid.
fn warm_up(runner: &Runner<'_>, configs: &[Config]) -> Vec<Measured> {
    // Warm-up: one clean build of each, which also shows which linker signed the binary.
    let mut rows: Vec<Measured> = Vec::new();
    for config in configs {
        runner.progress.say(&format!("warm-up: {}", config.name));
        let (linker_seen, invalid) = match runner.build(config, Build::Clean, 0) {
            Ok(_) => {
                let seen = runner.linker_seen(config);
                let invalid = (!config.linker.signed(seen.as_deref())).then(|| {
                    format!(
                        "the binary was linked by {}, not {}",
                        seen.as_deref().unwrap_or("GNU ld (no signature)"),
                        config.linker.name()
                    )
                });
                (seen, invalid)
            }
            Err(why) => (None, Some(why)),
        };
        let scenarios: &[Scenario] = if config.sccache {
            &[Scenario::CleanSccacheCold, Scenario::CleanSccacheWarm]
        } else {
            &[Scenario::Clean, Scenario::Edit]
        };
        for &scenario in scenarios {
            rows.push(Measured {
                config: config.name.clone(),
                scenario,
                seconds: Vec::new(),
                linker_seen: linker_seen.clone(),
                invalid: invalid.clone(),
            });
        }
    }

    rows
}

/// The measured runs, interleaved: each scenario, each configuration in turn, `runs` times.
fn measure(runner: &Runner<'_>, configs: &[Config], rows: &mut [Measured], runs: usize) {
    let total = rows.iter().filter(|r| r.invalid.is_none()).count() * runs;
    let mut done = 0;
    for run in 0..runs {
        for scenario in [
            Scenario::Clean,
            Scenario::Edit,
            Scenario::CleanSccacheCold,
            Scenario::CleanSccacheWarm,
        ] {
            for config in configs {
                let Some(row) = rows
                    .iter_mut()
                    .find(|r| r.config == config.name && r.scenario == scenario)
                else {
                    continue;
                };
                if row.invalid.is_some() {
                    continue;
                }
                done += 1;
                let build = match scenario {
                    Scenario::Clean => Build::Clean,
                    Scenario::Edit => Build::Edit,
                    Scenario::CleanSccacheCold => Build::CleanColdCache,
                    Scenario::CleanSccacheWarm => Build::CleanWarmCache,
                };
                match runner.build(config, build, run + 1) {
                    Ok(seconds) => {
                        runner.progress.say(&format!(
                            "[{done}/{total}] {} {scenario}: {seconds:.2} s",
                            config.name
                        ));
                        row.seconds.push(seconds);
                    }
                    Err(why) => row.invalid = Some(why),
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    Clean,
    Edit,
    CleanColdCache,
    CleanWarmCache,
}

struct Runner<'a> {
    env: &'a crate::env_vars::BuildEnv,
    root: &'a Path,
    bin_dir: &'a Path,
    bench_dir: &'a Path,
    scratch: &'a Path,
    main: &'a MainBinary,
    /// The project's own rustflags (its linker choice left out): in every build.
    rustflags: Vec<String>,
    /// The edit each edit-loop build follows (every configuration has its own cache).
    edit: std::cell::RefCell<super::measure::SourceEdit>,
    progress: Progress,
}

impl Runner<'_> {
    fn target_dir(&self, config: &Config) -> PathBuf {
        self.bench_dir.join(config.name.replace(['/', '+'], "-"))
    }

    /// Prepares, then times one `cargo build`; the seconds, or why it failed.
    fn build(&self, config: &Config, build: Build, run: usize) -> Result<f64, String> {
        let target_dir = self.target_dir(config);
        match build {
            Build::Clean | Build::CleanColdCache | Build::CleanWarmCache => {
                if target_dir.exists() {
                    fs_err::remove_dir_all(&target_dir).map_err(|e| e.to_string())?;
                }
            }
            Build::Edit => self.edit.borrow_mut().change_for(&config.name)?,
        }
        let mut cargo =
            super::measure::cargo_build(self.env, self.root, self.bin_dir, &target_dir)?;
        cargo
            // The project's flags and the configuration's linker flags replace every other
            // source of rustflags.
            .env(crate::env_vars::CARGO_ENCODED_RUSTFLAGS, {
                let mut flags = self.rustflags.clone();
                flags.extend(config.linker.rustflags(true, config.linker == Linker::Lld));
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
            .env_remove("SCCACHE_SERVER_UDS");
        for setting in &config.cargo_config {
            cargo.arg("--config").arg(setting);
        }
        let sccache_dir = self.scratch.join(format!("sccache-{}", run));
        // A private server per cache directory: it reads SCCACHE_DIR when it starts.
        let port = config.sccache.then(free_port);
        if let Some(port) = port {
            if build == Build::CleanColdCache {
                let _ = fs_err::remove_dir_all(&sccache_dir);
            }
            cargo
                .env(crate::env_vars::RUSTC_WRAPPER, self.bin_dir.join("sccache"))
                .env(crate::env_vars::CARGO_INCREMENTAL, "0")
                .env(crate::env_vars::SCCACHE_DIR, &sccache_dir)
                .env("SCCACHE_SERVER_PORT", port.to_string());
        } else {
            cargo.env(crate::env_vars::RUSTC_WRAPPER, "");
        }
        let (seconds, output) = super::measure::run_timed(&mut cargo)?;
        if let Some(port) = port {
            let _ = crate::child::output(
                Command::new(self.bin_dir.join("sccache"))
                    .arg("--stop-server")
                    .env("SCCACHE_SERVER_PORT", port.to_string())
                    .env_remove("SCCACHE_SERVER_UDS"),
                crate::child::Limits::PROBE.outside_project(),
            );
        }
        if let Some(why) = super::measure::failure(&output) {
            return Err(why);
        }
        Ok(seconds)
    }

    fn linker_seen(&self, config: &Config) -> Option<String> {
        let binary = self.target_dir(config).join("debug").join(&self.main.name);
        let bytes = crate::fsutil::read_bounded(&binary, crate::elf::MAX_BINARY_BYTES).ok()?;
        crate::elf::linker_signature(&crate::elf::comment_strings(&bytes)?)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(4226, |a| a.port())
}
