//! `netkit ns list|exec`.

use super::CmdResult;
use clap::Subcommand;
use netkit_cmds::output::{table, write_json};
use netkit_cmds::{nsexec, nslist};
use std::ffi::OsString;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum NsCommand {
    /// Every network namespace once: named, Docker and process-held (containers), with
    /// nsid, VRF by vendor convention, process count and interfaces
    List {
        /// An array of {name, inode, vrf, pids, interfaces, source, nsid, ...}
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a namespace, as `ip netns exec` (with /etc/netns/NAME files
    /// and a fresh /sys); its exit status is netkit's
    Exec {
        /// A namespace name, a VRF name (VRF1 finds ns-VRF1, srbase-VRF1, vrf-VRF1; an
        /// l3mdev VRF device runs through `ip vrf exec`), pid:N or a path
        #[arg(value_name = "NS")]
        ns: String,
        /// The command and its arguments (after `--`)
        #[arg(
            value_name = "CMD",
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        cmd: Vec<OsString>,
    },
}

#[derive(tabled::Tabled)]
struct Row {
    #[tabled(rename = "NAME")]
    name: String,
    #[tabled(rename = "SOURCE")]
    source: String,
    #[tabled(rename = "INODE")]
    inode: u64,
    #[tabled(rename = "NSID")]
    nsid: String,
    #[tabled(rename = "VRF")]
    vrf: String,
    #[tabled(rename = "PIDS")]
    pids: usize,
    #[tabled(rename = "PROCESS")]
    process: String,
    #[tabled(rename = "INTERFACES")]
    interfaces: String,
}

pub fn run(cmd: NsCommand) -> CmdResult {
    match cmd {
        NsCommand::List { json } => run_list(json),
        NsCommand::Exec { ns, cmd } => {
            let code = nsexec::exec(&ns, &cmd)?;
            if code != 0 {
                // The command's status is ours, as with `ip netns exec`.
                let _ = std::io::stdout().flush();
                std::process::exit(code);
            }
            Ok(())
        }
    }
}

fn run_list(json: bool) -> CmdResult {
    let (list, warnings) = nslist::list()?;
    for w in &warnings {
        eprintln!("netkit: warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        write_json(&mut out, &list)?;
        return Ok(());
    }
    let rows = list.into_iter().map(|n| {
        let mut name = n.name;
        if !n.aliases.is_empty() {
            name = format!("{name} ({})", n.aliases.join(", "));
        }
        Row {
            name,
            source: n.source,
            inode: n.inode,
            nsid: n.nsid.map(|i| i.to_string()).unwrap_or_default(),
            vrf: match (n.vrf, n.convention) {
                (Some(v), Some(c)) if c != "host" => format!("{v} ({c})"),
                (Some(v), _) => v,
                _ => String::new(),
            },
            pids: n.pids,
            process: match (n.pid, n.comm) {
                (Some(p), Some(c)) => format!("{c}({p})"),
                _ => String::new(),
            },
            interfaces: n.interfaces.join(" "),
        }
    });
    writeln!(out, "{}", table(rows))?;
    Ok(())
}
