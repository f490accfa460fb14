//! `netkit`: parse the command line, run the subcommand, end with its exit status
//! (decided in `exit.rs`).

use clap::{CommandFactory, Parser};
use netkit::cli::{Cli, Command};
use netkit::commands;
use netkit::exit::{self, Error};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // How stdout is written to (colour, width), asked of the terminal once.
    let term = netkit_os::term::detect();
    exit::report(match cli.command {
        Command::Pcap(cmd) => commands::pcap::run(cmd, &term),
        Command::Mcast(cmd) => commands::mcast::run(cmd, &term),
        Command::L2trace(args) => commands::l2trace::run(args),
        Command::Neighbors(args) => commands::l2trace::run_neighbors(args),
        Command::Top(args) => commands::top::run(args),
        Command::Watch(args) => commands::watch::run(args, &term),
        Command::Ns(cmd) => commands::ns::run(cmd, &term),
        Command::Ss(args) => commands::views::run_ss(args, &term),
        Command::Arp(args) => commands::views::run_arp(args, &term),
        Command::Route(args) => commands::views::run_route(args, &term),
        Command::Completions { shell } => {
            // Rendered to memory first: clap_complete panics when its writer fails,
            // and a closed pipe must not panic.
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "netkit", &mut buf);
            std::io::Write::write_all(&mut std::io::stdout(), &buf).map_err(Error::Output)
        }
    })
}
