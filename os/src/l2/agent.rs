//! The l2trace agent's daemon: the UDP 2228 socket and its serving loop, a raw tap on
//! every bridge port to hear CDP/LLDP neighbours, our announcements, the nftables
//! rule that keeps CDP from flooding across the bridge, and following the bridge as
//! ports come and go. What it answers is `netkit_cmds::l2trace::agent`.

use super::neighbors::announce;
use super::raw::{self, Iface};
use super::L2Error;
use crate::caps::Cap;
use crate::netlink::{bridge, Link};
use netkit_cmds::l2trace::agent::{cap, Cidr, RateLimiter, Tables, MAX_REPLY_GROWTH, MAX_REQUEST};
use netkit_cmds::neighbors::{self, Identity, NeighborCache};
use netkit_dissectors::app::l2trace::{self as l2t, Device, Duplex, PortInfo, Speed};
use netkit_dissectors::link::Mac;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ANNOUNCE_EVERY: Duration = Duration::from_secs(30);
const ANNOUNCE_TTL: u16 = 120;
const FAST_BURST: f64 = 5.0;
/// How often the agent looks for ports added to or removed from the bridge.
const RESCAN_EVERY: Duration = Duration::from_secs(5);
/// After a port's raw channel fails, how long to let the kernel finish what caused it
/// (a deleted device is first taken down, then unlisted) before looking at the bridge.
const SETTLE: Duration = Duration::from_millis(300);

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

fn find_bridge(name: &str) -> Result<(Link, Vec<Link>), L2Error> {
    let links = bridge::links()?;
    let br = links
        .iter()
        .find(|l| l.name == name)
        .cloned()
        .ok_or_else(|| L2Error::NoInterface(name.to_string()))?;
    if !br.is_bridge() {
        return Err(L2Error::NotABridge(name.to_string()));
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
pub fn block_cdp_flooding(bridge: &str, ports: &[String]) -> Result<(), L2Error> {
    let table: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let table = format!("netkit_l2t_{table}");
    let by_bridge = format!("meta ibrname \"{bridge}\"");
    let names: Vec<String> = ports.iter().map(|p| format!("\"{p}\"")).collect();
    let by_ports = format!("iifname {{ {} }}", names.join(", "));
    let mut last = L2Error::Nft("no table was written".to_string());
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

fn nft(script: &str) -> Result<(), L2Error> {
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| L2Error::Nft(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, script.as_bytes())
            .map_err(|e| L2Error::Nft(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| L2Error::Nft(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(L2Error::Nft(format!(
            "failed: {}",
            err.lines().next().unwrap_or("").trim()
        )))
    }
}

struct Shared {
    cache: Mutex<NeighborCache>,
    senders: Mutex<HashMap<u32, raw::Sender>>,
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
                if let Err(e) = announce(tx, iface, &self.identity, ttl) {
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

fn listen_port(shared: Arc<Shared>, iface: Iface, mut rx: raw::Receiver) {
    while shared.is_port(iface.index) {
        match raw::recv(&mut rx) {
            Ok(Some(frame)) => {
                let Some(n) =
                    neighbors::from_frame(&iface.name, iface.mac, &frame, crate::clock::unix_ns())
                else {
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
                    l.insert(iface.index, e.to_string());
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
    let all = raw::interfaces();
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
                    l.insert(iface.index, e.to_string());
                }
            }
            continue;
        }
        if let Some(e) = lost.remove(&iface.index) {
            say(format!("port {}: {e}; listening again", iface.name));
        }
        match raw::open(&iface.name, Duration::from_millis(500)) {
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
            Err(e) => say(e.to_string()),
        }
    }
}

fn current_tables(
    opts: &AgentOptions,
    device: &Device,
    cache: &Mutex<NeighborCache>,
) -> Result<Tables, L2Error> {
    // Looked up by name each time: a bridge deleted and created again has a new
    // ifindex, and the FDB is read by the bridge's index.
    let (bridge, ports) = find_bridge(&opts.bridge)?;
    let fdb = bridge::bridge_fdb(bridge.index)?;
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
pub fn run(opts: &AgentOptions) -> Result<(), L2Error> {
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
    let all = raw::interfaces();
    let bridge_if = all.iter().find(|i| i.index == bridge.index);
    let mgmt = match opts.listen {
        Some(ip) => ip,
        None => bridge_if
            .and_then(|i| i.ipv4.first().copied())
            .ok_or_else(|| L2Error::NoAddress(opts.bridge.clone()))?,
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
        .map_err(|e| L2Error::Udp(format!("cannot listen on {mgmt}:{}: {e}", l2t::PORT)))?;
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
) -> Result<(), L2Error> {
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
            Err(e) => return Err(L2Error::Udp(format!("receive: {e}"))),
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
