//! `buildkit env`: the variables an environment needs, in the syntax of the shell that reads them.

use std::process::ExitCode;

use super::Context;
use crate::Error;
use crate::cli::Shell;

pub fn run(ctx: &Context, shell: Shell) -> Result<ExitCode, Error> {
    let project = ctx.project()?;
    let bin = ctx.home.bin_dir();
    let bin = bin.display();
    let vars = project
        .as_ref()
        .map(|p| crate::render::environment(&p.manifest))
        .unwrap_or_default();
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
            // The $GITHUB_ENV format; the bin dir goes to $GITHUB_PATH (see `setup --ci`).
            let path = std::env::var("PATH").unwrap_or_default();
            println!("PATH={bin}:{path}");
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
