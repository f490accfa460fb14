//! The one output module every view uses: JSON to stdout, tables in one style fitted to
//! the terminal, colour only for people (a terminal, and `NO_COLOR` unset).
//!
//! Views never look at the terminal themselves: the binary asks the OS once
//! (`netkit_os::term`) and hands every view a [`Term`] saying how wide the screen is
//! and whether to colour, so views are plain functions of their report and a `Term`.

mod escape;
mod table;
mod time;

pub use escape::escape;
pub use table::Table;
pub use time::rfc3339_ns;

use serde::Serialize;
use std::io::{self, Write};

/// What the output goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Term {
    /// Colour for people: stdout is a terminal and NO_COLOR is unset
    /// (<https://no-color.org>: any non-empty value disables colour).
    pub colour: bool,
    /// Width to fit tables to: the terminal's when stdout is one, none when writing to
    /// a pipe or file, where fitting would only lose data.
    pub width: Option<usize>,
}

/// Writes one pretty JSON document and a newline.
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Writes one compact JSON object per line (streaming commands).
pub fn write_json_line<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// The colours the views use, each for one meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Errors: something is broken.
    Red,
    /// Warnings: worth a look.
    Yellow,
    /// Informational notes.
    Cyan,
}

/// `text` in `colour` when the terminal wants colour, unchanged otherwise.
pub fn paint(term: &Term, colour: Colour, text: &str) -> String {
    if !term.colour {
        return text.to_string();
    }
    let code = match colour {
        Colour::Red => "31",
        Colour::Yellow => "33",
        Colour::Cyan => "36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// "1 stream", "2 streams": counts read right in every view.
pub fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_asked() {
        let plain = Term::default();
        assert_eq!(paint(&plain, Colour::Red, "ERROR"), "ERROR");
        let tty = Term {
            colour: true,
            width: Some(80),
        };
        assert_eq!(paint(&tty, Colour::Red, "ERROR"), "\x1b[31mERROR\x1b[0m");
        assert_eq!(plural(1u64, "stream", "streams"), "1 stream");
        assert_eq!(plural(0u64, "stream", "streams"), "0 streams");
    }
}
