//! Application and control payloads identified by the frame dissector, decoded on
//! demand: [`decode`] turns a [`Layer::App`] into its message.

pub mod dns;
pub mod h2;
pub mod http;
pub mod l2trace;
pub mod tls;
pub mod websocket;

use crate::error::DecodeError;
use crate::fhrp::{glbp, hsrp, vrrp};
use crate::frame::{AppProto, Layer};
use crate::l2ctl::{cdp, lldp, stp};
use std::fmt;

/// A decoded application or control message.
#[derive(Debug)]
pub enum App<'a> {
    Cdp(cdp::Cdp<'a>),
    Lldp(lldp::Lldp<'a>),
    Stp(stp::Stp),
    Hsrp(hsrp::Hsrp<'a>),
    /// VRRP or CARP (IP protocol 112).
    Vrrp(vrrp::Vrrp<'a>),
    Glbp(glbp::Glbp<'a>),
    L2trace(l2trace::L2tMessage),
    Dns(dns::Dns),
    Http(http::HttpHead<'a>),
    /// Identified but not decoded further (DTP, VTP, IKE, NAT-T keepalives).
    Opaque(AppProto, usize),
}

impl fmt::Display for App<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            App::Cdp(m) => write!(f, "{m}"),
            App::Lldp(m) => write!(f, "{m}"),
            App::Stp(m) => write!(f, "{m}"),
            App::Hsrp(m) => write!(f, "{m}"),
            App::Vrrp(m) => write!(f, "{m}"),
            App::Glbp(m) => write!(f, "{m}"),
            App::L2trace(m) => write!(f, "{m}"),
            App::Dns(m) => write!(f, "{m}"),
            App::Http(m) => write!(f, "{m}"),
            App::Opaque(p, len) => write!(f, "{} ({len} bytes)", p.name().to_uppercase()),
        }
    }
}

/// What a decoder needs to know about the layers below its payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppContext {
    /// 4 or 6 (VRRPv3 differs by IP version); 0 when not over IP.
    pub ip_version: u8,
    /// The UDP/TCP ports (HSRP for IPv6 is told by port 2029).
    pub ports: (u16, u16),
    /// Carried over TCP (DNS over TCP has a length prefix).
    pub tcp: bool,
}

impl AppContext {
    /// The context of `layers[index]`, from the nearest transport and IP layers below.
    pub fn of(layers: &[Layer<'_>], index: usize) -> AppContext {
        let mut ctx = AppContext::default();
        let below = layers.get(..index).unwrap_or(layers);
        for l in below.iter().rev() {
            match l {
                Layer::Udp(u) if ctx.ports == (0, 0) => ctx.ports = (u.src_port, u.dst_port),
                Layer::Tcp(t) if ctx.ports == (0, 0) => {
                    ctx.ports = (t.src_port, t.dst_port);
                    ctx.tcp = true;
                }
                Layer::Ipv4(_) => {
                    ctx.ip_version = 4;
                    break;
                }
                Layer::Ipv6(_) => {
                    ctx.ip_version = 6;
                    break;
                }
                _ => {}
            }
        }
        ctx
    }
}

/// Decodes an application payload; errors are rebased to the frame offset.
pub fn decode<'a>(
    proto: AppProto,
    data: &'a [u8],
    offset: usize,
    ctx: AppContext,
) -> Result<App<'a>, DecodeError> {
    let hsrp_port = if ctx.ports.0 == 2029 || ctx.ports.1 == 2029 {
        2029
    } else {
        1985
    };
    let r = match proto {
        AppProto::Cdp => cdp::parse(data).map(App::Cdp),
        AppProto::Lldp => lldp::parse(data).map(App::Lldp),
        AppProto::Stp => stp::parse(data).map(App::Stp),
        AppProto::Hsrp => hsrp::parse(data, hsrp_port).map(App::Hsrp),
        AppProto::Vrrp => vrrp::parse(data, ctx.ip_version).map(App::Vrrp),
        AppProto::Glbp => glbp::parse(data).map(App::Glbp),
        AppProto::L2trace => l2trace::parse(data).map(App::L2trace),
        AppProto::Dns if ctx.tcp => dns::parse_tcp(data).map(App::Dns),
        AppProto::Dns => dns::parse(data).map(App::Dns),
        AppProto::Http => match http::parse_head(data) {
            Some(r) => r.map(App::Http),
            None => Err(DecodeError::invalid("http", 0, "not an HTTP/1.x head")),
        },
        AppProto::Dtp | AppProto::Vtp | AppProto::Ike | AppProto::NattKeepalive => {
            Ok(App::Opaque(proto, data.len()))
        }
    };
    r.map_err(|e| e.at(offset))
}

/// The census key for an application layer: its protocol name, except that CARP,
/// which shares VRRP's IP protocol number, is counted as `carp` (tshark calls it VRRP).
pub fn census_name(proto: AppProto, data: &[u8]) -> &'static str {
    // The CARP test does not depend on the IP version.
    if proto == AppProto::Vrrp && matches!(vrrp::parse(data, 4), Ok(vrrp::Vrrp::Carp(_))) {
        return "carp";
    }
    proto.name()
}

/// One-line description of `layers[index]` when it is an application layer, as
/// `pcap show` prints it.
pub fn summarize(layers: &[Layer<'_>], index: usize) -> String {
    match layers.get(index) {
        Some(Layer::App {
            proto,
            data,
            offset,
        }) => match decode(*proto, data, *offset, AppContext::of(layers, index)) {
            Ok(app) => app.to_string(),
            Err(e) => format!("{} [{e}]", proto.name().to_uppercase()),
        },
        Some(other) => other.name().to_string(),
        None => String::new(),
    }
}
