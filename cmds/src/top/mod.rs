//! `netkit top`: which process and which remote host cause the traffic, per network
//! namespace.
//!
//! - [`engine`]: the flow table (pure, clock injected);
//! - [`classify`]: what a captured frame means to the engine;
//! - [`container`]: a process's container or pod, from its cgroup path;
//! - [`kernel`]: the socket owners and counters of the BPF path, decoded from map bytes;
//! - [`names`]: remote host names learnt from DNS answers on the wire;
//! - [`report`]: the rows the screen shows and the `--json` object;
//! - [`view`]: the screen (ratatui drawing and key handling, no terminal I/O).
//!
//! The live side (capture rings, attribution, the namespace watch) is
//! `netkit_os::live::top`.

pub mod classify;
pub mod container;
pub mod engine;
pub mod kernel;
pub mod names;
pub mod report;
pub mod view;
