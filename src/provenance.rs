//! Where the running buildkit came from, as cargo recorded it when it installed it: the
//! `.crates2.json` in the install root lists each installed package by its id, which names the
//! source (a registry version, a git URL and commit, or a local path). `init` pins the same
//! source for CI and the devcontainer, so that what they install is what the user runs, and
//! never a crates.io version that does not exist.
//!
//! Pure: the file's text comes in as a value ([`crate::machine::running_buildkit`] reads it).

use std::path::{Path, PathBuf};

/// How cargo installed a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstalledFrom {
    /// From crates.io, at this version.
    CratesIo { version: String },
    /// From a git repository, at this full commit.
    Git { url: String, rev: String },
    /// From a source tree on this machine.
    Path { dir: PathBuf },
}

/// The source of the installed package that provides the binary `bin`, from the text of a
/// `.crates2.json`; `None` when no entry provides it or its source is none of the above.
pub fn parse_crates2(text: &str, bin: &str) -> Option<InstalledFrom> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let installs = json.get("installs")?.as_object()?;
    installs.iter().find_map(|(id, entry)| {
        let provides = entry
            .get("bins")?
            .as_array()?
            .iter()
            .any(|b| b.as_str() == Some(bin));
        if provides { parse_package_id(id) } else { None }
    })
}

/// `NAME VERSION (SOURCE)` as cargo writes a package id.
fn parse_package_id(id: &str) -> Option<InstalledFrom> {
    let (name_version, source) = id.split_once(" (")?;
    let source = source.strip_suffix(')')?;
    let version = name_version.split_once(' ')?.1;
    let (kind, location) = source.split_once('+')?;
    match kind {
        "registry" | "sparse"
            if location.contains("github.com/rust-lang/crates.io-index")
                || location.starts_with("https://index.crates.io") =>
        {
            Some(InstalledFrom::CratesIo {
                version: version.to_string(),
            })
        }
        "git" => {
            let (url, rev) = location.rsplit_once('#')?;
            let url = url.split_once('?').map_or(url, |(url, _)| url);
            let full = rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
            full.then(|| InstalledFrom::Git {
                url: url.to_string(),
                rev: rev.to_ascii_lowercase(),
            })
        }
        "path" => Some(InstalledFrom::Path {
            dir: PathBuf::from(location.strip_prefix("file://")?),
        }),
        _ => None,
    }
}

/// A path install as a `[buildkit] path` of the project at `root`: relative, inside it.
pub fn inside(dir: &Path, root: &Path) -> Option<String> {
    let rel = dir.strip_prefix(root).ok()?;
    let text = rel.to_str()?;
    Some(if text.is_empty() {
        ".".into()
    } else {
        text.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crates2(id: &str) -> String {
        format!(
            r#"{{"installs":{{"other 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)":{{"bins":["other"]}},"{id}":{{"bins":["buildkit"]}}}}}}"#
        )
    }

    #[test]
    fn each_source_cargo_records() {
        assert_eq!(
            parse_crates2(
                &crates2(
                    "buildkit-toolchain 0.2.0 (registry+https://github.com/rust-lang/crates.io-index)"
                ),
                "buildkit"
            ),
            Some(InstalledFrom::CratesIo {
                version: "0.2.0".into()
            })
        );
        let rev = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            parse_crates2(
                &crates2(&format!(
                    "buildkit-toolchain 0.1.0 (git+https://g.example/t/buildkit?rev=0123456#{rev})"
                )),
                "buildkit"
            ),
            Some(InstalledFrom::Git {
                url: "https://g.example/t/buildkit".into(),
                rev: rev.into()
            })
        );
        assert_eq!(
            parse_crates2(
                &crates2("buildkit-toolchain 0.1.0 (path+file:///work/main)"),
                "buildkit"
            ),
            Some(InstalledFrom::Path {
                dir: "/work/main".into()
            })
        );
        assert_eq!(parse_crates2(&crates2("x"), "buildkit"), None);
        assert_eq!(parse_crates2("not json", "buildkit"), None);
        assert_eq!(
            inside(Path::new("/p/tools/bk"), Path::new("/p")).as_deref(),
            Some("tools/bk")
        );
        assert_eq!(
            inside(Path::new("/p"), Path::new("/p")).as_deref(),
            Some(".")
        );
        assert_eq!(inside(Path::new("/elsewhere"), Path::new("/p")), None);
    }
}
