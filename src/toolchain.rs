//! The Rust toolchain a project pins, against the one that really runs.
//!
//! A laptop builds with whatever rustc rustup picks in the project's directory (the generated
//! rust-toolchain.toml selects the pinned one), so `check` and `doctor` ask rustc itself. Stable
//! releases follow a fixed six-week train from 1.0.0 (2015-05-15), which lets buildkit tell a
//! version that cannot exist yet from one it merely has not seen, without any network.
//!
//! Pure: rustc's and rustup's output and today's date come in as values ([`crate::machine`]
//! asks the machine for them).

/// A stable Rust release as a project pins it: `1.95.0`, or `1.95` for any patch of 1.95.
/// Parsed once, from buildkit.toml or rustc's own `release:`; digits and dots only, so it is
/// safe wherever it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RustVersion {
    pub major: u64,
    pub minor: u64,
    /// `None`: any patch release of `major.minor`.
    pub patch: Option<u64>,
}

impl std::str::FromStr for RustVersion {
    type Err = ();

    /// `1.95.0` or `1.95`: two or three dot-separated numbers, nothing else.
    fn from_str(text: &str) -> Result<RustVersion, ()> {
        let number = |part: &str| {
            (!part.is_empty() && part.len() <= 9 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u64>().ok())
                .flatten()
        };
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            [major, minor] => Ok(RustVersion {
                major: number(major).ok_or(())?,
                minor: number(minor).ok_or(())?,
                patch: None,
            }),
            [major, minor, patch] => Ok(RustVersion {
                major: number(major).ok_or(())?,
                minor: number(minor).ok_or(())?,
                patch: Some(number(patch).ok_or(())?),
            }),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for RustVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

impl RustVersion {
    /// Whether an active rustc's `release:` ("1.95.0", "1.97.0-nightly") is this pin. A
    /// nightly or beta never satisfies a stable pin.
    pub fn is_satisfied_by(&self, release: &str) -> bool {
        match release.parse::<RustVersion>() {
            Ok(active) => {
                active.major == self.major
                    && active.minor == self.minor
                    && (self.patch.is_none() || active.patch == self.patch)
            }
            Err(()) => false,
        }
    }
}

/// What `rustc -vV` says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRustc {
    /// `release:`, e.g. "1.95.0" or "1.97.0-nightly".
    pub release: String,
    /// The whole `rustc -vV` output: commit, host and LLVM version included.
    pub verbose: String,
}

impl ActiveRustc {
    /// What `rustc -vV` printed (`verbose`), read; `rustc` names it in the error.
    pub fn parse(rustc: &str, verbose: String) -> Result<ActiveRustc, ToolchainError> {
        let release = verbose
            .lines()
            .find_map(|l| l.strip_prefix("release: "))
            .map(|r| r.trim().to_string())
            .ok_or_else(|| ToolchainError::NoRelease {
                rustc: rustc.to_string(),
            })?;
        Ok(ActiveRustc { release, verbose })
    }

    /// `host:`, the triple this rustc builds for by default.
    pub fn host(&self) -> Option<&str> {
        self.verbose
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .map(str::trim)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    #[error("cannot run `{rustc} -vV`: {source}")]
    Spawn {
        rustc: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{rustc} -vV` failed: {stderr}")]
    Failed { rustc: String, stderr: String },
    #[error("`{rustc} -vV` printed no `release:` line")]
    NoRelease { rustc: String },
}

impl ToolchainError {
    /// rustc was not started because a file of the project it would read is not one (a FIFO,
    /// a device, a huge file): the project is broken, not the toolchain.
    pub fn is_project_file(&self) -> bool {
        matches!(self, ToolchainError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput)
    }
}

/// Days since 1970-01-01 of the day stable 1.`minor`.0 is released.
fn release_day(minor: u64) -> i64 {
    const RUST_1_0: i64 = 16_570; // 2015-05-15
    RUST_1_0 + 42 * minor as i64
}

/// A fixed "today" for tests of pure code (2026-11-30), so that they do not read the clock.
#[cfg(test)]
pub const TEST_DAY: i64 = 20_787;

/// `YYYY-MM-DD` of a day count (proleptic Gregorian; Howard Hinnant's civil_from_days).
pub fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Why `version` cannot be pinned on `today`, if it cannot.
pub fn unreleased(version: RustVersion, today: i64) -> Option<String> {
    match (version.major, version.minor) {
        (1, minor) => {
            // A day of slack either way: release day is a Thursday, in US time.
            let due = release_day(minor);
            if due > today + 1 {
                return Some(format!(
                    "Rust {version} is not released yet (1.{minor}.0 is due around {}); pin a released stable version",
                    date(due)
                ));
            }
            unreleased_patch(minor, version.patch?)
                .map(|why| format!("Rust {version} is not a release ({why}); pin one that exists"))
        }
        _ => Some(format!(
            "`{version}` is not a Rust release (stable Rust is 1.x)"
        )),
    }
}

/// The last patch of each minor release that had patch releases, through 1.85 (as released);
/// a minor not listed up to there had none.
const PATCH_RELEASES: &[(u64, u64)] = &[
    (12, 1),
    (15, 1),
    (22, 1),
    (24, 1),
    (26, 2),
    (27, 2),
    (29, 2),
    (30, 1),
    (31, 1),
    (34, 2),
    (41, 1),
    (43, 1),
    (44, 1),
    (45, 2),
    (52, 1),
    (56, 1),
    (58, 1),
    (66, 1),
    (67, 1),
    (68, 2),
    (71, 1),
    (72, 1),
    (74, 1),
    (77, 2),
    (80, 1),
    (84, 1),
    (85, 1),
];
/// The minors that list covers.
const PATCH_RELEASES_THROUGH: u64 = 85;
/// No Rust minor release has had a patch past this one.
const MAX_PATCH: u64 = 2;

/// Why `1.minor.patch` never was, if it never was. Past the table, a patch above any Rust has
/// ever had is refused, and any other is given the benefit of the doubt.
fn unreleased_patch(minor: u64, patch: u64) -> Option<String> {
    if minor > PATCH_RELEASES_THROUGH {
        return (patch > MAX_PATCH)
            .then(|| format!("no Rust release has had a patch number above {MAX_PATCH}"));
    }
    let last = PATCH_RELEASES
        .iter()
        .find(|(m, _)| *m == minor)
        .map_or(0, |(_, last)| *last);
    (patch > last).then(|| format!("the last patch release of 1.{minor} is 1.{minor}.{last}"))
}

/// A toolchain name `rustup toolchain list` prints, as the stable it is by name: `1.95.0-…`
/// is; `stable-…` is whatever its rustc says (`Err` with that name, for the caller to ask).
pub fn listed_stable(line: &str) -> Result<RustVersion, Option<&str>> {
    let name = line.split_whitespace().next().unwrap_or_default();
    let channel = name.split('-').next().unwrap_or_default();
    match channel.parse::<RustVersion>() {
        Ok(version) => Ok(version),
        Err(_) if channel == "stable" => Err(Some(name)),
        Err(_) => Err(None),
    }
}

/// The version `rustc --version` names (`rustc 1.95.0 (…)`).
pub fn version_of(line: &str) -> Option<RustVersion> {
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The stable release to pin for an active rustc: itself when it is stable, else the newest
/// stable it can name (a beta 1.N is one train ahead of stable, a nightly two).
pub fn stable_for(release: &str) -> Option<(RustVersion, bool)> {
    let (numeric, channel) = release.split_once('-').unwrap_or((release, ""));
    let mut parts = numeric.split('.').map(|p| p.parse::<u64>().ok());
    let (major, minor, patch) = (
        parts.next().flatten()?,
        parts.next().flatten()?,
        parts.next().flatten()?,
    );
    let behind = match channel {
        "" => {
            let version = RustVersion {
                major,
                minor,
                patch: Some(patch),
            };
            return Some((version, false));
        }
        c if c.starts_with("beta") => 1,
        c if c.starts_with("nightly") || c == "dev" => 2,
        _ => return None,
    };
    let version = RustVersion {
        major,
        minor: minor.checked_sub(behind)?,
        patch: Some(0),
    };
    Some((version, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> RustVersion {
        text.parse().unwrap()
    }

    #[test]
    fn versions_parse_strictly_and_print_as_written() {
        for text in ["1.95.0", "1.95", "2.0.10"] {
            assert_eq!(v(text).to_string(), text);
        }
        for bad in [
            "1",
            "1.95.0.0",
            "1.95.x",
            "+1.95",
            "1..95",
            "1.95.0-beta",
            " 1.95",
            "",
        ] {
            assert!(bad.parse::<RustVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn release_days_follow_the_six_week_train() {
        assert_eq!(date(release_day(0)), "2015-05-15");
        // 1.95.0 was built 2026-04-14 and released on Thursday 2026-04-16: the train has drifted
        // by a day since 1.0 (a Friday), which `unreleased` allows for.
        assert_eq!(date(release_day(95)), "2026-04-17");
        assert_eq!(date(0), "1970-01-01");
    }

    #[test]
    fn unreleased_versions_are_named() {
        let day_of_1_95 = release_day(95);
        assert_eq!(unreleased(v("1.95.0"), day_of_1_95), None);
        assert_eq!(unreleased(v("1.93"), day_of_1_95), None);
        let err = unreleased(v("1.97.0"), day_of_1_95).unwrap();
        assert!(
            err.contains("not released yet") && err.contains("2026-07-10"),
            "{err}"
        );
        assert!(unreleased(v("2.0.0"), day_of_1_95).is_some());
        // Patch releases: the ones that exist pass, the ones that never were do not.
        assert_eq!(unreleased(v("1.85.1"), day_of_1_95), None);
        assert_eq!(unreleased(v("1.77.2"), day_of_1_95), None);
        assert_eq!(
            unreleased(v("1.95.9"), day_of_1_95).as_deref(),
            Some(
                "Rust 1.95.9 is not a release (no Rust release has had a patch number above 2); pin one that exists"
            )
        );
        assert!(unreleased(v("1.80.3"), day_of_1_95).is_some());
        assert!(unreleased(v("1.81.1"), day_of_1_95).is_some());
    }

    #[test]
    fn pins_match_patch_releases_only_when_the_pin_leaves_the_patch_open() {
        assert!(v("1.95.0").is_satisfied_by("1.95.0"));
        assert!(v("1.95").is_satisfied_by("1.95.1"));
        assert!(!v("1.95.0").is_satisfied_by("1.95.1"));
        assert!(!v("1.95").is_satisfied_by("1.950.0"));
        assert!(!v("1.95.0").is_satisfied_by("1.95.0-nightly"));
        assert!(!v("1.95.0").is_satisfied_by("1.93.0"));
    }

    #[test]
    fn nightly_and_beta_pin_the_newest_stable_they_can_name() {
        assert_eq!(stable_for("1.95.0"), Some((v("1.95.0"), false)));
        assert_eq!(stable_for("1.97.0-nightly"), Some((v("1.95.0"), true)));
        assert_eq!(stable_for("1.96.0-beta.3"), Some((v("1.95.0"), true)));
        assert_eq!(stable_for("garbage"), None);
    }
}
