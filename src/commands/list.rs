//! `buildkit list`: what is installed, and which versions the `bin/` links select.

use std::process::ExitCode;

use super::Context;
use crate::Error;

pub fn run(ctx: &Context) -> Result<ExitCode, Error> {
    let links = ctx.home.links();
    let installed = ctx.home.installed();
    if installed.is_empty() && links.is_empty() {
        eprintln!("nothing installed in {}", ctx.home.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    for receipt in &installed {
        let dir = ctx.home.tool_dir(&receipt.name, &receipt.version);
        let linked: Vec<&str> = links
            .iter()
            .filter(|(_, target)| target.starts_with(&dir) || normalize(target).starts_with(&dir))
            .map(|(name, _)| name.as_str())
            .collect();
        let active = if linked.is_empty() {
            String::new()
        } else {
            format!("  (bin: {})", linked.join(", "))
        };
        println!(
            "{} {}  sha256:{}  {}{active}",
            receipt.name,
            receipt.version,
            &receipt.sha256[..12],
            receipt.installed_at
        );
    }
    for (name, target) in &links {
        if !target.starts_with(ctx.home.tools_dir())
            && !normalize(target).starts_with(ctx.home.tools_dir())
        {
            println!("{name} -> {}", target.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `bin/../tools/x` -> `tools/x`, lexically.
pub fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
