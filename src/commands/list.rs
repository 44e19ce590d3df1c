//! `buildkit list`: what is installed, and which versions the `bin/` links select.

use std::process::ExitCode;

use super::Context;
use crate::Error;

pub fn run(ctx: &Context) -> Result<ExitCode, Error> {
    let links = ctx.home.links(&ctx.home.bin_dir());
    let installed = ctx.home.installed();
    if installed.is_empty() && links.is_empty() {
        eprintln!("nothing installed in {}", ctx.home.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    for receipt in &installed {
        let dir = ctx.home.tool_dir(&receipt.name, &receipt.version);
        let linked: Vec<&str> = links
            .iter()
            .filter(|(_, target)| target.starts_with(&dir))
            .map(|(name, _)| name.as_str())
            .collect();
        let active = if linked.is_empty() {
            String::new()
        } else {
            format!("  (bin: {})", linked.join(", "))
        };
        crate::outln!(
            "{} {}  sha256:{}  {}{active}",
            receipt.name,
            receipt.version,
            &receipt.sha256[..12],
            crate::encode::Inert(&receipt.installed_at)
        );
    }
    for (name, target) in &links {
        if !target.starts_with(ctx.home.tools_dir()) {
            crate::outln!(
                "{} -> {}",
                crate::encode::Inert(name),
                crate::encode::Inert(&target.to_string_lossy())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
