#!/usr/bin/env python3
"""What a team cache saves a second machine: clean builds of a workspace timed three ways, in
interleaved rounds, each ratio to the build without sccache of the same round:

- none:  no sccache (cargo as it is);
- cold:  through sccache with an empty cache (the remote flushed, a fresh local level): what
         the first machine of the team pays, and how the remote gets filled;
- team:  through sccache on a second "machine" (a fresh local level and target directory) at
         the same layout, the remote filled by the cold build: what every other machine gets.

The cache is what `buildkit env` configures for `[cache] backend = "redis"` with local_first:
sccache's multi-level chain `disk,redis`, a real redis-server on a free loopback port (its data
in a temporary directory, stopped at the end). Every build has CARGO_INCREMENTAL=0, as in CI.

Usage: bench/team_cache.py WORKSPACE [--runs N] [--sccache PATH]
Run it on a quiet machine; it prints figures and never fails on them.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis(port, *command):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall((" ".join(command) + "\r\n").encode())
        return s.recv(4096).decode().strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workspace")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sccache", default=str(Path(sysconfig.get_path("scripts")) / "sccache"))
    args = parser.parse_args()
    workspace = Path(args.workspace).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="team-cache-bench-"))
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(scratch)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                redis(port, "PING")
                break
            except OSError:
                time.sleep(0.1)
        target = scratch / "target"
        results = {"none": [], "cold": [], "team": []}

        def build(kind, run):
            shutil.rmtree(target, ignore_errors=True)
            env = dict(os.environ, CARGO_TARGET_DIR=str(target), CARGO_INCREMENTAL="0")
            env.pop("RUSTC_WRAPPER", None)
            sccache_port = str(free_port())
            if kind != "none":
                if kind == "cold":
                    redis(port, "FLUSHALL")
                local = scratch / f"local-{kind}-{run}"
                shutil.rmtree(local, ignore_errors=True)
                env.update(RUSTC_WRAPPER=args.sccache, SCCACHE_DIR=str(local),
                           SCCACHE_REDIS_ENDPOINT=f"redis://127.0.0.1:{port}",
                           SCCACHE_MULTILEVEL_CHAIN="disk,redis", SCCACHE_SERVER_PORT=sccache_port)
            start = time.perf_counter()
            subprocess.run(["cargo", "build", "--quiet"], cwd=workspace, env=env, check=True)
            seconds = time.perf_counter() - start
            hits = ""
            if kind != "none":
                out = subprocess.run([args.sccache, "--show-stats", "--stats-format", "json"],
                                     env=env, capture_output=True, text=True).stdout
                stats = json.loads(out)["stats"]
                hit = stats["cache_hits"]["counts"].get("Rust", 0)
                miss = stats["cache_misses"]["counts"].get("Rust", 0)
                hits = f" ({hit} hits, {miss} misses)"
                subprocess.run([args.sccache, "--stop-server"], env=env, capture_output=True)
            print(f"round {run + 1}: {kind:<5} {seconds:7.1f} s{hits}", flush=True)
            return seconds

        build("none", -1)  # warm-up: crates downloaded, the disk cache warm
        for run in range(args.runs):
            for kind in ("none", "cold", "team"):
                results[kind].append(build(kind, run))
        shutil.rmtree(target, ignore_errors=True)
        crates = len(json.loads(subprocess.run(
            ["cargo", "metadata", "--format-version", "1"], cwd=workspace, check=True,
            capture_output=True, text=True).stdout)["resolve"]["nodes"])
        print(f"\n{workspace.name}: {crates} crates in the resolve, {args.runs} interleaved rounds")
        for kind in ("none", "cold", "team"):
            ratios = [t / n for t, n in zip(results[kind], results["none"])]
            print(f"{kind:<5} median {statistics.median(results[kind]):7.1f} s   "
                  f"ratio to none, run by run: {', '.join(f'{r:.2f}' for r in ratios)}")
    finally:
        server.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
