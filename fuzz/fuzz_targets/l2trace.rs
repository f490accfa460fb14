//! The UDP 2228 L2-trace codec: decode, and re-encoding keeps every attribute.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::app::l2trace;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = l2trace::parse(data) {
        let _ = m.to_string();
        let back = l2trace::parse(&m.emit()).expect("emitted L2T decodes");
        assert_eq!(back.attrs.len(), m.attrs.len());
    }
});
