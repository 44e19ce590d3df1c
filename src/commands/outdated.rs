//! `buildkit outdated [--json]`: each locked tool against upstream's newest release, for a
//! scheduled CI job. Exit 0 when every pin is current, 1 when one is behind, 2 when upstream
//! could not be asked: a job can tell "upgrade" from "broken".

use std::process::ExitCode;

use super::Context;
use crate::Error;
use crate::github::ReleasesApi;
use crate::lock::ToolSource;
use crate::upstream::Outdated;

/// `buildkit outdated`'s options, as the command line gives them.
#[derive(Debug, clap::Args)]
pub struct OutdatedOptions {
    /// Print one JSON object per tool instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The releases API to ask (GitHub Enterprise, an internal mirror).
    #[arg(long, value_name = "URL", env = crate::env_vars::BUILDKIT_GITHUB_API, hide = true)]
    pub github_api: Option<String>,
}

pub fn run(ctx: &Context, options: OutdatedOptions) -> Result<ExitCode, Error> {
    let OutdatedOptions { json, github_api } = options;
    let project = ctx.require_project()?;
    let (lock, _) = ctx.resolve_lock(&project)?;
    let fetcher = super::lock::fetcher(ctx, None);
    let api = ReleasesApi::new(&fetcher, github_api, ctx.env.github_token.clone());
    let mut rows = Vec::new();
    for tool in &lock.tools {
        let row = match &tool.source {
            ToolSource::RustToolchain => Outdated {
                tool: tool.name.to_string(),
                locked: tool.label(),
                newest: None,
                behind: false,
                note: Some("comes with the Rust toolchain (rust-toolchain.toml pins it)".into()),
            },
            ToolSource::Archive(archive) => {
                let releases = ctx.registry.tool(tool.name);
                let newest = api.newest(tool.name.name(), releases)?;
                Outdated::compare(tool.name.name(), &archive.version, &newest.version)
            }
        };
        rows.push(row);
    }
    if json {
        for row in &rows {
            let line = serde_json::to_string(row).expect("a row serializes");
            crate::output::write(format_args!("{line}\n"));
        }
    } else {
        crate::output::write(format_args!("{}", crate::upstream::outdated_table(&rows)));
    }
    Ok(if rows.iter().any(|r| r.behind) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
