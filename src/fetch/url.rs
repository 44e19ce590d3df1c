//! URLs as buildkit passes them around: `Url` redacts credentials by construction (a message
//! never shows a secret), and a mirror maps `https://HOST/PATH` to `MIRROR/HOST/PATH`.

/// A URL as it appears in an error: its credentials (a mirror's `user:secret@`) are redacted
/// whenever it is displayed, so no message can carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url(String);

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl From<&str> for Url {
    fn from(url: &str) -> Url {
        Url(url.to_string())
    }
}

impl From<String> for Url {
    fn from(url: String) -> Url {
        Url(url)
    }
}

impl From<&String> for Url {
    fn from(url: &String) -> Url {
        Url(url.clone())
    }
}

/// The schemes buildkit downloads from (a pin's url, `[buildkit] url`, `--mirror`): checked
/// here, once, for all of them.
pub const DOWNLOAD_SCHEMES: [&str; 3] = ["https://", "http://", "file://"];

/// Whether `url` starts with one of [`DOWNLOAD_SCHEMES`].
pub fn is_download_url(url: &str) -> bool {
    DOWNLOAD_SCHEMES
        .iter()
        .any(|scheme| url.starts_with(scheme))
}

/// `scheme://user:secret@host/…` -> `scheme://***@host/…`: credentials never reach a message.
pub(super) fn redact_url(url: &str) -> String {
    match credentials_end(url) {
        Some((scheme, after)) => format!("{scheme}://***@{}", &url[after..]),
        None => url.to_string(),
    }
}

/// Where `user:secret@` ends in `scheme://user:secret@host/…`: the scheme, and the index just
/// past the `@`. `None` when the URL carries no credentials (an `@` in the path is not one).
pub fn credentials_end(url: &str) -> Option<(&str, usize)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((scheme, scheme.len() + 3 + at + 1))
}

/// `https://HOST/PATH` through `mirror` becomes `MIRROR/HOST/PATH`; other URLs are kept.
pub fn apply_mirror(url: &str, mirror: Option<&str>) -> String {
    let Some(mirror) = mirror else {
        return url.to_string();
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => format!("{}/{}", mirror.trim_end_matches('/'), rest),
        None => url.to_string(),
    }
}
