//! Decode errors that say where: which layer, at which byte offset, and what was wrong.
//!
//! Offsets are relative to the slice the decoder was given; [`DecodeError::at`] rebases
//! them when a decoder runs on a slice that starts inside a larger frame, so that the
//! error a user finally sees names the byte offset within the captured frame.

use std::fmt;

/// What went wrong while decoding one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The layer needs more bytes than the frame (or the enclosing length field) holds.
    Truncated { needed: usize, available: usize },
    /// A field holds a value the protocol forbids; the text names the field.
    Invalid(&'static str),
}

/// A decoding failure at a known layer and byte offset. Decoders return what they
/// could decode alongside this error instead of returning nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// Short protocol name, as in the layer stack (`ipv4`, `tcp`, `cdp`, ...).
    pub layer: &'static str,
    /// Byte offset of the problem, relative to the decoder's input (or the frame once
    /// rebased with [`DecodeError::at`]).
    pub offset: usize,
    pub kind: ErrorKind,
}

impl DecodeError {
    pub fn truncated(layer: &'static str, offset: usize, needed: usize, available: usize) -> Self {
        DecodeError {
            layer,
            offset,
            kind: ErrorKind::Truncated { needed, available },
        }
    }

    pub fn invalid(layer: &'static str, offset: usize, what: &'static str) -> Self {
        DecodeError {
            layer,
            offset,
            kind: ErrorKind::Invalid(what),
        }
    }

    /// Rebase the offset: the decoder's input started `base` bytes into the frame.
    #[must_use]
    pub fn at(mut self, base: usize) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Truncated { needed, available } => write!(
                f,
                "{} truncated at byte {}: needs {} bytes, {} available",
                self.layer, self.offset, needed, available
            ),
            ErrorKind::Invalid(what) => {
                write!(
                    f,
                    "{} invalid at byte {}: {}",
                    self.layer, self.offset, what
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

pub type Result<T> = std::result::Result<T, DecodeError>;
