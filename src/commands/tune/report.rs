//! tune's report as text: each round's figures, the confirmation, what was adopted and
//! written, and what was left out.

use super::Report;
use crate::tune::{Judged, Verdict};

pub(super) fn text_report(
    report: &Report,
    apply: bool,
    project: &crate::commands::Project,
) -> String {
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
