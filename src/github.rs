//! GitHub's releases API, asked which release of a tool is the newest and what digest upstream
//! published for its asset: the I/O half of `upstream`, which holds every rule.
//!
//! `GITHUB_TOKEN` is sent to the API (and only there, never to a download host) to lift the
//! unauthenticated limit of 60 requests an hour; `BUILDKIT_GITHUB_API` points at another API
//! (GitHub Enterprise, an internal mirror, the tests' loopback fake).

use crate::digest::Sha256;
use crate::fetch::{FetchError, Fetcher, Url};
use crate::registry::ToolReleases;
use crate::upstream::{self, ApiRelease, DigestOrigin, PinError, ReleaseSource};

/// Where the API is when `BUILDKIT_GITHUB_API` does not say.
pub const DEFAULT_API: &str = "https://api.github.com";
/// Pages of 100 releases followed before giving up on finding the tool's asset.
const MAX_PAGES: usize = 10;
const MAX_PAGE_BYTES: u64 = 32 << 20;
const MAX_CHECKSUM_FILE_BYTES: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{tool}: {url} answered HTTP {status}{hint}")]
    Status {
        tool: String,
        url: Url,
        status: u16,
        hint: &'static str,
    },
    #[error("{tool}: GitHub's API rate limit was reached at {url}; {when}{token_hint}")]
    RateLimited {
        tool: String,
        url: Url,
        when: String,
        token_hint: &'static str,
    },
    #[error("{tool}: {url} is not a list of GitHub releases ({message})")]
    Json {
        tool: String,
        url: Url,
        message: String,
    },
    #[error(
        "{tool}: none of the releases of {repo} listed at {url} ({pages} page(s)) is a stable release with the asset {asset}"
    )]
    NoRelease {
        tool: String,
        repo: String,
        url: Url,
        pages: usize,
        asset: String,
    },
    #[error(
        "{tool}: {url} links its next page to {next}, outside the API at {api}; refused (GITHUB_TOKEN goes to the API's scheme, host and port only)"
    )]
    ForeignPage {
        tool: String,
        url: Url,
        next: Url,
        api: Url,
    },
    #[error("{tool}: the checksum file {url} holds no sha256")]
    BadChecksumFile { tool: String, url: Url },
    #[error(
        "{tool}: buildkit's registry does not download it from GitHub releases ({template}), so there is no upstream to ask"
    )]
    NotGithub { tool: String, template: String },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Pin(#[from] PinError),
}

/// The newest release upstream has of one tool.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub version: crate::version::Version,
    /// The asset's file name.
    pub asset: String,
    /// Where the asset downloads from, as the API says.
    pub url: String,
    pub size: u64,
    /// The releases API's digest of the asset, where it gives one.
    pub api_digest: Option<Sha256>,
    /// Where upstream's checksum file for the asset is, where it publishes one.
    pub checksum_url: Option<String>,
}

pub struct ReleasesApi<'a> {
    fetcher: &'a Fetcher,
    base: String,
    token: Option<String>,
}

impl<'a> ReleasesApi<'a> {
    /// `base` (BUILDKIT_GITHUB_API) and `token` (GITHUB_TOKEN) as the environment gave them;
    /// empty means unset.
    pub fn new(fetcher: &'a Fetcher, base: Option<String>, token: Option<String>) -> Self {
        ReleasesApi {
            fetcher,
            base: base
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| DEFAULT_API.into())
                .trim_end_matches('/')
                .to_string(),
            token: token.filter(|t| !t.trim().is_empty()),
        }
    }

    /// The newest stable release of `tool` carrying buildkit's asset.
    pub fn newest(&self, tool: &str, releases: &ToolReleases) -> Result<Upstream, GithubError> {
        let source = ReleaseSource::from_url_template(&releases.url).ok_or_else(|| {
            GithubError::NotGithub {
                tool: tool.into(),
                template: releases.url.to_string(),
            }
        })?;
        let first = format!("{}{}", self.base, source.releases_path());
        let mut next = Some(first.clone());
        let mut pages = 0;
        while let Some(url) = next.take() {
            if pages == MAX_PAGES {
                break;
            }
            pages += 1;
            let (page, link) = self.page(tool, &url)?;
            if let Some(newest) =
                upstream::newest(&source, &page, releases.checksum_asset.as_deref())
            {
                return Ok(Upstream {
                    api_digest: upstream::api_digest(tool, &newest.version, newest.asset)?,
                    checksum_url: newest
                        .checksum_asset
                        .map(|a| a.browser_download_url.clone()),
                    version: newest.version,
                    asset: newest.asset.name.clone(),
                    url: newest.asset.browser_download_url.clone(),
                    size: newest.asset.size,
                });
            }
            next = link.as_deref().and_then(upstream::next_page);
            if let Some(page) = next.as_deref()
                && !upstream::same_origin(&self.base, page)
            {
                return Err(GithubError::ForeignPage {
                    tool: tool.into(),
                    url: url.into(),
                    next: page.into(),
                    api: self.base.clone().into(),
                });
            }
        }
        Err(GithubError::NoRelease {
            tool: tool.into(),
            repo: format!("{}/{}", source.owner, source.repo),
            url: first.into(),
            pages,
            asset: source.asset_name("{version}"),
        })
    }

    /// The digest upstream published for the release's asset: the API's and the checksum
    /// file's, which must agree; `None` when there is neither.
    pub fn published_digest(
        &self,
        tool: &str,
        release: &Upstream,
    ) -> Result<Option<(Sha256, DigestOrigin)>, GithubError> {
        let file = match &release.checksum_url {
            Some(url) => Some((self.checksum_file(tool, url)?, url.as_str())),
            None => None,
        };
        Ok(upstream::published_digest(
            tool,
            &release.version,
            &release.asset,
            release.api_digest.clone(),
            file,
        )?)
    }

    /// One page of releases and its `Link` header.
    fn page(
        &self,
        tool: &str,
        url: &str,
    ) -> Result<(Vec<ApiRelease>, Option<String>), GithubError> {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {}", t.trim()));
        let mut headers = vec![
            ("accept", "application/vnd.github+json"),
            ("x-github-api-version", "2022-11-28"),
        ];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        let response = self.fetcher.get_api(url, &headers, MAX_PAGE_BYTES)?;
        let rate_limited = response.status == 429
            || (response.status == 403
                && (response.header("x-ratelimit-remaining") == Some("0")
                    || response.header("retry-after").is_some()));
        if rate_limited {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let when = match upstream::retry_in(
                response.header("retry-after"),
                response.header("x-ratelimit-reset"),
                now,
            ) {
                Some(seconds) => {
                    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now + seconds);
                    format!(
                        "retry after {} UTC (in {})",
                        humantime::format_rfc3339_seconds(at)
                            .to_string()
                            .trim_end_matches('Z')
                            .replace('T', " "),
                        humantime::format_duration(std::time::Duration::from_secs(seconds))
                    )
                }
                None => "retry later".into(),
            };
            return Err(GithubError::RateLimited {
                tool: tool.into(),
                url: url.into(),
                when,
                token_hint: if self.token.is_some() {
                    ""
                } else {
                    ", or set GITHUB_TOKEN (5,000 requests an hour instead of 60)"
                },
            });
        }
        if !(200..300).contains(&response.status) {
            return Err(GithubError::Status {
                tool: tool.into(),
                url: url.into(),
                status: response.status,
                hint: match response.status {
                    401 => " (GITHUB_TOKEN was refused: check it, or unset it)",
                    403 => " (access denied: check GITHUB_TOKEN)",
                    404 => " (no such repository: check BUILDKIT_GITHUB_API)",
                    _ => "",
                },
            });
        }
        let page: Vec<ApiRelease> =
            serde_json::from_slice(&response.body).map_err(|e| GithubError::Json {
                tool: tool.into(),
                url: url.into(),
                message: e.to_string(),
            })?;
        Ok((page, response.header("link").map(str::to_string)))
    }

    /// The digest in upstream's checksum file (downloaded like an asset: no token), read with
    /// an API response's size limit and deadline.
    fn checksum_file(&self, tool: &str, url: &str) -> Result<Sha256, GithubError> {
        let bad = || GithubError::BadChecksumFile {
            tool: tool.into(),
            url: url.into(),
        };
        let response = self
            .fetcher
            .get_api(url, &[], MAX_CHECKSUM_FILE_BYTES)
            .map_err(|e| match e {
                FetchError::TooLarge { .. } => bad(),
                other => other.into(),
            })?;
        if !(200..300).contains(&response.status) {
            return Err(GithubError::Status {
                tool: tool.into(),
                url: url.into(),
                status: response.status,
                hint: "",
            });
        }
        let text = String::from_utf8(response.body).map_err(|_| bad())?;
        upstream::parse_checksum_file(&text).ok_or_else(bad)
    }
}
