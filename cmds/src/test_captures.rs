//! The capture fixtures (tests/fixtures), read for unit tests without the OS crate.

use std::ops::Range;
use std::path::Path;

/// One record of a classic pcap: (time stamp ns, wire length, where its bytes are).
pub(crate) type Record = (i64, u32, Range<usize>);

/// The link type and records of a little-endian classic pcap (what the fixtures are);
/// `None` for anything else or a file that cannot be read.
pub(crate) fn read_classic_pcap(bytes: &[u8]) -> Option<(u16, Vec<Record>)> {
    let u32_at = |o: usize| Some(u32::from_le_bytes(bytes.get(o..o + 4)?.try_into().ok()?));
    let ns_per_unit = match u32_at(0)? {
        0xa1b2_c3d4 => 1_000,
        0xa1b2_3c4d => 1,
        _ => return None,
    };
    let linktype = u16::try_from(u32_at(20)? & 0xffff).ok()?;
    let (mut list, mut o) = (Vec::new(), 24);
    while o + 16 <= bytes.len() {
        let ts = i64::from(u32_at(o)?) * 1_000_000_000 + i64::from(u32_at(o + 4)?) * ns_per_unit;
        let (incl, orig) = (u32_at(o + 8)? as usize, u32_at(o + 12)?);
        bytes.get(o + 16..o + 16 + incl)?;
        list.push((ts, orig, o + 16..o + 16 + incl));
        o += 16 + incl;
    }
    Some((linktype, list))
}

/// tests/fixtures/`relative`, whole.
pub(crate) fn fixture_bytes(relative: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
