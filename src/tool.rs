//! The tools buildkit pins, as one closed set: buildkit.toml's `[tools.*]` tables, the
//! registry's entries and buildkit.lock's `[[tool]]` names are these and nothing else, so code
//! that asks the lock or the registry for a tool names a variant, never a string that might be
//! misspelt or unknown.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// LLVM's linker: from the Rust toolchain (rust-lld) or an LLVM release.
    Lld,
    Mold,
    Sccache,
    /// wild-linker.
    Wild,
}

impl Tool {
    /// Every tool, in the order buildkit.lock sorts them (by name).
    pub const ALL: [Tool; 4] = [Tool::Lld, Tool::Mold, Tool::Sccache, Tool::Wild];

    /// Its name in buildkit.toml, the registry, buildkit.lock and BUILDKIT_HOME.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Lld => "lld",
            Tool::Mold => "mold",
            Tool::Sccache => "sccache",
            Tool::Wild => "wild",
        }
    }

    pub fn parse(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The tools' names, for a message listing what is known.
    pub fn known() -> String {
        Tool::ALL.map(Tool::name).join(", ")
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_as_the_lock_does() {
        for tool in Tool::ALL {
            assert_eq!(Tool::parse(tool.name()), Some(tool));
        }
        assert_eq!(Tool::parse("ld"), None);
        let mut names: Vec<&str> = Tool::ALL.map(Tool::name).to_vec();
        names.sort();
        assert_eq!(names, Tool::ALL.map(Tool::name));
        let mut sorted = Tool::ALL;
        sorted.sort();
        assert_eq!(sorted, Tool::ALL);
        assert_eq!(Tool::known(), "lld, mold, sccache, wild");
    }
}
