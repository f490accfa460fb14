//! Whole frames of any link type through the dissector, the one-line summary and
//! every application decoder it identifies: the core's no-panic promise.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::{app, dissect, DissectOptions};

/// Link types the dissector decodes; the first input byte picks one.
const LINKTYPES: [u16; 11] = [1, 0, 9, 12, 50, 101, 104, 108, 113, 228, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let mut opts = DissectOptions::default();
    opts.add_decode_as("udp.port=8472:vxlan").unwrap();
    let lt = LINKTYPES[usize::from(pick) % LINKTYPES.len()];
    let f = dissect(lt, frame, &opts);
    let _ = f.summary();
    for i in 0..f.layers.len() {
        let _ = app::summarize(&f.layers, i);
    }
    if let Some(e) = f.error {
        assert!(e.offset <= frame.len(), "error offset past the end: {e}");
    }
});
