//! `buildkit tune` on a real project with the real mold and wild: what it measures, that each
//! binary was made by the linker its configuration names (one shared target directory, the
//! linker picked at link time), the budget, and `--apply` writing only what was confirmed
//! faster than cargo's and rustc's defaults.
//!
//! No assertion here depends on how fast this machine is: where a test needs one configuration
//! to win, a stand-in `cc` on PATH makes every link with rustc's own lld a second slower.

use crate::e2e::{cargo_project, in_env, linker_of, rust_version, serve_real};
use crate::harness::*;

/// A project pinning the real mold and wild (served from loopback) and installed.
fn tuned_project(sandbox: &Sandbox, server: &Server) {
    cargo_project(sandbox);
    write_tuned_manifest(sandbox, server, "");
    sandbox.run(&["setup", "--quiet"]).success();
}

/// buildkit.toml pinning rustc's own linker, `extra` (tables of its own) and the real mold and
/// wild, served from loopback.
fn write_tuned_manifest(sandbox: &Sandbox, server: &Server, extra: &str) {
    let (mold_version, mold) = serve_real(server, "mold");
    let (wild_version, wild) = serve_real(server, "wild");
    sandbox.write(
        "buildkit.toml",
        &format!(
            "[toolchain]\nrust = \"{}\"\n[linker]\nkind = \"default\"\n{extra}{}{}",
            rust_version(),
            tool_table("mold", &mold_version, &server.url("/mold.tar.gz"), &mold),
            tool_table("wild", &wild_version, &server.url("/wild.tar.gz"), &wild),
        ),
    );
}

/// The linkers tune's linker round measured (its valid results), from the JSON report.
fn measured_linkers(report: &serde_json::Value) -> Vec<String> {
    let round = report["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["lever"] == "linker")
        .expect("a linker round");
    round["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("invalid").is_none())
        .map(|r| r["settings"]["linker"].as_str().unwrap().to_string())
        .collect()
}

/// A directory whose `cc` sleeps a second before every link through rustc's own lld, then
/// links as the real one does.
fn slow_default_links(sandbox: &Sandbox) -> std::ffi::OsString {
    let dir = sandbox.root().join("slow-cc");
    std::fs::create_dir_all(&dir).unwrap();
    let cc = dir.join("cc");
    write_executable(
        &cc,
        "#!/bin/sh\ncase \" $* \" in *\" -fuse-ld=lld \"*) sleep 1 ;; esac\nexec /usr/bin/cc \"$@\"\n",
    );
    let mut paths = vec![dir];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    std::env::join_paths(paths).unwrap()
}

#[test]
fn tune_adopts_only_what_it_measured_faster_and_apply_writes_it_for_every_environment() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    tuned_project(&sandbox, &server);
    let before = sandbox.read("buildkit.toml");
    let source = sandbox.read("src/main.rs");
    let run = sandbox
        .buildkit(&["tune", "--runs", "3", "--apply", "--json"])
        .env("PATH", slow_default_links(&sandbox))
        .run();
    assert_eq!(run.code, 0, "{run}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let levers: Vec<&str> = report["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lever"].as_str().unwrap())
        .collect();
    assert_eq!(
        levers,
        [
            "debug-info",
            "split-debuginfo",
            "linker",
            "build-override",
            "sccache"
        ]
    );
    assert_eq!(
        report["rounds"][4]["skipped"],
        "buildkit.toml pins no sccache (or it is not installed)"
    );
    // Every configuration measured, each binary made by its own linker.
    for round in report["rounds"].as_array().unwrap() {
        for result in round["results"].as_array().into_iter().flatten() {
            assert!(result.get("invalid").is_none(), "{result}");
            // Adopted means faster with confidence: the whole interval below 1.
            if result["adopted"] == true {
                assert_eq!(result["verdict"], "faster", "{result}");
                let high = result["against_base"]["edit"]["interval"][1]
                    .as_f64()
                    .unwrap();
                assert!(high < 1.0, "{result}");
            }
        }
    }
    let linker_round = &report["rounds"][2]["results"];
    let linkers: Vec<&str> = linker_round
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["settings"]["linker"].as_str().unwrap())
        .collect();
    assert_eq!(linkers, ["default", "mold", "wild"], "{linker_round}");
    // A second per link is a lot for this project: mold or wild wins, is confirmed against
    // the defaults, and is written.
    let adopted = report["adopted"]["linker"].as_str().unwrap();
    assert!(["mold", "wild"].contains(&adopted), "{}", run.stdout);
    assert_eq!(report["confirmation"]["verdict"], "faster");
    assert_eq!(report["applied"], true);
    // Every edit-loop build followed an edit of the main source, which is back as it was.
    assert!(
        report["edited"].as_str().unwrap().ends_with("src/main.rs"),
        "{report}"
    );
    assert_eq!(sandbox.read("src/main.rs"), source);
    let after = sandbox.read("buildkit.toml");
    assert_ne!(after, before);
    assert!(
        after.contains(&format!("[linker]\nkind = \"{adopted}\"")),
        "{after}"
    );
    let record: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with("# buildkit tune: "))
        .collect();
    assert!(
        record[0].starts_with("# buildkit tune: measured ")
            && record[0].contains(" cores")
            && record[1].starts_with("# buildkit tune: edit loop: "),
        "{after}"
    );
    // tune's directory is gone; the lock follows buildkit.toml.
    assert!(!sandbox.root().join("project/target/buildkit-tune").exists());
    sandbox.run(&["setup", "--locked", "--quiet"]).success();
    sandbox.run(&["generate"]).success();
    sandbox.run(&["check"]).success();
    in_env(&sandbox, "cargo build --quiet");
    let signature = linker_of(&sandbox.root().join("target/debug/hello")).unwrap();
    let expected = if adopted == "mold" { "mold " } else { "Wild " };
    assert!(signature.starts_with(expected), "{signature}");
}

/// `--profile release`: release builds are what is timed (the binary tune checks is the
/// release one), debug information is left out (release has none by default), and `--apply`
/// writes the release profile alone: the team's dev settings stay as they were.
#[test]
fn tune_release_measures_release_builds_and_writes_only_the_release_profile() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    cargo_project(&sandbox);
    write_tuned_manifest(
        &sandbox,
        &server,
        "[profile.dev]\ndebug = \"line-tables-only\"\n",
    );
    sandbox.run(&["setup", "--quiet"]).success();
    let run = sandbox
        .buildkit(&[
            "tune",
            "--profile",
            "release",
            "--scenario",
            "clean",
            "--runs",
            "3",
            "--apply",
            "--json",
        ])
        .env("PATH", slow_default_links(&sandbox))
        .run();
    assert_eq!(run.code, 0, "{run}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["profile"], "release");
    let skipped: Vec<(&str, &str)> = report["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["lever"].as_str()?, r["skipped"].as_str()?)))
        .collect();
    assert_eq!(
        skipped,
        [
            (
                "debug-info",
                "the profile carries no debug information to drop (cargo's default for release)"
            ),
            ("split-debuginfo", "no debug information left to split"),
            (
                "sccache",
                "buildkit.toml pins no sccache (or it is not installed)"
            ),
        ]
    );
    // Each release binary was made by the linker its configuration names.
    assert_eq!(measured_linkers(&report), ["default", "mold", "wild"]);
    let adopted = report["adopted"]["linker"].as_str().unwrap();
    assert!(["mold", "wild"].contains(&adopted), "{}", run.stdout);
    assert_eq!(report["adopted"]["profile"], "release");
    assert_eq!(report["applied"], true);
    let after = sandbox.read("buildkit.toml");
    let profile_keys: Vec<String> = toml_keys(&after)
        .into_iter()
        .filter(|k| k.starts_with("profile."))
        .collect();
    assert!(
        profile_keys
            .iter()
            .all(|k| k == "profile.dev.debug" || k.starts_with("profile.release.")),
        "{after}"
    );
    assert!(
        after.contains("[profile.dev]\ndebug = \"line-tables-only\"\n"),
        "{after}"
    );
    assert!(
        after.contains("# buildkit tune: measured the release profile "),
        "{after}"
    );
    sandbox.run(&["setup", "--locked", "--quiet"]).success();
}

#[test]
fn tune_needs_three_runs_and_stays_within_its_budget() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    tuned_project(&sandbox, &server);
    let before = sandbox.read("buildkit.toml");
    insta::assert_snapshot!(sandbox.run(&["tune", "--runs", "2"]), @"
    exit 2
    --- stderr
    error: --runs 2: tune needs 3 runs or more to tell a difference from noise
    ");
    // tune edits the project's own files only, and a line an interrupted run left at the top of
    // one is taken out again.
    sandbox.write("../outside.rs", "fn main() {}\n");
    let outside = sandbox.run(&["tune", "--edit", "../outside.rs"]);
    assert_eq!(outside.code, 2, "{outside}");
    assert!(
        outside
            .stderr
            .contains("outside.rs is outside the project at"),
        "{outside}"
    );
    assert_eq!(sandbox.read("../outside.rs"), "fn main() {}\n");
    let source = sandbox.read("src/main.rs");
    sandbox.write(
        "src/main.rs",
        &format!(
            "// buildkit tune: a measured edit; tune removes this line when it ends\n{source}"
        ),
    );
    // A budget spent by the first build: every lever is left out and said so, nothing is
    // written.
    let run = sandbox
        .buildkit(&["tune", "--budget", "1s", "--apply", "--json"])
        .run();
    assert_eq!(run.code, 0, "{run}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rounds = report["rounds"].as_array().unwrap();
    // (sccache is measured only in clean builds where it is pinned, optimised build scripts
    // only where clean builds are measured too.)
    for round in &rounds[..3] {
        let skipped = round["skipped"].as_str().unwrap_or_default();
        assert!(skipped.starts_with("over the budget: about "), "{round}");
    }
    assert!(
        rounds[3]["skipped"]
            .as_str()
            .unwrap()
            .starts_with("optimised build scripts make clean builds (CI's) slower"),
        "{}",
        rounds[3]
    );
    assert_eq!(report["confirmation"], serde_json::Value::Null);
    assert_eq!(report["applied"], false);
    assert_eq!(sandbox.read("buildkit.toml"), before);
    assert!(
        run.stderr
            .contains("removed the line an interrupted tune or bench left at the top of"),
        "{run}"
    );
    assert_eq!(sandbox.read("src/main.rs"), source);
}

/// `init --tune` on a machine that cannot download mold or wild: it pins nothing it could not
/// measure, says why in one line, and still measures what it can (debug information).
#[test]
fn init_tune_measures_what_it_can_and_pins_nothing_unmeasured() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    cargo_project(&sandbox);
    let run = sandbox
        .buildkit(&["init", "--tune", "--no-sccache"])
        .env("BUILDKIT_MIRROR", server.url(""))
        .env("BUILDKIT_DOWNLOAD_ATTEMPTS", "1")
        .run();
    assert_eq!(run.code, 0, "{run}");
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("tune: could not install"))
        .collect();
    assert_eq!(notes.len(), 1, "{run}");
    assert!(
        run.stdout
            .contains("linker: not measured: no linker but rustc's own could be measured"),
        "{run}"
    );
    let manifest = sandbox.read("buildkit.toml");
    let pinned: Vec<String> = toml_keys(&manifest)
        .into_iter()
        .filter(|k| k.starts_with("tools."))
        .collect();
    // Nothing pinned: neither linker could be measured (and sccache was declined).
    assert_eq!(pinned, Vec::<String>::new(), "{manifest}");
}

/// For CI's clean builds, sccache with a warm cache is measured against the best configuration
/// without it (its cache filled by the warm-up, a clean build), and reported.
#[test]
fn tune_measures_sccache_in_clean_builds() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    let (version, archive) = serve_real(&server, "sccache");
    cargo_project(&sandbox);
    sandbox.write(
        "buildkit.toml",
        &format!(
            "[toolchain]\nrust = \"{}\"\n[linker]\nkind = \"default\"\n{}",
            rust_version(),
            tool_table(
                "sccache",
                &version,
                &server.url("/sccache.tar.gz"),
                &archive
            ),
        ),
    );
    sandbox.run(&["setup", "--quiet"]).success();
    let run = sandbox
        .buildkit(&["tune", "--scenario", "clean", "--runs", "3", "--json"])
        .env("BUILDKIT_MIRROR", server.url(""))
        .env("BUILDKIT_DOWNLOAD_ATTEMPTS", "1")
        .run();
    assert_eq!(run.code, 0, "{run}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let round = &report["rounds"][4];
    assert_eq!(round["lever"], "sccache", "{round}");
    let results = round["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{round}");
    assert_eq!(results[1]["settings"]["sccache"], true);
    assert!(results[1].get("invalid").is_none(), "{round}");
    assert!(results[1]["warm_up_s"].as_f64().unwrap() > 0.0);
    assert!(
        results[1]["median_s"]["clean"].as_f64().is_some(),
        "{round}"
    );
    // Never written: the team's pin and cache are not tune's to change.
    assert_eq!(report["adopted"]["sccache"], false);
}

/// The team's linker, pinned but not installed here, is not measured: `--apply` writes what
/// it measured and keeps `[linker] kind` as the team set it, saying so in the record.
#[test]
fn apply_keeps_a_linker_it_could_not_measure() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    tuned_project(&sandbox, &server);
    let text = sandbox
        .read("buildkit.toml")
        .replace("kind = \"default\"", "kind = 'mold' # the team's");
    sandbox.write("buildkit.toml", &text);
    sandbox.run(&["setup", "--quiet"]).success();
    // mold goes from the home and the download cache, its link from the lock's bin
    // directory: pinned, not installed, and not installable offline.
    std::fs::remove_dir_all(sandbox.home().join("tools/mold")).unwrap();
    std::fs::remove_dir_all(sandbox.cache()).unwrap();
    let envs = sandbox.home().join("envs");
    let mut removed = 0;
    for env in std::fs::read_dir(&envs).unwrap() {
        let link = env.unwrap().path().join("bin/ld.mold");
        if std::fs::symlink_metadata(&link).is_ok() {
            std::fs::remove_file(&link).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0);
    let run = sandbox
        .buildkit(&["tune", "--runs", "3", "--apply", "--json", "--offline"])
        .env("PATH", slow_default_links(&sandbox))
        .run();
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("mold is pinned but not installed in"),
        "{run}"
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["applied"], true, "{report}");
    let after = sandbox.read("buildkit.toml");
    assert!(
        after.contains("[linker]\nkind = 'mold' # the team's\n"),
        "{after}"
    );
    // The linker (not installed) and the build scripts (an edit-loop run) were not measured;
    // split debuginfo is not either where the debug round adopted no debug information at all
    // (nothing left to split), which depends on this machine's figures.
    let kept: Vec<&str> = after
        .lines()
        .find_map(|l| l.strip_prefix("# buildkit tune: not measured, kept as they were: "))
        .unwrap_or_else(|| panic!("no kept line:\n{after}"))
        .split(", ")
        .collect();
    let split_skipped = report["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["lever"] == "split-debuginfo")
        .is_some_and(|r| r["skipped"] == "no debug information left to split");
    let expected: &[&str] = if split_skipped {
        &["split debuginfo", "linker", "build scripts"]
    } else {
        &["linker", "build scripts"]
    };
    assert_eq!(kept, expected, "{after}");
}

/// One tune or bench per project at a time: the second says who holds the project and
/// touches nothing (not even the live run's edit, which it would take for a leftover); and
/// their working directories are never links out of the project.
#[test]
fn measuring_takes_the_project_alone_and_refuses_linked_working_directories() {
    let sandbox = Sandbox::new();
    cargo_project(&sandbox);
    sandbox.write(
        "buildkit.toml",
        &format!("[toolchain]\nrust = \"{}\"\n", rust_version()),
    );
    let target = sandbox.project().join("target");
    std::fs::create_dir_all(&target).unwrap();
    let lock_path = target.join("buildkit-measure.lock");
    let held = std::fs::File::create(&lock_path).unwrap();
    held.lock().unwrap();
    std::fs::write(&lock_path, "buildkit tune (pid 4242)\n").unwrap();
    // The live run's edit at the top of the main source.
    let marked = format!(
        "// buildkit tune: a measured edit; tune removes this line when it ends\n{}",
        sandbox.read("src/main.rs")
    );
    sandbox.write("src/main.rs", &marked);
    // bench says first which linkers it leaves out (this project pins none).
    let left_out = |command: &str| {
        if command == "bench" {
            "bench: measuring binary `hello`: the binary of package `hello`, the workspace's default member\nbench: mold left out (buildkit.lock pins none)\nbench: wild left out (buildkit.lock pins none)\n"
        } else {
            ""
        }
    };
    for (command, args) in [
        ("tune", &["tune", "--runs", "3"][..]),
        ("bench", &["bench", "--runs", "1"][..]),
    ] {
        sandbox.run(args).assert_is(&format!(
            "exit 1\n--- stderr\n{}error: [SANDBOX]/project/target/buildkit-measure.lock is held by buildkit tune (pid 4242): one tune or bench measures a project at a time; wait for it to finish, then run `buildkit {command}` again",
            left_out(command)
        ));
        assert_eq!(sandbox.read("src/main.rs"), marked);
    }
    held.unlock().unwrap();
    drop(held);
    let unmarked = marked
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    sandbox.write("src/main.rs", &unmarked);
    // A working directory linked elsewhere: refused, nothing written there.
    let elsewhere = sandbox.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    for (args, dir) in [
        (&["tune", "--runs", "3"][..], "buildkit-tune"),
        (&["bench", "--runs", "1"][..], "buildkit-bench"),
    ] {
        std::os::unix::fs::symlink(&elsewhere, target.join(dir)).unwrap();
        sandbox.run(args).assert_is(&format!(
            "exit 2\n--- stderr\n{}error: [SANDBOX]/project/target/{dir} is a symbolic link; buildkit works there only in a directory of its own: remove the link",
            left_out(args[0])
        ));
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "{dir}");
        std::fs::remove_file(target.join(dir)).unwrap();
    }
    assert_eq!(sandbox.read("src/main.rs"), unmarked);
}

/// A project that builds only with its own cfg, given in a `target.'cfg(all())'` table (as
/// many workspaces give `--cfg tokio_unstable`): every build tune times carries it, and the
/// linker switch still reaches the linker (mold and wild measured, their binaries signed).
#[test]
fn tune_builds_with_the_projects_own_rustflags_and_still_switches_linkers() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    tuned_project(&sandbox, &server);
    sandbox.write(
        ".cargo/config.toml",
        "[target.'cfg(all())']\nrustflags = [\"--cfg\", \"team_cfg\", \"-C\", \"target-feature=-crt-static\"]\n",
    );
    sandbox.write(
        "src/main.rs",
        "#[cfg(not(team_cfg))]\ncompile_error!(\"built without the project's rustflags\");\nfn main() { println!(\"{}\", hello::greeting()); }\n",
    );
    let run = sandbox
        .buildkit(&["tune", "--runs", "3", "--json", "--budget", "10m"])
        .run();
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr
            .contains("every build carries the project's rustflags: --cfg team_cfg -C target-feature=-crt-static"),
        "{run}"
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        measured_linkers(&report),
        ["default", "mold", "wild"],
        "{report}"
    );
}

/// A virtual workspace of two members with a binary each, the helper `gen` listed first and
/// the editor `zed` its only default member; `package` adds lines to each `[package]`. The
/// helper's main.rs is written, the editor's is the test's.
fn editor_workspace(sandbox: &Sandbox, package: &str) {
    sandbox.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/helper\", \"crates/editor\"]\ndefault-members = [\"crates/editor\"]\nresolver = \"2\"\n",
    );
    for (name, bin) in [("helper", "gen"), ("editor", "zed")] {
        sandbox.write(
            &format!("crates/{name}/Cargo.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{package}\n[[bin]]\nname = \"{bin}\"\npath = \"src/main.rs\"\n"),
        );
    }
    sandbox.write("crates/helper/src/main.rs", "fn main() {}\n");
}

/// A virtual workspace whose `default-members` names the editor, with a helper binary in
/// another member listed first: tune measures the editor, and says so and why.
#[test]
fn tune_measures_the_default_members_binary() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        &format!("[toolchain]\nrust = \"{}\"\n", rust_version()),
    );
    editor_workspace(&sandbox, "");
    sandbox.write("crates/editor/src/main.rs", "fn main() {}\n");
    let run = sandbox
        .buildkit(&["tune", "--offline", "--budget", "1s", "--json"])
        .run();
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.lines().any(|l| l
            == "tune: measuring binary `zed`: the binary of package `editor`, the workspace's default member"),
        "{run}"
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        report["edited"]
            .as_str()
            .unwrap()
            .ends_with("crates/editor/src/main.rs"),
        "{report}"
    );
    // Without default-members, two binaries: tune asks instead of guessing.
    sandbox.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/helper\", \"crates/editor\"]\nresolver = \"2\"\n",
    );
    sandbox.run(&["tune", "--offline"]).assert_is(
        "exit 2\n--- stderr\nerror: 2 packages have binaries, so which build to measure is not clear: helper (gen); editor (zed); choose one with --bin NAME (or set `default-members`) (the workspace at [SANDBOX]/project)",
    );
    // bench chooses alike, and --bin settles it.
    let bench = [
        "bench",
        "--linkers",
        "default",
        "--scenario",
        "edit",
        "--runs",
        "1",
    ];
    let run = sandbox.run(&bench);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("2 packages have binaries"), "{run}");
    let run = sandbox.run(&[&bench[..], &["--bin", "zed"]].concat());
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr
            .lines()
            .any(|l| l == "bench: measuring binary `zed`: `--bin zed` of package `editor`"),
        "{run}"
    );
}

/// bench times only the scenario asked for, and within --budget: a configuration whose warm-up
/// does not fit is left out, a pass that does not fit ends its scenario's runs, each said in a
/// line, and what was left out is not an error.
#[test]
fn bench_times_the_scenario_asked_for_within_its_budget() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    tuned_project(&sandbox, &server);
    sandbox.run(&["bench", "--scenario", "edit", "--sccache"]).assert_is(
        "exit 2\n--- stderr\nerror: --sccache times clean builds through the cache, which --scenario edit leaves out: use --scenario clean or both",
    );
    let run = sandbox
        .buildkit(&[
            "bench",
            "--scenario",
            "edit",
            "--linkers",
            "default,mold,wild",
            "--runs",
            "2",
            "--json",
        ])
        .run();
    assert_eq!(run.code, 0, "{run}");
    insta::assert_snapshot!(crate::e2e::figures(&run.stderr), @"
    bench: measuring binary `hello`: the binary of package `hello`, the workspace's default member
    bench: warm-up: default
    bench: warm-up: mold
    bench: warm-up: wild
    bench: [1/6] default edit: N s, about T left
    bench: [2/6] mold edit: N s, about T left
    bench: [3/6] wild edit: N s, about T left
    bench: [4/6] default edit: N s, about T left
    bench: [5/6] mold edit: N s, about T left
    bench: [6/6] wild edit: N s
    ");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows: Vec<String> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["config"].as_str().unwrap(),
                r["scenario"].as_str().unwrap(),
                r["runs"],
                r["linker_seen"]
                    .as_str()
                    .unwrap_or("-")
                    .split(' ')
                    .next()
                    .unwrap()
            )
        })
        .collect();
    assert_eq!(
        rows,
        ["default edit 2 LLD", "mold edit 2 mold", "wild edit 2 Wild"],
        "{report}"
    );

    // No time at all: the first warm-up still runs (it is the estimate), the rest is said.
    let run = sandbox
        .buildkit(&["bench", "--scenario", "edit", "--budget", "0s", "--json"])
        .run();
    assert_eq!(run.code, 0, "{run}");
    insta::assert_snapshot!(crate::e2e::figures(&run.stderr), @"
    bench: measuring binary `hello`: the binary of package `hello`, the workspace's default member
    bench: warm-up: default
    bench: mold left out: its warm-up (a clean build, about N s) does not fit the N s left of --budget
    bench: wild left out: its warm-up (a clean build, about N s) does not fit the N s left of --budget
    bench: lld left out: its warm-up (a clean build, about N s) does not fit the N s left of --budget
    bench: bfd left out: its warm-up (a clean build, about N s) does not fit the N s left of --budget
    bench: edit builds stop after 0 of 5 runs: a pass takes about N s, N s is left of --budget
    ");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["results"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["results"][0]["runs"], 0, "{report}");
    assert_eq!(report["notes"].as_array().unwrap().len(), 6, "{report}");
}

/// The project of issue 26 as a whole: a virtual workspace whose `default-members` names the
/// editor (a helper binary listed first), its own cfg in a `target.'cfg(all())'` table that the
/// editor needs to compile, and a rust-toolchain.toml pinning a Rust that is not installed.
/// init says why it pins another, generate names both ways past its refusal, and tune times the
/// editor with the project's cfg in every build, mold and wild measured and signed.
#[test]
fn a_virtual_workspace_with_its_own_flags_and_pin_is_measured_as_it_builds() {
    let sandbox = Sandbox::new();
    let server = Server::start();
    editor_workspace(&sandbox, "rust-version = \"1.90\"\n");
    sandbox.write(
        "crates/editor/src/main.rs",
        "#[cfg(not(team_cfg))]\ncompile_error!(\"built without the project's rustflags\");\nfn main() { println!(\"editor\"); }\n",
    );
    sandbox.write(
        ".cargo/config.toml",
        "[target.'cfg(all())']\nrustflags = [\"--cfg\", \"team_cfg\"]\n",
    );
    sandbox.write(
        "rust-toolchain.toml",
        "[toolchain]\nchannel = \"1.90.0\"\ncomponents = [\"clippy\"]\n",
    );
    // As a contributor's shell runs it: rustup picks the toolchain from the file.
    let contributor = |args: &[&str]| sandbox.buildkit(args).env_remove("RUSTUP_TOOLCHAIN").run();
    let run = contributor(&["init", "--no-sccache"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("note: [SANDBOX]/project/rust-toolchain.toml names Rust 1.90.0, not installed here (`rustup toolchain install 1.90.0` installs it); pinned Rust 1.95.0"),
        "{run}"
    );
    // The tools from loopback, as the lock pins them.
    write_tuned_manifest(&sandbox, &server, "[ci]\nproviders = []\n");
    let run = contributor(&["generate"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("re-run with --force")
            && run
                .stderr
                .contains("set `[toolchain] file = false` in buildkit.toml"),
        "{run}"
    );
    contributor(&["generate", "--force"]).success();
    assert_eq!(
        sandbox
            .read("rust-toolchain.toml")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect::<Vec<_>>(),
        [
            "[toolchain]",
            &format!("channel = \"{}\"", rust_version()),
            "components = [\"clippy\"]"
        ]
    );
    contributor(&["setup", "--quiet"]).success();
    let run = contributor(&["tune", "--runs", "3", "--json", "--budget", "10m"]);
    assert_eq!(run.code, 0, "{run}");
    for line in [
        "tune: measuring binary `zed`: the binary of package `editor`, the workspace's default member",
        "tune: every build carries the project's rustflags: --cfg team_cfg",
    ] {
        assert!(run.stderr.lines().any(|l| l == line), "{line}\n{run}");
    }
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        measured_linkers(&report),
        ["default", "mold", "wild"],
        "{report}"
    );
    assert!(
        report["edited"]
            .as_str()
            .unwrap()
            .ends_with("crates/editor/src/main.rs"),
        "{report}"
    );
}
