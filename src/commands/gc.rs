//! `buildkit gc`: remove tool versions and cached archives that nothing uses any more.
//!
//! "Used" means named by the lock of any project that ran `setup` with this home (recorded in
//! BUILDKIT_HOME/projects; projects whose lock is gone are forgotten), by this project's lock or
//! the default set, or selected by a link in `bin/`. gc says what it kept and why.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Context;
use crate::Error;
use crate::fetch::{CacheFile, lock_file_name, parse_cache_file_name};
use crate::lock::Lockfile;
use crate::manifest::Manifest;

pub fn run(ctx: &Context, dry_run: bool) -> Result<ExitCode, Error> {
    let here = match ctx.project()? {
        Some(project) => {
            let lock = ctx.resolve_lock(&project)?.0;
            (lock, project.lock_path.display().to_string())
        }
        None => (
            Lockfile::resolve(&Manifest::default_set(&ctx.registry), &ctx.registry),
            "the default set".to_string(),
        ),
    };
    let _guard = ctx.home.lock()?;
    let locks = known_locks(ctx, here)?;
    let mut sweep = Sweep {
        verb: if dry_run { "would remove" } else { "removed" },
        dry_run,
        removed: 0,
    };
    sweep.stale_bin_dirs(ctx, &locks)?;
    let mut keep_digests = sweep.tools(ctx, &locks)?;
    // The download cache may serve other homes too: what their projects pin stays.
    match pinned_by_other_homes(ctx) {
        Some(digests) => {
            keep_digests.extend(digests);
            sweep.cache(ctx, &keep_digests)?;
        }
        None => eprintln!(
            "kept every cached download in {}: another home that shares it has a project whose lock cannot be read",
            ctx.cache_dir.display()
        ),
    }
    if sweep.removed == 0 {
        eprintln!("nothing to remove");
    }
    Ok(ExitCode::SUCCESS)
}

/// Every lock that still uses this home, with who it is (for the "kept … because" lines):
/// this project's (or the default set), and each recorded project's whose lock still exists.
fn known_locks(ctx: &Context, here: (Lockfile, String)) -> Result<Vec<(Lockfile, String)>, Error> {
    // Every lock that still uses this home, with who it is (for the "kept … because" lines).
    let mut locks: Vec<(Lockfile, String)> = vec![here];
    for path in ctx.home.projects() {
        if locks
            .iter()
            .any(|(_, who)| *who == path.display().to_string())
        {
            continue;
        }
        match super::project::read_lock(&path) {
            Ok(Some(lock)) => locks.push((lock, path.display().to_string())),
            Ok(None) => eprintln!("forgot {} (it no longer exists)", path.display()),
            Err(e) => {
                return Err(super::CommandError::GcLockUnreadable(e).into());
            }
        }
    }
    Ok(locks)
}

/// The archive digests pinned by the projects of every other home that records itself as a
/// user of this download cache; `None` when one of their locks cannot be read (then nothing
/// in the cache can be known to be unused).
fn pinned_by_other_homes(ctx: &Context) -> Option<BTreeSet<crate::digest::Sha256>> {
    let mut digests = BTreeSet::new();
    for root in crate::install::cache_users(&ctx.cache_dir) {
        if root == ctx.home.root() || !root.is_dir() {
            continue;
        }
        for lock_path in crate::install::Home::new(root).projects() {
            match super::project::read_lock(&lock_path) {
                Ok(Some(lock)) => digests.extend(
                    lock.tools
                        .iter()
                        .filter_map(|t| t.archive().map(|a| a.sha256.clone())),
                ),
                Ok(None) => {}
                Err(_) => return None,
            }
        }
    }
    Some(digests)
}

/// What gc removes (or, with --dry-run, would), and how many.
struct Sweep {
    verb: &'static str,
    dry_run: bool,
    removed: usize,
}

impl Sweep {
    /// Bin directories of locks nobody has any more hold only links: removed first, so that
    /// their links keep nothing alive.
    fn stale_bin_dirs(&mut self, ctx: &Context, locks: &[(Lockfile, String)]) -> Result<(), Error> {
        let (verb, dry_run) = (self.verb, self.dry_run);
        let mut removed = 0;
        let ids: BTreeSet<String> = locks.iter().map(|(lock, _)| lock.id()).collect();
        if let Ok(entries) = fs_err::read_dir(ctx.home.envs_dir()) {
            for entry in entries.flatten() {
                if !ids.contains(entry.file_name().to_string_lossy().as_ref()) {
                    if !dry_run {
                        fs_err::remove_dir_all(entry.path())?;
                    }
                    crate::outln!("{verb} {}", entry.path().display());
                    removed += 1;
                }
            }
        }
        self.removed += removed;
        Ok(())
    }

    /// Tool versions no lock uses and `bin/` does not select; returns the digests of the
    /// archives to keep cached.
    fn tools(
        &mut self,
        ctx: &Context,
        locks: &[(Lockfile, String)],
    ) -> Result<BTreeSet<crate::digest::Sha256>, Error> {
        let (verb, dry_run) = (self.verb, self.dry_run);
        let mut removed = 0;
        let bin = ctx.home.bin_dir();
        let linked_from_bin: Vec<PathBuf> = ctx.home.links(&bin).into_values().collect();

        let mut keep_digests: BTreeSet<crate::digest::Sha256> = BTreeSet::new();
        for receipt in ctx.home.installed() {
            let dir = ctx.home.tool_dir(&receipt.name, &receipt.version);
            let users: Vec<&str> = locks
                .iter()
                .filter(|(lock, _)| {
                    lock.tools.iter().any(|t| {
                        t.name.name() == receipt.name
                            && t.version().is_some_and(|v| *v == *receipt.version)
                    })
                })
                .map(|(_, who)| who.as_str())
                .collect();
            let linked = linked_from_bin.iter().any(|l| l.starts_with(&dir));
            let why = match (users.is_empty(), linked) {
                (false, _) => Some(format!("locked by {}", users.join(", "))),
                (true, true) => Some(format!("selected by {}", bin.display())),
                (true, false) => None,
            };
            if let Some(why) = why {
                keep_digests.insert(receipt.sha256.clone());
                crate::outln!("kept {} {}: {why}", receipt.name, receipt.version);
                continue;
            }
            if !dry_run {
                fs_err::remove_dir_all(&dir)?;
            }
            crate::outln!("{verb} {}", dir.display());
            removed += 1;
        }
        // An archive a lock pins stays cached even where its tool was removed by hand, so that
        // `setup --offline` keeps working for every project.
        keep_digests.extend(locks.iter().flat_map(|(lock, _)| {
            lock.tools
                .iter()
                .filter_map(|t| t.archive().map(|a| a.sha256.clone()))
        }));
        // Leftovers of killed runs: staging trees and half-made links (partial downloads below).
        if !dry_run {
            for path in ctx.home.clean_leftovers() {
                crate::outln!("{verb} {}", path.display());
                removed += 1;
            }
        }
        self.removed += removed;
        Ok(keep_digests)
    }

    /// Cached archives no lock pins, and partial downloads and locks no process holds.
    fn cache(
        &mut self,
        ctx: &Context,
        keep_digests: &BTreeSet<crate::digest::Sha256>,
    ) -> Result<(), Error> {
        let (verb, dry_run) = (self.verb, self.dry_run);
        let mut removed = 0;
        if let Ok(entries) = fs_err::read_dir(&ctx.cache_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                // Only files buildkit named: the cache dir may be shared with other things.
                // A partial download or a lock whose lock another process holds is in use.
                let idle = |sha256: &str| {
                    std::fs::File::open(ctx.cache_dir.join(lock_file_name(sha256)))
                        .map_or(true, |f| f.try_lock().is_ok())
                };
                // A lock file is removed while gc holds it: a setup that opened it meanwhile
                // then finds the name gone and takes a new one, never sharing a removed file.
                let mut held = None;
                let unused = match parse_cache_file_name(&name) {
                    Some(CacheFile::Partial { sha256 }) => idle(sha256),
                    Some(CacheFile::Lock { sha256 }) => {
                        !keep_digests.contains(sha256)
                            && std::fs::File::open(entry.path()).is_ok_and(|lock| {
                                let free = lock.try_lock().is_ok();
                                held = Some(lock);
                                free
                            })
                    }
                    Some(CacheFile::Verified { sha256 }) => !keep_digests.contains(sha256),
                    None => false,
                };
                if unused {
                    if !dry_run {
                        fs_err::remove_file(entry.path())?;
                    }
                    drop(held);
                    crate::outln!("{verb} {}", entry.path().display());
                    removed += 1;
                }
            }
        }
        self.removed += removed;
        Ok(())
    }
}
