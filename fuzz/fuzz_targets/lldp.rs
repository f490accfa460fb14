//! LLDP: decode, and a decoded PDU re-encodes to the same representation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::l2ctl::lldp;

fuzz_target!(|data: &[u8]| {
    if let Ok(l) = lldp::parse(data) {
        let _ = l.to_string();
        if !l.tlvs.is_empty() {
            let r = l.to_repr();
            let bytes = r.emit();
            let again = lldp::parse(&bytes).expect("emitted LLDP decodes");
            assert_eq!(again.to_repr(), r);
        }
    }
});
