//! `buildkit tune --apply`: the measured configuration written into buildkit.toml in place,
//! keeping the file's other keys, comments and layout, with a comment that records what was
//! measured, when and where.
//!
//! tune owns the keys it measures: `[linker] kind`, and in the profile measured (`[profile.dev]`,
//! or `[profile.release]` with `--profile release`) `debug`, `split-debuginfo`,
//! `package."*".debug` and `build-override.opt-level`. A key whose measured best is cargo's
//! default is removed, so the file never keeps a setting that was not measured faster; a key
//! whose lever was not measured (a pinned linker that is not installed, a round over the
//! budget) keeps the project's value.

use toml_edit::{DocumentMut, Item, Table, Value};

use super::EditError;
use crate::tune::{DebugLevel, Lever, Settings};

/// How the record's lines start, so that the next `--apply` replaces them.
const RECORD_PREFIX: &str = "# buildkit tune: ";

/// The text of buildkit.toml with `settings` applied for the `measured` levers, `pins`
/// (`[tools.NAME] version`) added where the tool is not pinned yet, and `record` as a comment
/// above `[linker]`.
pub fn apply_tuned(
    text: &str,
    settings: &Settings,
    measured: &[Lever],
    pins: &[(&str, &str)],
    record: &[String],
) -> Result<String, EditError> {
    let mut doc = super::upgrade::parse(text)?;
    add_pins(&mut doc, pins)?;
    let measured = |lever: Lever| measured.contains(&lever);

    let kind = super::LinkerKind::of(settings.linker)
        .ok_or(EditError::BaselineLinker)?
        .as_str();
    let linker = table(&mut doc, &["linker"])?;
    if measured(Lever::Linker) {
        super::upgrade::set_value(linker, "kind", Value::from(kind));
    }
    record_above(linker, record);

    set_profile(&mut doc, settings, &measured)?;
    remove_emptied_tables(&mut doc, settings.profile.name());
    Ok(doc.to_string())
}

/// The measured levers' keys of the profile measured (`[profile.dev]` or `[profile.release]`):
/// set where the best is not cargo's default for that profile, removed where it is.
fn set_profile(
    doc: &mut DocumentMut,
    settings: &Settings,
    measured: &dyn Fn(Lever) -> bool,
) -> Result<(), EditError> {
    let profile = settings.profile.name();
    let defaults = crate::tune::Settings::defaults(settings.profile);
    let set_or_remove = |doc: &mut DocumentMut, path: &[&str], key: &str, value: Option<Value>| {
        match value {
            Some(value) => {
                let t = table(doc, path)?;
                super::upgrade::set_value(t, key, value);
            }
            None => {
                if let Some(t) = existing(doc, path) {
                    t.remove(key);
                }
            }
        }
        Ok::<(), EditError>(())
    };
    let debug_value = |level: DebugLevel| -> Value {
        match level {
            DebugLevel::None => Value::from(false),
            DebugLevel::LineTablesOnly => Value::from("line-tables-only"),
            DebugLevel::Full => Value::from(true),
        }
    };
    if measured(Lever::DebugInfo) {
        set_or_remove(
            doc,
            &["profile", profile],
            "debug",
            (settings.debug != defaults.debug).then(|| debug_value(settings.debug)),
        )?;
        set_or_remove(
            doc,
            &["profile", profile, "package", "*"],
            "debug",
            settings.dependencies_debug.map(debug_value),
        )?;
    }
    if measured(Lever::SplitDebuginfo) {
        set_or_remove(
            doc,
            &["profile", profile],
            "split-debuginfo",
            settings.split_debuginfo.then(|| Value::from("unpacked")),
        )?;
    }
    if measured(Lever::BuildOverride) {
        set_or_remove(
            doc,
            &["profile", profile, "build-override"],
            "opt-level",
            settings.optimized_build_scripts.then(|| Value::from(3)),
        )?;
    }
    Ok(())
}

/// Tables tune emptied go, innermost first.
fn remove_emptied_tables(doc: &mut DocumentMut, profile: &str) {
    for path in [
        &["profile", profile, "package", "*"][..],
        &["profile", profile, "package"],
        &["profile", profile, "build-override"],
        &["profile", profile],
        &["profile"],
    ] {
        let (last, parent) = path.split_last().expect("a path");
        let empty = existing(doc, path).is_some_and(|t| t.is_empty());
        if empty && let Some(parent) = existing(doc, parent) {
            parent.remove(last);
        }
    }
}

/// `record` as the comment above `[linker]`, replacing the last one.
fn record_above(linker: &mut Table, record: &[String]) {
    let decor = linker.decor_mut();
    // A new table's default decor is a blank line before it.
    let kept: String = decor
        .prefix()
        .map_or(Some("\n"), |p| p.as_str())
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.starts_with(RECORD_PREFIX))
        .map(|line| format!("{line}\n"))
        .collect();
    let recorded: String = record
        .iter()
        .map(|line| format!("{RECORD_PREFIX}{line}\n"))
        .collect();
    decor.set_prefix(format!("{kept}{recorded}"));
}

/// The text of buildkit.toml with `[tools.NAME] version = VERSION` added for each of `pins`
/// not pinned yet (tune installs them from such a copy to measure them).
pub fn pin_tools(text: &str, pins: &[(&str, &str)]) -> Result<String, EditError> {
    let mut doc = super::upgrade::parse(text)?;
    add_pins(&mut doc, pins)?;
    Ok(doc.to_string())
}

fn add_pins(doc: &mut DocumentMut, pins: &[(&str, &str)]) -> Result<(), EditError> {
    for (name, version) in pins {
        let tools = table(doc, &["tools"])?;
        tools.set_implicit(true);
        if !tools.contains_key(name) {
            let mut pin = Table::new();
            pin.insert("version", Item::Value(Value::from(*version)));
            tools.insert(name, Item::Table(pin));
        }
    }
    Ok(())
}

/// The table at `path`, created (as a dotted-parent table) where missing.
fn table<'a>(doc: &'a mut DocumentMut, path: &[&str]) -> Result<&'a mut Table, EditError> {
    let mut current = doc.as_table_mut();
    for (depth, key) in path.iter().enumerate() {
        let item = current.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            // Parents of a nested table are not written as their own headers.
            t.set_implicit(depth + 1 < path.len());
            Item::Table(t)
        });
        current = item
            .as_table_mut()
            .ok_or_else(|| EditError::NotATable(path[..=depth].join(".")))?;
    }
    Ok(current)
}

fn existing<'a>(doc: &'a mut DocumentMut, path: &[&str]) -> Option<&'a mut Table> {
    let mut current = doc.as_table_mut();
    for key in path {
        current = current.get_mut(key)?.as_table_mut()?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linker::Linker;

    #[test]
    fn the_comments_around_a_key_tune_sets_are_kept() {
        let text = "[linker]\n# mold | wild | lld | default\nkind = \"mold\" # the team's\n\n[profile.dev]\n# faster\ndebug = 1\n";
        let settings = Settings {
            debug: DebugLevel::LineTablesOnly,
            ..Settings::default()
        };
        let out = apply_tuned(text, &settings, &Lever::ALL, &[], &[]).unwrap();
        assert_eq!(
            out,
            "[linker]\n# mold | wild | lld | default\nkind = \"default\" # the team's\n\n[profile.dev]\n# faster\ndebug = \"line-tables-only\"\n"
        );
    }

    #[test]
    fn applies_in_place_and_replaces_the_previous_record() {
        let text = "# the team's build\n[toolchain]\nrust = \"1.95.0\" # pinned\n\n[linker]\nkind = \"mold\"\n\n[tools.mold]\nversion = \"1.10.1\"\n\n[profile.dev]\ndebug = 1\nopt-level = 0\n";
        let lean = Settings {
            linker: Linker::Wild,
            debug: DebugLevel::LineTablesOnly,
            dependencies_debug: Some(DebugLevel::None),
            ..Settings::default()
        };
        let once = apply_tuned(
            text,
            &lean,
            &Lever::ALL,
            &[("wild", "0.10.0")],
            &["first".into()],
        )
        .unwrap();
        assert_eq!(
            once,
            "# the team's build\n[toolchain]\nrust = \"1.95.0\" # pinned\n\n# buildkit tune: first\n[linker]\nkind = \"wild\"\n\n[tools.mold]\nversion = \"1.10.1\"\n\n[tools.wild]\nversion = \"0.10.0\"\n\n[profile.dev]\ndebug = \"line-tables-only\"\nopt-level = 0\n\n[profile.dev.package.\"*\"]\ndebug = false\n"
        );
        // Back to the defaults: tune's keys go (the user's opt-level stays), the record is
        // replaced, a pin stays pinned.
        let twice = apply_tuned(
            &once,
            &Settings::default(),
            &Lever::ALL,
            &[],
            &["second".into()],
        )
        .unwrap();
        assert_eq!(
            twice,
            "# the team's build\n[toolchain]\nrust = \"1.95.0\" # pinned\n\n# buildkit tune: second\n[linker]\nkind = \"default\"\n\n[tools.mold]\nversion = \"1.10.1\"\n\n[tools.wild]\nversion = \"0.10.0\"\n\n[profile.dev]\nopt-level = 0\n"
        );
        // Nothing of tune's left: no empty tables.
        let bare = apply_tuned(
            "[toolchain]\nrust = \"1.95.0\"\n",
            &Settings::default(),
            &Lever::ALL,
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(
            bare,
            "[toolchain]\nrust = \"1.95.0\"\n\n[linker]\nkind = \"default\"\n"
        );
    }

    #[test]
    fn a_lever_not_measured_keeps_the_projects_value() {
        // mold pinned but not installed: the linker round measured nothing; debug info was.
        let text = "[linker]\nkind = 'mold' # the team's\n\n[tools.mold]\nversion = \"2.41.0\"\n\n[profile.dev]\ndebug = 1\nsplit-debuginfo = \"packed\"\n";
        let best = Settings {
            debug: DebugLevel::LineTablesOnly,
            ..Settings::default()
        };
        let out = apply_tuned(text, &best, &[Lever::DebugInfo], &[], &["r".into()]).unwrap();
        assert_eq!(
            out,
            "# buildkit tune: r\n[linker]\nkind = 'mold' # the team's\n\n[tools.mold]\nversion = \"2.41.0\"\n\n[profile.dev]\ndebug = \"line-tables-only\"\nsplit-debuginfo = \"packed\"\n"
        );
    }

    #[test]
    fn a_release_tune_writes_the_release_profile_only() {
        // The team's dev settings stay; what was measured in release goes to release.
        let text = "[linker]\nkind = \"default\"\n\n[tools.mold]\nversion = \"2.41.0\"\n\n[profile.dev]\ndebug = 1\n";
        let best = Settings {
            linker: crate::linker::Linker::Mold,
            optimized_build_scripts: true,
            ..Settings::defaults(crate::tune::Profile::Release)
        };
        let measured = [Lever::Linker, Lever::BuildOverride];
        let out = apply_tuned(text, &best, &measured, &[], &["r".into()]).unwrap();
        assert_eq!(
            out,
            "# buildkit tune: r\n[linker]\nkind = \"mold\"\n\n[tools.mold]\nversion = \"2.41.0\"\n\n[profile.dev]\ndebug = 1\n\n[profile.release.build-override]\nopt-level = 3\n"
        );
        // Measured back to cargo's release defaults: the release keys go, dev's stay.
        let back = apply_tuned(
            &out,
            &Settings::defaults(crate::tune::Profile::Release),
            &measured,
            &[],
            &["r".into()],
        )
        .unwrap();
        assert_eq!(
            back,
            "# buildkit tune: r\n[linker]\nkind = \"default\"\n\n[tools.mold]\nversion = \"2.41.0\"\n\n[profile.dev]\ndebug = 1\n"
        );
    }
}
