//! `ss`'s table. The namespace column shows only when several namespaces are.

use super::{SockEntry, TcpInfo};
use crate::output::{Table, Term};

pub fn render(rows: &[SockEntry], with_ns: bool, term: &Term) -> String {
    let mut t = Table::new([
        "netns", "proto", "state", "recv-q", "send-q", "local", "peer", "process", "tcp info",
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
            r.tcp_info.as_ref().map(tcp_info_cell).unwrap_or_default(),
        ]);
    }
    // On a narrow terminal, what `ss -tanp` users miss least goes first; addresses
    // and processes stay whole.
    let t = t
        .droppable(["tcp info", "send-q", "recv-q", "proto"])
        .breakable(["process"]);
    if with_ns {
        t.render(term)
    } else {
        t.without_column(0).render(term)
    }
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
