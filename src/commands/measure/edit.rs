//! The edit-loop edit: one comment line inserted at the top of a source file or removed again
//! before each edit-loop build, so that rustc compiles the file's functions again (a touch
//! would be answered from the incremental cache); the file put back at the end, and a line a
//! killed run left removed by the next.

use std::path::{Path, PathBuf};

use super::MainBinary;

/// Why the edit-loop edit could not begin, be made or be undone. Each names the file; a
/// failure once the file holds the mark says so, and how it goes away.
#[derive(Debug, thiserror::Error)]
pub enum SourceEditError {
    /// The file (or the project's root) cannot be resolved, or is not a file buildkit reads.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{file} is outside the project at {root}: {command} edits the project's own files only"
    )]
    Outside {
        file: PathBuf,
        root: PathBuf,
        command: &'static str,
    },
    #[error(
        "{file} was changed while {command} was editing it: {command} left it as it is now{}",
        if *.marked { format!(" (remove its first line, `{}`)", EDIT_MARK.trim_end()) } else { String::new() }
    )]
    ChangedMeanwhile {
        file: PathBuf,
        command: &'static str,
        marked: bool,
    },
    #[error(
        "cannot edit {file}: {source}{}",
        if *.marked {
            format!("; its first line is still `{}`: the next tune or bench removes it, or remove it yourself", EDIT_MARK.trim_end())
        } else {
            "; it is as it was".to_string()
        }
    )]
    Write {
        file: PathBuf,
        source: std::io::Error,
        marked: bool,
    },
}

/// The line a measured edit inserts at the top of the edited file, and the next edit removes.
pub(super) const EDIT_MARK: &str =
    "// buildkit tune: a measured edit; tune removes this line when it ends\n";

/// The most a source file tune edits may hold.
pub(super) const MAX_SOURCE_BYTES: u64 = 16 * 1024 * 1024;

/// The byte-order mark a source file may start with (the mark goes after it).
pub(super) const BOM: &[u8] = b"\xef\xbb\xbf";

/// `text` split after its byte-order mark, if it starts with one (the mark goes after it).
pub(super) fn split_bom(text: &[u8]) -> (&[u8], &[u8]) {
    match text.strip_prefix(BOM) {
        Some(rest) => (BOM, rest),
        None => (&[], text),
    }
}

/// `text` with [`EDIT_MARK`] inserted at its top.
pub(super) fn marked(text: &[u8]) -> Vec<u8> {
    let (bom, rest) = split_bom(text);
    [bom, EDIT_MARK.as_bytes(), rest].concat()
}

/// `text` without the [`EDIT_MARK`] at its top, if it has one.
pub(super) fn unmarked(text: &[u8]) -> Option<Vec<u8>> {
    let (bom, rest) = split_bom(text);
    rest.strip_prefix(EDIT_MARK.as_bytes())
        .map(|rest| [bom, rest].concat())
}

/// The edit loop's edit: a real change to a source file of the project, so that incremental
/// compilation (cargo's default for the dev profile) recompiles what an edit there costs
/// instead of replaying the last build, as it does after a bare touch.
///
/// Each edit inserts one comment line at the top of the file or removes it again. That moves
/// every line below it, so rustc compiles the file's functions again (their spans are part of
/// what they compile to), as after an edit near the top of the file; the crate's other files
/// come from the incremental cache. Each incremental cache (one per profile variant; linkers
/// share one) gets the state it did not compile last, so every build of every configuration
/// follows a real change. The file is put back when the edit ends; a mark a killed run left
/// behind is removed by the next one; and a file changed by someone else meanwhile is left as
/// it is, with an error.
pub struct SourceEdit {
    /// `tune` or `bench`: who is editing, for the messages.
    command: &'static str,
    /// The file as it was named (the edit writes its real path, `file`).
    named: PathBuf,
    file: PathBuf,
    original: Vec<u8>,
    /// Whether the file now holds the mark.
    marked: bool,
    /// The state each incremental cache compiled last, by a name of the cache.
    compiled: std::collections::HashMap<String, bool>,
}

impl SourceEdit {
    /// The edit of `file`, which must be a regular file inside `root`; with a line to say when
    /// a mark left by a killed run was removed.
    pub fn begin(
        file: &Path,
        root: &Path,
        command: &'static str,
    ) -> Result<(SourceEdit, Option<String>), SourceEditError> {
        let read = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SourceEditError::Read { path, source }
        };
        // The file itself, not a link to it: the edit renames a new file over it.
        let real = std::fs::canonicalize(file).map_err(read(file))?;
        let real_root = std::fs::canonicalize(root).map_err(read(root))?;
        if !real.starts_with(&real_root) {
            return Err(SourceEditError::Outside {
                file: file.to_path_buf(),
                root: root.to_path_buf(),
                command,
            });
        }
        let text = crate::fsutil::read_bounded(&real, MAX_SOURCE_BYTES).map_err(read(file))?;
        let (original, leftover) = match unmarked(&text) {
            Some(original) => (original, true),
            None => (text, false),
        };
        let mut edit = SourceEdit {
            command,
            named: file.to_path_buf(),
            file: real,
            original,
            marked: leftover,
            compiled: Default::default(),
        };
        let mut note = None;
        if leftover {
            edit.write(false)?;
            note = Some(format!(
                "removed the line an interrupted tune or bench left at the top of {}",
                file.display()
            ));
        }
        Ok((edit, note))
    }

    /// The edit `--edit FILE` names (relative to `cwd`), or of the binary's main source file
    /// without it.
    pub fn of_option(
        given: Option<&Path>,
        cwd: &Path,
        main: &MainBinary,
        root: &Path,
        command: &'static str,
    ) -> Result<(SourceEdit, Option<String>), crate::Error> {
        let file = given.map_or_else(|| main.src.clone(), |file| cwd.join(file));
        SourceEdit::begin(&file, root, command).map_err(|problem| {
            crate::Error::from(super::MeasureError::Edit {
                option: given.is_some(),
                problem,
            })
        })
    }

    /// The file edited, as it was named.
    pub fn named(&self) -> &Path {
        &self.named
    }

    /// Changes the file before a build whose incremental cache is `cache`: to the state that
    /// cache did not compile last.
    pub fn change_for(&mut self, cache: &str) -> Result<(), SourceEditError> {
        let want = !self.compiled.get(cache).copied().unwrap_or(self.marked);
        self.write(want)?;
        self.compiled.insert(cache.to_string(), want);
        Ok(())
    }

    /// The file as it was before the first edit.
    pub fn restore(&mut self) -> Result<(), SourceEditError> {
        if self.marked {
            self.write(false)?;
        }
        Ok(())
    }

    /// What the file holds with the mark or without it.
    fn content(&self, with_mark: bool) -> Vec<u8> {
        if with_mark {
            marked(&self.original)
        } else {
            self.original.clone()
        }
    }

    fn write(&mut self, marked_now: bool) -> Result<(), SourceEditError> {
        let expected = self.content(self.marked);
        let current =
            crate::fsutil::read_bounded(&self.file, MAX_SOURCE_BYTES).map_err(|source| {
                SourceEditError::Read {
                    path: self.file.clone(),
                    source,
                }
            })?;
        if current != expected {
            return Err(SourceEditError::ChangedMeanwhile {
                file: self.file.clone(),
                command: self.command,
                marked: self.marked,
            });
        }
        crate::fsutil::write_atomically(&self.file, &self.content(marked_now)).map_err(
            |source| SourceEditError::Write {
                file: self.file.clone(),
                source,
                marked: self.marked,
            },
        )?;
        self.marked = marked_now;
        Ok(())
    }
}

impl Drop for SourceEdit {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}
