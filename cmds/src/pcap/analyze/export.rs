//! `pcap analyze --export`: connections as Zeek's conn.log records and findings as
//! notice.log records (docs/CLI.md has the schema), so DuckDB, ClickHouse or Spark
//! load them as they load Zeek's logs, plus Community ID v1 to join with other tools.
//!
//! Zeek field names and meanings; Zeek's JSON writer leaves unset fields out, and so
//! does this. netkit's own fields are under a `netkit.` prefix.

use super::findings::Finding;
use super::sections::conn::{icmp_ports, Conn, Endpoint};
use super::sections::tcp::{StreamInfo, TcpFlag};
use super::sections::websocket::Verdict;
use netkit_dissectors::app::websocket::{base64_encode, sha1};
use serde::Serialize;
use std::net::IpAddr;

/// One conn.log record.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConnRecord {
    /// Time of the first packet, seconds since the epoch (Zeek's JSON `ts`).
    pub ts: f64,
    pub uid: String,
    #[serde(rename = "id.orig_h")]
    pub orig_h: IpAddr,
    #[serde(rename = "id.orig_p")]
    pub orig_p: u16,
    #[serde(rename = "id.resp_h")]
    pub resp_h: IpAddr,
    #[serde(rename = "id.resp_p")]
    pub resp_p: u16,
    pub proto: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'static str>,
    /// Zeek sets these three only when the connection lasted (duration > 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orig_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp_bytes: Option<u64>,
    pub conn_state: &'static str,
    /// netkit does not reassemble streams: always 0 (Zeek counts bytes missing from
    /// its reassembly here).
    pub missed_bytes: u64,
    pub history: String,
    pub orig_pkts: u64,
    pub orig_ip_bytes: u64,
    pub resp_pkts: u64,
    pub resp_ip_bytes: u64,
    pub community_id: String,
    #[serde(rename = "netkit.tcp_stream", skip_serializing_if = "Option::is_none")]
    pub tcp_stream: Option<u32>,
    #[serde(
        rename = "netkit.retransmissions",
        skip_serializing_if = "Option::is_none"
    )]
    pub retransmissions: Option<u64>,
    #[serde(rename = "netkit.dup_acks", skip_serializing_if = "Option::is_none")]
    pub dup_acks: Option<u64>,
    #[serde(rename = "netkit.rtt_ms", skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    #[serde(rename = "netkit.websocket", skip_serializing_if = "Option::is_none")]
    pub websocket: Option<&'static str>,
    /// `watch --export`: the network namespace of the capture point.
    #[serde(rename = "netkit.namespace", skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `watch --export`: the VRF the capture point's interface is enslaved to.
    #[serde(rename = "netkit.vrf", skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// `watch --export`: the interface of the capture point.
    #[serde(rename = "netkit.interface", skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// What the TCP and WebSocket sections know of a connection's stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamFacts {
    pub retransmissions: u64,
    pub dup_acks: u64,
    pub rtt_ns: Option<i64>,
    pub websocket: Option<Verdict>,
}

impl StreamFacts {
    pub fn of(info: &StreamInfo, websocket: Option<Verdict>) -> StreamFacts {
        StreamFacts {
            retransmissions: info.retransmissions(),
            dup_acks: info.flag_counts[TcpFlag::DuplicateAck],
            rtt_ns: info.handshake_rtt_ns,
            websocket,
        }
    }
}

fn proto_name(proto: u8) -> &'static str {
    match proto {
        6 => "tcp",
        17 => "udp",
        1 | 58 => "icmp",
        _ => "unknown_transport",
    }
}

impl ConnRecord {
    /// The record of a finished connection; `facts`: its TCP stream's, when the TCP
    /// engine still holds its summary.
    pub fn of(c: &Conn, facts: Option<StreamFacts>) -> ConnRecord {
        let duration_ns = c.last_ts_ns.saturating_sub(c.first_ts_ns);
        let lasted = duration_ns > 0;
        let [o, r] = &c.dirs;
        let tcp = c.proto == 6;
        ConnRecord {
            ts: c.first_ts_ns as f64 / 1e9,
            uid: uid(c.proto, c.orig, c.resp, c.first_ts_ns),
            orig_h: c.orig.0,
            orig_p: c.orig.1,
            resp_h: c.resp.0,
            resp_p: c.resp.1,
            proto: proto_name(c.proto),
            service: c.service,
            duration: lasted.then_some(duration_ns as f64 / 1e9),
            orig_bytes: lasted.then_some(o.bytes),
            resp_bytes: lasted.then_some(r.bytes),
            conn_state: c.conn_state(),
            missed_bytes: 0,
            history: c.history.clone(),
            orig_pkts: o.pkts,
            orig_ip_bytes: o.ip_bytes,
            resp_pkts: r.pkts,
            resp_ip_bytes: r.ip_bytes,
            community_id: community_id(c.proto, c.orig, c.resp),
            tcp_stream: c.stream,
            retransmissions: facts.filter(|_| tcp).map(|f| f.retransmissions),
            dup_acks: facts.filter(|_| tcp).map(|f| f.dup_acks),
            rtt_ms: facts.and_then(|f| f.rtt_ns).map(|ns| ns as f64 / 1e6),
            websocket: facts.and_then(|f| f.websocket).map(Verdict::as_str),
            namespace: None,
            vrf: None,
            interface: None,
        }
    }
}

/// Community ID v1 with seed 0 (https://github.com/corelight/community-id-spec):
/// base64 of the SHA-1 of seed, the two addresses, protocol, a zero byte and the two
/// ports, the lower (address, port) end first. ICMP types and codes stand in for
/// ports; a request and its reply map to one pair, one-way messages are not reordered.
pub fn community_id(proto: u8, a: Endpoint, b: Endpoint) -> String {
    let (mut a, mut b) = (a, b);
    let mut one_way = false;
    if proto == 1 || proto == 58 {
        let (t, c, ow) = icmp_ports(proto == 58, a.1 as u8, b.1 as u8);
        a.1 = t;
        b.1 = c;
        one_way = ow;
    }
    let bytes = |ip: IpAddr| match ip {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    let (ab, bb) = (bytes(a.0), bytes(b.0));
    let ordered = ab < bb || (ab == bb && a.1 <= b.1);
    let (first, second, fb, sb) = if ordered || one_way {
        (a, b, ab, bb)
    } else {
        (b, a, bb, ab)
    };
    let mut m = Vec::with_capacity(2 + 32 + 6);
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&fb);
    m.extend_from_slice(&sb);
    m.push(proto);
    m.push(0);
    if matches!(proto, 1 | 6 | 17 | 58 | 132) {
        m.extend_from_slice(&first.1.to_be_bytes());
        m.extend_from_slice(&second.1.to_be_bytes());
    }
    format!("1:{}", base64_encode(&sha1(&m)))
}

/// A Zeek-style connection uid ("C" and 17 base62 digits), derived from the
/// connection (protocol, ends and start time) instead of drawn at random, so the same
/// capture always gives the same uids and a notice can name its connection's.
pub fn uid(proto: u8, orig: Endpoint, resp: Endpoint, first_ts_ns: i64) -> String {
    let mut m = Vec::new();
    m.push(proto);
    for (ip, port) in [orig, resp] {
        match ip {
            IpAddr::V4(v) => m.extend_from_slice(&v.octets()),
            IpAddr::V6(v) => m.extend_from_slice(&v.octets()),
        }
        m.extend_from_slice(&port.to_be_bytes());
    }
    m.extend_from_slice(&first_ts_ns.to_be_bytes());
    let h = sha1(&m);
    let mut n = h
        .iter()
        .take(12)
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::from("C");
    for _ in 0..17 {
        s.push(char::from(DIGITS[(n % 62) as usize]));
        n /= 62;
    }
    s
}

/// One notice.log record: a finding.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeRecord {
    pub ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(rename = "id.orig_h", skip_serializing_if = "Option::is_none")]
    pub orig_h: Option<IpAddr>,
    #[serde(rename = "id.orig_p", skip_serializing_if = "Option::is_none")]
    pub orig_p: Option<u16>,
    #[serde(rename = "id.resp_h", skip_serializing_if = "Option::is_none")]
    pub resp_h: Option<IpAddr>,
    #[serde(rename = "id.resp_p", skip_serializing_if = "Option::is_none")]
    pub resp_p: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<&'static str>,
    /// `Netkit::` and the finding's code, as Zeek names notices `Module::Name`.
    pub note: String,
    pub msg: String,
    /// The Wireshark display filter that shows the frames behind it.
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<u16>,
    pub actions: [&'static str; 1],
    #[serde(rename = "netkit.severity")]
    pub severity: String,
    #[serde(rename = "netkit.frames")]
    pub frames: Vec<u64>,
    #[serde(rename = "netkit.tcp_stream", skip_serializing_if = "Option::is_none")]
    pub tcp_stream: Option<u32>,
    /// Alike findings share it (the report's `findings[].group`).
    #[serde(rename = "netkit.group")]
    pub group: String,
}

/// The connection a finding is about, as its conn.log record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeConn {
    pub client: Endpoint,
    pub server: Endpoint,
    pub first_ts_ns: i64,
}

impl NoticeRecord {
    /// `ts_ns`: when the finding happened; `conn`: its TCP stream's ends, when it has
    /// one.
    pub fn of(f: &Finding, ts_ns: i64, conn: Option<NoticeConn>) -> NoticeRecord {
        let severity = serde_json::to_value(f.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let code = serde_json::to_value(f.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        NoticeRecord {
            ts: ts_ns as f64 / 1e9,
            uid: conn.map(|c| uid(6, c.client, c.server, c.first_ts_ns)),
            orig_h: conn.map(|c| c.client.0),
            orig_p: conn.map(|c| c.client.1),
            resp_h: conn.map(|c| c.server.0),
            resp_p: conn.map(|c| c.server.1),
            proto: conn.map(|_| "tcp"),
            note: format!("Netkit::{code}"),
            msg: f.summary.clone(),
            sub: f.wireshark_filter.clone(),
            src: conn.map(|c| c.client.0),
            dst: conn.map(|c| c.server.0),
            p: conn.map(|c| c.server.1),
            actions: ["Notice::ACTION_LOG"],
            severity,
            frames: f.frames.clone(),
            tcp_stream: f.stream,
            group: f.group.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str, p: u16) -> Endpoint {
        (s.parse().unwrap(), p)
    }

    /// The spec's own examples (community-id-spec's baseline, seed 0).
    #[test]
    fn community_id_matches_the_spec_baseline() {
        assert_eq!(
            community_id(6, ep("128.232.110.120", 34855), ep("66.35.250.204", 80)),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        // Either direction gives the same id.
        assert_eq!(
            community_id(6, ep("66.35.250.204", 80), ep("128.232.110.120", 34855)),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            community_id(17, ep("192.168.1.52", 54585), ep("8.8.8.8", 53)),
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ="
        );
        // ICMP echo request: type 8 code 0.
        assert_eq!(
            community_id(1, ep("192.168.0.89", 8), ep("192.168.0.1", 0)),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
    }

    #[test]
    fn uid_looks_like_zeeks_and_is_stable() {
        let a = uid(6, ep("10.0.0.1", 1), ep("10.0.0.2", 2), 5);
        assert_eq!(a.len(), 18);
        assert!(a.starts_with('C'));
        assert_eq!(a, uid(6, ep("10.0.0.1", 1), ep("10.0.0.2", 2), 5));
        assert_ne!(a, uid(6, ep("10.0.0.1", 1), ep("10.0.0.2", 2), 6));
    }
}
