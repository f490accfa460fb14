//! `netkit pcap`: `show` lists a capture's frames, `analyze` says what went wrong first.

pub mod analyze;
pub mod compare;
pub mod show;
