//! HTTP/2 frames and HPACK header blocks (the decoder keeps a dynamic table across
//! blocks, so one input is decoded as a sequence of frames through one decoder).
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::app::h2;

fuzz_target!(|data: &[u8]| {
    let _ = h2::huffman_decode(data);
    let mut hpack = h2::HpackDecoder::new();
    let mut rest = data;
    while let Ok(frame) = h2::parse_frame(rest) {
        let _ = frame.to_string();
        if let Ok(h2::Payload::Headers { block, .. }) = frame.decode() {
            let _ = hpack.decode(block);
        }
        let step = frame.wire_len();
        if step == 0 || step > rest.len() {
            break;
        }
        rest = &rest[step..];
    }
});
