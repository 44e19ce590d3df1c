//! `buildkit lock [--upgrade [TOOL…]]`: resolve buildkit.toml into buildkit.lock; with
//! `--upgrade`, first move pins to the newest upstream release (or, offline, the newest the
//! embedded registry knows).
//!
//! An upstream upgrade pins only a digest upstream published (the releases API's asset
//! digest, cross-checked with the project's checksum file where one exists) and proves it by
//! downloading the asset into the cache; `--trust-download` alone pins a digest nobody
//! published, and says so in the lock. Both files are written together, or neither.

use std::process::ExitCode;

use super::{Context, LockState, Project};
use crate::Error;
use crate::digest::Sha256;
use crate::fetch::{Artifact, FetchOptions, Fetcher};
use crate::github::{ReleasesApi, Upstream};
use crate::manifest::{ExplicitSource, LldSpec, MANIFEST_FILE, Manifest, PinMove, ToolSpec, Trust};
use crate::tool::Tool;
use crate::upstream::{DigestOrigin, PinError};

/// Why `lock --upgrade` pins nothing (a bad name on the command line is exit 2; the rest is
/// upstream's or the network's, exit 1).
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("{MANIFEST_FILE} pins no tool `{}` to upgrade (it pins: {pinned})", crate::encode::inert(.name))]
    NotPinned { name: String, pinned: String },
    #[error(transparent)]
    Pin(PinError),
    #[error(
        "{release}: upstream's asset {} is {size} bytes, says the releases API: more than buildkit downloads for one archive ({} bytes); not pinned",
        crate::encode::inert(.asset),
        crate::fetch::MAX_DOWNLOAD_BYTES
    )]
    TooLarge {
        release: String,
        asset: String,
        size: u64,
    },
    #[error(
        "{release}: upstream's asset {} is not a .tar.gz or .tar.xz archive",
        crate::encode::inert(.url)
    )]
    NotAnArchive { release: String, url: String },
    #[error("download of {url} failed: {source}")]
    Download { url: String, source: std::io::Error },
    #[error(
        "download of {url} brought {got} bytes where the releases API says {size}; nothing was pinned"
    )]
    Short { url: String, got: u64, size: u64 },
}

/// `buildkit lock`'s options, as the command line gives them.
#[derive(Debug, clap::Args)]
pub struct LockOptions {
    /// Move each tool's pin (or only the TOOLs named) to the newest upstream release, with
    /// the digest upstream published for it; rewrites buildkit.toml.
    #[arg(long)]
    pub upgrade: bool,
    /// With --upgrade: the tools to move (default: every tool buildkit.toml pins).
    #[arg(value_name = "TOOL", requires = "upgrade")]
    pub tools: Vec<String>,
    /// With --upgrade: no network; move pins to the newest release buildkit's embedded
    /// registry knows.
    #[arg(long, env = crate::env_vars::BUILDKIT_OFFLINE, value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub offline: bool,
    /// With --upgrade: where upstream publishes no digest, download the asset, hash it and
    /// pin that, recorded as `trust = "first-download"`.
    #[arg(long, requires = "upgrade")]
    pub trust_download: bool,
    /// Fetch https://HOST/PATH as MIRROR/HOST/PATH (the asset download, not the API).
    #[arg(long, value_name = "URL", env = crate::env_vars::BUILDKIT_MIRROR)]
    pub mirror: Option<String>,
    /// The releases API to ask (GitHub Enterprise, an internal mirror).
    #[arg(long, value_name = "URL", env = crate::env_vars::BUILDKIT_GITHUB_API, hide = true)]
    pub github_api: Option<String>,
}

pub fn run(ctx: &Context, options: &LockOptions) -> Result<ExitCode, Error> {
    let mut project = ctx.require_project()?;
    // Whether the upgrade wrote the lock already (with buildkit.toml, in one step).
    let mut lock_written = false;
    if options.upgrade {
        check_named(&project.manifest, &options.tools)?;
        if options.offline {
            upgrade_offline(ctx, &mut project, &options.tools)?;
        } else {
            lock_written = upgrade_from_upstream(ctx, &project, options)?;
            project = ctx.require_project()?;
        }
    }
    let (lock, state) = ctx.resolve_lock(&project)?;
    let path = project.lock_path.as_path();
    if lock_written {
        eprintln!("wrote {}", path.display());
    } else if state == LockState::Fresh {
        eprintln!("{} is up to date", path.display());
    } else {
        super::project::write_lock(&lock, path)?;
        eprintln!("wrote {}", path.display());
    }
    for tool in &lock.tools {
        eprintln!("  {}", describe(tool));
    }
    Ok(ExitCode::SUCCESS)
}

/// The archive tools buildkit.toml pins, by name (rust-lld has nothing to pin).
pub(super) fn pinned_tools(manifest: &Manifest) -> Vec<(Tool, &ToolSpec)> {
    let lld = match &manifest.lld {
        Some(LldSpec::Llvm(spec)) => Some(spec),
        _ => None,
    };
    [
        (Tool::Lld, lld),
        (Tool::Mold, manifest.mold.as_ref()),
        (Tool::Sccache, manifest.sccache.as_ref()),
        (Tool::Wild, manifest.wild.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, spec)| spec.map(|s| (name, s)))
    .collect()
}

fn check_named(manifest: &Manifest, named: &[String]) -> Result<(), Error> {
    let pinned = pinned_tools(manifest);
    for name in named {
        if !pinned.iter().any(|(n, _)| n.name() == name) {
            let list = pinned
                .iter()
                .map(|(n, _)| n.name())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(UpgradeError::NotPinned {
                name: name.clone(),
                pinned: if list.is_empty() { "none".into() } else { list },
            }
            .into());
        }
    }
    Ok(())
}

fn upgrade_offline(ctx: &Context, project: &mut Project, only: &[String]) -> Result<(), Error> {
    let (path, text) = project.manifest_text()?;
    let upgraded =
        crate::manifest::upgrade_pins(&text, &ctx.registry, only).map_err(|e| e.at(&path))?;
    if upgraded != text {
        crate::fsutil::write_atomically(&path, upgraded.as_bytes()).map_err(|source| {
            Error::File {
                action: "write",
                path: path.clone(),
                source,
            }
        })?;
        eprintln!("upgraded pinned versions in {MANIFEST_FILE} to the newest buildkit knows");
    }
    project.manifest = super::project::load_manifest(&path, &ctx.registry)?;
    Ok(())
}

/// The fetcher `lock --upgrade` and `outdated` share: the same cache, mirror and limits as
/// `setup`'s defaults.
pub(super) fn fetcher(ctx: &Context, mirror: Option<String>) -> Fetcher {
    Fetcher::new(FetchOptions {
        cache_dir: ctx.cache_dir.clone(),
        mirror: mirror.filter(|m| !m.is_empty()),
        offline: false,
        attempts: crate::fetch::DEFAULT_ATTEMPTS,
        stall: ctx.stall,
        extra_roots: ctx.env.ssl_cert_file.clone(),
    })
}

/// Moves the pins to upstream's newest releases; whether it wrote buildkit.toml and the lock.
fn upgrade_from_upstream(
    ctx: &Context,
    project: &Project,
    options: &LockOptions,
) -> Result<bool, Error> {
    let fetcher = fetcher(ctx, super::provision::mirror(options.mirror.clone())?);
    let api = ReleasesApi::new(
        &fetcher,
        options.github_api.clone(),
        ctx.env.github_token.clone(),
    );
    let mut moves = Vec::new();
    let mut lines = Vec::new();
    for (tool, spec) in pinned_tools(&project.manifest) {
        let name = tool.name();
        let named = options.tools.iter().any(|t| t == name);
        if !options.tools.is_empty() && !named {
            continue;
        }
        let releases = ctx.registry.tool(tool);
        // A url of the user's own (a private build, a mirror) is theirs to move, unless named.
        if let Some(source) = spec.source.explicit()
            && source.url != releases.url_for(&spec.version)
            && !named
        {
            lines.push(format!(
                "{name} {}: has its own url in {MANIFEST_FILE}; name it (`buildkit lock --upgrade {name}`) to move it to upstream's release",
                spec.version
            ));
            continue;
        }
        let newest = api.newest(name, releases)?;
        if !spec.version.is_older_than(&newest.version) {
            lines.push(format!("{name} {} is the newest release", spec.version));
            continue;
        }
        let published = api.published_digest(name, &newest)?;
        let (pin, origin) = pin_for(tool, &newest, published, releases, &fetcher, options)?;
        lines.push(format!(
            "{name} {} -> {} (sha256 from {})",
            spec.version,
            newest.version,
            origin.describe()
        ));
        moves.push(pin);
    }
    for line in &lines {
        crate::output::write(format_args!("{line}\n"));
    }
    if moves.is_empty() {
        return Ok(false);
    }
    let (path, text) = project.manifest_text()?;
    let new_text = crate::manifest::move_pins(&text, &moves).map_err(|e| e.at(&path))?;
    project.write_edited(ctx, &path, new_text)?;
    eprintln!("upgraded {} in {MANIFEST_FILE}", moves.len());
    Ok(true)
}

/// The pin for upstream's newest release: the published digest, proven by downloading the
/// asset into the cache (where `setup` finds it), or with `--trust-download` the hash of the
/// download. A version the registry knows at the same url and digest needs no fields of its
/// own; one whose digest differs from the registry's is refused.
fn pin_for(
    tool: Tool,
    newest: &Upstream,
    published: Option<(Sha256, DigestOrigin)>,
    releases: &crate::registry::ToolReleases,
    fetcher: &Fetcher,
    options: &LockOptions,
) -> Result<(PinMove, DigestOrigin), Error> {
    let release = || format!("{tool} {}", newest.version);
    let format = check_asset(newest, &release())?;
    let url = crate::fetch::apply_mirror(&newest.url, options.mirror.as_deref());
    let known = releases.release(&newest.version);
    let published = published.or_else(|| known.map(|k| (k.sha256.clone(), DigestOrigin::Registry)));
    let (sha256, origin) = match published {
        Some(found) => found,
        None if options.trust_download => (
            hash_download(fetcher, &url, newest.size)?,
            DigestOrigin::FirstDownload,
        ),
        None => {
            return Err(UpgradeError::Pin(PinError::NoDigest {
                release: release(),
                asset: newest.asset.clone(),
            })
            .into());
        }
    };
    if let Some(known) = known
        && known.sha256 != sha256
    {
        return Err(UpgradeError::Pin(PinError::RegistryDiffers {
            release: release(),
            asset: newest.asset.clone(),
            upstream: sha256,
            registry: known.sha256.clone(),
        })
        .into());
    }
    // The proof: the asset, verified against the digest into the cache, where `setup` finds
    // it (a first-download digest is so downloaded twice, and both must agree).
    let artifact = Artifact {
        label: tool.name(),
        url: &url,
        sha256: &sha256,
        size: Some(newest.size),
        format,
    };
    fetcher.fetch_to_cache(&artifact, &crate::reporter::Silent)?;
    // A release the registry pins at this url needs no fields of its own.
    let registry_pins_it = known.is_some() && releases.url_for(&newest.version) == newest.url;
    let pin = PinMove {
        tool,
        version: newest.version.clone(),
        source: (!registry_pins_it).then(|| ExplicitSource {
            url: newest.url.clone(),
            format,
            sha256,
            size: Some(newest.size),
            trust: if origin == DigestOrigin::FirstDownload {
                Trust::FirstDownload
            } else {
                Trust::Published
            },
        }),
    };
    Ok((pin, origin))
}

/// Upstream's asset is one buildkit downloads: not past its size limit, and an archive it
/// unpacks (whose format it returns).
fn check_asset(
    newest: &Upstream,
    release: &str,
) -> Result<crate::registry::ArchiveFormat, UpgradeError> {
    if newest.size > crate::fetch::MAX_DOWNLOAD_BYTES {
        return Err(UpgradeError::TooLarge {
            release: release.to_string(),
            asset: newest.asset.clone(),
            size: newest.size,
        });
    }
    crate::registry::archive_format(&newest.url).ok_or_else(|| UpgradeError::NotAnArchive {
        release: release.to_string(),
        url: newest.url.clone(),
    })
}

/// Downloads `url` once, hashing it: the digest nobody published (`--trust-download`).
fn hash_download(fetcher: &Fetcher, url: &str, size: u64) -> Result<crate::digest::Sha256, Error> {
    use std::io::Read;
    let (reader, _) = fetcher.open(url)?;
    let hashing = crate::digest::HashingReader::new(reader.take(size.saturating_add(1)));
    let (digest, got) = hashing.finish().map_err(|source| UpgradeError::Download {
        url: crate::fetch::Url::from(url).to_string(),
        source,
    })?;
    if got != size {
        return Err(UpgradeError::Short {
            url: crate::fetch::Url::from(url).to_string(),
            got,
            size,
        }
        .into());
    }
    Ok(digest)
}

fn describe(tool: &crate::lock::LockedTool) -> String {
    match tool.archive() {
        Some(archive) => format!(
            "{} {} sha256:{}{}",
            tool.name,
            archive.version,
            &archive.sha256[..12],
            if archive.trust == Trust::FirstDownload {
                " (trust: first download, published by nobody)"
            } else {
                ""
            }
        ),
        None => format!("{} from the Rust toolchain", tool.name),
    }
}
