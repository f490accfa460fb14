//! `netkit`: dispatch and exit status. 0 done, 1 the job could not be done (one line
//! on stderr says why), 2 usage error (clap).

use clap::{CommandFactory, Parser};
use netkit::cli::{Cli, Command};
use netkit::commands::{self, CmdError};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pcap(cmd) => commands::pcap::run(cmd),
        Command::Mcast(cmd) => commands::mcast::run(cmd),
        Command::L2trace(args) => commands::l2trace::run(args),
        Command::Neighbors(args) => commands::l2trace::run_neighbors(args),
        Command::Top(args) => commands::top::run(args),
        Command::Ns(cmd) => commands::ns::run(cmd),
        Command::Ss(args) => commands::views::run_ss(args),
        Command::Arp(args) => commands::views::run_arp(args),
        Command::Route(args) => commands::views::run_route(args),
        Command::Completions { shell } => {
            // Rendered to memory first: clap_complete panics when its writer fails,
            // and a closed pipe must not panic.
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "netkit", &mut buf);
            std::io::Write::write_all(&mut std::io::stdout(), &buf).map_err(CmdError::Io)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`netkit pcap show f | head`): nothing left to say.
        Err(CmdError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(CmdError::Io(e)) => {
            eprintln!("netkit: cannot write output: {e}");
            ExitCode::from(1)
        }
        Err(CmdError::Failed(msg)) => {
            eprintln!("netkit: {msg}");
            ExitCode::from(1)
        }
    }
}
