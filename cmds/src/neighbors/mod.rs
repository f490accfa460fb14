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
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Cdp,
    Lldp,
}

/// One neighbour as `neighbors --json` prints it (CLI.md), and as the l2trace agent
/// hands its cache to `neighbors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Neighbours with their expiry. Bounded per port and overall, so a host on one
/// port that floods fake announcements can neither push out the neighbours of other
/// ports nor keep the real one of its own port out: when a port is full, its oldest
/// entry (least recently refreshed) is evicted; TTLs are capped at
/// [`NeighborCache::MAX_TTL_S`], so nothing is held longer than that without being
/// refreshed. Evictions are counted. Keyed by (interface, protocol, device), so one
/// port's rows are one range of the map: a query costs the size of that port's
/// share (at most [`NeighborCache::MAX_PER_PORT`]), not of the whole table.
#[derive(Debug, Default)]
pub struct NeighborCache {
    entries: BTreeMap<(String, Protocol, String), Entry>,
    /// Entries evicted to make room (per-port or overall bound reached).
    pub evicted: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    neighbor: Neighbor,
    until: Instant,
    refreshed: Instant,
}

/// What [`NeighborCache::update`] did with an announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// A device not held before on that interface.
    New,
    /// A device already held: its row and expiry refreshed.
    Refreshed,
    /// TTL 0 from a device that was held: it withdrew itself, and was removed.
    Withdrawn,
    /// TTL 0 from a device not held: a newcomer asking to be answered at once
    /// (`netkit neighbors` and the tracer solicit this way), not a neighbour.
    Solicitation,
}

impl NeighborCache {
    pub const MAX_ENTRIES: usize = 4096;
    /// Distinct (protocol, device) rows one interface may hold. A real port has one
    /// neighbour (a hub a handful); 32 leaves room for both protocols of several.
    pub const MAX_PER_PORT: usize = 32;
    /// The longest a neighbour is held without a refresh. CDP's TTL is at most 255 s;
    /// LLDP allows 65,535 s (18 h), which would let one frame pin a fake neighbour
    /// for a working day.
    pub const MAX_TTL_S: u16 = 300;

    fn port_range<'a>(
        &'a self,
        interface: &'a str,
    ) -> impl Iterator<Item = (&'a (String, Protocol, String), &'a Entry)> + 'a {
        let lo = (interface.to_string(), Protocol::Cdp, String::new());
        self.entries
            .range(lo..)
            .take_while(move |((i, _, _), _)| i == interface)
    }

    fn evict_oldest(&mut self, interface: Option<&str>) {
        let oldest = match interface {
            Some(i) => self
                .port_range(i)
                .min_by_key(|(_, e)| e.refreshed)
                .map(|(k, _)| k.clone()),
            None => self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.refreshed)
                .map(|(k, _)| k.clone()),
        };
        if let Some(k) = oldest {
            self.entries.remove(&k);
            self.evicted += 1;
        }
    }

    /// Records `n` (a TTL of 0 removes it, as LLDP defines). [`Update::New`] is when
    /// the agent answers with its own announcement at once instead of waiting for its
    /// next period.
    pub fn update(&mut self, mut n: Neighbor, now: Instant) -> Update {
        self.expire(now);
        let key = (n.interface.clone(), n.protocol, n.device_id.clone());
        if n.ttl_s == 0 {
            return if self.entries.remove(&key).is_some() {
                Update::Withdrawn
            } else {
                Update::Solicitation
            };
        }
        n.ttl_s = n.ttl_s.min(Self::MAX_TTL_S);
        let known = self.entries.contains_key(&key);
        if !known {
            if self.port_range(&n.interface).count() >= Self::MAX_PER_PORT {
                self.evict_oldest(Some(&n.interface));
            }
            if self.entries.len() >= Self::MAX_ENTRIES {
                self.evict_oldest(None);
            }
        }
        let until = now + Duration::from_secs(u64::from(n.ttl_s));
        self.entries.insert(
            key,
            Entry {
                neighbor: n,
                until,
                refreshed: now,
            },
        );
        if known {
            Update::Refreshed
        } else {
            Update::New
        }
    }

    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.until > now);
    }

    /// Every live row, sorted by interface, protocol and device.
    pub fn rows(&self) -> Vec<Neighbor> {
        self.entries.values().map(|e| e.neighbor.clone()).collect()
    }

    /// How many rows are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The distinct devices on one interface, as the agent counts them for L2
    /// traceroute: (device ID, IPv4 management address). Rows that expired by `now`
    /// are not counted (without removing them: a query does not scan the table).
    ///
    /// CDP devices when there are any (Cisco's trace follows CDP), else LLDP ones. One
    /// refinement: when CDP shows several devices but LLDP shows exactly one of them,
    /// that one is the neighbour. LLDP is never forwarded by an 802.1D bridge while
    /// CDP is flooded by any bridge that does not filter it, so this is the signature
    /// of CDP leaking through a bridge (e.g. a netkit agent that had not installed its
    /// filter yet), not of a hub, which would repeat LLDP as well.
    pub fn devices_on_port_at(
        &self,
        interface: &str,
        now: Instant,
    ) -> Vec<(String, Option<Ipv4Addr>)> {
        self.devices(interface, Some(now))
    }

    /// [`NeighborCache::devices_on_port_at`] counting every row held (expired ones
    /// too, until expire() removes them).
    pub fn devices_on_port(&self, interface: &str) -> Vec<(String, Option<Ipv4Addr>)> {
        self.devices(interface, None)
    }

    fn devices(&self, interface: &str, now: Option<Instant>) -> Vec<(String, Option<Ipv4Addr>)> {
        let distinct = |proto: Protocol| {
            // Keys are sorted by device within (interface, protocol): a device's rows
            // are adjacent, so comparing with the last one kept finds duplicates.
            let mut out: Vec<(String, Option<Ipv4Addr>)> = Vec::new();
            for ((_, p, _), e) in self.port_range(interface) {
                let n = &e.neighbor;
                if *p == proto
                    && now.is_none_or(|now| e.until > now)
                    && out.last().is_none_or(|(d, _)| *d != n.device_id)
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

/// Why a received frame gave no neighbour row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// Neither CDP nor LLDP.
    NotDiscovery,
    /// Not sent to the protocol's group address (CDP to broadcast or unicast).
    NotToGroup,
    /// Sent by this host (an `ETH_P_ALL` tap sees what we send too).
    Own,
    /// A CDP checksum that does not match the PDU.
    BadChecksum,
    /// A CDP version other than 1 or 2.
    BadVersion,
    /// A PDU that does not decode, or names no device.
    Undecodable,
}

impl Refused {
    pub fn describe(self) -> &'static str {
        match self {
            Refused::NotDiscovery => "not CDP/LLDP",
            Refused::NotToGroup => "not sent to the CDP/LLDP group address",
            Refused::Own => "our own",
            Refused::BadChecksum => "bad CDP checksum",
            Refused::BadVersion => "CDP version not 1 or 2",
            Refused::Undecodable => "undecodable or no device ID",
        }
    }
}

/// Decodes a received frame into a neighbour row, or says why it is none: frames
/// not addressed to the CDP/LLDP group addresses, our own frames, CDP with a bad
/// checksum or a version other than 1 and 2 are refused. `now_unix_ns` is the arrival
/// time.
pub fn accept_frame(
    interface: &str,
    own_mac: Mac,
    frame: &[u8],
    now_unix_ns: i64,
) -> Result<Neighbor, Refused> {
    let (src, pdu) = frames::classify(frame).ok_or(Refused::NotDiscovery)?;
    let dst = frame.get(..6).unwrap_or_default();
    let to_group = match pdu {
        Discovery::Cdp(_) => dst == frames::CDP_MAC.octets(),
        Discovery::Lldp(_) => frames::LLDP_GROUPS.iter().any(|g| dst == g.octets()),
    };
    if !to_group {
        return Err(Refused::NotToGroup);
    }
    if src == own_mac {
        return Err(Refused::Own);
    }
    match pdu {
        Discovery::Cdp(p) => {
            let c = cdp::parse(p).map_err(|_| Refused::Undecodable)?;
            if !matches!(c.version, 1 | 2) {
                return Err(Refused::BadVersion);
            }
            if !c.checksum_ok() {
                return Err(Refused::BadChecksum);
            }
            from_cdp(interface, p, now_unix_ns).ok_or(Refused::Undecodable)
        }
        Discovery::Lldp(p) => from_lldp(interface, p, now_unix_ns).ok_or(Refused::Undecodable),
    }
}

/// [`accept_frame`] without the reason.
pub fn from_frame(
    interface: &str,
    own_mac: Mac,
    frame: &[u8],
    now_unix_ns: i64,
) -> Option<Neighbor> {
    accept_frame(interface, own_mac, frame, now_unix_ns).ok()
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
        assert_eq!(c.update(a.clone(), t), Update::New);
        assert_eq!(c.update(a.clone(), t), Update::Refreshed);
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
        assert_eq!(c.update(gone.clone(), t), Update::Withdrawn);
        assert_eq!(c.devices_on_port("p1"), vec![sw9.clone()]);
        // TTL 0 from a device never held is a solicitation, not a neighbour.
        assert_eq!(c.update(gone, t), Update::Solicitation);
        assert_eq!(c.devices_on_port("p1"), vec![sw9.clone()]);
        c.expire(t + Duration::from_secs(181));
        assert!(c.devices_on_port("p1").is_empty());
    }

    fn named(interface: &str, device: &str, ttl: u16) -> Neighbor {
        let mut n = from_cdp(interface, &cdp_announcement(&id(), "x", 180), 0).unwrap();
        n.device_id = device.to_string();
        n.ttl_s = ttl;
        n
    }

    #[test]
    fn a_flooded_port_evicts_its_own_oldest_and_never_another_ports() {
        let mut c = NeighborCache::default();
        let t = Instant::now();
        c.update(named("p2", "real", 180), t);
        for i in 0..5000u32 {
            let at = t + Duration::from_millis(u64::from(i));
            c.update(named("p3", &format!("fake{i}"), 180), at);
        }
        assert_eq!(c.devices_on_port("p2").len(), 1);
        assert_eq!(c.len(), 1 + NeighborCache::MAX_PER_PORT);
        assert_eq!(c.evicted, 5000 - NeighborCache::MAX_PER_PORT as u64);
        // The flooding port still takes a real neighbour: the oldest fake goes.
        let later = t + Duration::from_secs(6);
        assert_eq!(c.update(named("p3", "real3", 180), later), Update::New);
        assert!(c.devices_on_port("p3").iter().any(|(d, _)| d == "real3"));
    }

    #[test]
    fn ttls_are_capped_so_one_frame_cannot_pin_a_neighbour_for_hours() {
        let mut c = NeighborCache::default();
        let t = Instant::now();
        let mut n = from_lldp("p1", &lldp_announcement(&id(), "x", 1, 65535), 0).unwrap();
        assert_eq!(n.ttl_s, 65535);
        n.ttl_s = 65535;
        c.update(n, t);
        assert_eq!(c.rows()[0].ttl_s, NeighborCache::MAX_TTL_S);
        let past = t + Duration::from_secs(u64::from(NeighborCache::MAX_TTL_S) + 1);
        assert!(c.devices_on_port_at("p1", past).is_empty());
        c.expire(past);
        assert!(c.is_empty());
    }

    #[test]
    fn frames_not_to_the_group_with_bad_checksums_or_versions_are_refused() {
        let me = Mac([2, 0, 0, 0, 0, 0x99]);
        let src = Mac([2, 0, 0, 0, 0, 1]);
        let pdu = cdp_announcement(&id(), "x", 180);
        let good = frames::cdp_frame(src, &pdu);
        assert!(accept_frame("p1", me, &good, 0).is_ok());
        let mut bcast = good.clone();
        bcast[..6].copy_from_slice(&[0xff; 6]);
        assert_eq!(accept_frame("p1", me, &bcast, 0), Err(Refused::NotToGroup));
        let mut unicast = good.clone();
        unicast[..6].copy_from_slice(&[2, 0, 0, 0, 0, 7]);
        assert_eq!(
            accept_frame("p1", me, &unicast, 0),
            Err(Refused::NotToGroup)
        );
        assert_eq!(accept_frame("p1", src, &good, 0), Err(Refused::Own));
        // CDP starts after 14 (Ethernet) + 8 (LLC/SNAP) bytes: version, TTL, checksum.
        let mut bad_sum = good.clone();
        bad_sum[24] ^= 0x55;
        assert_eq!(
            accept_frame("p1", me, &bad_sum, 0),
            Err(Refused::BadChecksum)
        );
        let mut v255 = pdu.clone();
        v255[0] = 255;
        v255[2..4].copy_from_slice(&[0, 0]);
        let sum = cdp::checksum(&v255).to_be_bytes();
        v255[2..4].copy_from_slice(&sum);
        let v255 = frames::cdp_frame(src, &v255);
        assert_eq!(accept_frame("p1", me, &v255, 0), Err(Refused::BadVersion));
        let lldp = frames::lldp_frame(src, &lldp_announcement(&id(), "x", 1, 120));
        assert!(accept_frame("p1", me, &lldp, 0).is_ok());
        let mut lldp_bcast = lldp.clone();
        lldp_bcast[..6].copy_from_slice(&[0xff; 6]);
        assert_eq!(
            accept_frame("p1", me, &lldp_bcast, 0),
            Err(Refused::NotToGroup)
        );
    }
}
