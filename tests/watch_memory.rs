//! `netkit watch` runs for days: its heap must follow the connections open now, not
//! every connection since the start. Counted exactly, by a global allocator that keeps
//! the bytes allocated, while 30,000 short connections (ten a second of capture time,
//! a third of them WebSocket upgrades answered 403, the rest plain HTTP) go through
//! the engine as the binary's loop feeds it, polling and settling once a second.
//! Before a settled stream's detail was let go (TCP summaries, the paths section's
//! per-connection state), the heap grew by about 8 MB from the 10,000th to the
//! 30,000th connection; now by about 0.5 MB (the findings already reported, which a
//! bounded set remembers so the end of the run does not repeat them).

// A counting allocator is the one way to weigh the heap exactly; it only forwards to
// the system allocator.
#![allow(unsafe_code)]

use netkit_cmds::pcap::analyze::AnalyzeOptions;
use netkit_cmds::watch::report::Place;
use netkit_cmds::watch::Watch;
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static HEAP: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HEAP.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        HEAP.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const T0: i64 = 1_700_000_000_000_000_000;
const RAW_IPV4: u16 = 228;

/// An IPv4 + TCP packet (no options) between 10.1.0.1:`cport` and 10.1.0.2:80.
fn packet(cport: u16, from_client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (c, s) = ([10u8, 1, 0, 1], [10u8, 1, 0, 2]);
    let (src, dst, sp, dp) = if from_client {
        (c, s, cport, 80u16)
    } else {
        (s, c, 80, cport)
    };
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    p[2..4].copy_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sp.to_be_bytes());
    p.extend_from_slice(&dp.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.extend_from_slice(&[0x50, flags]);
    p.extend_from_slice(&65535u16.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(payload);
    p
}

const UPGRADE: &[u8] = b"GET /socket HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
const PLAIN: &[u8] = b"GET /plain HTTP/1.1\r\nHost: app\r\n\r\n";
const FORBIDDEN: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
// TCP flag bits.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

#[test]
fn heap_follows_open_connections_not_every_connection_seen() {
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    let tap = w.add_tap(Place {
        netns: "lab".into(),
        vrf: None,
        interface: "veth0".into(),
    });
    let mut owner = |_: &Place, _: SocketAddr, _: SocketAddr| None;
    let mut events = Vec::new();
    let mut heap_at_10k = 0;
    let mut upgrades = 0;
    for n in 0u32..30_000 {
        let port = 1024 + (n % 60_000) as u16;
        let (c, s) = (1000 + n.wrapping_mul(7919), 5000u32);
        let request = if n % 3 == 0 { UPGRADE } else { PLAIN };
        let (req_end, ans_end) = (c + 1 + request.len() as u32, s + 1 + FORBIDDEN.len() as u32);
        let frames = [
            packet(port, true, c, 0, SYN, &[]),
            packet(port, false, s, c + 1, SYN | ACK, &[]),
            packet(port, true, c + 1, s + 1, ACK, &[]),
            packet(port, true, c + 1, s + 1, PSH | ACK, request),
            packet(port, false, s + 1, req_end, PSH | ACK, FORBIDDEN),
            packet(port, true, req_end, ans_end, FIN | ACK, &[]),
            packet(port, false, ans_end, req_end + 1, FIN | ACK, &[]),
            packet(port, true, req_end + 1, ans_end + 1, ACK, &[]),
        ];
        let start_ms = i64::from(n) * 100;
        for (i, f) in frames.iter().enumerate() {
            let ts = T0 + (start_ms + i as i64 * 10) * 1_000_000;
            w.feed(tap, ts, f.len() as u32, RAW_IPV4, f);
        }
        if n % 10 == 9 {
            let now = T0 + start_ms * 1_000_000;
            w.poll(now, &mut owner, &mut events);
            w.settle_streams(now, &mut events);
            upgrades += events
                .iter()
                .filter(|e| matches!(e, netkit_cmds::watch::report::Event::Upgrade(_)))
                .count();
            events.clear();
        }
        if n == 9_999 {
            heap_at_10k = HEAP.load(Ordering::Relaxed);
        }
    }
    let heap_at_30k = HEAP.load(Ordering::Relaxed);
    let grown_kb = (heap_at_30k - heap_at_10k) / 1024;
    eprintln!(
        "watch_memory: heap {} KB after 10,000 connections, {} KB after 30,000 (+{grown_kb} KB)",
        heap_at_10k / 1024,
        heap_at_30k / 1024
    );
    assert_eq!(upgrades, 10_000, "every upgrade judged");
    assert!(
        grown_kb < 2048,
        "the heap grew {grown_kb} KB over 20,000 connections that were over"
    );
}
