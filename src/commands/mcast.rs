//! `netkit mcast ...`: arguments, and the glue from `netkit_cmds::mcast` (and the
//! namespaces' /proc files for `groups`) to its views.

use crate::exit::{warn, Error, Result};
use netkit_cmds::mcast::{self, view, PlanItem};
use netkit_cmds::output::{write_json, Term};
use netkit_os::netns::Selection;
use std::io::{Read, Write};

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
        #[arg(short = 'N', long, value_name = "NS", conflicts_with = "all_netns")]
        netns: Option<String>,
        /// Look inside every namespace: the host, named ones and those held by processes
        #[arg(long)]
        all_netns: bool,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

/// Reads a plan file, `-` for standard input: its groups, and its bad lines.
fn read_plan(path: &str) -> Result<(Vec<PlanItem>, Vec<mcast::PlanLineError>)> {
    let fail = |e: std::io::Error| Error::File {
        path: if path == "-" {
            "stdin".to_string()
        } else {
            path.to_string()
        },
        why: format!("cannot read the plan: {e}"),
    };
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(fail)?;
        s
    } else {
        std::fs::read_to_string(path).map_err(fail)?
    };
    let source = if path == "-" { "stdin" } else { path };
    Ok(mcast::parse_plan(&text, source))
}

/// Writes a finished view to stdout (a closed pipe is handled by main).
fn emit(text: &str) -> Result {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

pub fn run(cmd: McastCommand, term: &Term) -> Result {
    match cmd {
        McastCommand::Map { addrs, json } => {
            let entries = mcast::map(&addrs)?;
            if json {
                Ok(write_json(&mut std::io::stdout().lock(), &entries)?)
            } else {
                emit(&view::render_map(&entries, term))
            }
        }
        McastCommand::Reverse { mac, json } => {
            let entry = mcast::reverse(&mac)?;
            if json {
                Ok(write_json(&mut std::io::stdout().lock(), &entry)?)
            } else {
                emit(&view::render_reverse(&entry, term))
            }
        }
        McastCommand::Check { addrs, plan, json } => {
            let mut items = mcast::check_args(&addrs)?;
            let mut bad_lines = Vec::new();
            if let Some(path) = plan {
                let (good, bad) = read_plan(&path)?;
                items.extend(good);
                bad_lines = bad;
            }
            let mut report = if items.is_empty() && !bad_lines.is_empty() {
                // Nothing good to check: the bad lines are the whole answer.
                mcast::CheckReport {
                    collisions: Vec::new(),
                    warnings: Vec::new(),
                    duplicates: Vec::new(),
                    bad_lines: Vec::new(),
                    checked: 0,
                }
            } else {
                mcast::check(&items)?
            };
            report.bad_lines = bad_lines;
            if json {
                write_json(&mut std::io::stdout().lock(), &report)?;
            } else {
                emit(&view::render_check(&report, term))?;
            }
            // A plan checker: what it found to fix is a failure (exit 1), as a linter's.
            match (
                report.collisions.len(),
                report.duplicates.len(),
                report.bad_lines.len(),
            ) {
                (0, 0, 0) => Ok(()),
                (collisions, duplicates, bad_lines) => Err(Error::PlanFindings {
                    collisions,
                    duplicates,
                    bad_lines,
                }),
            }
        }
        McastCommand::Groups {
            netns,
            all_netns,
            json,
        } => {
            let selection = Selection::from_options(netns.as_deref(), all_netns);
            let report = netkit_os::netns::each::mcast_groups(&selection)?;
            for e in &report.errors {
                warn(e);
            }
            if json {
                Ok(write_json(&mut std::io::stdout().lock(), &report.groups)?)
            } else {
                emit(&view::render_groups(&report, term))
            }
        }
    }
}
