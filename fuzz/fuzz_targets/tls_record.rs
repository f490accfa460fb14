//! TLS records walked as a byte stream, their handshake payloads joined and decoded
//! as the analysis does, alerts read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::app::tls;

fuzz_target!(|data: &[u8]| {
    let _ = tls::looks_like_record(data);
    let mut rest = data;
    let mut handshake = Vec::new();
    while let Ok(r) = tls::parse_record(rest) {
        assert!(r.wire_len() <= rest.len());
        match r.content_type {
            tls::content::HANDSHAKE => handshake.extend_from_slice(r.body),
            tls::content::ALERT => {
                if let Some(a) = tls::Alert::parse(r.body) {
                    let _ = (a.name(), a.level_name(), a.is_fatal());
                }
            }
            _ => {}
        }
        rest = &rest[r.wire_len()..];
    }
    let mut hs = handshake.as_slice();
    while let Ok(h) = tls::parse_handshake(hs) {
        let _ = h.decode();
        hs = &hs[h.wire_len()..];
    }
});
