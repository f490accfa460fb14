//! The `fhrp` section: first-hop redundancy groups seen in a capture (HSRP, VRRP, GLBP,
//! CARP) with their virtual IP and MAC, who is active and standby, every state change
//! with its frame, and the gratuitous ARPs a router sends when it takes over.

use crate::pcap::analyze::{FrameCtx, Section};
use netkit_dissectors::app::{decode, App, AppContext};
use netkit_dissectors::fhrp::{glbp, hsrp, vrrp};
use netkit_dissectors::link::Mac;
use netkit_dissectors::{AppProto, Frame, Layer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Cisco's "uplinkfast" multicast MAC: HSRP routers also send their takeover
/// gratuitous ARP there, so switches relearn the virtual MAC's port at once.
const CISCO_UPLINKFAST: Mac = Mac([0x01, 0x00, 0x0c, 0xcd, 0xcd, 0xcd]);

/// Bounded lists: a flapping group over hours must not grow memory without end.
const MAX_EVENTS: usize = 200;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FhrpGroup {
    /// `hsrp`, `vrrp`, `glbp` or `carp`.
    pub protocol: &'static str,
    /// Protocol versions seen (`v1`, `v2`, `v2-ipv6` for HSRP; `v2`, `v3` for VRRP).
    pub versions: Vec<String>,
    pub family: &'static str,
    pub group_id: u16,
    pub virtual_ip: Vec<String>,
    pub virtual_mac: Vec<Mac>,
    /// The router currently active (HSRP Active, VRRP/CARP master, GLBP AVG), by IP.
    pub active: Option<String>,
    /// The router in Standby (HSRP, GLBP AVG standby).
    pub standby: Option<String>,
    pub routers: Vec<Router>,
    pub state_changes: Vec<StateChange>,
    pub gratuitous_arps: Vec<GratuitousArp>,
    pub frames: u64,
    pub first_frame: u64,
    pub last_frame: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Router {
    pub ip: String,
    pub priority: u32,
    pub state: String,
    pub frames: u64,
    /// The router's last hello: one that went silent while Active has failed.
    pub last_frame: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StateChange {
    pub frame: u64,
    pub router: String,
    pub from: Option<String>,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GratuitousArp {
    pub frame: u64,
    pub ip: String,
    pub mac: Mac,
    /// Sent to Cisco's uplinkfast address rather than broadcast.
    pub to_uplinkfast: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FhrpSection {
    pub groups: Vec<FhrpGroup>,
}

#[derive(Debug, Default)]
pub struct FhrpAnalysis {
    groups: BTreeMap<(&'static str, &'static str, u16), FhrpGroup>,
    /// Gratuitous ARPs from a virtual MAC seen before the group's first hello.
    early_arps: Vec<GratuitousArp>,
}

/// What one hello says about one group.
struct Claim {
    protocol: &'static str,
    version: String,
    group_id: u16,
    virtual_ips: Vec<IpAddr>,
    virtual_mac: Option<Mac>,
    priority: u32,
    state: String,
    active: bool,
    standby: bool,
}

impl Section for FhrpAnalysis {
    fn feed(&mut self, ctx: &FrameCtx<'_>) {
        self.observe(ctx.raw.number, ctx.frame);
    }
}

impl FhrpAnalysis {
    pub fn observe(&mut self, number: u64, frame: &Frame<'_>) {
        let own = frame.own_layers();
        let mut sender = None;
        let mut eth_dst = None;
        for (i, layer) in own.iter().enumerate() {
            match layer {
                Layer::Ethernet(e) => eth_dst = Some(e.dst),
                Layer::Ipv4(h) => sender = Some(IpAddr::V4(h.src)),
                Layer::Ipv6(h) => sender = Some(IpAddr::V6(h.src)),
                Layer::Arp(a) if a.is_gratuitous() && a.operation <= 2 => {
                    self.gratuitous_arp(number, a.sender_ip.into(), a.sender_mac, eth_dst);
                }
                Layer::App {
                    proto: proto @ (AppProto::Hsrp | AppProto::Vrrp | AppProto::Glbp),
                    data,
                    offset,
                } => {
                    let Some(src) = sender else { continue };
                    let ctx = AppContext::of(own, i);
                    if let Ok(app) = decode(*proto, data, *offset, ctx) {
                        for claim in claims(&app, ctx.ip_version) {
                            self.claim(number, src, claim);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn claim(&mut self, number: u64, src: IpAddr, c: Claim) {
        let family = if src.is_ipv4() { "ipv4" } else { "ipv6" };
        let g = self
            .groups
            .entry((c.protocol, family, c.group_id))
            .or_insert_with(|| FhrpGroup {
                protocol: c.protocol,
                versions: Vec::new(),
                family,
                group_id: c.group_id,
                virtual_ip: Vec::new(),
                virtual_mac: Vec::new(),
                active: None,
                standby: None,
                routers: Vec::new(),
                state_changes: Vec::new(),
                gratuitous_arps: Vec::new(),
                frames: 0,
                first_frame: number,
                last_frame: number,
            });
        g.frames += 1;
        g.last_frame = number;
        if !g.versions.contains(&c.version) {
            g.versions.push(c.version);
        }
        for ip in c.virtual_ips {
            let s = ip.to_string();
            if !g.virtual_ip.contains(&s) {
                g.virtual_ip.push(s);
            }
        }
        if let Some(m) = c.virtual_mac {
            if !g.virtual_mac.contains(&m) {
                g.virtual_mac.push(m);
            }
        }
        let who = src.to_string();
        let prev = match g.routers.iter_mut().find(|r| r.ip == who) {
            Some(r) => {
                r.frames += 1;
                r.last_frame = number;
                r.priority = c.priority;
                let prev = (r.state != c.state).then(|| r.state.clone());
                r.state = c.state.clone();
                prev.map(Some)
            }
            None => {
                g.routers.push(Router {
                    ip: who.clone(),
                    priority: c.priority,
                    state: c.state.clone(),
                    frames: 1,
                    last_frame: number,
                });
                Some(None)
            }
        };
        // A first sighting is a change too (from nothing), so the list shows who came
        // up in which state; repeats of the same state are not.
        if let Some(from) = prev {
            if g.state_changes.len() < MAX_EVENTS {
                g.state_changes.push(StateChange {
                    frame: number,
                    router: who.clone(),
                    from,
                    to: c.state.clone(),
                });
            }
        }
        if c.active {
            g.active = Some(who.clone());
            if g.standby.as_deref() == Some(who.as_str()) {
                g.standby = None;
            }
        } else if g.active.as_deref() == Some(who.as_str()) {
            g.active = None;
        }
        if c.standby {
            g.standby = Some(who);
        } else if g.standby.as_deref() == Some(who.as_str()) {
            g.standby = None;
        }
        // ARPs that arrived before this group was known belong to it if they announce
        // one of its addresses.
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early_arps)
            .into_iter()
            .partition(|a| g.virtual_ip.contains(&a.ip));
        g.gratuitous_arps.extend(mine);
        self.early_arps = rest;
    }

    fn gratuitous_arp(&mut self, number: u64, ip: IpAddr, mac: Mac, dst: Option<Mac>) {
        let to_uplinkfast = dst == Some(CISCO_UPLINKFAST);
        let ip_s = ip.to_string();
        let arp = GratuitousArp {
            frame: number,
            ip: ip_s.clone(),
            mac,
            to_uplinkfast,
        };
        if let Some(g) = self
            .groups
            .values_mut()
            .find(|g| g.virtual_ip.contains(&ip_s) || g.virtual_mac.contains(&mac))
        {
            if g.gratuitous_arps.len() < MAX_EVENTS {
                g.gratuitous_arps.push(arp);
            }
        } else if (to_uplinkfast || is_virtual_mac(mac)) && self.early_arps.len() < MAX_EVENTS {
            self.early_arps.push(arp);
        }
    }

    /// The groups so far, each with its routers and state changes.
    pub fn groups(&self) -> impl Iterator<Item = &FhrpGroup> {
        self.groups.values()
    }

    pub fn finish(self) -> FhrpSection {
        FhrpSection {
            groups: self.groups.into_values().collect(),
        }
    }
}

/// MACs that first-hop redundancy protocols use as virtual router MACs.
fn is_virtual_mac(m: Mac) -> bool {
    let o = m.0;
    matches!(o, [0x00, 0x00, 0x0c, 0x07, 0xac, _])
        || matches!(o, [0x00, 0x00, 0x0c, 0x9f, hi, _] if hi >> 4 == 0xf)
        || matches!(o, [0x00, 0x05, 0x73, 0xa0, hi, _] if hi >> 4 == 0)
        || matches!(o, [0x00, 0x00, 0x5e, 0x00, 0x01 | 0x02, _])
        || matches!(o, [0x00, 0x07, 0xb4, ..])
}

fn claims(app: &App<'_>, ip_version: u8) -> Vec<Claim> {
    match app {
        App::Hsrp(h) => {
            let version = match h.version {
                hsrp::HsrpVersion::V1 => "v1",
                hsrp::HsrpVersion::V2 => "v2",
                hsrp::HsrpVersion::V2Ipv6 => "v2-ipv6",
            };
            h.groups
                .iter()
                .map(|g| Claim {
                    protocol: "hsrp",
                    version: version.to_string(),
                    group_id: g.group,
                    // 0.0.0.0 means "not configured here, learn it from the active".
                    virtual_ips: Some(g.virtual_ip)
                        .filter(|ip| !ip.is_unspecified())
                        .into_iter()
                        .collect(),
                    virtual_mac: Some(g.default_virtual_mac(h.version)),
                    priority: g.priority,
                    // A coup or resign shows as the state the router announces with
                    // it (a coup comes from a router taking over), as tshark's
                    // hsrp.state does.
                    state: g.state.to_string(),
                    active: g.state == hsrp::State::Active,
                    standby: g.state == hsrp::State::Standby,
                })
                .collect()
        }
        App::Vrrp(vrrp::Vrrp::Vrrp(v)) => {
            // The sender of advertisements is the master; priority 0 says it resigns.
            let resigning = v.priority == 0;
            vec![Claim {
                protocol: "vrrp",
                version: format!("v{}", v.version),
                group_id: u16::from(v.vrid),
                virtual_ips: v.addresses.clone(),
                virtual_mac: Some(v.virtual_mac(ip_version)),
                priority: u32::from(v.priority),
                state: if resigning { "Resign" } else { "Master" }.to_string(),
                active: !resigning,
                standby: false,
            }]
        }
        App::Vrrp(vrrp::Vrrp::Carp(c)) => vec![Claim {
            protocol: "carp",
            version: format!("v{}", c.version),
            group_id: u16::from(c.vhid),
            virtual_ips: Vec::new(),
            // CARP uses VRRP's virtual MAC block with the VHID.
            virtual_mac: Some(Mac([0x00, 0x00, 0x5e, 0x00, 0x01, c.vhid])),
            priority: u32::from(c.advskew),
            state: "Master".to_string(),
            active: true,
            standby: false,
        }],
        App::Glbp(g) => {
            let Some(hello) = g.hello() else {
                return Vec::new();
            };
            vec![Claim {
                protocol: "glbp",
                version: format!("v{}", g.version),
                group_id: g.group,
                virtual_ips: hello.virtual_ip.into_iter().collect(),
                virtual_mac: g.forwarders().map(|f| f.virtual_mac).next(),
                priority: u32::from(hello.priority),
                state: hello.vg_state.to_string(),
                active: hello.vg_state == glbp::State::Active,
                standby: hello.vg_state == glbp::State::Standby,
            }]
        }
        _ => Vec::new(),
    }
}
