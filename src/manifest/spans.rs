//! The source text behind a parse: turning byte offsets into `file:line: key:` errors, and the
//! check that runs over every string in the file before any typed parsing (the second wall
//! behind the encoders: no control character, no GitHub expression).

use std::path::Path;

use toml::Spanned;

use super::ManifestError;

/// Builds errors that point into one source text.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }

    pub(super) fn error(
        &self,
        offset: usize,
        key: &str,
        message: impl Into<String>,
    ) -> ManifestError {
        ManifestError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line_of(offset),
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn at<T>(
        &self,
        spanned: &Spanned<T>,
        key: &str,
        message: impl Into<String>,
    ) -> ManifestError {
        self.error(spanned.span().start, key, message)
    }

    /// The key a parse error points at: the text before `=` on its line, or the table header.
    pub(super) fn key_near(&self, offset: usize) -> String {
        let start = self.text[..offset.min(self.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next().unwrap_or("").trim();
        match line.split_once('=') {
            Some((key, _)) if !line.starts_with('[') => key.trim().to_string(),
            _ => line.to_string(),
        }
    }
}

/// The second wall behind the encoders: no string anywhere in buildkit.toml, key or value,
/// holds a control character (a value is one line) or `${{` (GitHub Actions would evaluate it).
pub(super) fn check_strings(src: &Source<'_>) -> Result<(), ManifestError> {
    use toml::de::{DeTable, DeValue};
    pub(super) fn bad(text: &str) -> Option<&'static str> {
        if crate::encode::has_control(text) {
            Some(
                "holds a control or invisible line-break character (a newline, tab, NUL, U+2028, …); values in buildkit.toml are single lines",
            )
        } else if text.contains("${{") {
            Some("holds `${{`, which GitHub Actions would evaluate as an expression")
        } else {
            None
        }
    }
    pub(super) fn table(
        src: &Source<'_>,
        prefix: &str,
        items: &DeTable<'_>,
    ) -> Result<(), ManifestError> {
        for (key, item) in items {
            let dotted = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            if let Some(why) = bad(key.get_ref()) {
                return Err(src.error(key.span().start, &crate::encode::inert(&dotted), why));
            }
            value(src, &dotted, item)?;
        }
        Ok(())
    }
    pub(super) fn value(
        src: &Source<'_>,
        dotted: &str,
        item: &Spanned<DeValue<'_>>,
    ) -> Result<(), ManifestError> {
        match item.get_ref() {
            DeValue::String(text) => match bad(text) {
                Some(why) => Err(src.error(item.span().start, dotted, why)),
                None => Ok(()),
            },
            DeValue::Array(items) => items.iter().try_for_each(|i| value(src, dotted, i)),
            DeValue::Table(items) => table(src, dotted, items),
            _ => Ok(()),
        }
    }
    match DeTable::parse(src.text) {
        Ok(root) => table(src, "", root.get_ref()),
        // Already parsed once: a syntax error was reported there.
        Err(_) => Ok(()),
    }
}
