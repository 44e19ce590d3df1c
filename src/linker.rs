//! What buildkit knows about each linker, in one place: its name, the `-fuse-ld=` value the C
//! driver takes, the rustflags that select it, and how it signs a binary's `.comment` (which
//! is how doctor, bench and the fingerprint tell which linker really ran). render, doctor and
//! bench ask here rather than spelling the facts out each.

/// `-C` values that choose the linker (a user's flags with one fight buildkit's).
pub const CHOOSES_LINKER: &[&str] = &[
    "link-arg=-fuse-ld=",
    "linker-features=",
    "linker=",
    "linker-flavor=",
];

/// `-C` values that steer how the chosen linker is found or run: with [`CHOOSES_LINKER`],
/// everything a measured configuration's linker replaces.
pub const STEERS_LINKER: &[&str] = &["link-self-contained=", "link-arg=--ld-path=", "link-arg=-B"];

/// Where in `flags` a codegen option whose value starts with one of `prefixes` stands: as a
/// pair (`-C`, `linker=cc`) or joined (`-Clinker=cc`), each as the range of its entries.
pub fn codegen_options(flags: &[String], prefixes: &[&str]) -> Vec<std::ops::Range<usize>> {
    let matches = |value: &str| prefixes.iter().any(|p| value.starts_with(p));
    let mut found = Vec::new();
    let mut i = 0;
    while i < flags.len() {
        if flags[i] == "-C" && flags.get(i + 1).is_some_and(|v| matches(v)) {
            found.push(i..i + 2);
            i += 2;
        } else {
            if flags[i].strip_prefix("-C").is_some_and(matches) {
                found.push(i..i + 1);
            }
            i += 1;
        }
    }
    found
}

/// A linker a build can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Linker {
    /// Whatever rustc does by itself (rust-lld on x86_64 Linux since 1.90).
    Default,
    Mold,
    /// lld through the C driver (`-fuse-ld=lld`).
    Lld,
    /// wild (wild-linker). gcc knows no `-fuse-ld=wild`: the driver is given a directory whose
    /// `ld.bfd` is wild, and `-fuse-ld=bfd`.
    Wild,
    /// GNU ld, the pre-1.90 baseline (bench only).
    Bfd,
}

impl Linker {
    /// Every linker, in the order bench measures them by default.
    pub const ALL: [Linker; 5] = [
        Linker::Default,
        Linker::Mold,
        Linker::Wild,
        Linker::Lld,
        Linker::Bfd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Linker::Default => "default",
            Linker::Mold => "mold",
            Linker::Lld => "lld",
            Linker::Wild => "wild",
            Linker::Bfd => "bfd",
        }
    }

    /// The tool buildkit.toml pins it as (`[tools.<name>]`); none for rustc's own choice and
    /// GNU ld, which come with the toolchain and the system.
    pub fn tool(self) -> Option<crate::tool::Tool> {
        use crate::tool::Tool;
        match self {
            Linker::Mold => Some(Tool::Mold),
            Linker::Wild => Some(Tool::Wild),
            Linker::Lld => Some(Tool::Lld),
            Linker::Default | Linker::Bfd => None,
        }
    }

    /// The program a lock's bin directory links for it (what the driver runs).
    pub fn program(self) -> Option<&'static str> {
        match self {
            Linker::Mold => Some("ld.mold"),
            Linker::Wild => Some("wild"),
            Linker::Lld => Some("ld.lld"),
            Linker::Default | Linker::Bfd => None,
        }
    }

    /// The name the C driver's `-fuse-ld=` takes; none for rustc's own choice.
    pub fn fuse_ld(self) -> Option<&'static str> {
        match self {
            Linker::Default => None,
            Linker::Mold => Some("mold"),
            Linker::Lld => Some("lld"),
            // Through the directory where `ld.bfd` is wild (see [`Linker::Wild`]).
            Linker::Wild => Some("bfd"),
            Linker::Bfd => Some("bfd"),
        }
    }

    /// How the linker's signature starts, in `--version` output and in a binary's `.comment`
    /// ("mold 2.41.0 …", "LLD 22.1.2 …"); GNU ld signs nothing.
    pub fn signature_prefix(self) -> Option<&'static str> {
        match self {
            Linker::Mold => Some("mold "),
            Linker::Lld => Some("LLD "),
            Linker::Wild => Some("Wild "),
            Linker::Default | Linker::Bfd => None,
        }
    }

    /// Whether a binary's linker signature shows this linker made it. rustc's default may be
    /// any linker, and is recorded as seen.
    pub fn signed(self, signature: Option<&str>) -> bool {
        match (self, self.signature_prefix()) {
            (Linker::Default, _) => true,
            (Linker::Bfd, _) => signature.is_none(),
            (_, Some(prefix)) => signature.is_some_and(|s| s.starts_with(prefix)),
            (_, None) => false,
        }
    }

    /// The rustflags that select it, given what rustc does with its own rust-lld.
    pub fn rustflags(self, rust_lld: RustLld) -> Vec<String> {
        let Some(fuse_ld) = self.fuse_ld() else {
            return Vec::new();
        };
        let mut flags = Vec::new();
        if rust_lld == RustLld::TurnOff {
            flags.extend(["-C".to_string(), "linker-features=-lld".to_string()]);
        }
        flags.extend(["-C".to_string(), format!("link-arg=-fuse-ld={fuse_ld}")]);
        flags
    }
}

/// What the flags do about the rust-lld rustc links through by default since 1.90 (on
/// x86_64 Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RustLld {
    /// An older rustc: it links through the C driver anyway.
    Unused,
    /// `linker-features=-lld`, so that `-fuse-ld` decides.
    TurnOff,
    /// Left on: lld through the driver is then the same LLD.
    Keep,
}

impl std::fmt::Display for Linker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_agree() {
        // The command line (`bench --linkers`) spells each as the rest of buildkit does.
        for linker in Linker::ALL {
            let value = clap::ValueEnum::to_possible_value(&linker).unwrap();
            assert_eq!(value.get_name(), linker.name());
        }
        assert_eq!(
            Linker::Mold.rustflags(RustLld::TurnOff),
            ["-C", "linker-features=-lld", "-C", "link-arg=-fuse-ld=mold"]
        );
        assert_eq!(
            Linker::Lld.rustflags(RustLld::Keep),
            ["-C", "link-arg=-fuse-ld=lld"]
        );
        assert!(Linker::Default.rustflags(RustLld::TurnOff).is_empty());
        assert_eq!(
            Linker::Mold.rustflags(RustLld::Unused),
            ["-C", "link-arg=-fuse-ld=mold"]
        );
        assert!(Linker::Mold.signed(Some("mold 2.41.0 (x)")));
        assert!(!Linker::Lld.signed(Some("mold 2.41.0 (x)")));
        assert!(Linker::Bfd.signed(None));
    }
}
