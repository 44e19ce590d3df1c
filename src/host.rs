//! The hosts buildkit generates for: a closed set of target triples, so that a triple travels
//! as a type and every fact that depends on it (the `.cargo/config.toml` table, where rust-lld
//! sits in a sysroot) is written once, here.
//!
//! A triple rustc reports for a machine buildkit does not generate for (its `host:` line) stays
//! text: cargo's rules apply to any triple.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// x86_64 Linux with glibc: what CI runners and most laptops' devcontainers run.
    X86_64LinuxGnu,
}

impl Host {
    /// The host buildkit.toml generates for unless it says otherwise.
    pub const DEFAULT: Host = Host::X86_64LinuxGnu;

    /// Its target triple, as rustc and cargo name it.
    pub const fn triple(self) -> &'static str {
        match self {
            Host::X86_64LinuxGnu => "x86_64-unknown-linux-gnu",
        }
    }

    /// Where rust-lld sits inside a Rust sysroot for this host.
    pub const fn rust_lld_in_sysroot(self) -> &'static str {
        match self {
            Host::X86_64LinuxGnu => "lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld",
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.triple())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_lld_sits_under_its_hosts_triple() {
        let host = Host::DEFAULT;
        assert_eq!(
            host.rust_lld_in_sysroot(),
            format!("lib/rustlib/{host}/bin/rust-lld")
        );
    }
}
