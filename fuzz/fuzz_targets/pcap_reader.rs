//! Any bytes given to the capture reader: it must never panic, and the in-memory and
//! streaming paths must agree. Seeded with the pcap files of the corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_os::capture::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::read_both_ways(data));
