//! Layer-2 control protocols: CDP, LLDP and spanning-tree BPDUs.
//!
//! Each decoder takes the bytes after the link-layer framing (LLC/SNAP for CDP and STP,
//! the EtherType for LLDP), never panics, and returns what it decoded plus a
//! [`DecodeError`](crate::error::DecodeError) when the PDU is truncated or malformed.
//! CDP and LLDP also have an owned `Repr` with `emit`, because netkit announces itself
//! with them (`l2trace agent`, `neighbors --announce`).
//!
//! The serde helpers here are also used by the first-hop-redundancy decoders in
//! `fhrp` and by the L2 traceroute codec; MAC addresses are [`crate::link::Mac`].

pub mod cdp;
pub mod lldp;
pub mod stp;

/// Serde helpers shared by the control-protocol decoders: errors and raw bytes are
/// written in the form a person reads in `--json` output.
pub(crate) mod ser {
    use crate::error::DecodeError;

    /// An optional decode error as its one-line description (or `null`).
    pub fn opt_error<S: serde::Serializer>(
        e: &Option<DecodeError>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match e {
            Some(e) => s.collect_str(e),
            None => s.serialize_none(),
        }
    }

    /// Bytes as lowercase hex without separators.
    pub fn hex<S: serde::Serializer, B: AsRef<[u8]>>(b: &B, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Hex(b.as_ref()))
    }

    /// NUL-padded bytes as text, padding dropped (see [`super::printable`]).
    pub fn padded<S: serde::Serializer, B: AsRef<[u8]>>(b: &B, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::printable(b.as_ref()))
    }

    /// Optional NUL-padded bytes as text (or `null`).
    pub fn opt_padded<S: serde::Serializer>(b: &Option<&[u8]>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => padded(b, s),
            None => s.serialize_none(),
        }
    }

    pub struct Hex<'a>(pub &'a [u8]);

    impl std::fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            for b in self.0 {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
}

/// Text carried in a fixed-size or NUL-padded field, as a person should see it: invalid
/// UTF-8 replaced and trailing NULs dropped.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Mac;

    #[test]
    fn mac_prints_lowercase_with_colons() {
        let m = Mac([0x00, 0x0B, 0x5F, 0x73, 0x04, 0x91]);
        assert_eq!(m.to_string(), "00:0b:5f:73:04:91");
    }

    #[test]
    fn printable_drops_trailing_nuls_only() {
        assert_eq!(printable(b"cisco\0\0\0"), "cisco");
        assert_eq!(printable(b"a\0b\0"), "a\0b");
        assert_eq!(printable(b"\0\0"), "");
    }
}
