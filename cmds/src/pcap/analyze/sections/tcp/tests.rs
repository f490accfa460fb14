//! Hand-built segment sequences, one scenario per rule, with the flags tshark 4.0.17
//! prints for the same sequence (each scenario was also written to a pcap and run
//! through tshark while developing; see shared/notes/tcp-websocket-analysis.md §1.8).

use super::*;
use netkit_dissectors::transport::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use std::net::Ipv4Addr;

const T0: i64 = 1_700_000_000_000_000_000;
const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;

/// A client (10.0.0.1:40000) talking to a server (10.0.0.2:80); `at` is in µs.
struct Wire {
    tcp: TcpAnalysis,
    frame: u64,
    /// The segments as Ethernet frames, written to a pcap when NETKIT_TCP_TEST_PCAPS
    /// names a directory, so the scenarios can be replayed through tshark.
    dump: Vec<(i64, Vec<u8>)>,
}

/// Ethernet + IPv4 + TCP bytes for a segment (checksums zero: tshark does not check).
fn wire_bytes(src: (IpAddr, u16), dst: (IpAddr, u16), h: &SegmentHeader) -> Vec<u8> {
    let (IpAddr::V4(sa), IpAddr::V4(da)) = (src.0, dst.0) else {
        return Vec::new();
    };
    let opts: &[u8] = match h.window_scale {
        Some(ws) => &[1, 3, 3, ws],
        None => &[],
    };
    let opts = opts.to_vec();
    let tcp_len = 20 + opts.len() + h.len as usize;
    let mut b = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    b.extend_from_slice(&[0x45, 0]);
    b.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    b.extend_from_slice(&sa.octets());
    b.extend_from_slice(&da.octets());
    b.extend_from_slice(&src.1.to_be_bytes());
    b.extend_from_slice(&dst.1.to_be_bytes());
    b.extend_from_slice(&h.seq.to_be_bytes());
    b.extend_from_slice(&h.ack.to_be_bytes());
    b.push((((20 + opts.len()) / 4) as u8) << 4);
    b.push(h.flags as u8);
    b.extend_from_slice(&h.window.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&opts);
    b.resize(b.len() + h.len as usize, 0);
    b
}

impl Drop for Wire {
    fn drop(&mut self) {
        let Some(dir) = std::env::var_os("NETKIT_TCP_TEST_PCAPS") else {
            return;
        };
        let name = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "_");
        let mut path = std::path::PathBuf::from(dir).join(format!("{name}.pcap"));
        let mut n = 1;
        while path.exists() {
            n += 1;
            path.set_file_name(format!("{name}_{n}.pcap"));
        }
        let mut out: Vec<u8> = Vec::new();
        for v in [0xa1b2_3c4d_u32, 0x0004_0002, 0, 0, 262_144, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (ts, b) in &self.dump {
            let secs = ts.div_euclid(1_000_000_000) as u32;
            let ns = ts.rem_euclid(1_000_000_000) as u32;
            for v in [secs, ns, b.len() as u32, b.len() as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(b);
        }
        let _ = std::fs::write(path, out);
    }
}

fn client() -> (IpAddr, u16) {
    (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000)
}

fn server() -> (IpAddr, u16) {
    (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80)
}

#[derive(Clone, Copy)]
struct S {
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u16,
    win: u16,
    len: u32,
    ws: Option<u8>,
    at_us: i64,
}

fn c(seq: u32, ack: u32, flags: u16, win: u16, len: u32, at_us: i64) -> S {
    S {
        from_client: true,
        seq,
        ack,
        flags,
        win,
        len,
        ws: None,
        at_us,
    }
}

fn s(seq: u32, ack: u32, flags: u16, win: u16, len: u32, at_us: i64) -> S {
    S {
        from_client: false,
        ..c(seq, ack, flags, win, len, at_us)
    }
}

impl S {
    fn ws(mut self, shift: u8) -> S {
        self.ws = Some(shift);
        self
    }
}

impl Wire {
    fn new() -> Wire {
        Wire {
            tcp: TcpAnalysis::new(true),
            frame: 0,
            dump: Vec::new(),
        }
    }

    fn send(&mut self, x: S) -> TcpFrameInfo {
        self.frame += 1;
        let (src, dst) = if x.from_client {
            (client(), server())
        } else {
            (server(), client())
        };
        let header = SegmentHeader {
            seq: x.seq,
            ack: x.ack,
            flags: x.flags,
            window: x.win,
            len: x.len,
            window_scale: x.ws,
            ts_ns: T0 + x.at_us * 1000,
        };
        self.dump
            .push((header.ts_ns, wire_bytes(src, dst, &header)));
        self.tcp.feed_segment(&Segment {
            frame: self.frame,
            frame_len: 54 + x.len,
            src,
            dst,
            header,
            sack: [None; 4],
        })
    }

    /// Sends every segment and returns each frame's flags.
    fn run(&mut self, segs: &[S]) -> Vec<u16> {
        segs.iter().map(|x| self.send(*x).flags).collect()
    }

    /// Three-way handshake at t=0 with a 1 ms RTT; window scale 7 both ways when
    /// `scaled`. Next free µs: 1000.
    fn handshake(&mut self, scaled: bool) {
        // The windows equal the ones used later, so the first ACKs are not updates.
        let mut syn = c(C_ISN, 0, SYN, 502, 0, 0);
        let mut syn_ack = s(S_ISN, C_ISN + 1, SYN | ACK, 509, 0, 500);
        if scaled {
            syn = syn.ws(7);
            syn_ack = syn_ack.ws(7);
        }
        let flags = self.run(&[syn, syn_ack, c(C_ISN + 1, S_ISN + 1, ACK, 502, 0, 1000)]);
        assert_eq!(flags, [0, 0, 0]);
    }
}

const DATA: u16 = ACK | PSH;

#[test]
fn clean_handshake_and_transfer_have_no_flags() {
    let mut w = Wire::new();
    w.handshake(false);
    let flags = w.run(&[
        c(C_ISN + 1, S_ISN + 1, DATA, 502, 100, 2000),
        s(S_ISN + 1, C_ISN + 101, DATA, 509, 1000, 3000),
        c(C_ISN + 101, S_ISN + 1001, ACK, 502, 0, 4000),
    ]);
    assert_eq!(flags, [0, 0, 0]);
    let st = &w.tcp.streams()[0];
    assert_eq!(st.roles_from, RolesFrom::Syn);
    assert_eq!(st.client, client());
    assert_eq!(st.handshake_rtt_ns, Some(1_000_000));
    assert_eq!(st.payload_bytes, [100, 1000]);
    assert_eq!(st.syn_frame, Some(1));
    assert_eq!(st.syn_ack_frame, Some(2));
}

#[test]
fn resent_unacked_data_is_a_retransmission() {
    let mut w = Wire::new();
    w.handshake(false);
    let flags = w.run(&[
        c(C_ISN + 1, S_ISN + 1, DATA, 502, 100, 2000),
        c(C_ISN + 1, S_ISN + 1, DATA, 502, 100, 252_000),
    ]);
    assert_eq!(flags, [0, flag::RETRANSMISSION]);
    let st = &w.tcp.streams()[0];
    assert_eq!(st.retransmission_frames, [5]);
    assert_eq!(
        (st.retransmissions_after(4), st.retransmissions_after(5)),
        (1, 0)
    );
}

#[test]
fn a_capture_duplicate_100us_later_is_a_retransmission_not_out_of_order() {
    // Same segment twice: within the out-of-order time, but it ends exactly at
    // nextseq, which tshark 4.0 never calls out-of-order.
    let mut w = Wire::new();
    w.handshake(false);
    let flags = w.run(&[
        c(C_ISN + 1, S_ISN + 1, DATA, 502, 100, 2000),
        c(C_ISN + 1, S_ISN + 1, DATA, 502, 100, 2100),
    ]);
    assert_eq!(flags, [0, flag::RETRANSMISSION]);
}

#[test]
fn data_resent_after_it_was_acked_is_spurious() {
    let mut w = Wire::new();
    w.handshake(false);
    let flags = w.run(&[
        c(C_ISN + 1, S_ISN + 1, DATA, 502, 100, 2000),
        s(S_ISN + 1, C_ISN + 101, ACK, 509, 0, 3000),
        c(C_ISN + 1, S_ISN + 1, DATA, 502, 100, 300_000),
    ]);
    assert_eq!(flags, [0, 0, flag::SPURIOUS_RETRANSMISSION]);
}

#[test]
fn spurious_is_checked_before_advancing_data() {
    // Mid-stream capture where the peer's ACK precedes the data it acknowledges: the
    // in-order data is "spurious" (probe S6).
    let mut w = Wire::new();
    let flags = w.run(&[
        s(S_ISN, C_ISN + 100, ACK, 509, 0, 0),
        c(C_ISN, S_ISN, DATA, 502, 100, 1000),
    ]);
    assert_eq!(flags, [0, flag::SPURIOUS_RETRANSMISSION]);
}

#[test]
fn two_duplicate_acks_make_a_fast_retransmission() {
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    let flags = w.run(&[
        c(a, S_ISN + 1, DATA, 502, 100, 2000),
        c(a + 100, S_ISN + 1, DATA, 502, 100, 2100),
        c(a + 200, S_ISN + 1, DATA, 502, 100, 2200),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 3000),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 3100),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 3200),
        c(a + 100, S_ISN + 1, DATA, 502, 100, 6000),
    ]);
    assert_eq!(
        flags,
        [
            0,
            0,
            0,
            0,
            flag::DUPLICATE_ACK,
            flag::DUPLICATE_ACK,
            flag::FAST_RETRANSMISSION
        ]
    );
    // The same resend 20 ms or more after the last dup ACK is a plain retransmission.
    let mut w = Wire::new();
    w.handshake(false);
    let late = w.run(&[
        c(a, S_ISN + 1, DATA, 502, 100, 2000),
        c(a + 100, S_ISN + 1, DATA, 502, 100, 2100),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 3000),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 3100),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 3200),
        c(a + 100, S_ISN + 1, DATA, 502, 100, 23_200),
    ]);
    assert_eq!(late[5], flag::RETRANSMISSION);
}

#[test]
fn a_gap_then_its_filler_is_lost_segment_then_out_of_order() {
    // No handshake: threshold 3 ms.
    let mut w = Wire::new();
    let flags = w.run(&[
        c(C_ISN, S_ISN, DATA, 502, 100, 0),
        c(C_ISN + 200, S_ISN, DATA, 502, 100, 1000),
        c(C_ISN + 100, S_ISN, DATA, 502, 100, 2000),
    ]);
    assert_eq!(flags, [0, flag::LOST_PACKET, flag::OUT_OF_ORDER]);
}

#[test]
fn out_of_order_threshold_is_the_handshake_rtt() {
    // iRTT is 1 ms: a gap filler 2 ms after the highest segment is a retransmission.
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    let flags = w.run(&[
        c(a + 100, S_ISN + 1, DATA, 502, 100, 2000),
        c(a, S_ISN + 1, DATA, 502, 100, 4000),
    ]);
    assert_eq!(flags, [flag::LOST_PACKET, flag::RETRANSMISSION]);
    // ... and 0.5 ms after it, out-of-order.
    let mut w = Wire::new();
    w.handshake(false);
    let flags = w.run(&[
        c(a + 100, S_ISN + 1, DATA, 502, 100, 2000),
        c(a, S_ISN + 1, DATA, 502, 100, 2500),
    ]);
    assert_eq!(flags, [flag::LOST_PACKET, flag::OUT_OF_ORDER]);
}

#[test]
fn time_going_backwards_is_never_recent() {
    // tshark's unsigned time delta wraps: no out-of-order, a retransmission.
    let mut w = Wire::new();
    let flags = w.run(&[
        c(C_ISN + 100, S_ISN, DATA, 502, 100, 5000),
        c(C_ISN, S_ISN, DATA, 502, 100, 4000),
    ]);
    assert_eq!(flags, [0, flag::RETRANSMISSION]);
}

#[test]
fn keep_alives_of_zero_and_one_byte_and_their_acks() {
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    let flags = w.run(&[
        c(a - 1, S_ISN + 1, ACK, 502, 0, 10_000_000),
        s(S_ISN + 1, a, ACK, 509, 0, 10_001_000),
        c(a - 1, S_ISN + 1, ACK, 502, 1, 20_000_000),
        s(S_ISN + 1, a, ACK, 509, 0, 20_001_000),
    ]);
    assert_eq!(
        flags,
        [
            flag::KEEP_ALIVE,
            flag::KEEP_ALIVE_ACK,
            flag::KEEP_ALIVE,
            flag::KEEP_ALIVE_ACK
        ]
    );
}

#[test]
fn a_segment_starting_one_byte_early_with_new_data_is_not_a_retransmission() {
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    let flags = w.run(&[
        c(a, S_ISN + 1, DATA, 502, 100, 2000),
        c(a + 99, S_ISN + 1, DATA, 502, 100, 300_000),
        // The contiguous edge did not move, so the peer's ACK is "ACKed unseen" (P7).
        s(S_ISN + 1, a + 199, ACK, 509, 0, 301_000),
    ]);
    assert_eq!(flags, [0, 0, flag::ACK_LOST_PACKET]);
}

#[test]
fn zero_window_probe_probe_ack_and_reopening() {
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    let flags = w.run(&[
        c(a, S_ISN + 1, DATA, 502, 100, 2000),
        s(S_ISN + 1, a + 100, ACK, 0, 0, 3000),
        c(a + 100, S_ISN + 1, DATA, 502, 1, 200_000),
        s(S_ISN + 1, a + 100, ACK, 0, 0, 201_000),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 400_000),
    ]);
    assert_eq!(
        flags,
        [
            0,
            flag::ZERO_WINDOW,
            flag::ZERO_WINDOW_PROBE,
            flag::ZERO_WINDOW_PROBE_ACK | flag::ZERO_WINDOW,
            flag::WINDOW_UPDATE
        ]
    );
}

#[test]
fn a_pure_ack_with_a_new_window_is_a_window_update_not_a_dup_ack() {
    let mut w = Wire::new();
    w.handshake(false);
    let flags = w.run(&[
        s(S_ISN + 1, C_ISN + 1, ACK, 600, 0, 2000),
        s(S_ISN + 1, C_ISN + 1, ACK, 600, 0, 3000),
    ]);
    assert_eq!(flags, [flag::WINDOW_UPDATE, flag::DUPLICATE_ACK]);
}

#[test]
fn window_full_needs_known_scaling() {
    // Server window 510 << 7 = 65280 bytes from ack C_ISN+1.
    let a = C_ISN + 1;
    let fill = [
        s(S_ISN + 1, a, ACK, 510, 0, 2000),
        c(a, S_ISN + 1, DATA, 502, 65280, 3000),
    ];
    let mut w = Wire::new();
    w.handshake(true);
    assert_eq!(w.run(&fill), [flag::WINDOW_UPDATE, flag::WINDOW_FULL]);
    // Same bytes without the handshake: scaling unknown, never "window full".
    let mut w = Wire::new();
    let flags = w.run(&[
        c(a, S_ISN + 1, ACK, 502, 0, 0),
        s(S_ISN + 1, a, ACK, 510, 0, 2000),
        c(a, S_ISN + 1, DATA, 502, 65280, 3000),
    ]);
    assert_eq!(flags[2], 0);
}

#[test]
fn acked_unseen_is_flagged_once_per_gap() {
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    let flags = w.run(&[
        // ACK for 500 bytes the client never sent (in this capture), then for more.
        s(S_ISN + 1, a + 500, ACK, 509, 0, 2000),
        s(S_ISN + 1, a + 600, ACK, 509, 0, 2100),
        // The client's next segment starts beyond what it sent before.
        c(a + 600, S_ISN + 1, DATA, 502, 10, 2200),
        c(a + 600, S_ISN + 1, DATA, 502, 10, 4300),
    ]);
    assert_eq!(
        flags,
        [
            flag::ACK_LOST_PACKET,
            0,
            flag::LOST_PACKET,
            flag::RETRANSMISSION
        ]
    );
}

#[test]
fn the_parked_dup_ack_counter_passes_the_fast_retransmission_test() {
    // After "ACKed unseen", tshark parks the peer's dup-ACK counter at (guint32)-1,
    // which satisfies "dupacknum >= 2": the acker's own resend within 20 ms of the
    // peer's last packet is a fast retransmission with no dup ACK in sight.
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    let flags = w.run(&[
        s(S_ISN + 1, a, DATA, 509, 100, 2000),
        c(a, S_ISN + 1, DATA, 502, 10, 2500),
        s(S_ISN + 101, a + 500, ACK, 509, 0, 3000),
        s(S_ISN + 1, a + 500, DATA, 509, 100, 4000),
    ]);
    assert_eq!(
        flags,
        [0, 0, flag::ACK_LOST_PACKET, flag::FAST_RETRANSMISSION]
    );
}

#[test]
fn new_isn_on_the_same_ports_starts_a_new_stream() {
    let mut w = Wire::new();
    w.handshake(false);
    w.run(&[
        c(C_ISN + 1, S_ISN + 1, FIN | ACK, 502, 0, 2000),
        s(S_ISN + 1, C_ISN + 2, FIN | ACK, 509, 0, 3000),
        c(C_ISN + 2, S_ISN + 2, ACK, 502, 0, 4000),
    ]);
    let syn = w.send(c(77_777, 0, SYN, 64240, 0, 5_000_000));
    assert_eq!(syn.flags, flag::REUSED_PORTS);
    assert_eq!(syn.stream, 1);
    let syn_ack = w.send(s(88_888, 77_778, SYN | ACK, 65160, 0, 5_001_000));
    assert_eq!((syn_ack.stream, syn_ack.flags), (1, 0));
    assert_eq!(w.tcp.stream_of_frame(3), Some(0));
    assert_eq!(w.tcp.stream_of_frame(7), Some(1));
    assert!(w.tcp.streams()[1].began_with_port_reuse);
    assert!(w.tcp.streams()[0].closed_cleanly());
}

#[test]
fn a_syn_with_the_same_isn_is_a_retransmission_in_the_same_stream() {
    let mut w = Wire::new();
    let flags = w.run(&[
        c(C_ISN, 0, SYN, 64240, 0, 0),
        c(C_ISN, 0, SYN, 64240, 0, 1_000_000),
        c(C_ISN, 0, SYN, 64240, 0, 3_000_000),
        s(S_ISN, C_ISN + 1, SYN | ACK, 65160, 0, 3_020_000),
        c(C_ISN + 1, S_ISN + 1, ACK, 502, 0, 3_040_000),
    ]);
    assert_eq!(flags, [0, flag::RETRANSMISSION, flag::RETRANSMISSION, 0, 0]);
    let st = &w.tcp.streams()[0];
    assert_eq!(st.syn_retries, 2);
    assert_eq!(w.tcp.streams().len(), 1);
    // iRTT runs from the last SYN (probe S2).
    assert_eq!(st.handshake_rtt_ns, Some(40_000_000));
}

#[test]
fn a_reattempt_syn_rewinds_nextseq_to_the_contiguous_edge() {
    // A RST whose seq is beyond what was sent pushes nextseq; the same-ISN SYN that
    // follows puts it back, so the resent data is a retransmission, not new.
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    let flags = w.run(&[
        c(a, S_ISN + 1, DATA, 502, 100, 2000),
        c(a + 5000, S_ISN + 1, RST, 0, 0, 3000),
        c(C_ISN, 0, SYN, 64240, 0, 1_000_000),
        c(a + 100, S_ISN + 1, DATA, 502, 100, 2_000_000),
    ]);
    assert_eq!(flags[2], flag::RETRANSMISSION);
    // Without the rewind this segment would be below nextseq (a retransmission).
    assert_eq!(flags[3], 0);
}

#[test]
fn a_syn_ack_with_a_new_isn_is_flagged_in_the_same_stream() {
    let mut w = Wire::new();
    w.handshake(false);
    let info = w.send(s(9999, C_ISN + 1, SYN | ACK, 65160, 0, 2000));
    assert_eq!(info.stream, 0);
    assert_eq!(info.flags, flag::REUSED_PORTS | flag::LOST_PACKET);
}

#[test]
fn resets_and_closing_are_summarised_per_stream() {
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    w.run(&[
        c(a, S_ISN + 1, DATA, 502, 100, 2000),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 3000),
        s(S_ISN + 1, a + 100, RST | ACK, 0, 0, 203_000),
    ]);
    let st = &w.tcp.streams()[0];
    assert_eq!(st.retransmissions_after(0), 0);
    assert_eq!(st.resets.len(), 1);
    let rst = &st.resets[0];
    assert_eq!((rst.frame, rst.by), (6, Side::Server));
    assert_eq!(rst.since_peer_ms, Some(201.0));
    assert!(!st.closed_cleanly());
    assert_eq!(st.frames, 6);
    assert_eq!((st.first_frame, st.last_frame), (1, 6));
}

#[test]
fn roles_without_a_syn_come_from_the_syn_ack_or_the_ports() {
    let mut w = Wire::new();
    w.send(s(S_ISN, C_ISN + 1, SYN | ACK, 65160, 0, 0));
    assert_eq!(w.tcp.streams()[0].roles_from, RolesFrom::SynAck);
    assert_eq!(w.tcp.streams()[0].client, client());
    let mut w = Wire::new();
    w.send(s(S_ISN, C_ISN, ACK, 500, 10, 0));
    assert_eq!(w.tcp.streams()[0].roles_from, RolesFrom::Ports);
    assert_eq!(w.tcp.streams()[0].server, server());
}

#[test]
fn report_counts_by_display_filter_and_lists_frames_only_when_asked() {
    let mut w = Wire::new();
    w.handshake(false);
    let a = C_ISN + 1;
    w.run(&[
        c(a, S_ISN + 1, DATA, 502, 100, 2000),
        s(S_ISN + 1, a + 100, ACK, 509, 0, 3000),
        c(a, S_ISN + 1, DATA, 502, 100, 300_000),
    ]);
    let r = w.tcp.report(false);
    assert_eq!(r.streams, 1);
    // Spurious counts under "retransmission" too, as tshark's filter does.
    assert_eq!(r.flags[TcpFlag::Retransmission], 1);
    assert_eq!(r.flags[TcpFlag::SpuriousRetransmission], 1);
    let json = serde_json::to_value(&r).unwrap_or_default();
    assert!(json.get("flagged_frames").is_none());
    assert_eq!(json["flags"].as_object().map(|m| m.len()), Some(15));
    assert_eq!(json["streams_detail"][0]["client"], "10.0.0.1:40000");
    assert_eq!(json["streams_detail"][0]["retransmission"], 1);
    // The per-stream flag counts are flattened: no other field may reuse their names.
    let detail = json["streams_detail"][0].as_object().map(|m| m.len());
    let fields = serde_json::to_string(&r.streams_detail[0]).unwrap_or_default();
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&fields).unwrap_or_default();
    assert_eq!(fields.matches("\"reused_ports\"").count(), 1);
    assert_eq!(detail, Some(parsed.len()));
    let listed = w.tcp.report(true);
    assert_eq!(
        listed
            .flagged_frames
            .as_ref()
            .map(|f| &f[TcpFlag::Retransmission]),
        Some(&vec![6])
    );
}

#[test]
fn ipv6_endpoints_print_in_brackets() {
    let ep = (
        IpAddr::V6(
            "2001:db8::1"
                .parse()
                .unwrap_or(std::net::Ipv6Addr::LOCALHOST),
        ),
        443,
    );
    // StreamDetail's client/server are SocketAddr: their JSON form is the contract's.
    assert_eq!(
        serde_json::to_value(std::net::SocketAddr::from(ep)).unwrap(),
        "[2001:db8::1]:443"
    );
}

#[test]
fn closed_idle_conversations_are_evicted_and_come_back_as_new_streams() {
    let mut w = Wire::new();
    w.handshake(false);
    w.run(&[c(C_ISN + 1, S_ISN + 1, RST, 0, 0, 2000)]);
    w.tcp.evict(T0 + 60 * 1_000_000_000);
    assert_eq!(w.tcp.report(false).evicted_conversations, 1);
    let info = w.send(c(C_ISN + 1, S_ISN + 1, ACK, 502, 0, 61_000_000));
    assert_eq!(info.stream, 1);
}

#[test]
fn frames_are_read_from_dissected_bytes_with_padding_not_taken_for_payload() {
    // encap/zeek__pppoe-over-qinq.pcap frame 19: the IP total length (46) claims 6
    // bytes more than the PPPoE session length (42) carries; tshark's Len=0.
    let bytes = [
        0xbc, 0xd1, 0x77, 0x17, 0x75, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x81, 0x00, 0x0e,
        0x78, 0x81, 0x00, 0x09, 0xaa, 0x88, 0x64, 0x11, 0x00, 0x0f, 0x07, 0x00, 0x2a, 0x00, 0x21,
        0x45, 0x00, 0x00, 0x2e, 0x1c, 0x46, 0x40, 0x00, 0xef, 0x06, 0x69, 0x7e, 0x02, 0x02, 0x02,
        0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0xbb, 0x4f, 0xaa, 0xfc, 0x90, 0xb0, 0x07, 0xd7, 0xa8,
        0x44, 0x99, 0x50, 0x10, 0x08, 0x62, 0x87, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00,
    ];
    let raw = RawFrame {
        number: 19,
        ts_ns: T0,
        orig_len: bytes.len() as u32,
        linktype: 1,
        interface: 0,
        data: &bytes,
    };
    let frame = netkit_dissectors::dissect(1, &bytes, &Default::default());
    let seg = Segment::from_frame(&raw, &frame);
    let seg = seg.map(|s| (s.src, s.header.seq, s.header.ack, s.header.len));
    assert_eq!(
        seg,
        Some((
            (IpAddr::V4(Ipv4Addr::new(2, 2, 2, 2)), 443),
            0xfc90_b007,
            0xd7a8_4499,
            0
        ))
    );
    let mut tcp = TcpAnalysis::new(false);
    let info = tcp.feed(&raw, &frame);
    assert_eq!(info.map(|i| i.stream), Some(0));
    assert_eq!(tcp.stream_of_frame(19), Some(0));
    assert_eq!(tcp.stream_of_frame(18), None);
}

#[test]
fn the_frame_index_answers_for_every_frame_with_gaps_and_alternation() {
    let mut tcp = TcpAnalysis::new(false);
    let other = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 5555);
    let mut feed = |frame: u64, from_other: bool| {
        let src = if from_other { other } else { client() };
        tcp.feed_segment(&Segment {
            frame,
            frame_len: 60,
            src,
            dst: server(),
            header: SegmentHeader {
                seq: 1,
                ack: 1,
                flags: ACK,
                window: 100,
                len: 0,
                window_scale: None,
                ts_ns: T0 + frame as i64,
            },
            sack: [None; 4],
        })
        .stream
    };
    assert_eq!(feed(2, false), 0);
    assert_eq!(feed(3, false), 0);
    assert_eq!(feed(4, true), 1);
    assert_eq!(feed(5, false), 0);
    // Frames 6 and 7 were skipped (a capture filter, or not TCP).
    assert_eq!(feed(8, false), 0);
    let streams: Vec<_> = (0..=9).map(|n| tcp.stream_of_frame(n)).collect();
    assert_eq!(
        streams,
        [
            None,
            None,
            Some(0),
            Some(0),
            Some(1),
            Some(0),
            None,
            None,
            Some(0),
            None
        ]
    );
}

/// An Ethernet + IPv4 fragment (id 7) of a TCP segment from the client to the server.
fn ipv4_fragment(offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0, 0x45, 0];
    b.extend_from_slice(&(20 + data.len() as u16).to_be_bytes());
    b.extend_from_slice(&[0, 7]);
    b.extend_from_slice(&((u16::from(more) << 13) | (offset / 8)).to_be_bytes());
    b.extend_from_slice(&[64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    b.extend_from_slice(data);
    b
}

#[test]
fn a_fragmented_segment_is_analysed_whole_in_the_last_fragments_frame() {
    // A 100-byte segment split after 48 bytes of TCP (20 header + 28 payload).
    let h = SegmentHeader {
        seq: 1000,
        ack: 1,
        flags: ACK,
        window: 1000,
        len: 100,
        window_scale: None,
        ts_ns: T0,
    };
    let segment = wire_bytes(client(), server(), &h);
    let tcp_bytes = &segment[34..];
    let first = ipv4_fragment(0, true, &tcp_bytes[..48]);
    let last = ipv4_fragment(48, false, &tcp_bytes[48..]);
    let mut tcp = TcpAnalysis::new(false);
    let mut feed = |number: u64, bytes: &[u8]| {
        let raw = RawFrame {
            number,
            ts_ns: T0 + number as i64,
            orig_len: bytes.len() as u32,
            linktype: 1,
            interface: 0,
            data: bytes,
        };
        let frame = netkit_dissectors::dissect(1, bytes, &Default::default());
        tcp.feed(&raw, &frame).map(|i| i.stream)
    };
    assert_eq!(feed(1, &first), None);
    assert_eq!(feed(2, &last), Some(0));
    // A last fragment whose first was never seen is ignored.
    assert_eq!(feed(3, &last), None);
    let st = &tcp.streams()[0];
    assert_eq!((st.first_frame, st.payload_bytes), (2, [100, 0]));
    assert_eq!(tcp.stream_of_frame(1), None);
}

/// A SYN from 10.x.y.z:(1024 + n % 60000), one per source, to 192.0.2.1:443, 1 µs apart.
fn scan_syn(n: u32) -> Segment {
    let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n));
    Segment {
        frame: u64::from(n) + 1,
        frame_len: 54,
        src: (src, 1024 + (n % 60000) as u16),
        dst: (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 443),
        header: SegmentHeader {
            seq: n.wrapping_mul(7919),
            ack: 0,
            flags: SYN,
            window: 64240,
            len: 0,
            window_scale: None,
            ts_ns: T0 + i64::from(n) * 1000,
        },
        sack: [None; 4],
    }
}

#[test]
fn a_syn_flood_is_bounded_with_exact_totals() {
    let mut tcp = TcpAnalysis::with_limits(false, 1000, 400);
    let n = 3 * EVICT_CHECK_EVERY as u32;
    for i in 0..n {
        tcp.feed_segment(&scan_syn(i));
        assert!(
            tcp.streams.len() <= 401,
            "{} summaries kept",
            tcp.streams.len()
        );
    }
    // The table is checked every EVICT_CHECK_EVERY frames (the last check just before
    // the last SYN) and cut to 3/4 of the cap; nothing is idle, so the cut is by age.
    assert_eq!(tcp.live.len(), 751);
    let r = tcp.report(false);
    assert_eq!(r.streams, u64::from(n));
    assert_eq!(r.evicted_conversations, u64::from(n) - 751);
    assert_eq!(
        r.streams_summarised + r.streams_detail.len() as u64,
        u64::from(n)
    );
    assert!(r
        .streams_detail
        .windows(2)
        .all(|w| w[0].stream < w[1].stream));
}

#[test]
fn least_recently_seen_conversations_go_first() {
    let mut tcp = TcpAnalysis::with_limits(false, 8, 1000);
    for i in 0..12 {
        tcp.feed_segment(&scan_syn(i));
    }
    // Conversation 0 stays busy: a SYN retransmission at the newest time.
    let mut again = scan_syn(0);
    again.frame = 13;
    again.header.ts_ns = scan_syn(11).header.ts_ns + 1;
    tcp.feed_segment(&again);
    tcp.evict(again.header.ts_ns);
    // 12 live - 6 (3/4 of 8) = 6 evicted: conversations 1..=6, the least recently seen.
    assert_eq!(tcp.evicted, 6);
    let live = |i: u32| {
        let s = scan_syn(i);
        tcp.live.contains_key(&ConvKey::of(s.src, s.dst).0)
    };
    assert!(live(0));
    assert!((1..=6).all(|i| !live(i)));
    assert!((7..12).all(live));
}

#[test]
fn notable_streams_keep_their_detail_when_summaries_are_dropped() {
    let mut tcp = TcpAnalysis::with_limits(false, 100_000, 10);
    // Stream 3 gets a SYN retransmission, stream 7 a reset; the rest are plain SYNs.
    for i in 0..20 {
        tcp.feed_segment(&scan_syn(i));
        if i == 3 {
            let mut retry = scan_syn(3);
            retry.header.ts_ns += 500;
            tcp.feed_segment(&retry);
        }
        if i == 7 {
            let mut rst = scan_syn(7);
            rst.header.flags = RST | ACK;
            rst.header.seq += 1;
            tcp.feed_segment(&rst);
        }
    }
    let kept: Vec<u32> = tcp.streams().iter().map(|s| s.stream).collect();
    assert!(kept.contains(&3) && kept.contains(&7), "{kept:?}");
    assert_eq!(tcp.stream(7).map(|s| s.resets.len()), Some(1));
    let r = tcp.report(false);
    assert_eq!(r.streams, 20);
    assert_eq!(r.streams_summarised + r.streams_detail.len() as u64, 20);
    assert!(r.streams_summarised > 0);
    // Every dropped stream was an unanswered SYN to the one server: tallied whole.
    let tally: Vec<_> = tcp.unanswered_summarised().collect();
    let server = scan_syn(0).dst;
    assert_eq!(tally, vec![(server, r.streams_summarised, 0)]);
    let kept_unanswered = tcp.streams().iter().filter(|s| s.unanswered_syn()).count() as u64;
    // Stream 7 (reset) is the one stream not unanswered.
    assert_eq!(kept_unanswered + r.streams_summarised, 19);
}

#[test]
fn a_resend_run_restarted_in_its_buffers_is_a_new_run() {
    let mut run = report::ResendRun::new(Side::Client, 1000, 5, 1_000);
    for (frame, ts) in [(7, 300_000_000), (9, 900_000_000)] {
        run.resent(frame, ts);
    }
    run.restart(Side::Server, 2000, 12, 2_000_000_000);
    assert_eq!(
        run,
        report::ResendRun::new(Side::Server, 2000, 12, 2_000_000_000)
    );
}
