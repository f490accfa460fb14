//! `ss`'s table. The namespace column shows only when several namespaces are.

use super::{SockEntry, Summary, TcpInfo};
use crate::output::{Table, Term};

/// Optional columns, as `ss -o` and `ss -e` add them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extra {
    /// `-o`: the TCP timer.
    pub timers: bool,
    /// `-e`: owner uid and socket inode.
    pub extended: bool,
}

pub fn render(rows: &[SockEntry], with_ns: bool, extra: Extra, term: &Term) -> String {
    let mut t = Table::new([
        "netns",
        "proto",
        "state",
        "recv-q",
        "send-q",
        "local",
        "peer",
        "process",
        "timer",
        "uid/inode",
        "tcp info",
    ]);
    for r in rows {
        let local = match &r.dev {
            Some(d) => format!("{}%{d}", r.local),
            None => r.local.to_string(),
        };
        let procs = r
            .process
            .iter()
            .map(|p| format!("{}({})", p.comm, p.pid))
            .collect::<Vec<_>>()
            .join(", ");
        t.row(vec![
            r.netns.clone(),
            r.proto.clone(),
            r.state.clone(),
            r.recv_q.to_string(),
            r.send_q.to_string(),
            local,
            r.peer.to_string(),
            procs,
            r.timer.as_ref().map(|t| t.to_string()).unwrap_or_default(),
            format!("uid:{} ino:{}", r.uid, r.inode),
            r.tcp_info.as_ref().map(tcp_info_cell).unwrap_or_default(),
        ]);
    }
    // Columns asked for only: -e before -o (indexes shift from the right).
    if !extra.extended {
        t = t.without_column(9);
    }
    if !extra.timers {
        t = t.without_column(8);
    }
    // On a narrow terminal, what `ss -tanp` users miss least goes first; addresses
    // and processes stay whole.
    let t = t
        .droppable(["tcp info", "uid/inode", "send-q", "recv-q", "proto"])
        .breakable(["process"]);
    if with_ns {
        t.render(term)
    } else {
        t.without_column(0).render(term)
    }
}

/// `ss -s`: one row per namespace.
pub fn render_summary(rows: &[Summary], term: &Term) -> String {
    let mut t = Table::new([
        "netns",
        "tcp",
        "estab",
        "listen",
        "time-wait",
        "other tcp",
        "udp",
        "ipv4",
        "ipv6",
    ]);
    for s in rows {
        t.row(
            [
                s.tcp,
                s.tcp_estab,
                s.tcp_listen,
                s.tcp_timewait,
                s.tcp_other,
                s.udp,
                s.inet,
                s.inet6,
            ]
            .iter()
            .map(u64::to_string)
            .fold(vec![s.netns.clone()], |mut v, c| {
                v.push(c);
                v
            }),
        );
    }
    t.render(term)
}

fn tcp_info_cell(t: &TcpInfo) -> String {
    let mut s = format!(
        "{} rtt {:.3}/{:.3}ms cwnd {} retrans {}/{} acked {} rcvd {}",
        t.congestion.as_deref().unwrap_or("?"),
        t.rtt_ms,
        t.rttvar_ms,
        t.cwnd,
        t.retransmits,
        t.total_retrans,
        t.bytes_acked,
        t.bytes_received
    );
    match t.md5 {
        Some(true) => s.push_str(" md5"),
        Some(false) => {}
        None => s.push_str(" md5 n/a (needs CAP_NET_ADMIN)"),
    }
    s
}
