//! buildkit.toml as serde reads it, every value with its span (so an error names its line), and
//! the readers that turn one raw table into its typed form: a tool's pin, lld's source, the Rust
//! version, rustup's names, the linker kind.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::source::{NO_CREDENTIALS, RawBuildkit, has_credentials};
use super::spans::Source;
use super::{
    CiProvider, ExplicitSource, LinkerDriver, LinkerKind, LldSource, LldSpec, ManifestError,
    PinSource, ToolSpec, ToolchainExtras, ToolchainProfile, Trust,
};
use crate::registry::{Registry, archive_format};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub(super) toolchain: Option<RawToolchain>,
    pub(super) linker: Option<RawLinker>,
    pub(super) tools: Option<RawTools>,
    pub(super) cache: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub(super) profile: Option<BTreeMap<String, toml::Table>>,
    pub(super) ci: Option<RawCi>,
    pub(super) devcontainer: Option<RawDevcontainer>,
    pub(super) buildkit: Option<RawBuildkit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToolchain {
    pub(super) rust: Option<Spanned<String>>,
    pub(super) components: Option<Vec<Spanned<String>>>,
    pub(super) targets: Option<Vec<Spanned<String>>>,
    pub(super) profile: Option<ToolchainProfile>,
    pub(super) file: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinker {
    pub(super) kind: Option<Spanned<LinkerKind>>,
    pub(super) driver: Option<LinkerDriver>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTools {
    pub(super) mold: Option<RawTool>,
    pub(super) wild: Option<RawTool>,
    pub(super) sccache: Option<RawTool>,
    pub(super) lld: Option<RawLld>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTool {
    pub(super) version: Spanned<String>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) sha256: Option<Spanned<String>>,
    pub(super) size: Option<Spanned<u64>>,
    pub(super) trust: Option<Spanned<Trust>>,
}

/// The fields that pin a download of the user's own: `url` and `sha256`, and what `lock
/// --upgrade` adds beside them.
pub(super) struct RawPin {
    pub(super) url: Option<Spanned<String>>,
    pub(super) sha256: Option<Spanned<String>>,
    pub(super) size: Option<Spanned<u64>>,
    pub(super) trust: Option<Spanned<Trust>>,
}

impl RawTool {
    pub(super) fn pin(self) -> (Spanned<String>, RawPin) {
        (
            self.version,
            RawPin {
                url: self.url,
                sha256: self.sha256,
                size: self.size,
                trust: self.trust,
            },
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLld {
    pub(super) source: Option<Spanned<LldSource>>,
    pub(super) version: Option<Spanned<String>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) sha256: Option<Spanned<String>>,
    pub(super) size: Option<Spanned<u64>>,
    pub(super) trust: Option<Spanned<Trust>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCi {
    pub(super) providers: Option<Vec<CiProvider>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDevcontainer {
    pub(super) image: Option<Spanned<String>>,
}

pub(super) fn tool_spec(
    src: &Source<'_>,
    name: crate::tool::Tool,
    version: Spanned<String>,
    pin: RawPin,
    registry: &Registry,
) -> Result<ToolSpec, ManifestError> {
    let key = |field: &str| format!("tools.{name}.{field}");
    let RawPin {
        url,
        sha256,
        size,
        trust,
    } = pin;
    if url.is_none() {
        let extra = [
            ("size", size.as_ref().map(Spanned::span)),
            ("trust", trust.as_ref().map(Spanned::span)),
        ];
        if let Some((field, Some(span))) = extra.into_iter().find(|(_, v)| v.is_some()) {
            return Err(src.error(
                span.start,
                &key(field),
                "only applies beside `url` and `sha256`: the registry records a known version's own",
            ));
        }
    }
    let parsed: crate::version::Version = match version.get_ref().parse() {
        Ok(parsed) => parsed,
        Err(problem) => return Err(src.at(&version, &key("version"), problem.to_string())),
    };
    if let Some(url) = &url
        && has_credentials(url.get_ref())
    {
        return Err(src.at(url, &key("url"), NO_CREDENTIALS));
    }
    let source = match (url, sha256) {
        (Some(url), Some(sha256)) => {
            PinSource::Explicit(explicit_source(src, &key, url, sha256, size, trust)?)
        }
        (Some(url), None) => {
            return Err(src.at(
                &url,
                &key("url"),
                "has no `sha256` beside it: a download is only trusted against a pinned digest",
            ));
        }
        (None, Some(sha256)) => {
            return Err(src.at(
                &sha256,
                &key("sha256"),
                "has no `url` beside it: the registry already pins the digest of a known version",
            ));
        }
        (None, None) => {
            let releases = registry.tool(name);
            let Some(release) = releases.release(version.get_ref()) else {
                let known = releases.known_versions();
                return Err(src.at(
                    &version,
                    &key("version"),
                    format!(
                        "buildkit does not know {name} {} (known: {known}); give `url` and `sha256` to use another",
                        version.get_ref()
                    ),
                ));
            };
            PinSource::Registry {
                sha256: release.sha256.clone(),
                size: release.size,
            }
        }
    };
    Ok(ToolSpec {
        version: parsed,
        source,
    })
}

/// A pin's own archive: a url buildkit fetches, naming an archive it unpacks, and its digest.
fn explicit_source(
    src: &Source<'_>,
    key: &dyn Fn(&str) -> String,
    url: Spanned<String>,
    sha256: Spanned<String>,
    size: Option<Spanned<u64>>,
    trust: Option<Spanned<Trust>>,
) -> Result<ExplicitSource, ManifestError> {
    if !crate::fetch::is_download_url(url.get_ref()) {
        return Err(src.at(
            &url,
            &key("url"),
            "must start with https://, http:// or file://",
        ));
    }
    let Some(format) = archive_format(url.get_ref()) else {
        return Err(src.at(&url, &key("url"), "must name a .tar.gz or .tar.xz archive"));
    };
    let Ok(digest) = sha256.get_ref().parse() else {
        return Err(src.at(&sha256, &key("sha256"), "must be 64 hexadecimal digits"));
    };
    Ok(ExplicitSource {
        url: url.into_inner(),
        format,
        sha256: digest,
        size: size.map(Spanned::into_inner),
        trust: trust.map_or(Trust::Published, Spanned::into_inner),
    })
}

pub(super) fn lld_spec(
    src: &Source<'_>,
    raw: RawLld,
    registry: &Registry,
) -> Result<LldSpec, ManifestError> {
    let source = raw
        .source
        .as_ref()
        .map_or(LldSource::Rust, |s| *s.get_ref());
    match source {
        LldSource::Rust => {
            let stray = [
                ("version", raw.version.as_ref().map(Spanned::span)),
                ("url", raw.url.as_ref().map(Spanned::span)),
                ("sha256", raw.sha256.as_ref().map(Spanned::span)),
                ("size", raw.size.as_ref().map(Spanned::span)),
                ("trust", raw.trust.as_ref().map(Spanned::span)),
            ];
            if let Some((field, Some(span))) = stray.into_iter().find(|(_, v)| v.is_some()) {
                return Err(src.error(
                    span.start,
                    &format!("tools.lld.{field}"),
                    "only applies with source = \"llvm\"; rust-lld comes with the Rust toolchain",
                ));
            }
            Ok(LldSpec::Rust)
        }
        LldSource::Llvm => {
            let Some(version) = raw.version else {
                let offset = raw.source.as_ref().map_or(0, |s| s.span().start);
                return Err(src.error(
                    offset,
                    "tools.lld.version",
                    "is required with source = \"llvm\"",
                ));
            };
            let pin = RawPin {
                url: raw.url,
                sha256: raw.sha256,
                size: raw.size,
                trust: raw.trust,
            };
            tool_spec(src, crate::tool::Tool::Lld, version, pin, registry).map(LldSpec::Llvm)
        }
    }
}

/// A stable release (the devcontainer image and CI need one) that is out already.
pub(super) fn rust_version(
    src: &Source<'_>,
    rust: Spanned<String>,
    today: i64,
) -> Result<crate::toolchain::RustVersion, ManifestError> {
    let Ok(version) = rust.get_ref().parse::<crate::toolchain::RustVersion>() else {
        return Err(src.at(
            &rust,
            "toolchain.rust",
            format!(
                "`{}` is not a stable Rust version like 1.95.0 (the devcontainer image and CI need a release)",
                rust.get_ref()
            ),
        ));
    };
    if let Some(why) = crate::toolchain::unreleased(version, today) {
        return Err(src.at(&rust, "toolchain.rust", why));
    }
    Ok(version)
}

/// Component and target names as rustup takes them (`clippy`, `rust-src`,
/// `wasm32-unknown-unknown`): letters, digits, `-`, `_` and `.` only.
pub(super) fn rustup_names(
    src: &Source<'_>,
    key: &str,
    list: Vec<Spanned<String>>,
) -> Result<Vec<String>, ManifestError> {
    list.into_iter()
        .map(|name| {
            let ok = !name.get_ref().is_empty()
                && !name.get_ref().starts_with('-')
                && name
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if ok {
                Ok(name.into_inner())
            } else {
                Err(src.at(
                    &name,
                    key,
                    format!("`{}` is not a name rustup knows", name.get_ref()),
                ))
            }
        })
        .collect()
}

/// `linker.kind` as given, or what the linker tools buildkit.toml pins imply (mold, else wild,
/// else lld, else rustc's default); a kind needs its tool.
pub(super) fn linker_kind(
    src: &Source<'_>,
    given: Option<&Spanned<LinkerKind>>,
    pinned: &[crate::tool::Tool],
) -> Result<LinkerKind, ManifestError> {
    use crate::tool::Tool;
    let has_mold = pinned.contains(&Tool::Mold);
    let has_lld = pinned.contains(&Tool::Lld);
    let has_wild = pinned.contains(&Tool::Wild);
    let Some(given) = given else {
        return Ok(if has_mold {
            LinkerKind::Mold
        } else if has_wild {
            LinkerKind::Wild
        } else if has_lld {
            LinkerKind::Lld
        } else {
            LinkerKind::Default
        });
    };
    match given.get_ref() {
        LinkerKind::Mold if !has_mold => Err(src.at(
            given,
            "linker.kind",
            "is \"mold\" but there is no [tools.mold] to install it from",
        )),
        LinkerKind::Wild if !has_wild => Err(src.at(
            given,
            "linker.kind",
            "is \"wild\" but there is no [tools.wild] to install it from",
        )),
        LinkerKind::Lld if !has_lld => Err(src.at(
            given,
            "linker.kind",
            "is \"lld\" but there is no [tools.lld]; add one with source = \"rust\"",
        )),
        kind => Ok(*kind),
    }
}

/// `[toolchain]`: the pinned Rust and what rustup installs beside it.
pub(super) fn toolchain_table(
    src: &Source<'_>,
    toolchain: Option<RawToolchain>,
    today: i64,
) -> Result<(Option<crate::toolchain::RustVersion>, ToolchainExtras), ManifestError> {
    Ok(match toolchain {
        None => (
            None,
            ToolchainExtras {
                file: true,
                ..ToolchainExtras::default()
            },
        ),
        Some(t) => (
            t.rust
                .map(|rust| rust_version(src, rust, today))
                .transpose()?,
            ToolchainExtras {
                components: t
                    .components
                    .map(|list| rustup_names(src, "toolchain.components", list))
                    .transpose()?,
                targets: t
                    .targets
                    .map(|list| rustup_names(src, "toolchain.targets", list))
                    .transpose()?,
                profile: t.profile,
                file: t.file.unwrap_or(true),
            },
        ),
    })
}

/// `[tools.<tool>]` for mold, wild and sccache: a version and, optionally, a pin of one's own.
pub(super) fn tool_table(
    src: &Source<'_>,
    tool: crate::tool::Tool,
    raw: Option<RawTool>,
    registry: &Registry,
) -> Result<Option<ToolSpec>, ManifestError> {
    raw.map(|raw| {
        let (version, pin) = raw.pin();
        tool_spec(src, tool, version, pin, registry)
    })
    .transpose()
}

/// `devcontainer.image`: a reference Docker takes as written.
pub(super) fn devcontainer_image(
    src: &Source<'_>,
    image: Spanned<String>,
) -> Result<String, ManifestError> {
    crate::encode::docker_image(image.get_ref())
        .map_err(|e| src.at(&image, "devcontainer.image", e.to_string()))?;
    Ok(image.into_inner())
}
