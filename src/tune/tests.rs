use super::*;

fn trial(settings: Settings, edit: &[f64]) -> Trial {
    Trial {
        settings,
        seconds: BTreeMap::from([(Scenario::Edit, edit.to_vec())]),
        warm_up_s: None,
        invalid: None,
    }
}

#[test]
fn release_settings_are_the_release_profiles_own() {
    let release = Settings::defaults(Profile::Release);
    assert_eq!(
        release.cargo_config(),
        [
            "profile.release.debug=false",
            "profile.release.package.\"*\".debug=false",
            "profile.release.split-debuginfo=\"off\"",
            "profile.release.build-override.opt-level=0",
        ]
    );
    assert_eq!(release.label(), "cargo's defaults");
    assert!(!release.has_debug_info());
    let mold = Settings {
        linker: Linker::Mold,
        ..release
    };
    assert_eq!(mold.changes().len(), 1, "{:?}", mold.changes());
    assert_eq!(Profile::Release.dir(), "release");
    assert_eq!(Profile::Dev.dir(), "debug");
}

#[test]
fn levers_propose_only_changes_and_the_defaults_are_cargos() {
    let best = Settings::default();
    assert_eq!(
        best.cargo_config(),
        [
            "profile.dev.debug=true",
            "profile.dev.package.\"*\".debug=true",
            "profile.dev.split-debuginfo=\"off\"",
            "profile.dev.build-override.opt-level=0"
        ]
    );
    assert_eq!(best.label(), "cargo's defaults");
    let debug = candidates(Lever::DebugInfo, &best, &[]);
    assert_eq!(debug.len(), 3);
    assert!(!debug.contains(&best));
    let linkers = candidates(Lever::Linker, &best, &[Linker::Default, Linker::Mold]);
    assert_eq!(linkers.len(), 1);
    assert_eq!(linkers[0].linker, Linker::Mold);
    // Nothing to split without debug info.
    let none = Settings {
        debug: DebugLevel::None,
        ..best
    };
    assert!(candidates(Lever::SplitDebuginfo, &none, &[]).is_empty());
    let lean = Settings {
        debug: DebugLevel::LineTablesOnly,
        dependencies_debug: Some(DebugLevel::None),
        linker: Linker::Wild,
        ..best
    };
    assert_eq!(
        lean.label(),
        "debug info line tables only for the workspace, none for dependencies, linker wild"
    );
    assert_eq!(
        lean.cargo_config()[1],
        "profile.dev.package.\"*\".debug=false"
    );
    assert_eq!(lean.costs().len(), 2);
}

/// The base stays unless a candidate is faster with confidence; of several that are, the
/// fastest wins; a candidate slower in one scenario is not adopted for being faster in
/// another.
#[test]
fn only_a_confident_improvement_is_adopted() {
    let base = Settings::default();
    let mold = Settings {
        linker: Linker::Mold,
        ..base
    };
    let wild = Settings {
        linker: Linker::Wild,
        ..base
    };
    let lld = Settings {
        linker: Linker::Lld,
        ..base
    };
    let timings = [10.0, 11.0, 10.5, 12.0, 10.2];
    let scaled = |f: f64| timings.iter().map(|t| t * f).collect::<Vec<_>>();
    let noisy = [9.5, 11.6, 10.0, 12.5, 9.9];
    let judged = judge(&[
        trial(base, &timings),
        trial(mold, &scaled(0.9)),
        trial(wild, &scaled(0.8)),
        trial(lld, &noisy),
    ]);
    assert_eq!(judged[1].verdict, Verdict::Faster);
    assert_eq!(judged[3].verdict, Verdict::NoDifference);
    let adopted: Vec<Linker> = judged
        .iter()
        .filter(|j| j.adopted)
        .map(|j| j.settings.linker)
        .collect();
    assert_eq!(adopted, [Linker::Wild]);

    // Two that are faster by about the same: the cheaper (first) one stays.
    let judged = judge(&[
        trial(base, &timings),
        trial(mold, &scaled(0.8)),
        trial(wild, &[7.9, 8.9, 8.5, 9.5, 8.2]),
    ]);
    assert_eq!(judged[2].verdict, Verdict::Faster);
    assert!(judged[1].adopted && !judged[2].adopted);

    // Faster in the edit loop, slower in a clean build: not adopted.
    let mut mixed = trial(mold, &scaled(0.8));
    mixed.seconds.insert(Scenario::Clean, scaled(1.2));
    let mut base_trial = trial(base, &timings);
    base_trial.seconds.insert(Scenario::Clean, timings.to_vec());
    let judged = judge(&[base_trial, mixed]);
    assert_eq!(judged[1].verdict, Verdict::Slower);
    assert!(!judged[1].adopted);

    // Two runs tell nothing; an invalid trial is never adopted.
    let judged = judge(&[trial(base, &timings[..2]), trial(mold, &scaled(0.5)[..2])]);
    assert_eq!(judged[1].verdict, Verdict::TooFewRuns);
    assert!(!judged[1].adopted);
    let mut broken = trial(wild, &scaled(0.5));
    broken.invalid = Some("the build failed".into());
    let judged = judge(&[trial(base, &timings), broken]);
    assert_eq!(judged[1].verdict, Verdict::Invalid);
    assert!(!judged[1].adopted);
}

#[test]
fn the_record_says_when_where_and_what_it_costs() {
    let adopted = Settings {
        debug: DebugLevel::LineTablesOnly,
        dependencies_debug: Some(DebugLevel::None),
        ..Settings::default()
    };
    let machine = Machine {
        date: "2026-11-30".into(),
        rustc: "1.95.0".into(),
        cores: 2,
        memory_gib: Some(23.4),
    };
    let confirmation = BTreeMap::from([(
        Scenario::Edit,
        Comparison {
            ratio: Some(0.62),
            interval: Some((0.58, 0.66)),
        },
    )]);
    assert_eq!(
        record(&machine, &confirmation, &adopted, &Lever::ALL),
        [
            "measured 2026-11-30 with rustc 1.95.0 on 2 cores, 23 GiB: debug info line tables only for the workspace, none for dependencies",
            "edit loop: 0.62x cargo's and rustc's defaults (95 % interval 0.58-0.66)",
            "cost: debug = \"line-tables-only\": backtraces keep file:line, a debugger shows no local variables",
            "cost: dependencies without full debug info: a debugger cannot show their variables",
        ]
    );
    // A lever left out is said: its keys stay as the file has them.
    let measured = [
        Lever::DebugInfo,
        Lever::SplitDebuginfo,
        Lever::BuildOverride,
    ];
    assert_eq!(
        record(&machine, &confirmation, &adopted, &measured)
            .last()
            .unwrap(),
        "not measured, kept as they were: linker"
    );
}
