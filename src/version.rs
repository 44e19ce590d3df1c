//! A tool's version, as buildkit.toml, the registry, buildkit.lock and a receipt hold it: one
//! parser, so that every version buildkit handles is safe as a directory name in BUILDKIT_HOME
//! and compares as upstream numbers its releases.
//!
//! (Rust's own version is `toolchain::RustVersion`: a release channel, not a tool's version.)

use std::fmt;

/// A tool's version: starts with a digit, at most 64 characters of ASCII letters, digits and
/// `.-+_`, no `..`. `1.2.3`, `0.17.0-rc1`; never a path or a word like `latest`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Version(String);

/// Text that is not a [`Version`], kept (escaped when shown) for the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is not a version like 1.2.3", crate::encode::inert(.0))]
pub struct NotAVersion(pub String);

impl Version {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The release it names, where it is a plain `MAJOR.MINOR.PATCH` (what upstream upgrades
    /// compare).
    pub fn release(&self) -> Option<ReleaseVersion> {
        ReleaseVersion::parse(&self.0)
    }

    /// Whether upstream's `newest` is newer than this pin: compared as numbers where both are
    /// plain releases, otherwise any difference counts.
    pub fn is_older_than(&self, newest: &Version) -> bool {
        match (self.release(), newest.release()) {
            (Some(current), Some(newest)) => newest > current,
            _ => self != newest,
        }
    }

    /// Whether a `--version` line names this version as a whole word (`v` before it allowed).
    pub fn is_said_by(&self, line: &str) -> bool {
        line.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
            .any(|word| word == self.0 || word.strip_prefix('v') == Some(self.as_str()))
    }
}

impl std::str::FromStr for Version {
    type Err = NotAVersion;

    fn from_str(text: &str) -> Result<Version, NotAVersion> {
        let starts_with_digit = text.chars().next().is_some_and(|c| c.is_ascii_digit());
        let plain = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'));
        if starts_with_digit && text.len() <= 64 && plain && !text.contains("..") {
            Ok(Version(text.to_string()))
        } else {
            Err(NotAVersion(text.to_string()))
        }
    }
}

impl TryFrom<String> for Version {
    type Error = NotAVersion;

    fn try_from(text: String) -> Result<Version, NotAVersion> {
        text.parse()
    }
}

impl From<Version> for String {
    fn from(version: Version) -> String {
        version.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Version {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Version {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Version {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A release version: exactly three dot-separated numbers, as every tool buildkit installs
/// numbers its releases, each without a leading zero (`v02.043.0` is not `2.43.0`: a tag that
/// would pin a version upstream never named). A version with anything else in it
/// (`0.11.0-rc.1`, `2.43`) is not a release buildkit upgrades to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReleaseVersion(Vec<u64>);

impl ReleaseVersion {
    pub fn parse(text: &str) -> Option<ReleaseVersion> {
        let parts: Option<Vec<u64>> = text
            .split('.')
            .map(|p| {
                (!p.is_empty()
                    && p.len() <= 9
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (p == "0" || !p.starts_with('0')))
                .then(|| p.parse().ok())
                .flatten()
            })
            .collect();
        parts.filter(|p| p.len() == 3).map(ReleaseVersion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn a_version_is_safe_as_a_directory_name() {
        for good in ["1.2.3", "0.17.0-rc1", "2.41.0+build_1"] {
            assert_eq!(v(good).as_str(), good);
        }
        for bad in [
            "",
            "latest",
            "v1.2.3",
            "1..2",
            "1.2/3",
            "1.2.3\n",
            &"1".repeat(65),
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "a/b".parse::<Version>().unwrap_err().to_string(),
            "`a/b` is not a version like 1.2.3"
        );
    }

    #[test]
    fn releases_compare_as_numbers_and_anything_else_by_difference() {
        assert!(v("2.9.0").is_older_than(&v("2.10.0")));
        assert!(!v("2.10.0").is_older_than(&v("2.9.0")));
        assert!(!v("2.10.0").is_older_than(&v("2.10.0")));
        assert!(v("0.11.0-rc.1").is_older_than(&v("0.11.0")));
        assert_eq!(ReleaseVersion::parse("02.1.0"), None);
        assert_eq!(ReleaseVersion::parse("2.43"), None);
    }

    #[test]
    fn a_version_line_names_it_as_a_whole_word() {
        assert!(v("2.41.0").is_said_by("mold 2.41.0 (compatible with GNU ld)"));
        assert!(v("0.17.0").is_said_by("sccache v0.17.0"));
        assert!(v("22.1.8").is_said_by("LLD 22.1.8 (compatible with GNU linkers)"));
        assert!(!v("2.41.0").is_said_by("mold 2.41.01"));
        assert!(!v("0.17.0").is_said_by("sccache 0.16.0"));
    }
}
