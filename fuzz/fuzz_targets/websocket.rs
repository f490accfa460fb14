//! WebSocket frames, walked as a byte stream frame after frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::app::websocket;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(f) = websocket::parse_frame(rest) {
        let _ = f.to_string();
        let _ = f.violations();
        let _ = f.unmasked_payload();
        assert!(f.header_len + f.payload.len() <= rest.len());
        let Ok(step) = usize::try_from(f.total_len()) else {
            break;
        };
        if step == 0 || step > rest.len() {
            break;
        }
        rest = &rest[step..];
    }
});
