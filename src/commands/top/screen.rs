//! `top`'s screen loop: refresh the view every second, draw it, act on keys, show
//! faults and dumps in the status line. The drawing and the keys' meaning are
//! `netkit_cmds::top::view::tui`; the terminal is `netkit_os::term`.

use super::findings::LiveFindings;
use crate::exit::Result;
use netkit_cmds::top::view::tui::{draw, Action, FindingsPane, View};
use netkit_os::clock::monotonic_ns;
use netkit_os::live::{Monitor, WriteTarget};
use netkit_os::signals::Flags;
use netkit_os::term::Screen;
use std::time::{Duration, Instant};

/// How long a dump or fault stays in the status line (a fault that left nothing to
/// watch stays for good).
const STATUS_FOR: Duration = Duration::from_secs(30);

/// Writes the ring and says how it went in the status line.
fn dump(monitor: &Monitor, write: Option<&WriteTarget>, view: &mut View) {
    let text = match write {
        None => "w: start netkit top with --write PATH to keep recent frames".to_string(),
        Some(target) => match monitor.dump(target) {
            Ok(summary) => summary.to_string(),
            Err(e) => e.to_string(),
        },
    };
    view.status = Some((text, Instant::now()));
}

/// Runs the screen until the user quits. Faults the monitor reports (a namespace
/// deleted, an interface gone) show in the status line; the screen keeps running, also
/// when nothing is left to watch, so the numbers can still be read and written.
pub fn run(
    monitor: &Monitor,
    write: Option<&WriteTarget>,
    signals: Option<&Flags>,
    bits: bool,
    findings: Option<&LiveFindings>,
    container: Option<&str>,
) -> Result {
    let engine = monitor.engine.clone();
    let mut screen = Screen::enter()?;
    let mut view = View::default();
    view.attribution = monitor.attribution;
    view.bits = bits;
    // --container starts the screen filtered to it; Esc clears it as any filter.
    if let Some(c) = container {
        view.filter = format!("container:{c}");
    }
    // With --findings the pane is open from the start: that is why it was asked for.
    view.findings = findings.map(|_| FindingsPane {
        shown: true,
        ..FindingsPane::default()
    });
    let mut last = Instant::now() - Duration::from_secs(2);
    let mut notices_seen = 0;
    let mut dumps_seen = 0;
    loop {
        if let Some(n) = monitor.notices.since(&mut notices_seen).pop() {
            view.status = Some((n.message, Instant::now()));
        }
        if signals.is_some_and(|s| s.take_dumps(&mut dumps_seen) > 0) {
            dump(monitor, write, &mut view);
        }
        if monitor.active() == 0 {
            let why = monitor
                .notices
                .last()
                .map_or(String::new(), |n| format!("{}; ", n.message));
            let text = format!("{why}nothing left to watch (q quits)");
            if !view
                .status
                .as_ref()
                .is_some_and(|(s, _)| s.starts_with("wrote "))
            {
                view.status = Some((text, Instant::now()));
            }
        } else if view
            .status
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() > STATUS_FOR)
        {
            view.status = None;
        }
        if last.elapsed() >= Duration::from_secs(1) {
            let mut e = engine.lock().unwrap_or_else(|e| e.into_inner());
            view.refresh(&mut e, monotonic_ns());
            last = Instant::now();
        }
        if let (Some(live), Some(pane)) = (findings, view.findings.as_mut()) {
            live.fill(pane);
        }
        screen.draw(|f| draw(f, &mut view))?;
        if let Some(key) = screen.next_key(Duration::from_millis(250))? {
            match view.key(key) {
                Action::Quit => return Ok(()),
                Action::Dump => {
                    view.status = Some(("writing...".to_string(), Instant::now()));
                    screen.draw(|f| draw(f, &mut view))?;
                    dump(monitor, write, &mut view);
                }
                Action::Continue => {}
            }
            // Show the effect of a key at once (new sort, drill-down).
            let mut e = engine.lock().unwrap_or_else(|e| e.into_inner());
            let was_paused = view.paused;
            view.paused = false;
            view.refresh(&mut e, monotonic_ns());
            view.paused = was_paused;
        }
    }
}
