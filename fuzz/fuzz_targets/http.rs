//! HTTP/1.x heads and the WebSocket helpers that read them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::app::{http, websocket};

fuzz_target!(|data: &[u8]| {
    if let Some(Ok(h)) = http::parse_head(data) {
        let _ = h.to_string();
        let _ = (
            h.upgrade_tokens(),
            h.connection_tokens(),
            h.content_length(),
        );
        let _ = (
            h.is_chunked(),
            h.websocket_upgrade(),
            h.websocket_switch(),
            h.h2c_upgrade(),
        );
        assert!(h.head_len() <= data.len());
        if let (Some(k), Some(a)) = (h.websocket_key(), h.websocket_accept()) {
            let _ = websocket::validate_accept(k, a);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = websocket::accept_for_key(s);
        let _ = websocket::key_is_well_formed(s);
    }
});
