//! Feeds the `multicast` section's engine ([`crate::mcast::MulticastObserver`]): traffic
//! to groups with its senders, and IGMP/MLD joins and leaves.

use crate::mcast::MulticastObserver;
use netkit_dissectors::net::igmp_type;
use netkit_dissectors::{Frame, Layer};
use std::net::IpAddr;

pub fn feed(obs: &mut MulticastObserver, number: u64, frame: &Frame<'_>) {
    let own = frame.own_layers();
    let mut eth_dst = None;
    let mut ip: Option<(IpAddr, IpAddr)> = None;
    for layer in own {
        match layer {
            Layer::Ethernet(e) => eth_dst = Some(e.dst),
            Layer::Ipv4(h) => ip = Some((h.src.into(), h.dst.into())),
            Layer::Ipv6(h) => ip = Some((h.src.into(), h.dst.into())),
            Layer::Igmp(g) => match g.msg_type {
                igmp_type::V1_REPORT | igmp_type::V2_REPORT => obs.join(number, g.group.into()),
                igmp_type::V2_LEAVE => obs.leave(number, g.group.into()),
                igmp_type::V3_REPORT => {
                    for r in g.v3_records().0 {
                        if r.is_join() {
                            obs.join(number, r.group);
                        } else if r.is_leave() {
                            obs.leave(number, r.group);
                        }
                    }
                }
                _ => {}
            },
            Layer::Icmp(i) if i.is_mld() => match i.icmp_type {
                131 => {
                    if let Some(g) = i.mld_group() {
                        obs.join(number, g.into());
                    }
                }
                132 => {
                    if let Some(g) = i.mld_group() {
                        obs.leave(number, g.into());
                    }
                }
                143 => {
                    for r in i.mld_v2_records().0 {
                        if r.is_join() {
                            obs.join(number, r.group);
                        } else if r.is_leave() {
                            obs.leave(number, r.group);
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    // Traffic counts once per frame, for the innermost IP packet sent to a group.
    if let Some((src, dst)) = ip {
        if dst.is_multicast() {
            obs.traffic(number, src, dst, eth_dst);
        }
    }
}
