//! `netkit ns list|exec`.

use crate::exit::{warn, Result};
use clap::Subcommand;
use netkit_cmds::ns::view;
use netkit_cmds::output::{write_json, Term};
use netkit_os::netns::{exec, list};
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

pub fn run(cmd: NsCommand, term: &Term) -> Result {
    match cmd {
        NsCommand::List { json } => run_list(json, term),
        NsCommand::Exec { ns, cmd } => {
            let code = exec::exec(&ns, &cmd)?;
            if code != 0 {
                // The command's status is ours, as with `ip netns exec`.
                let _ = std::io::stdout().flush();
                std::process::exit(code);
            }
            Ok(())
        }
    }
}

fn run_list(json: bool, term: &Term) -> Result {
    let (list, warnings) = list::list()?;
    for w in &warnings {
        warn(w);
    }
    let mut out = std::io::stdout().lock();
    if json {
        write_json(&mut out, &list)?;
    } else {
        writeln!(out, "{}", view::render(&list, term))?;
    }
    Ok(())
}
