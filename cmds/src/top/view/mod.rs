//! `top`'s views: the screen ([`tui`]). `--json` prints [`super::report::Snapshot`]
//! as it is.

pub mod tui;

/// A key as the screen understands it; the terminal layer translates its events into
/// these, so the screen's logic is tested without a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// A letter with Ctrl held.
    Ctrl(char),
    Enter,
    Esc,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    Tab,
    Other,
}
