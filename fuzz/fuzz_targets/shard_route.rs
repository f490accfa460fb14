//! `pcap analyze --jobs N` on one capture routes the common frame (Ethernet, IPv4 or
//! IPv6, TCP) to its shard from the bytes, without a dissection: whatever the bytes,
//! that route must never panic and must be the one the dissection gives (else a
//! split run's report would differ from one thread's). Input: one byte (link type as
//! in dissect.rs, the same seeds) + a frame; the shard count comes from the first byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_cmds::pcap::analyze::sharded::quick_route_agrees;

/// The same list as dissect.rs, so the targets share their seeds.
const LINKTYPES: [u16; 11] = [1, 0, 9, 12, 50, 101, 104, 108, 113, 228, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let lt = LINKTYPES[usize::from(pick & 0x7f) % LINKTYPES.len()];
    let shards = 2 + usize::from(pick >> 7) * 5;
    assert!(quick_route_agrees(lt, frame, shards));
});
