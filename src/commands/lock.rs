//! `buildkit lock [--upgrade]`: resolve buildkit.toml into buildkit.lock.

use std::process::ExitCode;

use super::{Context, LockState};
use crate::Error;
use crate::manifest::{MANIFEST_FILE, Manifest};

pub fn run(ctx: &Context, upgrade: bool) -> Result<ExitCode, Error> {
    let mut project = ctx.require_project()?;
    let manifest_path = project
        .manifest
        .path
        .clone()
        .expect("a project has a manifest path");
    if upgrade {
        let text =
            crate::fsutil::read_text_named(&manifest_path, crate::manifest::MAX_MANIFEST_BYTES)?;
        let upgraded = crate::manifest::upgrade_pins(&text, &ctx.registry)
            .map_err(|e| Error::Usage(format!("{}: {e}", manifest_path.display())))?;
        if upgraded != text {
            crate::fsutil::write_atomically(&manifest_path, upgraded.as_bytes()).map_err(
                |source| Error::File {
                    action: "write",
                    path: manifest_path.clone(),
                    source,
                },
            )?;
            eprintln!("upgraded pinned versions in {MANIFEST_FILE}");
        }
        project.manifest = Manifest::load(&manifest_path, &ctx.registry)?;
    }
    let (lock, state) = ctx.resolve_lock(&project)?;
    let path = project.lock_path.as_path();
    if state == LockState::Fresh {
        eprintln!("{} is up to date", path.display());
    } else {
        lock.write(path)?;
        eprintln!("wrote {}", path.display());
    }
    for tool in &lock.tools {
        eprintln!("  {}", describe(tool));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(tool: &crate::lock::LockedTool) -> String {
    match tool.archive() {
        Some(archive) => format!(
            "{} {} sha256:{}",
            tool.name,
            tool.version,
            &archive.sha256[..12]
        ),
        None => format!("{} from the Rust toolchain", tool.name),
    }
}
