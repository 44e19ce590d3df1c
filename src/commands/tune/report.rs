//! tune's report as text: each round's figures, the confirmation, what was adopted and
//! written, and what was left out.

use super::Report;
use crate::tune::{Judged, Verdict};

/// `manifest` is the buildkit.toml `--apply` writes to.
pub(super) fn text_report(report: &Report, apply: bool, manifest: &std::path::Path) -> String {
    let profile = match report.profile {
        crate::tune::Profile::Dev => String::new(),
        other => format!(", the {other} profile"),
    };
    let mut out = format!(
        "measured on {} cores, rustc {}{profile}: {} ({} runs each, interleaved; the edit loop edits {})\n",
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
    let rows = Rows {
        report,
        width: report
            .rounds
            .iter()
            .flat_map(|r| &r.results)
            .chain(&report.confirmation)
            .map(|j| j.label.len())
            .max()
            .unwrap_or(0),
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
                    out.push_str(&rows.row(judged, i == 0, false));
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
                out.push_str(&rows.row(base, true, true));
            }
            out.push_str(&rows.row(confirmation, false, true));
            out.push_str(&outcome(report, confirmation, apply, manifest));
        }
    }
    out
}

/// What the confirmation means: the fastest configuration and its costs, and whether it was
/// written; or that nothing is.
fn outcome(
    report: &Report,
    confirmation: &Judged,
    apply: bool,
    manifest: &std::path::Path,
) -> String {
    if confirmation.verdict != Verdict::Faster {
        return "\nthe combination was not faster than the defaults with confidence: nothing to write\n".into();
    }
    let mut out = format!("\nfastest measured: {}\n", report.adopted.label());
    for cost in report.adopted.costs() {
        out.push_str(&format!("  cost: {cost}\n"));
    }
    out.push_str(&if report.applied {
        format!(
            "written to {}; next: `buildkit setup && buildkit generate` carries it to .cargo/config.toml, the devcontainer and CI\n",
            manifest.display()
        )
    } else if apply {
        "not written\n".to_string()
    } else {
        "not written: `buildkit tune --apply` writes it into buildkit.toml\n".to_string()
    });
    out
}

/// The table's rows, their labels padded to one width.
struct Rows<'a> {
    report: &'a Report,
    width: usize,
}

impl Rows<'_> {
    /// One configuration: its warm-up, each scenario's median and ratio to the base, and the
    /// verdict (with why it has no figures, if so).
    fn row(&self, judged: &Judged, base: bool, confirmation: bool) -> String {
        let cells: Vec<String> = self
            .report
            .scenarios
            .iter()
            .map(|scenario| {
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
                format!("{median:>9} {ratio:<19}")
            })
            .collect();
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
        let width = self.width;
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
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::linker::Linker;
    use crate::tune::{Lever, Machine, Scenario, Settings, Trial};

    fn trial(linker: Linker, seconds: &[f64]) -> Trial {
        Trial {
            settings: Settings {
                linker,
                ..Settings::default()
            },
            seconds: [(Scenario::Edit, seconds.to_vec())].into(),
            warm_up_s: None,
            invalid: None,
        }
    }

    #[test]
    fn the_report_shows_each_round_the_confirmation_and_where_it_wrote() {
        let base = [2.0, 2.1, 2.0, 2.05, 2.0];
        let faster = [1.0, 1.05, 1.0, 1.02, 1.0];
        let round =
            crate::tune::judge(&[trial(Linker::Default, &base), trial(Linker::Mold, &faster)]);
        let confirmation =
            crate::tune::judge(&[trial(Linker::Default, &base), trial(Linker::Mold, &faster)]);
        let report = Report {
            profile: crate::tune::Profile::Dev,
            machine: Machine {
                date: "2026-12-02".into(),
                rustc: "1.95.0".into(),
                cores: 2,
                memory_gib: Some(24.0),
            },
            scenarios: vec![Scenario::Edit],
            runs: 5,
            edited: "src/main.rs".into(),
            rounds: vec![super::super::Round {
                lever: Lever::Linker,
                results: round,
                skipped: None,
            }],
            confirmation: Some(confirmation[1].clone()),
            confirmation_base: Some(confirmation[0].clone()),
            adopted: confirmation[1].settings,
            applied: true,
            notes: vec!["wild is not pinned".into()],
            seconds: 60.0,
        };
        let text = text_report(&report, true, Path::new("/p/buildkit.toml"));
        assert!(text.starts_with(
            "measured on 2 cores, rustc 1.95.0: edit loop (5 runs each, interleaved; the edit loop edits src/main.rs)\n"
        ), "{text}");
        assert!(text.contains("\nfastest measured: "), "{text}");
        assert!(
            text.contains(
                "written to /p/buildkit.toml; next: `buildkit setup && buildkit generate`"
            ),
            "{text}"
        );
    }
}
