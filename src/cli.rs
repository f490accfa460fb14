//! The clap argument tree: the command-line contract of docs/CLI.md.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "netkit",
    version,
    about = "A network engineer's toolkit: captures, namespaces and VRFs, multicast, L2 traceroute",
    long_about = "netkit: one binary for troubleshooting real networks.\n\n\
        `netkit pcap analyze FILE` reads a capture and says what matters first;\n\
        `netkit pcap show FILE` lists its frames; `netkit mcast` maps multicast groups\n\
        to MACs and back. Every view takes --json for scripts.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read capture files (pcap, pcapng): list frames, analyse traffic
    #[command(subcommand)]
    Pcap(crate::commands::pcap::PcapCommand),
    /// Multicast groups and MACs: map, reverse lookup, plan checks, groups joined per namespace
    #[command(subcommand)]
    Mcast(crate::commands::mcast::McastCommand),
    /// Network namespaces (VRFs): list them all, run a command inside one
    #[command(subcommand)]
    Ns(crate::commands::ns::NsCommand),
    /// Sockets (TCP/UDP) with owners and TCP internals, in one namespace or all of them
    Ss(crate::commands::views::SsArgs),
    /// Interfaces, state and addresses, one line each (as `ip -br a`), in one namespace
    /// or all of them
    Addr(crate::commands::views::AddrArgs),
    /// IPv4 and IPv6 neighbours (ARP/NDP), in one namespace or all of them
    Arp(crate::commands::views::ArpArgs),
    /// Routes of every table, multipath, nexthop objects, MPLS, in one namespace or all
    Route(crate::commands::views::RouteArgs),
    /// Layer-2 traceroute between two stations (Cisco `traceroute mac`, UDP 2228), or
    /// `l2trace agent` to answer it for a Linux bridge
    L2trace(crate::commands::l2trace::L2traceArgs),
    /// Listen for CDP and LLDP neighbours (and optionally announce ourselves)
    Neighbors(crate::commands::l2trace::NeighborsArgs),
    /// Live traffic by process and remote host, per namespace (TUI, or --json per interval)
    Top(crate::commands::top::TopArgs),
    /// Live analysis: `pcap analyze`'s sections on live traffic, each WebSocket upgrade
    /// and finding as it happens, with its namespace and process
    Watch(crate::commands::watch::WatchArgs),
    /// The kernel's packet drops with their reasons (BPF), live: by namespace,
    /// interface, reason, protocol, flow and process
    Drops(crate::commands::drops::DropsArgs),
    /// Print shell completions for SHELL to stdout
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}
