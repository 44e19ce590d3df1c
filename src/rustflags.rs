//! The rustflags cargo gives rustc for the host, computed from the project's configuration as
//! cargo computes them, so that `tune` and `bench` time the build the project really runs:
//! its `--cfg`s, its target features, every table (`build.rustflags`,
//! `target.<triple>.rustflags`, `target.'cfg(..)'.rustflags`) and the variables that replace
//! them. Only the linker is left to the lever being measured.
//!
//! Pure: the configuration files' texts, the host and its cfgs come in; the flags go out.

use std::str::FromStr as _;

/// The host buildkit generates for (its .cargo/config.toml tables are this triple's).
pub const DEFAULT_HOST: &str = crate::host::Host::DEFAULT.triple();

/// A configuration file whose rustflags cargo would not read either.
#[derive(Debug, thiserror::Error)]
pub enum RustflagsError {
    #[error("{path}: {source}")]
    Toml {
        path: std::path::PathBuf,
        source: toml::de::Error,
    },
    #[error("{path}: `{key}`: {source}")]
    Cfg {
        path: std::path::PathBuf,
        key: String,
        source: cargo_platform::ParseError,
    },
    #[error("{path}: `{key}` is neither a string nor an array of strings")]
    NotFlags {
        path: std::path::PathBuf,
        key: String,
    },
}

/// One configuration file cargo reads, with its text.
pub struct ConfigFile {
    pub path: std::path::PathBuf,
    pub text: String,
}

/// The variables that set rustflags, as the environment has them (`None` when unset).
#[derive(Debug, Default, Clone)]
pub struct RustflagsVars {
    pub encoded: Option<String>,
    pub rustflags: Option<String>,
    /// `CARGO_TARGET_<TRIPLE>_RUSTFLAGS`.
    pub target: Option<String>,
    /// `CARGO_BUILD_RUSTFLAGS`.
    pub build: Option<String>,
}

/// The flags for `triple` (whose `rustc --print cfg` is `cfgs`): `files` in cargo's order of
/// precedence, lowest first (CARGO_HOME's, then the project's from the filesystem root down);
/// an array from several files is joined with the higher precedence later, as cargo does.
///
/// Cargo's rule, first match wins: CARGO_ENCODED_RUSTFLAGS; RUSTFLAGS; every matching
/// `target.<triple>.rustflags` and `target.'cfg(..)'.rustflags` (and the target's variable)
/// joined; `build.rustflags` (or CARGO_BUILD_RUSTFLAGS).
pub fn host_rustflags(
    files: &[ConfigFile],
    triple: &str,
    cfgs: &[cargo_platform::Cfg],
    vars: &RustflagsVars,
) -> Result<Vec<String>, RustflagsError> {
    if let Some(encoded) = vars.encoded.as_deref() {
        return Ok(encoded
            .split('\u{1f}')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect());
    }
    if let Some(flags) = vars.rustflags.as_deref() {
        return Ok(words(flags));
    }
    let mut target = Vec::new();
    let mut build = Vec::new();
    for file in files {
        let table: toml::Table = file.text.parse().map_err(|source| RustflagsError::Toml {
            path: file.path.clone(),
            source,
        })?;
        let not_flags = |key: String| RustflagsError::NotFlags {
            path: file.path.clone(),
            key,
        };
        if let Some(targets) = table.get("target").and_then(|t| t.as_table()) {
            for (name, section) in targets {
                let applies = match name.strip_prefix("cfg(") {
                    Some(_) => cargo_platform::Platform::from_str(name)
                        .map_err(|source| RustflagsError::Cfg {
                            path: file.path.clone(),
                            key: format!("target.{name}"),
                            source,
                        })?
                        .matches(triple, cfgs),
                    None => name == triple,
                };
                if applies && let Some(value) = section.get("rustflags") {
                    target.extend(
                        flags_of(value)
                            .ok_or_else(|| not_flags(format!("target.{name}.rustflags")))?,
                    );
                }
            }
        }
        if let Some(value) = table.get("build").and_then(|b| b.get("rustflags")) {
            build.extend(flags_of(value).ok_or_else(|| not_flags("build.rustflags".into()))?);
        }
    }
    if let Some(flags) = vars.target.as_deref() {
        target.extend(words(flags));
    }
    if !target.is_empty() {
        return Ok(target);
    }
    if let Some(flags) = vars.build.as_deref() {
        return Ok(words(flags));
    }
    Ok(build)
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// A rustflags value: a string of space-separated flags, or an array of them.
fn flags_of(value: &toml::Value) -> Option<Vec<String>> {
    match value {
        toml::Value::String(text) => Some(words(text)),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

/// `flags` without `owned` (buildkit's own entries, listed in the file's header) and without
/// any flag that picks the linker: the linker is what the measured configuration chooses.
pub fn without_linker_choice(flags: &[String], owned: &[String]) -> Vec<String> {
    let mut flags = flags.to_vec();
    if !owned.is_empty()
        && let Some(at) = flags.windows(owned.len()).position(|w| w == owned)
    {
        flags.drain(at..at + owned.len());
    }
    let prefixes = [crate::linker::CHOOSES_LINKER, crate::linker::STEERS_LINKER].concat();
    for range in crate::linker::codegen_options(&flags, &prefixes)
        .into_iter()
        .rev()
    {
        flags.drain(range);
    }
    flags
}

/// `rustc --print cfg`, read: the cfgs a `cfg(..)` table is matched against.
pub fn parse_cfgs(text: &str) -> Vec<cargo_platform::Cfg> {
    text.lines()
        .filter_map(|line| cargo_platform::Cfg::from_str(line.trim()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "x86_64-unknown-linux-gnu";

    fn file(text: &str) -> ConfigFile {
        ConfigFile {
            path: "/p/.cargo/config.toml".into(),
            text: text.into(),
        }
    }

    fn cfgs() -> Vec<cargo_platform::Cfg> {
        parse_cfgs(
            "debug_assertions\npanic=\"unwind\"\ntarget_arch=\"x86_64\"\ntarget_os=\"linux\"\nunix\n",
        )
    }

    #[test]
    fn every_table_as_cargo_reads_it() {
        let home = file("[build]\nrustflags = \"-W unused\"\n");
        let project = file(
            "[target.'cfg(all())']\nrustflags = [\"--cfg\", \"tokio_unstable\", \"-C\", \"target-feature=-crt-static\"]\n[target.'cfg(windows)']\nrustflags = [\"--cfg\", \"win\"]\n[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"link-arg=-fuse-ld=mold\"]\n",
        );
        let none = RustflagsVars::default();
        let flags = host_rustflags(&[home, project], HOST, &cfgs(), &none).unwrap();
        assert_eq!(
            flags,
            [
                "--cfg",
                "tokio_unstable",
                "-C",
                "target-feature=-crt-static",
                "-C",
                "link-arg=-fuse-ld=mold"
            ]
        );
        // build.rustflags only where no target table applies, joined across files.
        let a = file("[build]\nrustflags = [\"--cfg\", \"a\"]\n");
        let b = file("[build]\nrustflags = \"--cfg b\"\n");
        assert_eq!(
            host_rustflags(&[a, b], HOST, &cfgs(), &none).unwrap(),
            ["--cfg", "a", "--cfg", "b"]
        );
        // The variables, in cargo's order.
        let vars = RustflagsVars {
            rustflags: Some("--cfg env".into()),
            ..RustflagsVars::default()
        };
        let c = file("[build]\nrustflags = \"--cfg c\"\n");
        assert_eq!(
            host_rustflags(&[c], HOST, &cfgs(), &vars).unwrap(),
            ["--cfg", "env"]
        );
        let vars = RustflagsVars {
            encoded: Some("--cfg\u{1f}a b".into()),
            rustflags: Some("--cfg env".into()),
            ..RustflagsVars::default()
        };
        assert_eq!(
            host_rustflags(&[], HOST, &cfgs(), &vars).unwrap(),
            ["--cfg", "a b"]
        );
        let bad = file("[build]\nrustflags = 3\n");
        assert_eq!(
            host_rustflags(&[bad], HOST, &cfgs(), &none)
                .unwrap_err()
                .to_string(),
            "/p/.cargo/config.toml: `build.rustflags` is neither a string nor an array of strings"
        );
    }

    #[test]
    fn the_linker_is_left_to_the_lever() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let flags = s(&[
            "--cfg",
            "x",
            "-C",
            "link-arg=-fuse-ld=mold",
            "-Clinker=clang",
            "-C",
            "opt-level=1",
            "-C",
            "link-arg=-B/opt/wild",
        ]);
        assert_eq!(
            without_linker_choice(&flags, &[]),
            s(&["--cfg", "x", "-C", "opt-level=1"])
        );
        let owned = s(&["-C", "link-arg=-fuse-ld=mold"]);
        let flags = s(&[
            "--cfg",
            "x",
            "-C",
            "link-arg=-fuse-ld=mold",
            "-C",
            "target-cpu=native",
        ]);
        assert_eq!(
            without_linker_choice(&flags, &owned),
            s(&["--cfg", "x", "-C", "target-cpu=native"])
        );
    }
}
