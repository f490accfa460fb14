//! The analysis sections of `pcap analyze`, one file (or folder) each. Every section
//! implements [`super::Section`]: fed the same per-frame context, in capture order,
//! and finished into its typed part of the report plus its findings.

pub mod census;
pub mod conn;
pub mod fhrp;
mod flows;
pub mod multicast;
pub mod paths;
pub mod reasm;
pub mod tcp;
pub mod tls;
pub mod tunnels;
pub mod websocket;
