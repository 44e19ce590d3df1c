//! `buildkit bench`: measures, on this project and this machine, what each linker and the
//! cache really save, instead of quoting someone else's figures.
//!
//! Each configuration builds into its own target directory under `target/buildkit-bench/`, so
//! none invalidates another; one warm-up build each (which also proves, from the binary's
//! `.comment`, which linker made it), then runs interleaved A B C A B C … so that drift on the
//! machine hits every configuration alike. The summary, the table and the recommendation come
//! from `crate::bench`.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Instant;

mod runner;

use runner::Runner;

use super::Context;
use super::measure::Progress;
use crate::Error;
use crate::bench::{self, Config, Linker, Measured, Scenario};
use crate::commands::CommandError;
use crate::commands::measure::ScenarioChoice;

/// `buildkit bench`'s options, as the command line gives them.
#[derive(Debug, clap::Args)]
pub struct BenchOptions {
    /// The linkers to compare, comma-separated: default (rustc's own), mold, wild, lld, bfd
    /// (default: all of them, mold and wild only where buildkit.lock pins them).
    #[arg(long, value_enum, value_delimiter = ',', hide_possible_values = true)]
    pub linkers: Option<Vec<Linker>>,
    /// Also measure clean builds through sccache, with an empty and with a warm cache.
    #[arg(long)]
    pub sccache: bool,
    /// Measured runs of each configuration, after one warm-up.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// What to time: the edit loop (edit a file, rebuild), clean builds, or both.
    #[arg(long, value_enum, default_value_t = ScenarioChoice::Both)]
    pub scenario: ScenarioChoice,
    /// Stop measuring after about this long (`20m`, `1h 30m`): the runs that do not fit are
    /// left out and said so, and the report covers the runs made.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub budget: Option<std::time::Duration>,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Keep the build directories bench made (under the target directory's buildkit-bench/);
    /// by default they are removed at the end.
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub build: super::measure::MeasuredBuild,
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
    let started = Instant::now();
    let project = ctx.require_project()?;
    let root = project.root();
    let (lock, _) = ctx.resolve_lock(&project)?;
    let bin_dir = ctx.home.lock_bin_dir(&lock.id());
    let runs = options.runs.max(1);
    options.check(&lock)?;
    let main = super::measure::main_binary(root, options.build.bin.as_deref())?;
    // The lines that stay, the binary first: on stderr as they come, and in the JSON.
    let progress = Progress::new("bench");
    let mut notes = Vec::new();
    let mut note = |line: String| {
        progress.note(&line);
        notes.push(line);
    };
    note(format!("measuring binary `{}`: {}", main.name, main.why));

    let options_linkers = pinned_linkers(options, &lock, &mut note)?;
    let configs = configurations(&project.manifest, &options_linkers, options.sccache);
    let _lock = super::measure::lock_project(&main.target_dir, "bench")?;
    let bench_dir = super::measure::working_dir(&main.target_dir, "buildkit-bench")?;
    let scratch = tempfile::tempdir().map_err(|source| Error::File {
        action: "create a temporary directory in",
        path: std::env::temp_dir(),
        source,
    })?;
    let (edit, leftover) = super::measure::SourceEdit::of_option(
        options.build.edit.as_deref(),
        &ctx.cwd,
        &main,
        root,
        "bench",
    )?;
    if let Some(line) = leftover {
        note(line);
    }
    let rustflags = super::measure::project_rustflags(&ctx.env, root)?;
    if !rustflags.is_empty() {
        note(format!(
            "every build carries the project's rustflags: {}",
            crate::encode::Inert(&rustflags.join(" "))
        ));
    }
    let runner = Runner {
        env: &ctx.env,
        root,
        rustflags,
        bin_dir: &bin_dir,
        bench_dir: &bench_dir,
        scratch: scratch.path(),
        main: &main,
        edit: std::cell::RefCell::new(edit),
        progress,
        notes: std::cell::RefCell::new(notes),
        timings: Default::default(),
        started,
        budget: options.budget,
    };
    let mut rows = warm_up(&runner, &configs, options.scenario);
    measure(&runner, &configs, &mut rows, runs);
    let restored = runner.edit.borrow_mut().restore();
    runner.progress.done();
    restored.map_err(crate::commands::measure::TrialError::from)?;
    if !options.keep {
        let _ = fs_err::remove_dir_all(&bench_dir);
    }

    report(options, &rows, &runner.notes.borrow())
}

impl BenchOptions {
    /// What clap cannot say: `--sccache` needs clean builds and a pinned sccache.
    fn check(&self, lock: &crate::lock::Lockfile) -> Result<(), Error> {
        if self.sccache && !self.scenario.clean() {
            return Err(CommandError::SccacheWithoutCleanBuilds.into());
        }
        if self.sccache && lock.tool(crate::tool::Tool::Sccache).is_none() {
            return Err(CommandError::SccacheNotPinned.into());
        }
        Ok(())
    }
}

/// The linkers to measure: only those buildkit pins, mold and wild from the lock's bin
/// directory, never whatever is on PATH (bfd, GNU ld, is the pre-1.90 baseline every machine
/// has). A linker named in `--linkers` that the lock does not pin is refused; otherwise it is
/// left out, said in a note.
fn pinned_linkers(
    options: &BenchOptions,
    lock: &crate::lock::Lockfile,
    note: &mut dyn FnMut(String),
) -> Result<Vec<Linker>, Error> {
    let linkers_given = options.linkers.is_some();
    let mut options_linkers = options.linkers.clone().unwrap_or(Linker::ALL.to_vec());
    for linker in [Linker::Mold, Linker::Wild] {
        let Some(tool) = linker.tool() else {
            continue;
        };
        if lock.tool(tool).is_some() || !options_linkers.contains(&linker) {
            continue;
        }
        if linkers_given {
            return Err(CommandError::LinkerNotPinned(tool).into());
        }
        options_linkers.retain(|l| *l != linker);
        note(format!("{tool} left out (buildkit.lock pins none)"));
    }
    Ok(options_linkers)
}

/// The table (or JSON) and the recommendation; a configuration that could not be measured
/// fails the run (the report, or its JSON `invalid`, says which and why). One the budget left
/// out is said so, not failed.
fn report(
    options: &BenchOptions,
    rows: &[bench::Measured],
    notes: &[String],
) -> Result<ExitCode, Error> {
    let summaries = bench::summarize(rows);
    let recommendation = bench::recommendation(&summaries);
    if options.json {
        let report = serde_json::json!({
            "results": summaries,
            "recommendation": recommendation,
            "notes": notes,
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    } else {
        crate::out!("{}", bench::table(&summaries));
        crate::outln!("\n{recommendation}");
    }
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
    Err(CommandError::Unmeasured(names.into_iter().map(str::to_string).collect()).into())
}

/// The configurations to measure: each linker asked for with buildkit.toml's profile settings
/// (given explicitly), buildkit.toml's profile against cargo's defaults, and sccache.
fn configurations(
    manifest: &crate::manifest::Manifest,
    linkers: &[Linker],
    sccache: bool,
) -> Vec<Config> {
    // buildkit.toml's profile settings, given to every configuration explicitly, and the
    // baseline that sets the same keys back to cargo's defaults.
    let profile_keys: Vec<(Vec<String>, String)> = crate::render::cargo_config_keys(manifest)
        .into_iter()
        .filter(|(path, _)| path.first().is_some_and(|p| p == "profile"))
        .map(|(path, value)| (path, value.to_string().trim().to_string()))
        .collect();
    let as_config = |path: &[String], value: &str| format!("{}={value}", path.join("."));
    let with_profile: Vec<String> = profile_keys.iter().map(|(p, v)| as_config(p, v)).collect();
    let mut configs: Vec<Config> = linkers
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
    if sccache {
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
/// the rows to fill (the scenarios `choice` times), a configuration whose binary was not signed
/// as named marked invalid. A configuration whose warm-up does not fit what is left of the
/// budget gets no rows, and a note says so.
fn warm_up(runner: &Runner<'_>, configs: &[Config], choice: ScenarioChoice) -> Vec<Measured> {
    let mut rows: Vec<Measured> = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        // What the warm-up is: the clean build of its kind.
        let kind = if config.sccache {
            Scenario::CleanSccacheCold
        } else {
            Scenario::Clean
        };
        if index > 0
            && let Some(left) = runner.left()
        {
            let needed = runner.timings.borrow().estimate(&config.name, kind);
            if needed > left {
                runner.note(format!(
                    "{} left out: its warm-up (a clean build, about {}) does not fit the {} left of --budget",
                    config.name,
                    bench::minutes(needed),
                    bench::minutes(left)
                ));
                continue;
            }
        }
        runner.progress.say(&format!("warm-up: {}", config.name));
        let built = Instant::now();
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
            Err(why) => (None, Some(why.to_string())),
        };
        runner
            .timings
            .borrow_mut()
            .record(&config.name, kind, built.elapsed().as_secs_f64());
        let scenarios: &[Scenario] = if config.sccache {
            &[Scenario::CleanSccacheCold, Scenario::CleanSccacheWarm]
        } else {
            &[Scenario::Clean, Scenario::Edit]
        };
        for &scenario in scenarios {
            let timed = match scenario {
                Scenario::Edit => choice.edit(),
                _ => choice.clean(),
            };
            if !timed {
                continue;
            }
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

/// The measured runs, interleaved: each scenario, each configuration in turn, `runs` times. A
/// scenario's pass that does not fit what is left of the budget ends that scenario's runs
/// (whole passes only: each run pairs every configuration with `default`).
fn measure(runner: &Runner<'_>, configs: &[Config], rows: &mut [Measured], runs: usize) {
    const ORDER: [Scenario; 4] = [
        Scenario::Clean,
        Scenario::Edit,
        Scenario::CleanSccacheCold,
        Scenario::CleanSccacheWarm,
    ];
    // Every build planned, in order: (run, scenario, configuration).
    let planned: Vec<(usize, Scenario, &Config)> = (0..runs)
        .flat_map(|run| {
            ORDER
                .into_iter()
                .flat_map(move |scenario| configs.iter().map(move |config| (run, scenario, config)))
        })
        .collect();
    let mut stopped: BTreeSet<Scenario> = BTreeSet::new();
    let mut done = 0;
    for (at, &(run, scenario, config)) in planned.iter().enumerate() {
        let starts_pass = at == 0 || planned[at - 1].1 != scenario;
        if starts_pass {
            stop_past_budget(runner, configs, rows, &mut stopped, scenario, (run, runs));
        }
        if !measurable(rows, &stopped, scenario, config) {
            continue;
        }
        done += 1;
        let build = match scenario {
            Scenario::Clean => Build::Clean,
            Scenario::Edit => Build::Edit,
            Scenario::CleanSccacheCold => Build::CleanColdCache,
            Scenario::CleanSccacheWarm => Build::CleanWarmCache,
        };
        let result = runner.build(config, build, run + 1);
        let row = rows
            .iter_mut()
            .find(|r| r.config == config.name && r.scenario == scenario)
            .expect("a measurable build has its row");
        match result {
            Ok(seconds) => {
                row.seconds.push(seconds);
                runner
                    .timings
                    .borrow_mut()
                    .record(&config.name, scenario, seconds);
                let rest: Vec<(&str, Scenario)> = planned[at + 1..]
                    .iter()
                    .filter(|(_, s, c)| measurable(rows, &stopped, *s, c))
                    .map(|(_, s, c)| (c.name.as_str(), *s))
                    .collect();
                say_done(
                    runner,
                    (done, done + rest.len()),
                    config,
                    scenario,
                    seconds,
                    &rest,
                );
            }
            Err(why) => row.invalid = Some(why.to_string()),
        }
    }
}

/// Whether `config`'s `scenario` builds still run: not stopped by the budget, and not invalid.
fn measurable(
    rows: &[Measured],
    stopped: &BTreeSet<Scenario>,
    scenario: Scenario,
    config: &Config,
) -> bool {
    !stopped.contains(&scenario)
        && rows
            .iter()
            .any(|r| r.config == config.name && r.scenario == scenario && r.invalid.is_none())
}

/// At the start of a scenario's pass: stops the scenario (and a warm cache's after a cold one)
/// when the pass does not fit what is left of `--budget`, said in a note. `run` of `runs`.
fn stop_past_budget(
    runner: &Runner<'_>,
    configs: &[Config],
    rows: &[Measured],
    stopped: &mut BTreeSet<Scenario>,
    scenario: Scenario,
    (run, runs): (usize, usize),
) {
    let Some(left) = runner.left() else {
        return;
    };
    let pass: Vec<(&str, Scenario)> = configs
        .iter()
        .filter(|c| measurable(rows, stopped, scenario, c))
        .map(|c| (c.name.as_str(), scenario))
        .collect();
    let needed = runner.timings.borrow().cost(pass.iter().copied());
    if !pass.is_empty() && needed > left {
        runner.note(format!(
            "{scenario} builds stop after {run} of {runs} runs: a pass takes about {}, {} is left of --budget",
            bench::minutes(needed),
            bench::minutes(left)
        ));
        stopped.insert(scenario);
        if scenario == Scenario::CleanSccacheCold {
            // A warm cache is the one this run's cold build filled.
            stopped.insert(Scenario::CleanSccacheWarm);
        }
    }
}

/// The progress line after a build: `[done/planned]`, its time and about how long is left.
fn say_done(
    runner: &Runner<'_>,
    (done, planned): (usize, usize),
    config: &Config,
    scenario: Scenario,
    seconds: f64,
    rest: &[(&str, Scenario)],
) {
    let time_left = runner.timings.borrow().cost(rest.iter().copied());
    let time_left = runner.left().map_or(time_left, |left| time_left.min(left));
    let time_left = if rest.is_empty() {
        String::new()
    } else {
        format!(", about {} left", bench::minutes(time_left))
    };
    runner.progress.say(&format!(
        "[{done}/{planned}] {} {scenario}: {seconds:.2} s{time_left}",
        config.name,
    ));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    Clean,
    Edit,
    CleanColdCache,
    CleanWarmCache,
}
