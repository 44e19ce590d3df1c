//! One line that says how an environment builds, to compare a laptop, CI and the devcontainer.
//!
//! Pure: the caller gathers what shapes the output (the compiler, the lock, the linker settings
//! cargo sees, the wrapper, the installed tools' bytes, the cache configuration without its
//! secrets) and this module digests it. Paths that
//! legitimately differ between environments (BUILDKIT_HOME, the workspace) are left out; the
//! bytes of what is installed there are not.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// What the fingerprint covers, each part named so that a mismatch can be explained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// `rustc -vV` as run in the project.
    pub rustc: String,
    /// The bytes of buildkit.lock (empty when there is none).
    pub lock: String,
    /// Linker settings from .cargo/config.toml and the environment, `name=value`, sorted.
    pub linker_settings: BTreeMap<String, String>,
    /// The rustc wrapper's program name (`sccache`), or empty.
    pub wrapper: String,
    /// `tool/binary` -> sha256 of what is installed (or `missing`).
    pub tools: BTreeMap<String, String>,
    /// The cache configuration buildkit.toml gives (backend, settings, credential names, never
    /// their values): environments that share a cache share it.
    pub cache: BTreeMap<String, String>,
}

impl Inputs {
    /// `sha256:<hex> rustc <release>, <tool digests…>, wrapper <name>`: the digest decides,
    /// the words help a human see what differs.
    pub fn line(&self) -> String {
        let mut hasher = Sha256::new();
        let mut part = |name: &str, value: &str| {
            hasher.update(name.as_bytes());
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value.as_bytes());
        };
        part("rustc", &self.rustc);
        part("lock", &self.lock);
        for (name, value) in &self.linker_settings {
            part(&format!("setting {name}"), value);
        }
        part("wrapper", &self.wrapper);
        for (name, digest) in &self.tools {
            part(&format!("tool {name}"), digest);
        }
        for (name, value) in &self.cache {
            part(&format!("cache {name}"), value);
        }
        let digest = crate::digest::hex(&hasher.finalize());
        let release = self
            .rustc
            .lines()
            .find_map(|l| l.strip_prefix("release: "))
            .unwrap_or("?");
        let tools: Vec<String> = self
            .tools
            .iter()
            .map(|(name, digest)| format!("{name} {}", &digest[..digest.len().min(12)]))
            .collect();
        let wrapper = if self.wrapper.is_empty() {
            "none"
        } else {
            &self.wrapper
        };
        format!(
            "sha256:{digest} rustc {release}; {}; wrapper {wrapper}",
            if tools.is_empty() {
                "no tools".to_string()
            } else {
                tools.join(", ")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            rustc: "rustc 1.95.0\nrelease: 1.95.0\n".into(),
            lock: "version = 1\n".into(),
            linker_settings: BTreeMap::from([(
                "target.rustflags".into(),
                "-C link-arg=-fuse-ld=mold".into(),
            )]),
            wrapper: "sccache".into(),
            tools: BTreeMap::from([("mold/bin/mold".into(), "ab".repeat(32))]),
            cache: BTreeMap::from([("backend".into(), "redis".into())]),
        }
    }

    #[test]
    fn every_part_changes_the_digest() {
        let base = inputs().line();
        assert!(base.starts_with("sha256:"), "{base}");
        assert!(base.contains("rustc 1.95.0; mold/bin/mold abababababab; wrapper sccache"));
        let variants: [fn(&mut Inputs); 6] = [
            |i| i.rustc.push('x'),
            |i| i.lock.push('x'),
            |i| {
                i.linker_settings.insert("RUSTFLAGS".into(), String::new());
            },
            |i| i.wrapper.clear(),
            |i| {
                i.tools.insert("mold/bin/mold".into(), "cd".repeat(32));
            },
            |i| {
                i.cache
                    .insert("endpoint".into(), "redis://other:6379".into());
            },
        ];
        for change in variants {
            let mut changed = inputs();
            change(&mut changed);
            assert_ne!(changed.line(), base);
        }
        assert_eq!(inputs().line(), base, "stable");
    }
}
