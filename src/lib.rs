//! The `netkit` binary's argument tree, the glue from each subcommand's arguments to
//! its engine and view, and the exit status. A library too, so tests can render the
//! man pages and completions from the same clap tree the binary uses.

pub mod cli;
pub mod commands;
pub mod exit;
pub mod help;
