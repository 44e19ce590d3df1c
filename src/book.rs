//! The book under `docs/` against the code: every command, flag and argument clap knows is in
//! the commands chapter, under its command's heading, and every buildkit.toml key the parser
//! knows is in the buildkit.toml chapter, in its table. (The environment chapter is checked
//! against `env_vars` beside the variables.) A flag or key added without its documentation
//! fails here.

use clap::CommandFactory;

use crate::cli::Cli;

const COMMANDS: &str = include_str!("../docs/src/commands.md");
const MANIFEST: &str = include_str!("../docs/src/manifest.md");

/// The text of the chapter's `## heading` section, up to the next `## `.
fn section<'a>(chapter: &'a str, heading: &str) -> Option<&'a str> {
    let start = chapter.find(&format!("\n## {heading}\n"))? + 1;
    let rest = &chapter[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    Some(&rest[..end])
}

/// What the reference must show for an argument: `--long` for an option, `<NAME>` or
/// `[NAME]` for a positional one.
fn spellings(arg: &clap::Arg) -> Vec<String> {
    match arg.get_long() {
        Some(long) => vec![format!("--{long}")],
        None => {
            let name = arg
                .get_value_names()
                .and_then(|names| names.first())
                .map_or_else(
                    || arg.get_id().to_string().to_uppercase(),
                    |n| n.to_string(),
                );
            vec![format!("<{name}>"), format!("[{name}]")]
        }
    }
}

fn documented_arguments(command: &clap::Command) -> Vec<String> {
    command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set() && !arg.is_global_set())
        .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
        .filter_map(|arg| {
            let spellings = spellings(arg);
            (!spellings.iter().any(|s| {
                section(COMMANDS, &format!("buildkit {}", command.get_name())).is_some_and(|text| {
                    text.contains(&format!("`{s}")) || text.contains(&format!(" {s}"))
                })
            }))
            .then(|| format!("{} {}", command.get_name(), spellings[0]))
        })
        .collect()
}

#[test]
fn every_command_and_flag_is_in_the_commands_chapter() {
    let cli = Cli::command();
    let mut missing = Vec::new();
    for arg in cli.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long()
            && !["help", "version"].contains(&long)
            && !COMMANDS.contains(&format!("`--{long}"))
        {
            missing.push(format!("--{long}"));
        }
    }
    for command in cli.get_subcommands() {
        let heading = format!("buildkit {}", command.get_name());
        if section(COMMANDS, &heading).is_none() {
            missing.push(format!("## {heading}"));
            continue;
        }
        missing.extend(documented_arguments(command));
    }
    assert!(
        missing.is_empty(),
        "docs/src/commands.md lacks: {}",
        missing.join(", ")
    );
}

/// The lines of the chapter's toml example that belong to `[table]`: from its header to the
/// next one.
fn table_block(table: &str) -> Option<String> {
    let example = MANIFEST.split("```toml\n").nth(1)?.split("```").next()?;
    let header = format!("[{table}]");
    let mut lines = example.lines().skip_while(|l| !l.starts_with(&header));
    let first = lines.next()?;
    let rest = lines.take_while(|l| !l.starts_with('['));
    Some(
        std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn mentions_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !is_word(before) && !is_word(after)
    })
}

#[test]
fn every_manifest_key_is_in_the_manifest_chapter() {
    let mut missing = Vec::new();
    for (table, key) in crate::manifest::keys::known_keys() {
        let found = if table.is_empty() {
            MANIFEST.contains(&format!("[{key}]")) || MANIFEST.contains(&format!("[{key}."))
        } else {
            table_block(&table).is_some_and(|block| mentions_word(&block, key))
        };
        if !found {
            missing.push(if table.is_empty() {
                format!("[{key}]")
            } else {
                format!("{table}.{key}")
            });
        }
    }
    assert!(
        missing.is_empty(),
        "docs/src/manifest.md lacks: {}",
        missing.join(", ")
    );
}

#[test]
fn the_coverage_checks_see_a_missing_flag_and_key() {
    assert!(section(COMMANDS, "buildkit frobnicate").is_none());
    let tune = section(COMMANDS, "buildkit tune").expect("tune's section");
    assert!(tune.contains("`--apply`") && !tune.contains("`--dry-run`"));
    let block = table_block("linker").expect("the [linker] table");
    assert!(mentions_word(&block, "driver") && !mentions_word(&block, "drive"));
    assert!(table_block("nowhere").is_none());
}
