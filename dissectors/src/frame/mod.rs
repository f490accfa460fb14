//! One pass over a captured frame: the layered, borrowed view every netkit engine reads.
//!
//! [`dissect`] walks from the capture's link type down through VLAN tags, MPLS label
//! stacks, IP, transport and tunnels (GRE, ERSPAN, VXLAN, Geneve, MPLS-in-UDP, IP-in-IP),
//! decoding tunnelled frames recursively so inner frames read like outer ones. Control
//! and application payloads (CDP, LLDP, HSRP, DNS, HTTP, ...) are identified here and
//! kept as a borrowed [`Layer::App`] slice; [`crate::app::decode`] turns one into its
//! decoded message when a consumer wants the details, so a census never pays for
//! decoding it does not need.

use crate::error::DecodeError;
use crate::link::{CiscoHdlc, Ethernet, Llc, Null, Ppp, Pppoe, Sll, Vlan};
use crate::net::{Arp, Igmp, Ipv4, Ipv6, Mpls, Pim};
use crate::transport::{Icmp, Tcp, Udp};
use crate::tunnel::{Erspan, Esp, Geneve, Gre, Gtpu, L2tp, Vxlan};
use serde::Serialize;

mod walk;

/// Most encapsulations netkit follows in one frame before giving up: a guard against
/// crafted frames that nest tunnels without end.
const MAX_NESTING: u8 = 12;

/// Application and control protocols recognised in payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProto {
    Cdp,
    Lldp,
    Stp,
    /// Cisco Dynamic Trunking Protocol (SNAP 00000c/2004).
    Dtp,
    /// Cisco VLAN Trunking Protocol (SNAP 00000c/2003).
    Vtp,
    Hsrp,
    /// IP protocol 112: VRRP or CARP; [`crate::app::decode`] tells them apart.
    Vrrp,
    Glbp,
    /// Cisco Layer-2 traceroute, UDP 2228.
    L2trace,
    Dns,
    Http,
    /// IKE on UDP 500/4500 (a zero non-ESP marker on 4500).
    Ike,
    /// NAT-T keepalive: one 0xff byte on UDP 4500 (RFC 3948 section 2.3).
    NattKeepalive,
}

impl AppProto {
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Cdp => "cdp",
            AppProto::Lldp => "lldp",
            AppProto::Stp => "stp",
            AppProto::Dtp => "dtp",
            AppProto::Vtp => "vtp",
            AppProto::Hsrp => "hsrp",
            AppProto::Vrrp => "vrrp",
            AppProto::Glbp => "glbp",
            AppProto::L2trace => "l2trace",
            AppProto::Dns => "dns",
            AppProto::Http => "http",
            AppProto::Ike => "ike",
            AppProto::NattKeepalive => "natt-keepalive",
        }
    }
}

/// What `--decode-as udp.port=N:PROTO` can ask for, as Wireshark's "Decode As" does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpDecode {
    Vxlan,
    Geneve,
    Esp,
    MplsInUdp,
    L2trace,
    Dns,
    Hsrp,
    Glbp,
    Gtp,
    L2tp,
    /// Not offered to --decode-as: IKE is only followed so it is named in `pcap show`.
    Ike,
}

/// Why a `--decode-as` specification was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeAsError {
    /// Not `udp.port=N:PROTO`.
    Syntax(String),
    /// A protocol `--decode-as` does not know.
    UnknownProtocol(String),
}

impl std::fmt::Display for DecodeAsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeAsError::Syntax(spec) => write!(
                f,
                "--decode-as '{spec}': expected udp.port=N:PROTO, e.g. udp.port=8472:vxlan"
            ),
            DecodeAsError::UnknownProtocol(p) => write!(
                f,
                "unknown protocol '{p}' (known: vxlan, geneve, esp, mpls, l2trace, dns, hsrp, \
                 glbp, gtp, l2tp)"
            ),
        }
    }
}

impl std::error::Error for DecodeAsError {}

impl std::str::FromStr for UdpDecode {
    type Err = DecodeAsError;
    fn from_str(s: &str) -> Result<Self, DecodeAsError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "vxlan" => UdpDecode::Vxlan,
            "geneve" => UdpDecode::Geneve,
            "esp" => UdpDecode::Esp,
            "mpls" => UdpDecode::MplsInUdp,
            "l2trace" => UdpDecode::L2trace,
            "dns" => UdpDecode::Dns,
            "hsrp" => UdpDecode::Hsrp,
            "glbp" => UdpDecode::Glbp,
            "gtp" | "gtpu" => UdpDecode::Gtp,
            "l2tp" => UdpDecode::L2tp,
            other => return Err(DecodeAsError::UnknownProtocol(other.to_string())),
        })
    }
}

/// Dissection preferences.
#[derive(Debug, Clone, Default)]
pub struct DissectOptions {
    /// UDP ports decoded as a given protocol, checked before the well-known ports.
    pub udp_decode_as: Vec<(u16, UdpDecode)>,
}

impl DissectOptions {
    /// Parses Wireshark-style `udp.port=8472:vxlan` (also `udp.port==8472,vxlan`).
    pub fn add_decode_as(&mut self, spec: &str) -> Result<(), DecodeAsError> {
        let bad = || DecodeAsError::Syntax(spec.to_string());
        let rest = spec.strip_prefix("udp.port").ok_or_else(bad)?;
        let rest = rest.trim_start_matches('=');
        let (port, proto) = rest.split_once([':', ',']).ok_or_else(bad)?;
        let port: u16 = port.trim().parse().map_err(|_| bad())?;
        self.udp_decode_as.push((port, proto.trim().parse()?));
        Ok(())
    }
}

/// One decoded layer. Header fields are copied out (they are small); payloads stay
/// borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "layer", rename_all = "lowercase")]
pub enum Layer<'a> {
    Ethernet(Ethernet),
    Llc(Llc),
    Vlan(Vlan),
    Sll(Sll),
    Null(Null),
    CiscoHdlc(CiscoHdlc),
    Ppp(Ppp),
    Pppoe(Pppoe),
    Mpls(Mpls),
    /// The 4-byte pseudowire control word seen after an MPLS stack (RFC 4385).
    PwControlWord(u32),
    Arp(Arp),
    Ipv4(Ipv4<'a>),
    Ipv6(Ipv6),
    Tcp(Tcp<'a>),
    Udp(Udp<'a>),
    Icmp(Icmp<'a>),
    Igmp(Igmp<'a>),
    Pim(Pim<'a>),
    Gre(Gre),
    Erspan(Erspan),
    Vxlan(Vxlan),
    Geneve(Geneve),
    Esp(Esp<'a>),
    Gtp(Gtpu),
    L2tp(L2tp),
    /// Marks the start of the packet an ICMP error quotes: layers after it describe
    /// the offending packet, not traffic of this frame, so flow engines stop here.
    IcmpQuote,
    /// A recognised application/control payload, decoded on demand.
    App {
        proto: AppProto,
        /// Offset of `data` within the frame, to rebase decode errors.
        offset: usize,
        #[serde(skip)]
        data: &'a [u8],
    },
}

impl Layer<'_> {
    /// The protocol's short name, as in `eth/vlan/ipv4/tcp/http` and the census keys.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Ethernet(_) => "eth",
            Layer::Llc(_) => "llc",
            Layer::Vlan(_) => "vlan",
            Layer::Sll(s) if s.version == 2 => "sll2",
            Layer::Sll(_) => "sll",
            Layer::Null(_) => "null",
            Layer::CiscoHdlc(_) => "chdlc",
            Layer::Ppp(_) => "ppp",
            Layer::Pppoe(_) => "pppoe",
            Layer::Mpls(_) => "mpls",
            Layer::PwControlWord(_) => "pwcw",
            Layer::Arp(_) => "arp",
            Layer::Ipv4(_) => "ipv4",
            Layer::Ipv6(_) => "ipv6",
            Layer::Tcp(_) => "tcp",
            Layer::Udp(_) => "udp",
            Layer::Icmp(i) if i.is_mld() => "mld",
            Layer::Icmp(i) if i.version == 6 => "icmpv6",
            Layer::Icmp(_) => "icmp",
            // Protocols that ride on IGMP's protocol number but are not IGMP (Wireshark
            // hands them to their own dissectors; mtrace it keeps as IGMP).
            Layer::Igmp(g) => match g.msg_type {
                crate::net::igmp_type::DVMRP => "dvmrp",
                crate::net::igmp_type::PIM_V1 => "pim",
                0xfc..=0xff => "rgmp",
                _ => "igmp",
            },
            Layer::Pim(_) => "pim",
            Layer::Gre(_) => "gre",
            Layer::Erspan(_) => "erspan",
            Layer::Vxlan(_) => "vxlan",
            Layer::Geneve(_) => "geneve",
            Layer::Esp(_) => "esp",
            Layer::Gtp(_) => "gtp",
            Layer::L2tp(_) => "l2tp",
            Layer::IcmpQuote => "quoted",
            Layer::App { proto, .. } => proto.name(),
        }
    }
}

/// The dissected frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<'a> {
    pub linktype: u16,
    pub data: &'a [u8],
    pub layers: Vec<Layer<'a>>,
    /// Set when decoding stopped early: the layers before it are still valid.
    pub error: Option<DecodeError>,
}

impl<'a> Frame<'a> {
    /// Layers of the traffic itself, without an ICMP error's quoted packet.
    pub fn own_layers(&self) -> &[Layer<'a>] {
        let end = self
            .layers
            .iter()
            .position(|l| matches!(l, Layer::IcmpQuote))
            .unwrap_or(self.layers.len());
        &self.layers[..end]
    }

    /// The innermost TCP segment of the frame's own traffic, with the IP layer that
    /// carried it.
    pub fn innermost_tcp(&self) -> Option<(&Layer<'a>, &Tcp<'a>)> {
        let own = self.own_layers();
        let i = own.iter().rposition(|l| matches!(l, Layer::Tcp(_)))?;
        let ip = own[..i]
            .iter()
            .rev()
            .find(|l| matches!(l, Layer::Ipv4(_) | Layer::Ipv6(_)))?;
        match &own[i] {
            Layer::Tcp(t) => Some((ip, t)),
            _ => None,
        }
    }

    /// `eth/vlan/ipv4/tcp/http`.
    pub fn stack(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                s.push('/');
            }
            s.push_str(l.name());
        }
        s
    }
}

/// Dissects one frame captured with link type `linktype`. Never panics; see the
/// module documentation for what is decoded.
pub fn dissect<'a>(linktype: u16, data: &'a [u8], opts: &DissectOptions) -> Frame<'a> {
    dissect_into(linktype, data, opts, Vec::with_capacity(8))
}

/// [`dissect`] into `layers`' allocation (emptied first): a caller that dissects
/// frame after frame hands each frame's layers back through [`reuse_layers`] and
/// allocates none per frame.
pub fn dissect_into<'a>(
    linktype: u16,
    data: &'a [u8],
    opts: &DissectOptions,
    mut layers: Vec<Layer<'a>>,
) -> Frame<'a> {
    layers.clear();
    let mut d = walk::Dissector {
        data,
        opts,
        layers,
        error: None,
        nesting: 0,
        quoted: false,
    };
    d.link(linktype);
    Frame {
        linktype,
        data,
        layers: d.layers,
        error: d.error,
    }
}

/// Empties a frame's layers and keeps their allocation for another frame's, whose
/// bytes live elsewhere (see [`dissect_into`]).
pub fn reuse_layers<'b>(mut layers: Vec<Layer<'_>>) -> Vec<Layer<'b>> {
    layers.clear();
    // Collecting a vector's own iterator into a vector of a type of the same size and
    // alignment reuses its allocation; nothing is left to convert. Not `filter`, as
    // clippy suggests: that could not change the layers' lifetime.
    #[allow(clippy::unnecessary_filter_map)]
    layers.into_iter().filter_map(|_| None).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Ipv6Fragment;

    fn hex(parts: &[&str]) -> Vec<u8> {
        crate::testutil::hex(&parts.concat())
    }

    #[test]
    fn reused_layers_keep_their_allocation() {
        let frame = hex(&[
            "ffffffffffff020000000001080045000028000140004006",
            "0000c0a80001c0a800020050d43100000001000000005002ffff00000000",
        ]);
        let first = dissect(1, &frame, &DissectOptions::default());
        assert!(first.layers.len() >= 3, "{:?}", first.layers);
        let (ptr, capacity) = (first.layers.as_ptr() as usize, first.layers.capacity());
        let copy = frame.clone();
        let again = dissect_into(
            1,
            &copy,
            &DissectOptions::default(),
            reuse_layers(first.layers),
        );
        assert_eq!(again.layers.as_ptr() as usize, ptr);
        assert_eq!(again.layers.capacity(), capacity);
        assert_eq!(
            again,
            Frame {
                data: &copy,
                ..dissect(1, &frame, &DissectOptions::default())
            }
        );
    }

    #[test]
    fn truncated_ipv6_extension_chain_is_an_error_not_a_crash() {
        // Found by the dissect fuzz target: etherparse 0.21's extension iterator read
        // out of bounds on this frame (VLAN, IPv6, hop-by-hop, then a cut chain).
        let frame = hex(&[
            "333300000066aabbcc0001208100001086dd6e00000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "000000000000000000000000000000000e15fffe800000000000000000000000",
            "66aabbcc0001208100001086dd6e000010000e000000000000000001ff020000",
            "00000000000000000000006607ed07ed000ef00802040001000000000001ff02",
            "000000000000000000000000006607ed07ed00485454502f312e0000",
        ]);
        let f = dissect(
            crate::link::linktype::ETHERNET,
            &frame,
            &DissectOptions::default(),
        );
        assert!(f.layers.iter().any(|l| matches!(l, Layer::Ipv6(_))));
        let _ = f.summary();
    }

    #[test]
    fn a_length_field_pointing_past_the_frame_gives_an_error_inside_it() {
        // Found by fuzzing: IPv4 + AH whose length (255 words) runs past the capture.
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 51, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend([2, 255, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        let f = dissect(crate::link::linktype::IPV4, &p, &DissectOptions::default());
        let e = f.error.expect("truncated AH");
        assert_eq!((e.layer, e.offset), ("ah", 20));
        assert!(e.offset <= p.len());
    }

    #[test]
    fn ipv6_fragment_header_is_read() {
        // IPv6 + fragment header (offset 0, more fragments, id 0x01020304) + UDP
        let mut p = vec![0x60, 0, 0, 0, 0, 16, 44, 64];
        p.extend([0u8; 32]);
        p.extend([17, 0, 0x00, 0x01, 1, 2, 3, 4]);
        p.extend([0x04, 0x00, 0x00, 0x35, 0, 8, 0, 0]);
        let f = dissect(crate::link::linktype::IPV6, &p, &DissectOptions::default());
        let Layer::Ipv6(h) = f.layers[0] else {
            panic!("{:?}", f.layers)
        };
        assert_eq!(h.next_header, 17);
        assert_eq!(
            h.fragment,
            Some(Ipv6Fragment {
                offset: 0,
                more_fragments: true,
                identification: 0x01020304
            })
        );
        assert!(matches!(f.layers[1], Layer::Udp(_)), "{:?}", f.layers);
        assert!(f.error.is_none());
    }

    /// A TCP header (20 bytes, ACK|PSH) and `len` payload bytes.
    fn tcp_with_payload(len: usize) -> Vec<u8> {
        let mut t = vec![
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xfa, 0xf0,
        ];
        t.extend([0, 0, 0, 0]);
        t.resize(20 + len, 0x61);
        t
    }

    fn tcp_payload_len(f: &Frame<'_>) -> u32 {
        match f.layers.iter().find(|l| matches!(l, Layer::Tcp(_))) {
            Some(Layer::Tcp(t)) => t.payload_len,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ip_length_zero_means_offload_and_the_frame_holds_the_segment() {
        // IPv4 total length 0, as a host capturing its own TSO traffic writes it.
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend(tcp_with_payload(3926));
        let f = dissect(crate::link::linktype::IPV4, &p, &DissectOptions::default());
        assert_eq!(tcp_payload_len(&f), 3926);

        // IPv6 payload length 0 without a jumbo option: likewise.
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
        p.extend([0u8; 32]);
        p.extend(tcp_with_payload(2000));
        let f = dissect(crate::link::linktype::IPV6, &p, &DissectOptions::default());
        assert_eq!(tcp_payload_len(&f), 2000);

        // A stated length still bounds the segment (the rest is padding).
        let mut p = vec![
            0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend(tcp_with_payload(100));
        let f = dissect(crate::link::linktype::IPV4, &p, &DissectOptions::default());
        assert_eq!(tcp_payload_len(&f), 10);
    }

    #[test]
    fn pim_join_prune_groups_and_sources_are_read() {
        // PIMv2 Join/Prune: upstream 10.0.0.13, one group 239.1.2.3 joining (S,G)
        // 192.0.2.7 (flags S) and pruning (*,G) with RP 1.1.1.1 (flags SWR).
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 1, 103, 0, 0, 10, 0, 0, 14, 224, 0, 0, 13,
        ];
        p.extend([0x23, 0, 0, 0]);
        p.extend([1, 0, 10, 0, 0, 13, 0, 1, 0, 210]);
        p.extend([1, 0, 0, 32, 239, 1, 2, 3, 0, 1, 0, 1]);
        p.extend([1, 0, 0x04, 32, 192, 0, 2, 7]);
        p.extend([1, 0, 0x07, 32, 1, 1, 1, 1]);
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        let f = dissect(crate::link::linktype::IPV4, &p, &DissectOptions::default());
        let Some(Layer::Pim(pim)) = f.layers.get(1) else {
            panic!("{:?}", f.layers)
        };
        let (groups, err) = pim.join_prune();
        assert!(err.is_none(), "{err:?}");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].group.to_string(), "239.1.2.3");
        let joined: Vec<String> = groups[0].joined.iter().map(|s| s.to_string()).collect();
        let pruned: Vec<String> = groups[0].pruned.iter().map(|s| s.to_string()).collect();
        assert_eq!(joined, ["192.0.2.7"]);
        assert_eq!(pruned, ["* (RP 1.1.1.1)"]);

        // Cut inside the group: what was read, and an error, never a panic.
        let cut = &p[..p.len() - 6];
        let f = dissect(crate::link::linktype::IPV4, cut, &DissectOptions::default());
        if let Some(Layer::Pim(pim)) = f.layers.get(1) {
            let (groups, err) = pim.join_prune();
            assert!(groups.is_empty() && err.is_some());
        }
    }
}
