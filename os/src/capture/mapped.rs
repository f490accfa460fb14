//! Memory-mapping a capture file: the only `unsafe` the reader needs.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::{Advice, Mmap};

/// Maps the whole file read-only and tells the kernel we read it front to back.
pub(super) fn map(file: &File) -> io::Result<Mmap> {
    // SAFETY: the mapping is read-only and private to this reader, and it is only ever
    // read through bounds-checked slices. The caveat every mmap reader shares remains:
    // if another process truncates the file while we read it, the access past the new
    // end faults (SIGBUS) and changes made by a writer may show through. Capture files
    // handed to `pcap analyze` are finished files, so we accept that for the speed of
    // not copying every frame.
    let map = unsafe { Mmap::map(file)? };
    // Read-ahead is only a hint; a kernel that refuses it still reads the file correctly.
    let _ = map.advise(Advice::Sequential);
    Ok(map)
}
