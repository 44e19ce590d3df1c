//! What a project's own Dockerfile builds from: the stage that runs `cargo build`, and the image
//! that stage starts from. A production image whose builder starts from a `rust:` image instead
//! of buildkit's toolchain stage builds with other tools and settings than every other
//! environment, which `doctor` says.
//!
//! Pure: the file's text comes in. Read line by line as Docker does for what is asked here:
//! comments and blank lines skipped, `\` continuations joined, instructions case-insensitive.

/// A stage that runs `cargo build`: the line of its `FROM` and the image (or stage) it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoStage {
    pub line: usize,
    pub from: String,
}

impl CargoStage {
    /// Whether it starts from an official Rust image (`rust:…`, `docker.io/library/rust:…`),
    /// rather than from a toolchain buildkit set up.
    pub fn starts_from_a_rust_image(&self) -> bool {
        let image = self
            .from
            .trim_start_matches("docker.io/")
            .trim_start_matches("library/");
        image == "rust" || image.starts_with("rust:") || image.starts_with("rust@")
    }
}

/// Each stage of `text` that runs `cargo build` (or `cargo install`), in order.
pub fn cargo_stages(text: &str) -> Vec<CargoStage> {
    let mut stages = Vec::new();
    let mut current: Option<CargoStage> = None;
    let mut builds = false;
    for (line, instruction) in instructions(text) {
        let mut words = instruction.split_whitespace();
        let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
        if keyword == "FROM" {
            if let Some(stage) = current.take().filter(|_| builds) {
                stages.push(stage);
            }
            builds = false;
            let image = words.find(|w| !w.starts_with("--")).unwrap_or_default();
            current = Some(CargoStage {
                line,
                from: image.to_string(),
            });
        } else if keyword == "RUN"
            && (instruction.contains("cargo build") || instruction.contains("cargo install"))
        {
            builds = true;
        }
    }
    stages.extend(current.filter(|_| builds));
    stages
}

/// The instructions of a Dockerfile with the line each starts on: comments and blank lines
/// skipped, continuation lines joined.
fn instructions(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        // Comments and blank lines are dropped, inside a continued instruction too.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        joined.push_str(body);
        joined.push(' ');
        if continues {
            pending = Some((start, joined));
        } else {
            out.push((start, joined.trim_end().to_string()));
        }
    }
    out.extend(pending.map(|(start, joined)| (start, joined.trim_end().to_string())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_that_builds_and_what_it_starts_from() {
        let text = "# syntax=docker/dockerfile:1\nFROM rust:1.95-bookworm AS builder\nWORKDIR /src\nCOPY . .\nRUN cargo build \\\n    --release --locked\n\nfrom debian:bookworm-slim\nCOPY --from=builder /src/target/release/app /app\n";
        let stages = cargo_stages(text);
        assert_eq!(
            stages,
            [CargoStage {
                line: 2,
                from: "rust:1.95-bookworm".into()
            }]
        );
        assert!(stages[0].starts_from_a_rust_image());
    }

    #[test]
    fn a_builder_on_the_toolchain_image_is_not_a_rust_image() {
        let text = "FROM --platform=$BUILDPLATFORM myapp-toolchain AS builder\nRUN set -e; \\\n  # a comment inside\n  cargo build --release\n";
        let stages = cargo_stages(text);
        assert_eq!(stages.len(), 1);
        assert_eq!(stages[0].from, "myapp-toolchain");
        assert!(!stages[0].starts_from_a_rust_image());
        for rust in [
            "rust",
            "rust:1.95",
            "docker.io/library/rust:1.95.0-bookworm",
            "rust@sha256:ab",
        ] {
            let stage = CargoStage {
                line: 1,
                from: rust.into(),
            };
            assert!(stage.starts_from_a_rust_image(), "{rust}");
        }
        // A stage that only copies builds nothing.
        assert!(cargo_stages("FROM rust:1.95\nCOPY . .\n").is_empty());
    }
}
