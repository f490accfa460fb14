//! conn_state and history on hand-built TCP exchanges, one per state Zeek documents
//! (base/protocols/conn/main.zeek), and the repeat rules of the history letters.

use super::*;
use netkit_dissectors::transport::tcp_flags::{ACK, FIN, PSH, RST, SYN};

const O: usize = 0;
const R: usize = 1;

/// (side, TCP flags, sequence number, payload length)
type Pkt = (usize, u16, u32, u32);

fn run(pkts: &[Pkt]) -> Conn {
    run_with(pkts, false)
}

/// `flipped`: the first packet came from the responder (Zeek's `^`).
fn run_with(pkts: &[Pkt], flipped: bool) -> Conn {
    let a = ("10.0.0.1".parse().unwrap(), 40000);
    let b = ("10.0.0.2".parse().unwrap(), 80);
    let mut c = Conn::new(6, a, b, Some(0), 0);
    if flipped {
        c.history.push('^');
    }
    for &(side, flags, seq, len) in pkts {
        c.dirs[side].pkts += 1;
        c.tcp_segment(side, flags, seq, len, 1000, 0);
    }
    c
}

fn check(pkts: &[Pkt], state: &str, history: &str) {
    let c = run(pkts);
    assert_eq!(
        (c.conn_state(), c.history.as_str()),
        (state, history),
        "{pkts:?}"
    );
}

// Originator ISN 100, responder ISN 500.
const SYN_: Pkt = (O, SYN, 100, 0);
const SYNACK: Pkt = (R, SYN | ACK, 500, 0);
const ACK3: Pkt = (O, ACK, 101, 0);

#[test]
fn s0_attempt_without_reply() {
    check(&[SYN_], "S0", "S");
    // A retried SYN with the same ISN is one letter.
    check(&[SYN_, SYN_], "S0", "S");
}

#[test]
fn s1_established_not_closed() {
    check(
        &[
            SYN_,
            SYNACK,
            ACK3,
            (O, ACK | PSH, 101, 10),
            (R, ACK, 501, 0),
        ],
        "S1",
        "ShADa",
    );
}

#[test]
fn sf_normal_close() {
    let c = run(&[
        SYN_,
        SYNACK,
        ACK3,
        (O, ACK | PSH, 101, 10),
        (R, ACK | PSH, 501, 20),
        (O, ACK | FIN, 111, 0),
        (R, ACK | FIN, 521, 0),
        (O, ACK, 112, 0),
    ]);
    assert_eq!(c.conn_state(), "SF");
    assert_eq!(c.history, "ShADdFf");
    // Payload from sequence numbers: SYN and FIN do not count.
    assert_eq!((c.dirs[O].bytes, c.dirs[R].bytes), (10, 20));
}

#[test]
fn rej_rejected_by_reset() {
    check(&[SYN_, (R, RST | ACK, 0, 0)], "REJ", "Sr");
}

#[test]
fn s2_and_s3_one_side_closed() {
    check(&[SYN_, SYNACK, ACK3, (O, ACK | FIN, 101, 0)], "S2", "ShAF");
    check(&[SYN_, SYNACK, ACK3, (R, ACK | FIN, 501, 0)], "S3", "ShAf");
}

#[test]
fn rsto_and_rstr_aborted_after_establishment() {
    check(&[SYN_, SYNACK, ACK3, (O, RST, 101, 0)], "RSTO", "ShAR");
    check(&[SYN_, SYNACK, ACK3, (R, RST, 501, 0)], "RSTR", "ShAr");
}

#[test]
fn rstos0_syn_then_originator_reset() {
    check(&[SYN_, (O, RST, 101, 0)], "RSTOS0", "SR");
}

#[test]
fn rstrh_synack_then_reset_without_syn() {
    let c = run_with(&[SYNACK, (R, RST, 501, 0)], true);
    assert_eq!((c.conn_state(), c.history.as_str()), ("RSTRH", "^hr"));
}

#[test]
fn sh_and_shr_half_open_closed() {
    check(&[SYN_, (O, FIN, 101, 0)], "SH", "SF");
    let c = run_with(&[SYNACK, (R, FIN | ACK, 501, 0)], true);
    assert_eq!((c.conn_state(), c.history.as_str()), ("SHR", "^hf"));
}

#[test]
fn oth_midstream() {
    check(&[(O, ACK | PSH, 1000, 10), (R, ACK, 5000, 0)], "OTH", "Da");
    // Midstream, then a reset by the originator with the responder silent: OTH too,
    // as no SYN started it.
    check(&[(O, ACK | PSH, 1000, 10), (O, RST, 1010, 0)], "OTH", "DR");
}

#[test]
fn repeat_rules() {
    // A different SYN sequence number is a new letter; the same one is not.
    check(&[SYN_, (O, SYN, 900, 0), (O, SYN, 900, 0)], "S0", "SS");
    // Data and bare ACKs: once per direction however many.
    let mut pkts = vec![SYN_, SYNACK, ACK3];
    for i in 0..5 {
        pkts.push((O, ACK | PSH, 101 + i * 10, 10));
        pkts.push((R, ACK, 501, 0));
    }
    check(&pkts, "S1", "ShADa");
    // SYN+FIN is one odd packet: `Q`, and FIN+RST `I`.
    check(&[(O, SYN | FIN, 100, 0)], "SH", "Q");
    check(
        &[SYN_, SYNACK, ACK3, (O, FIN | RST, 101, 0)],
        "RSTO",
        "ShAI",
    );
}

#[test]
fn retransmissions_and_zero_windows_are_logarithmic() {
    let mut c = run(&[SYN_, SYNACK, ACK3]);
    for _ in 0..150 {
        c.tcp_segment(O, ACK | PSH, 101, 10, 1000, flag::RETRANSMISSION);
    }
    for _ in 0..12 {
        c.tcp_segment(R, ACK, 501, 0, 0, 0);
    }
    // t at the 1st, 10th and 100th; w at the 1st and 10th.
    assert_eq!(c.history, "ShADTTTaww");
}

#[test]
fn udp_states() {
    let a: Endpoint = ("10.0.0.1".parse().unwrap(), 5353);
    let b: Endpoint = ("10.0.0.2".parse().unwrap(), 53);
    let mut c = Conn::new(17, a, b, None, 0);
    c.dirs[O].pkts = 1;
    c.datagram(O, 30);
    assert_eq!((c.conn_state(), c.history.as_str()), ("S0", "D"));
    c.dirs[R].pkts = 1;
    c.datagram(R, 60);
    assert_eq!((c.conn_state(), c.history.as_str()), ("SF", "Dd"));
}

#[test]
fn payload_bytes_survive_sequence_wrap_and_retransmission() {
    let start = u32::MAX - 5;
    let c = run(&[
        (O, SYN, start, 0),
        (R, SYN | ACK, 7, 0),
        (O, ACK | PSH, start.wrapping_add(1), 100),
        // Resent: no new bytes.
        (O, ACK | PSH, start.wrapping_add(1), 100),
        (O, ACK | PSH, start.wrapping_add(101), 50),
    ]);
    assert_eq!(c.dirs[O].bytes, 150);
}
