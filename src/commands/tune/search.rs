//! The search: one lever at a time from cargo's and rustc's defaults, each round the best so
//! far against the lever's alternatives, interleaved, within the budget; `Clock` estimates what
//! a round will take from the builds so far.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::ConfirmationRound;
use super::{Round, Runner};
use crate::Error;
use crate::commands::measure::{MeasureError, Progress};
use crate::linker::Linker;
use crate::tune::{self, Lever, Scenario, Settings, Trial};

/// The greedy search, then the confirmation round: the rounds, the best configuration, and
/// the defaults and the best as that round measured them (`None` when the best is the
/// defaults).
pub(super) fn search(
    runner: &Runner<'_>,
    clock: &mut Clock<'_>,
    linkers: &[Linker],
    scenarios: &[Scenario],
    runs: usize,
) -> Result<(Vec<Round>, Settings, Option<ConfirmationRound>), Error> {
    let sccache_installed = runner.sccache.is_some();
    let mut best = runner.defaults();
    let mut rounds = Vec::new();
    calibrate(runner, clock, scenarios)?;

    let mut levers: Vec<Lever> = Lever::ALL.to_vec();
    while !levers.is_empty() {
        let lever = levers.remove(0);
        let (configs, round_scenarios) =
            match plan_round(lever, &best, linkers, scenarios, sccache_installed) {
                Ok(planned) => planned,
                Err(why) => {
                    rounds.push(Round::skipped(lever, why.to_string()));
                    continue;
                }
            };
        let cost = clock.round_cost(configs.len(), round_scenarios, runs);
        // Room for the confirmation round stays.
        let reserve = clock.round_cost(2, scenarios, runs);
        if let Some(why) = clock.over_budget(cost + reserve) {
            rounds.push(Round::skipped(lever, why.to_string()));
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

    if best == runner.defaults() || clock.left().is_some_and(|left| left.is_zero()) {
        return Ok((rounds, best, None));
    }
    let trials = measure_round(
        runner,
        clock,
        "confirmation",
        &[runner.defaults(), best],
        scenarios,
        runs,
        Duration::ZERO,
    );
    let mut judged = tune::judge(&trials).into_iter();
    Ok((rounds, best, judged.next().zip(judged.next())))
}

/// The base built once (filling the shared directory; its time is about a clean build) and,
/// for the edit loop, rebuilt once after an edit: the first estimates.
fn calibrate(
    runner: &Runner<'_>,
    clock: &mut Clock<'_>,
    scenarios: &[Scenario],
) -> Result<(), Error> {
    clock
        .progress
        .say("building the project once with cargo's defaults");
    let seconds = runner
        .build(&runner.defaults(), Scenario::Edit, false)
        .map_err(|why| MeasureError::NoBaseline(Box::new(why)))?;
    clock.observe(Scenario::Clean, seconds);
    if scenarios.contains(&Scenario::Edit)
        && let Ok(seconds) = runner.build(&runner.defaults(), Scenario::Edit, true)
    {
        clock.observe(Scenario::Edit, seconds);
    }
    Ok(())
}

/// Why a lever gets no round, said in the report beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum LeftOut {
    #[error("buildkit.toml pins no sccache (or it is not installed)")]
    NoSccache,
    #[error("measured in clean builds only (--scenario clean or both)")]
    CleanBuildsOnly,
    #[error(
        "optimised build scripts make clean builds (CI's) slower, which an edit-loop run does not measure: `--scenario both` weighs the two"
    )]
    CostsCleanBuilds,
    #[error("no linker but rustc's own could be measured")]
    NoLinker,
    #[error("no debug information left to split")]
    NoDebugInfo,
    #[error("the profile carries no debug information to drop (cargo's default for release)")]
    NoDebugInfoToDrop,
    #[error("nothing to try")]
    NothingToTry,
}

/// A lever's round before anything is timed: the best so far and the lever's alternatives, and
/// the scenarios they are timed in; or why the lever is left out.
fn plan_round<'s>(
    lever: Lever,
    best: &Settings,
    linkers: &[Linker],
    scenarios: &'s [Scenario],
    sccache_installed: bool,
) -> Result<(Vec<Settings>, &'s [Scenario]), LeftOut> {
    let round_scenarios: &[Scenario] = match lever {
        Lever::DebugInfo if !best.has_debug_info() => return Err(LeftOut::NoDebugInfoToDrop),
        Lever::Sccache if !sccache_installed => return Err(LeftOut::NoSccache),
        Lever::Sccache if !scenarios.contains(&Scenario::Clean) => {
            return Err(LeftOut::CleanBuildsOnly);
        }
        Lever::Sccache => &[Scenario::Clean],
        // What it saves in an edit loop it can cost many times over in every clean build,
        // CI's included (2.6x slower on the seed workspace), where the same profile applies.
        Lever::BuildOverride if !scenarios.contains(&Scenario::Clean) => {
            return Err(LeftOut::CostsCleanBuilds);
        }
        _ => scenarios,
    };
    let candidates = tune::candidates(lever, best, linkers);
    if candidates.is_empty() {
        return Err(match lever {
            Lever::Linker => LeftOut::NoLinker,
            Lever::SplitDebuginfo => LeftOut::NoDebugInfo,
            _ => LeftOut::NothingToTry,
        });
    }
    let configs = std::iter::once(*best).chain(candidates).collect();
    Ok((configs, round_scenarios))
}

/// One round: a warm-up build of each configuration (which also shows which linker signed its
/// binary), then `runs` interleaved passes over scenarios and configurations.
pub(super) fn measure_round(
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
        warm_up(runner, clock, name, trial);
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
                    Err(why) => trial.invalid = Some(why.to_string()),
                }
            }
        }
    }
    same_run_counts(&mut trials);
    trials
}

/// A configuration's warm-up: an edit-loop build (after an edit, so that even a
/// configuration differing only in its linker links again), whose binary shows which linker
/// made it; sccache's is a clean build, which fills its cache. Failed or signed by another
/// linker, the trial is invalid.
fn warm_up(runner: &Runner<'_>, clock: &Clock<'_>, name: &str, trial: &mut Trial) {
    clock
        .progress
        .say(&format!("{name}: warm-up: {}", trial.settings.label()));
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
        Err(why) => trial.invalid = Some(why.to_string()),
    }
}

/// Pairs need the same number of runs on both sides: every valid trial's runs cut to the
/// fewest any has.
fn same_run_counts(trials: &mut [Trial]) {
    let shortest = trials
        .iter()
        .filter(|t| t.invalid.is_none())
        .flat_map(|t| t.seconds.values().map(Vec::len))
        .min()
        .unwrap_or(0);
    for trial in trials {
        for seconds in trial.seconds.values_mut() {
            seconds.truncate(shortest);
        }
    }
}

/// Time spent, the budget, and what builds have taken so far (for estimates).
pub(super) struct Clock<'a> {
    pub(super) started: Instant,
    pub(super) budget: Option<Duration>,
    pub(super) observed: BTreeMap<Scenario, Vec<f64>>,
    pub(super) progress: &'a Progress,
}

impl Clock<'_> {
    pub(super) fn observe(&mut self, scenario: Scenario, seconds: f64) {
        self.observed.entry(scenario).or_default().push(seconds);
    }

    /// What one build of `scenario` takes, judging by the builds so far.
    pub(super) fn estimate(&self, scenario: Scenario) -> Duration {
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
    pub(super) fn round_cost(
        &self,
        configs: usize,
        scenarios: &[Scenario],
        runs: usize,
    ) -> Duration {
        let warm_up = self.estimate(Scenario::Clean) * configs as u32;
        let measured: Duration = scenarios
            .iter()
            .map(|s| self.estimate(*s) * (configs * runs) as u32)
            .sum();
        warm_up + measured
    }

    /// Why a round that needs `needed` is left out: more than the budget has left.
    pub(super) fn over_budget(&self, needed: Duration) -> Option<String> {
        let left = self.left()?;
        (needed > left).then(|| {
            format!(
                "over the budget: about {} needed, {} left",
                crate::bench::minutes(needed),
                crate::bench::minutes(left)
            )
        })
    }

    /// What is left of the budget; `None` without one.
    pub(super) fn left(&self) -> Option<Duration> {
        self.budget
            .map(|budget| budget.saturating_sub(self.started.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lever_is_planned_or_left_out_with_its_reason() {
        let edit = [Scenario::Edit];
        let both = [Scenario::Edit, Scenario::Clean];
        let best = Settings::default();
        let why = |lever, scenarios: &[Scenario], sccache| {
            plan_round(lever, &best, &[], scenarios, sccache)
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            why(Lever::Sccache, &both, false).as_deref(),
            Some("buildkit.toml pins no sccache (or it is not installed)")
        );
        assert_eq!(
            why(Lever::Sccache, &edit, true).as_deref(),
            Some("measured in clean builds only (--scenario clean or both)")
        );
        // Release builds carry no debug information by default: nothing to drop.
        let release = Settings::defaults(crate::tune::Profile::Release);
        assert_eq!(
            plan_round(Lever::DebugInfo, &release, &[], &both, true)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("the profile carries no debug information to drop (cargo's default for release)")
        );
        assert!(
            why(Lever::BuildOverride, &edit, true)
                .unwrap()
                .starts_with("optimised build scripts")
        );
        assert_eq!(
            why(Lever::Linker, &edit, true).as_deref(),
            Some("no linker but rustc's own could be measured")
        );
        let (configs, scenarios) =
            plan_round(Lever::Linker, &best, &[Linker::Mold], &edit, true).unwrap();
        assert_eq!(configs[0], best, "the best so far is the round's base");
        assert_eq!(configs[1].linker, Linker::Mold);
        assert_eq!(scenarios, edit);
        let (configs, scenarios) = plan_round(Lever::Sccache, &best, &[], &both, true).unwrap();
        assert_eq!(scenarios, [Scenario::Clean]);
        assert!(configs[1].sccache);
    }

    #[test]
    fn a_round_costs_its_warm_ups_and_runs_from_the_builds_so_far() {
        let progress = Progress::new("tune");
        let mut clock = Clock {
            started: Instant::now(),
            budget: None,
            observed: BTreeMap::new(),
            progress: &progress,
        };
        assert_eq!(clock.estimate(Scenario::Edit), Duration::ZERO);
        clock.observe(Scenario::Clean, 10.0);
        // No edit build yet: the slowest build seen stands in for it.
        assert_eq!(clock.estimate(Scenario::Edit), Duration::from_secs(10));
        for seconds in [1.0, 2.0, 9.0] {
            clock.observe(Scenario::Edit, seconds);
        }
        assert_eq!(clock.estimate(Scenario::Edit), Duration::from_secs(2));
        // 3 configurations: 3 clean warm-ups and 3 x 5 edit builds.
        assert_eq!(
            clock.round_cost(3, &[Scenario::Edit], 5),
            Duration::from_secs(3 * 10 + 15 * 2)
        );
        assert_eq!(clock.left(), None);
        clock.budget = Some(Duration::from_secs(3600));
        assert!(clock.left().unwrap() <= Duration::from_secs(3600));
    }
}
