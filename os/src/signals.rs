//! Signals `top` acts on: SIGUSR1 dumps the `--write` ring; in `--json` mode SIGINT
//! and SIGTERM end the run cleanly (the interval under way is printed, the ring
//! dumped) instead of killing the process mid-line.
//!
//! No handler runs in signal context: the signals are blocked in the calling thread
//! before any other thread exists (threads inherit the mask), and one thread takes
//! them with sigwait(2) and sets flags the main loop polls.

use nix::sys::signal::{SigSet, Signal};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// What arrived so far.
#[derive(Debug, Default)]
pub struct Flags {
    /// SIGINT or SIGTERM (only when asked for).
    pub stop: AtomicBool,
    /// SIGUSR1s received.
    pub dumps: AtomicU64,
}

impl Flags {
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// How many SIGUSR1s arrived since the last call that returned them.
    pub fn take_dumps(&self, seen: &mut u64) -> u64 {
        let now = self.dumps.load(Ordering::Relaxed);
        let new = now.saturating_sub(*seen);
        *seen = now;
        new
    }
}

/// Blocks SIGUSR1 (and SIGINT and SIGTERM when `stop` is set) in this thread and in
/// every thread started after it, and starts the thread that receives them. Call it
/// before starting any other thread, or a signal may land on one that did not block
/// it and take its default action.
/// The signals could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {what}: {why}")]
pub struct SignalError {
    what: &'static str,
    why: String,
}

pub fn install(stop: bool) -> Result<Arc<Flags>, SignalError> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    if stop {
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
    }
    set.thread_block().map_err(|e| SignalError {
        what: "block signals",
        why: e.to_string(),
    })?;
    let flags = Arc::new(Flags::default());
    let f = flags.clone();
    std::thread::Builder::new()
        .name("top-signals".into())
        .spawn(move || {
            // Started before the captures, with every capability: it needs none.
            let _ = crate::caps::keep_only(&[]);
            loop {
                match set.wait() {
                    Ok(Signal::SIGUSR1) => {
                        f.dumps.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => f.stop.store(true, Ordering::Relaxed),
                    Err(_) => return,
                }
            }
        })
        .map_err(|e| SignalError {
            what: "start the signal thread",
            why: e.to_string(),
        })?;
    Ok(flags)
}
