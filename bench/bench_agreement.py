#!/usr/bin/env python3
"""Does `buildkit bench` measure what it says? Prints figures; exits 1 when they disagree.

Runs `buildkit bench --linkers default --runs N --json` on a project, then times the same
builds from outside, as a user would with `time cargo build`: the same target-directory scheme,
flags and profile settings, a clean build (target directory removed first) and an edit-loop
build (after the edit bench makes to the main source). bench's medians must agree with the outside medians within 10 %:
what bench adds (its own process, the .comment read, bookkeeping) must not show in its figures.

With --tune, the same for `buildkit tune --runs N --json --keep`: the edit loop of cargo's
defaults and of the configuration tune confirmed, timed again from outside in tune's kept
target directory, through tune's own link script, with the same profile settings, touching the
same file the same way, interleaved. tune's medians must agree with those within 10 %.

Usage: bench/bench_agreement.py PROJECT [--runs N] [--buildkit PATH] [--tune [--apply] [--edit FILE]]
(with --tune, tune's JSON report is kept in PROJECT/target/tune-report.json)
The project needs a buildkit.toml; run it on a quiet machine.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--buildkit", default=str(ROOT / "target/release/buildkit"))
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--apply", action="store_true", help="with --tune: pass --apply to tune")
    parser.add_argument("--edit", metavar="FILE", help="with --tune: the file tune's edit loop edits")
    args = parser.parse_args()
    project = Path(args.project).resolve()
    args.buildkit = str(Path(args.buildkit).resolve())
    if not Path(args.buildkit).is_file():
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)

    if args.tune:
        return tune_agreement(args, project)

    out = subprocess.run([args.buildkit, "bench", "--linkers", "default", "--runs", str(args.runs), "--json"],
                         cwd=project, check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    inside = {r["scenario"]: r["median_s"] for r in report["results"] if r["config"] == "default"}

    metadata = json.loads(subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1"],
                                         cwd=project, check=True, capture_output=True, text=True).stdout)
    target_dir = Path(metadata["target_directory"]) / "buildkit-bench-outside"
    members = [p for p in metadata["packages"] if p["id"] in metadata["workspace_members"]]
    main_src = next(t["src_path"] for p in members for t in p["targets"] if "bin" in t["kind"])
    # The same settings bench gives the `default` configuration: buildkit.toml's profile
    # (read back from bench's own record of it would be circular; `buildkit env` is not needed).
    profile_args = []
    config = (project / ".cargo/config.toml")
    if config.is_file():
        import tomllib
        profiles = tomllib.loads(config.read_text()).get("profile", {})
        for name, table in profiles.items():
            for key, value in table.items():
                if not isinstance(value, dict):
                    profile_args += ["--config", f"profile.{name}.{key}={json.dumps(value)}"]
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir), CARGO_ENCODED_RUSTFLAGS="", RUSTC_WRAPPER="")
    cargo = ["cargo", "build", "--quiet", *profile_args]

    def timed():
        start = time.perf_counter()
        subprocess.run(cargo, cwd=project, env=env, check=True)
        return time.perf_counter() - start

    shutil.rmtree(target_dir, ignore_errors=True)
    timed()  # warm-up, as bench does
    outside = {"clean": [], "edit": []}
    edit = Edit(main_src)
    try:
        for _ in range(args.runs):
            shutil.rmtree(target_dir, ignore_errors=True)
            outside["clean"].append(timed())
            edit.change_for("default")
            outside["edit"].append(timed())
    finally:
        edit.restore()
    shutil.rmtree(target_dir, ignore_errors=True)

    worst = 0.0
    print(f"{'scenario':<8} {'bench median':>13} {'outside median':>15} {'difference':>11}")
    for scenario in ("clean", "edit"):
        theirs = statistics.median(outside[scenario])
        ours = inside[scenario]
        diff = (ours - theirs) / theirs
        worst = max(worst, abs(diff))
        print(f"{scenario:<8} {ours:>11.2f} s {theirs:>13.2f} s {diff:>+10.1%}")
    print(f"largest difference {worst:.1%} (goal: within 10 %)")
    return 0 if worst <= 0.10 else 1


MARK = b"// buildkit tune: a measured edit; tune removes this line when it ends\n"


class Edit:
    """The edit bench and tune make before an edit-loop build (src/commands/measure.rs): a
    comment line at the top of the file, inserted or removed so that each incremental cache
    sees the state it did not compile last. The file is put back by restore()."""

    def __init__(self, path):
        self.path = Path(path)
        self.original = self.path.read_bytes()
        self.compiled = {}

    def change_for(self, cache):
        marked = not self.compiled.get(cache, self.path.read_bytes() != self.original)
        self.path.write_bytes(MARK + self.original if marked else self.original)
        self.compiled[cache] = marked

    def restore(self):
        self.path.write_bytes(self.original)


DEBUG_TOML = {"none": "false", "line-tables-only": '"line-tables-only"', "full": "true"}


def tune_config(settings):
    """The --config arguments tune gives a configuration (src/tune.rs, Settings::cargo_config)."""
    deps = settings["dependencies_debug"] or settings["debug"]
    return [
        "--config", f"profile.dev.debug={DEBUG_TOML[settings['debug']]}",
        "--config", f'profile.dev.package."*".debug={DEBUG_TOML[deps]}',
        "--config", 'profile.dev.split-debuginfo="{}"'.format("unpacked" if settings["split_debuginfo"] else "off"),
        "--config", "profile.dev.build-override.opt-level={}".format(3 if settings["optimized_build_scripts"] else 0),
    ]


def tune_agreement(args, project):
    # tune's progress lines go to this terminal; its report comes back on stdout.
    out = subprocess.run([args.buildkit, "tune", "--runs", str(args.runs), "--json", "--keep",
                          *(["--apply"] if args.apply else []),
                          *(["--edit", str(Path(args.edit).resolve())] if args.edit else [])],
                         cwd=project, check=True, stdout=subprocess.PIPE, text=True)
    (project / "target" / "tune-report.json").write_text(out.stdout)
    report = json.loads(out.stdout)
    # The defaults and the confirmed configuration as tune's last round measured them, side by
    # side (its first round ran minutes earlier, on a machine that may have drifted since).
    base = report.get("confirmation_base") or report["rounds"][0]["results"][0]
    confirmed = report["confirmation"]
    rows = [("cargo's defaults", base)]
    if confirmed:
        rows.append((confirmed["label"], confirmed))
    metadata = json.loads(subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1"],
                                         cwd=project, check=True, capture_output=True, text=True).stdout)
    tune_dir = Path(metadata["target_directory"]) / "buildkit-tune"
    edit = Edit(report["edited"])

    def timed(settings):
        env = dict(os.environ, CARGO_TARGET_DIR=str(tune_dir / "shared"), CARGO_ENCODED_RUSTFLAGS="",
                   RUSTC_WRAPPER="",
                   CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=str(tune_dir / "buildkit-tune-link"),
                   BUILDKIT_TUNE_LINKER=settings["linker"])
        env.pop("CARGO_INCREMENTAL", None)  # the project's own (cargo's default: on), as tune
        # One incremental cache per profile variant, shared by the linkers.
        edit.change_for(" ".join(tune_config(settings)))
        start = time.perf_counter()
        subprocess.run(["cargo", "build", "--quiet", *tune_config(settings)], cwd=project, env=env, check=True)
        return time.perf_counter() - start

    outside = {label: [] for label, _ in rows}
    try:
        for _, row in rows:
            timed(row["settings"])  # warm-up, as tune does
        for _ in range(args.runs):
            for label, row in rows:
                outside[label].append(timed(row["settings"]))
    finally:
        edit.restore()
    shutil.rmtree(tune_dir, ignore_errors=True)

    worst = 0.0
    print(f"tune took {report['seconds']:.0f} s in all")
    print(f"{'configuration':<62} {'tune median':>12} {'outside median':>15} {'difference':>11}")
    for label, row in rows:
        ours = row["median_s"]["edit"]
        theirs = statistics.median(outside[label])
        diff = (ours - theirs) / theirs
        worst = max(worst, abs(diff))
        print(f"{label:<62} {ours:>10.2f} s {theirs:>13.2f} s {diff:>+10.1%}")
    print(f"largest difference {worst:.1%} (goal: within 10 %)")
    return 0 if worst <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
