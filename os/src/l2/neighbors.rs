//! `netkit neighbors`' listener and our CDP/LLDP announcements on the wire. The cache,
//! the decoding and the announcement PDUs are `netkit_cmds::neighbors`.

use super::raw::{self, Iface};
use super::L2Error;
use netkit_cmds::neighbors::frames::{cdp_frame, lldp_frame};
use netkit_cmds::neighbors::{
    cdp_announcement, from_frame, lldp_announcement, Identity, Neighbor, NeighborCache,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The abstract Unix socket on which the l2trace agent of `bridge` hands its
/// neighbour cache to `netkit neighbors` (abstract names belong to the network
/// namespace, as the bridge does).
pub fn agent_socket_name(bridge: &str) -> String {
    format!("{AGENT_SOCKET_PREFIX}{bridge}")
}

const AGENT_SOCKET_PREFIX: &str = "netkit-l2trace-agent:";

/// The neighbour caches of the l2trace agents running in the calling thread's
/// namespace, as `lldpcli` asks `lldpd`: `None` when no agent answers.
pub fn ask_agents() -> Option<Vec<Neighbor>> {
    use std::io::Read;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    let table = std::fs::read_to_string("/proc/thread-self/net/unix").ok()?;
    let mut names: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split_whitespace().nth(7))
        .filter_map(|p| p.strip_prefix('@'))
        .filter(|p| p.starts_with(AGENT_SOCKET_PREFIX))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut rows: Option<Vec<Neighbor>> = None;
    for name in names {
        let Ok(addr) = SocketAddr::from_abstract_name(name.as_bytes()) else {
            continue;
        };
        let Ok(mut s) = UnixStream::connect_addr(&addr) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut text = String::new();
        if s.read_to_string(&mut text).is_err() {
            continue;
        }
        if let Ok(mut got) = serde_json::from_str::<Vec<Neighbor>>(&text) {
            rows.get_or_insert_with(Vec::new).append(&mut got);
        }
    }
    rows
}

/// Serves `rows()` on the agent's socket for `bridge` until the process ends: one
/// JSON array per connection, to root and to the agent's own user only (CDP/LLDP
/// frames need CAP_NET_RAW to read; the cache is not more public than they are).
pub fn serve_cache(
    bridge: &str,
    rows: impl Fn() -> Vec<Neighbor> + Send + 'static,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    let addr = SocketAddr::from_abstract_name(agent_socket_name(bridge).as_bytes())?;
    let listener = UnixListener::bind_addr(&addr)?;
    // /proc/self belongs to the process's effective user.
    let me = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
    };
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let peer = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials);
            if !peer.is_ok_and(|c| c.uid() == 0 || c.uid() == me) {
                continue;
            }
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            if let Ok(text) = serde_json::to_string(&rows()) {
                let _ = s.write_all(text.as_bytes());
            }
        }
    });
    Ok(())
}

/// Sends our CDP and LLDP announcements out of one interface. An identity without a
/// management address (a host) announces the interface's own first IPv4 address, so
/// each interface's neighbour learns the address it can reach us at.
pub fn announce(
    tx: &mut raw::Sender,
    iface: &Iface,
    id: &Identity,
    ttl: u16,
) -> std::io::Result<()> {
    let own;
    let id = if id.mgmt_ip.is_none() {
        own = Identity {
            mgmt_ip: iface.ipv4.first().copied(),
            ..id.clone()
        };
        &own
    } else {
        id
    };
    let cdp_ttl = u8::try_from(ttl).unwrap_or(u8::MAX);
    raw::send(
        tx,
        &cdp_frame(iface.mac, &cdp_announcement(id, &iface.name, cdp_ttl)),
    )?;
    raw::send(
        tx,
        &lldp_frame(
            iface.mac,
            &lldp_announcement(id, &iface.name, iface.index, ttl),
        ),
    )
}

/// What `netkit neighbors` does.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Interfaces to listen on; empty means every interface that is up, not loopback.
    pub interfaces: Vec<String>,
    pub wait: Duration,
    /// Send our own announcement first (and withdraw it at the end).
    pub announce: Option<Identity>,
    /// Announce with TTL 0 only: a solicitation that makes netkit agents answer at
    /// once without ever holding us as a neighbour.
    pub solicit_only: bool,
    /// Return as soon as a neighbour with an IPv4 management address is heard.
    pub stop_at_first_ip: bool,
    /// Say on stderr where and how long we listen (a wait of a minute is otherwise
    /// silent).
    pub tell: bool,
}

/// Listens for CDP and LLDP for `opts.wait` and returns what was heard. With an
/// identity, announces it on every interface first; neighbours running the netkit
/// agent answer a newcomer at once, so a short wait is enough for them. At the end
/// the announcement is withdrawn (TTL 0), so a short-lived listener does not linger
/// in the neighbours' caches as a second device on their port.
/// How often `neighbors --announce` repeats its announcement while it listens.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(10);
/// LLDP's fast start (IEEE 802.1AB-2016 txFastInit and msgFastTx): the first
/// announcements go a second apart, so one lost to a link that is still coming up
/// (its queue not yet running) or to a neighbour not yet listening costs a second.
const FAST_START_COUNT: u32 = 4;
const FAST_START_EVERY: Duration = Duration::from_secs(1);

pub fn listen(opts: &ListenOptions) -> Result<Vec<Neighbor>, L2Error> {
    let all = raw::interfaces();
    let chosen: Vec<Iface> = if opts.interfaces.is_empty() {
        all.into_iter().filter(|i| i.up && !i.loopback).collect()
    } else {
        opts.interfaces
            .iter()
            .map(|name| {
                all.iter()
                    .find(|i| &i.name == name)
                    .cloned()
                    .ok_or_else(|| L2Error::NoInterface(name.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        return Err(L2Error::NothingToListenOn);
    }
    let cache = Arc::new(Mutex::new(NeighborCache::default()));
    let deadline = Instant::now() + opts.wait;
    let ttl = if opts.solicit_only {
        0
    } else {
        u16::try_from(opts.wait.as_secs() + 10).unwrap_or(u16::MAX)
    };
    let stop = AtomicBool::new(false);
    let mut channels = Vec::new();
    for iface in &chosen {
        channels.push((
            iface.clone(),
            raw::open(&iface.name, Duration::from_millis(20))?,
        ));
    }
    // Said once every channel is open: a refusal (no CAP_NET_RAW) stays one line.
    if opts.tell {
        let names: Vec<&str> = chosen.iter().map(|i| i.name.as_str()).collect();
        eprintln!(
            "netkit: listening on {} for {} s (no l2trace agent runs here to ask)",
            names.join(", "),
            opts.wait.as_secs()
        );
    }
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        for (iface, (mut tx, mut rx)) in channels {
            if let Some(id) = &opts.announce {
                if let Err(e) = announce(&mut tx, &iface, id, ttl) {
                    eprintln!("netkit: {}: cannot announce: {e}", iface.name);
                }
            }
            senders.push((iface.clone(), tx));
            let cache = Arc::clone(&cache);
            let stop = &stop;
            scope.spawn(move || {
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    match raw::recv(&mut rx) {
                        Ok(Some(frame)) => {
                            if let Some(n) =
                                from_frame(&iface.name, iface.mac, &frame, crate::clock::unix_ns())
                            {
                                if let Ok(mut c) = cache.lock() {
                                    c.update(n, Instant::now());
                                }
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            eprintln!("netkit: {}: {e}; no longer listening there", iface.name);
                            break;
                        }
                    }
                }
            });
        }
        let mut announced = Instant::now();
        let mut sent = 1;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            // Keep announcing while listening: a neighbour that missed the first
            // one (or restarted) learns us within a period.
            if let (Some(id), false) = (&opts.announce, opts.solicit_only) {
                let period = if sent < FAST_START_COUNT {
                    FAST_START_EVERY
                } else {
                    ANNOUNCE_EVERY
                };
                if announced.elapsed() >= period {
                    for (iface, tx) in &mut senders {
                        let _ = announce(tx, iface, id, ttl);
                    }
                    announced = Instant::now();
                    sent += 1;
                }
            }
            let found = opts.stop_at_first_ip
                && cache
                    .lock()
                    .is_ok_and(|c| c.rows().iter().any(|n| n.mgmt_ip.is_some()));
            if found {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        // Withdraw what we announced (a solicitation had TTL 0 already).
        if let (Some(id), false) = (&opts.announce, opts.solicit_only) {
            for (iface, tx) in &mut senders {
                let _ = announce(tx, iface, id, 0);
            }
        }
    });
    let rows = cache.lock().map(|c| c.rows()).unwrap_or_default();
    Ok(rows)
}
