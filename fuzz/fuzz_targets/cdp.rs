//! CDP: decode, and a decoded PDU re-encodes losslessly with a valid checksum.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::l2ctl::cdp;

fuzz_target!(|data: &[u8]| {
    let _ = cdp::checksum(data);
    if let Ok(c) = cdp::parse(data) {
        let _ = c.to_string();
        let _ = c.checksum_ok();
        let r = c.to_repr();
        let bytes = r.emit();
        let again = cdp::parse(&bytes).expect("emitted CDP decodes");
        assert_eq!(again.to_repr(), r);
        assert!(again.checksum_ok());
    }
});
