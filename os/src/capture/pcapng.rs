//! pcapng: a sequence of blocks (type, length, body, length again). Section headers
//! set the byte order and restart interface numbering; interface descriptions give each
//! interface its link type and time-stamp resolution; packet blocks carry frames.

use super::source::Source;
use super::{u16_at, u32_at, u64_at, LinkInfo, Record, Step, MAX_RECORD_LEN};

pub(super) const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// `ts_ns` of a simple packet block, which has no time stamp.
pub(super) const NO_TIMESTAMP: i64 = i64::MIN;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const OBSOLETE_PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
/// Decryption Secrets Block, and its secrets type for a TLS key log ('TLSK').
const DSB: u32 = 0x0000_000A;
const SECRETS_TLS_KEYLOG: u32 = 0x544c_534b;
/// Key log bytes held from DSBs (a key log line is about 200 bytes).
const MAX_TLS_SECRETS: usize = 16 * 1024 * 1024;

/// Largest block accepted (Wireshark's limit too); name-resolution or custom blocks may
/// be big, but a block claiming more than this is damage.
const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;
const BLOCK_OVERHEAD: usize = 12;

const OPT_END: u16 = 0;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// How to turn an interface's time-stamp units into nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resolution {
    Multiply(i128),
    Divide(i128),
    /// Units of 2^-n seconds.
    PowerOfTwo(u32),
}

impl Resolution {
    pub(super) fn from_option(v: u8) -> Resolution {
        if v & 0x80 != 0 {
            return Resolution::PowerOfTwo(u32::from(v & 0x7f));
        }
        let exp = u32::from(v);
        if exp <= 9 {
            Resolution::Multiply(10i128.pow(9 - exp))
        } else {
            Resolution::Divide(10i128.checked_pow(exp - 9).unwrap_or(i128::MAX))
        }
    }

    pub(super) fn to_ns(self, units: u64) -> i128 {
        let units = i128::from(units);
        match self {
            Resolution::Multiply(m) => units * m,
            Resolution::Divide(d) => units / d,
            Resolution::PowerOfTwo(p) => (units * 1_000_000_000).checked_shr(p).unwrap_or(0),
        }
    }

    fn finer_than_microsecond(self) -> bool {
        match self {
            Resolution::Multiply(m) => m < 1000,
            Resolution::Divide(_) => true,
            Resolution::PowerOfTwo(p) => p >= 20,
        }
    }
}

#[derive(Clone, Debug)]
struct Interface {
    link: LinkInfo,
    resolution: Resolution,
    offset_ns: i128,
    name: Option<String>,
}

impl Interface {
    fn ts_ns(&self, units: u64) -> i64 {
        let ns = self.resolution.to_ns(units) + self.offset_ns;
        ns.clamp(i128::from(i64::MIN + 1), i128::from(i64::MAX)) as i64
    }
}

#[derive(Default)]
pub(super) struct State {
    big_endian: bool,
    in_section: bool,
    /// Index in `interfaces` of the current section's interface 0.
    section_base: usize,
    interfaces: Vec<Interface>,
    /// TLS key log text of the Decryption Secrets Blocks read and not yet taken.
    tls_secrets: Vec<u8>,
}

impl State {
    /// The TLS key log text of the Decryption Secrets Blocks read since the last call.
    pub(super) fn take_tls_secrets(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tls_secrets)
    }

    pub(super) fn links(&self) -> Vec<LinkInfo> {
        self.interfaces.iter().map(|i| i.link).collect()
    }

    pub(super) fn link(&self, interface: u32) -> Option<LinkInfo> {
        self.interfaces.get(interface as usize).map(|i| i.link)
    }

    pub(super) fn names(&self) -> Vec<Option<String>> {
        self.interfaces.iter().map(|i| i.name.clone()).collect()
    }

    pub(super) fn nanosecond(&self) -> bool {
        self.interfaces
            .iter()
            .any(|i| i.resolution.finer_than_microsecond())
    }

    /// Global index of the current section's interface `id`, if it was described.
    fn interface(&self, id: u32) -> Option<(u32, &Interface)> {
        let index = self.section_base.checked_add(id as usize)?;
        let iface = self.interfaces.get(index)?;
        Some((u32::try_from(index).ok()?, iface))
    }
}

/// True when the next block is a packet block (without consuming anything).
pub(super) fn next_is_packet(src: &mut Source, state: &State) -> bool {
    if !state.in_section || src.fill(8).is_err() {
        return false;
    }
    matches!(
        u32_at(src.window(), 0, state.big_endian),
        Some(EPB | SPB | OBSOLETE_PB)
    )
}

/// Reads one block. On damage the cursor stays at the start of the block.
pub(super) fn read_block(src: &mut Source, state: &mut State) -> Step {
    let avail = match src.fill(BLOCK_OVERHEAD) {
        Ok(n) => n,
        Err(e) => return Step::Stop(format!("read error: {e}")),
    };
    if avail == 0 {
        return Step::End;
    }
    if avail < BLOCK_OVERHEAD {
        return Step::Stop(format!(
            "truncated block header ({avail} of {BLOCK_OVERHEAD} bytes)"
        ));
    }
    let w = src.window();
    let is_shb = w.get(..4) == Some(&SHB_MAGIC[..]);
    let be = if is_shb {
        match w.get(8..12) {
            Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
            Some([0x4d, 0x3c, 0x2b, 0x1a]) => false,
            _ => return Step::Stop("section header has no byte-order magic".to_string()),
        }
    } else if state.in_section {
        state.big_endian
    } else {
        return Step::Stop("block outside any section".to_string());
    };
    let (Some(btype), Some(len)) = (u32_at(w, 0, be), u32_at(w, 4, be)) else {
        return Step::Stop("truncated block header".to_string());
    };
    if (len as usize) < BLOCK_OVERHEAD || len % 4 != 0 {
        return Step::Stop(format!("block type 0x{btype:08x} has invalid length {len}"));
    }
    if len > MAX_BLOCK_LEN {
        return Step::Stop(format!(
            "block type 0x{btype:08x} length {len} exceeds the {MAX_BLOCK_LEN}-byte limit"
        ));
    }
    let len = len as usize;
    let avail = match src.fill(len) {
        Ok(n) => n,
        Err(e) => return Step::Stop(format!("read error: {e}")),
    };
    if avail < len {
        return Step::Stop(format!(
            "truncated block: type 0x{btype:08x} declares {len} bytes, only {avail} left in the file"
        ));
    }
    let w = src.window();
    let trailer = u32_at(w, len - 4, be).unwrap_or(0);
    if trailer as usize != len {
        return Step::Stop(format!(
            "block length mismatch: {len} at the start of the block, {trailer} at its end"
        ));
    }
    let body = w.get(8..len - 4).unwrap_or_default();
    let body_start = src.pos() + 8;
    let step = match btype {
        SHB => section_header(state, body, be),
        IDB => interface_description(state, body, be),
        EPB => packet(state, body, body_start, be, PacketKind::Enhanced),
        OBSOLETE_PB => packet(state, body, body_start, be, PacketKind::Obsolete),
        SPB => packet(state, body, body_start, be, PacketKind::Simple),
        DSB => decryption_secrets(state, body, be),
        _ => Step::Skip,
    };
    if !matches!(step, Step::Stop(_)) {
        src.advance(len);
    }
    step
}

fn section_header(state: &mut State, body: &[u8], be: bool) -> Step {
    let (Some(major), Some(minor)) = (u16_at(body, 4, be), u16_at(body, 6, be)) else {
        return Step::Stop("section header block too short".to_string());
    };
    if major != 1 {
        return Step::Stop(format!("unsupported pcapng version {major}.{minor}"));
    }
    state.big_endian = be;
    state.in_section = true;
    state.section_base = state.interfaces.len();
    Step::Skip
}

/// A Decryption Secrets Block (what `editcap --inject-secrets` writes): a TLS key log
/// is kept for the analysis; other secrets types are skipped.
fn decryption_secrets(state: &mut State, body: &[u8], be: bool) -> Step {
    let (Some(kind), Some(len)) = (u32_at(body, 0, be), u32_at(body, 4, be)) else {
        return Step::Skip;
    };
    if kind == SECRETS_TLS_KEYLOG && state.tls_secrets.len() < MAX_TLS_SECRETS {
        if let Some(data) = body.get(8..8usize.saturating_add(len as usize)) {
            state.tls_secrets.extend_from_slice(data);
            state.tls_secrets.push(b'\n');
        }
    }
    Step::Skip
}

fn interface_description(state: &mut State, body: &[u8], be: bool) -> Step {
    let (Some(linktype), Some(snaplen)) = (u16_at(body, 0, be), u32_at(body, 4, be)) else {
        return Step::Stop("interface description block too short".to_string());
    };
    let mut iface = Interface {
        link: LinkInfo { linktype, snaplen },
        resolution: Resolution::Multiply(1000),
        offset_ns: 0,
        name: None,
    };
    // Options are best effort: a malformed option list ends option parsing, not reading.
    let mut off = 8;
    while let (Some(code), Some(olen)) = (u16_at(body, off, be), u16_at(body, off + 2, be)) {
        let olen = usize::from(olen);
        let Some(value) = body.get(off + 4..off + 4 + olen) else {
            break;
        };
        match code {
            OPT_END => break,
            OPT_IF_NAME => {
                let name = String::from_utf8_lossy(value);
                iface.name = Some(name.trim_end_matches('\0').to_string());
            }
            OPT_IF_TSRESOL => {
                if let Some(&v) = value.first() {
                    iface.resolution = Resolution::from_option(v);
                }
            }
            OPT_IF_TSOFFSET => {
                if let Some(secs) = u64_at(value, 0, be) {
                    iface.offset_ns = i128::from(secs as i64) * 1_000_000_000;
                }
            }
            _ => {}
        }
        off += 4 + olen.next_multiple_of(4);
    }
    state.interfaces.push(iface);
    Step::Skip
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PacketKind {
    Enhanced,
    Obsolete,
    Simple,
}

fn packet(state: &State, body: &[u8], body_start: usize, be: bool, kind: PacketKind) -> Step {
    let fields = match kind {
        PacketKind::Enhanced => (
            u32_at(body, 0, be),
            u32_at(body, 4, be),
            u32_at(body, 8, be),
            u32_at(body, 12, be),
            u32_at(body, 16, be),
        ),
        PacketKind::Obsolete => (
            u16_at(body, 0, be).map(u32::from),
            u32_at(body, 4, be),
            u32_at(body, 8, be),
            u32_at(body, 12, be),
            u32_at(body, 16, be),
        ),
        PacketKind::Simple => (Some(0), Some(0), Some(0), None, u32_at(body, 0, be)),
    };
    let (Some(id), Some(ts_hi), Some(ts_lo), caplen, Some(orig_len)) = fields else {
        return Step::Stop("packet block too short".to_string());
    };
    let Some((interface, iface)) = state.interface(id) else {
        return Step::SkipRecord(format!(
            "packet refers to interface {id}, which its section does not describe; skipped"
        ));
    };
    let data_off = if kind == PacketKind::Simple { 4 } else { 20 };
    let room = body.len().saturating_sub(data_off);
    let caplen = match caplen {
        Some(c) => c,
        None => {
            // A simple packet block's captured length is implied: the wire length,
            // cut to the snap length and to the block.
            let mut c = orig_len.min(u32::try_from(room).unwrap_or(u32::MAX));
            if iface.link.snaplen != 0 {
                c = c.min(iface.link.snaplen);
            }
            c
        }
    };
    if caplen > MAX_RECORD_LEN {
        return Step::Stop(format!(
            "record length {caplen} exceeds the {MAX_RECORD_LEN}-byte limit (snaplen {})",
            iface.link.snaplen
        ));
    }
    if caplen as usize > room {
        return Step::Stop(format!(
            "captured length {caplen} exceeds the {room} bytes its block holds"
        ));
    }
    let ts_ns = if kind == PacketKind::Simple {
        NO_TIMESTAMP
    } else {
        iface.ts_ns((u64::from(ts_hi) << 32) | u64::from(ts_lo))
    };
    Step::Frame(Record {
        start: body_start + data_off,
        len: caplen as usize,
        ts_ns,
        orig_len,
        interface,
    })
}
