//! The l2trace agent's daemon: the UDP 2228 socket and its serving loop, a raw tap on
//! every bridge port to hear CDP/LLDP neighbours, our announcements, the nftables
//! rule that keeps CDP from flooding across the bridge, and following the bridge as
//! ports come and go. What it answers is `netkit_cmds::l2trace::agent`.

use super::neighbors::announce;
use super::raw::{self, Iface};
use super::L2Error;
use crate::caps::Cap;
use crate::netlink::{bridge, Link};
use netkit_cmds::l2trace::agent::{
    cap, complete_request, fit_reply, Cidr, RateLimiter, Tables, MAX_AMPLIFICATION,
    MAX_REPLY_GROWTH, MAX_REQUEST,
};
use netkit_cmds::neighbors::{self, Identity, NeighborCache, Refused, Update};
use netkit_cmds::output::escape;
use netkit_dissectors::app::l2trace::{self as l2t, Device, Duplex, PortInfo, Speed};
use netkit_dissectors::link::Mac;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
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

/// Counters of the serving loop, summarised on stderr (at most one line every
/// [`REPORT_EVERY`], when they changed) and at exit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub answered: u64,
    /// Source not in `--allow` (nor one of this host's own addresses).
    pub denied: u64,
    /// Allowed source address, but the query did not come from where that address
    /// lives: the neighbour table's MAC for it is not the frame's source MAC, or the
    /// bridge port it came in on is not the one the forwarding table has that MAC on.
    pub not_on_its_port: u64,
    pub rate_limited: u64,
    pub malformed: u64,
    /// Requests without an attribute a Catalyst sends (the querier's address or name).
    pub incomplete: u64,
    /// Replies that could not be made to fit [`MAX_AMPLIFICATION`] times the query.
    pub too_large: u64,
    pub unanswerable: u64,
    /// Replies not sent because the socket's send queue was full (never waited for).
    pub send_dropped: u64,
}

/// How often, at most, a summary of the counters is printed.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);
/// Per-event lines (with `--verbose`) allowed per [`REPORT_EVERY`]; the rest are
/// counted and said in one line.
const LOG_LINES_PER_PERIOD: u32 = 20;
/// How long the serving loop waits for a port tap to report a query's arrival (the
/// tap usually has it first: taps run before the IP stack).
const ORIGIN_WAIT: Duration = Duration::from_millis(20);
/// Arrivals kept for matching; past this, those older than [`ORIGIN_KEPT_FOR`] go.
const ORIGINS_KEPT: usize = 4096;
const ORIGIN_KEPT_FOR: Duration = Duration::from_secs(1);
/// How long the list of this host's own addresses is used before it is read again.
const OWN_ADDRESSES_FRESH: Duration = Duration::from_secs(1);
/// How long the ARP table read for checking sources is trusted for an address it has.
const ARP_FRESH: Duration = Duration::from_secs(2);
/// How often, at most, the ARP table is read again for an address it lacks.
const ARP_REREAD: Duration = Duration::from_millis(100);

/// A query datagram as a port tap saw it: from whom, which payload (hashed).
type OriginKey = (SocketAddrV4, u64);

/// Where a query came in: the bridge port and the frame's source MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin {
    port: u32,
    src_mac: Mac,
    at: Instant,
}

fn payload_key(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// The kernel's ARP table, read again when it lacks an address (at most every
/// [`ARP_REREAD`]) or is older than [`ARP_FRESH`], so a flood of queries costs a
/// table lookup each, not a netlink dump each.
#[derive(Debug, Default)]
struct ArpCache {
    table: HashMap<Ipv4Addr, Mac>,
    read: Option<Instant>,
}

impl ArpCache {
    fn mac_of(&mut self, ip: Ipv4Addr) -> Option<Mac> {
        let age = self.read.map(|t| t.elapsed());
        let fresh = age.is_some_and(|a| a < ARP_FRESH);
        if let (Some(m), true) = (self.table.get(&ip), fresh) {
            return Some(*m);
        }
        if age.is_none_or(|a| a >= ARP_REREAD) {
            self.table = crate::netlink::bridge::arp_table().unwrap_or_default();
            self.read = Some(Instant::now());
        }
        self.table.get(&ip).copied()
    }
}

fn ipv4_header_ok(h: &[u8]) -> bool {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// A UDP 2228 datagram to `to` in an untagged IPv4 frame: its source address and
/// port, its payload, and the frame's source MAC.
fn query_in_frame(frame: &[u8], to: Ipv4Addr) -> Option<(SocketAddrV4, &[u8], Mac)> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if *ip.get(9)? != 17 || ihl < 20 || total < ihl + 8 {
        return None;
    }
    let dst = Ipv4Addr::new(*ip.get(16)?, *ip.get(17)?, *ip.get(18)?, *ip.get(19)?);
    if dst != to {
        return None;
    }
    if !ipv4_header_ok(ip.get(..ihl)?) {
        return None;
    }
    let src = Ipv4Addr::new(*ip.get(12)?, *ip.get(13)?, *ip.get(14)?, *ip.get(15)?);
    let udp = ip.get(ihl..total)?;
    let sport = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
    let mac = Mac(frame.get(6..12)?.try_into().ok()?);
    Some((SocketAddrV4::new(src, sport), udp.get(8..)?, mac))
}

/// A log with a budget: at most [`LOG_LINES_PER_PERIOD`] lines per period, then one
/// line saying how many were left out. Untrusted text is escaped by the callers.
#[derive(Debug)]
struct Log {
    verbose: bool,
    period_start: Instant,
    lines: u32,
    suppressed: u64,
}

impl Log {
    fn new(verbose: bool) -> Self {
        Log {
            verbose,
            period_start: Instant::now(),
            lines: 0,
            suppressed: 0,
        }
    }

    fn line(&mut self, msg: impl FnOnce() -> String) {
        if !self.verbose {
            return;
        }
        let now = Instant::now();
        if now.saturating_duration_since(self.period_start) >= REPORT_EVERY {
            if self.suppressed > 0 {
                eprintln!(
                    "netkit l2trace agent: {} more events not logged in the last {} s",
                    self.suppressed,
                    REPORT_EVERY.as_secs()
                );
            }
            self.period_start = now;
            self.lines = 0;
            self.suppressed = 0;
        }
        if self.lines < LOG_LINES_PER_PERIOD {
            self.lines += 1;
            eprintln!("netkit l2trace agent: {}", msg());
        } else {
            self.suppressed += 1;
        }
    }
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
    let table = nft_table(bridge);
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

/// The agent's nftables table for `bridge` (in the bridge family).
pub fn nft_table(bridge: &str) -> String {
    let table: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("netkit_l2t_{table}")
}

/// Removes the agent's table for `bridge`, if it is there: at exit, so a stopped
/// agent leaves no rule behind. (After kill -9 it stays until the next start, which
/// replaces it.)
pub fn remove_cdp_block(bridge: &str) -> Result<(), L2Error> {
    let table = nft_table(bridge);
    nft(&format!(
        "table bridge {table} {{}}\ndelete table bridge {table}\n"
    ))
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
    /// Wakes the rescan thread at once: `false` when a listener lost its channel,
    /// `true` when the kernel announced a link change (a port joined or left).
    rescan: Mutex<mpsc::Sender<bool>>,
    /// The address queries come to: the taps pass UDP 2228 datagrams to it.
    mgmt: Ipv4Addr,
    /// Queries the taps saw, by sender and payload, to tell the serving loop on
    /// which port and from which MAC each came in.
    origins: Mutex<HashMap<OriginKey, Origin>>,
    origin_seen: Condvar,
    /// Frames refused by the listeners, by reason (index: [`REFUSALS`]).
    refused: [AtomicU64; 6],
    /// Neighbour lines logged (budgeted like the serving loop's).
    log: Mutex<Log>,
    /// The serving loop's counters, for the summary at exit.
    stats: Mutex<Stats>,
}

/// The order of [`Shared::refused`].
const REFUSALS: [Refused; 6] = [
    Refused::NotDiscovery,
    Refused::NotToGroup,
    Refused::Own,
    Refused::BadChecksum,
    Refused::BadVersion,
    Refused::Undecodable,
];

impl Shared {
    fn count_refused(&self, why: Refused) {
        if let Some(i) = REFUSALS.iter().position(|r| *r == why) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// "3 bad CDP checksum, 1 not sent to the CDP/LLDP group address" (zero counts
    /// left out), empty when nothing was refused.
    fn refusals(&self) -> String {
        REFUSALS
            .iter()
            .zip(&self.refused)
            .map(|(r, n)| (r, n.load(Ordering::Relaxed)))
            .filter(|(r, n)| *n > 0 && **r != Refused::Own)
            .map(|(r, n)| format!("{n} {}", r.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn saw_query(&self, key: OriginKey, o: Origin) {
        if let Ok(mut m) = self.origins.lock() {
            if m.len() >= ORIGINS_KEPT {
                m.retain(|_, v| v.at.elapsed() < ORIGIN_KEPT_FOR);
                if m.len() >= ORIGINS_KEPT {
                    m.clear();
                }
            }
            m.insert(key, o);
        }
        self.origin_seen.notify_all();
    }

    /// Where the query `key` came in, waiting up to [`ORIGIN_WAIT`] for its tap.
    fn origin_of(&self, key: OriginKey) -> Option<Origin> {
        let deadline = Instant::now() + ORIGIN_WAIT;
        let mut m = self.origins.lock().ok()?;
        loop {
            if let Some(o) = m.remove(&key) {
                return Some(o);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            m = self.origin_seen.wait_timeout(m, left).ok()?.0;
        }
    }

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
                if let Some((from, payload, src_mac)) = query_in_frame(&frame, shared.mgmt) {
                    // Noted for the serving loop, which answers what the UDP socket
                    // delivers (so the host's firewall still decides).
                    shared.saw_query(
                        (from, payload_key(payload)),
                        Origin {
                            port: iface.index,
                            src_mac,
                            at: Instant::now(),
                        },
                    );
                    continue;
                }
                let n = match neighbors::accept_frame(
                    &iface.name,
                    iface.mac,
                    &frame,
                    crate::clock::unix_ns(),
                ) {
                    Ok(n) => n,
                    Err(why) => {
                        shared.count_refused(why);
                        continue;
                    }
                };
                let what = format!("{:?} {} ttl {}", n.protocol, escape(&n.device_id), n.ttl_s);
                let update = shared.cache.lock().map(|mut c| c.update(n, Instant::now()));
                match update {
                    Ok(Update::New) => {
                        if let Ok(mut log) = shared.log.lock() {
                            log.line(|| format!("{}: new neighbour {what}", iface.name));
                        }
                        shared.fast_announce(&iface);
                    }
                    // Answered at once (the per-port bucket bounds it), never
                    // logged or held as a neighbour.
                    Ok(Update::Solicitation) => shared.fast_announce(&iface),
                    _ => {}
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
                // The kernel reports a port's going down once, on the next read. When
                // that read comes after the port is up again (a quick flap), the rescan
                // has already said both lines and kept this channel; open a new one at
                // once rather than leave the port unheard until the periodic rescan.
                let flapped = e.raw_os_error() == Some(libc::ENETDOWN)
                    && raw::interfaces()
                        .iter()
                        .any(|i| i.index == iface.index && i.up);
                if !flapped {
                    if let Ok(mut l) = shared.lost.lock() {
                        l.insert(iface.index, e.to_string());
                    }
                }
                if let Ok(tx) = shared.rescan.lock() {
                    let _ = tx.send(flapped);
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
    // A port that joined up or came back up is reported once its listener is open, not
    // before: a neighbour that announces itself on reading the line must be heard.
    let mut once_listened: Vec<(u32, String)> = Vec::new();
    for w in &wanted {
        match known(&before, w) {
            None if !first && w.up => once_listened.push((
                w.index,
                format!(
                    "port {} joined bridge {bridge}: listening and announcing on it",
                    w.name
                ),
            )),
            None if !first => say(format!(
                "port {} joined bridge {bridge}: down, listened to once it is up",
                w.name
            )),
            Some(b) if b.up && !w.up => {
                lost.remove(&w.index);
                say(format!(
                    "port {} of bridge {bridge} is down: no CDP/LLDP on it until it is up",
                    w.name
                ));
            }
            Some(b) if !b.up && w.up => {
                // Its channel's failure, if read after the down line, was that down.
                lost.remove(&w.index);
                once_listened.push((
                    w.index,
                    format!("port {} of bridge {bridge} is up again", w.name),
                ));
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
    let mut say_listened = |index: u32| {
        if let Some(at) = once_listened.iter().position(|(i, _)| *i == index) {
            say(once_listened.remove(at).1);
        }
    };
    for iface in wanted.into_iter().filter(|w| w.up) {
        if current.iter().any(|c| c.index == iface.index) {
            say_listened(iface.index);
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
        let wanted = raw::Wanted::DiscoveryAndQueriesTo(shared.mgmt);
        match raw::open_filtered(&iface.name, Duration::from_millis(500), wanted) {
            Ok((tx, rx)) => {
                if let Ok(mut s) = shared.senders.lock() {
                    s.insert(iface.index, tx);
                }
                if let Ok(mut p) = shared.ports.lock() {
                    p.push(iface.clone());
                }
                shared.announce_on(&iface, ANNOUNCE_TTL);
                let index = iface.index;
                let sh = Arc::clone(shared);
                std::thread::spawn(move || listen_port(sh, iface, rx));
                say_listened(index);
            }
            Err(e) => {
                say_listened(iface.index);
                say(e.to_string());
            }
        }
    }
    // Ports left for the periodic rescan to open (`reopen` false): said all the same.
    for (_, line) in once_listened {
        say(line);
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
    if let Ok(c) = cache.lock() {
        // Expired rows are skipped, not removed here: a query costs the ports' share
        // of the cache, not a pass over all of it (the listeners expire on insert).
        let now = Instant::now();
        for p in &ports {
            let devs = c.devices_on_port_at(&p.name, now);
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

/// The IPv4 addresses of this namespace's interfaces: queries from them come from
/// the switch itself (`netkit l2trace` run on it) and are always answered.
fn own_addresses() -> Vec<Ipv4Addr> {
    raw::interfaces().into_iter().flat_map(|i| i.ipv4).collect()
}

/// The capabilities the running agent keeps: raw sockets for the ports that join
/// later, and nftables (through `nft`, which inherits them) for the CDP rule.
const AGENT_CAPS: [Cap; 2] = [Cap::NetRaw, Cap::NetAdmin];

/// Blocks SIGINT and SIGTERM in this thread and the ones it starts, and takes them in
/// a thread of its own, which removes the nftables table and ends the process.
fn on_stop_remove_table(bridge: String, shared: Arc<Shared>) -> Result<(), L2Error> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| L2Error::Udp(format!("cannot block SIGTERM: {e}")))?;
    std::thread::Builder::new()
        .name("l2t-signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                if let Err(e) = remove_cdp_block(&bridge) {
                    eprintln!("netkit l2trace agent: cannot remove the CDP rule: {e}");
                }
                let stats = shared.stats.lock().map(|s| *s).unwrap_or_default();
                eprintln!(
                    "netkit l2trace agent: {}",
                    summary(&stats, &shared.refusals())
                );
                eprintln!("netkit l2trace agent: {sig}: stopped, CDP rule removed");
                std::process::exit(0);
            }
        })
        .map_err(|e| L2Error::Udp(format!("cannot start the signal thread: {e}")))?;
    Ok(())
}

/// Wakes the rescan at once when the kernel says a link changed (a port joined the
/// bridge, left it, went up or down), so a new port is tapped and covered by the
/// CDP rule within milliseconds instead of at the next periodic rescan.
fn watch_links(wake: mpsc::Sender<bool>) {
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
    const RTMGRP_LINK: u32 = 1;
    let Ok(mut sock) = Socket::new(NETLINK_ROUTE) else {
        return;
    };
    if sock.bind(&SocketAddr::new(0, RTMGRP_LINK)).is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        buf.clear();
        match sock.recv(&mut buf, 0) {
            Ok(_) => {
                if wake.send(true).is_err() {
                    return;
                }
            }
            // ENOBUFS: events were lost; a rescan covers them anyway.
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                let _ = wake.send(true);
            }
            Err(_) => return,
        }
    }
}

/// Runs the agent until it fails (or SIGINT/SIGTERM, which exit 0).
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
    // A network-facing daemon keeps only what it uses, before it starts any thread
    // (threads inherit the reduced sets) and before it reads a byte off the wire;
    // NoNewPrivs: nothing it executes (nft) can gain more.
    crate::caps::lock_down(&AGENT_CAPS).map_err(|e| L2Error::Udp(e.to_string()))?;
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
        rescan: Mutex::new(wake.clone()),
        mgmt,
        origins: Mutex::new(HashMap::new()),
        origin_seen: Condvar::new(),
        refused: Default::default(),
        log: Mutex::new(Log::new(opts.verbose)),
        stats: Mutex::new(Stats::default()),
    });
    on_stop_remove_table(opts.bridge.clone(), Arc::clone(&shared))?;
    {
        // `netkit neighbors` asks this cache instead of waiting for the next
        // CDP/LLDP period on the wire.
        let sh = Arc::clone(&shared);
        let rows = move || {
            sh.cache.lock().map_or_else(
                |_| Vec::new(),
                |mut c| {
                    c.expire(Instant::now());
                    c.rows()
                },
            )
        };
        if let Err(e) = super::neighbors::serve_cache(&opts.bridge, rows) {
            eprintln!(
                "netkit l2trace agent: warning: cannot serve the neighbour cache to \
                 `netkit neighbors`: {e}"
            );
        }
    }
    sync_ports(&shared, &opts.bridge, ports, true, true);
    std::thread::spawn(move || watch_links(wake));
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
                // Wakes that queued meanwhile are folded into this rescan; one from the
                // kernel (a port came up) must still open channels, even when a failed
                // listener's wake came first.
                let drain = |mut reopen: bool| {
                    while let Ok(r) = woken.try_recv() {
                        reopen |= r;
                    }
                    reopen
                };
                let periodic = match woken.recv_timeout(RESCAN_EVERY) {
                    // A link changed: look now, and open what joined.
                    Ok(true) => drain(true),
                    Ok(false) => {
                        std::thread::sleep(SETTLE);
                        drain(false)
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
    serve(&sock, &allow, opts, &device, &shared)
}

/// Whether the kernel accepts, from the wire, packets with one of this host's own
/// source addresses (net.ipv4.conf.{all,BRIDGE}.accept_local; off by default).
fn accept_local(bridge: &str) -> bool {
    ["all", bridge].iter().any(|c| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{c}/accept_local"))
            .is_ok_and(|v| v.trim() != "0")
    })
}

fn serve(
    sock: &UdpSocket,
    allow: &[Cidr],
    opts: &AgentOptions,
    device: &Device,
    shared: &Shared,
) -> Result<(), L2Error> {
    use nix::sys::socket::{sendto, MsgFlags, SockaddrIn};
    use std::os::fd::AsRawFd;
    let mut stats = Stats::default();
    let mut reported = (Stats::default(), String::new());
    let mut last_report = Instant::now();
    let mut limiter = RateLimiter::new(10.0, 40.0, 200.0, Instant::now());
    let mut log = Log::new(opts.verbose);
    let mut arp = ArpCache::default();
    let mut own = (own_addresses(), Instant::now());
    let mut buf = [0u8; 2048];
    // Wakes the loop now and then to print the summary even when nobody asks.
    sock.set_read_timeout(Some(REPORT_EVERY))
        .map_err(|e| L2Error::Udp(format!("cannot set a read timeout: {e}")))?;
    let trust_local = !accept_local(&opts.bridge);
    if !trust_local {
        eprintln!(
            "netkit l2trace agent: accept_local is set: queries from this host's own \
             addresses are checked like any other"
        );
    }
    loop {
        if let Ok(mut s) = shared.stats.lock() {
            *s = stats;
        }
        if last_report.elapsed() >= REPORT_EVERY {
            let now = (stats, shared.refusals());
            if now != reported {
                eprintln!("netkit l2trace agent: {}", summary(&now.0, &now.1));
                reported = now;
            }
            last_report = Instant::now();
        }
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(L2Error::Udp(format!("receive: {e}"))),
        };
        stats.received += 1;
        let std::net::SocketAddr::V4(from) = from else {
            stats.denied += 1;
            continue;
        };
        let data = buf.get(..n).unwrap_or_default();
        // The switch's own queries are always answered (`netkit l2trace` on it). A
        // datagram from outside claiming one of its addresses never gets here: the
        // kernel drops it as a martian source, unless accept_local is set.
        if own.1.elapsed() >= OWN_ADDRESSES_FRESH {
            own = (own_addresses(), Instant::now());
        }
        let local = trust_local && (from.ip().is_loopback() || own.0.contains(from.ip()));
        if !local && !allow.iter().any(|c| c.contains(*from.ip())) {
            stats.denied += 1;
            log.line(|| format!("{from}: not allowed ({} so far)", stats.denied));
            continue;
        }
        let req = match (data.len() <= MAX_REQUEST).then(|| l2t::parse(data)) {
            Some(Ok(m)) if m.is_request() => m,
            Some(Err(e)) => {
                stats.malformed += 1;
                log.line(|| format!("{from}: malformed ({e}), {} so far", stats.malformed));
                continue;
            }
            _ => {
                stats.malformed += 1;
                log.line(|| format!("{from}: not a request, {} so far", stats.malformed));
                continue;
            }
        };
        if !complete_request(&req) {
            stats.incomplete += 1;
            log.line(|| format!("{from}: incomplete request ({} so far)", stats.incomplete));
            continue;
        }
        // Where the source address lives: the ARP table must have a MAC for it (an
        // answer to an address without one would wait for ARP), and the frame that
        // carried the query must come from that MAC. Checked before the rate
        // limiter, so a spoofer cannot spend the bucket of the address it claims,
        // and before any bridge table is read.
        let port = if local {
            None
        } else {
            let refuse = |stats: &mut Stats, log: &mut Log, why: String| {
                stats.not_on_its_port += 1;
                let count = stats.not_on_its_port;
                log.line(|| format!("{from}: refused: {why} ({count} so far)"));
            };
            let Some(mac) = arp.mac_of(*from.ip()) else {
                refuse(
                    &mut stats,
                    &mut log,
                    format!("no ARP entry for {}", from.ip()),
                );
                continue;
            };
            let Some(o) = shared.origin_of((from, payload_key(data))) else {
                refuse(&mut stats, &mut log, "no bridge port saw it come in".into());
                continue;
            };
            if o.src_mac != mac {
                refuse(
                    &mut stats,
                    &mut log,
                    format!("sent by {}, but {} lives at {mac}", o.src_mac, from.ip()),
                );
                continue;
            }
            Some((o.port, mac))
        };
        if !limiter.allow(std::net::IpAddr::V4(*from.ip()), Instant::now()) {
            stats.rate_limited += 1;
            continue;
        }
        let tables = match current_tables(opts, device, &shared.cache) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("netkit l2trace agent: cannot read the bridge tables: {e}");
                continue;
            }
        };
        // ...and the bridge has that MAC on the port the query came in on.
        if let Some((port, mac)) = port {
            if !tables
                .fdb
                .iter()
                .any(|e| e.mac == mac && !e.local && e.port == port)
            {
                stats.not_on_its_port += 1;
                log.line(|| format!("{from}: refused: {mac} is not on the port it came in on"));
                continue;
            }
        }
        let Some(reply) = tables.answer(&req) else {
            stats.unanswerable += 1;
            log.line(|| format!("{from}: {}: no answer", escape(&req.to_string())));
            continue;
        };
        let Some(reply) = fit_reply(reply, (MAX_AMPLIFICATION * n).min(n + MAX_REPLY_GROWTH))
        else {
            stats.too_large += 1;
            continue;
        };
        let bytes = reply.emit();
        log.line(|| {
            format!(
                "{from}: {} -> {}",
                escape(&req.to_string()),
                escape(&reply.to_string())
            )
        });
        // Never wait: a reply that cannot be queued now (the send buffer is full of
        // replies waiting for ARP) is dropped and counted, and the loop goes on.
        match sendto(
            sock.as_raw_fd(),
            &bytes,
            &SockaddrIn::from(from),
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(_) => stats.answered += 1,
            Err(_) => stats.send_dropped += 1,
        }
    }
}

/// The one-line summary of the counters.
fn summary(s: &Stats, refusals: &str) -> String {
    let mut line = format!(
        "{} queries: {} answered, {} not allowed, {} refused (not from the port where \
         their address lives), {} rate-limited, {} malformed, {} incomplete, {} \
         unanswerable, {} too large to fit 3x the query, {} replies dropped (send queue \
         full)",
        s.received,
        s.answered,
        s.denied,
        s.not_on_its_port,
        s.rate_limited,
        s.malformed,
        s.incomplete,
        s.unanswerable,
        s.too_large,
        s.send_dropped
    );
    if !refusals.is_empty() {
        line.push_str(&format!("; CDP/LLDP frames refused: {refusals}"));
    }
    line
}
