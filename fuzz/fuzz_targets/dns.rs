//! DNS over UDP and TCP (hickory-proto underneath).
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::app::dns;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = dns::parse(data) {
        let _ = m.to_string();
    }
    if let Ok(m) = dns::parse_tcp(data) {
        let _ = m.to_string();
    }
});
