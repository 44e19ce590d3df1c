//! `buildkit tune`: measures the levers that change build time without changing what the
//! program does (debug information, split debuginfo, the linker, optimised build scripts) on
//! this project and this machine, and with `--apply` writes the fastest configuration that
//! was measured faster than cargo's and rustc's defaults into buildkit.toml.
//!
//! Cheap enough for a big workspace: every edit-loop build shares one target directory, and
//! cargo links through one script whose path never changes, which picks the configuration's
//! linker at link time from an environment variable. So switching the linker relinks and
//! recompiles nothing else, and profile variants keep their own artifacts beside each other
//! (cargo names them by a hash of the profile). Clean builds get a directory emptied before
//! each run. Everything lives under `target/buildkit-tune/`, removed at the end unless `--keep`.
//! The decisions (candidates, statistics, the record) are `crate::tune`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Context;
use super::measure::{MainBinary, Progress};
use crate::Error;
use crate::cli::ScenarioChoice;
use crate::linker::Linker;
use crate::lock::Lockfile;
use crate::manifest::Manifest;
use crate::tool::Tool;
use crate::tune::{self, Judged, Lever, Machine, Scenario, Settings, Trial, Verdict};

/// `buildkit tune`'s options, as the command line gives them.
#[derive(Debug, clap::Args)]
pub struct TuneOptions {
    /// What to make faster: the edit loop (edit a file, rebuild), a clean build, or both.
    #[arg(long, value_enum, default_value_t = ScenarioChoice::Edit)]
    pub scenario: ScenarioChoice,
    /// Stop measuring after this long (`20m`, `1h 30m`); levers that do not fit are left
    /// out and said so.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub budget: Option<std::time::Duration>,
    /// Measured runs of each configuration in each round, after one warm-up (three at
    /// least for a confidence interval).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Write the configuration into buildkit.toml (and buildkit.lock) when it was measured
    /// faster than cargo's and rustc's defaults.
    #[arg(long)]
    pub apply: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Keep the build directories (under the target directory's buildkit-tune/).
    #[arg(long)]
    pub keep: bool,
    /// The binary whose link is measured (default: the first of the root package, then of
    /// the other members).
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// The project's source file the edit loop edits: each build follows a comment line
    /// inserted at its top or removed again, put back at the end (default: the binary's
    /// main source file).
    #[arg(long, value_name = "FILE", alias = "touch")]
    pub edit: Option<std::path::PathBuf>,
    /// No network: measure only linkers already in the download cache or installed.
    #[arg(long, env = crate::env_vars::BUILDKIT_OFFLINE, value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub offline: bool,
    /// Fetch https://HOST/PATH as MIRROR/HOST/PATH.
    #[arg(long, value_name = "URL", env = crate::env_vars::BUILDKIT_MIRROR)]
    pub mirror: Option<String>,
}

impl TuneOptions {
    /// `init --tune`: the edit loop, measured and applied.
    pub fn after_init(offline: bool, mirror: Option<String>) -> TuneOptions {
        TuneOptions {
            scenario: ScenarioChoice::Edit,
            budget: None,
            runs: 5,
            apply: true,
            json: false,
            keep: false,
            bin: None,
            edit: None,
            offline,
            mirror,
        }
    }
}

/// One round: a lever's alternatives against the best so far, or why it was not measured.
#[derive(Debug, Serialize)]
struct Round {
    lever: Lever,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<Judged>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    machine: Machine,
    scenarios: Vec<Scenario>,
    runs: usize,
    /// The file each edit-loop build follows an edit of.
    edited: String,
    rounds: Vec<Round>,
    /// The best configuration against cargo's and rustc's defaults, measured last.
    confirmation: Option<Judged>,
    /// cargo's and rustc's defaults as that last round measured them, beside the best.
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmation_base: Option<Judged>,
    adopted: Settings,
    applied: bool,
    notes: Vec<String>,
    seconds: f64,
}

pub fn run(ctx: &Context, options: &TuneOptions) -> Result<ExitCode, Error> {
    let started = Instant::now();
    if options.runs < crate::bench::MIN_RUNS_FOR_CONFIDENCE {
        return Err(Error::Usage(format!(
            "--runs {}: tune needs {} runs or more to tell a difference from noise",
            options.runs,
            crate::bench::MIN_RUNS_FOR_CONFIDENCE
        )));
    }
    let project = ctx.require_project()?;
    let root = project.root().to_path_buf();
    let main = super::measure::main_binary(&root, options.bin.as_deref())?;
    let _lock = super::measure::lock_project(&main.target_dir, "tune")?;
    let (edit, leftover) = super::measure::SourceEdit::of_option(
        options.edit.as_deref(),
        &ctx.cwd,
        &main,
        &root,
        "tune",
    )?;
    let runs = options.runs;
    let progress = Progress::new("tune");
    let tune_dir = super::measure::working_dir(&main.target_dir, "buildkit-tune")?;

    let mut notes = vec![format!("measuring binary `{}`: {}", main.name, main.why)];
    notes.extend(leftover);
    let tools = linker_tools(ctx, &project, &tune_dir, options, &mut notes)?;
    for note in &notes {
        progress.note(note);
    }
    let dispatcher = tune_dir.join("buildkit-tune-link");
    crate::fsutil::write_atomically(
        &dispatcher,
        crate::render::tune_link_script(project.manifest.driver.as_str(), &tools.bin_dir)?
            .as_bytes(),
    )
    .and_then(|()| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dispatcher, std::fs::Permissions::from_mode(0o755))
    })
    .map_err(|source| Error::File {
        action: "write",
        path: dispatcher.clone(),
        source,
    })?;

    let rustflags = super::measure::project_rustflags(&ctx.env, &root)?;
    if !rustflags.is_empty() {
        progress.note(&format!(
            "every build carries the project's rustflags: {}",
            crate::encode::Inert(&rustflags.join(" "))
        ));
    }
    let runner = Runner {
        env: &ctx.env,
        root: &root,
        rustflags,
        bin_dir: &tools.bin_dir,
        dispatcher: &dispatcher,
        shared: tune_dir.join("shared"),
        clean: tune_dir.join("clean"),
        main: &main,
        edit: std::cell::RefCell::new(edit),
        sccache: tools.sccache.map(|program| SccacheRun {
            program,
            dir: tune_dir.join("sccache"),
            port: super::measure::free_port().unwrap_or(super::measure::SCCACHE_DEFAULT_PORT),
        }),
    };
    let mut clock = Clock {
        started,
        budget: options.budget,
        observed: BTreeMap::new(),
        progress: &progress,
    };
    let outcome = search(
        &runner,
        &mut clock,
        &tools.linkers,
        &options.scenario.scenarios(),
        runs,
    );
    runner.stop_sccache();
    let restored = runner.edit.borrow_mut().restore();
    progress.done();
    if !options.keep {
        let _ = fs_err::remove_dir_all(&tune_dir);
    }
    restored.map_err(Error::Failed)?;
    let (rounds, best, confirmation_round) = outcome?;
    let (confirmation_base, confirmation) = confirmation_round.unzip();

    let confirmed = confirmation
        .as_ref()
        .is_some_and(|c| c.verdict == Verdict::Faster);
    let adopted = if confirmed { best } else { Settings::default() };
    let machine = machine(ctx, &root);
    let mut applied = false;
    if options.apply && confirmed {
        let measured = measured_levers(&rounds, project.manifest.linker.linker());
        let record = tune::record(
            &machine,
            &confirmation.as_ref().expect("confirmed").against_base,
            &adopted,
            &measured,
        );
        apply(ctx, &project, &adopted, &measured, &tools.pins, &record)?;
        applied = true;
    }

    let report = Report {
        machine,
        scenarios: options.scenario.scenarios(),
        runs,
        edited: runner.edit.borrow().named().display().to_string(),
        rounds,
        confirmation,
        confirmation_base,
        adopted,
        applied,
        notes,
        seconds: started.elapsed().as_secs_f64(),
    };
    if options.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        crate::out!("{}", text_report(&report, options.apply, &project));
    }
    let base_failed = report
        .rounds
        .iter()
        .flat_map(|r| r.results.first())
        .any(|base| base.invalid.is_some());
    Ok(if base_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// cargo's and rustc's defaults, then the best configuration, as the last round measured them.
type ConfirmationRound = (Judged, Judged);

/// The greedy search, then the confirmation round: the rounds, the best configuration, and
/// the defaults and the best as that round measured them (`None` when the best is the
/// defaults).
fn search(
    runner: &Runner<'_>,
    clock: &mut Clock<'_>,
    linkers: &[Linker],
    scenarios: &[Scenario],
    runs: usize,
) -> Result<(Vec<Round>, Settings, Option<ConfirmationRound>), Error> {
    let sccache_skipped = if runner.sccache.is_none() {
        Some("buildkit.toml pins no sccache (or it is not installed)")
    } else if !scenarios.contains(&Scenario::Clean) {
        Some("measured in clean builds only (--scenario clean or both)")
    } else {
        None
    };
    let mut best = Settings::default();
    let mut rounds = Vec::new();
    // Calibration: the base built once (filling the shared directory; its time is about a
    // clean build) and, for the edit loop, rebuilt once after an edit.
    clock
        .progress
        .say("building the project once with cargo's defaults");
    let first = runner.build(&best, Scenario::Edit, false);
    match first {
        Ok(seconds) => {
            clock.observe(Scenario::Clean, seconds);
            if scenarios.contains(&Scenario::Edit)
                && let Ok(seconds) = runner.build(&best, Scenario::Edit, true)
            {
                clock.observe(Scenario::Edit, seconds);
            }
        }
        Err(why) => {
            return Err(Error::Failed(format!(
                "the project does not build with cargo's defaults, so there is nothing to tune: {why}"
            )));
        }
    }

    let mut levers: Vec<Lever> = Lever::ALL.to_vec();
    while !levers.is_empty() {
        let lever = levers.remove(0);
        let round_scenarios: &[Scenario] = if lever == Lever::Sccache {
            if let Some(why) = sccache_skipped {
                rounds.push(Round {
                    lever,
                    results: Vec::new(),
                    skipped: Some(why.into()),
                });
                continue;
            }
            &[Scenario::Clean]
        } else {
            scenarios
        };
        if lever == Lever::BuildOverride && !scenarios.contains(&Scenario::Clean) {
            // What it saves in an edit loop it can cost many times over in every clean build,
            // CI's included (2.6x slower on the seed workspace), where the same profile applies.
            rounds.push(Round {
                lever,
                results: Vec::new(),
                skipped: Some(
                    "optimised build scripts make clean builds (CI's) slower, which an edit-loop run does not measure: `--scenario both` weighs the two".into(),
                ),
            });
            continue;
        }
        let candidates = tune::candidates(lever, &best, linkers);
        if candidates.is_empty() {
            rounds.push(Round {
                lever,
                results: Vec::new(),
                skipped: Some(match lever {
                    Lever::Linker => "no linker but rustc's own could be measured".into(),
                    Lever::SplitDebuginfo => "no debug information left to split".into(),
                    _ => "nothing to try".into(),
                }),
            });
            continue;
        }
        let configs: Vec<Settings> = std::iter::once(best).chain(candidates).collect();
        let cost = clock.round_cost(configs.len(), round_scenarios, runs);
        // Room for the confirmation round stays.
        let reserve = clock.round_cost(2, scenarios, runs);
        if let Some(left) = clock.left()
            && cost + reserve > left
        {
            rounds.push(Round {
                lever,
                results: Vec::new(),
                skipped: Some(format!(
                    "over the budget: about {} needed, {} left",
                    crate::bench::minutes(cost + reserve),
                    crate::bench::minutes(left)
                )),
            });
            continue;
        }
        let planned_after: Duration = levers
            .iter()
            .map(|_| clock.round_cost(3, scenarios, runs))
            .sum::<Duration>()
            + reserve;
        let trials = measure_round(
            runner,
            clock,
            lever.name(),
            &configs,
            round_scenarios,
            runs,
            planned_after,
        );
        let judged = tune::judge(&trials);
        // sccache is reported, not written: its pin and cache are the team's choice, and it
        // pays only where the cache is warm.
        if let Some(winner) = judged.iter().find(|j| j.adopted)
            && lever != Lever::Sccache
        {
            best = winner.settings;
        }
        rounds.push(Round {
            lever,
            results: judged,
            skipped: None,
        });
    }

    let confirmation = if best == Settings::default() {
        None
    } else if clock.left().is_some_and(|left| left.is_zero()) {
        return Ok((rounds, best, None));
    } else {
        let trials = measure_round(
            runner,
            clock,
            "confirmation",
            &[Settings::default(), best],
            scenarios,
            runs,
            Duration::ZERO,
        );
        let mut judged = tune::judge(&trials).into_iter();
        judged.next().zip(judged.next())
    };
    Ok((rounds, best, confirmation))
}

/// One round: a warm-up build of each configuration (which also shows which linker signed its
/// binary), then `runs` interleaved passes over scenarios and configurations.
fn measure_round(
    runner: &Runner<'_>,
    clock: &mut Clock<'_>,
    name: &str,
    configs: &[Settings],
    scenarios: &[Scenario],
    runs: usize,
    planned_after: Duration,
) -> Vec<Trial> {
    let mut trials: Vec<Trial> = configs
        .iter()
        .map(|settings| Trial {
            settings: *settings,
            seconds: scenarios.iter().map(|s| (*s, Vec::new())).collect(),
            warm_up_s: None,
            invalid: None,
        })
        .collect();
    for trial in &mut trials {
        clock
            .progress
            .say(&format!("{name}: warm-up: {}", trial.settings.label()));
        // An edit-loop build (after an edit, so that even a configuration differing only in its
        // linker links again), whose binary shows which linker made it.
        // sccache's warm-up is a clean build, which fills its cache.
        let scenario = if trial.settings.sccache {
            Scenario::Clean
        } else {
            Scenario::Edit
        };
        match runner.build(&trial.settings, scenario, true) {
            Ok(seconds) => {
                trial.warm_up_s = Some(seconds);
                trial.invalid = runner.wrong_linker(&trial.settings, scenario);
            }
            Err(why) => trial.invalid = Some(why),
        }
    }
    let total = runs * scenarios.len() * trials.iter().filter(|t| t.invalid.is_none()).count();
    let mut done = 0;
    'runs: for _ in 0..runs {
        for &scenario in scenarios {
            for trial in trials.iter_mut().filter(|t| t.invalid.is_none()) {
                if clock.left().is_some_and(|left| left.is_zero()) {
                    clock.progress.note(&format!(
                        "{name}: the budget is spent; judging the runs made so far"
                    ));
                    break 'runs;
                }
                done += 1;
                match runner.build(&trial.settings, scenario, true) {
                    Ok(seconds) => {
                        clock.observe(scenario, seconds);
                        // What the plan would take, but never past the budget, which leaves
                        // out the levers that do not fit.
                        let planned =
                            clock.estimate(scenario) * (total - done) as u32 + planned_after;
                        let left = clock.left().map_or(planned, |budget| planned.min(budget));
                        clock.progress.say(&format!(
                            "{name} [{done}/{total}] {}, {scenario}: {seconds:.2} s; about {} left",
                            trial.settings.label(),
                            crate::bench::minutes(left)
                        ));
                        trial.seconds.entry(scenario).or_default().push(seconds);
                    }
                    Err(why) => trial.invalid = Some(why),
                }
            }
        }
    }
    // Pairs need the same number of runs on both sides.
    let shortest = trials
        .iter()
        .filter(|t| t.invalid.is_none())
        .flat_map(|t| t.seconds.values().map(Vec::len))
        .min()
        .unwrap_or(0);
    for trial in &mut trials {
        for seconds in trial.seconds.values_mut() {
            seconds.truncate(shortest);
        }
    }
    trials
}

/// Time spent, the budget, and what builds have taken so far (for estimates).
struct Clock<'a> {
    started: Instant,
    budget: Option<Duration>,
    observed: BTreeMap<Scenario, Vec<f64>>,
    progress: &'a Progress,
}

impl Clock<'_> {
    fn observe(&mut self, scenario: Scenario, seconds: f64) {
        self.observed.entry(scenario).or_default().push(seconds);
    }

    /// What one build of `scenario` takes, judging by the builds so far.
    fn estimate(&self, scenario: Scenario) -> Duration {
        let seconds = self
            .observed
            .get(&scenario)
            .and_then(|v| crate::bench::median(v))
            .or_else(|| self.observed.values().flatten().copied().reduce(f64::max))
            .unwrap_or(0.0);
        Duration::from_secs_f64(seconds)
    }

    /// A round of `configs` configurations: a warm-up each (at worst a rebuild of everything
    /// whose profile changed: a clean build) and the measured runs.
    fn round_cost(&self, configs: usize, scenarios: &[Scenario], runs: usize) -> Duration {
        let warm_up = self.estimate(Scenario::Clean) * configs as u32;
        let measured: Duration = scenarios
            .iter()
            .map(|s| self.estimate(*s) * (configs * runs) as u32)
            .sum();
        warm_up + measured
    }

    /// What is left of the budget; `None` without one.
    fn left(&self) -> Option<Duration> {
        self.budget
            .map(|budget| budget.saturating_sub(self.started.elapsed()))
    }
}

/// The linkers this machine can measure and where they are installed.
struct LinkerTools {
    linkers: Vec<Linker>,
    /// A lock bin directory holding every linker measured.
    bin_dir: PathBuf,
    /// Tools tune installed for measuring that buildkit.toml does not pin yet (name, version):
    /// pinned by `--apply` when their linker wins.
    pins: Vec<(String, String)>,
    /// The pinned sccache, installed.
    sccache: Option<PathBuf>,
}

/// mold and wild at the version buildkit.lock pins, or (not pinned) the newest the registry
/// knows, installed and verified through `setup` from a copy of buildkit.toml that pins them;
/// LLVM's lld where buildkit.toml pins it. Never a linker found on PATH.
fn linker_tools(
    ctx: &Context,
    project: &super::Project,
    tune_dir: &Path,
    options: &TuneOptions,
    notes: &mut Vec<String>,
) -> Result<LinkerTools, Error> {
    let (lock, _) = ctx.resolve_lock(project)?;
    let mut pins = Vec::new();
    for tool in [Tool::Mold, Tool::Wild] {
        if lock.tool(tool).is_none() {
            let newest = &ctx.registry.tool(tool).newest().version;
            pins.push((tool.name().to_string(), newest.clone()));
        }
    }
    let (manifest_path, text) = project.manifest_text()?;
    let pin_refs: Vec<(&str, &str)> = pins.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let tune_text = crate::manifest::pin_tools(&text, &pin_refs)
        .map_err(|e| Error::Failed(format!("{}: {e}", manifest_path.display())))?;
    let tune_manifest = tune_dir.join(crate::manifest::MANIFEST_FILE);
    crate::fsutil::write_atomically(&tune_manifest, tune_text.as_bytes()).map_err(|source| {
        Error::File {
            action: "write",
            path: tune_manifest.clone(),
            source,
        }
    })?;
    let tune_ctx = Context {
        cwd: ctx.cwd.clone(),
        config: Some(tune_manifest.clone()),
        home: ctx.home.clone(),
        cache_dir: ctx.cache_dir.clone(),
        registry: ctx.registry.clone(),
        env: ctx.env.clone(),
        stall: ctx.stall,
    };
    let installed = super::setup::run(
        &tune_ctx,
        &super::setup::SetupOptions {
            locked: false,
            offline: options.offline,
            mirror: options.mirror.clone(),
            ci: false,
            quiet: true,
            json: false,
            download_attempts: crate::fetch::DEFAULT_ATTEMPTS,
        },
    );
    let (lock, pins) = match installed {
        Ok(_) => {
            let manifest = Manifest::load(&tune_manifest, &ctx.registry)?;
            (Lockfile::resolve(&manifest, &ctx.registry), pins)
        }
        Err(e) => {
            notes.push(format!(
                "could not install {} for measuring ({e}); measuring what buildkit.lock pins and `buildkit setup` installed",
                pins.iter().map(|(n, v)| format!("{n} {v}")).collect::<Vec<_>>().join(" and ")
            ));
            (lock, Vec::new())
        }
    };
    let bin_dir = ctx.home.lock_bin_dir(&lock.id());
    let mut linkers = Vec::new();
    for linker in [Linker::Mold, Linker::Wild, Linker::Lld] {
        let (Some(tool), Some(program)) = (linker.tool(), linker.program()) else {
            continue;
        };
        let pinned = match lock.tool(tool) {
            Some(t) if t.archive().is_some() => true,
            // rust-lld is the LLD rustc already links with: nothing to compare.
            Some(_) => false,
            None => false,
        };
        if !pinned {
            continue;
        }
        if bin_dir.join(program).exists() {
            linkers.push(linker);
        } else {
            notes.push(format!(
                "{tool} is pinned but not installed in {}: run `buildkit setup`; not measured",
                bin_dir.display()
            ));
        }
    }
    let sccache = lock
        .tool(crate::tool::Tool::Sccache)
        .map(|_| bin_dir.join("sccache"))
        .filter(|program| program.exists());
    Ok(LinkerTools {
        linkers,
        bin_dir,
        pins,
        sccache,
    })
}

struct Runner<'a> {
    env: &'a crate::env_vars::BuildEnv,
    root: &'a Path,
    bin_dir: &'a Path,
    dispatcher: &'a Path,
    shared: PathBuf,
    clean: PathBuf,
    main: &'a MainBinary,
    /// The project's own rustflags (its linker choice left out): in every build.
    rustflags: Vec<String>,
    /// The edit each edit-loop build follows.
    edit: std::cell::RefCell<super::measure::SourceEdit>,
    /// The pinned sccache, its cache directory and the port of tune's own server.
    sccache: Option<SccacheRun>,
}

struct SccacheRun {
    program: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Runner<'_> {
    fn target_dir(&self, scenario: Scenario) -> &Path {
        match scenario {
            Scenario::Edit => &self.shared,
            Scenario::Clean => &self.clean,
        }
    }

    /// One `cargo build` of `settings`: after an edit (the edit loop, when `timed`) or from an
    /// empty directory (a clean build); its seconds, or why it failed.
    fn build(&self, settings: &Settings, scenario: Scenario, timed: bool) -> Result<f64, String> {
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
        let mut cargo = super::measure::cargo_build(self.env, self.root, self.bin_dir, target_dir)?;
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
        let (seconds, output) = super::measure::run_timed(&mut cargo)?;
        if let Some(why) = super::measure::failure(&output) {
            return Err(why);
        }
        Ok(seconds)
    }

    /// Stops tune's sccache server, if it started one.
    fn stop_sccache(&self) {
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
    fn wrong_linker(&self, settings: &Settings, scenario: Scenario) -> Option<String> {
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

/// Cores, memory, rustc and the date, for the record.
fn machine(ctx: &Context, root: &Path) -> Machine {
    let memory_gib = crate::fsutil::read_text(Path::new("/proc/meminfo"), 64 * 1024)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| kib / (1024.0 * 1024.0));
    Machine {
        date: crate::toolchain::date(crate::toolchain::today()),
        rustc: crate::toolchain::active_rustc(root, &ctx.env.rustc)
            .map(|r| r.release.to_string())
            .unwrap_or_else(|_| "unknown".into()),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_gib,
    }
}

/// The levers whose keys `--apply` may write: those whose round measured its configurations;
/// for the linker, only where the project's own linker was among them (rustc's own always
/// is), so that a pinned linker that could not be measured is never replaced unmeasured.
fn measured_levers(rounds: &[Round], project_linker: crate::linker::Linker) -> Vec<Lever> {
    rounds
        .iter()
        .filter(|round| round.skipped.is_none() && !round.results.is_empty())
        .filter(|round| {
            round.lever != Lever::Linker
                || round
                    .results
                    .iter()
                    .any(|j| j.invalid.is_none() && j.settings.linker == project_linker)
        })
        .map(|round| round.lever)
        .collect()
}

/// Writes the adopted configuration (the `measured` levers' keys) into buildkit.toml and
/// re-resolves buildkit.lock, both or neither.
fn apply(
    ctx: &Context,
    project: &super::Project,
    adopted: &Settings,
    measured: &[Lever],
    pins: &[(String, String)],
    record: &[String],
) -> Result<(), Error> {
    let (path, text) = project.manifest_text()?;
    // Only the adopted linker's tool is pinned, and only where `[linker] kind` is written.
    let pins: Vec<(&str, &str)> = pins
        .iter()
        .filter(|_| measured.contains(&Lever::Linker))
        .filter(|(name, _)| name == adopted.linker.name())
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let new_text = crate::manifest::apply_tuned(&text, adopted, measured, &pins, record)
        .map_err(|e| Error::Failed(format!("{}: {e}", path.display())))?;
    project.write_edited(ctx, &path, new_text)
}

fn text_report(report: &Report, apply: bool, project: &super::Project) -> String {
    let mut out = format!(
        "measured on {} cores, rustc {}: {} ({} runs each, interleaved; the edit loop edits {})\n",
        report.machine.cores,
        report.machine.rustc,
        report
            .scenarios
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        report.runs,
        report.edited
    );
    let width = report
        .rounds
        .iter()
        .flat_map(|r| &r.results)
        .chain(&report.confirmation)
        .map(|j| j.label.len())
        .max()
        .unwrap_or(0);
    let row = |judged: &Judged, base: bool, confirmation: bool| -> String {
        let mut cells = Vec::new();
        for scenario in &report.scenarios {
            let median = judged
                .median_s
                .get(scenario)
                .map_or("-".to_string(), |s| format!("{s:.2} s"));
            let ratio = match judged.against_base.get(scenario) {
                Some(c) => match (c.ratio, c.interval) {
                    (Some(r), Some((low, high))) => format!("{r:.2}x [{low:.2}-{high:.2}]"),
                    (Some(r), None) => format!("{r:.2}x"),
                    _ => "-".into(),
                },
                None if base => "base".into(),
                None => "-".into(),
            };
            cells.push(format!("{median:>9} {ratio:<19}"));
        }
        let verdict = if base {
            String::new()
        } else if judged.adopted && !confirmation {
            format!("{}, adopted", judged.verdict.describe())
        } else {
            judged.verdict.describe().to_string()
        };
        let verdict = match (judged.settings.sccache, judged.warm_up_s) {
            (true, Some(cold)) => {
                format!("{verdict} (its cache filled by a clean build of {cold:.2} s)")
            }
            _ => verdict,
        };
        // What its warm-up took: a relink where only the linker changed, a rebuild of what
        // the profile change touched otherwise (the shared target directory at work).
        let warm_up = judged
            .warm_up_s
            .map_or("-".to_string(), |s| format!("{s:.1} s"));
        let mut line = format!(
            "  {:<width$}  {warm_up:>8}  {}  {verdict}\n",
            judged.label,
            cells.join(" ")
        );
        if let Some(why) = &judged.invalid {
            line.push_str(&format!(
                "    ^ {}\n",
                why.lines().next().unwrap_or_default()
            ));
        }
        line
    };
    for round in &report.rounds {
        match &round.skipped {
            Some(why) => out.push_str(&format!("{}: not measured: {why}\n", round.lever)),
            None => {
                out.push_str(&format!(
                    "{}: (warm-up, then median and ratio to the base [95 % interval])\n",
                    round.lever
                ));
                for (i, judged) in round.results.iter().enumerate() {
                    out.push_str(&row(judged, i == 0, false));
                }
            }
        }
    }
    match &report.confirmation {
        None => out.push_str(
            "\nnothing was measured faster than cargo's and rustc's defaults: keep them (nothing to write)\n",
        ),
        Some(confirmation) => {
            out.push_str("confirmation, against cargo's and rustc's defaults:\n");
            if let Some(base) = &report.confirmation_base {
                out.push_str(&row(base, true, true));
            }
            out.push_str(&row(confirmation, false, true));
            if confirmation.verdict == Verdict::Faster {
                out.push_str(&format!("\nfastest measured: {}\n", report.adopted.label()));
                for cost in report.adopted.costs() {
                    out.push_str(&format!("  cost: {cost}\n"));
                }
                out.push_str(&if report.applied {
                    format!(
                        "written to {}; next: `buildkit setup && buildkit generate` carries it to .cargo/config.toml, the devcontainer and CI\n",
                        project.root().join(crate::manifest::MANIFEST_FILE).display()
                    )
                } else if apply {
                    "not written\n".to_string()
                } else {
                    "not written: `buildkit tune --apply` writes it into buildkit.toml\n".to_string()
                });
            } else {
                out.push_str(
                    "\nthe combination was not faster than the defaults with confidence: nothing to write\n",
                );
            }
        }
    }
    out
}
