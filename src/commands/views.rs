//! `netkit ss`, `netkit arp`, `netkit route`: one namespace (`--netns NS`), the current
//! one, or all of them in one merged table (`--all-netns`).

use super::CmdResult;
use clap::Args;
use netkit_cmds::netns::Selection;
use netkit_cmds::nsviews::{self, Collected};
use netkit_cmds::output::{terminal_width, write_json};
use netkit_cmds::{neigh, sockets};
use std::io::Write;

#[derive(Debug, Args)]
pub struct NsSelect {
    /// Look in namespace NS: a name, a VRF name (VRF1 finds ns-VRF1, srbase-VRF1,
    /// vrf-VRF1), pid:N or a path to a namespace file
    // -N as `ss -N`: -n stays "numeric", which arp/route/ss users type by habit.
    #[arg(
        short = 'N',
        long = "netns",
        value_name = "NS",
        conflicts_with = "all_netns"
    )]
    pub netns: Option<String>,
    /// Look in every namespace (named, and those held by processes) at once
    #[arg(short = 'A', long = "all-netns")]
    pub all_netns: bool,
    /// Accepted for `arp -n`/`route -n`/`ss -tanp` habits: output is always numeric
    #[arg(short = 'n', long = "numeric", hide = true)]
    pub numeric: bool,
}

impl NsSelect {
    pub fn selection(&self) -> Selection {
        match (&self.netns, self.all_netns) {
            (_, true) => Selection::All,
            (Some(ns), false) => Selection::One(ns.clone()),
            (None, false) => Selection::Current,
        }
    }
}

#[derive(Debug, Args)]
pub struct SsArgs {
    #[command(flatten)]
    pub ns: NsSelect,
    /// TCP sockets
    #[arg(short = 't', long = "tcp")]
    pub tcp: bool,
    /// UDP sockets
    #[arg(short = 'u', long = "udp")]
    pub udp: bool,
    /// Listening sockets only (TCP LISTEN, unconnected UDP)
    #[arg(short = 'l', long = "listening", conflicts_with = "all")]
    pub listening: bool,
    /// Sockets in every state
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// IPv4 only
    #[arg(short = '4', conflicts_with = "v6")]
    pub v4: bool,
    /// IPv6 only
    #[arg(short = '6')]
    pub v6: bool,
    /// Accepted for `ss -p` habits: owning processes are always shown
    #[arg(short = 'p', long = "processes", hide = true)]
    pub processes: bool,
    /// Accepted for `ss -i` habits: TCP internals are always shown
    #[arg(short = 'i', long = "info", hide = true)]
    pub info: bool,
    /// An array of {netns, proto, state, local, peer, recv_q, send_q, process, tcp_info}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ArpArgs {
    #[command(flatten)]
    pub ns: NsSelect,
    /// IPv4 (ARP) neighbours only
    #[arg(short = '4', conflicts_with = "v6")]
    pub v4: bool,
    /// IPv6 (NDP) neighbours only
    #[arg(short = '6')]
    pub v6: bool,
    /// An array of {netns, ip, mac, dev, state, vrf}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[command(flatten)]
    pub ns: NsSelect,
    /// all, main, local, default, a table number, or a VRF device name
    #[arg(long, value_name = "TABLE", default_value = "main")]
    pub table: String,
    /// IPv4 routes only
    #[arg(short = '4', conflicts_with = "v6")]
    pub v4: bool,
    /// IPv6 routes only
    #[arg(short = '6')]
    pub v6: bool,
    /// An array of {netns, family, table, dst, gateway, dev, proto, scope, metric, encap,
    /// nexthops}
    #[arg(long)]
    pub json: bool,
}

fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("netkit: warning: {w}");
    }
}

/// A table whose first column (the namespace) is only there when several namespaces are
/// shown. On a terminal narrower than the table only the last column (free text: TCP info,
/// next hops) is wrapped; addresses, ports and names are never cut, since a clipped
/// value would silently mislead.
fn render(with_ns: bool, headers: &[&str], rows: Vec<Vec<String>>) -> String {
    use tabled::settings::{object::Columns, Modify, Style, Width};
    let skip = usize::from(!with_ns);
    let header: Vec<String> = headers.iter().skip(skip).map(|h| h.to_string()).collect();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.into_iter().skip(skip).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Each column adds a border and two padding spaces; one more border closes the row.
    let total: usize = widths.iter().map(|w| w + 3).sum::<usize>() + 1;
    let last = widths.last().copied().unwrap_or(0);
    let mut b = tabled::builder::Builder::default();
    b.push_record(header);
    for r in rows {
        b.push_record(r);
    }
    let mut t = b.build();
    t.with(Style::sharp());
    if let Some(tw) = terminal_width() {
        let room = tw.saturating_sub(total - last);
        if total > tw && room >= 16 {
            t.with(Modify::new(Columns::last()).with(Width::wrap(room).keep_words(true)));
        }
    }
    t.to_string()
}

type JsonWriter<'a> = &'a dyn Fn(&mut dyn Write) -> std::io::Result<()>;

/// `json` writes the rows as JSON (a closure, so this stays generic without naming
/// serde here); otherwise a table, or `empty` when there is nothing to show.
fn emit<T>(
    json: Option<JsonWriter>,
    got: &Collected<T>,
    with_ns: bool,
    empty: &str,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> CmdResult {
    warn(&got.warnings);
    let mut out = std::io::stdout().lock();
    if let Some(write_rows) = json {
        write_rows(&mut out)?;
    } else if got.rows.is_empty() {
        writeln!(out, "{empty}")?;
    } else {
        let rows = got.rows.iter().map(row).collect();
        writeln!(out, "{}", render(with_ns, headers, rows))?;
    }
    out.flush()?;
    // Namespaces left out for lack of privilege make the view incomplete: the rows shown
    // are real, but the job (every namespace) was not done, so exit 1 and say why.
    let denied = got
        .warnings
        .iter()
        .filter(|w| w.contains("needs CAP_SYS_ADMIN"))
        .count();
    if denied > 0 {
        return Err(super::CmdError::Failed(format!(
            "{denied} namespace(s) not shown: entering them needs CAP_SYS_ADMIN \
             (run netkit as root or with sudo)"
        )));
    }
    Ok(())
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn is_v6_endpoint(s: &str) -> bool {
    s.starts_with('[')
}

pub fn run_ss(a: SsArgs) -> CmdResult {
    let sel = a.ns.selection();
    let filter = sockets::Filter {
        tcp: a.tcp,
        udp: a.udp,
        listening: a.listening,
        all: a.all,
    };
    let mut got = nsviews::sockets(&sel, &filter)?;
    if a.v4 || a.v6 {
        got.rows.retain(|r| is_v6_endpoint(&r.local) == a.v6);
    }
    let headers = [
        "NETNS", "PROTO", "STATE", "RECV-Q", "SEND-Q", "LOCAL", "PEER", "PROCESS", "TCP INFO",
    ];
    let rows_json = |o: &mut dyn Write| write_json(o, &got.rows);
    emit(
        a.json.then_some(&rows_json as JsonWriter),
        &got,
        sel == Selection::All,
        "no sockets",
        &headers,
        |r| {
            let local = match &r.dev {
                Some(d) => format!("{}%{d}", r.local),
                None => r.local.clone(),
            };
            let procs = r
                .process
                .iter()
                .map(|p| format!("{}({})", p.comm, p.pid))
                .collect::<Vec<_>>()
                .join(",");
            vec![
                r.netns.clone(),
                r.proto.clone(),
                r.state.clone(),
                r.recv_q.to_string(),
                r.send_q.to_string(),
                local,
                r.peer.clone(),
                procs,
                r.tcp_info.as_ref().map(tcp_info_cell).unwrap_or_default(),
            ]
        },
    )
}

fn tcp_info_cell(t: &sockets::TcpInfo) -> String {
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

pub fn run_arp(a: ArpArgs) -> CmdResult {
    let sel = a.ns.selection();
    let family = match (a.v4, a.v6) {
        (true, _) => neigh::Family::V4,
        (_, true) => neigh::Family::V6,
        _ => neigh::Family::Both,
    };
    let got = nsviews::neighbours(&sel, family)?;
    let headers = ["NETNS", "IP", "MAC", "DEV", "STATE", "VRF"];
    let rows_json = |o: &mut dyn Write| write_json(o, &got.rows);
    emit(
        a.json.then_some(&rows_json as JsonWriter),
        &got,
        sel == Selection::All,
        "no neighbours",
        &headers,
        |r| {
            vec![
                r.netns.clone(),
                r.ip.clone(),
                opt(&r.mac),
                r.dev.clone(),
                r.state.clone(),
                opt(&r.vrf),
            ]
        },
    )
}

pub fn run_route(a: RouteArgs) -> CmdResult {
    let sel = a.ns.selection();
    let mut got = nsviews::routes(&sel, &a.table)?;
    if a.v4 {
        got.rows.retain(|r| r.family == "inet");
    } else if a.v6 {
        got.rows.retain(|r| r.family == "inet6");
    }
    let headers = [
        "NETNS",
        "FAMILY",
        "TABLE",
        "TYPE",
        "DST",
        "GATEWAY",
        "DEV",
        "PROTO",
        "SCOPE",
        "METRIC",
        "ENCAP / NEXTHOPS",
    ];
    let rows_json = |o: &mut dyn Write| write_json(o, &got.rows);
    emit(
        a.json.then_some(&rows_json as JsonWriter),
        &got,
        sel == Selection::All,
        "no routes",
        &headers,
        |r| {
            let table = match &r.vrf {
                Some(v) => format!("{} ({v})", r.table),
                None => r.table.clone(),
            };
            let mut extra: Vec<String> = r.encap.iter().cloned().collect();
            if let Some(id) = r.nhid {
                extra.push(format!("nhid {id}"));
            }
            for n in &r.nexthops {
                let mut leg = format!(
                    "via {} dev {} weight {}",
                    opt(&n.gateway),
                    opt(&n.dev),
                    n.weight
                );
                if let Some(e) = &n.encap {
                    leg.push_str(&format!(" encap {e}"));
                }
                if let Some(l) = &n.newdst {
                    leg.push_str(&format!(" as to {l}"));
                }
                extra.push(leg);
            }
            vec![
                r.netns.clone(),
                r.family.clone(),
                table,
                r.kind.clone(),
                r.dst.clone(),
                opt(&r.gateway),
                opt(&r.dev),
                r.proto.clone(),
                r.scope.clone(),
                r.metric.map(|m| m.to_string()).unwrap_or_default(),
                extra.join("; "),
            ]
        },
    )
}
