//! The `multicast` section: traffic to groups with its senders, IGMP/MLD and PIM joins
//! and leaves (prunes), and groups of the capture that share a MAC.

use crate::mcast::rules::{classify, MacCollisions};
use crate::mcast::CollisionOut;
use crate::pcap::analyze::{FrameCtx, Section};
use netkit_dissectors::link::Mac;
use netkit_dissectors::mcast::Scope;
use netkit_dissectors::net::igmp_type;
use netkit_dissectors::{Frame, Layer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One group in the `multicast` section of `pcap analyze`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedGroup {
    pub group: String,
    pub mac: String,
    /// Frames sent to the group.
    pub frames: u64,
    /// Source addresses of those frames, sorted.
    pub senders: Vec<String>,
    /// IGMP/MLD membership reports and PIM Join/Prunes that join (joins), and leaves
    /// (IGMPv2 leave, MLD done, IGMPv3/MLDv2 records that stop listening, PIM prunes)
    /// for the group.
    pub joins: u64,
    pub leaves: u64,
    pub name: Option<&'static str>,
    pub scope: Scope,
    /// 1-based frame numbers, for Wireshark's `frame.number == N`.
    pub first_frame: u64,
    pub join_frames: Vec<u64>,
    pub leave_frames: Vec<u64>,
    /// Frames to the group whose destination MAC is not the group's mapped MAC.
    pub mac_mismatch_frames: Vec<u64>,
    /// Sources PIM Join/Prune messages joined the group for, sorted: an address for
    /// (S,G), `* (RP addr)` for (*,G).
    pub pim_joined_sources: Vec<String>,
    /// Sources PIM Join/Prune messages pruned from the group, written the same way.
    pub pim_pruned_sources: Vec<String>,
}

/// The `multicast` section of `pcap analyze`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MulticastSection {
    pub groups: Vec<ObservedGroup>,
    pub collisions: Vec<CollisionOut>,
}

#[derive(Debug, Clone, Default)]
struct GroupState {
    frames: u64,
    senders: std::collections::BTreeSet<IpAddr>,
    joins: u64,
    leaves: u64,
    first_frame: u64,
    join_frames: Vec<u64>,
    leave_frames: Vec<u64>,
    mac_mismatch_frames: Vec<u64>,
    pim_joined: std::collections::BTreeSet<String>,
    pim_pruned: std::collections::BTreeSet<String>,
}

/// Sources kept per group and list, so a flood of Join/Prunes stays bounded.
const MAX_PIM_SOURCES: usize = 100;

/// Streaming engine for captures: the analyze pipeline feeds it what the dissectors
/// decoded (multicast traffic and IGMP/MLD membership changes) and reads a snapshot.
/// Non-multicast addresses are ignored. Frame lists keep the first
/// [`MulticastAnalysis::FRAME_LIST_LIMIT`] frames so memory stays bounded.
#[derive(Debug, Clone, Default)]
pub struct MulticastAnalysis {
    groups: BTreeMap<IpAddr, GroupState>,
}

impl MulticastAnalysis {
    pub const FRAME_LIST_LIMIT: usize = 100;
    /// Groups followed at once (about 1 KB each).
    pub const MAX_GROUPS: usize = 10_000;

    fn state(&mut self, group: IpAddr, frame: u64) -> Option<&mut GroupState> {
        netkit_dissectors::mcast::group_mac(group)?;
        // A capture of traffic to countless groups (a scan, garbage) keeps the first
        // ones; the report's group list stays readable and memory flat.
        if !self.groups.contains_key(&group) && self.groups.len() >= Self::MAX_GROUPS {
            return None;
        }
        let st = self.groups.entry(group).or_default();
        if st.first_frame == 0 || frame < st.first_frame {
            st.first_frame = frame;
        }
        Some(st)
    }

    /// A frame from `sender` to `group`; `dst_mac` is the frame's Ethernet destination
    /// when the link type has one.
    pub fn traffic(&mut self, frame: u64, sender: IpAddr, group: IpAddr, dst_mac: Option<Mac>) {
        let expected = netkit_dissectors::mcast::group_mac(group);
        let Some(st) = self.state(group, frame) else {
            return;
        };
        st.frames += 1;
        st.senders.insert(sender);
        if dst_mac.is_some() && dst_mac != expected {
            push_limited(&mut st.mac_mismatch_frames, frame);
        }
    }

    /// A membership report (IGMP v1/v2 report, IGMPv3/MLDv2 record that listens, MLDv1
    /// report) for `group`.
    pub fn join(&mut self, frame: u64, group: IpAddr) {
        if let Some(st) = self.state(group, frame) {
            st.joins += 1;
            push_limited(&mut st.join_frames, frame);
        }
    }

    /// A PIM Join/Prune entry for `group`: a join when it joins sources, a leave when
    /// it prunes them.
    pub fn pim(&mut self, frame: u64, g: &netkit_dissectors::net::PimGroup) {
        if !g.joined.is_empty() {
            self.join(frame, g.group);
        }
        if !g.pruned.is_empty() {
            self.leave(frame, g.group);
        }
        let Some(st) = self.groups.get_mut(&g.group) else {
            return;
        };
        for (sources, set) in [
            (&g.joined, &mut st.pim_joined),
            (&g.pruned, &mut st.pim_pruned),
        ] {
            for s in sources {
                if set.len() < MAX_PIM_SOURCES {
                    set.insert(s.to_string());
                }
            }
        }
    }

    /// A leave (IGMPv2 leave, MLDv1 done, a v3 record that stops listening) for `group`.
    pub fn leave(&mut self, frame: u64, group: IpAddr) {
        if let Some(st) = self.state(group, frame) {
            st.leaves += 1;
            push_limited(&mut st.leave_frames, frame);
        }
    }

    /// The MACs two groups or more seen so far share, each with those groups and
    /// the frame each was first seen in.
    pub fn collisions_so_far(&self) -> Vec<(String, Vec<(String, u64)>)> {
        let mut collisions = MacCollisions::new();
        for group in self.groups.keys() {
            if classify(*group).is_ok() {
                collisions.add(*group);
            }
        }
        collisions
            .collisions()
            .into_iter()
            .map(|c| {
                let groups = c
                    .groups
                    .iter()
                    .map(|g| {
                        let first = self.groups.get(g).map_or(0, |st| st.first_frame);
                        (g.to_string(), first)
                    })
                    .collect();
                (c.mac.to_string(), groups)
            })
            .collect()
    }

    pub fn finish(self) -> MulticastSection {
        let mut collisions = MacCollisions::new();
        let groups = self
            .groups
            .iter()
            .filter_map(|(group, st)| {
                let info = classify(*group).ok()?;
                collisions.add(*group);
                Some(ObservedGroup {
                    group: group.to_string(),
                    mac: info.mac.to_string(),
                    frames: st.frames,
                    senders: st.senders.iter().map(|s| s.to_string()).collect(),
                    joins: st.joins,
                    leaves: st.leaves,
                    name: info.name,
                    scope: info.scope,
                    first_frame: st.first_frame,
                    join_frames: st.join_frames.clone(),
                    leave_frames: st.leave_frames.clone(),
                    mac_mismatch_frames: st.mac_mismatch_frames.clone(),
                    pim_joined_sources: st.pim_joined.iter().cloned().collect(),
                    pim_pruned_sources: st.pim_pruned.iter().cloned().collect(),
                })
            })
            .collect();
        MulticastSection {
            groups,
            collisions: collisions
                .collisions()
                .into_iter()
                .map(CollisionOut::from)
                .collect(),
        }
    }
}

fn push_limited(list: &mut Vec<u64>, frame: u64) {
    if list.len() < MulticastAnalysis::FRAME_LIST_LIMIT {
        list.push(frame);
    }
}

impl Section for MulticastAnalysis {
    fn feed(&mut self, ctx: &FrameCtx<'_>) {
        observe(self, ctx.raw.number, ctx.frame);
    }
}

fn observe(obs: &mut MulticastAnalysis, number: u64, frame: &Frame<'_>) {
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
            Layer::Pim(p) => {
                for g in p.join_prune().0 {
                    obs.pim(number, &g);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn observer_counts_traffic_joins_leaves_and_collisions() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let mut o = MulticastAnalysis::default();
        let good = Some("01:00:5e:01:01:01".parse::<Mac>().unwrap());
        o.join(3, ip("239.1.1.1"));
        o.traffic(5, ip("10.0.0.1"), ip("239.1.1.1"), good);
        o.traffic(6, ip("10.0.0.2"), ip("239.1.1.1"), good);
        o.traffic(7, ip("10.0.0.1"), ip("239.1.1.1"), Some(Mac::BROADCAST));
        o.traffic(8, ip("10.0.0.9"), ip("239.129.1.1"), None);
        o.leave(9, ip("239.1.1.1"));
        o.traffic(10, ip("10.0.0.1"), ip("10.0.0.2"), None);
        o.join(11, ip("ff02::fb"));
        let v = serde_json::to_value(o.finish()).unwrap();
        assert_eq!(
            v["groups"][0],
            json!({
                "group": "239.1.1.1", "mac": "01:00:5e:01:01:01", "frames": 3,
                "senders": ["10.0.0.1", "10.0.0.2"], "joins": 1, "leaves": 1,
                "name": null, "scope": "admin_reserved", "first_frame": 3,
                "join_frames": [3], "leave_frames": [9], "mac_mismatch_frames": [7],
                "pim_joined_sources": [], "pim_pruned_sources": []
            })
        );
        assert_eq!(v["groups"][1]["group"], "239.129.1.1");
        assert_eq!(v["groups"][2]["group"], "ff02::fb");
        assert_eq!(v["groups"][2]["joins"], 1);
        assert_eq!(v["groups"].as_array().unwrap().len(), 3);
        assert_eq!(
            v["collisions"],
            json!([{"mac": "01:00:5e:01:01:01", "groups": ["239.1.1.1", "239.129.1.1"]}])
        );
    }
}
