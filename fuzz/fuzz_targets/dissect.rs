//! Whole frames of any link type through the dissector, the one-line summary and
//! every application decoder it identifies: the core's no-panic promise.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_dissectors::{app, dissect, DissectOptions, Layer, TcpContext};

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
    // The stream-aware summary with absurd bases and the largest window shift.
    let _ = f.summary_in(Some(&TcpContext {
        seq_base: Some(u32::MAX),
        ack_base: Some(1),
        window_shift: Some(u8::MAX),
        tags: vec!["TCP Retransmission"],
    }));
    for i in 0..f.layers.len() {
        let _ = app::summarize(&f.layers, i);
        // Decoders read on demand by the engines, not by the dissector itself.
        match &f.layers[i] {
            Layer::Pim(p) => {
                let _ = p.join_prune();
            }
            Layer::Icmp(c) => {
                let _ = (c.echo_id_seq(), c.ndp_target());
            }
            _ => {}
        }
    }
    if let Some(e) = f.error {
        assert!(e.offset <= frame.len(), "error offset past the end: {e}");
    }
});
