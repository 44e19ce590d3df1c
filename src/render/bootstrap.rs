//! The one bootstrap every environment runs: the Rust version, how buildkit itself is installed
//! (per source), the variables and the caches. The devcontainer and every CI file are rendered
//! from one [`Bootstrap`], so they cannot disagree.
//!
//! Every command here is [`ShellCode`]: literal code from this file, with each value from
//! buildkit.toml (a URL, a path, a version) spliced in as one encoded shell word by `shell!`.

use crate::encode::ShellCode;
use crate::manifest::{BuildkitSource, CacheBackend, LinkerDriver, Manifest, PACKAGE_NAME};
use crate::shell;

use super::{Place, RenderError, environment};

/// How buildkit itself gets into the container and the CI jobs. Each command installs into the
/// root it is given, outside the project's directory (so its rust-toolchain.toml plays no part)
/// and with the project's linker settings overridden (they may name a linker that is not
/// installed yet).
#[derive(Debug, Clone)]
pub struct BuildkitInstall {
    /// For messages: "buildkit-toolchain 0.1.0 from crates.io".
    pub describe: String,
    /// GitHub composite action: install into `$HOME/.buildkit-cli`.
    pub github: ShellCode,
    /// GitLab job: install into `$CI_PROJECT_DIR/.buildkit/cli`.
    pub gitlab: ShellCode,
    /// Dockerfile: install into /usr/local.
    pub docker: ShellCode,
    /// What the Dockerfile copies in first (a source tree inside the project).
    pub copy_source: Option<String>,
    /// GitHub: proves a restored binary is the pinned one before it is used.
    pub github_verify: ShellCode,
    /// GitLab: the same, for the cached `.buildkit/cli`.
    pub gitlab_verify: ShellCode,
    /// The CI cache key for the installed binary, derived from the exact source; none for a
    /// path source (it changes with the checkout).
    pub cache_key: Option<String>,
    /// A prebuilt binary is re-verified and re-installed from its cached download every run.
    pub always_install: bool,
}

/// The local directory sccache caches into, which CI restores and saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SccacheDir {
    /// sccache's default, `~/.cache/sccache`.
    Default,
    /// `[cache] dir`: `buildkit env` exports it as SCCACHE_DIR.
    Given(String),
}

/// The one bootstrap every environment runs. Values are as buildkit.toml gives them; each
/// template context encodes them for its file.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub rust: String,
    /// rustup components and targets `[toolchain]` names, installed wherever Rust is.
    pub components: Vec<String>,
    pub targets: Vec<String>,
    /// `[toolchain] file = false`: no rust-toolchain.toml selects the pin, so CI selects it
    /// with RUSTUP_TOOLCHAIN (unless the job set its own).
    pub pin_by_env: bool,
    pub image: String,
    pub name: String,
    pub packages: Vec<&'static str>,
    pub buildkit: BuildkitInstall,
    /// What `buildkit env` sets besides PATH: the devcontainer's ENV.
    pub env: Vec<(String, String)>,
    /// CI-only variables, set by the CI building blocks on top of `buildkit env`.
    pub ci_env: Vec<(String, String)>,
    /// The local sccache directory CI restores and saves (none without sccache, or with a
    /// remote backend).
    pub sccache_dir: Option<SccacheDir>,
    /// The gha backend's variables (SCCACHE_GHA_ENABLED, …), exported inside GitHub Actions
    /// only; empty for other backends.
    pub gha_env: Vec<(String, String)>,
    /// The cache's credential variables, by name: CI maps its secrets to them, the
    /// devcontainer passes the laptop's through.
    pub credentials: Vec<String>,
    /// `[cache] project_dir` and `cargo_home`: where the devcontainer mounts the project and
    /// keeps CARGO_HOME, so that its cache keys are the team's.
    pub cache_project_dir: Option<String>,
    pub cache_cargo_home: Option<String>,
}

impl Bootstrap {
    /// The rustup commands that add `[toolchain]`'s components and targets to the pinned Rust;
    /// none when it names none.
    pub fn rustup_additions(&self) -> Option<ShellCode> {
        let rust = self.rust.as_str();
        let components = (!self.components.is_empty()).then(|| {
            shell!(
                "rustup component add --toolchain {} {}",
                rust,
                ShellCode::words(&self.components)
            )
        });
        let targets = (!self.targets.is_empty()).then(|| {
            shell!(
                "rustup target add --toolchain {} {}",
                rust,
                ShellCode::words(&self.targets)
            )
        });
        match (components, targets) {
            (Some(c), Some(t)) => Some(c.and(&t)),
            (one, other) => one.or(other),
        }
    }
}

/// Where CI installs buildkit: GitHub's home (cached by actions/cache), GitLab's project
/// (where its `cache:` can reach).
fn github_root() -> ShellCode {
    ShellCode::trusted("\"$HOME/.buildkit-cli\"")
}

fn gitlab_root() -> ShellCode {
    ShellCode::trusted("\"$CI_PROJECT_DIR/.buildkit/cli\"")
}

fn binary(root: &ShellCode) -> ShellCode {
    shell!("{}/bin/buildkit", root)
}

/// `cargo install --locked WHAT --root ROOT`, immune to the project's linker settings:
/// `cargo install --path` into the project reads the project's .cargo/config.toml, whose
/// linker flags name a linker `setup` has not installed yet, wherever it runs from. The
/// environment beats every config file: an empty CARGO_ENCODED_RUSTFLAGS replaces all
/// rustflags, an empty RUSTC_WRAPPER drops the wrapper, and cc links as rustc defaults.
fn cargo_install(root: &ShellCode, what: &ShellCode) -> ShellCode {
    shell!(
        "env RUSTC_WRAPPER= CARGO_BUILD_RUSTC_WRAPPER= CARGO_ENCODED_RUSTFLAGS= CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=cc cargo install --locked {} --root {}",
        what,
        root
    )
}

/// A buildkit built by `cargo install`: `what` names it, given the project's directory in CI
/// (only a path source needs it); `verify` proves, given an install root, that it is the one.
fn cargo_installed(
    describe: String,
    what: impl Fn(ShellCode) -> ShellCode,
    docker_what: ShellCode,
    verify: impl Fn(&ShellCode) -> ShellCode,
    copy_source: Option<String>,
    cache_key: Option<String>,
) -> BuildkitInstall {
    BuildkitInstall {
        describe,
        github: cargo_install(
            &github_root(),
            &what(ShellCode::trusted("\"$GITHUB_WORKSPACE\"")),
        ),
        gitlab: cargo_install(
            &gitlab_root(),
            &what(ShellCode::trusted("\"$CI_PROJECT_DIR\"")),
        ),
        docker: cargo_install(&ShellCode::trusted("/usr/local"), &docker_what),
        copy_source,
        github_verify: verify(&github_root()),
        gitlab_verify: verify(&gitlab_root()),
        cache_key,
        always_install: false,
    }
}

pub fn buildkit_install(source: &BuildkitSource) -> BuildkitInstall {
    match source {
        BuildkitSource::CratesIo { version } => {
            let what = shell!("{} --version {}", PACKAGE_NAME, version);
            cargo_installed(
                format!("{PACKAGE_NAME} {version} from crates.io"),
                |_| what.clone(),
                what.clone(),
                |root| {
                    shell!(
                        "test \"$({} --version)\" = {}",
                        binary(root),
                        format!("buildkit {version}")
                    )
                },
                None,
                Some(format!("buildkit-cli-crates-io-{version}")),
            )
        }
        BuildkitSource::Git { url, rev } => {
            let what = shell!("--git {} --rev {} {}", url, rev, PACKAGE_NAME);
            cargo_installed(
                format!("{PACKAGE_NAME} from {url} at {}", &rev[..12]),
                |_| what.clone(),
                what.clone(),
                // cargo records the commit it built in the install root's .crates2.json.
                |root| {
                    shell!(
                        "grep -qF {} {}/.crates2.json && {} --version",
                        format!("#{rev}"),
                        root,
                        binary(root)
                    )
                },
                None,
                Some(format!("buildkit-cli-git-{rev}")),
            )
        }
        BuildkitSource::Path { path } => {
            let inside = |project: ShellCode| {
                if path == "." {
                    shell!("--path {}", project)
                } else {
                    shell!("--path {}/{}", project, path)
                }
            };
            cargo_installed(
                format!("buildkit built from the project's `{path}`"),
                inside,
                ShellCode::trusted("--path /usr/src/buildkit"),
                |root| shell!("{} --version", binary(root)),
                Some(path.clone()),
                None,
            )
        }
        BuildkitSource::Prebuilt { url, sha256 } => prebuilt_install(url, sha256),
    }
}

/// A prebuilt binary (or a .tar.gz holding one): downloaded once (the file is what CI caches),
/// verified against its sha256 every time, installed from the verified file only.
fn prebuilt_install(url: &str, sha256: &str) -> BuildkitInstall {
    let archive = url.ends_with(".tar.gz") || url.ends_with(".tgz");
    let install = |root: &ShellCode| {
        let file = shell!("{}/buildkit.download", root);
        let unpack_dir = shell!("{}/unpack", root);
        let bin = binary(root);
        let unpack = if archive {
            shell!(
                "rm -rf {} && mkdir -p {} && tar -xzf {} -C {} --no-same-owner && install -m 0755 \"$(find {} -type f -name buildkit | head -n 1)\" {} && rm -rf {}",
                unpack_dir,
                unpack_dir,
                file,
                unpack_dir,
                unpack_dir,
                bin,
                unpack_dir
            )
        } else {
            shell!("install -m 0755 {} {}", file, bin)
        };
        let verified = shell!("printf '%s  %s\\n' {} {} | sha256sum -c", sha256, file);
        shell!(
            "mkdir -p {}/bin && {{ {} --quiet - >/dev/null 2>&1 || curl -fsSL --retry 3 -o {} {}; }} && {} - && {} && {} --version",
            root,
            verified,
            file,
            url,
            verified,
            unpack,
            bin
        )
    };
    let verify = |root: &ShellCode| shell!("{} --version", binary(root));
    let docker_root = ShellCode::trusted("/usr/local/buildkit-cli");
    BuildkitInstall {
        describe: format!("a prebuilt buildkit, sha256 {}", &sha256[..12]),
        github: install(&github_root()),
        gitlab: install(&gitlab_root()),
        docker: install(&docker_root).and(&ShellCode::trusted(
            "ln -s /usr/local/buildkit-cli/bin/buildkit /usr/local/bin/buildkit && rm /usr/local/buildkit-cli/buildkit.download",
        )),
        copy_source: None,
        github_verify: verify(&github_root()),
        gitlab_verify: verify(&gitlab_root()),
        cache_key: Some(format!("buildkit-cli-sha256-{sha256}")),
        always_install: true,
    }
}

/// The local directory sccache caches into, when CI should restore and save it.
fn ci_sccache_dir(manifest: &Manifest) -> Option<SccacheDir> {
    let cache = manifest.cache.as_ref()?;
    match cache.backend {
        CacheBackend::Local => Some(match cache.settings.get("dir") {
            Some(dir) => SccacheDir::Given(dir.clone()),
            None => SccacheDir::Default,
        }),
        _ => None,
    }
}

pub fn bootstrap(manifest: &Manifest) -> Result<Bootstrap, RenderError> {
    let rust = manifest.rust.ok_or_else(|| RenderError::NoRustVersion {
        path: manifest
            .path
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from(crate::manifest::MANIFEST_FILE)),
    })?;
    let manifest_path = || {
        manifest
            .path
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from(crate::manifest::MANIFEST_FILE))
    };
    let source = manifest
        .buildkit
        .as_ref()
        .ok_or_else(|| RenderError::NoBuildkitSource {
            path: manifest_path(),
        })?;
    let image = manifest
        .devcontainer_image
        .clone()
        .unwrap_or_else(|| format!("rust:{rust}-bookworm"));
    let mut tools = vec![manifest.linker.as_str().to_string()];
    if manifest.sccache.is_some() {
        tools.push(crate::tool::Tool::Sccache.name().into());
    }
    let packages = match manifest.driver {
        LinkerDriver::Clang => vec!["clang"],
        LinkerDriver::Cc => Vec::new(),
    };
    let local = environment(manifest, Place::Local);
    let ci_env = environment(manifest, Place::Ci)
        .into_iter()
        .filter(|var| !local.contains(var))
        .collect();
    Ok(Bootstrap {
        name: format!("Rust {rust} ({})", tools.join(" + ")),
        rust: rust.to_string(),
        components: manifest.toolchain.components.clone().unwrap_or_default(),
        targets: manifest.toolchain.targets.clone().unwrap_or_default(),
        pin_by_env: !manifest.toolchain.file,
        image,
        packages,
        buildkit: buildkit_install(source),
        env: local,
        ci_env,
        sccache_dir: ci_sccache_dir(manifest),
        gha_env: manifest
            .cache
            .as_ref()
            .filter(|c| c.backend == CacheBackend::Gha)
            .map(|c| c.env_vars())
            .unwrap_or_default(),
        credentials: manifest
            .cache
            .as_ref()
            .map(|c| c.credentials.clone())
            .unwrap_or_default(),
        cache_project_dir: manifest.cache.as_ref().and_then(|c| c.project_dir.clone()),
        cache_cargo_home: manifest.cache.as_ref().and_then(|c| c.cargo_home.clone()),
    })
}
