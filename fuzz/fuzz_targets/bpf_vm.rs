//! Arbitrary classic-BPF programs run on arbitrary packets: validation plus the
//! interpreter must never panic nor loop.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_os::capture::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::run_bpf(data));
