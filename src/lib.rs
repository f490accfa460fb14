//! The `netkit` binary's argument tree and views. The engines live in `netkit-cmds`;
//! this crate is a library too so tests can render the man pages and completions from
//! the same clap tree the binary uses.

pub mod cli;
pub mod commands;
