//! HSRP (both ports), VRRP/CARP (both IP versions) and GLBP.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::fhrp::{glbp, hsrp, vrrp};

fuzz_target!(|data: &[u8]| {
    for port in [1985, 2029] {
        if let Ok(h) = hsrp::parse(data, port) {
            let _ = h.to_string();
        }
    }
    for v in [4, 6] {
        if let Ok(p) = vrrp::parse(data, v) {
            let _ = p.to_string();
        }
    }
    if let Ok(g) = glbp::parse(data) {
        let _ = g.to_string();
    }
});
