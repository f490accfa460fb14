//! STP/RSTP/MST BPDUs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = netkit_dissectors::l2ctl::stp::parse(data) {
        let _ = s.to_string();
    }
});
