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
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

mod linkers;
mod report;
mod runner;
mod search;

use linkers::{LinkerTools, linker_tools};
use report::text_report;
use runner::{Runner, SccacheRun};
use search::{Clock, search};

use super::Context;
use super::measure::Progress;
use crate::Error;
use crate::commands::measure::ScenarioChoice;
use crate::tune::{self, Judged, Lever, Machine, Scenario, Settings, Verdict};

/// `buildkit tune`'s options, as the command line gives them.
#[derive(Debug, clap::Args)]
pub struct TuneOptions {
    /// What to make faster: the edit loop (edit a file, rebuild), a clean build, or both.
    #[arg(long, value_enum, default_value_t = ScenarioChoice::Edit)]
    pub scenario: ScenarioChoice,
    /// The cargo profile to measure and, with --apply, write: `dev` (the edit loop's) or
    /// `release` (what ships; its builds are timed with `--profile release`). A setting is
    /// written only into the profile it was measured in.
    #[arg(long, value_enum, default_value_t = tune::Profile::Dev)]
    pub profile: tune::Profile,
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
    #[command(flatten)]
    pub build: crate::commands::measure::MeasuredBuild,
    /// Where the linkers tune measures are downloaded from.
    #[command(flatten)]
    pub download: crate::commands::provision::DownloadOptions,
}

impl TuneOptions {
    /// What clap cannot say: enough runs for a confidence interval.
    fn check(&self) -> Result<(), Error> {
        if self.runs < crate::bench::MIN_RUNS_FOR_CONFIDENCE {
            return Err(crate::commands::CommandError::TooFewRuns {
                runs: self.runs,
                minimum: crate::bench::MIN_RUNS_FOR_CONFIDENCE,
            }
            .into());
        }
        Ok(())
    }

    /// `init --tune`: the edit loop, measured and applied.
    pub fn after_init(download: crate::commands::provision::DownloadOptions) -> TuneOptions {
        TuneOptions {
            scenario: ScenarioChoice::Edit,
            profile: tune::Profile::Dev,
            budget: None,
            runs: 5,
            apply: true,
            json: false,
            keep: false,
            build: Default::default(),
            download,
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

impl Round {
    fn skipped(lever: Lever, why: impl Into<String>) -> Round {
        Round {
            lever,
            results: Vec::new(),
            skipped: Some(why.into()),
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    machine: Machine,
    /// The cargo profile measured.
    profile: tune::Profile,
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
    options.check()?;
    let project = ctx.require_project()?;
    let root = project.root().to_path_buf();
    let main = super::measure::main_binary(&root, options.build.bin.as_deref())?;
    let _lock = super::measure::lock_project(&main.target_dir, "tune")?;
    let (edit, leftover) = super::measure::SourceEdit::of_option(
        options.build.edit.as_deref(),
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
    let edited = edit.named().display().to_string();
    let place = Place {
        ctx,
        project: &project,
        main: &main,
        tune_dir: &tune_dir,
        tools: &tools,
    };
    let (rounds, best, confirmation_round) = measure(&place, options, edit, &progress, started)?;
    let (confirmation_base, confirmation) = confirmation_round.unzip();

    // The best is adopted only where the last round confirmed it against the defaults.
    let confirmed = confirmation
        .as_ref()
        .filter(|c| c.verdict == Verdict::Faster);
    let adopted = if confirmed.is_some() {
        best
    } else {
        Settings::defaults(options.profile)
    };
    let machine = machine(ctx, &root);
    let applied = match confirmed {
        Some(confirmed) if options.apply => {
            let measured = measured_levers(&rounds, project.manifest.linker.linker());
            let record = tune::record(&machine, &confirmed.against_base, &adopted, &measured);
            apply(ctx, &project, &adopted, &measured, &tools.pins, &record)?;
            true
        }
        _ => false,
    };

    let report = Report {
        machine,
        profile: options.profile,
        scenarios: options.scenario.scenarios(),
        runs,
        edited,
        rounds,
        confirmation,
        confirmation_base,
        adopted,
        applied,
        notes,
        seconds: started.elapsed().as_secs_f64(),
    };
    print_report(&report, options, &project);
    Ok(report.exit_code())
}

impl Report {
    /// 1 when the base of a round failed: the project does not build as it is.
    fn exit_code(&self) -> ExitCode {
        let base_failed = self
            .rounds
            .iter()
            .flat_map(|r| r.results.first())
            .any(|base| base.invalid.is_some());
        if base_failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// What one tune measures in, from the edge: the project, its binary, tune's working
/// directory and the linkers installed for it.
struct Place<'a> {
    ctx: &'a Context,
    project: &'a super::Project,
    main: &'a super::measure::MainBinary,
    tune_dir: &'a Path,
    tools: &'a LinkerTools,
}

/// The link script, the project's rustflags, the runner and the search; the edited file is put
/// back and (unless `--keep`) the working directory removed, whatever the search did.
fn measure(
    place: &Place<'_>,
    options: &TuneOptions,
    edit: super::measure::SourceEdit,
    progress: &Progress,
    started: Instant,
) -> Result<(Vec<Round>, Settings, Option<ConfirmationRound>), Error> {
    let dispatcher = write_link_script(place.tune_dir, place.project, &place.tools.bin_dir)?;

    let rustflags = super::measure::project_rustflags(&place.ctx.env, place.project.root())?;
    if !rustflags.is_empty() {
        progress.note(&format!(
            "every build carries the project's rustflags: {}",
            crate::encode::Inert(&rustflags.join(" "))
        ));
    }
    let sccache = place.tools.sccache.clone().map(|program| SccacheRun {
        program,
        dir: place.tune_dir.join("sccache"),
        port: super::measure::free_port().unwrap_or(super::measure::SCCACHE_DEFAULT_PORT),
    });
    let runner = Runner {
        profile: options.profile,
        env: &place.ctx.env,
        root: place.project.root(),
        rustflags,
        bin_dir: &place.tools.bin_dir,
        dispatcher: &dispatcher,
        shared: place.tune_dir.join("shared"),
        clean: place.tune_dir.join("clean"),
        main: place.main,
        edit: std::cell::RefCell::new(edit),
        sccache,
    };
    let mut clock = Clock {
        started,
        budget: options.budget,
        observed: BTreeMap::new(),
        progress,
    };
    let outcome = search(
        &runner,
        &mut clock,
        &place.tools.linkers,
        &options.scenario.scenarios(),
        options.runs,
    );
    runner.stop_sccache();
    let restored = runner.edit.borrow_mut().restore();
    progress.done();
    if !options.keep {
        let _ = fs_err::remove_dir_all(place.tune_dir);
    }
    restored.map_err(crate::commands::measure::TrialError::from)?;
    outcome
}

/// The one link script cargo runs for every measured build; it picks each build's linker from
/// BUILDKIT_TUNE_LINKER, among those in `bin_dir`.
fn write_link_script(
    tune_dir: &Path,
    project: &super::Project,
    bin_dir: &Path,
) -> Result<PathBuf, Error> {
    let dispatcher = tune_dir.join("buildkit-tune-link");
    crate::fsutil::write_atomically(
        &dispatcher,
        crate::render::tune_link_script(project.manifest.driver.as_str(), bin_dir)?.as_bytes(),
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
    Ok(dispatcher)
}

fn print_report(report: &Report, options: &TuneOptions, project: &super::Project) {
    if options.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(report).expect("the report serializes")
        );
    } else {
        crate::out!(
            "{}",
            text_report(
                report,
                options.apply,
                &project.root().join(crate::manifest::MANIFEST_FILE),
            )
        );
    }
}

/// cargo's and rustc's defaults, then the best configuration, as the last round measured them.
type ConfirmationRound = (Judged, Judged);

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
        date: crate::toolchain::date(crate::machine::today()),
        rustc: crate::machine::active_rustc(root, &ctx.env.rustc)
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
        .map_err(|e| e.at(&path))?;
    project.write_edited(ctx, &path, new_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linker::Linker;
    use crate::tune::Trial;

    fn round(lever: Lever, linkers: &[(Linker, Option<&str>)]) -> Round {
        let trials: Vec<Trial> = linkers
            .iter()
            .map(|(linker, invalid)| Trial {
                settings: Settings {
                    linker: *linker,
                    ..Settings::default()
                },
                seconds: [(Scenario::Edit, vec![1.0, 1.0, 1.0])].into(),
                warm_up_s: None,
                invalid: invalid.map(str::to_string),
            })
            .collect();
        Round {
            lever,
            results: tune::judge(&trials),
            skipped: None,
        }
    }

    #[test]
    fn apply_writes_only_the_levers_it_measured() {
        let skipped = Round {
            lever: Lever::SplitDebuginfo,
            results: Vec::new(),
            skipped: Some("over the budget".into()),
        };
        let debug = round(Lever::DebugInfo, &[(Linker::Default, None)]);
        let linkers = round(
            Lever::Linker,
            &[
                (Linker::Default, None),
                (Linker::Mold, Some("build failed")),
            ],
        );
        let rounds = [skipped, debug, linkers];
        // The project's mold was not measured validly: the linker keeps the project's value.
        assert_eq!(measured_levers(&rounds, Linker::Mold), [Lever::DebugInfo]);
        assert_eq!(
            measured_levers(&rounds, Linker::Default),
            [Lever::DebugInfo, Lever::Linker]
        );
    }
}
