//! `top --resolve`: reverse lookups of remote addresses through the system resolver
//! (getnameinfo: /etc/hosts, then DNS as nsswitch.conf says), on a thread of their own.
//!
//! Off by default: names learnt from DNS answers on the wire cost nothing and leak
//! nothing, while a PTR query tells the resolver which hosts are being watched and can
//! wait seconds when DNS is the thing that is broken. The capture never waits for
//! this thread: it only takes the engine's lock to read which addresses still lack a
//! name and again to store what it found. A name seen on the wire is never replaced.

use netkit_cmds::top::engine::Engine;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Addresses asked about per round, so that one slow resolver cannot hold up the rest
/// for long and a scan of thousands of hosts does not turn into a query flood.
const PER_ROUND: usize = 32;
/// Pause between rounds.
const ROUND: Duration = Duration::from_millis(250);
/// Addresses remembered as asked (with or without an answer) before starting over.
const MAX_ASKED: usize = 65_536;

/// Resolves remote addresses of live flows until `stop` is set. Runs in the namespace
/// of the thread that starts it, with that namespace's /etc/hosts and resolver.
pub fn run(engine: &Mutex<Engine>, stop: &AtomicBool) {
    let mut asked: HashSet<IpAddr> = HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        let wanted: Vec<IpAddr> = {
            let e = crate::lock(engine);
            let mut seen = HashSet::new();
            e.flows
                .keys()
                .map(|k| k.remote.ip())
                .filter(|ip| !ip.is_unspecified() && e.names.get(*ip).is_none())
                .filter(|ip| !asked.contains(ip) && seen.insert(*ip))
                .take(PER_ROUND)
                .collect()
        };
        if asked.len() + wanted.len() > MAX_ASKED {
            asked.clear();
        }
        for ip in wanted {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            asked.insert(ip);
            // NI_NAMEREQD inside: an address without a name is an error, not its digits.
            if let Ok(name) = dns_lookup::lookup_addr(&ip) {
                let mut e = crate::lock(engine);
                if e.names.get(ip).is_none() {
                    e.names.insert(ip, name.trim_end_matches('.'));
                }
            }
        }
        std::thread::sleep(ROUND);
    }
}
