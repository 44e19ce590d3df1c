//! One encoder for each place a value lands: a shell word (sh and fish), a YAML scalar, text
//! that GitHub Actions evaluates for `${{ }}`, a Dockerfile instruction, the `$GITHUB_ENV` and
//! `$GITHUB_PATH` files, and a line a person reads.
//!
//! buildkit.toml is committed and reviewed, and what `generate` makes of it runs in CI with the
//! team's secrets: a value must never become code. Validation in `manifest` refuses what makes
//! no sense, but it is the second wall; this module is the first. Each function turns any string
//! into something its destination reads back as exactly that string, or refuses it when the
//! destination cannot represent it (a newline in a Dockerfile `ENV` value). Shell commands are
//! [`ShellCode`], which can only be built from code written in buildkit's source and words
//! encoded here, so a value cannot reach a command line unquoted. Pure: strings in, strings out.

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("`{value}` cannot go into {place}: it holds a control character (a newline, NUL, …)")]
    ControlCharacter { place: &'static str, value: String },
    #[error(
        "`{value}` is not an image reference (letters, digits and `._-/:@`, as in rust:1.95.0-bookworm)"
    )]
    ImageReference { value: String },
    #[error("`{value}` is not a variable name (A-Z, 0-9 and `_`)")]
    VariableName { value: String },
}

/// A control character or an invisible line or direction break: what turns one line into two
/// on a terminal, in YAML 1.1 (U+2028), or reorders what a reviewer sees.
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `value` holds a character that has no place in a one-line value.
pub fn has_control(value: &str) -> bool {
    value.chars().any(is_unsafe_char)
}

/// A value shown to a person (an error, `list`): control characters escaped, so that it stays
/// on one line and cannot drive the terminal.
pub struct Inert<'a>(pub &'a str);

impl fmt::Display for Inert<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if is_unsafe_char(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// [`Inert`] as a string.
pub fn inert(value: &str) -> Cow<'_, str> {
    if has_control(value) {
        Cow::Owned(Inert(value).to_string())
    } else {
        Cow::Borrowed(value)
    }
}

/// Characters a shell word may hold without quotes in sh and fish alike.
fn is_bare_shell_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '%' | '+' | ',')
}

/// One POSIX sh word that the shell reads back as exactly `value`: bare when nothing in it is
/// special, otherwise in single quotes (inside which nothing is special but `'` itself).
pub fn sh_word(value: &str) -> String {
    if !value.is_empty() && value.chars().all(is_bare_shell_char) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// One fish word: fish's single quotes treat `\\` and `\'` as escapes (sh's do not).
pub fn fish_word(value: &str) -> String {
    if !value.is_empty() && value.chars().all(is_bare_shell_char) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// Shell code: what a POSIX shell runs. Made only by [`shell!`] (literal code, with each
/// argument encoded as one word unless it is itself `ShellCode`) and the constants of
/// buildkit's source ([`ShellCode::trusted`]), never from a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCode(String);

impl ShellCode {
    /// Code written in buildkit's source (`"$HOME/.buildkit-cli"`): a `&'static str`, so a
    /// value read at run time cannot be passed.
    pub fn trusted(code: &'static str) -> ShellCode {
        ShellCode(code.to_string())
    }

    #[doc(hidden)]
    pub fn from_format(code: String) -> ShellCode {
        ShellCode(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Each item as one word, separated by spaces (`clang`, `rust-src wasm32-…`).
    pub fn words<S: AsRef<str>>(items: &[S]) -> ShellCode {
        ShellCode(
            items
                .iter()
                .map(|item| sh_word(item.as_ref()))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// `self && next`.
    pub fn and(&self, next: &ShellCode) -> ShellCode {
        ShellCode(format!("{} && {}", self.0, next.0))
    }
}

impl fmt::Display for ShellCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`shell!`] does with an argument: a value is quoted as one word, code stays code.
pub trait ShellArg {
    fn shell(&self) -> Cow<'_, str>;
}

impl ShellArg for str {
    fn shell(&self) -> Cow<'_, str> {
        Cow::Owned(sh_word(self))
    }
}

impl ShellArg for String {
    fn shell(&self) -> Cow<'_, str> {
        Cow::Owned(sh_word(self))
    }
}

impl<T: ShellArg + ?Sized> ShellArg for &T {
    fn shell(&self) -> Cow<'_, str> {
        (**self).shell()
    }
}

impl ShellArg for ShellCode {
    fn shell(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

/// `shell!("cargo install --git {} --rev {}", url, rev)`: literal code with positional `{}`
/// holes, each filled with its argument encoded as one sh word ([`sh_word`]), or spliced in
/// when the argument is [`ShellCode`]. Only positional holes: a captured `{name}` would skip
/// the encoding, so the format string must not name variables.
#[macro_export]
macro_rules! shell {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        $crate::encode::ShellCode::from_format(format!(
            $fmt $(, $crate::encode::ShellArg::shell(&$arg))*
        ))
    };
}

/// A YAML scalar that every YAML parser reads back as the string `value`: plain when it is
/// made only of characters that mean nothing to YAML, otherwise double-quoted with every
/// special or invisible character escaped (`\n`, `\u2028`, …).
pub fn yaml_scalar(value: &str) -> String {
    let plain = !value.is_empty()
        && value.chars().all(|c| is_bare_shell_char(c) || c == ' ')
        && value.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '/' || c == '.')
        && !value.ends_with(' ')
        && !value.contains(": ")
        // Words YAML 1.1 reads as booleans or null, and anything that looks like a number.
        && !matches!(
            value.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
        )
        && value.parse::<f64>().is_err()
        && !value.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe_char(c) || (c as u32) > 0x7e => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A YAML literal block scalar (`|-`, at `indent` spaces) when `value` reads back exactly from
/// one: no control or invisible line-break character but `\n`, a first line that does not start
/// with a blank (it would set the indentation), no line break at the end (`-` strips them).
/// Otherwise [`yaml_scalar`].
pub fn yaml_block(value: &str, indent: usize) -> String {
    let fits = !value.is_empty()
        && !value.chars().any(|c| c != '\n' && is_unsafe_char(c))
        && !value.starts_with([' ', '\n'])
        && !value.ends_with('\n');
    if !fits {
        return yaml_scalar(value);
    }
    let pad = " ".repeat(indent);
    let mut out = String::from("|-");
    for line in value.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

/// A TOML basic string.
pub fn toml_string(value: &str) -> String {
    toml_edit::Value::from(value).to_string().trim().to_string()
}

/// A JSON string.
/// A value inside a Docker `--mount` option list (`key=value,key=value`), which has no
/// escaping: a comma would start another option, so it becomes `_` (buildkit.toml's
/// validation refuses one first; this is the second wall). JSON encoding comes after.
pub fn mount_option_value(value: &str) -> String {
    value.replace(',', "_")
}

pub fn json_string(value: &str) -> String {
    serde_json::to_string(value).expect("strings serialize")
}

/// A Dockerfile `FROM` image reference: the characters of an image name, tag and digest only
/// (the builder would expand `$`, and a space or a trailing `\` would change the instruction);
/// anything else is refused.
pub fn docker_image(value: &str) -> Result<String, EncodeError> {
    let ok = !value.is_empty()
        && value.len() <= 512
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(EncodeError::ImageReference {
            value: Inert(value).to_string(),
        })
    }
}

/// Text that GitHub Actions evaluates for expressions (every `run:`, `with:`, `env:` and `name:`
/// in a workflow or action): each `${{` becomes an expression whose value is the two characters
/// `${{`, so a value is shown, never evaluated.
pub fn github_literal(value: &str) -> Cow<'_, str> {
    if value.contains("${{") {
        Cow::Owned(value.replace("${{", "${{ '${{' }}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// A YAML scalar in a GitHub Actions file: [`github_literal`], then [`yaml_scalar`].
pub fn github_yaml(value: &str) -> String {
    yaml_scalar(&github_literal(value))
}

/// A Dockerfile instruction in exec (JSON) form, `RUN ["/bin/sh", "-c", "…"]`: a JSON array
/// is one line whatever it holds, and the builder neither splits nor expands it.
pub fn docker_exec(instruction: &str, args: &[&str]) -> String {
    format!(
        "{instruction} {}",
        serde_json::to_string(args).expect("strings serialize")
    )
}

/// A Dockerfile `RUN` of shell code.
pub fn docker_run(code: &ShellCode) -> String {
    docker_exec("RUN", &["/bin/sh", "-c", code.as_str()])
}

/// A value in a Dockerfile `ENV NAME=value`: double-quoted, with `"`, `\` and `$` escaped so
/// that the builder neither ends the word nor expands a variable (the laptop does not either).
/// A control character has no escape there and is refused.
pub fn docker_env_value(value: &str) -> Result<String, EncodeError> {
    if has_control(value) {
        return Err(EncodeError::ControlCharacter {
            place: "a Dockerfile ENV value",
            value: Inert(value).to_string(),
        });
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// A comment line's text (Dockerfile, YAML): never a second line.
pub fn comment(value: &str) -> String {
    Inert(value).to_string()
}

/// An environment variable's name, as every format here needs it.
pub fn variable_name(name: &str) -> Result<&str, EncodeError> {
    let ok = name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(EncodeError::VariableName {
            value: Inert(name).to_string(),
        })
    }
}

/// One `NAME=value` line of `$GITHUB_ENV`. The runner reads a line per variable, so a line
/// break in a value would set a second one: refused.
pub fn github_env_line(name: &str, value: &str) -> Result<String, EncodeError> {
    let name = variable_name(name)?;
    if value.contains(['\n', '\r']) || has_control(value) {
        return Err(EncodeError::ControlCharacter {
            place: "$GITHUB_ENV",
            value: Inert(value).to_string(),
        });
    }
    Ok(format!("{name}={value}"))
}

/// One line of `$GITHUB_PATH`: a directory, refused with a line break in it.
pub fn github_path_line(dir: &str) -> Result<String, EncodeError> {
    if has_control(dir) {
        return Err(EncodeError::ControlCharacter {
            place: "$GITHUB_PATH",
            value: Inert(dir).to_string(),
        });
    }
    Ok(dir.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(sh_word("https://h/x.git"), "https://h/x.git");
        assert_eq!(sh_word(""), "''");
        assert_eq!(sh_word("a b"), "'a b'");
        assert_eq!(sh_word("it's"), r"'it'\''s'");
        assert_eq!(sh_word("$(touch x)"), "'$(touch x)'");
        assert_eq!(fish_word(r"x\'; touch y; #"), r"'x\\\'; touch y; #'");
    }

    #[test]
    fn the_macro_quotes_values_and_splices_code() {
        let root = ShellCode::from_format("\"$HOME/x\"".into());
        let url = "ssh://h/x$(touch p)";
        let code = shell!("cargo install --git {} --root {}", url, root);
        assert_eq!(
            code.as_str(),
            "cargo install --git 'ssh://h/x$(touch p)' --root \"$HOME/x\""
        );
    }

    #[test]
    fn yaml_scalars() {
        assert_eq!(yaml_scalar("buildkit-cli-1.0"), "buildkit-cli-1.0");
        assert_eq!(yaml_scalar("true"), "\"true\"");
        assert_eq!(yaml_scalar("1.95"), "\"1.95\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("a\nb\u{2028}"), "\"a\\nb\\u2028\"");
        assert_eq!(github_yaml("x${{ y }}"), "\"x${{ '${{' }} y }}\"");
    }

    #[test]
    fn yaml_blocks_fall_back_to_quotes() {
        assert_eq!(yaml_block("a\n  b c", 4), "|-\n    a\n      b c");
        assert_eq!(yaml_block(" a", 4), "\" a\"");
        assert_eq!(yaml_block("a\u{2028}b", 4), "\"a\\u2028b\"");
    }

    #[test]
    fn dockerfile_values() {
        assert!(docker_image("x\\").is_err());
        assert!(docker_image("rust:1.95.0-bookworm").is_ok());
        assert_eq!(
            docker_env_value("$HOME/\"x\"").unwrap(),
            r#""\$HOME/\"x\"""#
        );
        assert!(docker_env_value("a\nb").is_err());
        let run = docker_run(&ShellCode::from_format("echo 'a\nb'".into()));
        assert_eq!(run, r#"RUN ["/bin/sh","-c","echo 'a\nb'"]"#);
    }

    #[test]
    fn github_files_refuse_line_breaks() {
        assert_eq!(github_env_line("A", "b c").unwrap(), "A=b c");
        assert!(github_env_line("A", "b\nC=d").is_err());
        assert!(github_env_line("a=b", "c").is_err());
        assert!(github_path_line("/x\n/y").is_err());
    }

    #[test]
    fn inert_text_stays_on_one_line() {
        assert_eq!(inert("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(inert("plain"), "plain");
    }
}
