//! netkit's engines: one folder per subcommand, each the same shape:
//!
//! - engine: plain structs fed frames or records, with the clock passed in;
//! - report: typed, serde; the JSON contract (docs/CLI.md);
//! - view: text and tables, through [`output`].
//!
//! This crate never touches the operating system: no `unsafe` (forbidden below), no
//! OS crates, no files, sockets, terminals or namespaces. `netkit-os` reads the
//! kernel and fills these engines' input types; the `netkit` binary wires the two.

#![forbid(unsafe_code)]

pub mod addr;
pub mod arp;
pub mod drops;
pub mod l2trace;
pub mod mcast;
pub mod neighbors;
pub mod ns;
pub mod output;
pub mod pcap;
pub mod route;
pub mod source;
pub mod ss;
pub mod top;
pub mod watch;

#[cfg(test)]
mod test_captures;
