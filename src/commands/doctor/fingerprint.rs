//! `doctor --fingerprint`: one line over what shapes a build here (rustc, the lock as built,
//! the linker settings, the wrapper, the installed tools), to compare two environments.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use crate::Error;
use crate::commands::{Context, Project};
use crate::env_vars;
use crate::lock::Lockfile;
use crate::manifest::Manifest;
use crate::render::CARGO_CONFIG;

/// `buildkit doctor --fingerprint`: one line to compare with another environment's.
pub fn fingerprint(ctx: &Context) -> Result<ExitCode, Error> {
    let project = ctx.require_project()?;
    let root = project.root();
    let rustc = crate::machine::active_rustc(root, &ctx.env.rustc)
        .map_err(crate::commands::CommandError::FingerprintRustc)?;
    let (lock_text, lock) = lock_as_built(ctx, &project)?;
    let inputs = crate::fingerprint::Inputs {
        rustc: rustc.verbose,
        tools: installed_digests(ctx, &lock),
        lock: lock_text,
        linker_settings: linker_settings(&ctx.env, &root.join(CARGO_CONFIG))?,
        wrapper: wrapper_name(&ctx.env),
        cache: cache_settings(&project.manifest, crate::manifest::BuildPlace::of(&ctx.env)),
    };
    crate::outln!("{}", inputs.line());
    Ok(ExitCode::SUCCESS)
}

/// The cache configuration, for the fingerprint: the backend, its settings and the names of
/// its credentials (their values are never read here).
pub(super) fn cache_settings(
    manifest: &Manifest,
    ctx_place: crate::manifest::BuildPlace,
) -> BTreeMap<String, String> {
    let Some(cache) = &manifest.cache else {
        return BTreeMap::new();
    };
    let mut settings: BTreeMap<String, String> = cache.settings.clone();
    settings.insert("backend".into(), cache.backend.to_string());
    if !cache.credentials.is_empty() {
        settings.insert("credentials".into(), cache.credentials.join(","));
    }
    if cache.backend.is_remote() {
        // Who writes here and the layout: two environments whose keys or policy differ do
        // not share a cache the same way.
        settings.insert("writes here".into(), cache.writes(ctx_place).to_string());
        settings.insert("local_first".into(), cache.local_first.to_string());
        for (key, value) in [
            ("project_dir", &cache.project_dir),
            ("cargo_home", &cache.cargo_home),
        ] {
            if let Some(value) = value {
                settings.insert(key.into(), value.clone());
            }
        }
    }
    settings
}

/// buildkit.lock's text as committed (empty when there is none) and the lock it means (resolved
/// from the manifest when there is none).
pub(super) fn lock_as_built(ctx: &Context, project: &Project) -> Result<(String, Lockfile), Error> {
    let lock_path = project.lock_path.as_path();
    let lock_text = crate::commands::project::read_lock_text(lock_path)?.unwrap_or_default();
    let lock = if lock_text.is_empty() {
        Lockfile::resolve(&project.manifest, &ctx.registry)
    } else {
        Lockfile::parse(&lock_text, lock_path)?
    };
    Ok((lock_text, lock))
}

/// Every setting cargo would link with: the linker keys of .cargo/config.toml and the
/// variables that override them, by name.
pub(super) fn linker_settings(
    env: &env_vars::BuildEnv,
    config: &Path,
) -> Result<BTreeMap<String, String>, Error> {
    let mut settings = BTreeMap::new();
    if let Ok(text) = crate::fsutil::read_text(config, crate::fsutil::MAX_TEXT_BYTES) {
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            crate::commands::CommandError::CargoConfig {
                path: config.to_path_buf(),
                message: e.message().trim().to_string(),
            }
        })?;
        let target = crate::host::Host::DEFAULT.triple();
        for path in [
            &["target", target, "linker"][..],
            &["target", target, "rustflags"],
            &["build", "rustflags"],
            &["build", "rustc-wrapper"],
        ] {
            let item = path.iter().fold(doc.as_item(), |item, key| {
                item.get(key).unwrap_or(&toml_edit::Item::None)
            });
            if !item.is_none() {
                settings.insert(path.join("."), item.to_string().trim().to_string());
            }
        }
    }
    for var in env_vars::RUSTFLAGS_OVERRIDES
        .iter()
        .chain(std::iter::once(&env_vars::LINKER_OVERRIDE))
    {
        if let Some(value) = env.var(var) {
            settings.insert((*var).to_string(), value.to_string_lossy().into_owned());
        }
    }
    Ok(settings)
}

/// The compiler wrapper's file name. It is found on PATH, whose directories differ between
/// environments: its name counts here, and its bytes through the installed tools.
pub(super) fn wrapper_name(env: &env_vars::BuildEnv) -> String {
    env_vars::WRAPPERS
        .iter()
        .find_map(|var| env.var(var).filter(|v| !v.is_empty()))
        .map(|w| {
            Path::new(&w)
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// `<tool>/<binary>` -> the sha256 of what the lock's bin directory links to ("missing" if
/// nothing).
pub(super) fn installed_digests(ctx: &Context, lock: &Lockfile) -> BTreeMap<String, String> {
    let links = ctx.home.links(&ctx.home.lock_bin_dir(&lock.id()));
    let mut tools = BTreeMap::new();
    for tool in &lock.tools {
        for link in tool.binaries.keys() {
            let digest = links
                .get(link)
                .and_then(|target| crate::digest::sha256_file(target).ok())
                .map_or_else(|| "missing".into(), String::from);
            tools.insert(format!("{}/{link}", tool.name), digest);
        }
    }
    tools
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_is_named_by_its_file_whichever_variable_sets_it() {
        let env = |vars| wrapper_name(&env_vars::BuildEnv::for_test(vars));
        assert_eq!(env(&[]), "");
        assert_eq!(env(&[("RUSTC_WRAPPER", "/opt/bin/sccache")]), "sccache");
        assert_eq!(
            env(&[
                ("RUSTC_WRAPPER", ""),
                ("CARGO_BUILD_RUSTC_WRAPPER", "ccache")
            ]),
            "ccache"
        );
    }
}
