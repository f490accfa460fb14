//! `netkit mcast ...`: argument tree and output for the multicast views.

use crate::commands::CmdResult;
use netkit_cmds::mcast;
use netkit_cmds::netns::Selection;
use netkit_cmds::output::write_json;
use std::io::Write;

#[derive(Debug, clap::Subcommand)]
pub enum McastCommand {
    /// Map IPv4/IPv6 groups to MAC addresses, with scope, well-known name and warnings
    Map {
        /// Multicast groups (224.0.0.0/4 or ff00::/8)
        #[arg(value_name = "ADDR", required = true)]
        addrs: Vec<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Say what a MAC address is: its 32 IPv4 candidate groups, IPv6 multicast,
    /// an HSRP/VRRP/GLBP virtual MAC, a control address, broadcast or unicast
    Reverse {
        /// MAC in any notation: aa:bb:cc:dd:ee:ff, aa-bb-.., aabb.ccdd.eeff, aabbccddeeff
        #[arg(value_name = "MAC")]
        mac: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Check a planned set of groups for MAC collisions and flooding traps
    Check {
        /// Groups to check (may be combined with --plan)
        #[arg(value_name = "ADDR")]
        addrs: Vec<String>,
        /// Read groups from FILE, one per line (first field; the rest is a label;
        /// '#' starts a comment); '-' reads standard input
        #[arg(long, value_name = "FILE", visible_alias = "file")]
        plan: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Groups joined on this host, per namespace and interface, with MACs and collisions
    Groups {
        /// Look inside this namespace: a name, a VRF name (VRF1 finds ns-VRF1,
        /// srbase-VRF1, vrf-VRF1), pid:N, or a path
        #[arg(long, value_name = "NS", conflicts_with = "all_netns")]
        netns: Option<String>,
        /// Look inside every namespace: the host, named ones and those held by processes
        #[arg(long)]
        all_netns: bool,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

/// Writes a finished view to stdout (a closed pipe is handled by main).
fn emit(text: &str) -> CmdResult {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

pub fn run(cmd: McastCommand) -> CmdResult {
    match cmd {
        McastCommand::Map { addrs, json } => {
            let entries = mcast::map(&addrs)?;
            if json {
                Ok(write_json(&mut std::io::stdout().lock(), &entries)?)
            } else {
                emit(&mcast::render_map(&entries))
            }
        }
        McastCommand::Reverse { mac, json } => {
            let entry = mcast::reverse(&mac)?;
            if json {
                Ok(write_json(&mut std::io::stdout().lock(), &entry)?)
            } else {
                emit(&mcast::render_reverse(&entry))
            }
        }
        McastCommand::Check { addrs, plan, json } => {
            let mut items = mcast::check_args(&addrs)?;
            if let Some(path) = plan {
                items.extend(mcast::read_plan(&path)?);
            }
            let report = mcast::check(&items)?;
            if json {
                Ok(write_json(&mut std::io::stdout().lock(), &report)?)
            } else {
                emit(&mcast::render_check(&report))
            }
        }
        McastCommand::Groups {
            netns,
            all_netns,
            json,
        } => {
            let selection = match (netns, all_netns) {
                (_, true) => Selection::All,
                (Some(ns), false) => Selection::One(ns),
                (None, false) => Selection::Current,
            };
            let report = mcast::groups(&selection)?;
            for e in &report.errors {
                eprintln!("netkit: warning: {e}");
            }
            if json {
                Ok(write_json(&mut std::io::stdout().lock(), &report.groups)?)
            } else {
                emit(&mcast::render_groups(&report))
            }
        }
    }
}
