//! `pcap show`'s human line: number, relative time, length, layer stack, summary.

use super::report::FrameLine;
use std::io::{self, Write};

pub fn write_line(out: &mut dyn Write, l: &FrameLine) -> io::Result<()> {
    let err = l
        .error
        .as_ref()
        .map(|e| format!("  [malformed: {e}]"))
        .unwrap_or_default();
    writeln!(
        out,
        "{:>6} {:>12.6} {:>5} {:<24} {}{}",
        l.frame,
        l.time,
        l.len,
        l.stack,
        crate::output::escape(&l.summary),
        err
    )?;
    // Decrypted records under their frame, indented past the number column.
    for d in &l.decrypted {
        let what = d
            .line
            .as_deref()
            .map(|t| format!(": {}", crate::output::escape(t)))
            .unwrap_or_default();
        writeln!(
            out,
            "{:>6} decrypted TLS, {} bytes from the {}{what}",
            "", d.bytes, d.from
        )?;
    }
    Ok(())
}
