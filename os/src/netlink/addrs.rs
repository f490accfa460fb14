//! The addresses of one namespace's interfaces (`RTM_GETADDR`), for `netkit addr`.

use super::{DumpError, Links};
use netkit_cmds::addr::Iface;
use netlink_packet_core::Parseable;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_sys::Socket;

const RTM_GETADDR: u16 = 22;

/// Every interface of the socket's namespace, by ifindex, with its addresses (IFA_LOCAL
/// where there is one, as `ip` shows a point-to-point address's own end).
pub fn dump(sock: &Socket, links: &Links) -> Result<Vec<Iface>, DumpError> {
    // struct ifaddrmsg: family (any), prefixlen, flags, scope, index.
    let body = [0u8; 8];
    let mut by_index: Vec<(u32, Iface)> = links
        .0
        .values()
        .map(|l| {
            (
                l.index,
                Iface {
                    netns: String::new(),
                    dev: l.name.clone(),
                    state: if l.oper.is_empty() {
                        "UNKNOWN".to_string()
                    } else {
                        l.oper.clone()
                    },
                    addrs: Vec::new(),
                },
            )
        })
        .collect();
    by_index.sort_by_key(|(i, _)| *i);
    let mut v6 = Vec::new();
    for payload in super::dump(sock, RTM_GETADDR, &body)? {
        let Ok(msg) = AddressMessage::parse(payload.as_slice()) else {
            continue;
        };
        let mut local = None;
        let mut address = None;
        for a in &msg.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                _ => {}
            }
        }
        let Some(ip) = local.or(address) else {
            continue;
        };
        let text = format!("{ip}/{}", msg.header.prefix_len);
        match by_index.iter_mut().find(|(i, _)| *i == msg.header.index) {
            // IPv4 first, as `ip -br a` lists them.
            Some((i, _)) if ip.is_ipv6() => v6.push((*i, text)),
            Some((_, iface)) => iface.addrs.push(text),
            None => {}
        }
    }
    for (i, text) in v6 {
        if let Some((_, iface)) = by_index.iter_mut().find(|(j, _)| *j == i) {
            iface.addrs.push(text);
        }
    }
    Ok(by_index.into_iter().map(|(_, i)| i).collect())
}
