//! What `buildkit bench` measures and how it summarizes, kept pure: configurations, the flags
//! each means, statistics, the table and the recommendation. `commands/bench.rs` runs the
//! builds and times them.
//!
//! Figures are only worth what they are compared with: every ratio is to `default` (rustc's
//! own choice, rust-lld since Rust 1.90), computed run by run from interleaved runs, so that
//! drift on the machine hits both sides of each ratio alike.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

pub use crate::linker::Linker;

/// One way to build the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub name: String,
    pub linker: Linker,
    /// `--config` arguments (profile settings), in order.
    pub cargo_config: Vec<String>,
    /// Built through sccache (with an empty, then a warm cache).
    pub sccache: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Every dependency from scratch.
    Clean,
    /// The main crate's source edited, then rebuilt incrementally: where linking dominates.
    Edit,
    /// From scratch through sccache with an empty cache.
    CleanSccacheCold,
    /// From scratch through sccache with the cache the cold build filled.
    CleanSccacheWarm,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Clean => "clean",
            Scenario::Edit => "edit",
            Scenario::CleanSccacheCold => "clean, empty sccache",
            Scenario::CleanSccacheWarm => "clean, warm sccache",
        })
    }
}

/// The timings of one configuration in one scenario, run `i` of each row taken at the same
/// point of the interleaved sequence.
#[derive(Debug, Clone)]
pub struct Measured {
    pub config: String,
    pub scenario: Scenario,
    pub seconds: Vec<f64>,
    /// The linker signature read from the built binary.
    pub linker_seen: Option<String>,
    /// Why the row's figures are not reported (the binary was not made by the linker the
    /// configuration names, or a build failed).
    pub invalid: Option<String>,
}

/// One line of the report, as `--json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub config: String,
    pub scenario: Scenario,
    pub runs: usize,
    pub median_s: Option<f64>,
    pub min_s: Option<f64>,
    pub max_s: Option<f64>,
    pub ratio_to_default: Option<f64>,
    /// A 95 % bootstrap interval of that ratio (the median over resampled run pairs): a
    /// configuration is faster than `default` only where the whole interval is below 1.
    pub ratio_interval: Option<(f64, f64)>,
    pub linker_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

/// Runs needed before an interval means anything (with fewer, every resample is the same few
/// pairs, and a lucky run would look certain).
pub const MIN_RUNS_FOR_CONFIDENCE: usize = 3;

/// A 95 % percentile-bootstrap interval of the median of `ratios`: 2000 resamples drawn with a
/// fixed-seed generator, so the same figures always give the same interval. `None` below
/// [`MIN_RUNS_FOR_CONFIDENCE`] ratios.
pub fn bootstrap_interval(ratios: &[f64]) -> Option<(f64, f64)> {
    if ratios.len() < MIN_RUNS_FOR_CONFIDENCE {
        return None;
    }
    // xorshift64*: small, deterministic, good enough to pick indices.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    };
    const RESAMPLES: usize = 2000;
    let mut medians: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let sample: Vec<f64> = (0..ratios.len())
                .map(|_| ratios[next(ratios.len())])
                .collect();
            median(&sample).expect("a sample is never empty")
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    let at = |q: f64| medians[((RESAMPLES - 1) as f64 * q).round() as usize];
    Some((at(0.025), at(0.975)))
}

pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// What the builds so far took, to tell what the rest will take: the progress line's time left
/// and whether the next pass fits a budget.
#[derive(Debug, Default)]
pub struct Timings {
    seen: BTreeMap<(String, Scenario), Vec<f64>>,
}

impl Timings {
    pub fn record(&mut self, config: &str, scenario: Scenario, seconds: f64) {
        self.seen
            .entry((config.to_string(), scenario))
            .or_default()
            .push(seconds);
    }

    /// What one build of `config` in `scenario` takes: its own median; else the median of the
    /// scenario's builds in other configurations; else (nothing of the kind built yet) the
    /// slowest build seen, which errs on the long side.
    pub fn estimate(&self, config: &str, scenario: Scenario) -> Duration {
        let own = self
            .seen
            .get(&(config.to_string(), scenario))
            .and_then(|v| median(v));
        let same_kind = || {
            let all: Vec<f64> = self
                .seen
                .iter()
                .filter(|((_, s), _)| *s == scenario)
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            median(&all)
        };
        let slowest = || self.seen.values().flatten().copied().reduce(f64::max);
        Duration::from_secs_f64(own.or_else(same_kind).or_else(slowest).unwrap_or(0.0))
    }

    /// What the builds `(config, scenario)` take together.
    pub fn cost<'a>(&self, builds: impl IntoIterator<Item = (&'a str, Scenario)>) -> Duration {
        builds
            .into_iter()
            .map(|(config, scenario)| self.estimate(config, scenario))
            .sum()
    }
}

/// A duration as a person reads it in a progress line: `0.4 s`, `42 s`, `3 min 5 s`.
pub fn minutes(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 10 {
        format!("{:.1} s", d.as_secs_f64())
    } else if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// Medians, extremes, and each row's ratio to `default` in the same scenario: the median of the
/// run-by-run ratios. The sccache scenarios compare with `default`'s clean build.
pub fn summarize(measured: &[Measured]) -> Vec<Summary> {
    let baseline = |scenario: Scenario| {
        let wanted = match scenario {
            Scenario::Edit => Scenario::Edit,
            _ => Scenario::Clean,
        };
        measured
            .iter()
            .find(|m| m.config == "default" && m.scenario == wanted && m.invalid.is_none())
    };
    measured
        .iter()
        .map(|m| {
            let valid = m.invalid.is_none();
            let figures = |f: fn(&[f64]) -> Option<f64>| valid.then(|| f(&m.seconds)).flatten();
            let pairs: Vec<f64> = baseline(m.scenario)
                .filter(|_| valid)
                .map(|base| {
                    m.seconds
                        .iter()
                        .zip(&base.seconds)
                        .filter(|(_, b)| **b > 0.0)
                        .map(|(a, b)| a / b)
                        .collect()
                })
                .unwrap_or_default();
            let ratio = median(&pairs);
            Summary {
                config: m.config.clone(),
                scenario: m.scenario,
                runs: m.seconds.len(),
                median_s: figures(median),
                min_s: figures(|v| v.iter().copied().min_by(f64::total_cmp)),
                max_s: figures(|v| v.iter().copied().max_by(f64::total_cmp)),
                ratio_to_default: ratio,
                ratio_interval: bootstrap_interval(&pairs),
                linker_seen: m.linker_seen.clone(),
                invalid: m.invalid.clone(),
            }
        })
        .collect()
}

/// One line a person can act on, from measured rows only. A configuration is called faster
/// than rustc's default only when its whole ratio interval is below 1; otherwise the default
/// stays (it needs nothing installed).
pub fn recommendation(rows: &[Summary]) -> String {
    let verdict = |scenario: Scenario, what: &str| -> Option<String> {
        let measured: Vec<&Summary> = rows
            .iter()
            .filter(|r| r.scenario == scenario && r.median_s.is_some() && !r.config.contains('+'))
            .collect();
        if measured.is_empty() {
            return None;
        }
        let others: Vec<&&Summary> = measured.iter().filter(|r| r.config != "default").collect();
        let faster = others
            .iter()
            .filter(|r| r.ratio_interval.is_some_and(|(_, high)| high < 1.0))
            .min_by(|a, b| {
                a.ratio_to_default
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.ratio_to_default.unwrap_or(f64::INFINITY))
            });
        Some(match faster {
            Some(row) => {
                let (low, high) = row.ratio_interval.unwrap_or_default();
                format!(
                    "{what} is faster with {} ({:.2}x rustc's default, 95 % interval {low:.2}-{high:.2})",
                    row.config,
                    row.ratio_to_default.unwrap_or(f64::NAN)
                )
            }
            None if others.iter().any(|r| r.ratio_interval.is_some()) => format!(
                "{what}: nothing is faster than rustc's default with confidence (every interval reaches 1), so keep the default"
            ),
            None if others.is_empty() => format!("{what}: only rustc's default was measured"),
            None => format!(
                "{what}: too few runs to tell ({} needed for an interval; use --runs)",
                MIN_RUNS_FOR_CONFIDENCE
            ),
        })
    };
    let mut parts = Vec::new();
    parts.extend(verdict(Scenario::Edit, "the edit loop"));
    parts.extend(verdict(Scenario::Clean, "a clean build"));
    let cold = rows
        .iter()
        .find(|r| r.scenario == Scenario::CleanSccacheCold && r.median_s.is_some());
    let warm = rows
        .iter()
        .find(|r| r.scenario == Scenario::CleanSccacheWarm && r.median_s.is_some());
    if let (Some(cold), Some(warm)) = (cold, warm) {
        parts.push(format!(
            "sccache costs {:.2}x a plain clean build while its cache is empty and gives {:.2}x once warm",
            cold.ratio_to_default.unwrap_or(f64::NAN),
            warm.ratio_to_default.unwrap_or(f64::NAN)
        ));
    }
    if parts.is_empty() {
        return "no configuration could be measured".into();
    }
    format!("for this project on this machine, {}", parts.join("; "))
}

/// The report as a table, one row per configuration and scenario.
pub fn table(rows: &[Summary]) -> String {
    let mut out = format!(
        "{:<20} {:<22} {:>4} {:>9} {:>9} {:>9} {:>23}  {}\n",
        "config", "scenario", "runs", "median", "min", "max", "vs default [95 %]", "linker seen"
    );
    let secs = |v: Option<f64>| v.map_or("-".into(), |s| format!("{s:.2} s"));
    for row in rows {
        let ratio = match (&row.invalid, row.ratio_to_default) {
            (Some(_), _) => "INVALID".to_string(),
            (None, Some(r)) => format!("{r:.2}x"),
            (None, None) => "-".into(),
        };
        let interval = match (row.config.as_str(), row.ratio_interval) {
            ("default", _) | (_, None) => String::new(),
            (_, Some((low, high))) => format!(" [{low:.2}-{high:.2}]"),
        };
        let ratio = format!("{ratio}{interval}");
        out.push_str(&format!(
            "{:<20} {:<22} {:>4} {:>9} {:>9} {:>9} {:>23}  {}\n",
            row.config,
            row.scenario.to_string(),
            row.runs,
            secs(row.median_s),
            secs(row.min_s),
            secs(row.max_s),
            ratio,
            row.linker_seen
                .as_deref()
                .map_or("none (GNU ld)", |s| s.split(" (").next().unwrap_or(s))
        ));
        if let Some(why) = &row.invalid {
            // The first line here; the whole error is in the JSON report.
            let first = why.lines().next().unwrap_or_default();
            out.push_str(&format!("{:<20} ^ not reported: {first}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(config: &str, scenario: Scenario, seconds: &[f64]) -> Measured {
        Measured {
            config: config.into(),
            scenario,
            seconds: seconds.to_vec(),
            linker_seen: Some("LLD 22.1.2".into()),
            invalid: None,
        }
    }

    #[test]
    fn ratios_are_taken_run_by_run_and_invalid_rows_report_nothing() {
        let rows = summarize(&[
            measured("default", Scenario::Edit, &[1.0, 2.0, 1.0]),
            // Twice the default in every run, whatever the drift between runs.
            measured("mold", Scenario::Edit, &[2.0, 4.0, 2.0]),
            Measured {
                invalid: Some("the binary was linked by LLD 22.1.2, not bfd".into()),
                ..measured("bfd", Scenario::Edit, &[0.5, 0.5, 0.5])
            },
        ]);
        assert_eq!(rows[0].ratio_to_default, Some(1.0));
        assert_eq!(rows[1].ratio_to_default, Some(2.0));
        assert_eq!(rows[1].median_s, Some(2.0));
        assert_eq!((rows[1].min_s, rows[1].max_s), (Some(2.0), Some(4.0)));
        assert_eq!(rows[2].median_s, None);
        assert_eq!(rows[2].ratio_to_default, None);
        let text = recommendation(&rows);
        assert_eq!(
            text,
            "for this project on this machine, the edit loop: nothing is faster than rustc's default with confidence (every interval reaches 1), so keep the default"
        );
        assert!(table(&rows).contains("INVALID"));
    }

    /// A lever is adopted only when the whole interval of its paired ratios is below 1: a
    /// median below 1 inside the noise is not enough (lld and rustc's default are the same LLD).
    #[test]
    fn only_a_change_faster_with_confidence_is_recommended() {
        let default = [10.0, 11.0, 10.5, 12.0, 10.2];
        let noisy = [9.5, 11.6, 10.0, 12.5, 9.9]; // 0.95..1.05: the same, give or take
        let faster = [7.9, 8.9, 8.2, 9.7, 8.0]; // about 0.8 in every pair
        let rows = summarize(&[
            measured("default", Scenario::Edit, &default),
            measured("lld", Scenario::Edit, &noisy),
            measured("mold", Scenario::Edit, &faster),
        ]);
        let (low, high) = rows[1].ratio_interval.unwrap();
        assert!(
            low < 1.0 && high > 1.0,
            "lld's interval reaches 1: {low}..{high}"
        );
        let (low, high) = rows[2].ratio_interval.unwrap();
        assert!(high < 1.0 && low > 0.7, "mold's is below 1: {low}..{high}");
        assert_eq!(
            recommendation(&rows),
            format!(
                "for this project on this machine, the edit loop is faster with mold ({:.2}x rustc's default, 95 % interval {low:.2}-{high:.2})",
                rows[2].ratio_to_default.unwrap()
            )
        );
        // The same figures, the same interval (a fixed seed).
        assert_eq!(
            summarize(&[
                measured("default", Scenario::Edit, &default),
                measured("mold", Scenario::Edit, &faster),
            ])[1]
                .ratio_interval,
            rows[2].ratio_interval
        );
        // Two runs tell nothing.
        let two = summarize(&[
            measured("default", Scenario::Edit, &default[..2]),
            measured("mold", Scenario::Edit, &faster[..2]),
        ]);
        assert_eq!(two[1].ratio_interval, None);
        assert!(recommendation(&two).contains("too few runs to tell"));
    }

    #[test]
    fn a_build_not_made_yet_is_estimated_from_its_kind_then_from_the_slowest() {
        let mut timings = Timings::default();
        assert_eq!(timings.estimate("mold", Scenario::Edit), Duration::ZERO);
        timings.record("default", Scenario::Clean, 30.0);
        timings.record("mold", Scenario::Clean, 20.0);
        // No edit yet: the slowest build stands in (long rather than short).
        assert_eq!(timings.estimate("mold", Scenario::Edit).as_secs(), 30);
        timings.record("default", Scenario::Edit, 2.0);
        timings.record("default", Scenario::Edit, 4.0);
        assert_eq!(timings.estimate("mold", Scenario::Edit).as_secs(), 3);
        assert_eq!(timings.estimate("mold", Scenario::Clean).as_secs(), 20);
        assert_eq!(timings.estimate("lld", Scenario::Clean).as_secs(), 25);
        assert_eq!(
            timings
                .cost([("default", Scenario::Clean), ("mold", Scenario::Edit)])
                .as_secs(),
            33
        );
        assert_eq!(minutes(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(minutes(Duration::from_secs(42)), "42 s");
        assert_eq!(minutes(Duration::from_millis(420)), "0.4 s");
    }

    #[test]
    fn linkers_are_recognised_by_their_signature() {
        assert!(Linker::Mold.signed(Some("mold 1.10.1 (compatible with GNU ld)")));
        assert!(!Linker::Mold.signed(Some("LLD 22.1.2")));
        assert!(Linker::Lld.signed(Some("LLD 22.1.2 (compatible with GNU linkers)")));
        assert!(Linker::Bfd.signed(None));
        assert!(!Linker::Bfd.signed(Some("LLD 22.1.2")));
    }
}
