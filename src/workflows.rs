//! The project's own GitHub workflows, read for one thing: jobs that choose their Rust in a way
//! rust-toolchain.toml overrides.
//!
//! rustup ranks its choices: `RUSTUP_TOOLCHAIN`, then `cargo +toolchain`, then a directory
//! override, then rust-toolchain.toml, and only then `rustup default`. An MSRV or nightly job
//! that selects its Rust with `rustup default` (which `dtolnay/rust-toolchain` runs) builds,
//! once buildkit writes the channel into rust-toolchain.toml, with the pinned Rust instead, and
//! passes without testing what it says. `generate` and `doctor` say so, job by job.
//!
//! The reading is line by line, not a YAML parser: it needs a workflow's top-level keys, its
//! jobs' names and the lines of each job, which GitHub's block style gives by indentation, and
//! it only ever adds a warning (a workflow it cannot follow gets none).

use std::fmt;

/// How a job chooses its Rust below rust-toolchain.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `rustup default …` in a `run:` script.
    RustupDefault,
    /// `uses: dtolnay/rust-toolchain@REF`, which runs `rustup default`.
    DtolnayAction { reference: String },
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::RustupDefault => f.write_str("`rustup default`"),
            Selector::DtolnayAction { reference } => write!(
                f,
                "dtolnay/rust-toolchain@{reference} (which runs `rustup default`)"
            ),
        }
    }
}

/// A job whose own choice of Rust rust-toolchain.toml overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverriddenJob {
    pub job: String,
    /// The 1-based line of the step that chooses.
    pub line: usize,
    pub selector: Selector,
}

/// What, in a job's lines (or the workflow's top-level `env:`), makes its choice its own:
/// rustup ranks each of these above rust-toolchain.toml.
const OWN_CHOICE: [&str; 4] = [
    crate::env_vars::RUSTUP_TOOLCHAIN,
    "cargo +",
    "rustup run ",
    "rustup override set",
];

/// The jobs of the workflow `text` that choose their Rust with `rustup default` and nothing
/// rustup ranks above rust-toolchain.toml.
pub fn overridden_jobs(text: &str) -> Vec<OverriddenJob> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, without_comment(line)))
        .filter(|(_, line)| !line.trim().is_empty())
        .collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    // The top-level blocks: a key at column 0 and the lines below it.
    let block = |key: &str| -> &[(usize, &str)] {
        let Some(start) = lines
            .iter()
            .position(|(_, l)| indent(l) == 0 && l.trim_end() == format!("{key}:"))
        else {
            return &[];
        };
        let end = lines[start + 1..]
            .iter()
            .position(|(_, l)| indent(l) == 0)
            .map_or(lines.len(), |n| start + 1 + n);
        &lines[start + 1..end]
    };
    let own_choice = |lines: &[(usize, &str)]| {
        lines
            .iter()
            .any(|(_, l)| OWN_CHOICE.iter().any(|own| l.contains(own)))
    };
    if own_choice(block("env")) {
        return Vec::new();
    }
    let jobs = block("jobs");
    let Some(job_indent) = jobs.first().map(|(_, l)| indent(l)) else {
        return Vec::new();
    };
    let starts: Vec<usize> = (0..jobs.len())
        .filter(|&i| indent(jobs[i].1) == job_indent)
        .collect();
    let mut found = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(jobs.len());
        let body = &jobs[start + 1..end];
        if own_choice(body) {
            continue;
        }
        let job = jobs[start]
            .1
            .trim()
            .trim_end_matches(':')
            .trim_matches(['"', '\''])
            .to_string();
        let chooses = body.iter().find_map(|&(line, text)| {
            let text = text.trim().trim_start_matches("- ").trim();
            let selector = if let Some(action) = text.strip_prefix("uses:") {
                let action = action.trim().trim_matches(['"', '\'']);
                action
                    .strip_prefix("dtolnay/rust-toolchain@")
                    .map(|reference| Selector::DtolnayAction {
                        reference: reference.to_string(),
                    })
            } else if text.contains("rustup default ") || text.ends_with("rustup default") {
                Some(Selector::RustupDefault)
            } else {
                None
            };
            selector.map(|selector| (line, selector))
        });
        if let Some((line, selector)) = chooses {
            found.push(OverriddenJob {
                job,
                line,
                selector,
            });
        }
    }
    found
}

/// `line` without a YAML comment: a `#` at its start or after a space (not one inside a word,
/// as in a URL's fragment). Quotes are not followed: a `#` in a quoted string after a space is
/// read as a comment, which at worst hides a step from this reading.
fn without_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #") {
        Some(at) => &line[..at],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CI: &str = r#"name: CI
on: [push, pull_request]

jobs:
  msrv:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - uses: dtolnay/rust-toolchain@1.90 # the MSRV
      - run: cargo check --locked
  test:
    strategy:
      matrix:
        rust: [stable, beta]
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: |
          rustup toolchain install ${{ matrix.rust }}
          rustup default ${{ matrix.rust }}
      - run: cargo test
  "lint":
    runs-on: ubuntu-24.04
    env:
      RUSTUP_TOOLCHAIN: nightly
    steps:
      - uses: dtolnay/rust-toolchain@nightly
      - run: cargo clippy
  plus:
    runs-on: ubuntu-24.04
    steps:
      - uses: "dtolnay/rust-toolchain@master"
      - run: cargo +1.90 check
  # - uses: dtolnay/rust-toolchain@stable
  docs:
    runs-on: ubuntu-24.04
    steps:
      - run: cargo doc # rustup default nightly
"#;

    #[test]
    fn jobs_that_choose_with_rustup_default_and_nothing_above_it_are_found() {
        assert_eq!(
            overridden_jobs(CI),
            [
                OverriddenJob {
                    job: "msrv".into(),
                    line: 9,
                    selector: Selector::DtolnayAction {
                        reference: "1.90".into()
                    },
                },
                OverriddenJob {
                    job: "test".into(),
                    line: 20,
                    selector: Selector::RustupDefault,
                },
            ]
        );
    }

    #[test]
    fn a_workflow_wide_rustup_toolchain_covers_every_job() {
        let text = CI.replace("jobs:\n", "env:\n  RUSTUP_TOOLCHAIN: stable\njobs:\n");
        assert_eq!(overridden_jobs(&text), []);
        assert_eq!(overridden_jobs(""), []);
        assert_eq!(overridden_jobs("jobs:\n"), []);
        assert_eq!(overridden_jobs("not: [yaml\n  - at all"), []);
    }
}
