//! `buildkit init`: start a project's buildkit.toml, pinned to the newest releases buildkit
//! knows, and its lock.

use std::process::ExitCode;

use super::Context;
use crate::Error;
use crate::lock::{LOCK_FILE, Lockfile};
use crate::manifest::LinkerKind;
use crate::manifest::{MANIFEST_FILE, Manifest};
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
    let active = crate::toolchain::active_rustc(&ctx.cwd, &ctx.env.rustc).ok();
    let pinned = active
        .as_ref()
        .and_then(|a| crate::toolchain::stable_for(&a.release).map(|p| (a.release.clone(), p)));
    let input = InitTemplate {
        rust: pinned.as_ref().map(|(_, (stable, _))| stable.to_string()),
        linker: linker.as_str(),
        mold: (linker == LinkerKind::Mold)
            .then(|| newest("mold"))
            .flatten(),
        lld: linker == LinkerKind::Lld,
        sccache: if sccache { newest("sccache") } else { None },
        buildkit_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let text = render_init(&input)?;
    // What init writes must be what buildkit accepts.
    let manifest = Manifest::parse(&text, &path, &ctx.registry, crate::toolchain::today())?;
    crate::fsutil::write_atomically(&path, text.as_bytes()).map_err(|source| Error::File {
        action: "write",
        path: path.clone(),
        source,
    })?;
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
