//! Driving a TUI in tmux: start a session, type, read the screen.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs tmux; returns its stdout.
pub fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("run tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (bounded) until the pane shows `needle`; returns the last capture.
pub fn wait_pane(session: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pane = tmux(&["capture-pane", "-p", "-t", session]);
        if pane.contains(needle) || Instant::now() > deadline {
            return pane;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tmux session, killed when dropped (also when the test fails).
pub struct TmuxSession(pub String);

impl TmuxSession {
    /// A detached session `name` of `cols` x `rows` running a bare bash whose prompt
    /// is `READY$ `, returned once the prompt shows.
    pub fn start(name: &str, cols: u16, rows: u16) -> TmuxSession {
        let session = TmuxSession(name.to_string());
        let (x, y) = (cols.to_string(), rows.to_string());
        tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &x,
            "-y",
            &y,
            "env",
            "PS1=READY$ ",
            "bash",
            "--norc",
            "--noprofile",
        ]);
        wait_pane(name, "READY$");
        session
    }
}

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}
