#!/usr/bin/env python3
"""Runs one job of a .gitlab-ci.yml on this machine, as GitLab's shell executor would.

Enough of GitLab to execute what buildkit generates: `include: local`, `extends` (deep merge,
the job's own keys win), `variables` (expanded against the predefined ones), `cache:` (one or a
list; `key` as a string or `files` + `prefix`; restored before the job, saved after a successful
one from paths relative to the project), and `before_script` + `script` in one bash, each line
checked. The job's `image` is not pulled: the commands run on this machine, whose toolchain
stands in for it. A running sccache server is stopped before the caches are saved.

Usage: gitlab_run.py PROJECT_DIR JOB --store DIR --home DIR [--env K=V ...]
"""

import argparse
import copy
import hashlib
import os
import re
import subprocess
import sys
import tarfile

import yaml

from common import passthrough_env


def load(project, name):
    with open(os.path.join(project, name)) as f:
        return yaml.safe_load(f) or {}


def merge(base, over):
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(config, name, seen=()):
    job = config[name]
    parents = job.get("extends", [])
    if isinstance(parents, str):
        parents = [parents]
    merged = {}
    for parent in parents:
        if parent in seen:
            raise SystemExit(f"gitlab_run: extends loop at {parent}")
        merged = merge(merged, resolve(config, parent, seen + (name,)))
    return merge(merged, {k: v for k, v in job.items() if k != "extends"})


def expand(value, env):
    return re.sub(
        r"\$(?:\{(\w+)\}|(\w+))",
        lambda m: env.get(m.group(1) or m.group(2), ""),
        str(value),
    )


def cache_key(spec, project):
    key = spec.get("key", "default")
    if isinstance(key, dict):
        digest = hashlib.sha256()
        for name in key["files"]:
            path = os.path.join(project, name)
            digest.update(name.encode())
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    digest.update(hashlib.sha256(f.read()).digest())
        key = f"{key.get('prefix', 'files')}-{digest.hexdigest()[:40]}"
    if not re.fullmatch(r"[\w.\-]+", key):
        raise SystemExit(f"gitlab_run: cache key {key!r} is not a valid GitLab key")
    return key


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    parser.add_argument("job")
    parser.add_argument("--store", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--env", action="append", default=[])
    args = parser.parse_args()
    project = os.path.abspath(args.project)

    config = load(project, ".gitlab-ci.yml")
    includes = config.pop("include", [])
    for include in includes if isinstance(includes, list) else [includes]:
        local = include["local"] if isinstance(include, dict) else include
        config = merge(load(project, local.lstrip("/")), config)
    job = resolve(config, args.job)

    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.path.abspath(args.home),
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_PROJECT_DIR": project,
        "LANG": "C.UTF-8",
    }
    env.update(passthrough_env())
    env.update(dict(e.split("=", 1) for e in args.env))
    for name, value in (job.get("variables") or {}).items():
        env[name] = expand(value, env)
    os.makedirs(env["HOME"], exist_ok=True)

    caches = job.get("cache") or []
    caches = caches if isinstance(caches, list) else [caches]
    os.makedirs(args.store, exist_ok=True)
    for spec in caches:
        key = cache_key(spec, project)
        archive = os.path.join(args.store, key + ".tar")
        if os.path.isfile(archive):
            with tarfile.open(archive) as tar:
                tar.extractall(project, filter="fully_trusted")
            print(f"[cache] restored {key}", flush=True)
        else:
            print(f"[cache] no cache for {key}", flush=True)

    lines = list(job.get("before_script") or []) + list(job.get("script") or [])
    script = "set -eo pipefail\n" + "".join(
        f"echo {shlex_quote('$ ' + line)}\n{line}\n" for line in lines
    )
    result = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=project, env=env)

    # The job's processes end with it: stop the sccache server it started (found the way the
    # job found it), so that the cache directory is complete before it is saved.
    subprocess.run(
        ["bash", "-c", 'export PATH="$CI_PROJECT_DIR/.buildkit/cli/bin:$PATH"; '
         'eval "$(buildkit env --shell sh 2>/dev/null)" && sccache --stop-server'],
        cwd=project, env=env, capture_output=True)
    if result.returncode != 0:
        print(f"gitlab_run: job {args.job} failed (exit {result.returncode})", file=sys.stderr)
        return 1
    for spec in caches:
        key = cache_key(spec, project)
        archive = os.path.join(args.store, key + ".tar")
        with tarfile.open(archive + ".partial", "w") as tar:
            for path in spec.get("paths", []):
                full = os.path.join(project, path)
                if os.path.exists(full):
                    tar.add(full, arcname=path.rstrip("/"))
        os.replace(archive + ".partial", archive)
        print(f"[cache] saved {key}", flush=True)
    print(f"gitlab_run: job {args.job} succeeded", flush=True)
    return 0


def shlex_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    sys.exit(main())
