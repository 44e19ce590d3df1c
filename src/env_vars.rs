//! Every environment variable buildkit reads, named once and documented here. A test keeps the
//! source honest (no variable named anywhere else) and README's tables complete.

/// Root of installed tools: `tools/<name>/<version>/`, `bin/`, `envs/`, receipts. Default: the
/// platform data dir (`~/.local/share/buildkit`).
pub const BUILDKIT_HOME: &str = "BUILDKIT_HOME";
/// Downloaded archives, named by sha256. Default: the platform cache dir (`~/.cache/buildkit`).
pub const BUILDKIT_CACHE_DIR: &str = "BUILDKIT_CACHE_DIR";
/// Same as `--mirror`: `https://HOST/PATH` is fetched as `MIRROR/HOST/PATH`.
pub const BUILDKIT_MIRROR: &str = "BUILDKIT_MIRROR";
/// Same as `--offline` when set to `1`, `true`, `yes` or `on`: install from the download cache only.
pub const BUILDKIT_OFFLINE: &str = "BUILDKIT_OFFLINE";
/// How many times a download is tried in all (default 4). Tests lower it.
pub const BUILDKIT_DOWNLOAD_ATTEMPTS: &str = "BUILDKIT_DOWNLOAD_ATTEMPTS";
/// Seconds a download may go without progress before it fails (default 30). Tests lower it.
pub const BUILDKIT_STALL_SECONDS: &str = "BUILDKIT_STALL_SECONDS";
/// Extra PEM roots for HTTPS downloads, trusted in addition to the system's bundle.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// The releases API `outdated` and `lock --upgrade` ask (default `https://api.github.com`):
/// GitHub Enterprise, an internal mirror, the tests' loopback fake.
pub const BUILDKIT_GITHUB_API: &str = "BUILDKIT_GITHUB_API";
/// Sent (as a bearer token) to the releases API only, never to a download host: 5,000
/// requests an hour instead of 60.
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
/// Set by GitHub Actions: the file `setup --ci` appends the lock's bin dir to.
pub const GITHUB_PATH: &str = "GITHUB_PATH";
/// The rustc whose version `check`, `doctor` and `init` read, and whose sysroot holds rust-lld.
pub const RUSTC: &str = "RUSTC";
/// The cargo `doctor` and `bench` build with (cargo sets it for its subcommands).
pub const CARGO: &str = "CARGO";
/// Where `doctor` looks for the tools, as the shell does.
pub const PATH: &str = "PATH";
/// Set by CI systems: `doctor` expects `CARGO_INCREMENTAL=0` there and nowhere else.
pub const CI: &str = "CI";
/// `0` turns off incremental compilation: right in CI, a slower edit loop on a laptop.
pub const CARGO_INCREMENTAL: &str = "CARGO_INCREMENTAL";
/// rustup's toolchain override, above rust-toolchain.toml: how a CI matrix job builds with
/// another Rust. `check` and `doctor` then leave the Rust version to the job.
pub const RUSTUP_TOOLCHAIN: &str = "RUSTUP_TOOLCHAIN";

/// Beats every other source of rustflags (`bench` sets it for each configuration).
pub const CARGO_ENCODED_RUSTFLAGS: &str = "CARGO_ENCODED_RUSTFLAGS";
/// Variables that replace the rustflags from .cargo/config.toml, buildkit's linker flags
/// included (`doctor` names them; the fingerprint covers them).
pub const RUSTFLAGS_OVERRIDES: &[&str] = &[
    RUSTFLAGS,
    CARGO_BUILD_RUSTFLAGS,
    TARGET_RUSTFLAGS,
    CARGO_ENCODED_RUSTFLAGS,
];
/// Each of them, by name (`tune` and `bench` follow them as cargo does).
pub const RUSTFLAGS: &str = "RUSTFLAGS";
pub const CARGO_BUILD_RUSTFLAGS: &str = "CARGO_BUILD_RUSTFLAGS";
pub const TARGET_RUSTFLAGS: &str = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS";
/// The linker cargo calls, overriding .cargo/config.toml (the fingerprint covers it).
pub const LINKER_OVERRIDE: &str = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER";
/// Set by `tune` for each build: the linker its link script (one path for every
/// configuration) selects.
pub const BUILDKIT_TUNE_LINKER: &str = "BUILDKIT_TUNE_LINKER";
/// Where cargo keeps the registry's sources (default `~/.cargo`): part of every dependency's
/// sccache key, so `doctor` compares it with `[cache] cargo_home`.
pub const CARGO_HOME: &str = "CARGO_HOME";
/// sccache's local cache directory: where `buildkit env` puts the local level in front of a
/// remote cache (default: sccache's own, the platform cache dir's `sccache`).
pub const SCCACHE_DIR: &str = "SCCACHE_DIR";
/// The socket of this sccache version's server (`buildkit env` sets it per version).
pub const SCCACHE_SERVER_UDS: &str = "SCCACHE_SERVER_UDS";
/// A TCP port for the sccache server: doctor, bench and tune start private servers by port.
pub const SCCACHE_SERVER_PORT: &str = "SCCACHE_SERVER_PORT";
/// Set by GitHub Actions: `pull_request` (or `pull_request_target`) tells `buildkit env` that
/// the job builds a pull request, which only reads a shared cache (`[cache] write = "ci"`).
pub const GITHUB_EVENT_NAME: &str = "GITHUB_EVENT_NAME";
/// Set by GitLab CI in merge request pipelines: likewise, the job only reads a shared cache.
pub const CI_MERGE_REQUEST_IID: &str = "CI_MERGE_REQUEST_IID";
/// The rustc wrapper: `buildkit env` sets it to `sccache`.
pub const RUSTC_WRAPPER: &str = "RUSTC_WRAPPER";
/// Both ways to set the rustc wrapper; either overrides .cargo/config.toml.
pub const WRAPPERS: &[&str] = &[RUSTC_WRAPPER, "CARGO_BUILD_RUSTC_WRAPPER"];

/// Where cargo keeps its home, as a child cargo will find it: CARGO_HOME, else `~/.cargo`.
pub fn cargo_home() -> Option<std::path::PathBuf> {
    std::env::var_os(CARGO_HOME)
        .filter(|v| !v.is_empty())
        .map(Into::into)
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join(".cargo")))
}

/// The build environment's variables that buildkit uses as values (not merely inspects):
/// read once, when a command starts, and passed down.
#[derive(Debug, Clone)]
pub struct BuildEnv {
    /// The rustc to ask (`RUSTC`, default `rustc`).
    pub rustc: std::ffi::OsString,
    /// The cargo to build with (`CARGO`, default `cargo`).
    pub cargo: std::ffi::OsString,
    /// `PATH`, as the shell searches it.
    pub path: std::ffi::OsString,
    /// `SSL_CERT_FILE`: extra PEM roots for HTTPS.
    pub ssl_cert_file: Option<std::path::PathBuf>,
    /// `GITHUB_PATH`: set inside GitHub Actions.
    pub github_path: Option<std::path::PathBuf>,
    /// `GITHUB_TOKEN`: for the releases API only.
    pub github_token: Option<String>,
    /// The variables `doctor` and the fingerprint inspect (rustflags and linker overrides,
    /// compiler wrappers, CARGO_INCREMENTAL, CI), as they were when the command started.
    pub inspected: std::collections::BTreeMap<&'static str, std::ffi::OsString>,
}

impl BuildEnv {
    pub fn from_process() -> BuildEnv {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        BuildEnv {
            rustc: var(RUSTC).unwrap_or_else(|| "rustc".into()),
            cargo: var(CARGO).unwrap_or_else(|| "cargo".into()),
            path: var(PATH).unwrap_or_default(),
            ssl_cert_file: var(SSL_CERT_FILE).map(Into::into),
            github_path: var(GITHUB_PATH).map(Into::into),
            github_token: var(GITHUB_TOKEN).and_then(|v| v.into_string().ok()),
            inspected: RUSTFLAGS_OVERRIDES
                .iter()
                .chain(WRAPPERS)
                .chain([
                    &LINKER_OVERRIDE,
                    &CARGO_INCREMENTAL,
                    &CI,
                    &RUSTUP_TOOLCHAIN,
                    &GITHUB_EVENT_NAME,
                    &CI_MERGE_REQUEST_IID,
                    &CARGO_HOME,
                    &SCCACHE_DIR,
                ])
                .filter_map(|&name| std::env::var_os(name).map(|value| (name, value)))
                .collect(),
        }
    }

    /// An environment of `vars` only (inspected ones among them), for unit tests: `rustc`,
    /// `cargo` and an empty PATH otherwise.
    #[cfg(test)]
    pub fn for_test(vars: &[(&'static str, &str)]) -> BuildEnv {
        BuildEnv {
            rustc: "rustc".into(),
            cargo: "cargo".into(),
            path: Default::default(),
            ssl_cert_file: None,
            github_path: None,
            github_token: None,
            inspected: vars.iter().map(|(k, v)| (*k, (*v).into())).collect(),
        }
    }

    /// An inspected variable (see [`BuildEnv::inspected`]), set or not.
    pub fn var(&self, name: &str) -> Option<&std::ffi::OsStr> {
        self.inspected.get(name).map(|v| v.as_os_str())
    }

    /// Whether a variable named by buildkit.toml (a cache credential) is set and not empty here.
    /// Read when asked, not inspected at start: which names matter depends on the manifest.
    pub fn is_set(&self, name: &str) -> bool {
        std::env::var_os(name).is_some_and(|v| !v.is_empty())
    }

    /// Whether an inspected boolean-ish variable is set to a true value.
    pub fn flag(&self, name: &str) -> bool {
        self.var(name)
            .and_then(|v| v.to_str())
            .is_some_and(|v| matches!(v, "1" | "true" | "yes" | "on"))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }

    /// Every name this module declares: the string literals between quotes in its constants.
    fn declared() -> Vec<String> {
        let this = include_str!("env_vars.rs");
        let code = &this[..this.find("#[cfg(test)]").unwrap()];
        code.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| {
                l.split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|s| {
                s.starts_with(|c: char| c.is_ascii_uppercase())
                    && s.chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            })
            .collect()
    }

    /// The files of `#[cfg(test)] mod NAME;` modules: tests may name what they set.
    fn test_only_files(files: &[(String, String)]) -> Vec<String> {
        let mut test_only = Vec::new();
        for (path, text) in files {
            let path = Path::new(path);
            let dir = match path.file_name().and_then(|n| n.to_str()) {
                Some("mod.rs" | "lib.rs") => path.parent().unwrap().to_path_buf(),
                _ => path.with_extension(""),
            };
            for declaration in text.split("#[cfg(test)]\n").skip(1) {
                let declaration = declaration.lines().next().unwrap_or("");
                let name = declaration
                    .trim_start_matches("pub(crate) ")
                    .strip_prefix("mod ")
                    .and_then(|rest| rest.strip_suffix(';'));
                if let Some(name) = name {
                    test_only.push(dir.join(format!("{name}.rs")).display().to_string());
                }
            }
        }
        test_only
    }

    #[test]
    fn no_variable_is_named_outside_this_module() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        let test_only = test_only_files(&files);
        for (path, text) in files
            .iter()
            .filter(|(p, _)| !p.ends_with("env_vars.rs") && !test_only.contains(p))
        {
            for needle in ["var(\"", "var_os(\""] {
                assert!(
                    !text.contains(needle),
                    "{path} reads a variable by literal name: use env_vars"
                );
            }
            let code = text.split("#[cfg(test)]").next().unwrap();
            for name in declared() {
                assert!(
                    !code.contains(&format!("\"{name}\"")) || name == "PATH",
                    "{path} names {name} itself: use env_vars"
                );
            }
        }
    }

    #[test]
    fn the_book_documents_every_variable() {
        let chapter = include_str!("../docs/src/environment.md");
        for name in declared() {
            assert!(
                chapter.contains(&format!("`{name}")),
                "docs/src/environment.md does not mention `{name}`"
            );
        }
    }
}
