//! What each template receives: every slot already encoded for the place it lands (a YAML
//! scalar in a GitHub file, a Dockerfile instruction, a JSON string, …), as minijinja's "safe"
//! strings. The template environment refuses anything else, so a value that skipped its encoder
//! fails to render instead of landing raw in a generated file.

use minijinja::Value;

use crate::encode::{self, ShellCode};
use crate::env_vars;
use crate::shell;

use super::{Bootstrap, HEADER, InitTemplate, RenderError, SccacheDir};

/// GitHub actions the generated CI uses, pinned to full commit SHAs (tag in a comment).
const ACTION_CHECKOUT: &str = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1";
const ACTION_CACHE: &str = "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5";
const ACTION_GITHUB_SCRIPT: &str =
    "actions/github-script@ed597411d8f924073f98dfc5c65a23a2325f34cd # v8.0.0";

/// The commands the example CI jobs run after the building block.
const BUILD: [&str; 2] = ["cargo build --locked", "cargo test --locked"];

/// Text that is already in its destination's syntax.
fn encoded(text: impl Into<String>) -> Value {
    Value::from_safe_string(text.into())
}

fn encoded_opt(text: Option<String>) -> Value {
    text.map_or(Value::from(()), encoded)
}

/// A GitHub scalar made of a value and buildkit's own expressions: the value is made literal
/// ([`encode::github_literal`]), the expressions stay live, and the whole is one YAML scalar.
enum Gh<'a> {
    Value(&'a str),
    Expr(&'static str),
}

fn github_scalar(parts: &[Gh<'_>]) -> String {
    let text: String = parts
        .iter()
        .map(|part| match part {
            Gh::Value(value) => encode::github_literal(value).into_owned(),
            Gh::Expr(expr) => (*expr).to_string(),
        })
        .collect();
    encode::yaml_scalar(&text)
}

/// A `run:` of shell code in a GitHub file: a block when it reads back exactly as one.
fn github_run(code: &ShellCode) -> Value {
    encoded(encode::yaml_block(
        &encode::github_literal(code.as_str()),
        8,
    ))
}

/// The linker script's slots, where buildkit.toml pins a linker that must be installed: mold,
/// or LLVM's lld (rust-lld and rustc's default come with the toolchain).
pub fn linker_script(manifest: &crate::manifest::Manifest) -> Option<Value> {
    use crate::manifest::{LinkerKind, LldSpec};
    let label = match (manifest.linker, &manifest.lld) {
        (LinkerKind::Mold | LinkerKind::Wild, _) => manifest.linker.as_str(),
        (LinkerKind::Lld, Some(LldSpec::Llvm(_))) => "LLVM's lld",
        _ => return None,
    };
    let linker = manifest.linker.linker();
    let (program, fuse_ld) = linker.program().zip(linker.fuse_ld())?;
    let ld_dir = linker == crate::linker::Linker::Wild;
    let notice = format!(
        "buildkit: {label}, the linker buildkit.toml pins, is not installed here; linking as rustc does by default (`buildkit setup` installs it)"
    );
    Some(minijinja::context! {
        header => encoded(HEADER),
        label => encoded(encode::comment(label)),
        program => encoded(encode::sh_word(program)),
        fuse_ld => encoded(encode::sh_word(fuse_ld)),
        driver => encoded(encode::sh_word(manifest.driver.as_str())),
        ld_dir => ld_dir,
        notice => encoded(encode::sh_word(&notice)),
    })
}

/// tune's one link script: rustc's default, or each linker it measures from `bin_dir` (wild
/// through the directory whose `ld.bfd` it is), picked per build by BUILDKIT_TUNE_LINKER.
pub fn tune_link_script(driver: &str, bin_dir: &std::path::Path) -> Value {
    use crate::linker::Linker;
    let linkers: Vec<Value> = [Linker::Mold, Linker::Lld, Linker::Wild]
        .into_iter()
        .filter_map(|linker| {
            let dir = match linker {
                Linker::Wild => crate::install::Home::wild_ld_dir(bin_dir),
                _ => bin_dir.to_path_buf(),
            };
            Some(minijinja::context! {
                name => encoded(encode::sh_word(linker.name())),
                dir => encoded(encode::sh_word(&dir.to_string_lossy())),
                fuse_ld => encoded(encode::sh_word(linker.fuse_ld()?)),
            })
        })
        .collect();
    minijinja::context! {
        var => encoded(env_vars::BUILDKIT_TUNE_LINKER),
        // The variable's value, `default` where it is unset.
        chosen => encoded(format!("${{{}:-default}}", env_vars::BUILDKIT_TUNE_LINKER)),
        driver => encoded(encode::sh_word(driver)),
        linkers => linkers,
    }
}

pub fn devcontainer_json(b: &Bootstrap) -> Value {
    // The cache's credentials come from the laptop's environment, by name.
    let remote_env = (!b.credentials.is_empty()).then(|| {
        let map: serde_json::Map<String, serde_json::Value> = b
            .credentials
            .iter()
            .map(|name| (name.clone(), format!("${{localEnv:{name}}}").into()))
            .collect();
        serde_json::to_string(&map).expect("strings serialize")
    });
    // The team's cache layout: the project mounted where CI builds it, CARGO_HOME likewise
    // (sccache keys Rust crates by absolute paths). The mount option has no escaping: a path
    // with a comma is refused by the encoder (and by buildkit.toml's validation before it).
    let workspace_mount = b.cache_project_dir.as_deref().map(|dir| {
        encode::json_string(&format!(
            "source=${{localWorkspaceFolder}},target={},type=bind",
            encode::mount_option_value(dir)
        ))
    });
    let container_env = b.cache_cargo_home.as_deref().map(|home| {
        let map = serde_json::Map::from_iter([(env_vars::CARGO_HOME.to_string(), home.into())]);
        serde_json::to_string(&map).expect("strings serialize")
    });
    minijinja::context! {
        header => encoded(HEADER),
        name => encoded(encode::json_string(&b.name)),
        post_create => encoded(encode::json_string("buildkit check")),
        remote_env => encoded_opt(remote_env),
        workspace_mount => encoded_opt(workspace_mount),
        workspace_folder => encoded_opt(b.cache_project_dir.as_deref().map(encode::json_string)),
        container_env => encoded_opt(container_env),
    }
}

/// The name of the Dockerfile's stage that holds the build toolchain (Rust, buildkit, the
/// locked tools, `buildkit env`'s variables): the devcontainer is built from it, and so can a
/// production image's builder be (`--target buildkit-toolchain`).
pub const TOOLCHAIN_STAGE: &str = "buildkit-toolchain";

pub fn dockerfile(b: &Bootstrap) -> Result<Value, RenderError> {
    let env = b
        .env
        .iter()
        .map(|(name, value)| {
            Ok(encoded(format!(
                "{}={}",
                encode::variable_name(name)?,
                encode::docker_env_value(value)?
            )))
        })
        .collect::<Result<Vec<Value>, encode::EncodeError>>()
        .map_err(|e| RenderError::Encode {
            file: super::DOCKERFILE,
            source: e,
        })?;
    let from = encode::docker_image(&b.image).map_err(|e| RenderError::Encode {
        file: super::DOCKERFILE,
        source: e,
    })?;
    let packages_run = (!b.packages.is_empty()).then(|| {
        encode::docker_run(&shell!(
            "apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*",
            ShellCode::words(&b.packages)
        ))
    });
    let rustup_run = b.rustup_additions().map(|code| encode::docker_run(&code));
    let copy_source = b
        .buildkit
        .copy_source
        .as_deref()
        .map(|path| encode::docker_exec("COPY", &[path, "/usr/src/buildkit"]));
    Ok(minijinja::context! {
        header => encoded(HEADER),
        from => encoded(format!("FROM {from} AS {TOOLCHAIN_STAGE}")),
        packages_run => encoded_opt(packages_run),
        rustup_run => encoded_opt(rustup_run),
        describe => encoded(encode::comment(&b.buildkit.describe)),
        copy_source => encoded_opt(copy_source),
        install_run => encoded(encode::docker_run(&b.buildkit.docker)),
        setup_run => encoded(encode::docker_run(&ShellCode::trusted(
            "buildkit setup --locked --config /usr/local/buildkit/project/buildkit.toml && rm -rf /root/.cache/buildkit",
        ))),
        env => env,
    })
}

/// The action's Rust step: the pinned toolchain (and what rustup adds), and RUSTUP_TOOLCHAIN
/// where no rust-toolchain.toml selects it.
fn install_rust_run(b: &Bootstrap) -> Result<ShellCode, encode::EncodeError> {
    let rust = b.rust.as_str();
    let mut install_rust = shell!(
        "rustc +{} --version 2>/dev/null || rustup toolchain install {} --profile minimal --no-self-update",
        rust,
        rust
    );
    if let Some(additions) = b.rustup_additions() {
        install_rust = shell!("{}\n{}", install_rust, additions);
    }
    if b.pin_by_env {
        // No rust-toolchain.toml selects the pin: the environment does, unless the job chose
        // its own (a matrix's RUSTUP_TOOLCHAIN).
        let line = encode::github_env_line(crate::env_vars::RUSTUP_TOOLCHAIN, rust)?;
        install_rust = shell!(
            "{}\n[ -n \"${{RUSTUP_TOOLCHAIN:-}}\" ] || echo {} >> \"$GITHUB_ENV\"",
            install_rust,
            line
        );
    }
    Ok(install_rust)
}

/// The action's environment step: `buildkit env`'s lines, then the CI-only variables, the
/// team's CARGO_HOME and the default sccache directory.
fn github_env_run(b: &Bootstrap) -> Result<ShellCode, encode::EncodeError> {
    // `buildkit env` writes the project's variables (and refuses a line break in one); the
    // CI-only ones and the default sccache directory are buildkit's own.
    let mut env_run = ShellCode::trusted("buildkit env --shell github >> \"$GITHUB_ENV\"");
    for (name, value) in &b.ci_env {
        let line = encode::github_env_line(name, value)?;
        env_run = shell!("{}\necho {} >> \"$GITHUB_ENV\"", env_run, line);
    }
    // The team's CARGO_HOME, part of every dependency's cache key (the devcontainer sets the
    // same; GitLab's building block keeps CARGO_HOME inside the project, under project_dir).
    if let Some(home) = &b.cache_cargo_home {
        let line = encode::github_env_line(crate::env_vars::CARGO_HOME, home)?;
        env_run = shell!("{}\necho {} >> \"$GITHUB_ENV\"", env_run, line);
    }
    if b.sccache_dir == Some(SccacheDir::Default) {
        env_run = shell!(
            "{}\necho \"SCCACHE_DIR=$HOME/.cache/sccache\" >> \"$GITHUB_ENV\"",
            env_run
        );
    }
    Ok(env_run)
}

/// The github-script step that hands the runner's cache service to sccache's gha backend:
/// the runner's own variables, then `vars`, as a YAML block of JavaScript.
fn gha_export_script(vars: &[(String, String)]) -> String {
    let mut script = String::from(
        "for (const name of ['ACTIONS_RESULTS_URL', 'ACTIONS_RUNTIME_TOKEN', 'ACTIONS_CACHE_URL', 'ACTIONS_CACHE_SERVICE_V2']) {\n  if (process.env[name]) core.exportVariable(name, process.env[name]);\n}",
    );
    for (name, value) in vars {
        script.push_str(&format!(
            "\ncore.exportVariable({}, {});",
            encode::json_string(name),
            encode::json_string(value)
        ));
    }
    encode::yaml_block(&encode::github_literal(&script), 10)
}

pub fn github_action(b: &Bootstrap) -> Result<Value, RenderError> {
    let encode_err = |source| RenderError::Encode {
        file: super::GITHUB_ACTION,
        source,
    };
    let rust = b.rust.as_str();
    let install_rust = install_rust_run(b).map_err(encode_err)?;
    let packages_run = (!b.packages.is_empty()).then(|| {
        github_run(&shell!(
            "sudo apt-get update && sudo apt-get install -y --no-install-recommends {}",
            ShellCode::words(&b.packages)
        ))
        .to_string()
    });
    let verify = shell!(
        "{}\necho \"$HOME/.buildkit-cli/bin\" >> \"$GITHUB_PATH\"",
        b.buildkit.github_verify
    );
    let env_run = github_env_run(b).map_err(encode_err)?;
    let gha_script = (!b.gha_env.is_empty()).then(|| gha_export_script(&b.gha_env));
    // The sccache directory: the default is buildkit's; one from buildkit.toml reaches the
    // cache action through the environment `buildkit env` set, never as text in this file.
    let sccache_path = b.sccache_dir.as_ref().map(|dir| match dir {
        SccacheDir::Default => "~/.cache/sccache".to_string(),
        SccacheDir::Given(_) => "${{ env.SCCACHE_DIR }}".to_string(),
    });
    // The registry is cached where cargo keeps it: the team's CARGO_HOME (set above through
    // GITHUB_ENV, so read back from there, never as text in this file) or cargo's default.
    let cargo_home = if b.cache_cargo_home.is_some() {
        "${{ env.CARGO_HOME }}"
    } else {
        "~/.cargo"
    };
    let rust_key = format!("-rust-{rust}-");
    Ok(minijinja::context! {
        header => encoded(HEADER),
        description => encoded(encode::github_yaml(&format!(
            "Installs Rust {rust}, buildkit and the tools buildkit.lock pins, sets the build environment, and restores the caches."
        ))),
        install_rust_name => encoded(encode::github_yaml(&format!("Install Rust {rust}"))),
        install_rust_run => github_run(&install_rust),
        packages_run => encoded_opt(packages_run),
        cli_cache_key => encoded_opt(b.buildkit.cache_key.as_deref().map(|key| {
            github_scalar(&[Gh::Value(key), Gh::Expr("-${{ runner.os }}-${{ runner.arch }}")])
        })),
        install_name => encoded(encode::github_yaml(&format!(
            "Install buildkit ({})",
            b.buildkit.describe
        ))),
        install_only_on_miss => b.buildkit.cache_key.is_some() && !b.buildkit.always_install,
        install_run => github_run(&b.buildkit.github),
        verify_run => github_run(&verify),
        env_run => github_run(&env_run),
        gha_script => encoded_opt(gha_script),
        github_script => encoded(ACTION_GITHUB_SCRIPT),
        cache_action => encoded(ACTION_CACHE),
        cargo_home => encoded(cargo_home),
        sccache_path => encoded_opt(sccache_path),
        sccache_key => encoded(github_scalar(&[
            Gh::Expr("sccache-${{ runner.os }}-${{ runner.arch }}"),
            Gh::Value(&rust_key),
            Gh::Expr("${{ hashFiles('**/Cargo.lock', 'buildkit.lock') }}"),
        ])),
        sccache_restore_keys => encoded(github_scalar(&[
            Gh::Expr("sccache-${{ runner.os }}-${{ runner.arch }}"),
            Gh::Value(&rust_key),
        ])),
    })
}

pub fn github_example(b: &Bootstrap) -> Value {
    // A composite action cannot read secrets: the workflow maps each credential's secret (of
    // the same name) into the job's environment, where sccache reads it.
    let credentials: Vec<Value> = b
        .credentials
        .iter()
        .filter_map(|name| encode::variable_name(name).ok())
        .map(|name| encoded(format!("{name}: ${{{{ secrets.{name} }}}}")))
        .collect();
    minijinja::context! {
        credentials => credentials,
        checkout => encoded(ACTION_CHECKOUT),
        build => BUILD.iter().map(|c| encoded(encode::github_yaml(c))).collect::<Vec<_>>(),
    }
}

pub fn gitlab_include(b: &Bootstrap) -> Value {
    let yaml = |code: &ShellCode| encoded(encode::yaml_scalar(code.as_str()));
    let mut before_script = Vec::new();
    if !b.packages.is_empty() {
        before_script.push(yaml(&shell!(
            "apt-get update && apt-get install -y --no-install-recommends {}",
            ShellCode::words(&b.packages)
        )));
    }
    if let Some(additions) = b.rustup_additions() {
        before_script.push(yaml(&additions));
    }
    let install = shell!("(cd / && {})", b.buildkit.gitlab);
    before_script.push(yaml(
        &if b.buildkit.cache_key.is_some() && !b.buildkit.always_install {
            shell!(
                "({}) >/dev/null 2>&1 || {}",
                b.buildkit.gitlab_verify,
                install
            )
        } else {
            install
        },
    ));
    before_script.push(yaml(&b.buildkit.gitlab_verify));
    for line in [
        "export PATH=\"$CI_PROJECT_DIR/.buildkit/cli/bin:$PATH\"",
        "buildkit setup --locked",
        "eval \"$(buildkit env --shell sh)\"",
        "buildkit check",
    ] {
        before_script.push(yaml(&ShellCode::trusted(line)));
    }
    // GitLab expands `$NAME` in variables: `$$` is a literal `$`.
    let ci_env: Vec<(Value, Value)> = b
        .ci_env
        .iter()
        .map(|(name, value)| {
            (
                encoded(encode::yaml_scalar(name)),
                encoded(encode::yaml_scalar(&value.replace('$', "$$"))),
            )
        })
        .collect();
    minijinja::context! {
        header => encoded(HEADER),
        image => encoded(encode::yaml_scalar(&b.image)),
        sccache_dir => b.sccache_dir.is_some(),
        ci_env => ci_env,
        cli_cache_key => encoded_opt(b.buildkit.cache_key.as_deref().map(encode::yaml_scalar)),
        cargo_cache_prefix => encoded(encode::yaml_scalar(&format!("cargo-rust-{}", b.rust))),
        before_script => before_script,
    }
}

pub fn gitlab_example() -> Value {
    minijinja::context! {
        build => BUILD.iter().map(|c| encoded(encode::yaml_scalar(c))).collect::<Vec<_>>(),
    }
}

pub fn init(input: &InitTemplate) -> Value {
    let toml = |s: &str| encoded(encode::toml_string(s));
    minijinja::context! {
        rust => input.rust.as_deref().map(toml),
        linker => toml(input.linker),
        mold => input.mold.as_deref().map(toml),
        wild => input.wild.as_deref().map(toml),
        lld => input.lld,
        sccache => input.sccache.as_deref().map(toml),
        buildkit => encoded(init_buildkit_section(input.buildkit.as_ref())),
    }
}

/// init's `[buildkit]` table: the source it could tell, or the choices commented out.
fn init_buildkit_section(source: Option<&crate::manifest::BuildkitSource>) -> String {
    use crate::manifest::BuildkitSource;
    let toml = encode::toml_string;
    let head = "# How the devcontainer and CI install buildkit itself, one of: git + rev (a full 40-hex\n# commit), url + sha256 (a prebuilt binary or .tar.gz, verified like any tool), path (a\n# source tree inside this project), or version (crates.io's buildkit-toolchain, once published).\n";
    let lines = match source {
        Some(BuildkitSource::CratesIo { version }) => format!("version = {}", toml(version)),
        Some(BuildkitSource::Git { url, rev }) => {
            format!("git = {}\nrev = {}", toml(url), toml(rev))
        }
        Some(BuildkitSource::Path { path }) => format!("path = {}", toml(path)),
        Some(BuildkitSource::Prebuilt { url, sha256 }) => {
            format!("url = {}\nsha256 = {}", toml(url), toml(sha256))
        }
        None => {
            return format!(
                "{head}# `buildkit generate` needs one; this buildkit's own source could not serve CI.\n# [buildkit]\n# git = \"https://github.com/OWNER/buildkit\"\n# rev = \"<full 40-hex commit>\""
            );
        }
    };
    format!("[buildkit]\n{head}{lines}")
}
