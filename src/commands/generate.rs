//! `buildkit generate`: write .cargo/config.toml, the devcontainer and the CI files.

use std::path::Path;
use std::process::ExitCode;

use super::{Context, LockState};
use crate::Error;
use crate::render::Ownership;

pub fn run(ctx: &Context, force: bool) -> Result<ExitCode, Error> {
    let project = ctx.require_project()?;
    // Plan everything first: a refusal must leave every file, the lock included, untouched.
    let planned = super::plan::plan(&project, force)?;
    let (lock, state) = ctx.resolve_lock(&project)?;
    if matches!(state, LockState::Missing | LockState::Stale) {
        let path = project.lock_path.as_path();
        lock.write(path)?;
        eprintln!("wrote {}", path.display());
    }
    for file in planned {
        match (file.needs_writing(), file.ownership) {
            (true, Ownership::Owned) => eprintln!("wrote {}", file.rel),
            (true, Ownership::Example) => {
                eprintln!("wrote {} (an example: yours to edit from now on)", file.rel)
            }
            (false, Ownership::Owned) => eprintln!("{} is up to date", file.rel),
            (false, Ownership::Example) => eprintln!("{} is yours: left as it is", file.rel),
            (_, Ownership::Stale) => {
                fs_err::remove_file(&file.path)?;
                eprintln!(
                    "removed {} (buildkit generated it; buildkit.toml no longer asks for it)",
                    file.rel
                );
                continue;
            }
        }
        if file.needs_writing() {
            write(&file.path, &file.wanted)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    crate::fsutil::write_atomically(path, text.as_bytes()).map_err(|source| Error::File {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}
