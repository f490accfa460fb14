//! netkit's subcommand engines and everything that touches the operating system.
//! Engines are plain structs fed frames or records and read through snapshots; the
//! binary's views (tables, JSON) are thin layers over them.

pub mod analyze;
pub mod capture;
pub mod mcast;
pub mod netns;
pub mod output;
pub mod show;
