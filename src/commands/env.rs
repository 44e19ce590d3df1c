//! `buildkit env`: the variables an environment needs, in the syntax of the shell that reads them.

use std::process::ExitCode;

use super::Context;
use crate::Error;
use crate::cli::Shell;
use crate::render::Place;

pub fn run(ctx: &Context, shell: Shell) -> Result<ExitCode, Error> {
    let project = ctx.project()?;
    let bin = ctx.home.bin_dir();
    let bin = bin.display();
    let vars = project
        .as_ref()
        .map(|p| crate::render::environment(&p.manifest, Place::Local))
        .unwrap_or_default();
    if project
        .as_ref()
        .and_then(|p| p.manifest.cache.as_ref())
        .is_some_and(|c| c.backend == "gha")
    {
        eprintln!(
            "note: cache.backend = \"gha\" works only inside GitHub Actions (the generated action enables it there); here sccache uses its local cache"
        );
    }
    let quote = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
    match shell {
        Shell::Sh => {
            println!("export PATH={}:\"$PATH\"", quote(&bin.to_string()));
            for (k, v) in &vars {
                println!("export {k}={}", quote(v));
            }
        }
        Shell::Fish => {
            println!("set -gx PATH {} $PATH", quote(&bin.to_string()));
            for (k, v) in &vars {
                println!("set -gx {k} {}", quote(v));
            }
        }
        Shell::Github => {
            // The $GITHUB_ENV format. PATH is not set here: `setup --ci` appends the bin dir to
            // $GITHUB_PATH, which the runner prepends for every later step.
            for (k, v) in &vars {
                println!("{k}={v}");
            }
        }
        Shell::Json => {
            let object = serde_json::json!({
                "path_prepend": [bin.to_string()],
                "vars": vars.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&object).expect("serializes")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
