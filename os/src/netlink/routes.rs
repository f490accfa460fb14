//! The routing tables of one namespace: `RTM_GETROUTE` for IPv4, IPv6 and the MPLS label
//! table, every table at once (main, local, VRF tables), with multipath next hops, MPLS
//! encapsulation and nexthop objects (`RTM_GETNEXTHOP`, which netlink-packet-route does
//! not model, so it is parsed here by hand).

use super::{DumpError, Links};
use netkit_cmds::route::{table_name, Lookup, Nexthop, Route};
use netlink_packet_core::Parseable;
use netlink_packet_route::route::{
    MplsLabel, RouteAddress, RouteAttribute, RouteLwEnCapType, RouteLwTunnelEncap, RouteMessage,
    RouteMplsIpTunnel, RouteNextHop, RouteVia,
};
use netlink_sys::Socket;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const RTM_GETROUTE: u16 = 26;
const RTM_GETNEXTHOP: u16 = 106;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const AF_MPLS: u8 = 28;
const EAFNOSUPPORT: i32 = 97;
const EOPNOTSUPP: i32 = 95;
const EINVAL: i32 = 22;

// Nexthop object attributes (include/uapi/linux/nexthop.h).
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_BLACKHOLE: u16 = 4;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const NHA_ENCAP_TYPE: u16 = 7;

/// A nexthop object from `RTM_GETNEXTHOP`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NexthopObject {
    pub id: u32,
    pub gateway: Option<String>,
    pub oif: Option<u32>,
    pub blackhole: bool,
    pub encap_type: Option<u16>,
    /// (member id, weight as printed: kernel value + 1)
    pub group: Vec<(u32, u32)>,
}

/// Parses one `RTM_NEWNEXTHOP` payload: `struct nhmsg` (family, scope, protocol,
/// reserved, u32 flags) followed by NHA_* attributes.
pub fn parse_nexthop(payload: &[u8]) -> Option<NexthopObject> {
    let mut nh = NexthopObject::default();
    for (kind, v) in super::attrs(payload.get(8..)?) {
        match kind {
            NHA_ID => nh.id = super::ne_u32(v, 0)?,
            NHA_GROUP => {
                // struct nexthop_grp { u32 id; u8 weight; u8 weight_high; u16 resvd }:
                // the weight is stored minus one, with 8 more high bits on new kernels.
                for e in v.chunks_exact(8) {
                    let id = super::ne_u32(e, 0)?;
                    let w = u32::from(e[4]) | (u32::from(e[5]) << 8);
                    nh.group.push((id, w + 1));
                }
            }
            NHA_BLACKHOLE => nh.blackhole = true,
            NHA_OIF => nh.oif = super::ne_u32(v, 0),
            NHA_GATEWAY => nh.gateway = ip_string(v),
            NHA_ENCAP_TYPE => nh.encap_type = super::ne_u16(v, 0),
            _ => {}
        }
    }
    (nh.id != 0).then_some(nh)
}

/// An NHA_GATEWAY value: its length says the family (4 for IPv4, 16 for IPv6).
fn ip_string(v: &[u8]) -> Option<String> {
    if let Ok(a) = <[u8; 4]>::try_from(v) {
        return Some(Ipv4Addr::from(a).to_string());
    }
    <[u8; 16]>::try_from(v)
        .ok()
        .map(|a| Ipv6Addr::from(a).to_string())
}

/// Dumps the nexthop objects; a kernel without them (before 5.3) gives none.
pub fn dump_nexthops(sock: &Socket) -> Result<HashMap<u32, NexthopObject>, DumpError> {
    let body = [0u8; 8];
    let msgs = match super::dump(sock, RTM_GETNEXTHOP, &body) {
        Ok(m) => m,
        Err(DumpError::Kernel(EOPNOTSUPP | EINVAL | EAFNOSUPPORT)) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(msgs
        .iter()
        .filter_map(|p| parse_nexthop(p))
        .map(|nh| (nh.id, nh))
        .collect())
}

/// The routes of every table and family of the socket's namespace. The MPLS label table
/// is included where the kernel has it (`mpls_router` loaded); elsewhere it is skipped.
pub fn dump(sock: &Socket, links: &Links) -> Result<Vec<Route>, DumpError> {
    let nexthops = dump_nexthops(sock)?;
    let mut out = Vec::new();
    for fam in [AF_INET, AF_INET6, AF_MPLS] {
        // struct rtmsg (12 bytes), all zero but the family: every table, every type.
        let mut body = [0u8; 12];
        body[0] = fam;
        let msgs = match super::dump(sock, RTM_GETROUTE, &body) {
            Ok(m) => m,
            Err(DumpError::Kernel(EAFNOSUPPORT | EOPNOTSUPP | EINVAL)) if fam == AF_MPLS => {
                continue
            }
            Err(e) => return Err(e),
        };
        for payload in msgs {
            // A kernel without MPLS answers an AF_MPLS request with the dump of every
            // family (rtnetlink falls back to PF_UNSPEC): keep only what was asked for.
            if payload.first() != Some(&fam) {
                continue;
            }
            // netlink-packet-route decodes RTA_MULTIPATH legs by the family; a message
            // it cannot parse is skipped rather than failing the whole table.
            if let Ok(msg) = RouteMessage::parse(payload.as_slice()) {
                out.push(from_message(&msg, &payload, links, &nexthops));
            }
        }
    }
    Ok(out)
}

/// Table names iproute2 knows (`ip route show table NAME`): its `rt_tables` files in
/// /etc/iproute2 and /usr/share/iproute2 (newer iproute2), and their `rt_tables.d`.
pub fn table_names() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for dir in ["/etc/iproute2", "/usr/share/iproute2"] {
        let dir = std::path::Path::new(dir);
        let mut files = vec![dir.join("rt_tables")];
        if let Ok(d) = std::fs::read_dir(dir.join("rt_tables.d")) {
            let mut confs: Vec<_> = d
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            confs.sort();
            files.extend(confs);
        }
        for f in files {
            if let Ok(text) = std::fs::read_to_string(&f) {
                out.extend(netkit_cmds::route::parse_rt_tables(&text));
            }
        }
    }
    out
}

/// rtmsg flag: report the table the lookup found the route in (as `ip route get`).
const RTM_F_LOOKUP_TABLE: u32 = 0x1000;
const RTA_DST: u16 = 1;

/// `ip route get ADDR`: asks the kernel which route the socket's namespace uses for
/// `to` (a real FIB lookup: policy rules, VRFs and metrics are the kernel's). No route
/// is an answer too: the error says why (`Network is unreachable`).
pub fn get(sock: &Socket, links: &Links, to: IpAddr) -> Result<Lookup, DumpError> {
    let (fam, addr, bits) = match to {
        IpAddr::V4(a) => (AF_INET, a.octets().to_vec(), 32u8),
        IpAddr::V6(a) => (AF_INET6, a.octets().to_vec(), 128u8),
    };
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    let mut body = vec![fam, bits, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(&RTM_F_LOOKUP_TABLE.to_ne_bytes());
    body.extend_from_slice(&(4 + addr.len() as u16).to_ne_bytes());
    body.extend_from_slice(&RTA_DST.to_ne_bytes());
    body.extend_from_slice(&addr);
    let mut lookup = Lookup {
        netns: String::new(),
        to: to.to_string(),
        kind: None,
        table: None,
        vrf: None,
        gateway: None,
        dev: None,
        prefsrc: None,
        error: None,
    };
    let payload = match super::request(sock, RTM_GETROUTE, &body) {
        Ok(p) => p,
        Err(DumpError::Kernel(errno)) => {
            lookup.error = Some(DumpError::Kernel(errno).to_string());
            return Ok(lookup);
        }
        Err(e) => return Err(e),
    };
    let msg = RouteMessage::parse(payload.as_slice())
        .map_err(|e| DumpError::Io(format!("cannot parse the route lookup's answer: {e}")))?;
    let r = from_message(&msg, &payload, links, &HashMap::new());
    lookup.kind = Some(r.kind);
    lookup.table = Some(r.table);
    lookup.vrf = r.vrf;
    lookup.gateway = r.gateway;
    lookup.dev = r.dev;
    lookup.prefsrc = r.prefsrc;
    Ok(lookup)
}

fn from_message(
    msg: &RouteMessage,
    raw: &[u8],
    links: &Links,
    nexthops: &HashMap<u32, NexthopObject>,
) -> Route {
    let fam = raw.first().copied().unwrap_or(0);
    let dst_len = raw.get(1).copied().unwrap_or(0);
    let mut table = u32::from(raw.get(4).copied().unwrap_or(0));
    let proto = raw.get(5).copied().unwrap_or(0);
    let scope = raw.get(6).copied().unwrap_or(0);
    let kind = raw.get(7).copied().unwrap_or(0);
    let mut r = Route {
        netns: String::new(),
        family: match fam {
            AF_INET => "inet",
            AF_INET6 => "inet6",
            AF_MPLS => "mpls",
            _ => "other",
        }
        .to_string(),
        table: String::new(),
        vrf: None,
        kind: route_type_name(kind),
        dst: if dst_len == 0 && fam != AF_MPLS {
            "default".to_string()
        } else {
            String::new()
        },
        gateway: None,
        dev: None,
        proto: protocol_name(proto),
        scope: scope_name(scope),
        metric: None,
        prefsrc: None,
        encap: None,
        nhid: None,
        nexthops: Vec::new(),
    };
    let mut encap_type = None;
    let mut encap = None;
    let mut newdst = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) if dst_len > 0 || fam == AF_MPLS => {
                r.dst = prefix_string(a, dst_len, fam)
            }
            RouteAttribute::Gateway(a) => r.gateway = address_string(a),
            RouteAttribute::Via(v) => r.gateway = via_string(v),
            RouteAttribute::Oif(i) => r.dev = Some(links.name(*i)),
            RouteAttribute::Priority(m) => r.metric = Some(*m),
            RouteAttribute::PrefSource(a) => r.prefsrc = address_string(a),
            RouteAttribute::NhId(id) => r.nhid = Some(*id),
            RouteAttribute::EncapType(t) => encap_type = Some(*t),
            RouteAttribute::Encap(e) => encap = Some(e.clone()),
            RouteAttribute::NewDestination(labels) => newdst = Some(labels_string(labels)),
            RouteAttribute::MultiPath(legs) => {
                r.nexthops = legs.iter().map(|l| leg(l, links)).collect();
            }
            _ => {}
        }
    }
    r.encap = encap_string(encap_type.as_ref(), encap.as_deref());
    if let Some(nd) = newdst {
        // An MPLS label route's swap/push: shown on the route as `as to` does.
        r.encap = Some(format!("as to {nd}"));
    }
    r.table = table_name(table);
    r.vrf = links.vrf_for_table(table);
    if let Some(id) = r.nhid {
        if r.nexthops.is_empty() {
            r.nexthops = expand_nexthop(id, nexthops, links);
        }
        if r.gateway.is_none() && r.dev.is_none() && r.nexthops.len() == 1 {
            if let Some(only) = r.nexthops.first() {
                r.gateway = only.gateway.clone();
                r.dev = only.dev.clone();
            }
        }
    }
    r
}

fn leg(l: &RouteNextHop, links: &Links) -> Nexthop {
    let mut n = Nexthop {
        gateway: None,
        dev: (l.interface_index != 0).then(|| links.name(l.interface_index)),
        weight: u32::from(l.hops) + 1,
        encap: None,
        newdst: None,
    };
    let mut et = None;
    let mut e = None;
    for a in &l.attributes {
        match a {
            RouteAttribute::Gateway(g) => n.gateway = address_string(g),
            RouteAttribute::Via(v) => n.gateway = via_string(v),
            RouteAttribute::NewDestination(labels) => n.newdst = Some(labels_string(labels)),
            RouteAttribute::EncapType(t) => et = Some(*t),
            RouteAttribute::Encap(x) => e = Some(x.clone()),
            _ => {}
        }
    }
    n.encap = encap_string(et.as_ref(), e.as_deref());
    n
}

/// The legs a nexthop object stands for: itself, or its group's members with weights.
fn expand_nexthop(id: u32, objs: &HashMap<u32, NexthopObject>, links: &Links) -> Vec<Nexthop> {
    let Some(obj) = objs.get(&id) else {
        return Vec::new();
    };
    let single = |o: &NexthopObject, weight: u32| Nexthop {
        gateway: if o.blackhole {
            Some("blackhole".to_string())
        } else {
            o.gateway.clone()
        },
        dev: o.oif.map(|i| links.name(i)),
        weight,
        encap: o.encap_type.map(|t| encap_type_name(t).to_string()),
        newdst: None,
    };
    if obj.group.is_empty() {
        return vec![single(obj, 1)];
    }
    obj.group
        .iter()
        .filter_map(|(member, w)| objs.get(member).map(|o| single(o, *w)))
        .collect()
}

fn address_string(a: &RouteAddress) -> Option<String> {
    match a {
        RouteAddress::Inet(v) => Some(v.to_string()),
        RouteAddress::Inet6(v) => Some(v.to_string()),
        RouteAddress::Mpls(l) => Some(l.label.to_string()),
        _ => None,
    }
}

fn via_string(v: &RouteVia) -> Option<String> {
    match v {
        RouteVia::Inet(a) => Some(a.to_string()),
        RouteVia::Inet6(a) => Some(a.to_string()),
        RouteVia::Packet(mac) => Some(super::neigh::mac_string(mac)),
        _ => None,
    }
}

fn prefix_string(a: &RouteAddress, len: u8, fam: u8) -> String {
    let full = match fam {
        AF_INET => 32,
        AF_INET6 => 128,
        _ => 0,
    };
    match address_string(a) {
        Some(s) if fam == AF_MPLS || len == full => s,
        Some(s) => format!("{s}/{len}"),
        None => "?".to_string(),
    }
}

/// A label stack as iproute2 prints it: `20/30`.
pub fn labels_string(labels: &[MplsLabel]) -> String {
    labels
        .iter()
        .map(|l| l.label.to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn encap_string(t: Option<&RouteLwEnCapType>, e: Option<&[RouteLwTunnelEncap]>) -> Option<String> {
    let t = t?;
    if let RouteLwEnCapType::Mpls = t {
        let mut labels = String::new();
        let mut ttl = None;
        for x in e.unwrap_or_default() {
            if let RouteLwTunnelEncap::Mpls(m) = x {
                match m {
                    RouteMplsIpTunnel::Destination(l) => labels = labels_string(l),
                    RouteMplsIpTunnel::Ttl(v) => ttl = Some(*v),
                    _ => {}
                }
            }
        }
        return Some(match ttl {
            Some(ttl) => format!("mpls {labels} ttl {ttl}"),
            None => format!("mpls {labels}"),
        });
    }
    Some(encap_type_name(u16::from(*t)).to_string())
}

/// LWTUNNEL_ENCAP_* names (include/uapi/linux/lwtunnel.h).
pub fn encap_type_name(t: u16) -> &'static str {
    match t {
        1 => "mpls",
        2 => "ip",
        3 => "ila",
        4 => "ip6",
        5 => "seg6",
        6 => "bpf",
        7 => "seg6local",
        8 => "rpl",
        9 => "ioam6",
        10 => "xfrm",
        _ => "unknown",
    }
}

/// iproute2's rt_protos names.
pub fn protocol_name(p: u8) -> String {
    let name = match p {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        18 => "keepalived",
        42 => "babel",
        99 => "openr",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        n => return n.to_string(),
    };
    name.to_string()
}

pub fn scope_name(s: u8) -> String {
    match s {
        0 => "global".to_string(),
        200 => "site".to_string(),
        253 => "link".to_string(),
        254 => "host".to_string(),
        255 => "nowhere".to_string(),
        n => n.to_string(),
    }
}

pub fn route_type_name(t: u8) -> String {
    let name = match t {
        0 => "unspec",
        1 => "unicast",
        2 => "local",
        3 => "broadcast",
        4 => "anycast",
        5 => "multicast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        9 => "throw",
        10 => "nat",
        11 => "xresolve",
        n => return n.to_string(),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nexthop_object_and_group_parse() {
        // nhmsg family 2, then NHA_ID 5, NHA_GATEWAY 10.9.0.2, NHA_OIF 3.
        let single: Vec<u8> = [
            &[2u8, 0, 0, 0, 0, 0, 0, 0][..],
            &[8, 0, 1, 0],
            &5u32.to_ne_bytes(),
            &[8, 0, 6, 0, 10, 9, 0, 2],
            &[8, 0, 5, 0],
            &3u32.to_ne_bytes(),
        ]
        .concat();
        let nh = parse_nexthop(&single).unwrap();
        assert_eq!(nh.id, 5);
        assert_eq!(nh.gateway.as_deref(), Some("10.9.0.2"));
        assert_eq!(nh.oif, Some(3));
        assert!(nh.group.is_empty());
        // A group: NHA_ID 7, NHA_GROUP [{5, weight 1 (stored 0)}, {6, weight 3 (stored 2)}].
        let group: Vec<u8> = [
            &[0u8, 0, 0, 0, 0, 0, 0, 0][..],
            &[8, 0, 1, 0],
            &7u32.to_ne_bytes(),
            &[20, 0, 2, 0],
            &5u32.to_ne_bytes(),
            &[0, 0, 0, 0],
            &6u32.to_ne_bytes(),
            &[2, 0, 0, 0],
        ]
        .concat();
        let g = parse_nexthop(&group).unwrap();
        assert_eq!(g.group, vec![(5, 1), (6, 3)]);
        // Truncated input yields nothing rather than panicking.
        assert!(parse_nexthop(&group[..3]).is_none());
    }

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize((a.len() + 3) & !3, 0);
        a
    }

    /// A label stack entry: label in bits 31..12, bottom-of-stack bit 8, big-endian.
    fn lse(label: u32, bottom: bool) -> [u8; 4] {
        ((label << 12) | if bottom { 0x100 } else { 0 }).to_be_bytes()
    }

    fn route(payload: &[u8]) -> Route {
        let msg = RouteMessage::parse(payload).unwrap();
        from_message(&msg, payload, &Links::default(), &HashMap::new())
    }

    #[test]
    fn mpls_label_route_as_ip_f_mpls_shows_it() {
        // `300 as to 400 via inet 10.61.0.2 dev if3 proto static`: rtmsg (family
        // AF_MPLS, dst_len 20, table main, static, global, unicast), RTA_DST, RTA_VIA
        // (struct rtvia: u16 family + address), RTA_NEWDST, RTA_OIF.
        let mut p = vec![28u8, 20, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0];
        p.extend(attr(1, &lse(300, true)));
        let mut via = 2u16.to_ne_bytes().to_vec();
        via.extend_from_slice(&[10, 61, 0, 2]);
        p.extend(attr(18, &via));
        p.extend(attr(19, &lse(400, true)));
        p.extend(attr(4, &3u32.to_ne_bytes()));
        let r = route(&p);
        assert_eq!(r.family, "mpls");
        assert_eq!(r.dst, "300");
        assert_eq!(r.gateway.as_deref(), Some("10.61.0.2"));
        assert_eq!(r.encap.as_deref(), Some("as to 400"));
        assert_eq!(r.dev.as_deref(), Some("if3"));
        assert_eq!((r.table.as_str(), r.proto.as_str()), ("main", "static"));
    }

    #[test]
    fn ip_route_with_mpls_push_and_a_vrf_table() {
        // `10.105.0.0/16 encap mpls 100/200 via 10.61.0.2 table 1001`: rtm_table is
        // RT_TABLE_COMPAT (252) and the real id is in RTA_TABLE.
        let mut p = vec![2u8, 16, 0, 0, 252, 3, 0, 1, 0, 0, 0, 0];
        p.extend(attr(15, &1001u32.to_ne_bytes()));
        p.extend(attr(1, &[10, 105, 0, 0]));
        p.extend(attr(5, &[10, 61, 0, 2]));
        p.extend(attr(21, &1u16.to_ne_bytes()));
        let labels = [lse(100, false), lse(200, true)].concat();
        p.extend(attr(22 | 0x8000, &attr(1, &labels)));
        let r = route(&p);
        assert_eq!(r.table, "1001");
        assert_eq!(r.dst, "10.105.0.0/16");
        assert_eq!(r.gateway.as_deref(), Some("10.61.0.2"));
        assert_eq!(r.encap.as_deref(), Some("mpls 100/200"));
        assert_eq!(r.proto, "boot");
    }

    #[test]
    fn names_match_iproute2() {
        assert_eq!(table_name(254), "main");
        assert_eq!(table_name(1001), "1001");
        assert_eq!(protocol_name(186), "bgp");
        assert_eq!(protocol_name(77), "77");
        assert_eq!(scope_name(253), "link");
        assert_eq!(route_type_name(3), "broadcast");
        assert_eq!(encap_type_name(1), "mpls");
    }
}
