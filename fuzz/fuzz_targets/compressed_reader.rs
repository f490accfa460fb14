//! Any bytes given to the capture reader with decompression: gzip, zstd and lz4 streams
//! (recognised by their magic) must never make it panic, and the in-memory and
//! streaming paths must agree. Seeded with fixtures compressed by the three tools.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_os::capture::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::read_compressed(data));
