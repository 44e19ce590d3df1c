#!/usr/bin/env python3
"""Runs every shell line buildkit generated for a project, with harmless stand-ins for the
tools they call, and checks that each file still has exactly the shape buildkit writes.

A value from buildkit.toml that escaped its encoding shows up as one of:
- a marker file (the hostile values given to the test run `touch MARKER_DIR/...`);
- a GitHub expression buildkit did not write (it would be evaluated in CI);
- a YAML key, Dockerfile instruction or ENV variable buildkit does not write;
- a variable `buildkit env` did not mean to set.

Usage: run_generated.py PROJECT MARKER_DIR [ENV_SH ENV_FISH ENV_GITHUB]
Prints `ran N shell lines` and exits 0, or names the violation and exits 1.
Needs PyYAML (a YAML 1.1 parser, like GitHub's and GitLab's readers of U+2028) and, for the
fish output, fish.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

import yaml

STUBS = ["cargo", "rustup", "rustc", "curl", "sudo", "apt-get", "buildkit", "sha256sum",
         "install", "tar", "find", "head", "mkdir", "rm", "ln", "grep", "env"]
# Real tools a payload would use, so that an injection leaves its mark.
REAL = ["touch", "cat"]

# The only expressions buildkit writes into its GitHub action.
OWN_EXPRESSIONS = {
    "runner.temp": "/tmp/runner-temp",
    "runner.os": "Linux",
    "runner.arch": "X64",
    "hashFiles('buildkit.lock')": "h1",
    "hashFiles('**/Cargo.lock')": "h2",
    "hashFiles('**/Cargo.lock', 'buildkit.lock')": "h3",
    "env.SCCACHE_DIR": "/tmp/sccache-dir",
    "env.CARGO_HOME": "/tmp/cargo-home",
    "'${{'": "${{",
}

STEP_KEYS = {"name", "id", "if", "shell", "run", "uses", "with", "working-directory"}
WITH_KEYS = {"path", "key", "restore-keys", "script"}
GITLAB_JOB_KEYS = {"image", "variables", "cache", "before_script"}
DOCKER_INSTRUCTIONS = {"FROM", "RUN", "ENV", "COPY"}


class Violation(Exception):
    pass


def expand(text, where):
    """GitHub's evaluation of `${{ }}`: only buildkit's own expressions may appear."""
    def one(match):
        expr = match.group(1).strip()
        if expr not in OWN_EXPRESSIONS:
            raise Violation(f"{where}: an expression buildkit did not write: ${{{{ {expr} }}}}")
        return OWN_EXPRESSIONS[expr]
    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


class Runner:
    def __init__(self, project, marker_dir):
        self.project = project
        self.marker_dir = marker_dir
        self.scratch = tempfile.mkdtemp(prefix="run-generated-")
        self.stubs = os.path.join(self.scratch, "stubs")
        os.makedirs(self.stubs)
        for name in STUBS:
            path = os.path.join(self.stubs, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(path, 0o755)
        for name in REAL:
            os.symlink(shutil.which(name), os.path.join(self.stubs, name))
        self.home = os.path.join(self.scratch, "home")
        self.work = os.path.join(self.scratch, "work")
        os.makedirs(self.home)
        os.makedirs(self.work)
        self.ran = 0

    def env(self):
        return {
            "PATH": self.stubs,
            "HOME": self.home,
            "GITHUB_ENV": os.path.join(self.scratch, "github_env"),
            "GITHUB_PATH": os.path.join(self.scratch, "github_path"),
            "GITHUB_WORKSPACE": self.project,
            "CI_PROJECT_DIR": self.project,
        }

    def run(self, argv, where):
        result = subprocess.run(argv, cwd=self.work, env=self.env(), capture_output=True,
                                text=True, timeout=60)
        self.ran += 1
        self.check_markers(where)
        return result

    def check_markers(self, where):
        found = os.listdir(self.marker_dir)
        if found:
            raise Violation(f"{where}: a value ran as a command (marker {found[0]} appeared)")

    def sh(self, code, where, shell="/bin/sh"):
        return self.run([shell, "-c", code], where)

    # ---- files ------------------------------------------------------------------------------

    def github_action(self, path):
        doc = yaml.safe_load(open(path))
        if set(doc) != {"name", "description", "runs"}:
            raise Violation(f"{path}: top-level keys {sorted(doc)}")
        expand(str(doc["description"]), f"{path}: description")
        runs = doc["runs"]
        if set(runs) != {"using", "steps"}:
            raise Violation(f"{path}: runs has keys {sorted(runs)}")
        for step in runs["steps"]:
            where = f"{path}: step {step.get('name')!r}"
            if not set(step) <= STEP_KEYS:
                raise Violation(f"{where}: unexpected keys {sorted(set(step) - STEP_KEYS)}")
            for key in ("name", "if", "working-directory"):
                if key in step:
                    expand(str(step[key]), where)
            for key, value in (step.get("with") or {}).items():
                if key not in WITH_KEYS:
                    raise Violation(f"{where}: unexpected input {key!r}")
                expand(str(value), f"{where}: with.{key}")
            if "run" in step:
                self.sh(expand(step["run"], where), where, shell="/bin/bash")

    def gitlab_include(self, path):
        doc = yaml.safe_load(open(path))
        if set(doc) != {".buildkit"}:
            raise Violation(f"{path}: top-level keys {sorted(doc)}")
        job = doc[".buildkit"]
        if not set(job) <= GITLAB_JOB_KEYS:
            raise Violation(f"{path}: unexpected keys {sorted(set(job) - GITLAB_JOB_KEYS)}")
        for name, value in job["variables"].items():
            if not isinstance(value, str) or "\n" in value:
                raise Violation(f"{path}: variable {name} = {value!r}")
        for line in job["before_script"]:
            if not isinstance(line, str):
                raise Violation(f"{path}: before_script entry {line!r}")
            self.sh(line, f"{path}: before_script {line[:40]!r}")

    def dockerfile(self, path):
        text = open(path).read()
        logical, current = [], ""
        for line in text.split("\n"):
            if line.startswith("#") and not current:
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            current += line
            if current.strip():
                logical.append(current.strip())
            current = ""
        for instruction in logical:
            word, _, rest = instruction.partition(" ")
            if word not in DOCKER_INSTRUCTIONS:
                raise Violation(f"{path}: an instruction buildkit does not write: {instruction[:60]!r}")
            if word == "RUN":
                argv = json.loads(rest)
                if argv[:2] != ["/bin/sh", "-c"] or len(argv) != 3:
                    raise Violation(f"{path}: RUN {rest[:60]!r}")
                self.sh(argv[2], f"{path}: RUN")
            elif word == "COPY" and rest.startswith("["):
                json.loads(rest)
            elif word == "COPY" and rest != "buildkit.toml buildkit.lock /usr/local/buildkit/project/":
                raise Violation(f"{path}: COPY {rest!r}")
            elif word == "ENV":
                self.docker_env(path, rest)

    def docker_env(self, path, rest):
        """Each NAME=value word, the value double-quoted with \\-escapes (the builder's rules)."""
        pos = 0
        names = []
        while pos < len(rest):
            match = re.compile(r"\s*([A-Z_][A-Z0-9_]*)=").match(rest, pos)
            if not match:
                raise Violation(f"{path}: ENV {rest[pos:pos + 60]!r}")
            names.append(match.group(1))
            pos = match.end()
            if rest[pos:pos + 1] == '"':
                pos += 1
                while rest[pos] != '"':
                    if rest[pos] == "$":
                        raise Violation(f"{path}: ENV {names[-1]} would expand a variable")
                    pos += 2 if rest[pos] == "\\" else 1
                pos += 1
            else:
                end = rest.find(" ", pos)
                pos = len(rest) if end == -1 else end
        if len(names) != len(set(names)):
            raise Violation(f"{path}: ENV sets a variable twice: {names}")

    def devcontainer(self, path):
        lines = [l for l in open(path).read().split("\n") if not l.startswith("//")]
        doc = json.loads("\n".join(lines))
        if not {"name", "build", "customizations", "postCreateCommand"} <= set(doc) <= {
            "name", "build", "customizations", "postCreateCommand", "remoteEnv",
            "workspaceMount", "workspaceFolder", "containerEnv"}:
            raise Violation(f"{path}: keys {sorted(doc)}")
        # The cache layout's mount: exactly source, target and type, the target the folder.
        if "workspaceMount" in doc:
            options = dict(o.split("=", 1) for o in doc["workspaceMount"].split(","))
            if sorted(options) != ["source", "target", "type"] or options["type"] != "bind" \
                    or options["source"] != "${localWorkspaceFolder}" \
                    or options["target"] != doc.get("workspaceFolder", "").replace(",", "_"):
                raise Violation(f"{path}: workspaceMount {doc['workspaceMount']!r}")
        if set(doc.get("containerEnv", {})) - {"CARGO_HOME"}:
            raise Violation(f"{path}: containerEnv {doc['containerEnv']!r}")

    def env_outputs(self, sh_file, fish_file, github_file):
        self.sh(open(sh_file).read(), "buildkit env --shell sh")
        self.run(["/usr/bin/fish", "--no-config", "-c", f"source {fish_file}"],
                 "buildkit env --shell fish")
        for line in open(github_file).read().splitlines():
            if not re.match(r"^[A-Z_][A-Z0-9_]*=", line):
                raise Violation(f"buildkit env --shell github: line {line!r}")


def main():
    project, marker_dir = sys.argv[1], sys.argv[2]
    runner = Runner(project, marker_dir)
    join = lambda rel: os.path.join(project, rel)
    try:
        tomllib.load(open(join("rust-toolchain.toml"), "rb"))
        tomllib.load(open(join(".cargo/config.toml"), "rb"))
        runner.devcontainer(join(".devcontainer/devcontainer.json"))
        runner.dockerfile(join(".devcontainer/Dockerfile"))
        if os.path.exists(join(".github/actions/buildkit/action.yml")):
            runner.github_action(join(".github/actions/buildkit/action.yml"))
        if os.path.exists(join(".gitlab/buildkit.yml")):
            runner.gitlab_include(join(".gitlab/buildkit.yml"))
        if len(sys.argv) > 3:
            runner.env_outputs(*sys.argv[3:6])
        runner.check_markers("the end")
    except Violation as v:
        print(f"violation: {v}")
        sys.exit(1)
    finally:
        shutil.rmtree(runner.scratch, ignore_errors=True)
    print(f"ran {runner.ran} shell lines")


if __name__ == "__main__":
    main()
