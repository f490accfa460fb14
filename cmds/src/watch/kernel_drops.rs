//! The kernel's own word on a lossy TCP connection: when `netkit_os::bpf::drops` runs
//! beside `watch` (and `top --findings`), its rows are noted here per connection, and
//! a stream whose retransmissions earn a finding gets a second one,
//! `tcp_drops_in_kernel`, naming the drop reason and where: "NETFILTER_DROP in
//! namespace X on vb", "QDISC_DROP on eth0", "SOCKET_RCVBUFF for PID Z".

use super::evidence::ConnKey;
use crate::drops::report::DropRow;
use crate::output::plural;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// Connections remembered; past it the whole table is let go (and counted), as the
/// drops of a connection matter only until its stream settles.
const MAX_CONNECTIONS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    reason: String,
    netns: String,
    ifname: String,
    pid: Option<i32>,
}

/// Kernel drops per TCP connection, since the connection's first drop.
#[derive(Debug, Default)]
pub struct KernelDrops {
    by_conn: HashMap<ConnKey, BTreeMap<Place, u64>>,
    /// Connections let go when the table was full.
    pub forgotten: u64,
}

impl KernelDrops {
    /// One interval's rows of `netkit drops`' engine (TCP rows with a flow count).
    pub fn note(&mut self, rows: &[DropRow]) {
        for r in rows {
            let Some(f) = &r.flow else { continue };
            if r.protocol != "TCP" {
                continue;
            }
            let key = ConnKey::new(
                SocketAddr::new(f.src, f.sport),
                SocketAddr::new(f.dst, f.dport),
            );
            if !self.by_conn.contains_key(&key) && self.by_conn.len() >= MAX_CONNECTIONS {
                self.forgotten += self.by_conn.len() as u64;
                self.by_conn.clear();
            }
            *self
                .by_conn
                .entry(key)
                .or_default()
                .entry(Place {
                    reason: r.reason.clone(),
                    netns: r.netns.clone(),
                    ifname: r.ifname.clone(),
                    pid: r.process.as_ref().map(|p| p.pid),
                })
                .or_default() += r.count;
        }
    }

    /// "12 segments: 10 NETFILTER_DROP in namespace B on vb, 2 QDISC_DROP in namespace
    /// A on va", and the count; None when the kernel dropped nothing of it.
    pub fn describe(&self, a: SocketAddr, b: SocketAddr) -> Option<(u64, String)> {
        let places = self.by_conn.get(&ConnKey::new(a, b))?;
        let total: u64 = places.values().sum();
        let mut parts: Vec<(&Place, u64)> = places.iter().map(|(p, n)| (p, *n)).collect();
        parts.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
        let text: Vec<String> = parts
            .iter()
            .map(|(p, n)| {
                let mut s = format!("{n} {} in namespace {}", p.reason, p.netns);
                if p.ifname != "-" {
                    s.push_str(&format!(" on {}", p.ifname));
                }
                if let Some(pid) = p.pid {
                    s.push_str(&format!(" for PID {pid}"));
                }
                s
            })
            .collect();
        Some((
            total,
            format!(
                "the kernel dropped {} of {a} <-> {b}: {}",
                plural(total, "packet", "packets"),
                text.join(", ")
            ),
        ))
    }

    pub fn forget(&mut self, a: SocketAddr, b: SocketAddr) {
        self.by_conn.remove(&ConnKey::new(a, b));
    }
}
