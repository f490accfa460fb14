//! `netkit ss`, `netkit arp`, `netkit route`: one namespace (`--netns NS`), the current
//! one, or all of them in one merged table (`--all-netns`).

use crate::exit::{warn, Error, Result};
use clap::Args;
use netkit_cmds::arp::{self, Family};
use netkit_cmds::ns::NsRows;
use netkit_cmds::output::{write_json, Term};
use netkit_cmds::route;
use netkit_cmds::ss::{self, Filter};
use netkit_os::netns::{each, Selection};
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
    // No -A: `ss -A QUERY` selects socket tables in iproute2, and a different -A here
    // would surprise (see `ss -A`).
    #[arg(long = "all-netns")]
    pub all_netns: bool,
    /// Accepted for `arp -n`/`route -n`/`ss -tanp` habits: output is always numeric
    #[arg(short = 'n', long = "numeric", hide = true)]
    pub numeric: bool,
}

impl NsSelect {
    pub fn selection(&self) -> Selection {
        Selection::from_options(self.netns.as_deref(), self.all_netns)
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
    /// Show the TCP timer of each socket (as `ss -o`: timer:(keepalive,119min,0))
    #[arg(short = 'o', long = "options")]
    pub timers: bool,
    /// Show the owner uid and the socket inode (as `ss -e`)
    #[arg(short = 'e', long = "extended")]
    pub extended: bool,
    /// Counts per namespace: TCP by state, UDP, IPv4/IPv6 (as `ss -s`)
    #[arg(short = 's', long = "summary")]
    pub summary: bool,
    /// Socket tables, as `ss -A`: all, inet, tcp, udp (comma-separated); netkit shows
    /// TCP and UDP sockets only
    #[arg(
        short = 'A',
        long = "query",
        value_name = "QUERY",
        value_delimiter = ','
    )]
    pub query: Vec<String>,
    /// iproute2 filter words: `state established`, `exclude listening`, `dst 10.0.0.1`,
    /// `src 10.0.0.0/24`, `dport = :443`, `sport gt :1024`, joined by `and`
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
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
    /// Accepted for `arp -a`/`arp -an` habits: every neighbour is always shown
    #[arg(short = 'a', long = "all", hide = true)]
    pub all: bool,
    /// An array of {netns, ip, mac, dev, state, vrf}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddrArgs {
    #[command(flatten)]
    pub ns: NsSelect,
    /// IPv4 addresses only
    #[arg(short = '4', conflicts_with = "v6")]
    pub v4: bool,
    /// IPv6 addresses only
    #[arg(short = '6')]
    pub v6: bool,
    /// Accepted for `ip -br a` habits: the view is always brief
    #[arg(long = "brief", visible_alias = "br", hide = true)]
    pub brief: bool,
    /// An array of {netns, dev, state, addrs}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[command(subcommand)]
    pub get: Option<RouteCommand>,
    #[command(flatten)]
    pub ns: NsSelect,
    /// all, main, local, default, a table number, a name from rt_tables, or a VRF
    /// device name; a table that is none of these is an error
    #[arg(long, value_name = "TABLE", default_value = "main",
          value_parser = |s: &str| route::check_table_arg(s))]
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

#[derive(Debug, clap::Subcommand)]
pub enum RouteCommand {
    /// Which route, gateway, device and source address a destination takes (the
    /// kernel's lookup, as `ip route get`), per namespace or across all of them
    Get {
        /// The destination, IPv4 or IPv6
        #[arg(value_name = "ADDR")]
        to: std::net::IpAddr,
        #[command(flatten)]
        ns: NsSelect,
        /// An array of {netns, to, type, table, vrf, gateway, dev, prefsrc, error}
        #[arg(long)]
        json: bool,
    },
}

/// Prints a namespace-wide view: the rows as JSON or a table (`empty` when there are
/// none), after a warning line for every namespace that could not be read. Namespaces
/// left out for lack of privilege make the command fail: the rows shown are real, but
/// the job (every namespace) was not done.
fn emit<T: serde::Serialize>(
    json: bool,
    got: &NsRows<T>,
    empty: &str,
    table: impl FnOnce(&[T]) -> String,
) -> Result {
    for p in &got.problems {
        warn(p);
    }
    for w in &got.warnings {
        warn(w);
    }
    let mut out = std::io::stdout().lock();
    if json {
        write_json(&mut out, &got.rows)?;
    } else if got.rows.is_empty() {
        writeln!(out, "{empty}")?;
    } else {
        writeln!(out, "{}", table(&got.rows))?;
    }
    out.flush()?;
    match got.denied() {
        0 => Ok(()),
        n => Err(Error::NamespacesDenied(n)),
    }
}

pub fn run_ss(a: SsArgs, term: &Term) -> Result {
    let sel = a.ns.selection();
    let expr = ss::filter::parse(&a.filter).map_err(|e| Error::Usage(e.to_string()))?;
    let (mut tcp, mut udp) = (a.tcp, a.udp);
    for table in &a.query {
        match table.as_str() {
            "all" | "inet" => (tcp, udp) = (true, true),
            "tcp" => tcp = true,
            "udp" => udp = true,
            other => {
                return Err(Error::Usage(format!(
                    "ss -A {other}: netkit shows TCP and UDP sockets only (-A all, inet, \
                     tcp or udp); for {other} sockets use iproute2's ss"
                )))
            }
        }
    }
    let filter = Filter {
        tcp,
        udp,
        listening: a.listening,
        all: a.all || a.summary,
        // `ss -s` counts every socket, whatever the state words say.
        states: expr.states.filter(|_| !a.summary),
    };
    let mut got = each::sockets(&sel, &filter)?;
    if a.v4 || a.v6 {
        ss::retain_family(&mut got.rows, a.v6);
    }
    got.rows.retain(|r| expr.matches(r));
    if a.summary {
        let summary = NsRows {
            rows: ss::summarise(&got.rows),
            problems: got.problems,
            warnings: got.warnings,
        };
        return emit(a.json, &summary, "no sockets", |rows| {
            ss::view::render_summary(rows, term)
        });
    }
    let with_ns = sel == Selection::All;
    let extra = ss::view::Extra {
        timers: a.timers,
        extended: a.extended,
    };
    emit(a.json, &got, "no sockets", |rows| {
        ss::view::render(rows, with_ns, extra, term)
    })
}

pub fn run_arp(a: ArpArgs, term: &Term) -> Result {
    let sel = a.ns.selection();
    let family = match (a.v4, a.v6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Both,
    };
    let got = each::neighbours(&sel, family)?;
    let with_ns = sel == Selection::All;
    emit(a.json, &got, "no neighbours", |rows| {
        arp::view::render(rows, with_ns, term)
    })
}

pub fn run_addr(a: AddrArgs, term: &Term) -> Result {
    let sel = a.ns.selection();
    let mut got = each::addresses(&sel)?;
    if a.v4 || a.v6 {
        netkit_cmds::addr::retain_family(&mut got.rows, a.v6);
    }
    let with_ns = sel == Selection::All;
    emit(a.json, &got, "no interfaces", |rows| {
        netkit_cmds::addr::render(rows, with_ns, term)
    })
}

pub fn run_route(a: RouteArgs, term: &Term) -> Result {
    if let Some(RouteCommand::Get { to, ns, json }) = &a.get {
        // `route -N X get ADDR` and `route get ADDR -N X` both work.
        let sel = match ns.selection() {
            Selection::Current => a.ns.selection(),
            chosen => chosen,
        };
        let got = each::route_lookups(&sel, *to)?;
        if sel != Selection::All {
            // One namespace without a route: the answer is that error (exit 1).
            if let Some(e) = got.rows.iter().find_map(|r| r.error.clone()) {
                return Err(Error::NoRoute {
                    to: to.to_string(),
                    why: e,
                });
            }
        }
        let with_ns = sel == Selection::All;
        return emit(*json || a.json, &got, "no namespaces", |rows| {
            route::view::render_lookups(rows, with_ns, term)
        });
    }
    let sel = a.ns.selection();
    let table = route::parse_table(&a.table, &netkit_os::netlink::routes::table_names())
        .map_err(|e| Error::BadTable(e.to_string()))?;
    let mut got = each::routes(&sel, &table)?;
    if a.v4 {
        got.rows.retain(|r| r.family == "inet");
    } else if a.v6 {
        got.rows.retain(|r| r.family == "inet6");
    }
    let with_ns = sel == Selection::All;
    emit(a.json, &got, "no routes", |rows| {
        route::view::render(rows, with_ns, term)
    })
}
