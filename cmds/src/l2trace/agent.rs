//! What the agent answers: a Linux bridge made to answer Cisco's L2 traceroute (UDP
//! 2228) like a Catalyst, from the bridge FDB and the CDP/LLDP neighbours heard on its
//! ports. The daemon around it (sockets, the bridge's ports, announcements) is
//! `netkit_os::l2::agent`.
//!
//! Safety (the protocol has no authentication and maps a network for anyone who asks):
//! it runs only when started, binds one address (the bridge's own by default, never
//! the wildcard), answers only sources in `--allow` (loopback when none is given),
//! rate-limits per source and overall, drops malformed or oversized datagrams (counted,
//! logged only with `--verbose`), never answers for broadcast/multicast MACs, and never
//! sends a reply more than [`MAX_REPLY_GROWTH`] bytes larger than the request.

use netkit_dissectors::app::l2trace::{
    Attr, Device, Duplex, L2tMessage, MsgType, Neighbor, PortInfo, ReplyStatus, Speed,
};
use netkit_dissectors::link::Mac;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Requests larger than this are not L2 traceroute (a real one is about 40 bytes).
pub const MAX_REQUEST: usize = 512;
/// A reply may exceed its request by at most this much: no amplification beyond it.
/// Strings are capped (names 32 bytes, ports 15 by the kernel) so real replies stay
/// below.
pub const MAX_REPLY_GROWTH: usize = 200;
/// A reply is at most this many times the size of its request: an unauthenticated
/// UDP service must not be worth spoofing for its amplification. Replies that would
/// be larger have their strings shortened ([`fit_reply`]).
pub const MAX_AMPLIFICATION: usize = 3;
/// Names in replies and announcements, in bytes (not characters: 32 emoji are 128).
const MAX_NAME: usize = 32;
/// Status for "the one neighbour on that port announced no IPv4 address". IOS has this
/// condition ("CDP neighbour has no ip") but its code is not public; 11 is unused by
/// every code seen, and Cisco tracers print "Unknown return code" for it.
pub const STATUS_NEIGHBOR_HAS_NO_IP: u8 = 11;

/// An IPv4 prefix for `--allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub net: Ipv4Addr,
    pub len: u8,
}

impl Cidr {
    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.net) & self.mask()
    }
}

/// Why a string is not an `--allow` prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCidr {
    #[error("'{0}' is not an IPv4 prefix (a.b.c.d/len)")]
    Address(String),
    #[error("'{0}': prefix length must be 0-32")]
    Length(String),
}

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(s: &str) -> Result<Self, BadCidr> {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        let net = a.parse().map_err(|_| BadCidr::Address(s.to_string()))?;
        let len = l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| BadCidr::Length(s.to_string()))?;
        Ok(Cidr { net, len })
    }
}

/// One learned or static entry of a bridge's forwarding table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    pub mac: Mac,
    /// The bridge port the MAC was learned on (the bridge itself for its own MACs).
    pub port: u32,
    /// Only on VLAN-aware bridges (`vlan_filtering 1`).
    pub vlan: Option<u16>,
    /// `NUD_PERMANENT`: one of the bridge's or its ports' own addresses.
    pub local: bool,
}

/// Token bucket per source plus a global one. Bounded memory: at most
/// [`RateLimiter::MAX_SOURCES`] sources are tracked; when full, idle ones are dropped,
/// and if none is idle new sources are refused (fail closed).
#[derive(Debug)]
pub struct RateLimiter {
    per_source: HashMap<IpAddr, (f64, Instant)>,
    global: (f64, Instant),
    rate: f64,
    burst: f64,
    global_rate: f64,
}

impl RateLimiter {
    pub const MAX_SOURCES: usize = 4096;

    pub fn new(rate: f64, burst: f64, global_rate: f64, now: Instant) -> Self {
        RateLimiter {
            per_source: HashMap::new(),
            global: (global_rate, now),
            rate,
            burst,
            global_rate,
        }
    }

    fn take(bucket: &mut (f64, Instant), rate: f64, cap: f64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(bucket.1).as_secs_f64();
        bucket.0 = (bucket.0 + dt * rate).min(cap);
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn allow(&mut self, src: IpAddr, now: Instant) -> bool {
        if !self.per_source.contains_key(&src) && self.per_source.len() >= Self::MAX_SOURCES {
            let idle = Duration::from_secs_f64(self.burst / self.rate);
            self.per_source
                .retain(|_, (_, t)| now.saturating_duration_since(*t) < idle);
            if self.per_source.len() >= Self::MAX_SOURCES {
                return false;
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.per_source.entry(src).or_insert((burst, now));
        if !Self::take(bucket, rate, burst, now) {
            return false;
        }
        let g = self.global_rate;
        Self::take(&mut self.global, g, g, now)
    }
}

/// What the responder knows about the switch when a query arrives.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub device: Option<Device>,
    pub bridge_name: String,
    pub fdb: Vec<FdbEntry>,
    /// Port ifindex to name, speed and duplex.
    pub ports: HashMap<u32, PortInfo>,
    /// Distinct neighbours per port name: device ID and IPv4 management address.
    pub neighbors: HashMap<String, Vec<(String, Option<Ipv4Addr>)>>,
    /// The VLAN a bridge without `vlan_filtering` stands for.
    pub native_vlan: u16,
}

enum Place {
    Port(PortInfo),
    /// One of the switch's own MACs: the trace ends on the switch itself.
    Local(PortInfo),
}

impl Tables {
    fn vlan_aware(&self) -> bool {
        self.fdb.iter().any(|e| e.vlan.is_some())
    }

    fn vlan_exists(&self, vlan: u16) -> bool {
        if self.vlan_aware() {
            self.fdb.iter().any(|e| e.vlan == Some(vlan))
        } else {
            vlan == self.native_vlan
        }
    }

    fn locate(&self, mac: Mac, vlan: u16) -> Option<Place> {
        let aware = self.vlan_aware();
        let e = self
            .fdb
            .iter()
            .filter(|e| e.mac == mac && (!aware || e.vlan == Some(vlan)))
            // Prefer a learned entry on a port over the port's own local address.
            .min_by_key(|e| (e.local, !self.ports.contains_key(&e.port)))?;
        match self.ports.get(&e.port) {
            Some(p) if !e.local => Some(Place::Port(p.clone())),
            // Learned on a port that joined or left between reading the ports and the
            // FDB: where it is cannot be said, and it is not the switch itself.
            None if !e.local => None,
            _ => Some(Place::Local(PortInfo {
                name: self.bridge_name.clone(),
                speed: Speed::AUTO,
                duplex: Duplex::Auto,
            })),
        }
    }

    /// Status and neighbour for the port a MAC was found on.
    fn follow(&self, place: &Place) -> (ReplyStatus, Option<Neighbor>) {
        let Place::Port(p) = place else {
            return (ReplyStatus::Success, None);
        };
        match self
            .neighbors
            .get(&p.name)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            [] => (ReplyStatus::Success, None),
            [(id, Some(ip))] => (
                ReplyStatus::NeighborFollows,
                Some(Neighbor {
                    ip: *ip,
                    device_id: cap(id),
                }),
            ),
            [_] => (ReplyStatus::Unknown(STATUS_NEIGHBOR_HAS_NO_IP), None),
            _ => (ReplyStatus::MultipleNeighbors, None),
        }
    }

    /// The reply to a request, or `None` when the request gets no answer at all
    /// (not a request, no MACs, group MACs).
    pub fn answer(&self, req: &L2tMessage) -> Option<L2tMessage> {
        let device = self.device.as_ref()?;
        let (src, dst, vlan) = (req.src_mac()?, req.dst_mac()?, req.vlan()?);
        if src.is_group() || dst.is_group() {
            return None;
        }
        let kind = req.msg_type;
        let reply = |st: ReplyStatus| match kind {
            MsgType::RequestSrc => Some(L2tMessage::reply_src(device, st, None)),
            _ => Some(L2tMessage::reply_dst(device, st, None, None, None)),
        };
        if !matches!(kind, MsgType::RequestSrc | MsgType::RequestDst) {
            return None;
        }
        if !self.vlan_exists(vlan) {
            return reply(ReplyStatus::UnknownVlan);
        }
        let Some(ps) = self.locate(src, vlan) else {
            return reply(ReplyStatus::SrcMacNotFound);
        };
        if kind == MsgType::RequestSrc {
            let (st, n) = self.follow(&ps);
            return Some(L2tMessage::reply_src(device, st, n.as_ref()));
        }
        let Some(pd) = self.locate(dst, vlan) else {
            return reply(ReplyStatus::DstMacNotFound);
        };
        let (st, n) = self.follow(&pd);
        let port = |p: &Place| match p {
            Place::Port(i) | Place::Local(i) => i.clone(),
        };
        Some(L2tMessage::reply_dst(
            device,
            st,
            n.as_ref(),
            Some(&port(&pd)),
            Some(&port(&ps)),
        ))
    }
}

/// `s` cut to at most [`MAX_NAME`] bytes, at a character boundary.
pub fn cap(s: &str) -> String {
    cut(s, MAX_NAME).to_string()
}

fn cut(s: &str, max_bytes: usize) -> &str {
    let mut end = s.len().min(max_bytes);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// Whether a request carries what a Catalyst's `traceroute mac` sends: both MACs, the
/// VLAN, the querier's IPv4 address and its name. Anything less is not answered (a
/// 25-byte query without the querier's address got an 86-byte answer).
pub fn complete_request(req: &L2tMessage) -> bool {
    req.src_mac().is_some()
        && req.dst_mac().is_some()
        && req.vlan().is_some()
        && req.src_ip().is_some()
        && req.attrs.iter().any(|a| matches!(a, Attr::NbrDevId(_)))
}

/// `reply` made to fit in `budget` bytes by shortening its strings, least useful
/// first (platform, neighbour's device ID, our name, then port names), each at a
/// character boundary; `None` if even one byte each does not fit.
pub fn fit_reply(mut reply: L2tMessage, budget: usize) -> Option<L2tMessage> {
    let order: [fn(&mut Attr) -> Option<&mut String>; 4] = [
        |a| match a {
            Attr::DevType(s) => Some(s),
            _ => None,
        },
        |a| match a {
            Attr::NbrDevId(s) => Some(s),
            _ => None,
        },
        |a| match a {
            Attr::DevName(s) => Some(s),
            _ => None,
        },
        |a| match a {
            Attr::DstPortName(s) | Attr::SrcPortName(s) => Some(s),
            _ => None,
        },
    ];
    for pick in order {
        let len = reply.emit().len();
        if len <= budget {
            return Some(reply);
        }
        let mut excess = len - budget;
        for a in &mut reply.attrs {
            if let Some(s) = pick(a) {
                let keep = s.len().saturating_sub(excess).max(1);
                let cut_to = cut(s, keep)
                    .len()
                    .max(s.chars().next().map_or(0, char::len_utf8));
                excess = excess.saturating_sub(s.len() - cut_to);
                s.truncate(cut_to);
            }
        }
    }
    (reply.emit().len() <= budget).then_some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netkit_dissectors::app::l2trace as l2t;

    const A: Mac = Mac([2, 0, 0, 0, 0, 0xa]);
    const B: Mac = Mac([2, 0, 0, 0, 0, 0xb]);
    const ME: Mac = Mac([2, 0, 0, 0, 0, 0x11]);

    fn port(name: &str) -> PortInfo {
        PortInfo {
            name: name.into(),
            speed: Speed(4),
            duplex: Duplex::Full,
        }
    }

    fn tables() -> Tables {
        let e = |mac, port, local| FdbEntry {
            mac,
            port,
            vlan: None,
            local,
        };
        Tables {
            device: Some(Device {
                name: "sw1".into(),
                platform: "netkit linux-bridge".into(),
                ip: Ipv4Addr::new(10, 0, 0, 11),
            }),
            bridge_name: "br0".into(),
            fdb: vec![e(A, 5, false), e(B, 6, false), e(ME, 1, true)],
            ports: [(5, port("p1a")), (6, port("p1_2"))].into_iter().collect(),
            neighbors: [
                ("p1a".to_string(), vec![]),
                (
                    "p1_2".to_string(),
                    vec![("sw2".to_string(), Some(Ipv4Addr::new(10, 0, 0, 12)))],
                ),
            ]
            .into_iter()
            .collect(),
            native_vlan: 1,
        }
    }

    fn ask(t: &Tables, req: L2tMessage) -> L2tMessage {
        let wire = req.emit();
        let reply = t.answer(&l2t::parse(&wire).unwrap()).unwrap();
        assert!(reply.emit().len() <= wire.len() + MAX_REPLY_GROWTH);
        l2t::parse(&reply.emit()).unwrap()
    }

    fn q(kind: MsgType, src: Mac, dst: Mac, vlan: u16) -> L2tMessage {
        let me = Ipv4Addr::new(10, 0, 0, 99);
        match kind {
            MsgType::RequestSrc => L2tMessage::request_src(src, dst, vlan, me, "t"),
            _ => L2tMessage::request_dst(src, dst, vlan, me, "t"),
        }
    }

    #[test]
    fn request_dst_names_both_ports_and_the_next_hop() {
        let r = ask(&tables(), q(MsgType::RequestDst, A, B, 1));
        assert_eq!(r.msg_type, MsgType::ReplyDst);
        assert_eq!(r.status(), Some(ReplyStatus::NeighborFollows));
        assert_eq!(r.src_port(), Some("p1a"));
        assert_eq!(r.dst_port(), Some("p1_2"));
        assert_eq!(r.nbr_ip(), Some(Ipv4Addr::new(10, 0, 0, 12)));
        assert_eq!(r.nbr_dev_id(), Some("sw2"));
        assert_eq!(r.dev_name(), Some("sw1"));
    }

    #[test]
    fn request_src_statuses_follow_ciscos_codes() {
        let t = tables();
        let r = ask(&t, q(MsgType::RequestSrc, A, B, 1));
        assert_eq!(
            (r.msg_type, r.status()),
            (MsgType::ReplySrc, Some(ReplyStatus::Success))
        );
        let r = ask(&t, q(MsgType::RequestSrc, B, A, 1));
        assert_eq!(r.status(), Some(ReplyStatus::NeighborFollows));
        let unknown = Mac([2, 9, 9, 9, 9, 9]);
        let r = ask(&t, q(MsgType::RequestSrc, unknown, A, 1));
        assert_eq!(r.status(), Some(ReplyStatus::SrcMacNotFound));
        let r = ask(&t, q(MsgType::RequestDst, A, unknown, 1));
        assert_eq!(r.status(), Some(ReplyStatus::DstMacNotFound));
        let r = ask(&t, q(MsgType::RequestDst, A, B, 20));
        assert_eq!(r.status(), Some(ReplyStatus::UnknownVlan));
        // The switch's own MAC ends the trace on the switch itself.
        let r = ask(&t, q(MsgType::RequestDst, A, ME, 1));
        assert_eq!(
            (r.status(), r.dst_port()),
            (Some(ReplyStatus::Success), Some("br0"))
        );
    }

    #[test]
    fn a_station_on_a_port_that_just_left_is_not_found_not_on_the_switch() {
        // The FDB was read after port 6 left the ports list (or before a new port
        // 7 made it in): B's entry names a port the tables do not have.
        let mut t = tables();
        t.ports.remove(&6);
        let r = ask(&t, q(MsgType::RequestDst, A, B, 1));
        assert_eq!(r.status(), Some(ReplyStatus::DstMacNotFound));
        let r = ask(&t, q(MsgType::RequestSrc, B, A, 1));
        assert_eq!(r.status(), Some(ReplyStatus::SrcMacNotFound));
        // The switch's own MAC is still the switch's.
        let r = ask(&t, q(MsgType::RequestDst, A, ME, 1));
        assert_eq!(r.dst_port(), Some("br0"));
    }

    #[test]
    fn vlan_aware_bridges_answer_per_vlan() {
        let mut t = tables();
        for e in &mut t.fdb {
            e.vlan = Some(10);
        }
        // A in VLAN 20 too, on another port.
        t.fdb.push(FdbEntry {
            mac: A,
            port: 6,
            vlan: Some(20),
            local: false,
        });
        let r = ask(&t, q(MsgType::RequestDst, A, B, 10));
        assert_eq!((r.src_port(), r.dst_port()), (Some("p1a"), Some("p1_2")));
        let r = ask(&t, q(MsgType::RequestSrc, A, B, 20));
        assert_eq!(r.status(), Some(ReplyStatus::NeighborFollows));
        let r = ask(&t, q(MsgType::RequestDst, A, B, 20));
        assert_eq!(r.status(), Some(ReplyStatus::DstMacNotFound));
        let r = ask(&t, q(MsgType::RequestDst, A, B, 1));
        assert_eq!(r.status(), Some(ReplyStatus::UnknownVlan));
    }

    #[test]
    fn hubs_group_macs_and_replies_are_refused_or_flagged() {
        let mut t = tables();
        t.neighbors
            .get_mut("p1_2")
            .unwrap()
            .push(("sw9".into(), None));
        let r = ask(&t, q(MsgType::RequestDst, A, B, 1));
        assert_eq!(r.status(), Some(ReplyStatus::MultipleNeighbors));
        assert!(t
            .answer(&q(MsgType::RequestDst, A, Mac::BROADCAST, 1))
            .is_none());
        let reply = L2tMessage::reply_src(t.device.as_ref().unwrap(), ReplyStatus::Success, None);
        assert!(t.answer(&reply).is_none());
    }

    #[test]
    fn cidr_and_rate_limit() {
        let c: Cidr = "10.0.0.0/24".parse().unwrap();
        assert!(c.contains(Ipv4Addr::new(10, 0, 0, 200)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 1, 1)));
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains(Ipv4Addr::BROADCAST));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10.0, 5.0, 1000.0, t0);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!((0..10).filter(|_| rl.allow(a, t0)).count(), 5);
        // Another source has its own bucket; the first refills with time.
        assert!(rl.allow(b, t0));
        assert!(rl.allow(a, t0 + Duration::from_millis(200)));
    }

    #[test]
    fn names_are_capped_in_bytes_and_replies_fit_three_times_the_query() {
        let emoji = "\u{1f642}".repeat(32);
        assert_eq!(cap(&emoji).len(), 32);
        assert_eq!(cap(&emoji).chars().count(), 8);
        assert_eq!(cap("sw1"), "sw1");
        let mut t = tables();
        t.neighbors.insert(
            "p1_2".into(),
            vec![(cap(&emoji), Some(Ipv4Addr::new(10, 0, 0, 12)))],
        );
        t.device.as_mut().unwrap().platform = cap(&"x".repeat(64));
        let req = q(MsgType::RequestDst, A, B, 1);
        let n = req.emit().len();
        let full = t.answer(&req).unwrap();
        assert!(
            full.emit().len() > MAX_AMPLIFICATION * n,
            "{}",
            full.emit().len()
        );
        let fitted = fit_reply(full, MAX_AMPLIFICATION * n).unwrap();
        let wire = fitted.emit();
        assert!(wire.len() <= MAX_AMPLIFICATION * n);
        // Still a valid reply that says where to go next.
        let back = l2t::parse(&wire).unwrap();
        assert_eq!(back.nbr_ip(), Some(Ipv4Addr::new(10, 0, 0, 12)));
        assert_eq!(back.dst_port(), Some("p1_2"));
        assert!(complete_request(&req));
        let mut bare = req.clone();
        bare.attrs.retain(|a| !matches!(a, Attr::SrcIp(_)));
        assert!(!complete_request(&bare));
    }
}
