//! The terminal: what the output goes to (width, colour) and the full-screen mode of
//! `top` (raw mode, the alternate screen, key events). Views get a
//! `netkit_cmds::output::Term` from [`detect`] and draw into ratatui frames; only this
//! module talks to the terminal.

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use netkit_cmds::output::Term;
use netkit_cmds::top::view::Key;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, IsTerminal, Stdout};
use std::time::Duration;

/// Tables are not fitted to terminals narrower than this (they would be unreadable
/// either way; better let the terminal wrap).
const MIN_WIDTH: usize = 40;

/// How stdout should be written to: colour only on a terminal with NO_COLOR unset
/// (<https://no-color.org>: any non-empty value disables colour), tables fitted to the
/// terminal's width ($COLUMNS wins, as shells set it on resize).
pub fn detect() -> Term {
    let tty = io::stdout().is_terminal();
    let colour = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let width = if tty {
        let from_env = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
        let from_tty = crossterm::terminal::size()
            .ok()
            .map(|(w, _)| usize::from(w));
        from_env.or(from_tty).filter(|&w: &usize| w >= MIN_WIDTH)
    } else {
        None
    };
    Term { colour, width }
}

/// Whether stdout is a terminal (`top`'s screen needs one).
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Whether stderr is a terminal (progress lines are for people only).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// The terminal could not be set up or drawn on.
#[derive(Debug, thiserror::Error)]
pub enum TermError {
    #[error(
        "cannot set up the terminal: {0} (the screen needs a terminal; --json prints one \
         JSON object per interval without one)"
    )]
    Setup(io::Error),
    #[error("cannot draw: {0}")]
    Draw(io::Error),
    #[error("cannot read the keyboard: {0}")]
    Input(io::Error),
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
}

/// The full screen: raw mode and the alternate screen while it lives. The terminal is
/// restored on every way out: dropping it (quit, an error), and a panic (a hook
/// restores it before the message is printed).
pub struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    pub fn enter() -> Result<Screen, TermError> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        enable_raw_mode().map_err(TermError::Setup)?;
        // From here on, a failure must leave the terminal as it was.
        let screen = execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)
            .and_then(|_| Terminal::new(CrosstermBackend::new(io::stdout())))
            .map(|terminal| Screen { terminal });
        screen.map_err(|e| {
            restore();
            TermError::Setup(e)
        })
    }

    pub fn draw(&mut self, f: impl FnOnce(&mut ratatui::Frame<'_>)) -> Result<(), TermError> {
        self.terminal.draw(f).map(|_| ()).map_err(TermError::Draw)
    }

    /// The next key pressed within `timeout`, if any.
    pub fn next_key(&mut self, timeout: Duration) -> Result<Option<Key>, TermError> {
        if !event::poll(timeout).map_err(TermError::Input)? {
            return Ok(None);
        }
        match event::read().map_err(TermError::Input)? {
            Event::Key(k) if k.kind == KeyEventKind::Press => Ok(Some(key_of(k.code, k.modifiers))),
            _ => Ok(None),
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

fn key_of(code: KeyCode, mods: KeyModifiers) -> Key {
    match code {
        KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => Key::Ctrl(c),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Tab => Key::Tab,
        _ => Key::Other,
    }
}
