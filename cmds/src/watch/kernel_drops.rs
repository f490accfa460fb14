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
/// A connection's drops are let go once its stream has settled (its findings are
/// raised once), or when nothing more was dropped of it for this long: every TCP
/// connection that closes has a drop or two (QUEUE_PURGE, NOT_SPECIFIED), often noted
/// after its stream settled, and most belong to no stream watched at all (the probe
/// sees every namespace). Without it a soak of short connections grew by each one.
const KEEP_IDLE_NS: i64 = 120_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    reason: String,
    netns: String,
    ifname: String,
    pid: Option<i32>,
}

/// One connection's drops and when the last of them was noted.
#[derive(Debug, Default)]
struct Dropped {
    places: BTreeMap<Place, u64>,
    last_noted_ns: i64,
}

/// Kernel drops per TCP connection, since the connection's first drop.
#[derive(Debug, Default)]
pub struct KernelDrops {
    by_conn: HashMap<ConnKey, Dropped>,
    /// Connections let go when the table was full.
    pub forgotten: u64,
}

impl KernelDrops {
    /// One interval's rows of `netkit drops`' engine (TCP rows with a flow count),
    /// read at `now_ns` (any clock, the one [`KernelDrops::expire`] is given).
    pub fn note(&mut self, now_ns: i64, rows: &[DropRow]) {
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
            let conn = self.by_conn.entry(key).or_default();
            conn.last_noted_ns = now_ns;
            *conn
                .places
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
        let places = &self.by_conn.get(&ConnKey::new(a, b))?.places;
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

    /// Lets go of the connections nothing was dropped of for [`KEEP_IDLE_NS`].
    pub fn expire(&mut self, now_ns: i64) {
        self.by_conn
            .retain(|_, c| now_ns - c.last_noted_ns < KEEP_IDLE_NS);
    }

    /// Connections held now.
    pub fn held(&self) -> u64 {
        self.by_conn.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drops::report::{DropFlow, DropRow};

    fn row(sport: u16, reason: &str) -> DropRow {
        DropRow {
            netns: "a".into(),
            netns_inode: 1,
            ifname: "-".into(),
            ifindex: 0,
            reason: reason.into(),
            protocol: "TCP".into(),
            flow: Some(DropFlow {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                sport,
                dport: 80,
            }),
            socket_inode: None,
            process: None,
            count: 1,
            bytes: 60,
            rate: 1.0,
            total: 1,
        }
    }

    #[test]
    fn settled_and_idle_connections_are_let_go() {
        let mut k = KernelDrops::default();
        let rows: Vec<DropRow> = (1000..1100).map(|p| row(p, "QUEUE_PURGE")).collect();
        k.note(0, &rows);
        k.note(KEEP_IDLE_NS, &[row(1000, "NETFILTER_DROP")]);
        assert_eq!(k.held(), 100);
        let (a, b) = (
            "10.0.0.2:80".parse().unwrap(),
            "10.0.0.1:1000".parse().unwrap(),
        );
        let (n, text) = k.describe(a, b).expect("noted");
        assert_eq!(n, 2, "{text}");
        // 99 idle since the first interval go; the one noted again stays.
        k.expire(KEEP_IDLE_NS + 1);
        assert_eq!(k.held(), 1);
        k.forget(a, b);
        assert_eq!(k.held(), 0);
        assert_eq!(k.forgotten, 0);
    }
}
