//! Memory-mapping a capture file: the only `unsafe` the reader needs.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::Once;

use memmap2::{Advice, Mmap, UncheckedAdvice};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// What the SIGBUS handler says before the process exits 1: on a read-only file
/// mapping the fault means the file shrank under it, or its storage failed to read.
const SIGBUS_LINE: &[u8] = b"netkit: the capture file could not be read through its memory map \
(SIGBUS: it shrank while it was read, or the storage failed)\n";

extern "C" fn on_sigbus(_: libc::c_int) {
    // SAFETY: write(2) and _exit(2) are async-signal-safe, and SIGBUS_LINE is static.
    unsafe {
        libc::write(2, SIGBUS_LINE.as_ptr().cast(), SIGBUS_LINE.len());
        libc::_exit(1);
    }
}

/// Maps the whole file read-only and tells the kernel we read it front to back.
pub(super) fn map(file: &File) -> io::Result<Mmap> {
    // SAFETY: the mapping is read-only and private to this reader, and it is only ever
    // read through bounds-checked slices. The caveat every mmap reader shares remains:
    // if another process truncates the file while we read it, the access past the new
    // end faults (SIGBUS) and changes made by a writer may show through. Capture files
    // handed to `pcap analyze` are finished files, so we accept that for the speed of
    // not copying every frame; the SIGBUS handler below turns such a fault into one
    // line and exit status 1 instead of a crash with a core dump.
    let map = unsafe { Mmap::map(file)? };
    static GUARD: Once = Once::new();
    GUARD.call_once(|| {
        let action = SigAction::new(
            SigHandler::Handler(on_sigbus),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only makes async-signal-safe calls. It replaces the Rust
        // runtime's, which is there to name stack overflows, and those come as SIGSEGV
        // on Linux (the guard page); without either the signal kills the process.
        let _ = unsafe { sigaction(Signal::SIGBUS, &action) };
    });
    // Read-ahead is only a hint; a kernel that refuses it still reads the file correctly.
    let _ = map.advise(Advice::Sequential);
    Ok(map)
}

/// Lets go of the pages of `map` in `from..to` (offsets that are multiples of the page
/// size): they leave the process's resident set; the file stays in the page cache and
/// a later access maps it again.
pub(super) fn release(map: &Mmap, from: usize, to: usize) {
    // SAFETY: the mapping is private, read-only and never written, so MADV_DONTNEED only
    // drops its page-table entries, and any later access maps the same page of the file
    // again with the same bytes (the caveat of `map` about a file changed under us
    // aside). memmap2's warning is about memory freed under a borrow, which is what
    // happens to anonymous or written private pages, not to clean file pages. Only
    // advice: a refusal leaves the pages resident, which costs memory, not results.
    let _ = unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, from, to - from) };
}
