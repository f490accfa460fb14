//! As pcap_reader, seeded with the pcapng files of the corpus, so the fuzzer starts
//! from section, interface and packet blocks.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_os::capture::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::read_both_ways(data));
