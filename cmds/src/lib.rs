//! netkit's subcommand engines and everything that touches the operating system.
//! Engines are plain structs fed frames or records and read through snapshots; the
//! binary's views (tables, JSON) are thin layers over them.

pub mod analyze;
pub mod caps;
pub mod capture;
pub mod l2trace;
pub mod mcast;
pub mod neigh;
pub mod netns;
pub mod nldump;
pub mod nsexec;
pub mod nslist;
pub mod nsviews;
pub mod output;
pub mod pcapng_writer;
pub mod routes;
pub mod show;
pub mod sockets;
pub mod top;
