//! The linkers tune measures: mold and wild at the version the lock pins (or the newest the
//! registry knows), installed and verified into BUILDKIT_HOME first; never one found on PATH.

use std::path::{Path, PathBuf};

use super::TuneOptions;
use crate::Error;
use crate::commands::Context;
use crate::linker::Linker;
use crate::lock::Lockfile;
use crate::manifest::Manifest;
use crate::tool::Tool;

/// The linkers this machine can measure and where they are installed.
pub(super) struct LinkerTools {
    pub(super) linkers: Vec<Linker>,
    /// A lock bin directory holding every linker measured.
    pub(super) bin_dir: PathBuf,
    /// Tools tune installed for measuring that buildkit.toml does not pin yet (name, version):
    /// pinned by `--apply` when their linker wins.
    pub(super) pins: Vec<(String, String)>,
    /// The pinned sccache, installed.
    pub(super) sccache: Option<PathBuf>,
}

/// mold and wild at the version buildkit.lock pins, or (not pinned) the newest the registry
/// knows, installed and verified through `setup` from a copy of buildkit.toml that pins them;
/// LLVM's lld where buildkit.toml pins it. Never a linker found on PATH.
pub(super) fn linker_tools(
    ctx: &Context,
    project: &crate::commands::Project,
    tune_dir: &Path,
    options: &TuneOptions,
    notes: &mut Vec<String>,
) -> Result<LinkerTools, Error> {
    let (lock, _) = ctx.resolve_lock(project)?;
    let mut pins = Vec::new();
    for tool in [Tool::Mold, Tool::Wild] {
        if lock.tool(tool).is_none() {
            let newest = &ctx.registry.tool(tool).newest().version;
            pins.push((tool.name().to_string(), newest.clone()));
        }
    }
    let (manifest_path, text) = project.manifest_text()?;
    let pin_refs: Vec<(&str, &str)> = pins.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let tune_text = crate::manifest::pin_tools(&text, &pin_refs)
        .map_err(|e| Error::Failed(format!("{}: {e}", manifest_path.display())))?;
    let tune_manifest = tune_dir.join(crate::manifest::MANIFEST_FILE);
    crate::fsutil::write_atomically(&tune_manifest, tune_text.as_bytes()).map_err(|source| {
        Error::File {
            action: "write",
            path: tune_manifest.clone(),
            source,
        }
    })?;
    let tune_ctx = Context {
        cwd: ctx.cwd.clone(),
        config: Some(tune_manifest.clone()),
        home: ctx.home.clone(),
        cache_dir: ctx.cache_dir.clone(),
        registry: ctx.registry.clone(),
        env: ctx.env.clone(),
        stall: ctx.stall,
    };
    let installed = crate::commands::setup::run(
        &tune_ctx,
        &crate::commands::setup::SetupOptions {
            locked: false,
            offline: options.offline,
            mirror: options.mirror.clone(),
            ci: false,
            quiet: true,
            json: false,
            download_attempts: crate::fetch::DEFAULT_ATTEMPTS,
        },
    );
    let (lock, pins) = match installed {
        Ok(_) => {
            let manifest = Manifest::load(&tune_manifest, &ctx.registry)?;
            (Lockfile::resolve(&manifest, &ctx.registry), pins)
        }
        Err(e) => {
            notes.push(format!(
                "could not install {} for measuring ({e}); measuring what buildkit.lock pins and `buildkit setup` installed",
                pins.iter().map(|(n, v)| format!("{n} {v}")).collect::<Vec<_>>().join(" and ")
            ));
            (lock, Vec::new())
        }
    };
    let bin_dir = ctx.home.lock_bin_dir(&lock.id());
    let mut linkers = Vec::new();
    for linker in [Linker::Mold, Linker::Wild, Linker::Lld] {
        let (Some(tool), Some(program)) = (linker.tool(), linker.program()) else {
            continue;
        };
        let pinned = match lock.tool(tool) {
            Some(t) if t.archive().is_some() => true,
            // rust-lld is the LLD rustc already links with: nothing to compare.
            Some(_) => false,
            None => false,
        };
        if !pinned {
            continue;
        }
        if bin_dir.join(program).exists() {
            linkers.push(linker);
        } else {
            notes.push(format!(
                "{tool} is pinned but not installed in {}: run `buildkit setup`; not measured",
                bin_dir.display()
            ));
        }
    }
    let sccache = lock
        .tool(crate::tool::Tool::Sccache)
        .map(|_| bin_dir.join("sccache"))
        .filter(|program| program.exists());
    Ok(LinkerTools {
        linkers,
        bin_dir,
        pins,
        sccache,
    })
}
