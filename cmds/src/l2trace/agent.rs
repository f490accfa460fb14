//! The agent: makes a Linux bridge answer Cisco's L2 traceroute (UDP 2228) like a
//! Catalyst, from the bridge FDB and the CDP/LLDP neighbours heard on its ports, and
//! announces itself by CDP and LLDP on every port.
//!
//! Safety (the protocol has no authentication and maps a network for anyone who asks):
//! it runs only when started, binds one address (the bridge's own by default, never
//! the wildcard), answers only sources in `--allow` (loopback when none is given),
//! rate-limits per source and overall, drops malformed or oversized datagrams (counted,
//! logged only with `--verbose`), never answers for broadcast/multicast MACs, and never
//! sends a reply more than [`MAX_REPLY_GROWTH`] bytes larger than the request.

use super::fdb::{self, FdbEntry, Link};
use super::neighbors::{self, Identity, NeighborCache};
use super::rawl2::{self, Iface};
use crate::caps::Cap;
use netkit_dissectors::app::l2trace::{
    self as l2t, Device, Duplex, L2tMessage, MsgType, Neighbor, PortInfo, ReplyStatus, Speed,
};
use netkit_dissectors::link::Mac;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests larger than this are not L2 traceroute (a real one is about 40 bytes).
pub const MAX_REQUEST: usize = 512;
/// A reply may exceed its request by at most this much: no amplification beyond it.
/// Strings are capped (names 32, ports 15 by the kernel) so real replies stay below.
pub const MAX_REPLY_GROWTH: usize = 200;
const MAX_NAME: usize = 32;
/// Status for "the one neighbour on that port announced no IPv4 address". IOS has this
/// condition ("CDP neighbour has no ip") but its code is not public; 11 is unused by
/// every code seen, and Cisco tracers print "Unknown return code" for it.
pub const STATUS_NEIGHBOR_HAS_NO_IP: u8 = 11;
const ANNOUNCE_EVERY: Duration = Duration::from_secs(30);
const ANNOUNCE_TTL: u16 = 120;
const FAST_BURST: f64 = 5.0;
/// How often the agent looks for ports added to or removed from the bridge.
const RESCAN_EVERY: Duration = Duration::from_secs(5);
/// After a port's raw channel fails, how long to let the kernel finish what caused it
/// (a deleted device is first taken down, then unlisted) before looking at the bridge.
const SETTLE: Duration = Duration::from_millis(300);

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

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        let net = a
            .parse()
            .map_err(|_| format!("'{s}' is not an IPv4 prefix (a.b.c.d/len)"))?;
        let len = l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("'{s}': prefix length must be 0-32"))?;
        Ok(Cidr { net, len })
    }
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

fn cap(s: &str) -> String {
    s.chars().take(MAX_NAME).collect()
}

/// Speed and duplex of a port from sysfs (correct in the agent's namespace when it was
/// started with `ip netns exec`, which mounts a fresh /sys); auto when unknown.
fn port_info(name: &str) -> PortInfo {
    let read = |f: &str| std::fs::read_to_string(format!("/sys/class/net/{name}/{f}")).ok();
    let speed = read("speed")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(Speed::AUTO, Speed::from_mbps);
    let duplex = match read("duplex").as_deref().map(str::trim) {
        Some("full") => Duplex::Full,
        Some("half") => Duplex::Half,
        _ => Duplex::Auto,
    };
    PortInfo {
        name: name.to_string(),
        speed,
        duplex,
    }
}

/// How the agent is configured.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub bridge: String,
    pub name: Option<String>,
    pub listen: Option<Ipv4Addr>,
    pub allow: Vec<Cidr>,
    pub platform: String,
    pub native_vlan: u16,
    pub verbose: bool,
}

/// Counters, printed with `--verbose`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub received: u64,
    pub answered: u64,
    pub denied: u64,
    pub rate_limited: u64,
    pub malformed: u64,
    pub unanswerable: u64,
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "netkit".to_string())
}

fn find_bridge(name: &str) -> Result<(Link, Vec<Link>), String> {
    let links = fdb::links()?;
    let br = links
        .iter()
        .find(|l| l.name == name)
        .cloned()
        .ok_or_else(|| format!("no interface named {name}"))?;
    if !br.is_bridge {
        return Err(format!("{name} is not a bridge"));
    }
    let ports: Vec<Link> = links
        .into_iter()
        .filter(|l| l.master == Some(br.index))
        .collect();
    Ok((br, ports))
}

/// Stops the bridge from flooding CDP between its ports, as a Catalyst consumes CDP.
///
/// Why nftables: `group_fwd_mask` only governs the IEEE link-local range
/// 01:80:C2:00:00:0X (and can only turn forwarding *on*); LLDP lives there and is not
/// forwarded by default, but CDP's 01:00:0C:CC:CC:CC is ordinary multicast to a Linux
/// bridge, so only a filter on the bridge's forward hook stops it. The table is per
/// bridge and replaced atomically (restarting the agent is idempotent). It matches
/// frames entering this bridge (`meta ibrname`); kernels without that match (no
/// nft_meta_bridge) get the same rule on the bridge's current ports by name. The agent
/// still hears CDP: its packet taps on the ports see frames before the bridge does.
pub fn block_cdp_flooding(bridge: &str, ports: &[String]) -> Result<(), String> {
    let table: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let table = format!("netkit_l2t_{table}");
    let by_bridge = format!("meta ibrname \"{bridge}\"");
    let names: Vec<String> = ports.iter().map(|p| format!("\"{p}\"")).collect();
    let by_ports = format!("iifname {{ {} }}", names.join(", "));
    let mut last = String::new();
    for matcher in [by_bridge, by_ports] {
        let script = format!(
            "table bridge {table} {{}}\n\
             delete table bridge {table}\n\
             table bridge {table} {{\n\
               chain forward {{\n\
                 type filter hook forward priority 0; policy accept;\n\
                 {matcher} ether daddr 01:00:0c:cc:cc:cc drop\n\
               }}\n\
             }}\n"
        );
        match nft(&script) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        if ports.is_empty() {
            break;
        }
    }
    Err(last)
}

fn nft(script: &str) -> Result<(), String> {
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, script.as_bytes())
            .map_err(|e| format!("nft: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "nft failed: {}",
            err.lines().next().unwrap_or("").trim()
        ))
    }
}

struct Shared {
    cache: Mutex<NeighborCache>,
    senders: Mutex<HashMap<u32, rawl2::Sender>>,
    last_fast: Mutex<HashMap<u32, (f64, Instant)>>,
    identity: Identity,
    /// Ports with a working raw channel (listened to and announced on).
    ports: Mutex<Vec<Iface>>,
    /// The bridge's ports as last seen, up or down, to say when one leaves, joins,
    /// goes down or comes back.
    members: Mutex<Vec<Iface>>,
    /// Why a port's channel failed, until the next rescan explains or repairs it.
    lost: Mutex<HashMap<u32, String>>,
    /// Wakes the rescan thread at once (a listener lost its channel).
    rescan: Mutex<mpsc::Sender<()>>,
    verbose: bool,
}

impl Shared {
    fn port_list(&self) -> Vec<Iface> {
        self.ports.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn is_port(&self, index: u32) -> bool {
        self.ports
            .lock()
            .is_ok_and(|p| p.iter().any(|i| i.index == index))
    }

    fn announce_on(&self, iface: &Iface, ttl: u16) {
        if let Ok(mut senders) = self.senders.lock() {
            if let Some(tx) = senders.get_mut(&iface.index) {
                if let Err(e) = neighbors::announce(tx, iface, &self.identity, ttl) {
                    eprintln!("netkit l2trace agent: {}: cannot announce: {e}", iface.name);
                }
            }
        }
    }

    /// Answers a newcomer at once, as LLDP's fast start does, so neighbours learn each
    /// other without waiting a whole period. A token bucket per port (burst 5, one a
    /// second) keeps a port flooded with fake newcomers from making us chatty.
    fn fast_announce(&self, iface: &Iface) {
        let now = Instant::now();
        let due = self.last_fast.lock().is_ok_and(|mut m| {
            let bucket = m.entry(iface.index).or_insert((FAST_BURST, now));
            let refill = now.saturating_duration_since(bucket.1).as_secs_f64();
            bucket.0 = (bucket.0 + refill).min(FAST_BURST);
            bucket.1 = now;
            if bucket.0 >= 1.0 {
                bucket.0 -= 1.0;
                true
            } else {
                false
            }
        });
        if due {
            self.announce_on(iface, ANNOUNCE_TTL);
        }
    }
}

fn listen_port(shared: Arc<Shared>, iface: Iface, mut rx: rawl2::Receiver) {
    while shared.is_port(iface.index) {
        match rawl2::recv(&mut rx) {
            Ok(Some(frame)) => {
                let Some(n) = neighbors::from_frame(&iface, &frame) else {
                    continue;
                };
                let what = format!("{:?} {} ttl {}", n.protocol, n.device_id, n.ttl_s);
                let new = shared
                    .cache
                    .lock()
                    .is_ok_and(|mut c| c.update(n, Instant::now()));
                if new {
                    if shared.verbose {
                        eprintln!("netkit l2trace agent: {}: new neighbour {what}", iface.name);
                    }
                    shared.fast_announce(&iface);
                }
            }
            Ok(None) => {}
            Err(e) => {
                // Usually the port went down or was deleted; the rescan says which, in
                // one line, and opens the port again once it is back.
                if let Ok(mut p) = shared.ports.lock() {
                    p.retain(|c| c.index != iface.index);
                }
                if let Ok(mut s) = shared.senders.lock() {
                    s.remove(&iface.index);
                }
                if let Ok(mut l) = shared.lost.lock() {
                    l.insert(iface.index, e);
                }
                if let Ok(tx) = shared.rescan.lock() {
                    let _ = tx.send(());
                }
                return;
            }
        }
    }
}

/// Brings the listened-to ports in line with the bridge's ports, and says so in one
/// line per change: a port that left the bridge (deleted or released: the stations
/// behind it are no longer in the FDB, so they are "not found"), joined it, went down
/// or came back up. Every member that is up and has no raw channel gets one, a
/// listener and an announcement at once, unless `reopen` is false (a rescan woken by a
/// failed channel only reports, so a port that keeps failing is retried at the
/// periodic pace, not in a loop). The CDP filter is rewritten when the set of ports
/// changes, for kernels where it names the ports.
fn sync_ports(shared: &Arc<Shared>, bridge: &str, ports: Vec<Link>, first: bool, reopen: bool) {
    let all = rawl2::interfaces();
    let wanted: Vec<Iface> = ports
        .iter()
        .filter_map(|p| all.iter().find(|i| i.index == p.index).cloned())
        .collect();
    let before = shared.members.lock().map(|m| m.clone()).unwrap_or_default();
    let say = |msg: String| eprintln!("netkit l2trace agent: {msg}");
    let known = |list: &[Iface], i: &Iface| list.iter().find(|b| b.index == i.index).cloned();
    let mut lost = shared
        .lost
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    for gone in before.iter().filter(|b| known(&wanted, b).is_none()) {
        lost.remove(&gone.index);
        say(format!(
            "port {} left bridge {bridge} (deleted or released): stations behind it are \
             no longer found; the other ports still answer",
            gone.name
        ));
    }
    for w in &wanted {
        match known(&before, w) {
            None if !first => say(format!(
                "port {} joined bridge {bridge}: {}",
                w.name,
                if w.up {
                    "listening and announcing on it"
                } else {
                    "down, listened to once it is up"
                }
            )),
            Some(b) if b.up && !w.up => {
                lost.remove(&w.index);
                say(format!(
                    "port {} of bridge {bridge} is down: no CDP/LLDP on it until it is up",
                    w.name
                ));
            }
            Some(b) if !b.up && w.up => {
                say(format!("port {} of bridge {bridge} is up again", w.name))
            }
            _ => {}
        }
        if !w.up {
            lost.remove(&w.index);
        }
    }
    let names = |l: &[Iface]| l.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    if first || names(&before) != names(&wanted) {
        if let Err(e) = block_cdp_flooding(bridge, &names(&wanted)) {
            say(format!(
                "warning: {e}; {bridge} will flood CDP between its ports"
            ));
        }
    }
    if let Ok(mut m) = shared.members.lock() {
        *m = wanted.clone();
    }
    if let Ok(mut senders) = shared.senders.lock() {
        senders.retain(|index, _| wanted.iter().any(|w| w.index == *index));
    }
    if let Ok(mut p) = shared.ports.lock() {
        p.retain(|c| wanted.iter().any(|w| w.index == c.index));
    }
    let current = shared.port_list();
    for iface in wanted.into_iter().filter(|w| w.up) {
        if current.iter().any(|c| c.index == iface.index) {
            continue;
        }
        if !reopen {
            // Keep the reason for the periodic rescan, which reopens and reports it.
            if let Some(e) = lost.remove(&iface.index) {
                if let Ok(mut l) = shared.lost.lock() {
                    l.insert(iface.index, e);
                }
            }
            continue;
        }
        if let Some(e) = lost.remove(&iface.index) {
            say(format!("port {}: {e}; listening again", iface.name));
        }
        match rawl2::open(&iface.name, Duration::from_millis(500)) {
            Ok((tx, rx)) => {
                if let Ok(mut s) = shared.senders.lock() {
                    s.insert(iface.index, tx);
                }
                if let Ok(mut p) = shared.ports.lock() {
                    p.push(iface.clone());
                }
                shared.announce_on(&iface, ANNOUNCE_TTL);
                let sh = Arc::clone(shared);
                std::thread::spawn(move || listen_port(sh, iface, rx));
            }
            Err(e) => say(e),
        }
    }
}

fn current_tables(
    opts: &AgentOptions,
    device: &Device,
    cache: &Mutex<NeighborCache>,
) -> Result<Tables, String> {
    // Looked up by name each time: a bridge deleted and created again has a new
    // ifindex, and the FDB is read by the bridge's index.
    let (bridge, ports) = find_bridge(&opts.bridge)?;
    let fdb = fdb::bridge_fdb(bridge.index)?;
    let mut neighbors = HashMap::new();
    if let Ok(mut c) = cache.lock() {
        c.expire(Instant::now());
        for p in &ports {
            let devs = c.devices_on_port(&p.name);
            neighbors.insert(p.name.clone(), devs);
        }
    }
    Ok(Tables {
        device: Some(device.clone()),
        bridge_name: bridge.name.clone(),
        fdb,
        ports: ports
            .iter()
            .map(|p| (p.index, port_info(&p.name)))
            .collect(),
        neighbors,
        native_vlan: opts.native_vlan,
    })
}

/// Runs the agent until it fails.
pub fn run(opts: &AgentOptions) -> Result<(), String> {
    // Without these the agent would run half-blind (no neighbours heard, CDP flooded
    // across the bridge) and only warn: refuse at once and say what is missing.
    crate::caps::require(
        "l2trace agent",
        &[
            (Cap::NetRaw, "CDP/LLDP frames on the bridge's ports"),
            (
                Cap::NetAdmin,
                "the nftables rule that keeps CDP from flooding across the bridge",
            ),
        ],
    )?;
    let (bridge, ports) = find_bridge(&opts.bridge)?;
    let all = rawl2::interfaces();
    let bridge_if = all.iter().find(|i| i.index == bridge.index);
    let mgmt = match opts.listen {
        Some(ip) => ip,
        None => bridge_if
            .and_then(|i| i.ipv4.first().copied())
            .ok_or_else(|| {
                format!(
                    "bridge {} has no IPv4 address: give one with --listen",
                    opts.bridge
                )
            })?,
    };
    let name = cap(&opts.name.clone().unwrap_or_else(hostname));
    let device = Device {
        name: name.clone(),
        platform: cap(&opts.platform),
        ip: mgmt,
    };
    let identity = Identity {
        name: name.clone(),
        platform: device.platform.clone(),
        mgmt_ip: Some(mgmt),
        chassis_mac: bridge.mac.unwrap_or(Mac([0; 6])),
        native_vlan: Some(opts.native_vlan),
        switch: true,
    };
    let sock = UdpSocket::bind((mgmt, l2t::PORT))
        .map_err(|e| format!("cannot listen on {mgmt}:{}: {e}", l2t::PORT))?;
    let (wake, woken) = mpsc::channel();
    let shared = Arc::new(Shared {
        cache: Mutex::new(NeighborCache::default()),
        senders: Mutex::new(HashMap::new()),
        last_fast: Mutex::new(HashMap::new()),
        identity,
        ports: Mutex::new(Vec::new()),
        members: Mutex::new(Vec::new()),
        lost: Mutex::new(HashMap::new()),
        rescan: Mutex::new(wake),
        verbose: opts.verbose,
    });
    sync_ports(&shared, &opts.bridge, ports, true, true);
    {
        let sh = Arc::clone(&shared);
        let bridge_name = opts.bridge.clone();
        std::thread::spawn(move || {
            let mut announced: Option<Instant> = None;
            let mut bridge_missing = false;
            loop {
                if announced.is_none_or(|t| t.elapsed() >= ANNOUNCE_EVERY) {
                    for iface in sh.port_list() {
                        sh.announce_on(&iface, ANNOUNCE_TTL);
                    }
                    announced = Some(Instant::now());
                }
                let periodic = match woken.recv_timeout(RESCAN_EVERY) {
                    Ok(()) => {
                        std::thread::sleep(SETTLE);
                        while woken.try_recv().is_ok() {}
                        false
                    }
                    Err(RecvTimeoutError::Timeout) => true,
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                match find_bridge(&bridge_name) {
                    Ok((_, ports)) => {
                        if bridge_missing {
                            eprintln!(
                                "netkit l2trace agent: bridge {bridge_name} is back ({} ports)",
                                ports.len()
                            );
                        }
                        bridge_missing = false;
                        sync_ports(&sh, &bridge_name, ports, false, periodic);
                    }
                    // Said once, not every rescan, until the bridge is back.
                    Err(e) if !bridge_missing => {
                        bridge_missing = true;
                        eprintln!("netkit l2trace agent: cannot read bridge {bridge_name}: {e}");
                    }
                    Err(_) => {}
                }
            }
        });
    }
    let allow = if opts.allow.is_empty() {
        vec![Cidr {
            net: Ipv4Addr::LOCALHOST,
            len: 8,
        }]
    } else {
        opts.allow.clone()
    };
    eprintln!(
        "netkit l2trace agent: {name} ({mgmt}) answering UDP {} for bridge {} ({} ports)",
        l2t::PORT,
        opts.bridge,
        shared.port_list().len()
    );
    serve(&sock, &allow, opts, &device, &shared.cache)
}

fn serve(
    sock: &UdpSocket,
    allow: &[Cidr],
    opts: &AgentOptions,
    device: &Device,
    cache: &Mutex<NeighborCache>,
) -> Result<(), String> {
    let mut stats = Stats::default();
    let mut limiter = RateLimiter::new(10.0, 40.0, 200.0, Instant::now());
    let mut buf = [0u8; 2048];
    let debug = |msg: &str| {
        if opts.verbose {
            eprintln!("netkit l2trace agent: {msg}");
        }
    };
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("receive: {e}")),
        };
        stats.received += 1;
        let SocketAddr::V4(from4) = from else {
            stats.denied += 1;
            continue;
        };
        if !allow.iter().any(|c| c.contains(*from4.ip())) {
            stats.denied += 1;
            debug(&format!("{from}: not allowed"));
            continue;
        }
        let data = buf.get(..n).unwrap_or_default();
        let req = match (n <= MAX_REQUEST).then(|| l2t::parse(data)) {
            Some(Ok(m)) if m.is_request() => m,
            Some(Err(e)) => {
                stats.malformed += 1;
                debug(&format!(
                    "{from}: malformed ({e}), {} so far",
                    stats.malformed
                ));
                continue;
            }
            _ => {
                stats.malformed += 1;
                debug(&format!(
                    "{from}: not a request, {} so far",
                    stats.malformed
                ));
                continue;
            }
        };
        if !limiter.allow(from.ip(), Instant::now()) {
            stats.rate_limited += 1;
            continue;
        }
        let tables = match current_tables(opts, device, cache) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("netkit l2trace agent: cannot read the bridge tables: {e}");
                continue;
            }
        };
        let Some(reply) = tables.answer(&req) else {
            stats.unanswerable += 1;
            debug(&format!("{from}: {req}: no answer"));
            continue;
        };
        let bytes = reply.emit();
        if bytes.len() > n + MAX_REPLY_GROWTH {
            stats.unanswerable += 1;
            continue;
        }
        debug(&format!("{from}: {req} -> {reply}"));
        if sock.send_to(&bytes, from).is_ok() {
            stats.answered += 1;
        }
        if opts.verbose && stats.received.is_multiple_of(1000) {
            eprintln!("netkit l2trace agent: {stats:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
