//! `buildkit init`: start a project's buildkit.toml, pinned to the newest releases buildkit
//! knows, and its lock.

use std::process::ExitCode;

use super::Context;
use crate::Error;
use crate::lock::{LOCK_FILE, Lockfile};
use crate::manifest::LinkerKind;
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::registry::Registry;
use crate::render::{InitTemplate, render_init};

pub fn run(
    ctx: &Context,
    linker: LinkerKind,
    sccache: bool,
    force: bool,
) -> Result<ExitCode, Error> {
    let path = ctx
        .config
        .clone()
        .unwrap_or_else(|| ctx.cwd.join(MANIFEST_FILE));
    if path.exists() && !force {
        return Err(Error::Usage(format!(
            "{} already exists; edit it, or re-run with --force to start over",
            path.display()
        )));
    }
    let newest = |name: &str| ctx.registry.tool(name).map(|t| t.newest().version.clone());
    // Pin a release that has an image and a rustup channel: a nightly or beta pins the newest
    // stable it can name, and says so.
    let active = crate::toolchain::active_rustc(&ctx.cwd).ok();
    let pinned = active
        .as_ref()
        .and_then(|a| crate::toolchain::stable_for(&a.release).map(|p| (a.release.clone(), p)));
    let rust = pinned.as_ref().map(|(_, (stable, _))| stable.clone());
    let input = InitTemplate {
        rust: rust.clone(),
        linker: linker.as_str(),
        mold: (linker == LinkerKind::Mold)
            .then(|| newest("mold"))
            .flatten(),
        lld: linker == LinkerKind::Lld,
        sccache: if sccache { newest("sccache") } else { None },
        buildkit_version: env!("CARGO_PKG_VERSION").to_string(),
        package: crate::manifest::PACKAGE_NAME,
    };
    let text = render_init(&input)?;
    // What init writes must be what buildkit accepts.
    let manifest = Manifest::parse(&text, &path, &ctx.registry)?;
    crate::fsutil::write_atomically(&path, text.as_bytes())
        .map_err(|e| Error::Failed(format!("could not write {}: {e}", path.display())))?;
    let lock_path = path.with_file_name(LOCK_FILE);
    Lockfile::resolve(&manifest, &ctx.registry).write(&lock_path)?;
    eprintln!("wrote {} and {}", path.display(), lock_path.display());
    match &pinned {
        None => eprintln!(
            "warning: could not run `rustc -vV`; set [toolchain] rust in {} before `buildkit generate`",
            path.display()
        ),
        Some((active, (stable, true))) => eprintln!(
            "note: the active rustc {active} is not a stable release; pinned Rust {stable}, the newest stable it can name (edit toolchain.rust to choose another)"
        ),
        Some(_) => {}
    }
    eprintln!(
        "next: `buildkit setup` installs the tools, `buildkit generate` writes the cargo, devcontainer and CI files"
    );
    if linker != LinkerKind::Default {
        // Since Rust 1.90 rustc links with its own lld: another linker is not faster by
        // default, and on some machines and projects it is slower. Measure, then choose.
        eprintln!(
            "then: `buildkit bench` measures {} against rustc's own linker on this project and machine",
            linker.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Moves every registry-pinned tool version to the newest the registry knows, keeping the
/// file's comments and layout. Tools with their own `url` are left alone.
pub fn upgrade_versions(text: &str, registry: &Registry) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    if let Some(tools) = doc.get_mut("tools").and_then(|t| t.as_table_like_mut()) {
        for (name, table) in tools.iter_mut() {
            let Some(table) = table.as_table_like_mut() else {
                continue;
            };
            let has_url = table.contains_key("url");
            let is_rust_lld = table
                .get("source")
                .and_then(|s| s.as_str())
                .is_none_or(|s| s == "rust")
                && name.get() == "lld";
            if has_url || is_rust_lld {
                continue;
            }
            if let (Some(releases), Some(version)) =
                (registry.tool(name.get()), table.get_mut("version"))
                && let Some(value) = version.as_value_mut()
            {
                let decor = value.decor().clone();
                *value = toml_edit::Value::from(releases.newest().version.as_str());
                *value.decor_mut() = decor;
            }
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_moves_registry_pins_and_keeps_comments() {
        let text = "[tools.mold]\nversion = \"2.40.4\"  # pinned\n[tools.sccache]\nversion = \"0.1\"\nurl = \"https://x/s.tar.gz\"\n";
        let upgraded = upgrade_versions(text, &Registry::embedded()).unwrap();
        assert_eq!(
            upgraded,
            "[tools.mold]\nversion = \"2.42.0\"  # pinned\n[tools.sccache]\nversion = \"0.1\"\nurl = \"https://x/s.tar.gz\"\n"
        );
    }
}
