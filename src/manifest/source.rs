//! `[buildkit]`: where the devcontainer and CI get buildkit itself (a crates.io version, a git
//! commit, a path inside the project, or a prebuilt binary and its sha256), and the checks on
//! the URLs and paths such a source names.

use serde::Deserialize;
use toml::Spanned;

use super::ManifestError;
use super::spans::Source;

/// The crates.io package buildkit is published under (the binary is `buildkit`; crates.io's
/// `buildkit` is an unrelated project, so generated files must never name it).
pub const PACKAGE_NAME: &str = env!("CARGO_PKG_NAME");

/// Where the devcontainer and CI get buildkit itself. Each variant is a pin: installing it twice
/// gives the same program, so CI may cache the result under a key derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildkitSource {
    /// [`PACKAGE_NAME`] at this version from crates.io.
    CratesIo { version: String },
    /// A git repository at a full 40-hex commit.
    Git { url: String, rev: String },
    /// A source tree inside the project (relative, normalized, no `..`), so that the container
    /// build context and the CI checkout both hold it.
    Path { path: String },
    /// A prebuilt binary (a bare executable or a .tar.gz holding `buildkit`), verified like any
    /// tool against its pinned digest.
    Prebuilt {
        url: String,
        sha256: crate::digest::Sha256,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBuildkit {
    version: Option<Spanned<String>>,
    git: Option<Spanned<String>>,
    rev: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    sha256: Option<Spanned<String>>,
}

/// Characters a URL may hold: RFC 3986's unreserved and delimiter characters, without quotes,
/// `$`, `;`, `&`, `(`, `)`, `*` or backslashes. Generated files quote every URL for where it
/// lands whatever it holds; this refuses what no real URL needs, with a clear message.
pub(super) fn is_plain_url(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|scheme| url.starts_with(scheme))
        && url.len() <= 2048
        && url
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#[]@!+,=%".contains(c))
}

/// Whether a URL carries `user@` or `user:password@` (buildkit.toml is committed, and its URLs
/// go into the lock, the receipts, generated files and messages).
pub(super) fn has_credentials(url: &str) -> bool {
    crate::fetch::credentials_end(url).is_some()
}

/// The query parameter of a URL that carries a secret by its name (`?password=…`, `token=`,
/// a presigned `X-Amz-Signature=`), if any: as much a credential as `user:password@`.
pub(super) fn secret_query_parameter(url: &str) -> Option<&str> {
    const SECRET_NAMES: &[&str] = &[
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "apikey",
        "api_key",
        "access_key",
        "secret_key",
        "auth",
        "signature",
        "sig",
    ];
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query.split('&').find_map(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        let lower = name.to_ascii_lowercase();
        let bare = lower.rsplit(['-', '.']).next().unwrap_or(&lower);
        (SECRET_NAMES.contains(&lower.as_str()) || SECRET_NAMES.contains(&bare)).then_some(name)
    })
}

/// Whether a URL carries a password (`user:password@`): an ssh URL names its user (`git@`), but
/// its secret is a key, never a password in the URL.
pub(super) fn has_password(url: &str) -> bool {
    crate::fetch::credentials_end(url)
        .is_some_and(|(scheme, end)| url[scheme.len() + 3..end].contains(':'))
}

pub(super) const NO_CREDENTIALS: &str = "holds credentials (`user@` or `user:password@`); buildkit.toml is committed: give them through a mirror instead (BUILDKIT_MIRROR=https://user:password@mirror.example)";

/// A path inside the project: relative, no `..`, no `.` segments but a lone `.`, and characters
/// that need no quoting. Returned without a trailing slash.
pub(super) fn project_relative_path(path: &str) -> Result<String, &'static str> {
    if path.is_empty() {
        return Err("is empty; use \".\" for the project root");
    }
    if path.starts_with('/') {
        return Err(
            "must be relative to the project root (the container build context and the CI checkout hold only the project)",
        );
    }
    if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._/".contains(c))
    {
        return Err("may hold only letters, digits, `-`, `_`, `.` and `/`");
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed == "." {
        return Ok(".".into());
    }
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments.contains(&"..") {
        return Err(
            "leaves the project (`..`); the container build context and the CI checkout hold only the project",
        );
    }
    if segments.iter().any(|s| s.is_empty() || *s == ".") {
        return Err("is not a normalized path (empty or `.` segment)");
    }
    if segments.iter().any(|s| s.starts_with('-')) {
        return Err("has a segment that starts with `-`, which commands would read as an option");
    }
    Ok(trimmed.to_string())
}

pub(super) fn buildkit_source(
    src: &Source<'_>,
    raw: RawBuildkit,
) -> Result<BuildkitSource, ManifestError> {
    // Exactly one way to get buildkit: the first key of each pair names the source.
    let given: Vec<(&str, usize)> = [
        ("version", raw.version.as_ref()),
        ("git", raw.git.as_ref().or(raw.rev.as_ref())),
        ("path", raw.path.as_ref()),
        ("url", raw.url.as_ref().or(raw.sha256.as_ref())),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.map(|v| (key, v.span().start)))
    .collect();
    if let [(first, _), (second, offset), ..] = given.as_slice() {
        return Err(src.error(
            *offset,
            &format!("buildkit.{second}"),
            format!("and `buildkit.{first}` are two sources for buildkit; keep one"),
        ));
    }
    if let Some(version) = raw.version {
        return crates_io_source(src, version);
    }
    match (raw.git, raw.rev) {
        (Some(git), Some(rev)) => return git_source(src, git, rev),
        (Some(git), None) => {
            return Err(src.at(
                &git,
                "buildkit.git",
                "needs `rev`, the full 40-hex commit to build",
            ));
        }
        (None, Some(rev)) => {
            return Err(src.at(&rev, "buildkit.rev", "needs `git`, the repository"));
        }
        (None, None) => {}
    }
    if let Some(path) = raw.path {
        return project_relative_path(path.get_ref())
            .map(|path| BuildkitSource::Path { path })
            .map_err(|message| src.at(&path, "buildkit.path", message));
    }
    match (raw.url, raw.sha256) {
        (Some(url), _) if has_credentials(url.get_ref()) => {
            Err(src.at(&url, "buildkit.url", NO_CREDENTIALS))
        }
        (Some(url), Some(sha256)) => prebuilt_source(src, url, sha256),
        (Some(url), None) => Err(src.at(
            &url,
            "buildkit.url",
            "has no `sha256` beside it: a prebuilt buildkit is only trusted against a pinned digest",
        )),
        (None, Some(sha256)) => Err(src.at(
            &sha256,
            "buildkit.sha256",
            "has no `url` beside it: say where the prebuilt buildkit is downloaded from",
        )),
        (None, None) => Err(src.error(
            0,
            "buildkit",
            "names no source: give one of `version`, `git` + `rev`, `path`, or `url` + `sha256`",
        )),
    }
}

pub(super) fn crates_io_source(
    src: &Source<'_>,
    version: Spanned<String>,
) -> Result<BuildkitSource, ManifestError> {
    if version
        .get_ref()
        .parse::<crate::version::Version>()
        .is_err()
        || version.get_ref().contains('_')
    {
        return Err(src.at(
            &version,
            "buildkit.version",
            format!("is not a version of {PACKAGE_NAME} like 0.1.0"),
        ));
    }
    Ok(BuildkitSource::CratesIo {
        version: version.into_inner(),
    })
}

/// A repository URL the generated shell can quote, and a full commit (a branch or tag can move).
pub(super) fn git_source(
    src: &Source<'_>,
    git: Spanned<String>,
    rev: Spanned<String>,
) -> Result<BuildkitSource, ManifestError> {
    let ssh = git.get_ref().starts_with("ssh://");
    if (has_credentials(git.get_ref()) && !ssh) || has_password(git.get_ref()) {
        return Err(src.at(&git, "buildkit.git", NO_CREDENTIALS));
    }
    if !is_plain_url(git.get_ref(), &["https://", "http://", "ssh://", "file://"]) {
        return Err(src.at(
            &git,
            "buildkit.git",
            "must be an https://, http://, ssh:// or file:// URL without quotes, spaces or `$`",
        ));
    }
    let is_commit = rev.get_ref().len() == 40
        && rev
            .get_ref()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_commit {
        return Err(src.at(
            &rev,
            "buildkit.rev",
            format!(
                "`{}` is not a pin: give the full 40-hex commit (a branch or tag can move)",
                rev.get_ref()
            ),
        ));
    }
    Ok(BuildkitSource::Git {
        url: git.into_inner(),
        rev: rev.into_inner(),
    })
}

/// A prebuilt binary: a URL the generated shell can quote, trusted against its sha256 only.
pub(super) fn prebuilt_source(
    src: &Source<'_>,
    url: Spanned<String>,
    sha256: Spanned<String>,
) -> Result<BuildkitSource, ManifestError> {
    if !is_plain_url(url.get_ref(), &crate::fetch::DOWNLOAD_SCHEMES) {
        return Err(src.at(
            &url,
            "buildkit.url",
            "must be an https://, http:// or file:// URL without quotes, spaces or `$`",
        ));
    }
    let Ok(digest) = sha256.get_ref().parse() else {
        return Err(src.at(&sha256, "buildkit.sha256", "must be 64 hexadecimal digits"));
    };
    Ok(BuildkitSource::Prebuilt {
        url: url.into_inner(),
        sha256: digest,
    })
}

#[cfg(test)]
mod tests {
    use super::secret_query_parameter;

    #[test]
    fn secrets_in_a_query_are_found_by_their_name() {
        for (url, found) in [
            ("redis://h:6379/0?password=x", Some("password")),
            (
                "https://s3.example/b?X-Amz-Signature=abc&X-Amz-Date=1",
                Some("X-Amz-Signature"),
            ),
            ("http://dav.example/c?a=1&token=t#frag", Some("token")),
            ("redis://h:6379/0?db=1", None),
            ("redis://h:6379/0", None),
            ("https://h/path/password", None),
            ("https://h/?passwordless=1", None),
        ] {
            assert_eq!(secret_query_parameter(url), found, "{url}");
        }
    }
}
