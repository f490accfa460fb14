//! netkit's packet-dissection core.
//!
//! The contract, as in smoltcp's `wire` module: every decoder checks lengths before it
//! reads, so no input makes it panic; a truncated or malformed frame yields the layers
//! that decoded plus a [`DecodeError`] naming the layer and byte offset; values the
//! decoders do not know are kept (`Unknown(n)`) rather than dropped. This crate does no
//! I/O: it sees bytes and a link type, never files, sockets or namespaces.

pub mod cursor;
pub mod error;
pub mod fhrp;
pub mod l2ctl;

pub use error::{DecodeError, ErrorKind};

pub mod app;
pub mod frame;
pub mod link;
pub mod mcast;
pub mod net;
mod summary;
pub use summary::TcpContext;
pub mod transport;
pub mod tunnel;

pub use frame::{
    dissect, dissect_into, reuse_layers, AppProto, DecodeAsError, DissectOptions, Frame, Layer,
};

/// Helpers for the unit tests of every decoder.
#[cfg(test)]
pub(crate) mod testutil {
    /// Bytes from hex text; whitespace between the digits is ignored.
    pub fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
