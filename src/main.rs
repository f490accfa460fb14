//! `netkit`: parse the command line, run the subcommand, end with its exit status
//! (decided in `exit.rs`).

use clap::FromArgMatches;
use netkit::cli::{Cli, Command};
use netkit::commands;
use netkit::exit::{self, Error};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The tree with its examples and exit statuses (netkit::help), as the man pages.
    let cli =
        Cli::from_arg_matches(&netkit::help::command().get_matches()).unwrap_or_else(|e| e.exit());
    // How stdout is written to (colour, width), asked of the terminal once.
    let term = netkit_os::term::detect();
    exit::report(match cli.command {
        Command::Pcap(cmd) => commands::pcap::run(cmd, &term),
        Command::Mcast(cmd) => commands::mcast::run(cmd, &term),
        Command::L2trace(args) => commands::l2trace::run(args),
        Command::Neighbors(args) => commands::l2trace::run_neighbors(args),
        Command::Top(args) => commands::top::run(args),
        Command::Watch(args) => commands::watch::run(args, &term),
        Command::Drops(args) => commands::drops::run(args, &term),
        Command::Ns(cmd) => commands::ns::run(cmd, &term),
        Command::Ss(args) => commands::views::run_ss(args, &term),
        Command::Addr(args) => commands::views::run_addr(args, &term),
        Command::Arp(args) => commands::views::run_arp(args, &term),
        Command::Route(args) => commands::views::run_route(args, &term),
        Command::Completions { shell } => {
            let script = netkit::help::completions(shell);
            exit::warn_hint(netkit::help::install_hint(shell));
            std::io::Write::write_all(&mut std::io::stdout(), &script).map_err(Error::Output)
        }
    })
}
