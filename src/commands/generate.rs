//! `buildkit generate`: write .cargo/config.toml, the devcontainer and the CI files.

use std::process::ExitCode;

use super::{Context, LockState};
use crate::Error;
use crate::render::Ownership;

pub fn run(ctx: &Context, force: bool) -> Result<ExitCode, Error> {
    let project = ctx.require_project()?;
    super::warn_without_cargo_toml(project.root());
    // What killed runs left beside the files generate writes.
    for dir in super::plan::generated_dirs(project.root()) {
        for path in crate::fsutil::remove_leftover_temps(&dir) {
            eprintln!(
                "removed {} (left by an interrupted buildkit)",
                path.display()
            );
        }
    }
    // Plan everything first: a refusal must leave every file, the lock included, untouched.
    let planned = super::plan::plan(&project, force)?;
    let (lock, state) = ctx.resolve_lock(&project)?;
    // Then change every file at once: all of them new, or (on any failure) all as they were.
    let mut set = crate::fsutil::FileSet::default();
    let mut report = Vec::new();
    if matches!(state, LockState::Missing | LockState::Stale) {
        set.write(project.lock_path.clone(), lock.to_toml(), false);
        report.push(format!("wrote {}", project.lock_path.display()));
    }
    for file in planned {
        match (file.needs_writing(), file.ownership) {
            (true, Ownership::Owned) => report.push(format!("wrote {}", file.rel)),
            (true, Ownership::Example) => report.push(format!(
                "wrote {} (an example: yours to edit from now on)",
                file.rel
            )),
            (false, Ownership::Owned) => report.push(format!("{} is up to date", file.rel)),
            (false, Ownership::Example) => {
                report.push(format!("{} is yours: left as it is", file.rel))
            }
            (_, Ownership::Stale) => {
                set.remove(file.path);
                report.push(format!(
                    "removed {} (buildkit generated it; buildkit.toml no longer asks for it)",
                    file.rel
                ));
                continue;
            }
        }
        if file.needs_writing() {
            set.write(file.path, file.wanted, file.executable);
        }
    }
    set.commit().map_err(|(path, source)| Error::File {
        action: "write (nothing was changed)",
        path,
        source,
    })?;
    for line in report {
        eprintln!("{line}");
    }
    for line in super::overridden_workflow_jobs(project.root(), &project.manifest) {
        eprintln!("warning: {line}");
    }
    Ok(ExitCode::SUCCESS)
}
