#!/usr/bin/env python3
"""Runs one job of a GitHub Actions workflow on this machine, step by step, as a runner would.

Enough of the runner to execute what buildkit generates, and to fail loudly on anything else:
- `run:` steps in `bash --noprofile --norc -eo pipefail`, with GITHUB_ENV, GITHUB_PATH and
  GITHUB_OUTPUT honoured between steps (the heredoc form of GITHUB_ENV too);
- `uses: ./path` composite actions (their steps run in the job, `inputs` evaluated);
- `actions/checkout`: the workspace is already the checkout (the caller prepares it);
- `actions/cache`: restore by key, then by restore-keys prefix (newest first), from a local
  store directory, and a post step that saves the paths when the key did not hit exactly;
- `actions/github-script`: the script runs in node with a `core.exportVariable` shim;
- `${{ }}` expressions: contexts (github, runner, env, steps, inputs), string and boolean
  literals, == != && || !, parentheses, hashFiles().
Before the post steps, a running sccache server is stopped (a real runner kills the job's
processes at its end; stopping first makes sure the cache directory is complete when saved).

Usage: gha_run.py WORKFLOW JOB --workspace DIR --home DIR --store DIR [--env K=V ...]
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import yaml

from common import passthrough_env


class Failure(Exception):
    pass


# ---- expressions ----------------------------------------------------------------------------

TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
    r"|(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_*][A-Za-z0-9_\-]*)*))"
)


def tokenize(text):
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Failure(f"cannot parse expression at {text[pos:]!r} in {text!r}")
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


class Expr:
    def __init__(self, text, job):
        self.tokens, self.i, self.job, self.text = tokenize(text), 0, job, text

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self):
        value = self.or_()
        if self.i != len(self.tokens):
            raise Failure(f"trailing tokens in expression {self.text!r}")
        return value

    def or_(self):
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = left if truthy(left) else right
        return left

    def and_(self):
        left = self.cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.cmp()
            left = right if truthy(left) else left
        return left

    def cmp(self):
        left = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            right = self.unary()
            equal = str(left).lower() == str(right).lower()
            left = equal if op == "==" else not equal
        return left

    def unary(self):
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self):
        kind, value = self.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value)
        if kind == "op" and value == "(":
            inner = self.or_()
            if self.take() != ("op", ")"):
                raise Failure(f"missing ) in {self.text!r}")
            return inner
        if kind == "name":
            if self.peek() == ("op", "("):
                self.take()
                args = []
                while self.peek() != ("op", ")"):
                    args.append(self.or_())
                    if self.peek() == ("op", ","):
                        self.take()
                self.take()
                return self.job.call(value, args)
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            return self.job.lookup(value)
        raise Failure(f"unexpected {value!r} in expression {self.text!r}")


def truthy(value):
    return value not in (None, False, "", 0, 0.0)


# ---- the job --------------------------------------------------------------------------------


class Job:
    def __init__(self, workspace, home, store, extra_env):
        self.workspace = os.path.abspath(workspace)
        self.home = os.path.abspath(home)
        self.store = os.path.abspath(store)
        self.temp = tempfile.mkdtemp(prefix="runner-temp-")
        self.files = {
            name: os.path.join(self.temp, f"_{name.lower()}")
            for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")
        }
        for path in self.files.values():
            open(path, "w").close()
        self.env = dict(extra_env)  # variables set by earlier steps (GITHUB_ENV)
        self.path_entries = []  # GITHUB_PATH, newest first
        self.steps = {}  # id -> {"outputs": {...}}
        self.posts = []
        self.inputs = {}
        self.base_env = {
            "PATH": os.environ["PATH"],
            "HOME": self.home,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": self.workspace,
            "GITHUB_RUN_ID": str(int(time.time())),
            "RUNNER_TEMP": self.temp,
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "LANG": "C.UTF-8",
        }
        self.base_env.update(passthrough_env())

    # contexts
    def lookup(self, dotted):
        parts = dotted.split(".")
        head, rest = parts[0], parts[1:]
        if head == "github":
            ctx = {"workspace": self.workspace, "run_id": self.base_env["GITHUB_RUN_ID"]}
        elif head == "runner":
            ctx = {"temp": self.temp, "os": "Linux", "arch": "X64"}
        elif head == "env":
            ctx = self.environment({})
        elif head == "steps":
            ctx = self.steps
        elif head == "inputs":
            ctx = self.inputs
        else:
            raise Failure(f"unknown context {head!r} in {dotted!r}")
        for part in rest:
            ctx = ctx.get(part, "") if isinstance(ctx, dict) else ""
        return ctx

    def call(self, name, args):
        if name == "hashFiles":
            digest = hashlib.sha256()
            matched = []
            for pattern in args:
                matched += [
                    p for p in glob.glob(os.path.join(self.workspace, pattern), recursive=True)
                    if os.path.isfile(p)
                ]
            if not matched:
                return ""
            for path in sorted(set(matched)):
                with open(path, "rb") as f:
                    digest.update(hashlib.sha256(f.read()).digest())
            return digest.hexdigest()
        if name == "format":
            text = str(args[0])
            for i, arg in enumerate(args[1:]):
                text = text.replace("{%d}" % i, str(arg))
            return text
        raise Failure(f"unsupported function {name}()")

    def expand(self, value):
        if not isinstance(value, str):
            return value
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(Expr(m.group(1), self).parse()), value)

    def condition(self, text):
        if text is None:
            return True
        text = str(text).strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2]
        return truthy(Expr(text, self).parse())

    def environment(self, step_env):
        env = dict(self.base_env)
        env.update(self.env)
        env["PATH"] = ":".join(self.path_entries + [self.base_env["PATH"]])
        env.update({k: str(self.expand(v)) for k, v in (step_env or {}).items()})
        env.update(self.files)
        return env

    def absorb_files(self, step_id):
        with open(self.files["GITHUB_ENV"]) as f:
            lines = f.read().splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
                name, delimiter = line.split("<<", 1)
                value = []
                i += 1
                while lines[i] != delimiter:
                    value.append(lines[i])
                    i += 1
                self.env[name] = "\n".join(value)
            elif "=" in line:
                name, value = line.split("=", 1)
                self.env[name] = value
            elif line.strip():
                raise Failure(f"malformed GITHUB_ENV line: {line!r}")
            i += 1
        with open(self.files["GITHUB_PATH"]) as f:
            for entry in f.read().splitlines():
                if entry.strip():
                    self.path_entries.insert(0, entry.strip())
        outputs = {}
        with open(self.files["GITHUB_OUTPUT"]) as f:
            for line in f.read().splitlines():
                if "=" in line:
                    name, value = line.split("=", 1)
                    outputs[name] = value
        if step_id:
            self.steps.setdefault(step_id, {"outputs": {}})["outputs"].update(outputs)
        for path in self.files.values():
            open(path, "w").close()

    # steps
    def run_steps(self, steps, base_dir, label):
        for index, step in enumerate(steps):
            name = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
            name = self.expand(name)
            if not self.condition(step.get("if")):
                print(f"[{label}] skip: {name}", flush=True)
                continue
            print(f"[{label}] step: {name}", flush=True)
            step_id = step.get("id")
            if "run" in step:
                self.run_shell(step, base_dir)
            elif "uses" in step:
                self.run_uses(step, base_dir)
            else:
                raise Failure(f"step {index} has neither run nor uses")
            self.absorb_files(step_id)

    def run_shell(self, step, base_dir):
        shell = step.get("shell", "bash")
        if shell != "bash":
            raise Failure(f"unsupported shell {shell!r}")
        script = self.expand(step["run"])
        cwd = self.expand(step.get("working-directory", self.workspace))
        cwd = os.path.join(self.workspace, cwd)
        fd, path = tempfile.mkstemp(dir=self.temp, suffix=".sh")
        with os.fdopen(fd, "w") as f:
            f.write(script)
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", path],
            cwd=cwd,
            env=self.environment(step.get("env")),
        )
        if result.returncode != 0:
            raise Failure(f"step failed (exit {result.returncode}): {script.strip()[:200]}")

    def run_uses(self, step, base_dir):
        uses = step["uses"]
        with_ = {k: self.expand(v) for k, v in (step.get("with") or {}).items()}
        if uses.startswith("./"):
            action_dir = os.path.join(self.workspace, uses[2:])
            action_file = next(
                (os.path.join(action_dir, n) for n in ("action.yml", "action.yaml")
                 if os.path.isfile(os.path.join(action_dir, n))),
                None,
            )
            if not action_file:
                raise Failure(f"{uses}: no action.yml")
            with open(action_file) as f:
                action = yaml.safe_load(f)
            if action.get("runs", {}).get("using") != "composite":
                raise Failure(f"{uses}: only composite actions are supported")
            saved = self.inputs
            self.inputs = {
                name: with_.get(name, spec.get("default", ""))
                for name, spec in (action.get("inputs") or {}).items()
            }
            unknown = set(with_) - set(self.inputs)
            if unknown:
                raise Failure(f"{uses}: unknown inputs {sorted(unknown)}")
            self.run_steps(action["runs"]["steps"], action_dir, uses)
            self.inputs = saved
            return
        repo, _, ref = uses.partition("@")
        if not re.fullmatch(r"[0-9a-f]{40}", ref):
            raise Failure(f"{uses}: not pinned to a full commit SHA")
        if repo == "actions/checkout":
            return
        if repo == "actions/cache":
            self.cache_restore(step.get("id"), with_)
            return
        if repo == "actions/github-script":
            self.github_script(with_["script"], step.get("env"))
            return
        raise Failure(f"unsupported action {uses}")

    # actions/cache
    def cache_paths(self, with_):
        paths = [p.strip() for p in with_["path"].splitlines() if p.strip()]
        return [os.path.expanduser(p.replace("~", self.home, 1)) if p.startswith("~") else
                os.path.join(self.workspace, p) for p in paths]

    def cache_restore(self, step_id, with_):
        key = with_["key"]
        restore_keys = [k.strip() for k in str(with_.get("restore-keys", "")).splitlines() if k.strip()]
        os.makedirs(self.store, exist_ok=True)
        entries = sorted(
            (os.path.getmtime(os.path.join(self.store, f)), f[:-len(".tar")])
            for f in os.listdir(self.store) if f.endswith(".tar")
        )
        found = None
        if key in {k for _, k in entries}:
            found = key
        else:
            for prefix in restore_keys:
                matches = [k for _, k in entries if k.startswith(prefix)]
                if matches:
                    found = matches[-1]
                    break
        exact = found == key
        if found:
            with tarfile.open(os.path.join(self.store, found + ".tar")) as tar:
                tar.extractall("/", filter="fully_trusted")
            print(f"    cache restored from key {found}{' (exact)' if exact else ''}", flush=True)
        else:
            print(f"    cache not found for {key}", flush=True)
        if step_id:
            self.steps.setdefault(step_id, {"outputs": {}})["outputs"]["cache-hit"] = (
                "true" if exact else "false")
        paths = self.cache_paths(with_)
        self.posts.append((key, exact, paths))

    def cache_save(self, key, exact, paths):
        if exact:
            print(f"[post] cache hit on {key}: not saved", flush=True)
            return
        existing = [p for p in paths if os.path.exists(p)]
        if not existing:
            print(f"[post] nothing to save for {key}", flush=True)
            return
        target = os.path.join(self.store, key + ".tar")
        with tarfile.open(target + ".partial", "w") as tar:
            for path in existing:
                tar.add(path, arcname=path.lstrip("/"))
        os.replace(target + ".partial", target)
        print(f"[post] cache saved: {key}", flush=True)

    # actions/github-script
    def github_script(self, script, step_env):
        shim = (
            "const fs = require('fs');\n"
            "const core = { exportVariable(name, value) {\n"
            "  const d = 'ghadelimiter_' + Math.random().toString(36).slice(2);\n"
            "  fs.appendFileSync(process.env.GITHUB_ENV, `${name}<<${d}\\n${value}\\n${d}\\n`);\n"
            "  process.env[name] = String(value); } };\n"
            "(async () => {\n" + script + "\n})().catch(e => { console.error(e); process.exit(1); });\n"
        )
        result = subprocess.run(["node", "-e", shim], env=self.environment(step_env), cwd=self.workspace)
        if result.returncode != 0:
            raise Failure("github-script step failed")

    def finish(self, succeeded):
        env = self.environment({})
        if shutil.which("sccache", path=env["PATH"]):
            subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True)
        # actions/cache saves in a post step that runs only when the job succeeded.
        if succeeded:
            for key, exact, paths in reversed(self.posts):
                self.cache_save(key, exact, paths)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workflow")
    parser.add_argument("job")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--env", action="append", default=[])
    args = parser.parse_args()
    with open(args.workflow) as f:
        workflow = yaml.safe_load(f)
    job_spec = workflow["jobs"][args.job]
    extra = dict(e.split("=", 1) for e in args.env)
    os.makedirs(args.home, exist_ok=True)
    job = Job(args.workspace, args.home, args.store, extra)
    # workflow- and job-level env apply to every step
    for scope in (workflow.get("env") or {}, job_spec.get("env") or {}):
        job.env.update({k: str(job.expand(v)) for k, v in scope.items()})
    try:
        job.run_steps(job_spec["steps"], job.workspace, args.job)
    except Failure as e:
        print(f"gha_run: {e}", file=sys.stderr)
        job.finish(succeeded=False)
        return 1
    job.finish(succeeded=True)
    print(f"gha_run: job {args.job} succeeded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
