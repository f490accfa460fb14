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

/// Sends our CDP and LLDP announcements out of one interface.
pub fn announce(
    tx: &mut raw::Sender,
    iface: &Iface,
    id: &Identity,
    ttl: u16,
) -> std::io::Result<()> {
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
}

/// Listens for CDP and LLDP for `opts.wait` and returns what was heard. With an
/// identity, announces it on every interface first; neighbours running the netkit
/// agent answer a newcomer at once, so a short wait is enough for them. At the end
/// the announcement is withdrawn (TTL 0), so a short-lived listener does not linger
/// in the neighbours' caches as a second device on their port.
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
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
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
