//! Live frames as `netkit top` reads them: its fast header path, the dissector
//! fallback, DNS name learning and the flow engine must never panic, whatever a
//! capture ring hands over. Input: one byte (link type as in dissect.rs; its high
//! bit turns the interface filter on) + a frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_cmds::top::{classify::classify, engine::Engine, names::Names};
use netkit_dissectors::DissectOptions;

/// The same list as dissect.rs, so both targets share their seeds.
const LINKTYPES: [u16; 11] = [1, 0, 9, 12, 50, 101, 104, 108, 113, 228, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let lt = LINKTYPES[usize::from(pick & 0x7f) % LINKTYPES.len()];
    let wanted = [1u32, 2];
    let interfaces = (pick & 0x80 != 0).then_some(&wanted[..]);
    // The wire length may exceed what was captured (snaplen), never the reverse.
    let orig_len = u32::try_from(frame.len())
        .unwrap_or(u32::MAX)
        .saturating_add(u32::from(pick));
    let mut names = Names::default();
    let opts = DissectOptions::default();
    if let Some(packet) = classify(0, lt, frame, orig_len, interfaces, &opts, Some(&mut names)) {
        let mut engine = Engine::new(vec!["fuzz".into()], 1);
        engine.names.absorb(&mut names);
        engine.record(2, &packet);
        engine.tick(3);
        let _ = engine.snapshot(4, 0);
        let _ = engine.rows(4);
    }
});
