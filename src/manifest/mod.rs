//! `buildkit.toml`: the one committed file every environment is derived from.
//!
//! Parsing is pure (text in, typed manifest or error out). Every error names the file, the line
//! and the key, because a silent default here would become a drifted environment later.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::registry::Registry;

mod cache;
mod cache_table;
#[cfg(test)]
pub(crate) mod keys;
mod raw;
mod source;
mod spans;
mod tuned;
mod upgrade;

pub use cache::{BuildPlace, CacheBackend, CacheConfig, CacheWriters};
use cache_table::cache_config;
use raw::{RawManifest, devcontainer_image, linker_kind, lld_spec, tool_table, toolchain_table};
use source::buildkit_source;
pub use source::{BuildkitSource, PACKAGE_NAME};
use spans::{Source, check_strings};
pub use tuned::{apply_tuned, pin_tools};
pub use upgrade::{PinMove, move_pins, upgrade_pins};

pub const MANIFEST_FILE: &str = "buildkit.toml";

/// buildkit.toml is a page of settings; a file past this is not one (or is a device).
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}:{line}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is {kind}; buildkit reads its manifest from there")]
    NotAFile { path: PathBuf, kind: NotAFile },
    /// An edit in place (`lock --upgrade`, `tune --apply`) that the file's text does not allow.
    #[error("{path}: {problem}")]
    Edit { path: PathBuf, problem: EditError },
}

/// Why buildkit.toml could not be edited in place.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Not TOML (the parser's message).
    #[error("{0}")]
    Syntax(String),
    /// A dotted path that holds a value where the edit needs a table.
    #[error("`{0}` is not a table")]
    NotATable(String),
    #[error("has no [tools.{0}] table to upgrade")]
    NoToolTable(crate::tool::Tool),
    #[error("a size of {0} bytes is past what TOML holds")]
    SizeTooLarge(u64),
    /// GNU ld, which tune measures as a baseline but never writes.
    #[error("GNU ld is a baseline, not a configuration")]
    BaselineLinker,
}

impl EditError {
    /// Whether the file's text is the cause (exit 2), rather than what buildkit asked of it.
    pub fn is_in_the_file(&self) -> bool {
        matches!(
            self,
            EditError::Syntax(_) | EditError::NotATable(_) | EditError::NoToolTable(_)
        )
    }

    pub fn at(self, path: &Path) -> ManifestError {
        ManifestError::Edit {
            path: path.to_path_buf(),
            problem: self,
        }
    }
}

/// What stands where buildkit.toml should be a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAFile {
    Directory,
    /// A FIFO, socket or device: reading it could block or never end.
    Special,
    /// A symlink whose target does not exist.
    Dangling,
}

impl fmt::Display for NotAFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotAFile::Directory => "a directory",
            NotAFile::Special => "not a regular file (a FIFO, socket or device)",
            NotAFile::Dangling => "a symlink to nothing",
        })
    }
}

/// Also the values of `init --linker` (one type for the manifest and the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LinkerKind {
    Mold,
    Lld,
    Wild,
    Default,
}

impl LinkerKind {
    /// The linker it selects, and with it the facts about that linker.
    pub fn linker(self) -> crate::linker::Linker {
        match self {
            LinkerKind::Mold => crate::linker::Linker::Mold,
            LinkerKind::Lld => crate::linker::Linker::Lld,
            LinkerKind::Wild => crate::linker::Linker::Wild,
            LinkerKind::Default => crate::linker::Linker::Default,
        }
    }

    /// The kind that selects `linker`; none for GNU ld, a baseline bench measures but
    /// buildkit.toml never chooses.
    pub fn of(linker: crate::linker::Linker) -> Option<LinkerKind> {
        use crate::linker::Linker;
        match linker {
            Linker::Mold => Some(LinkerKind::Mold),
            Linker::Lld => Some(LinkerKind::Lld),
            Linker::Wild => Some(LinkerKind::Wild),
            Linker::Default => Some(LinkerKind::Default),
            Linker::Bfd => None,
        }
    }

    /// Its name in buildkit.toml: the linker's own.
    pub fn as_str(self) -> &'static str {
        self.linker().name()
    }
}

impl fmt::Display for LinkerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// rustup's installation profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolchainProfile {
    Minimal,
    Default,
    Complete,
}

impl ToolchainProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolchainProfile::Minimal => "minimal",
            ToolchainProfile::Default => "default",
            ToolchainProfile::Complete => "complete",
        }
    }
}

/// What the project's rust-toolchain.toml says besides the channel, as far as buildkit.toml
/// names it: buildkit owns these keys and leaves the file's others alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolchainExtras {
    pub components: Option<Vec<String>>,
    pub targets: Option<Vec<String>>,
    pub profile: Option<ToolchainProfile>,
    /// `file = false`: buildkit writes no rust-toolchain.toml (the project selects its
    /// toolchains itself); CI and the container are still pinned.
    pub file: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkerDriver {
    Cc,
    Clang,
}

impl LinkerDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkerDriver::Cc => "cc",
            LinkerDriver::Clang => "clang",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LldSource {
    Rust,
    Llvm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CiProvider {
    Github,
    Gitlab,
}

/// A tool to download: a registry version, or any version from an explicit url + sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSpec {
    pub version: crate::version::Version,
    pub source: PinSource,
}

/// Where a pinned version's archive and digest come from: buildkit's registry (a release it
/// knows, looked up when buildkit.toml was read), or the pin's own `url` and `sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    Registry {
        sha256: crate::digest::Sha256,
        size: Option<u64>,
    },
    Explicit(ExplicitSource),
}

impl PinSource {
    /// The pin's own archive, where buildkit.toml gives one.
    pub fn explicit(&self) -> Option<&ExplicitSource> {
        match self {
            PinSource::Explicit(source) => Some(source),
            PinSource::Registry { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplicitSource {
    pub url: String,
    /// Read off the url, which must name a .tar.gz or .tar.xz archive.
    pub format: crate::registry::ArchiveFormat,
    pub sha256: crate::digest::Sha256,
    /// What the archive weighs, where known (`lock --upgrade` records the API's): a download
    /// stops there.
    pub size: Option<u64>,
    pub trust: Trust,
}

/// Who vouched for a pinned digest. Only `first-download` is ever written: a digest nobody
/// upstream published, taken from hashing the first download (`lock --upgrade
/// --trust-download`), which a reviewer should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// Upstream published it (the releases API, a checksum file) or the user pinned it.
    #[default]
    Published,
    FirstDownload,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LldSpec {
    /// rust-lld from the active Rust toolchain: nothing to download.
    Rust,
    /// lld out of an LLVM release.
    Llvm(ToolSpec),
}

/// A validated buildkit.toml.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it came from; `None` for the embedded default set.
    pub path: Option<PathBuf>,
    pub rust: Option<crate::toolchain::RustVersion>,
    /// `[toolchain]`'s components, targets, profile and whether to write the file.
    pub toolchain: ToolchainExtras,
    pub linker: LinkerKind,
    pub driver: LinkerDriver,
    pub mold: Option<ToolSpec>,
    /// wild (wild-linker), for `linker.kind = "wild"`.
    pub wild: Option<ToolSpec>,
    pub sccache: Option<ToolSpec>,
    pub lld: Option<LldSpec>,
    pub cache: Option<CacheConfig>,
    /// `[profile.*]`, copied into .cargo/config.toml as written.
    pub profiles: BTreeMap<String, toml::Table>,
    pub ci_providers: Vec<CiProvider>,
    pub devcontainer_image: Option<String>,
    /// How CI and the devcontainer install buildkit; `None` until buildkit.toml says (there is
    /// no default: a crates.io version that was never published would fail the first push).
    pub buildkit: Option<BuildkitSource>,
}

impl Manifest {
    /// Parses `text` as if read from `path` on the day `today` (days since 1970-01-01: a Rust
    /// release after it is refused). Pure.
    pub fn parse(
        text: &str,
        path: &Path,
        registry: &Registry,
        today: i64,
    ) -> Result<Manifest, ManifestError> {
        let src = Source { path, text };
        let raw: RawManifest = toml::from_str(text).map_err(|err| {
            let offset = err.span().map_or(0, |s| s.start);
            let message = err.message().trim().replace('\n', " ");
            src.error(offset, &src.key_near(offset), message)
        })?;
        check_strings(&src)?;

        let (rust, toolchain) = toolchain_table(&src, raw.toolchain, today)?;

        let tools = raw.tools.unwrap_or_default();
        let wild = tool_table(&src, crate::tool::Tool::Wild, tools.wild, registry)?;
        let mold = tool_table(&src, crate::tool::Tool::Mold, tools.mold, registry)?;
        let sccache = tool_table(&src, crate::tool::Tool::Sccache, tools.sccache, registry)?;
        let lld = tools
            .lld
            .map(|raw| lld_spec(&src, raw, registry))
            .transpose()?;

        let pinned = [
            mold.as_ref().map(|_| crate::tool::Tool::Mold),
            lld.as_ref().map(|_| crate::tool::Tool::Lld),
            wild.as_ref().map(|_| crate::tool::Tool::Wild),
        ];
        let kind = linker_kind(
            &src,
            raw.linker.as_ref().and_then(|l| l.kind.as_ref()),
            &pinned.into_iter().flatten().collect::<Vec<_>>(),
        )?;
        let driver = raw
            .linker
            .and_then(|l| l.driver)
            .unwrap_or(LinkerDriver::Cc);

        let cache = match raw.cache {
            None => sccache.as_ref().map(|_| CacheConfig::local()),
            Some(table) => Some(cache_config(&src, table, sccache.is_some())?),
        };

        let ci_providers = raw
            .ci
            .and_then(|c| c.providers)
            .unwrap_or_else(|| vec![CiProvider::Github]);

        let devcontainer_image = raw
            .devcontainer
            .and_then(|d| d.image)
            .map(|image| devcontainer_image(&src, image))
            .transpose()?;

        let buildkit = raw
            .buildkit
            .map(|raw| buildkit_source(&src, raw))
            .transpose()?;

        Ok(Manifest {
            path: Some(path.to_path_buf()),
            rust,
            toolchain,
            linker: kind,
            driver,
            mold,
            wild,
            sccache,
            lld,
            cache,
            profiles: raw.profile.unwrap_or_default(),
            ci_providers,
            devcontainer_image,
            buildkit,
        })
    }

    /// A manifest from test text, parsed as of [`crate::toolchain::TEST_DAY`]; panics on an
    /// invalid one.
    #[cfg(test)]
    pub fn for_test(text: &str) -> Manifest {
        Manifest::parse(
            text,
            Path::new(MANIFEST_FILE),
            &Registry::embedded(),
            crate::toolchain::TEST_DAY,
        )
        .unwrap()
    }

    /// What `setup` installs where no buildkit.toml exists: the newest mold and sccache the
    /// registry knows, and lld from the Rust toolchain.
    pub fn default_set(registry: &Registry) -> Manifest {
        let newest = |tool: crate::tool::Tool| {
            let release = registry.tool(tool).newest();
            Some(ToolSpec {
                version: release.version.clone(),
                source: PinSource::Registry {
                    sha256: release.sha256.clone(),
                    size: release.size,
                },
            })
        };
        Manifest {
            path: None,
            rust: None,
            toolchain: ToolchainExtras {
                file: true,
                ..ToolchainExtras::default()
            },
            linker: LinkerKind::Mold,
            driver: LinkerDriver::Cc,
            mold: newest(crate::tool::Tool::Mold),
            wild: None,
            sccache: newest(crate::tool::Tool::Sccache),
            lld: Some(LldSpec::Rust),
            cache: Some(CacheConfig::local()),
            profiles: BTreeMap::new(),
            ci_providers: vec![CiProvider::Github],
            devcontainer_image: None,
            buildkit: None,
        }
    }
}

#[cfg(test)]
mod tests;

/// Property tests: mutations of a full manifest parse or fail with one line naming the file.
#[cfg(test)]
mod properties;

#[cfg(test)]
mod upgrade_tests;
