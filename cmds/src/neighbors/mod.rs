//! `netkit neighbors`: the CDP/LLDP neighbour cache (shared with the l2trace agent),
//! our own announcements, and decoding what is heard. The listening itself (raw
//! sockets on every interface) is `netkit_os::l2::neighbors`.
//!
//! The cache is keyed by (interface, protocol, device): the same switch heard by CDP
//! and by LLDP is two rows for `neighbors` (as `show cdp neighbors` and `show lldp
//! neighbors` are two tables) but one neighbour for the agent, which counts devices
//! per port to tell "one neighbour, follow it" from "several, a hub" (status 5).

pub mod frames;
pub mod view;

use frames::Discovery;
use netkit_dissectors::l2ctl::cdp::{self, Capabilities, CdpAddress, CdpRepr, CdpTlv};
use netkit_dissectors::l2ctl::lldp::{self, LldpRepr, LldpTlv, SystemCapabilities};
use netkit_dissectors::link::Mac;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Cdp,
    Lldp,
}

/// One neighbour as `neighbors --json` prints it (CLI.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neighbor {
    pub interface: String,
    pub protocol: Protocol,
    pub device_id: String,
    pub port_id: Option<String>,
    pub platform: Option<String>,
    pub mgmt_ip: Option<Ipv4Addr>,
    pub native_vlan: Option<u16>,
    pub capabilities: Vec<String>,
    pub ttl_s: u16,
    /// When the last announcement arrived (RFC 3339, UTC).
    pub last_seen: String,
}

/// Decodes a CDP PDU into a neighbour row; `None` without a device ID.
pub fn from_cdp(interface: &str, pdu: &[u8], now_unix_ns: i64) -> Option<Neighbor> {
    let c = match cdp::parse(pdu) {
        Ok(c) => c,
        Err(_) => return None,
    };
    Some(Neighbor {
        interface: interface.to_string(),
        protocol: Protocol::Cdp,
        device_id: c.device_id()?.to_string(),
        port_id: c.port_id().map(str::to_string),
        platform: c.platform().map(str::to_string),
        mgmt_ip: c.mgmt_ipv4(),
        native_vlan: c.native_vlan(),
        capabilities: c.capabilities().map(|c| c.names()).unwrap_or_default(),
        ttl_s: u16::from(c.ttl),
        last_seen: crate::output::rfc3339_ns(now_unix_ns),
    })
}

/// Decodes an LLDPDU into a neighbour row; the device is its system name, else the
/// chassis ID.
pub fn from_lldp(interface: &str, pdu: &[u8], now_unix_ns: i64) -> Option<Neighbor> {
    let l = match lldp::parse(pdu) {
        Ok(l) => l,
        Err(_) => return None,
    };
    Some(Neighbor {
        interface: interface.to_string(),
        protocol: Protocol::Lldp,
        device_id: l.system_name().or_else(|| l.chassis_id())?,
        port_id: l.port_id().or_else(|| l.port_description()),
        platform: l.system_description(),
        mgmt_ip: l.mgmt_ipv4(),
        native_vlan: l.port_vlan_id(),
        capabilities: l
            .capabilities()
            .map(|c| {
                SystemCapabilities::names(c.enabled)
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        ttl_s: l.ttl()?,
        last_seen: crate::output::rfc3339_ns(now_unix_ns),
    })
}

/// Neighbours with their expiry. Bounded: a port flooded with fake announcements
/// cannot grow it past [`NeighborCache::MAX_ENTRIES`].
#[derive(Debug, Default)]
pub struct NeighborCache {
    entries: BTreeMap<(String, Protocol, String), (Neighbor, Instant)>,
}

impl NeighborCache {
    pub const MAX_ENTRIES: usize = 4096;

    /// Records `n` (a TTL of 0 removes it, as LLDP defines) and says whether the device
    /// was new on that interface, which is when the agent answers with its own
    /// announcement at once instead of waiting for its next period.
    pub fn update(&mut self, n: Neighbor, now: Instant) -> bool {
        self.expire(now);
        let key = (n.interface.clone(), n.protocol, n.device_id.clone());
        let known = self.entries.contains_key(&key);
        if n.ttl_s == 0 {
            self.entries.remove(&key);
        } else if known || self.entries.len() < Self::MAX_ENTRIES {
            let until = now + Duration::from_secs(u64::from(n.ttl_s));
            self.entries.insert(key, (n, until));
        }
        !known
    }

    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|_, (_, until)| *until > now);
    }

    /// Every live row, sorted by interface, protocol and device.
    pub fn rows(&self) -> Vec<Neighbor> {
        self.entries.values().map(|(n, _)| n.clone()).collect()
    }

    /// The distinct devices on one interface, as the agent counts them for L2
    /// traceroute: (device ID, IPv4 management address).
    ///
    /// CDP devices when there are any (Cisco's trace follows CDP), else LLDP ones. One
    /// refinement: when CDP shows several devices but LLDP shows exactly one of them,
    /// that one is the neighbour. LLDP is never forwarded by an 802.1D bridge while
    /// CDP is flooded by any bridge that does not filter it, so this is the signature
    /// of CDP leaking through a bridge (e.g. a netkit agent that had not installed its
    /// filter yet), not of a hub, which would repeat LLDP as well.
    pub fn devices_on_port(&self, interface: &str) -> Vec<(String, Option<Ipv4Addr>)> {
        let distinct = |proto: Protocol| {
            let mut out: Vec<(String, Option<Ipv4Addr>)> = Vec::new();
            for (n, _) in self.entries.values() {
                if n.interface == interface
                    && n.protocol == proto
                    && !out.iter().any(|(d, _)| *d == n.device_id)
                {
                    out.push((n.device_id.clone(), n.mgmt_ip));
                }
            }
            out
        };
        let cdp = distinct(Protocol::Cdp);
        let lldp = distinct(Protocol::Lldp);
        match (cdp.len(), lldp.as_slice()) {
            (0, _) => lldp,
            (1, _) => cdp,
            (_, [(only, _)]) if cdp.iter().any(|(d, _)| d == only) => {
                cdp.into_iter().filter(|(d, _)| d == only).collect()
            }
            _ => cdp,
        }
    }
}

/// Who we say we are in CDP and LLDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub platform: String,
    pub mgmt_ip: Option<Ipv4Addr>,
    /// The chassis MAC for LLDP (the bridge's MAC on a switch).
    pub chassis_mac: Mac,
    pub native_vlan: Option<u16>,
    /// A switch announces the switch/bridge capability, a host the host/station one.
    pub switch: bool,
}

/// Our CDP PDU for `port`, TLVs in IOS's order.
pub fn cdp_announcement(id: &Identity, port: &str, ttl: u8) -> Vec<u8> {
    let caps = if id.switch {
        Capabilities::SWITCH | Capabilities::IGMP
    } else {
        Capabilities::HOST
    };
    let addrs: Vec<CdpAddress> = id
        .mgmt_ip
        .map(|a| CdpAddress::from(IpAddr::V4(a)))
        .into_iter()
        .collect();
    let mut tlvs = vec![
        CdpTlv::DeviceId(id.name.clone()),
        CdpTlv::SoftwareVersion(format!("netkit {}", env!("CARGO_PKG_VERSION"))),
        CdpTlv::Platform(id.platform.clone()),
    ];
    if !addrs.is_empty() {
        tlvs.push(CdpTlv::Addresses(addrs.clone()));
    }
    tlvs.push(CdpTlv::PortId(port.to_string()));
    tlvs.push(CdpTlv::Capabilities(Capabilities(caps)));
    if let Some(v) = id.native_vlan {
        tlvs.push(CdpTlv::NativeVlan(v));
    }
    tlvs.push(CdpTlv::Duplex(cdp::Duplex::Full));
    if !addrs.is_empty() {
        tlvs.push(CdpTlv::MgmtAddresses(addrs));
    }
    CdpRepr {
        version: 2,
        ttl,
        tlvs,
    }
    .emit()
}

/// Our LLDPDU for `port` (ifindex `if_index`).
pub fn lldp_announcement(id: &Identity, port: &str, if_index: u32, ttl: u16) -> Vec<u8> {
    let caps = if id.switch {
        SystemCapabilities::BRIDGE
    } else {
        SystemCapabilities::STATION
    };
    let mut r = LldpRepr::new(id.chassis_mac, port, ttl)
        .with(LldpTlv::PortDescription(port.to_string()))
        .with(LldpTlv::SystemName(id.name.clone()))
        .with(LldpTlv::SystemDescription(id.platform.clone()))
        .with(LldpTlv::Capabilities(SystemCapabilities {
            supported: caps,
            enabled: caps,
        }));
    if let Some(ip) = id.mgmt_ip {
        r = r.with(LldpRepr::mgmt_ip(IpAddr::V4(ip), if_index));
    }
    if let Some(v) = id.native_vlan {
        r = r.with(LldpTlv::PortVlanId(v));
    }
    r.emit()
}

/// Decodes a received frame into a neighbour row, ignoring our own frames (an
/// `ETH_P_ALL` tap sees what we send too). `now_unix_ns` is the arrival time.
pub fn from_frame(
    interface: &str,
    own_mac: Mac,
    frame: &[u8],
    now_unix_ns: i64,
) -> Option<Neighbor> {
    let (src, pdu) = frames::classify(frame)?;
    if src == own_mac {
        return None;
    }
    match pdu {
        Discovery::Cdp(p) => from_cdp(interface, p, now_unix_ns),
        Discovery::Lldp(p) => from_lldp(interface, p, now_unix_ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity {
            name: "sw1".into(),
            platform: "netkit linux-bridge".into(),
            mgmt_ip: Some(Ipv4Addr::new(10, 0, 0, 11)),
            chassis_mac: Mac([2, 0, 0, 0, 0, 0x11]),
            native_vlan: Some(1),
            switch: true,
        }
    }

    #[test]
    fn our_cdp_announcement_decodes_to_what_we_said() {
        let pdu = cdp_announcement(&id(), "veth12", 180);
        assert!(cdp::parse(&pdu).unwrap().checksum_ok());
        let n = from_cdp("p1", &pdu, 0).unwrap();
        assert_eq!(n.device_id, "sw1");
        assert_eq!(n.port_id.as_deref(), Some("veth12"));
        assert_eq!(n.platform.as_deref(), Some("netkit linux-bridge"));
        assert_eq!(n.mgmt_ip, Some(Ipv4Addr::new(10, 0, 0, 11)));
        assert_eq!(n.native_vlan, Some(1));
        assert_eq!(n.capabilities, vec!["switch", "igmp"]);
        assert_eq!(n.ttl_s, 180);
    }

    #[test]
    fn our_lldp_announcement_decodes_to_what_we_said() {
        let pdu = lldp_announcement(&id(), "veth12", 7, 120);
        let n = from_lldp("p1", &pdu, 0).unwrap();
        assert_eq!(n.device_id, "sw1");
        assert_eq!(n.port_id.as_deref(), Some("veth12"));
        assert_eq!(n.mgmt_ip, Some(Ipv4Addr::new(10, 0, 0, 11)));
        assert_eq!(n.native_vlan, Some(1));
        assert_eq!(n.capabilities, vec!["bridge"]);
        assert_eq!(n.ttl_s, 120);
    }

    #[test]
    fn cache_counts_devices_per_port_and_honours_ttl_zero() {
        let mut c = NeighborCache::default();
        let t = Instant::now();
        let a = from_cdp("p1", &cdp_announcement(&id(), "x", 180), 0).unwrap();
        assert!(c.update(a.clone(), t));
        assert!(!c.update(a.clone(), t));
        let mut other = id();
        other.name = "sw9".into();
        let l = from_lldp("p1", &lldp_announcement(&other, "y", 1, 120), 0).unwrap();
        c.update(l, t);
        let sw1 = ("sw1".to_string(), Some(Ipv4Addr::new(10, 0, 0, 11)));
        let sw9 = ("sw9".to_string(), Some(Ipv4Addr::new(10, 0, 0, 11)));
        // CDP wins on a port that has it: one device, not two.
        assert_eq!(c.devices_on_port("p1"), vec![sw1.clone()]);
        // A second CDP device (flooded through a bridge) that LLDP does not confirm
        // is ignored when LLDP confirms exactly one; a real hub repeats LLDP too.
        let s9 = from_cdp("p1", &cdp_announcement(&other, "y", 180), 0).unwrap();
        c.update(s9, t);
        assert_eq!(c.devices_on_port("p1"), vec![sw9.clone()]);
        let l1 = from_lldp("p1", &lldp_announcement(&id(), "x", 1, 120), 0).unwrap();
        c.update(l1, t);
        assert_eq!(c.devices_on_port("p1").len(), 2);
        // TTL 0 withdraws; expiry forgets.
        let mut gone = a.clone();
        gone.ttl_s = 0;
        c.update(gone, t);
        assert_eq!(c.devices_on_port("p1"), vec![sw9]);
        c.expire(t + Duration::from_secs(181));
        assert!(c.devices_on_port("p1").is_empty());
    }
}
