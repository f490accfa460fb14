//! `netkit l2trace ...` and `netkit neighbors`: arguments and output.

use crate::exit::{Error, Result};
use netkit_cmds::l2trace::agent::Cidr;
use netkit_cmds::l2trace::tracer::{self, TraceStatus};
use netkit_cmds::l2trace::Station;
use netkit_cmds::neighbors::{self, Identity, Neighbor};
use netkit_cmds::output::write_json;
use netkit_dissectors::link::Mac;
use netkit_os::l2::agent::{self, AgentOptions};
use netkit_os::l2::neighbors::{ask_agents, listen, ListenOptions};
use netkit_os::l2::tracer::{default_start, resolve_ip, UdpTransport};
use netkit_os::l2::{raw, L2Error};
use netkit_os::netns;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Trace the Layer-2 path between two stations the way Cisco's `traceroute mac` does
/// (UDP 2228 to every switch on the path), or run the responder for a Linux bridge.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct L2traceArgs {
    #[command(subcommand)]
    pub agent: Option<L2traceCommand>,
    /// Source station: a MAC (any notation) or an IPv4 address resolved through ARP
    #[arg(value_name = "SRC", required = true)]
    pub src: Option<String>,
    /// Destination station: a MAC or an IPv4 address
    #[arg(value_name = "DST", required = true)]
    pub dst: Option<String>,
    /// VLAN the stations are in (default 1: untagged lab bridges)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=4094))]
    pub vlan: Option<u16>,
    /// Start at this switch (management IPv4); default: the local bridge, else the
    /// CDP/LLDP neighbour on this host's uplink
    #[arg(long, value_name = "IP")]
    pub via: Option<Ipv4Addr>,
    /// Print JSON instead of Cisco's lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum L2traceCommand {
    /// Answer UDP 2228 for a Linux bridge from its FDB and CDP/LLDP neighbours, and
    /// announce it by CDP and LLDP on every bridge port
    Agent(AgentArgs),
}

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The bridge to answer for
    #[arg(long, value_name = "BR")]
    pub bridge: String,
    /// Device name in replies and announcements (default: the hostname)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Address to answer on and announce as management address (default: the
    /// bridge's first IPv4 address; never the wildcard)
    #[arg(long, value_name = "IP")]
    pub listen: Option<Ipv4Addr>,
    /// Sources allowed to ask (IPv4 prefixes), besides this host's own addresses;
    /// a query is answered only when it came in on the bridge port where its source
    /// address lives (ARP table, forwarding table and frame agree)
    #[arg(long, value_name = "CIDR", num_args = 1..)]
    pub allow: Vec<Cidr>,
    /// Platform string in replies and announcements
    #[arg(long, value_name = "TEXT", default_value = "netkit linux-bridge")]
    pub platform: String,
    /// The VLAN a bridge without vlan_filtering stands for
    #[arg(long = "vlan", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=4094))]
    pub native_vlan: u16,
    /// Log queries and dropped datagrams to stderr (at most 20 lines per 10 s)
    #[arg(short, long)]
    pub verbose: bool,
}

/// CDP and LLDP neighbours (like `show cdp neighbors detail`): from the cache of the
/// l2trace agent running in the namespace when there is one (at once), else by
/// listening on the wire
#[derive(Debug, clap::Args)]
pub struct NeighborsArgs {
    /// Interfaces to listen on (default: every interface that is up)
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// How long to listen, in seconds (CDP speakers send every 60 s, LLDP every 30 s)
    #[arg(long, value_name = "SECS", default_value_t = 61)]
    pub wait: u64,
    /// Announce ourselves by CDP and LLDP while listening: four times a second apart
    /// (LLDP's fast start), then every 10 s, withdrawn when done; not needed when an
    /// l2trace agent runs here, whose cache is asked instead
    #[arg(long)]
    pub announce: bool,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Listen inside this namespace: a name, a VRF name, pid:N, or a path
    #[arg(short = 'N', long, value_name = "NS")]
    pub netns: Option<String>,
}

pub fn run(args: L2traceArgs) -> Result {
    if let Some(L2traceCommand::Agent(a)) = args.agent {
        return run_agent(a);
    }
    let (Some(src), Some(dst)) = (args.src, args.dst) else {
        return Err(Error::BadArgument("l2trace needs SRC and DST"));
    };
    let src: Station = src.parse()?;
    let dst: Station = dst.parse()?;
    let json = args.json;
    let mut stdout = std::io::stdout();
    let mut say = |line: &str| {
        if !json {
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        }
    };
    let mut resolve = |s: Station, side: &'static str| -> Result<Mac> {
        match s {
            Station::Mac(m) => Ok(m),
            Station::Ip(ip) => match resolve_ip(ip)? {
                Some(m) => {
                    say(&format!("{ip} => {}", m.dotted()));
                    Ok(m)
                }
                None => Err(Error::ArpFailed { side, ip }),
            },
        }
    };
    if !json && (matches!(src, Station::Ip(_)) || matches!(dst, Station::Ip(_))) {
        println!("Translating IP to mac .....");
    }
    let src = resolve(src, "source")?;
    let dst = resolve(dst, "destination")?;
    let name = agent::hostname();
    let start = match args.via {
        Some(ip) => ip,
        None => default_start(&name)?,
    };
    let mut t = UdpTransport::new(&name, Duration::from_millis(300), 3)?;
    let report = tracer::trace(&mut t, start, src, dst, args.vlan.unwrap_or(1), &mut say);
    if json {
        write_json(&mut std::io::stdout().lock(), &report)?;
    }
    match report.status {
        TraceStatus::Completed => Ok(()),
        TraceStatus::Aborted => Err(Error::TraceAborted(report.message.unwrap_or_default())),
    }
}

fn run_agent(a: AgentArgs) -> Result {
    let opts = AgentOptions {
        bridge: a.bridge,
        name: a.name,
        listen: a.listen,
        allow: a.allow,
        platform: a.platform,
        native_vlan: a.native_vlan,
        verbose: a.verbose,
    };
    Ok(agent::run(&opts)?)
}

pub fn run_neighbors(args: NeighborsArgs) -> Result {
    let wait = Duration::from_secs(args.wait);
    let interfaces = args.interfaces.clone();
    let announce = args.announce;
    let work = move || -> std::result::Result<Vec<Neighbor>, L2Error> {
        // As lldpcli asks lldpd: an l2trace agent here has heard its ports'
        // neighbours for as long as it runs, so ask it and answer at once.
        if let Some(mut rows) = ask_agents() {
            if !interfaces.is_empty() {
                rows.retain(|n| interfaces.contains(&n.interface));
            }
            return Ok(rows);
        }
        let identity = if announce {
            let ifaces = raw::interfaces();
            let first = ifaces.iter().find(|i| i.up && !i.loopback);
            Some(Identity {
                name: agent::hostname(),
                platform: "netkit host".into(),
                // Each interface announces its own address (filled in per interface).
                mgmt_ip: None,
                chassis_mac: first.map_or(Mac([0; 6]), |i| i.mac),
                native_vlan: None,
                switch: false,
            })
        } else {
            None
        };
        listen(&ListenOptions {
            interfaces,
            wait,
            announce: identity,
            solicit_only: false,
            stop_at_first_ip: false,
            tell: true,
        })
    };
    let rows = match &args.netns {
        Some(spec) => {
            let ns = netns::resolve(spec)?;
            netns::run_in(&ns, work)??
        }
        None => work()?,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        write_json(&mut out, &rows)?;
    } else {
        neighbors::view::write(&mut out, &rows, args.wait)?;
    }
    Ok(())
}
