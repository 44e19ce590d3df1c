//! What upstream has released, as GitHub's releases API describes it: which release is the
//! newest for a tool, which of its assets is ours, and which digest a new pin may trust.
//!
//! Pure: the API's JSON and the checksum files come in as data (`github.rs` fetches them), so
//! that every rule (skip drafts and pre-releases, never pick another target's asset, refuse
//! two sources that disagree) is tested without a server.

use serde::Deserialize;

use crate::digest::Sha256;
use crate::version::{ReleaseVersion, Version};

/// Why a new pin cannot be made from what upstream published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error(
        "{release}: the releases API says sha256 {api} for {asset}, its checksum file {checksum_url} says {file}; refusing both (one of them was changed after the release)"
    )]
    SourcesDisagree {
        release: String,
        asset: String,
        api: Sha256,
        file: Sha256,
        checksum_url: String,
    },
    #[error(
        "{release}: upstream publishes no digest for {asset} (no asset digest in the releases API, no checksum file); `buildkit lock --upgrade --trust-download` hashes the download and records `trust = \"first-download\"`"
    )]
    NoDigest { release: String, asset: String },
    #[error("{release}: the releases API's digest `{digest}` for {asset} is not a sha256")]
    BadDigest {
        release: String,
        asset: String,
        digest: String,
    },
    #[error(
        "{release}: upstream's sha256 {upstream} for {asset} differs from the {registry} buildkit's registry pins; the asset was replaced after its release, so nothing is pinned"
    )]
    RegistryDiffers {
        release: String,
        asset: String,
        upstream: Sha256,
        registry: Sha256,
    },
}

/// Where a tool's releases are published: a GitHub repository, the tag each version is
/// released under and the asset name, both as `{version}` templates (read off the registry's
/// download URL template, so that the two can never disagree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSource {
    pub owner: String,
    pub repo: String,
    tag: String,
    asset: String,
}

impl ReleaseSource {
    /// `https://github.com/OWNER/REPO/releases/download/TAG/ASSET`, where TAG and ASSET hold
    /// `{version}`; `None` for any other URL.
    pub fn from_url_template(template: &str) -> Option<ReleaseSource> {
        let rest = template.strip_prefix("https://github.com/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [owner, repo, "releases", "download", tag, asset] = parts.as_slice() else {
            return None;
        };
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (plain(owner) && plain(repo) && tag.contains("{version}") && asset.contains("{version}"))
            .then(|| ReleaseSource {
                owner: owner.to_string(),
                repo: repo.to_string(),
                tag: tag.to_string(),
                asset: asset.to_string(),
            })
    }

    /// The first page of the repository's releases, relative to the API's base.
    pub fn releases_path(&self) -> String {
        format!("/repos/{}/{}/releases?per_page=100", self.owner, self.repo)
    }

    /// The asset buildkit installs for `version`.
    pub fn asset_name(&self, version: &str) -> String {
        self.asset.replace("{version}", version)
    }

    /// The version a tag releases, when the tag is one of this tool's release tags.
    pub fn version_of_tag<'t>(&self, tag: &'t str) -> Option<&'t str> {
        let (prefix, suffix) = self.tag.split_once("{version}")?;
        let version = tag.strip_prefix(prefix)?.strip_suffix(suffix)?;
        (!version.is_empty()).then_some(version)
    }
}

/// One release as the API lists it (only the fields buildkit reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiRelease {
    pub tag_name: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub prerelease: bool,
    #[serde(default)]
    pub assets: Vec<ApiAsset>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiAsset {
    pub name: String,
    pub size: u64,
    pub browser_download_url: String,
    /// `sha256:<hex>` since June 2025; absent or null on older assets.
    #[serde(default)]
    pub digest: Option<String>,
}

/// The newest release that has buildkit's asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newest<'a> {
    pub version: crate::version::Version,
    pub asset: &'a ApiAsset,
    /// The checksum file published beside the asset, where the tool has one.
    pub checksum_asset: Option<&'a ApiAsset>,
}

/// The newest stable release among `releases` that carries this tool's asset for
/// x86_64 Linux. Drafts, pre-releases, tags of other release lines and versions that are not
/// plain numbers are skipped; so is a release without the asset (another target's asset never
/// stands in for it). `checksum_template` names the checksum file, `{asset}` substituted.
pub fn newest<'a>(
    source: &ReleaseSource,
    releases: &'a [ApiRelease],
    checksum_template: Option<&str>,
) -> Option<Newest<'a>> {
    releases
        .iter()
        .filter(|r| !r.draft && !r.prerelease)
        .filter_map(|release| {
            let version = source.version_of_tag(&release.tag_name)?;
            let number = ReleaseVersion::parse(version)?;
            let tag_version = version.parse().ok()?;
            let name = source.asset_name(version);
            let asset = release.assets.iter().find(|a| a.name == name)?;
            let checksum_asset = checksum_template.and_then(|template| {
                let checksum_name = template.replace("{asset}", &name);
                release.assets.iter().find(|a| a.name == checksum_name)
            });
            Some((
                number,
                Newest {
                    version: tag_version,
                    asset,
                    checksum_asset,
                },
            ))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, newest)| newest)
}

/// The asset's digest from the API: `Some` for `sha256:<hex>`, `None` where the API gives none
/// (or another algorithm); an error for a `sha256:` that is not one.
pub fn api_digest(tool: &str, version: &str, asset: &ApiAsset) -> Result<Option<Sha256>, PinError> {
    let Some(digest) = asset.digest.as_deref() else {
        return Ok(None);
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Ok(None);
    };
    hex.parse().map(Some).map_err(|_| PinError::BadDigest {
        release: format!("{tool} {version}"),
        asset: asset.name.clone(),
        digest: crate::encode::inert(digest).into_owned(),
    })
}

/// The digest in a checksum file: its first word (sccache's holds only the hex; the
/// `sha256sum` format adds the file name after it).
pub fn parse_checksum_file(text: &str) -> Option<Sha256> {
    text.split_whitespace().next()?.parse().ok()
}

/// Where a new pin's digest came from; written into buildkit.toml's comment-free fields only
/// as `trust = "first-download"` when nobody upstream vouched for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOrigin {
    /// The releases API's asset digest.
    Api,
    /// The project's own checksum file.
    ChecksumFile,
    /// Both, and they agree.
    ApiAndChecksumFile,
    /// Upstream gave none for a release buildkit's embedded registry already pins.
    Registry,
    /// Nobody published one: the download was hashed (`--trust-download`).
    FirstDownload,
}

impl DigestOrigin {
    pub fn describe(self) -> &'static str {
        match self {
            DigestOrigin::Api => "the releases API's asset digest",
            DigestOrigin::ChecksumFile => "upstream's checksum file",
            DigestOrigin::ApiAndChecksumFile => {
                "the releases API's asset digest and upstream's checksum file, agreeing"
            }
            DigestOrigin::Registry => "buildkit's registry",
            DigestOrigin::FirstDownload => "the first download, hashed (--trust-download)",
        }
    }
}

/// What the published sources say together: the digest to pin, or why there is none. `None`
/// means nobody published one (the caller decides whether `--trust-download` allows hashing
/// the download). `checksum_url` is where `file` came from.
pub fn published_digest(
    tool: &str,
    version: &str,
    asset: &str,
    api: Option<Sha256>,
    file: Option<(Sha256, &str)>,
) -> Result<Option<(Sha256, DigestOrigin)>, PinError> {
    Ok(match (api, file) {
        (Some(api), Some((file, checksum_url))) if api != file => {
            return Err(PinError::SourcesDisagree {
                release: format!("{tool} {version}"),
                asset: asset.into(),
                api,
                file,
                checksum_url: checksum_url.into(),
            });
        }
        (Some(api), Some(_)) => Some((api, DigestOrigin::ApiAndChecksumFile)),
        (Some(api), None) => Some((api, DigestOrigin::Api)),
        (None, Some((file, _))) => Some((file, DigestOrigin::ChecksumFile)),
        (None, None) => None,
    })
}

/// The `rel="next"` URL of an RFC 8288 `Link` header, as GitHub paginates.
pub fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

/// Whether `url` has the same origin (scheme, host, port) as the API at `api`: the only
/// place the token may go. A page on another host, or over http from an https API, is not.
pub fn same_origin(api: &str, url: &str) -> bool {
    let origin = |u: &str| {
        let u = reqwest::Url::parse(u).ok()?;
        Some((
            u.scheme().to_string(),
            u.host_str()?.to_ascii_lowercase(),
            u.port_or_known_default()?,
        ))
    };
    matches!((origin(api), origin(url)), (Some(a), Some(b)) if a == b)
}

/// When a rate-limited request may be tried again, in seconds from `now` (both Unix seconds):
/// from `retry-after` (seconds) or `x-ratelimit-reset` (a Unix time).
pub fn retry_in(retry_after: Option<&str>, reset: Option<&str>, now: u64) -> Option<u64> {
    if let Some(seconds) = retry_after.and_then(|s| s.trim().parse::<u64>().ok()) {
        return Some(seconds);
    }
    let reset: u64 = reset?.trim().parse().ok()?;
    Some(reset.saturating_sub(now))
}

/// One tool's line of `buildkit outdated`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outdated {
    pub tool: String,
    pub locked: String,
    /// The newest upstream release with buildkit's asset; `None` for a tool that does not
    /// come from a release (rust-lld) or whose url is the user's own.
    pub newest: Option<String>,
    pub behind: bool,
    /// Why the tool was not looked up, where it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Outdated {
    pub fn compare(tool: &str, locked: &Version, newest: &Version) -> Outdated {
        Outdated {
            tool: tool.into(),
            locked: locked.to_string(),
            newest: Some(newest.to_string()),
            behind: locked.is_older_than(newest),
            note: None,
        }
    }
}

/// The table `buildkit outdated` prints.
pub fn outdated_table(rows: &[Outdated]) -> String {
    let width = |f: &dyn Fn(&Outdated) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let tool_w = width(&|r| r.tool.len(), "tool");
    let locked_w = width(&|r| r.locked.len(), "locked");
    let newest_w = width(&|r| r.newest.as_deref().map_or(1, str::len), "newest");
    let mut out = format!(
        "{:tool_w$}  {:locked_w$}  {:newest_w$}  status\n",
        "tool", "locked", "newest"
    );
    for row in rows {
        let status = match (&row.note, row.behind) {
            (Some(note), _) => note.clone(),
            (None, true) => format!(
                "behind: `buildkit lock --upgrade {}` moves the pin",
                row.tool
            ),
            (None, false) => "up to date".into(),
        };
        out.push_str(&format!(
            "{:tool_w$}  {:locked_w$}  {:newest_w$}  {}\n",
            row.tool,
            row.locked,
            row.newest.as_deref().unwrap_or("-"),
            crate::encode::inert(&status)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    fn mold() -> ReleaseSource {
        ReleaseSource::from_url_template(
            "https://github.com/rui314/mold/releases/download/v{version}/mold-{version}-x86_64-linux.tar.gz",
        )
        .unwrap()
    }

    fn asset(name: &str, digest: Option<&str>) -> ApiAsset {
        ApiAsset {
            name: name.into(),
            size: 10,
            browser_download_url: format!("https://example.test/{name}"),
            digest: digest.map(str::to_string),
        }
    }

    fn release(tag: &str, assets: Vec<ApiAsset>) -> ApiRelease {
        ApiRelease {
            tag_name: tag.into(),
            draft: false,
            prerelease: false,
            assets,
        }
    }

    #[test]
    fn source_from_the_registry_template() {
        let source = mold();
        assert_eq!(
            (source.owner.as_str(), source.repo.as_str()),
            ("rui314", "mold")
        );
        assert_eq!(
            source.releases_path(),
            "/repos/rui314/mold/releases?per_page=100"
        );
        assert_eq!(source.version_of_tag("v2.42.0"), Some("2.42.0"));
        assert_eq!(source.version_of_tag("2.42.0"), None);
        assert_eq!(source.version_of_tag("v"), None);
        let llvm = ReleaseSource::from_url_template(
            "https://github.com/llvm/llvm-project/releases/download/llvmorg-{version}/LLVM-{version}-Linux-X64.tar.xz",
        )
        .unwrap();
        assert_eq!(llvm.version_of_tag("llvmorg-22.1.8"), Some("22.1.8"));
        assert_eq!(llvm.asset_name("22.1.8"), "LLVM-22.1.8-Linux-X64.tar.xz");
        for other in [
            "https://example.com/rui314/mold/releases/download/v{version}/m.tar.gz",
            "https://github.com/rui314/mold/archive/v{version}.tar.gz",
            "https://github.com/../x/releases/download/v{version}/m-{version}.tar.gz",
            "https://github.com/a/b/releases/download/latest/m.tar.gz",
        ] {
            assert_eq!(ReleaseSource::from_url_template(other), None, "{other}");
        }
    }

    #[test]
    fn versions_compare_as_numbers() {
        let v = |s| ReleaseVersion::parse(s).unwrap();
        assert!(v("2.10.0") > v("2.9.9"));
        assert!(v("0.10.0") > v("0.9.0"));
        assert!(v("22.1.8") > v("21.99.99"));
        for bad in [
            "0.11.0-rc.1",
            "",
            "1..2",
            "v1.0",
            "1.2.3.4.5",
            "1.2.3.4",
            "2.43",
            "02.043.0",
            "2.043.0",
            "2.43.00",
            "99999999999",
        ] {
            assert_eq!(ReleaseVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn newest_skips_drafts_prereleases_and_other_targets() {
        let name = |v: &str| format!("mold-{v}-x86_64-linux.tar.gz");
        let mut pre = release("v2.44.0", vec![asset(&name("2.44.0"), None)]);
        pre.prerelease = true;
        let mut draft = release("v2.45.0", vec![asset(&name("2.45.0"), None)]);
        draft.draft = true;
        let releases = vec![
            pre,
            draft,
            // Only another target's asset: never picked.
            release(
                "v2.43.0",
                vec![asset("mold-2.43.0-aarch64-linux.tar.gz", None)],
            ),
            release("v2.43.0-rc1", vec![asset(&name("2.43.0-rc1"), None)]),
            release("v2.42.1", vec![asset(&name("2.42.1"), Some("sha256:x"))]),
            // A backport published later than a newer release.
            release("v2.41.9", vec![asset(&name("2.41.9"), None)]),
            release("sold-3.0.0", vec![asset(&name("3.0.0"), None)]),
        ];
        let newest = newest(&mold(), &releases, None).unwrap();
        assert_eq!(newest.version, "2.42.1");
        assert_eq!(newest.asset.name, name("2.42.1"));
        assert_eq!(super::newest(&mold(), &releases[..4], None), None);
    }

    #[test]
    fn checksum_file_is_found_beside_the_asset() {
        let source = ReleaseSource::from_url_template(
            "https://github.com/mozilla/sccache/releases/download/v{version}/sccache-v{version}-x86_64-unknown-linux-musl.tar.gz",
        )
        .unwrap();
        let a = "sccache-v0.19.0-x86_64-unknown-linux-musl.tar.gz";
        let releases = vec![release(
            "v0.19.0",
            vec![asset(a, None), asset(&format!("{a}.sha256"), None)],
        )];
        let newest = newest(&source, &releases, Some("{asset}.sha256")).unwrap();
        assert_eq!(newest.checksum_asset.unwrap().name, format!("{a}.sha256"));
    }

    #[test]
    fn digests_from_the_api_and_the_checksum_file() {
        let d = "ab".repeat(32);
        let other = "cd".repeat(32);
        let good = asset("m.tar.gz", Some(&format!("sha256:{d}")));
        assert_eq!(api_digest("mold", "1", &good).unwrap().unwrap().as_str(), d);
        assert_eq!(api_digest("mold", "1", &asset("m", None)).unwrap(), None);
        assert_eq!(
            api_digest("mold", "1", &asset("m", Some("sha512:00"))).unwrap(),
            None
        );
        assert!(matches!(
            api_digest("mold", "1", &asset("m", Some("sha256:zz"))),
            Err(PinError::BadDigest { .. })
        ));
        assert_eq!(parse_checksum_file(&d).unwrap().as_str(), d);
        assert_eq!(
            parse_checksum_file(&format!("{d}  m.tar.gz\n"))
                .unwrap()
                .as_str(),
            d
        );
        assert_eq!(parse_checksum_file("not a digest"), None);

        let sha = |s: &str| s.parse::<Sha256>().unwrap();
        let published = |api: Option<&str>, file: Option<&str>| {
            published_digest(
                "mold",
                "1.0.0",
                "m.tar.gz",
                api.map(sha),
                file.map(|f| (sha(f), "https://x/m.sha256")),
            )
        };
        assert_eq!(
            published(Some(&d), Some(&d)).unwrap(),
            Some((sha(&d), DigestOrigin::ApiAndChecksumFile))
        );
        assert_eq!(
            published(None, Some(&d)).unwrap(),
            Some((sha(&d), DigestOrigin::ChecksumFile))
        );
        assert_eq!(
            published(Some(&d), None).unwrap(),
            Some((sha(&d), DigestOrigin::Api))
        );
        assert_eq!(published(None, None).unwrap(), None);
        assert!(matches!(
            published(Some(&d), Some(&other)),
            Err(PinError::SourcesDisagree { .. })
        ));
    }

    #[test]
    fn pagination_and_rate_limits() {
        let link = "<https://api.github.com/repositories/1/releases?per_page=100&page=2>; rel=\"next\", <https://api.github.com/repositories/1/releases?per_page=100&page=5>; rel=\"last\"";
        assert_eq!(
            next_page(link).as_deref(),
            Some("https://api.github.com/repositories/1/releases?per_page=100&page=2")
        );
        assert_eq!(next_page("<https://x/?page=1>; rel=\"prev\""), None);
        assert_eq!(next_page(""), None);
        let api = "https://api.github.com";
        assert!(same_origin(api, "https://api.github.com/x?page=2"));
        assert!(same_origin(api, "https://API.github.com:443/x"));
        assert!(!same_origin(api, "http://api.github.com/x"));
        assert!(!same_origin(api, "https://api.github.com:8443/x"));
        assert!(!same_origin(api, "https://evil.example/x"));
        assert!(!same_origin(api, "https://api.github.com.evil.example/x"));
        assert!(!same_origin(api, "https://api.github.com@evil.example/x"));
        assert!(!same_origin(api, "not a url"));
        assert_eq!(retry_in(Some("30"), Some("5000"), 1000), Some(30));
        assert_eq!(retry_in(None, Some("1600"), 1000), Some(600));
        assert_eq!(retry_in(None, Some("900"), 1000), Some(0));
        assert_eq!(retry_in(None, None, 1000), None);
    }

    #[test]
    fn outdated_rows() {
        assert!(Outdated::compare("mold", &v("2.41.0"), &v("2.42.0")).behind);
        assert!(!Outdated::compare("mold", &v("2.42.0"), &v("2.42.0")).behind);
        // A lock ahead of upstream's newest (a release pulled back) is not behind.
        assert!(!Outdated::compare("mold", &v("2.43.0"), &v("2.42.0")).behind);
        let table = outdated_table(&[
            Outdated::compare("mold", &v("2.41.0"), &v("2.42.0")),
            Outdated::compare("sccache", &v("0.19.0"), &v("0.19.0")),
        ]);
        assert_eq!(
            table,
            "tool     locked  newest  status\n\
             mold     2.41.0  2.42.0  behind: `buildkit lock --upgrade mold` moves the pin\n\
             sccache  0.19.0  0.19.0  up to date\n"
        );
    }
}
