//! What `buildkit tune` tries and how it decides, kept pure: the levers, the configurations
//! each lever proposes from the current best, the cargo settings a configuration means, and
//! the rule that adopts a change only when it is faster with confidence. `commands/tune.rs`
//! runs the builds; this module never sees a clock or a process.
//!
//! The search is greedy, one lever at a time: each round builds the current best and the
//! lever's alternatives interleaved, and an alternative replaces the best only where the 95 %
//! bootstrap interval of its run-by-run ratios to the best lies below 1 in a measured scenario
//! and above 1 in none. Otherwise the simpler configuration (the one already in place) stays.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::bench::{bootstrap_interval, median};
use crate::linker::Linker;

/// What a round of tune changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lever {
    /// How much debug information the workspace and its dependencies carry.
    DebugInfo,
    /// Debug information left in the object files (`split-debuginfo = "unpacked"`), which the
    /// linker then does not copy.
    SplitDebuginfo,
    /// Which linker cargo links with.
    Linker,
    /// Build scripts and proc-macros compiled with optimisation (they run at every build).
    BuildOverride,
    /// CI's clean builds through sccache with a warm cache (measured in clean builds only,
    /// where buildkit.toml pins sccache; reported, since the pin is the team's choice).
    Sccache,
}

impl Lever {
    /// The order tune tries them in: the biggest lever first (debug information is where a
    /// debug build's time goes), so that later rounds compare against the faster base.
    pub const ALL: [Lever; 5] = [
        Lever::DebugInfo,
        Lever::SplitDebuginfo,
        Lever::Linker,
        Lever::BuildOverride,
        Lever::Sccache,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Lever::DebugInfo => "debug info",
            Lever::SplitDebuginfo => "split debuginfo",
            Lever::Linker => "linker",
            Lever::BuildOverride => "build scripts",
            Lever::Sccache => "sccache (CI clean builds)",
        }
    }
}

impl fmt::Display for Lever {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The cargo profile tune measures and writes: the edit loop's (`dev`) or what ships
/// (`release`). A setting measured in one is never written into the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    #[default]
    Dev,
    Release,
}

impl Profile {
    /// Its name in `[profile.NAME]` and `cargo build --profile NAME`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Dev => "dev",
            Profile::Release => "release",
        }
    }

    /// The directory under the target directory its artifacts go to.
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Dev => "debug",
            Profile::Release => "release",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// cargo's `debug` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DebugLevel {
    None,
    LineTablesOnly,
    Full,
}

impl DebugLevel {
    /// The value in cargo's TOML (`--config` and `[profile]` alike).
    pub fn toml(self) -> &'static str {
        match self {
            DebugLevel::None => "false",
            DebugLevel::LineTablesOnly => "\"line-tables-only\"",
            DebugLevel::Full => "true",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            DebugLevel::None => "none",
            DebugLevel::LineTablesOnly => "line tables only",
            DebugLevel::Full => "full",
        }
    }
}

/// One configuration of every lever, in one profile. [`Settings::defaults`] is cargo's and
/// rustc's own: debug information as the profile has it (full in `dev`, none in `release`),
/// nothing split, rustc's linker, build scripts unoptimised. `Settings::default()` is `dev`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// The profile every other field is a setting of.
    pub profile: Profile,
    pub linker: Linker,
    /// `[profile.dev] debug`: the workspace's own crates (and, unless `dependencies_debug`
    /// says otherwise, everything else).
    pub debug: DebugLevel,
    /// `[profile.dev.package."*"] debug`: every crate outside the workspace; `None` = as the
    /// workspace.
    pub dependencies_debug: Option<DebugLevel>,
    /// `split-debuginfo = "unpacked"`.
    pub split_debuginfo: bool,
    /// `[profile.dev.build-override] opt-level = 3`.
    pub optimized_build_scripts: bool,
    /// Compiled through sccache, its cache filled by an earlier clean build (how CI builds
    /// with buildkit's cache). Not a profile setting: `buildkit env` selects it.
    pub sccache: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::defaults(Profile::Dev)
    }
}

impl Settings {
    /// cargo's and rustc's own configuration of `profile`.
    pub fn defaults(profile: Profile) -> Settings {
        Settings {
            profile,
            linker: Linker::Default,
            debug: match profile {
                Profile::Dev => DebugLevel::Full,
                Profile::Release => DebugLevel::None,
            },
            dependencies_debug: None,
            split_debuginfo: false,
            optimized_build_scripts: false,
            sccache: false,
        }
    }

    /// The `--config` arguments that give this configuration, every key explicit (so that a
    /// profile in .cargo/config.toml or Cargo.toml does not leak into a configuration that
    /// means cargo's default).
    pub fn cargo_config(&self) -> Vec<String> {
        let profile = self.profile.name();
        vec![
            format!("profile.{profile}.debug={}", self.debug.toml()),
            format!(
                "profile.{profile}.package.\"*\".debug={}",
                self.dependencies_debug.unwrap_or(self.debug).toml()
            ),
            format!(
                "profile.{profile}.split-debuginfo=\"{}\"",
                if self.split_debuginfo {
                    "unpacked"
                } else {
                    "off"
                }
            ),
            format!(
                "profile.{profile}.build-override.opt-level={}",
                if self.optimized_build_scripts { 3 } else { 0 }
            ),
        ]
    }

    /// Whether any crate still carries debug information (splitting it means nothing without).
    pub fn has_debug_info(&self) -> bool {
        self.debug != DebugLevel::None
            || self
                .dependencies_debug
                .is_some_and(|d| d != DebugLevel::None)
    }

    /// What this configuration changes from cargo's and rustc's defaults, one phrase per
    /// lever; empty for the defaults.
    pub fn changes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let default = Settings::defaults(self.profile);
        if (self.debug, self.dependencies_debug) != (default.debug, default.dependencies_debug) {
            out.push(match self.dependencies_debug {
                None => format!("debug info {}", self.debug.describe()),
                Some(deps) => format!(
                    "debug info {} for the workspace, {} for dependencies",
                    self.debug.describe(),
                    deps.describe()
                ),
            });
        }
        if self.split_debuginfo {
            out.push("split debuginfo (unpacked)".into());
        }
        if self.linker != Linker::Default {
            out.push(format!("linker {}", self.linker));
        }
        if self.optimized_build_scripts {
            out.push("build scripts and proc-macros at opt-level 3".into());
        }
        if self.sccache {
            out.push("through sccache, cache warm".into());
        }
        out
    }

    /// A short name for tables and progress lines.
    pub fn label(&self) -> String {
        let changes = self.changes();
        if changes.is_empty() {
            "cargo's defaults".into()
        } else {
            changes.join(", ")
        }
    }

    /// What the change costs, one line each, where it costs something.
    pub fn costs(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        match self.debug {
            DebugLevel::Full => {}
            DebugLevel::LineTablesOnly => out.push(
                "debug = \"line-tables-only\": backtraces keep file:line, a debugger shows no local variables",
            ),
            DebugLevel::None => {
                out.push("debug = false: backtraces show function names without file:line")
            }
        }
        if self
            .dependencies_debug
            .is_some_and(|d| d < DebugLevel::Full)
        {
            out.push(
                "dependencies without full debug info: a debugger cannot show their variables",
            );
        }
        if self.split_debuginfo {
            out.push("split-debuginfo: the debug info stays in target/ beside the binary; a binary copied elsewhere loses it");
        }
        if self.optimized_build_scripts {
            out.push("optimised build scripts and proc-macros: each of them takes longer to compile, once");
        }
        out
    }
}

/// The alternatives a lever proposes from the current best (never the best itself), the one
/// that costs least first: a costlier one is adopted only when it beats the cheaper ones.
/// `linkers` are the ones this machine can measure: pinned and installed.
pub fn candidates(lever: Lever, best: &Settings, linkers: &[Linker]) -> Vec<Settings> {
    let proposals: Vec<Settings> = match lever {
        Lever::DebugInfo => [
            (DebugLevel::Full, Some(DebugLevel::None)),
            (DebugLevel::LineTablesOnly, Some(DebugLevel::None)),
            (DebugLevel::None, None),
        ]
        .into_iter()
        .map(|(debug, dependencies_debug)| Settings {
            debug,
            dependencies_debug,
            ..*best
        })
        .collect(),
        Lever::SplitDebuginfo if best.has_debug_info() => vec![Settings {
            split_debuginfo: !best.split_debuginfo,
            ..*best
        }],
        Lever::SplitDebuginfo => Vec::new(),
        Lever::Linker => linkers
            .iter()
            .map(|&linker| Settings { linker, ..*best })
            .collect(),
        Lever::BuildOverride => vec![Settings {
            optimized_build_scripts: !best.optimized_build_scripts,
            ..*best
        }],
        Lever::Sccache => vec![Settings {
            sccache: true,
            ..*best
        }],
    };
    let mut out: Vec<Settings> = Vec::new();
    for settings in proposals {
        if settings != *best && !out.contains(&settings) {
            out.push(settings);
        }
    }
    out
}

/// The builds tune times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// A workspace source file edited, then rebuilt incrementally: the loop a developer waits on.
    Edit,
    /// Everything from scratch: CI without a cache, a new checkout.
    Clean,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Edit => "edit loop",
            Scenario::Clean => "clean build",
        })
    }
}

/// A candidate against the configuration it would replace, in one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// The median of the run-by-run ratios (candidate / base).
    pub ratio: Option<f64>,
    /// Their 95 % bootstrap interval; `None` with fewer than three pairs.
    pub interval: Option<(f64, f64)>,
}

/// Pairs run `i` of the candidate with run `i` of the base (they ran back to back).
pub fn compare(candidate: &[f64], base: &[f64]) -> Comparison {
    let pairs: Vec<f64> = candidate
        .iter()
        .zip(base)
        .filter(|(_, b)| **b > 0.0)
        .map(|(c, b)| c / b)
        .collect();
    Comparison {
        ratio: median(&pairs),
        interval: bootstrap_interval(&pairs),
    }
}

/// What the figures say about a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Faster with confidence (and by at least [`MIN_GAIN_RATIO`]) in a scenario, slower with
    /// confidence in none.
    Faster,
    /// Slower with confidence in some scenario.
    Slower,
    /// Within the noise.
    NoDifference,
    /// Too few runs for an interval.
    TooFewRuns,
    /// The build failed or was not made by the configured linker.
    Invalid,
}

impl Verdict {
    pub fn describe(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoDifference => "no difference",
            Verdict::TooFewRuns => "too few runs",
            Verdict::Invalid => "not measured",
        }
    }
}

/// The least gain worth a change: a configuration whose median ratio is above this is not
/// adopted even when its interval is below 1 (a 1 % gain is not worth a setting to explain).
pub const MIN_GAIN_RATIO: f64 = 0.98;

pub fn verdict(comparisons: &BTreeMap<Scenario, Comparison>) -> Verdict {
    let intervals: Vec<(f64, f64)> = comparisons.values().filter_map(|c| c.interval).collect();
    if comparisons.is_empty() || intervals.len() < comparisons.len() {
        return Verdict::TooFewRuns;
    }
    if intervals.iter().any(|&(low, _)| low > 1.0) {
        Verdict::Slower
    } else if comparisons.values().any(|c| {
        c.interval.is_some_and(|(_, high)| high < 1.0)
            && c.ratio.is_some_and(|r| r <= MIN_GAIN_RATIO)
    }) {
        Verdict::Faster
    } else {
        Verdict::NoDifference
    }
}

/// One configuration's timings in a round, run `i` of every configuration taken back to back.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub settings: Settings,
    pub seconds: BTreeMap<Scenario, Vec<f64>>,
    /// The warm-up build's seconds (for sccache, the clean build that filled its cache).
    pub warm_up_s: Option<f64>,
    /// Why it has no figures (a failed build, a binary another linker made).
    pub invalid: Option<String>,
}

/// One candidate's outcome in its round.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    pub settings: Settings,
    pub label: String,
    pub median_s: BTreeMap<Scenario, f64>,
    pub warm_up_s: Option<f64>,
    pub against_base: BTreeMap<Scenario, Comparison>,
    pub verdict: Verdict,
    pub adopted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

/// Judges a round whose first trial is the base (the current best): every candidate's
/// comparison and verdict, and which one (if any) is adopted: of those judged faster, the
/// first (cheapest), unless a later one is faster than it with confidence too.
pub fn judge(trials: &[Trial]) -> Vec<Judged> {
    let Some(base) = trials.first() else {
        return Vec::new();
    };
    let mut judged: Vec<Judged> = trials
        .iter()
        .enumerate()
        .map(|(i, trial)| judged_against(trial, (i > 0).then_some(base)))
        .collect();
    if base.invalid.is_some() {
        return judged;
    }
    if let Some(i) = winner(trials, &judged) {
        judged[i].adopted = true;
    }
    judged
}

/// A trial's medians, its comparison with `base` (none for the base itself or an invalid
/// trial) and its verdict.
fn judged_against(trial: &Trial, base: Option<&Trial>) -> Judged {
    let against_base: BTreeMap<Scenario, Comparison> = match base {
        Some(base) if trial.invalid.is_none() => compare_runs(trial, base),
        _ => BTreeMap::new(),
    };
    let verdict = if trial.invalid.is_some() {
        Verdict::Invalid
    } else if base.is_none() {
        Verdict::NoDifference
    } else {
        verdict(&against_base)
    };
    Judged {
        settings: trial.settings,
        label: trial.settings.label(),
        median_s: trial
            .seconds
            .iter()
            .filter_map(|(s, v)| median(v).map(|m| (*s, m)))
            .collect(),
        warm_up_s: trial.warm_up_s,
        against_base,
        verdict,
        adopted: false,
        invalid: trial.invalid.clone(),
    }
}

/// `trial` against `other` in each scenario both were timed in.
fn compare_runs(trial: &Trial, other: &Trial) -> BTreeMap<Scenario, Comparison> {
    trial
        .seconds
        .iter()
        .filter_map(|(scenario, seconds)| {
            Some((*scenario, compare(seconds, other.seconds.get(scenario)?)))
        })
        .collect()
}

/// Candidates come cheapest first (see `candidates`): the first judged faster, replaced by a
/// costlier one only when that is faster than the pick itself, with confidence, in the same
/// runs.
fn winner(trials: &[Trial], judged: &[Judged]) -> Option<usize> {
    let mut winner: Option<usize> = None;
    for i in 1..judged.len() {
        if judged[i].verdict != Verdict::Faster {
            continue;
        }
        winner = match winner {
            None => Some(i),
            Some(pick) if verdict(&compare_runs(&trials[i], &trials[pick])) == Verdict::Faster => {
                Some(i)
            }
            Some(pick) => Some(pick),
        };
    }
    winner
}

/// The machine and toolchain a result was measured on (recorded with it).
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub date: String,
    pub rustc: String,
    pub cores: usize,
    pub memory_gib: Option<f64>,
}

/// The comment `--apply` writes above the settings: what was measured, when and where.
pub fn record(
    machine: &Machine,
    confirmation: &BTreeMap<Scenario, Comparison>,
    adopted: &Settings,
    measured: &[Lever],
) -> Vec<String> {
    let memory = machine
        .memory_gib
        .map_or(String::new(), |gib| format!(", {gib:.0} GiB"));
    let profile = match adopted.profile {
        Profile::Dev => String::new(),
        other => format!(" the {other} profile"),
    };
    let mut lines = vec![format!(
        "measured{profile} {} with rustc {} on {} cores{memory}: {}",
        machine.date,
        machine.rustc,
        machine.cores,
        adopted.label()
    )];
    for (scenario, comparison) in confirmation {
        if let (Some(ratio), Some((low, high))) = (comparison.ratio, comparison.interval) {
            lines.push(format!(
                "{scenario}: {ratio:.2}x cargo's and rustc's defaults (95 % interval {low:.2}-{high:.2})"
            ));
        }
    }
    lines.extend(adopted.costs().into_iter().map(|c| format!("cost: {c}")));
    // What --apply leaves as the file has it (sccache is never written: nothing to keep).
    let kept: Vec<&str> = Lever::ALL
        .iter()
        .filter(|l| **l != Lever::Sccache && !measured.contains(l))
        .map(|l| l.name())
        .collect();
    if !kept.is_empty() {
        lines.push(format!(
            "not measured, kept as they were: {}",
            kept.join(", ")
        ));
    }
    lines
}

#[cfg(test)]
mod tests;
