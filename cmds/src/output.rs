//! Output rules every view shares: JSON to stdout, tables sized to the terminal,
//! colour only on a TTY and never when NO_COLOR is set.

use serde::Serialize;
use std::io::{self, IsTerminal, Write};

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

/// Colour is for people: only when stdout is a terminal and NO_COLOR is unset
/// (<https://no-color.org>: any non-empty value disables colour).
pub fn use_colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
}

/// Width to fit tables to: the terminal's when stdout is one ($COLUMNS wins, as shells
/// set it on resize), none when writing to a pipe or file, where cutting cells would only
/// lose data.
pub fn terminal_width() -> Option<usize> {
    if !io::stdout().is_terminal() {
        return None;
    }
    let from_env = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    let from_tty = crossterm::terminal::size()
        .ok()
        .map(|(w, _)| usize::from(w));
    from_env.or(from_tty).filter(|&w: &usize| w >= 40)
}

/// Renders rows as a table with tabled, fitted to the terminal width when there is one.
pub fn table<T: tabled::Tabled>(rows: impl IntoIterator<Item = T>) -> String {
    use tabled::settings::{peaker::Priority, Style, Width};
    let mut t = tabled::Table::new(rows);
    t.with(Style::sharp());
    if let Some(w) = terminal_width() {
        t.with(Width::truncate(w).priority(Priority::max(true)));
    }
    t.to_string()
}

/// Formats nanoseconds since the Unix epoch as RFC 3339 UTC with nanoseconds.
pub fn rfc3339_ns(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_ns(0), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29T12:34:56.789 (a leap day)
        assert_eq!(
            rfc3339_ns(951_827_696_789_000_000),
            "2000-02-29T12:34:56.789000000Z"
        );
        assert_eq!(rfc3339_ns(-1), "1969-12-31T23:59:59.999999999Z");
    }
}
