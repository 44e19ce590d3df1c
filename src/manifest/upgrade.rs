//! `buildkit lock --upgrade`: moving pins in place, keeping the file's comments and layout.
//! Offline the pins move to the newest release the embedded registry knows; online to the
//! newest upstream release, with the digest upstream published for it.

use super::{EditError, ExplicitSource, Trust};
use crate::registry::Registry;

/// A pin to write: the version, and (for a release the embedded registry does not know, or
/// one downloaded from elsewhere) the archive's own url, sha256, size and trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinMove {
    pub tool: crate::tool::Tool,
    pub version: crate::version::Version,
    pub source: Option<ExplicitSource>,
}

/// The fields `move_pins` owns beside `version`.
const PIN_FIELDS: [&str; 4] = ["url", "sha256", "size", "trust"];

/// Moves every registry-pinned tool version (of `only`, where it names any) to the newest the
/// registry knows, keeping the file's comments and layout. Tools with their own `url` are left
/// alone.
pub fn upgrade_pins(text: &str, registry: &Registry, only: &[String]) -> Result<String, EditError> {
    let mut doc = parse(text)?;
    if let Some(tools) = doc.get_mut("tools").and_then(|t| t.as_table_like_mut()) {
        for (name, table) in tools.iter_mut() {
            let Some(table) = table.as_table_like_mut() else {
                continue;
            };
            if !only.is_empty() && !only.iter().any(|o| o == name.get()) {
                continue;
            }
            let Some(tool) = crate::tool::Tool::parse(name.get()) else {
                continue;
            };
            let has_url = table.contains_key("url");
            let is_rust_lld = tool == crate::tool::Tool::Lld
                && table
                    .get("source")
                    .and_then(|s| s.as_str())
                    .is_none_or(|s| s == "rust");
            if has_url || is_rust_lld {
                continue;
            }
            let newest = registry.tool(tool).newest();
            set_value(table, "version", newest.version.as_str().into());
        }
    }
    Ok(doc.to_string())
}

/// Writes each move into its `[tools.<name>]` table: the version, then the archive's own
/// fields, or none of them where the registry pins that version itself.
pub fn move_pins(text: &str, moves: &[PinMove]) -> Result<String, EditError> {
    let mut doc = parse(text)?;
    for pin in moves {
        let table = doc
            .get_mut("tools")
            .and_then(|t| t.as_table_like_mut())
            .and_then(|tools| tools.get_mut(pin.tool.name()))
            .and_then(|t| t.as_table_like_mut())
            .ok_or(EditError::NoToolTable(pin.tool))?;
        set_value(table, "version", pin.version.as_str().into());
        for field in PIN_FIELDS {
            table.remove(field);
        }
        if let Some(source) = &pin.source {
            set_value(table, "url", source.url.as_str().into());
            set_value(table, "sha256", source.sha256.as_str().into());
            if let Some(size) = source.size {
                let size = i64::try_from(size).map_err(|_| EditError::SizeTooLarge(size))?;
                set_value(table, "size", size.into());
            }
            if source.trust == Trust::FirstDownload {
                set_value(table, "trust", "first-download".into());
            }
        }
    }
    Ok(doc.to_string())
}

/// buildkit.toml as an editable document (comments and layout kept), or the parser's message.
pub(super) fn parse(text: &str) -> Result<toml_edit::DocumentMut, EditError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| EditError::Syntax(e.message().to_string()))
}

/// Sets `key`, keeping the comment and spacing around an existing value (`insert` would drop
/// them with the old key).
pub(super) fn set_value(table: &mut dyn toml_edit::TableLike, key: &str, value: toml_edit::Value) {
    match table.get_mut(key).and_then(|item| item.as_value_mut()) {
        Some(old) => {
            let decor = old.decor().clone();
            *old = value;
            *old.decor_mut() = decor;
        }
        None => {
            table.insert(key, toml_edit::Item::Value(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_write_the_archive_fields_or_drop_them() {
        let text = "[tools.sccache]\nversion = \"0.17.0\" # pinned by ops\n\n[tools.mold]\nversion = \"2.0.0\"\nurl = \"https://x/mold-2.0.0.tar.gz\"\nsha256 = \"00\"\nsize = 3\n";
        let digest: crate::digest::Sha256 = "ab".repeat(32).parse().unwrap();
        let moved = move_pins(
            text,
            &[
                PinMove {
                    tool: crate::tool::Tool::Sccache,
                    version: "0.19.0".parse().unwrap(),
                    source: Some(ExplicitSource {
                        url: "https://x/sccache-0.19.0.tar.gz".into(),
                        format: crate::registry::ArchiveFormat::TarGz,
                        sha256: digest.clone(),
                        size: Some(12),
                        trust: Trust::FirstDownload,
                    }),
                },
                PinMove {
                    tool: crate::tool::Tool::Mold,
                    version: "2.42.0".parse().unwrap(),
                    source: None,
                },
            ],
        )
        .unwrap();
        assert_eq!(
            moved,
            format!(
                "[tools.sccache]\nversion = \"0.19.0\" # pinned by ops\nurl = \"https://x/sccache-0.19.0.tar.gz\"\nsha256 = \"{digest}\"\nsize = 12\ntrust = \"first-download\"\n\n[tools.mold]\nversion = \"2.42.0\"\n"
            )
        );
        assert!(
            move_pins(
                "[tools]\n",
                &[PinMove {
                    tool: crate::tool::Tool::Mold,
                    version: "1".parse().unwrap(),
                    source: None
                }]
            )
            .is_err()
        );
    }
}
