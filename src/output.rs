//! Standard output for the commands. A reader that went away (`buildkit env | head -1`) ends
//! buildkit quietly with success, as `head` expects, instead of the panic `println!` gives.

use std::fmt;
use std::io::{self, Write as _};

/// Writes `args` to stdout; on a closed pipe, exits 0 at once.
pub fn write(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(err) = out.write_fmt(args).and_then(|()| out.flush()) {
        if err.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {err}");
        std::process::exit(1);
    }
}

/// A path as JSON text even where it is not UTF-8 (JSON has no other way to carry it); for
/// `#[serde(serialize_with = "crate::output::lossy_path")]`.
pub fn lossy_path<S: serde::Serializer>(
    path: impl AsRef<std::path::Path>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.as_ref().to_string_lossy())
}

/// `print!` through [`write`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write(format_args!($($arg)*)) };
}

/// `println!` through [`write`].
#[macro_export]
macro_rules! outln {
    () => { $crate::output::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}
