//! One module per subcommand: its clap arguments and the glue that reads the OS
//! (`netkit-os`), runs the engine and prints its view (`netkit-cmds`).

pub mod drops;
pub mod graph;
pub mod l2trace;
pub mod mcast;
pub mod ns;
pub mod pcap;
pub mod top;
pub mod views;
pub mod watch;
