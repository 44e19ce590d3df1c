//! `buildkit gc`: remove tool versions and cached archives that nothing uses any more.
//!
//! "Used" means named by this project's lock (or the default set) or selected by a `bin/` link,
//! so a BUILDKIT_HOME shared by several projects keeps what the others' links still point at.

use std::collections::BTreeSet;
use std::process::ExitCode;

use super::Context;
use super::list::normalize;
use crate::Error;
use crate::fetch::{CacheFile, parse_cache_file_name};
use crate::lock::Lockfile;
use crate::manifest::Manifest;

pub fn run(ctx: &Context, dry_run: bool) -> Result<ExitCode, Error> {
    let lock = match ctx.project()? {
        Some(project) => ctx.resolve_lock(&project)?.0,
        None => Lockfile::resolve(&Manifest::default_set(&ctx.registry), &ctx.registry),
    };
    let _guard = ctx.home.lock()?;
    let links: Vec<_> = ctx
        .home
        .links()
        .into_values()
        .map(|t| normalize(&t))
        .collect();
    let mut keep_digests: BTreeSet<String> =
        lock.tools.iter().filter_map(|t| t.sha256.clone()).collect();
    let mut removed = 0usize;
    let verb = if dry_run { "would remove" } else { "removed" };

    for receipt in ctx.home.installed() {
        let dir = ctx.home.tool_dir(&receipt.name, &receipt.version);
        let locked = lock
            .tools
            .iter()
            .any(|t| t.name == receipt.name && t.version == receipt.version);
        let linked = links.iter().any(|l| l.starts_with(&dir));
        if locked || linked {
            keep_digests.insert(receipt.sha256.clone());
            continue;
        }
        if !dry_run {
            fs_err::remove_dir_all(&dir).map_err(|e| Error::Failed(e.to_string()))?;
        }
        println!("{verb} {}", dir.display());
        removed += 1;
    }
    // Leftovers of killed runs: staging directories and partial downloads.
    if let Ok(entries) = fs_err::read_dir(ctx.home.tools_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(".staging-") || name.starts_with(".replaced-") {
                if !dry_run {
                    fs_err::remove_dir_all(entry.path())
                        .map_err(|e| Error::Failed(e.to_string()))?;
                }
                println!("{verb} {}", entry.path().display());
                removed += 1;
            }
        }
    }
    if let Ok(entries) = fs_err::read_dir(&ctx.cache_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            // Only files buildkit named: the cache dir may be shared with other things.
            let unused = match parse_cache_file_name(&name) {
                Some(CacheFile::Partial { .. }) => true,
                Some(CacheFile::Verified { sha256 }) => !keep_digests.contains(sha256),
                None => false,
            };
            if unused {
                if !dry_run {
                    fs_err::remove_file(entry.path()).map_err(|e| Error::Failed(e.to_string()))?;
                }
                println!("{verb} {}", entry.path().display());
                removed += 1;
            }
        }
    }
    if removed == 0 {
        eprintln!("nothing to remove");
    }
    Ok(ExitCode::SUCCESS)
}
