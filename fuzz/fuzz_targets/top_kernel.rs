//! The decoders of `netkit top`'s BPF map records (`netkit_cmds::top::kernel`): a
//! socket owner, a flow key, flow counters. Whatever the bytes (wrong length, any
//! family, any flags), a record or None, never a panic. The input is split in three
//! at the records' lengths, so one input feeds each decoder.
//! Seeds: records as bpf/top.bpf.c writes them (fuzz/make-seeds.py).
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_cmds::top::kernel::{
    FlowCounts, SockFlow, SockOwner, FLOW_COUNTS_LEN, FLOW_KEY_LEN, OWNER_LEN,
};

fuzz_target!(|data: &[u8]| {
    // Any slice at all (mostly the wrong length)...
    let _ = SockOwner::parse(data);
    let _ = SockFlow::parse(data);
    let _ = FlowCounts::parse(data);
    // ...and the exact lengths, taken in turn.
    let mut rest = data;
    if rest.len() >= OWNER_LEN {
        let _ = SockOwner::parse(&rest[..OWNER_LEN]);
        rest = &rest[OWNER_LEN..];
    }
    if rest.len() >= FLOW_KEY_LEN {
        let _ = SockFlow::parse(&rest[..FLOW_KEY_LEN]);
        rest = &rest[FLOW_KEY_LEN..];
    }
    if rest.len() >= 2 * FLOW_COUNTS_LEN {
        let a = FlowCounts::parse(&rest[..FLOW_COUNTS_LEN]);
        let b = FlowCounts::parse(&rest[FLOW_COUNTS_LEN..2 * FLOW_COUNTS_LEN]);
        if let (Some(a), Some(b)) = (a, b) {
            let _ = a.since(&b);
            let _ = b.since(&a);
        }
    }
});
