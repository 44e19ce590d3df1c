//! `.cargo/config.toml`, merged rather than overwritten: buildkit owns only the keys (and the
//! rustflags) it lists in the file's header; every other byte is the user's, comments included.

use std::collections::BTreeSet;
use std::path::Path;

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use super::{
    CARGO_HEADER, OWNED_FLAGS_PREFIX, OWNED_PREFIX, RenderError, TARGET, TOOLCHAIN_HEADER,
    is_generated,
};
use crate::linker::RustLld;
use crate::manifest::{LinkerKind, LldSpec, Manifest};

/// Whether the toolchain's rustc links with its own rust-lld by default (Rust 1.90+ on this
/// target) and so understands `-C linker-features`.
fn rustc_has_self_contained_lld(rust: Option<crate::toolchain::RustVersion>) -> bool {
    rust.is_none_or(|rust| (rust.major, rust.minor) >= (1, 90))
}

/// The keys buildkit owns in .cargo/config.toml, as dotted paths with their values.
pub fn cargo_config_keys(manifest: &Manifest) -> Vec<(Vec<String>, Value)> {
    let target = |key: &str| vec!["target".to_string(), TARGET.to_string(), key.to_string()];
    let modern = rustc_has_self_contained_lld(manifest.rust);
    // rust-lld: since 1.90 rustc already finds it itself (older ones find ld.lld on PATH), so
    // its own copy stays on; LLVM's lld from BUILDKIT_HOME/bin, or mold, turn it off.
    let rust_lld = if !modern {
        RustLld::Unused
    } else if matches!(
        (manifest.linker, &manifest.lld),
        (LinkerKind::Lld, Some(LldSpec::Rust) | None)
    ) {
        RustLld::Keep
    } else {
        RustLld::TurnOff
    };
    // A linker that must be installed is chosen at link time by the generated script (it
    // falls back to rustc's default where the linker is missing); rust-lld needs only flags.
    let script = super::contexts::linker_script(manifest).is_some();
    let rustflags = if script {
        Vec::new()
    } else {
        manifest.linker.linker().rustflags(rust_lld)
    };
    let mut keys = Vec::new();
    if script {
        keys.push((target("linker"), Value::from(super::LINKER_SCRIPT)));
    } else if manifest.linker != LinkerKind::Default
        || manifest.driver != crate::manifest::LinkerDriver::Cc
    {
        keys.push((target("linker"), Value::from(manifest.driver.as_str())));
    }
    if !rustflags.is_empty() {
        keys.push((
            target("rustflags"),
            Value::Array(rustflags.into_iter().collect()),
        ));
    }
    for (name, table) in &manifest.profiles {
        flatten_profile(&mut vec!["profile".into(), name.clone()], table, &mut keys);
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys
}

fn flatten_profile(
    path: &mut Vec<String>,
    table: &toml::Table,
    out: &mut Vec<(Vec<String>, Value)>,
) {
    for (key, value) in table {
        path.push(key.clone());
        match value {
            toml::Value::Table(inner) => flatten_profile(path, inner, out),
            other => {
                let value = other
                    .to_string()
                    .parse::<Value>()
                    .expect("a TOML value re-parses as a TOML value");
                out.push((path.clone(), value));
            }
        }
        path.pop();
    }
}

fn dotted(path: &[String]) -> String {
    path.iter()
        .map(|segment| {
            toml_edit::Key::new(segment.as_str())
                .display_repr()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What buildkit's header in a .cargo/config.toml says it owns.
#[derive(Default)]
struct Owned {
    /// Keys wholly buildkit's.
    keys: BTreeSet<Vec<String>>,
    /// buildkit's own entries in the target's `rustflags`; the others there are the user's.
    flags: Vec<String>,
}

/// buildkit's own entries in a .cargo/config.toml's target rustflags, as its header lists them.
pub fn owned_flags(text: &str) -> Vec<String> {
    split_header(text).0.flags
}

/// Splits buildkit's header off a .cargo/config.toml: (what it owned, the user's text).
fn split_header(text: &str) -> (Owned, &str) {
    if !is_generated(text) {
        return (Owned::default(), text);
    }
    let mut owned = Owned::default();
    let mut rest = text;
    while let Some(line) = rest.lines().next().filter(|l| l.starts_with('#')) {
        rest = rest[line.len()..]
            .strip_prefix('\n')
            .unwrap_or(&rest[line.len()..]);
        if let Some(flags) = line
            .strip_prefix(OWNED_FLAGS_PREFIX)
            .and_then(|l| l.split_once(" = "))
            .and_then(|(_, array)| array.parse::<Value>().ok())
        {
            owned.flags = string_array(&flags).unwrap_or_default();
        }
        if let Some(list) = line.strip_prefix(OWNED_PREFIX) {
            for key in list.split(", ").filter(|k| !k.is_empty()) {
                if let Ok(keys) = toml_edit::Key::parse(key) {
                    owned
                        .keys
                        .insert(keys.iter().map(|k| k.get().to_string()).collect());
                }
            }
            // The blank line buildkit puts after its header.
            rest = rest.strip_prefix('\n').unwrap_or(rest);
            break;
        }
    }
    (owned, rest)
}

fn get_value<'a>(table: &'a dyn TableLike, path: &[String]) -> Option<&'a Item> {
    let (first, rest) = path.split_first()?;
    let item = table.get(first)?;
    if rest.is_empty() {
        return Some(item);
    }
    get_value(item.as_table_like()?, rest)
}

fn remove_value(table: &mut dyn TableLike, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        table.remove(first);
        return;
    }
    let emptied = match table.get_mut(first).and_then(Item::as_table_like_mut) {
        Some(child) => {
            remove_value(child, rest);
            child.is_empty()
        }
        None => false,
    };
    if emptied {
        table.remove(first);
    }
}

fn set_value(
    table: &mut dyn TableLike,
    path: &[String],
    value: &Value,
    walked: &mut Vec<String>,
    file: &Path,
) -> Result<(), RenderError> {
    let (first, rest) = path.split_first().expect("a key path is never empty");
    if rest.is_empty() {
        match table.get_mut(first) {
            // Keep the key where it is (and its comments); replace only the value.
            Some(Item::Value(existing)) => {
                let decor = existing.decor().clone();
                *existing = value.clone();
                *existing.decor_mut() = decor;
            }
            _ => {
                table.insert(first, Item::Value(value.clone()));
            }
        }
        return Ok(());
    }
    walked.push(first.clone());
    if table.get(first).is_none() {
        let mut child = Table::new();
        child.set_implicit(true);
        table.insert(first, Item::Table(child));
    }
    let child = table
        .get_mut(first)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| RenderError::CargoConfigShape {
            path: file.to_path_buf(),
            key: dotted(walked),
            child: rest[0].clone(),
        })?;
    set_value(child, rest, value, walked, file)
}

fn string_array(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn rustflags_path() -> Vec<String> {
    vec!["target".into(), TARGET.into(), "rustflags".into()]
}

/// `flags` without the `-C <value>` pairs that `owned` holds.
fn without_pairs(flags: &[String], owned: &[String]) -> Vec<String> {
    let owned: BTreeSet<&[String]> = owned.chunks(2).collect();
    let mut kept = Vec::new();
    let mut i = 0;
    while i < flags.len() {
        if i + 1 < flags.len() && owned.contains(&flags[i..i + 2]) {
            i += 2;
        } else {
            kept.push(flags[i].clone());
            i += 1;
        }
    }
    kept
}

/// A user's flag that chooses a linker, which buildkit's flags would fight: `-C link-arg=-fuse-ld=…`,
/// `-C linker-features=…`, `-C linker=…`, as a pair or joined (`-Clinker=…`).
fn linker_choosing(flags: &[String]) -> Vec<String> {
    crate::linker::codegen_options(flags, crate::linker::CHOOSES_LINKER)
        .into_iter()
        .map(|range| flags[range].join(" "))
        .collect()
}

/// The user's rustflags without a flag that chooses the linker buildkit sets: a conflict, or
/// with `force` dropped (a flag and its value).
fn without_linker_choice(
    mut user: Vec<String>,
    wanted: &[String],
    file: &Path,
    path: &[String],
    force: bool,
) -> Result<Vec<String>, RenderError> {
    let fighting = linker_choosing(&user);
    if fighting.is_empty() {
        return Ok(user);
    }
    if !force {
        return Err(RenderError::CargoConfigConflict {
            path: file.to_path_buf(),
            key: dotted(path),
            current: fighting.join(" "),
            wanted: wanted.join(" "),
            other_way: "",
        });
    }
    let drop: Vec<String> = fighting
        .iter()
        .flat_map(|f| match f.split_once(' ') {
            Some((c, v)) => vec![c.to_string(), v.to_string()],
            None => vec![f.clone()],
        })
        .collect();
    user = without_pairs(&user, &drop);
    user.retain(|f| !fighting.contains(f));
    Ok(user)
}

/// A user's `build.rustflags`, which the target's rustflags would silently replace: refused,
/// or with `force` moved to the front of `user`; the comment above it, to move with them.
fn move_build_rustflags(
    doc: &mut DocumentMut,
    user: &mut Vec<String>,
    file: &Path,
    force: bool,
) -> Result<Option<String>, RenderError> {
    let build_path = vec!["build".to_string(), "rustflags".to_string()];
    let comment = doc
        .get("build")
        .and_then(Item::as_table_like)
        .and_then(|build| build.key("rustflags"))
        .and_then(|key| key.leaf_decor().prefix())
        .and_then(|prefix| prefix.as_str())
        .filter(|prefix| prefix.contains('#'))
        .map(str::to_string);
    if let Some(item) = get_value(doc.as_table(), &build_path) {
        let flags = item.as_value().and_then(string_array).unwrap_or_default();
        if !flags.is_empty() {
            if !force {
                return Err(RenderError::BuildRustflagsIgnored {
                    path: file.to_path_buf(),
                    flags: item.to_string().trim().to_string(),
                });
            }
            user.splice(0..0, flags);
            remove_value(doc.as_table_mut(), &build_path);
        }
    }
    Ok(comment)
}

/// The target's `rustflags` after the merge: the user's entries kept in place, buildkit's own
/// appended. cargo uses the target's rustflags *instead of* `build.rustflags`, so a user's
/// `build.rustflags` would silently stop applying: refused, or with `force` moved here.
fn merge_rustflags(
    doc: &mut DocumentMut,
    owned: &Owned,
    wanted: &[String],
    file: &Path,
    force: bool,
) -> Result<(), RenderError> {
    let mut moved_comment: Option<String> = None;
    let path = rustflags_path();
    let current = match get_value(doc.as_table(), &path) {
        None => None,
        Some(item) => Some(item.as_value().and_then(string_array).ok_or_else(|| {
            RenderError::CargoConfigShape {
                path: file.to_path_buf(),
                key: dotted(&path[..2]),
                child: "rustflags (an array of strings)".into(),
            }
        })?),
    };
    // An older header owned the whole array.
    let mut user = match current {
        Some(_) if owned.keys.contains(&path) => Vec::new(),
        Some(flags) => without_pairs(&flags, &owned.flags),
        None => Vec::new(),
    };
    // An entry equal to one of buildkit's (a hand-edited header, a copied flag) is buildkit's.
    user = without_pairs(&user, wanted);
    if !wanted.is_empty() {
        user = without_linker_choice(user, wanted, file, &path, force)?;
        moved_comment = move_build_rustflags(doc, &mut user, file, force)?;
    }
    let merged: Vec<String> = user.into_iter().chain(wanted.iter().cloned()).collect();
    if merged.is_empty() {
        remove_value(doc.as_table_mut(), &path);
    } else {
        let value = Value::Array(merged.iter().map(String::as_str).collect());
        set_value(doc.as_table_mut(), &path, &value, &mut Vec::new(), file)?;
        if let Some(comment) = moved_comment
            && let Some(mut key) = doc
                .get_mut("target")
                .and_then(Item::as_table_like_mut)
                .and_then(|t| t.get_mut(TARGET))
                .and_then(Item::as_table_like_mut)
                .and_then(|t| t.key_mut("rustflags"))
        {
            key.leaf_decor_mut().set_prefix(comment);
        }
    }
    Ok(())
}

/// Merges buildkit's keys into an existing .cargo/config.toml (or a new one). Keys buildkit
/// owned before and no longer wants are removed; the user's keys and comments stay byte for
/// byte. A user's key that buildkit would change is a conflict unless `force`. In the target's
/// `rustflags` buildkit owns only its own entries (see [`merge_rustflags`]).
pub fn merge_cargo_config(
    existing: Option<&str>,
    keys: &[(Vec<String>, Value)],
    file: &Path,
    force: bool,
) -> Result<String, RenderError> {
    merge_owned(existing, keys, file, force, CARGO_HEADER)
}

/// The keys buildkit owns in rust-toolchain.toml: the channel, and what `[toolchain]` names
/// (components, targets, profile). The file's other keys and comments are the project's.
pub fn toolchain_keys(manifest: &Manifest) -> Vec<(Vec<String>, Value)> {
    let key = |name: &str| vec!["toolchain".to_string(), name.to_string()];
    let mut keys = Vec::new();
    if let Some(rust) = manifest.rust {
        keys.push((key("channel"), Value::from(rust.to_string())));
    }
    let extras = &manifest.toolchain;
    if let Some(components) = &extras.components {
        keys.push((
            key("components"),
            Value::Array(components.iter().map(String::as_str).collect()),
        ));
    }
    if let Some(targets) = &extras.targets {
        keys.push((
            key("targets"),
            Value::Array(targets.iter().map(String::as_str).collect()),
        ));
    }
    if let Some(profile) = extras.profile {
        keys.push((key("profile"), Value::from(profile.as_str())));
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys
}

/// rust-toolchain.toml with buildkit's keys merged in. A file an older buildkit generated whole
/// (its header names no keys) is buildkit's entirely and starts over.
pub fn merge_rust_toolchain(
    existing: Option<&str>,
    keys: &[(Vec<String>, Value)],
    file: &Path,
    force: bool,
) -> Result<String, RenderError> {
    let existing = existing.filter(|text| !is_generated(text) || text.contains(OWNED_PREFIX));
    merge_owned(existing, keys, file, force, TOOLCHAIN_HEADER)
}

/// A merged file's text without buildkit's header: what is left when buildkit lets go of it.
pub fn without_header(text: &str) -> String {
    split_header(text).1.to_string()
}

/// Merges `keys` into a TOML file under buildkit's `header`, which lists what buildkit owns
/// (so that a key buildkit.toml no longer asks for is removed, and a key of the user's is never
/// overwritten without `force`).
fn merge_owned(
    existing: Option<&str>,
    keys: &[(Vec<String>, Value)],
    file: &Path,
    force: bool,
    header: &str,
) -> Result<String, RenderError> {
    let (owned_before, body) = split_header(existing.unwrap_or(""));
    let mut doc: DocumentMut =
        body.parse()
            .map_err(|e: toml_edit::TomlError| RenderError::CargoConfigInvalid {
                path: file.to_path_buf(),
                message: e.message().trim().to_string(),
            })?;
    let rustflags = rustflags_path();
    let wanted_flags = keys
        .iter()
        .find(|(path, _)| *path == rustflags)
        .and_then(|(_, value)| string_array(value))
        .unwrap_or_default();
    merge_rustflags(&mut doc, &owned_before, &wanted_flags, file, force)?;
    let keys: Vec<&(Vec<String>, Value)> =
        keys.iter().filter(|(path, _)| *path != rustflags).collect();
    let wanted: BTreeSet<&Vec<String>> = keys.iter().map(|(path, _)| path).collect();
    for old in owned_before.keys.iter().filter(|k| **k != rustflags) {
        if !wanted.contains(old) {
            remove_value(doc.as_table_mut(), old);
        }
    }
    for (path, value) in &keys {
        if let Some(current) = get_value(doc.as_table(), path)
            && !owned_before.keys.contains(path)
            && !force
        {
            let current_text = current.to_string();
            if current_text.trim() != value.to_string().trim() {
                return Err(RenderError::CargoConfigConflict {
                    path: file.to_path_buf(),
                    key: dotted(path),
                    current: current_text.trim().to_string(),
                    wanted: value.to_string().trim().to_string(),
                    other_way: if header == TOOLCHAIN_HEADER {
                        ", or set `[toolchain] file = false` in buildkit.toml to keep rust-toolchain.toml yours (CI and the devcontainer stay pinned to toolchain.rust)"
                    } else {
                        ""
                    },
                });
            }
        }
        set_value(doc.as_table_mut(), path, value, &mut Vec::new(), file)?;
    }
    let owned: Vec<String> = keys.iter().map(|(path, _)| dotted(path)).collect();
    let owned_flags = if wanted_flags.is_empty() {
        String::new()
    } else {
        let array: Value = Value::Array(wanted_flags.iter().map(String::as_str).collect());
        format!(
            "{OWNED_FLAGS_PREFIX}{} = {}\n",
            dotted(&rustflags),
            array.to_string().trim()
        )
    };
    let body = doc.to_string();
    let separator = if body.is_empty() || body.starts_with('\n') {
        ""
    } else {
        "\n"
    };
    // An empty list is said in words (read back as no key), never as a line ending in a space.
    let owned = if owned.is_empty() {
        "nothing (buildkit.toml sets no key here)".to_string()
    } else {
        owned.join(", ")
    };
    Ok(format!(
        "{header}{owned_flags}{OWNED_PREFIX}{owned}\n{separator}{body}"
    ))
}
