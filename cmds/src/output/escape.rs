//! Printing text that came off the wire (a CDP device ID, an L2 traceroute name):
//! control characters are shown escaped, so a newline cannot forge a second log line
//! and an ESC cannot drive the terminal.

use std::borrow::Cow;

/// `s` with every control character (C0, DEL, C1) written as `\n`, `\r`, `\t`, `\e`
/// or `\xNN` / `\u{NNNN}`. Backslashes are left alone, so text without control
/// characters (a Windows path in a summary) prints exactly as before; it is returned
/// as is, without copying.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if u32::from(c) < 0x100 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_lines_or_drive_the_terminal() {
        assert!(matches!(escape("sw1.lab"), Cow::Borrowed("sw1.lab")));
        assert_eq!(
            escape("sw1\nnetkit l2trace agent: fake"),
            "sw1\\nnetkit l2trace agent: fake"
        );
        assert_eq!(
            escape("\u{1b}[2J\r\t\0\u{7f}\u{9b}"),
            "\\e[2J\\r\\t\\x00\\x7f\\x9b"
        );
        assert_eq!(escape("C:\\temp\\n"), "C:\\temp\\n");
        assert_eq!(escape("Zürich 🙂"), "Zürich 🙂");
    }
}
