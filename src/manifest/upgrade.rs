//! `buildkit lock --upgrade`: moving registry pins to the newest release, in place, keeping the
//! file's comments and layout.

use crate::registry::Registry;

/// Moves every registry-pinned tool version to the newest the registry knows, keeping the
/// file's comments and layout. Tools with their own `url` are left alone.
pub fn upgrade_pins(text: &str, registry: &Registry) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    if let Some(tools) = doc.get_mut("tools").and_then(|t| t.as_table_like_mut()) {
        for (name, table) in tools.iter_mut() {
            let Some(table) = table.as_table_like_mut() else {
                continue;
            };
            let has_url = table.contains_key("url");
            let is_rust_lld = table
                .get("source")
                .and_then(|s| s.as_str())
                .is_none_or(|s| s == "rust")
                && name.get() == "lld";
            if has_url || is_rust_lld {
                continue;
            }
            if let (Some(releases), Some(version)) =
                (registry.tool(name.get()), table.get_mut("version"))
                && let Some(value) = version.as_value_mut()
            {
                let decor = value.decor().clone();
                *value = toml_edit::Value::from(releases.newest().version.as_str());
                *value.decor_mut() = decor;
            }
        }
    }
    Ok(doc.to_string())
}
