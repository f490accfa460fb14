//! `pcap show -Y`: the display-filter parser takes whatever a user types, and the
//! evaluator whatever frame a capture holds; neither may panic or recurse without
//! bound. Input: the filter text, a newline, two bytes of TCP analysis flags, then an
//! Ethernet frame the filter is evaluated on.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_cmds::pcap::analyze::sections::tcp::{Side, TcpFrameInfo};
use netkit_cmds::pcap::show::filter::FrameFacts;
use netkit_cmds::pcap::show::DisplayFilter;
use netkit_dissectors::{dissect, DissectOptions};

fuzz_target!(|data: &[u8]| {
    let (text, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(filter) = DisplayFilter::parse(text) else {
        return;
    };
    let (flags, packet) = match rest {
        [a, b, packet @ ..] => (u16::from_be_bytes([*a, *b]), packet),
        _ => (0, rest),
    };
    let frame = dissect(1, packet, &DissectOptions::default());
    let tcp = TcpFrameInfo {
        stream: 0,
        flags,
        from: Side::Client,
        // The segment's own header flags, from the same fuzzed bits.
        header_flags: flags >> 8,
    };
    let facts = FrameFacts {
        number: 1,
        len: packet.len() as u32,
        frame: &frame,
        tcp: frame.innermost_tcp().map(|_| &tcp),
        websocket: flags & 1 != 0,
    };
    let _ = filter.matches(&facts);
});
