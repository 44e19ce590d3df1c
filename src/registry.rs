//! The releases buildkit knows how to install, embedded at build time from `registry.toml`.
//!
//! Kept as data so that adding a release is a one-line change reviewed like any other pin, and
//! so that the code never hard-codes a URL or a digest.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::tool::Tool;

/// The embedded data file; parsed on first use.
const REGISTRY_TOML: &str = include_str!("registry.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    tools: RegistryTools,
}

/// One entry per [`Tool`], each required: the registry knows every tool by construction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryTools {
    lld: ToolReleases,
    mold: ToolReleases,
    sccache: ToolReleases,
    wild: ToolReleases,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolReleases {
    /// URL template, `{version}` substituted.
    pub url: UrlTemplate,
    /// The single directory at the archive's root, `{version}` substituted.
    pub top_dir: String,
    /// Name in `BUILDKIT_HOME/bin` -> path inside the unpacked tree.
    pub links: BTreeMap<String, String>,
    /// When present, only these paths of the archive are kept (LLVM ships 11 GB; lld is 100 MB).
    #[serde(default)]
    pub keep: Vec<String>,
    /// The checksum file upstream publishes beside each asset (`{asset}` substituted), which
    /// `lock --upgrade` cross-checks with the releases API's digest.
    #[serde(default)]
    pub checksum_asset: Option<String>,
    /// Newest first.
    pub versions: Vec<Release>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub version: crate::version::Version,
    pub sha256: crate::digest::Sha256,
    #[serde(default)]
    pub size: Option<u64>,
}

impl Registry {
    /// The registry compiled into this binary. A unit test proves it parses.
    pub fn embedded() -> Registry {
        toml::from_str(REGISTRY_TOML).expect("the embedded registry.toml is valid (unit-tested)")
    }

    pub fn tool(&self, tool: Tool) -> &ToolReleases {
        match tool {
            Tool::Lld => &self.tools.lld,
            Tool::Mold => &self.tools.mold,
            Tool::Sccache => &self.tools.sccache,
            Tool::Wild => &self.tools.wild,
        }
    }

    /// Every tool with its releases, in [`Tool::ALL`]'s order.
    #[cfg(test)]
    pub fn tools(&self) -> impl Iterator<Item = (Tool, &ToolReleases)> {
        Tool::ALL.into_iter().map(|tool| (tool, self.tool(tool)))
    }
}

impl ToolReleases {
    pub fn release(&self, version: &str) -> Option<&Release> {
        self.versions.iter().find(|r| r.version == version)
    }

    pub fn newest(&self) -> &Release {
        &self.versions[0]
    }

    pub fn url_for(&self, version: &str) -> String {
        self.url.text.replace("{version}", version)
    }

    /// How the archives of every version are compressed (read off the url template).
    pub fn format(&self) -> ArchiveFormat {
        self.url.format
    }

    pub fn top_dir_for(&self, version: &str) -> String {
        self.top_dir.replace("{version}", version)
    }

    pub fn known_versions(&self) -> String {
        self.versions
            .iter()
            .map(|r| r.version.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A release's download URL with `{version}` in it, naming an archive buildkit unpacks (a
/// registry entry whose url names none does not load).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct UrlTemplate {
    text: String,
    format: ArchiveFormat,
}

/// A registry url that names no archive buildkit unpacks.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` names no .tar.gz or .tar.xz archive")]
pub struct NotAnArchive(String);

impl TryFrom<String> for UrlTemplate {
    type Error = NotAnArchive;

    fn try_from(text: String) -> Result<UrlTemplate, NotAnArchive> {
        match archive_format(&text) {
            Some(format) => Ok(UrlTemplate { text, format }),
            None => Err(NotAnArchive(text)),
        }
    }
}

impl std::ops::Deref for UrlTemplate {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

/// How an archive is compressed: what the extractor dispatches on, and the extension its
/// cached copy carries. Written in buildkit.lock as `tar.gz` or `tar.xz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ArchiveFormat {
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "tar.xz")]
    TarXz,
}

impl ArchiveFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::TarXz => "tar.xz",
        }
    }
}

/// The archive format, from the file name.
pub fn archive_format(url: &str) -> Option<ArchiveFormat> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    if path.ends_with(".tar.gz") || path.ends_with(".tgz") {
        Some(ArchiveFormat::TarGz)
    } else if path.ends_with(".tar.xz") || path.ends_with(".txz") {
        Some(ArchiveFormat::TarXz)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_registry_is_well_formed() {
        let registry = Registry::embedded();
        for (name, tool) in registry.tools() {
            assert!(!tool.versions.is_empty(), "{name} has no versions");
            assert!(!tool.links.is_empty(), "{name} has no links");
            assert!(
                archive_format(&tool.url).is_some(),
                "{name}: unknown format"
            );
            for release in &tool.versions {
                assert_eq!(release.sha256.len(), 64, "{name} {}", release.version);
                assert!(release.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
        assert_eq!(registry.tool(Tool::Mold).newest().version, "2.42.0");
        assert_eq!(
            registry.tool(Tool::Sccache).url_for("0.17.0"),
            "https://github.com/mozilla/sccache/releases/download/v0.17.0/sccache-v0.17.0-x86_64-unknown-linux-musl.tar.gz"
        );
    }

    /// Entries pinned before the registry recorded sizes: the first `scripts/update-registry`
    /// run with access to GitHub's API fills them in, and each must then leave this list.
    const SIZE_NOT_YET_RECORDED: &[(&str, &str)] = &[
        ("mold", "2.42.0"),
        ("mold", "2.41.0"),
        ("mold", "2.40.4"),
        ("wild", "0.10.0"),
        ("wild", "0.9.0"),
        ("sccache", "0.17.0"),
        ("sccache", "0.16.0"),
        ("sccache", "0.15.0"),
        ("sccache", "0.10.0"),
        ("lld", "21.1.8"),
    ];

    #[test]
    fn every_entry_carries_a_digest_and_a_size() {
        let registry = Registry::embedded();
        for (name, tool) in registry.tools() {
            assert!(
                crate::upstream::ReleaseSource::from_url_template(&tool.url).is_some(),
                "{name}: `outdated` and `lock --upgrade` cannot find its releases"
            );
            for release in &tool.versions {
                let exempt =
                    SIZE_NOT_YET_RECORDED.contains(&(name.name(), release.version.as_str()));
                assert!(!release.sha256.is_empty(), "{name} {}", release.version);
                assert_eq!(
                    release.size.is_some(),
                    !exempt,
                    "{name} {}: {}",
                    release.version,
                    if exempt {
                        "has a size now: remove it from SIZE_NOT_YET_RECORDED"
                    } else {
                        "has no size: run scripts/update-registry"
                    }
                );
            }
        }
    }

    #[test]
    fn format_from_url() {
        assert_eq!(
            archive_format("https://x/a.tar.gz"),
            Some(ArchiveFormat::TarGz)
        );
        assert_eq!(
            archive_format("https://x/a.tar.xz?sig=1"),
            Some(ArchiveFormat::TarXz)
        );
        assert_eq!(archive_format("https://x/a.zip"), None);
    }
}
