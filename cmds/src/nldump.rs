//! Synchronous netlink dumps for the namespace views, and the per-namespace link cache.
//!
//! A netlink socket belongs to the namespace it was created in for its whole life, so
//! the views open their sockets on a thread that has entered the namespace (see
//! `netns::run_in`) and dump there. No async runtime: a CLI dump is one request and a
//! read loop until `NLMSG_DONE`.

use netlink_packet_core::Parseable;
use netlink_packet_core::{NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVrf, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_sys::{Socket, SocketAddr};
use std::collections::HashMap;

pub use netlink_sys::protocols::{NETLINK_ROUTE, NETLINK_SOCK_DIAG};

const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_GETLINK: u16 = 18;
/// A kernel may interrupt a dump when the table changes under it; iproute2 retries too.
const DUMP_ATTEMPTS: usize = 3;

/// Why a dump failed: the kernel's errno (negative values in NLMSG_ERROR, made
/// positive here) or a local I/O or parse problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpError {
    Kernel(i32),
    Io(String),
}

impl std::fmt::Display for DumpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DumpError::Kernel(errno) => {
                write!(f, "{}", std::io::Error::from_raw_os_error(*errno))
            }
            DumpError::Io(e) => f.write_str(e),
        }
    }
}

/// Opens a netlink socket of `protocol` in the calling thread's namespace.
pub fn open(protocol: isize) -> Result<Socket, String> {
    let mut sock = Socket::new(protocol).map_err(|e| format!("cannot open netlink socket: {e}"))?;
    sock.bind_auto()
        .map_err(|e| format!("cannot bind netlink socket: {e}"))?;
    // Big dumps (thousands of sockets or routes) come in many datagrams; a larger
    // receive buffer avoids ENOBUFS when we read slower than the kernel writes.
    let _ = sock.set_rx_buf_sz(4 * 1024 * 1024);
    Ok(sock)
}

/// Sends one dump request (`msg_type` with `body` after the netlink header) and returns
/// the payload of every answer message (the bytes after the 16-byte header), retrying
/// when the kernel flags the dump as interrupted.
pub fn dump(sock: &Socket, msg_type: u16, body: &[u8]) -> Result<Vec<Vec<u8>>, DumpError> {
    let mut last = Err(DumpError::Io("dump interrupted".to_string()));
    for attempt in 0..DUMP_ATTEMPTS {
        match dump_once(sock, msg_type, body, attempt as u32 + 1) {
            Ok((msgs, false)) => return Ok(msgs),
            Ok((msgs, true)) => last = Ok(msgs),
            Err(e) => return Err(e),
        }
    }
    last
}

/// Sends one non-dump request and returns the payload of the kernel's answer.
pub fn request(sock: &Socket, msg_type: u16, body: &[u8]) -> Result<Vec<u8>, DumpError> {
    let (mut msgs, _) = exchange(sock, msg_type, NLM_F_REQUEST, body, 1)?;
    msgs.pop()
        .ok_or_else(|| DumpError::Io("no answer from the kernel".to_string()))
}

fn dump_once(
    sock: &Socket,
    msg_type: u16,
    body: &[u8],
    seq: u32,
) -> Result<(Vec<Vec<u8>>, bool), DumpError> {
    exchange(sock, msg_type, NLM_F_REQUEST | NLM_F_DUMP, body, seq)
}

fn exchange(
    sock: &Socket,
    msg_type: u16,
    flags: u16,
    body: &[u8],
    seq: u32,
) -> Result<(Vec<Vec<u8>>, bool), DumpError> {
    let is_dump = flags & NLM_F_DUMP != 0;
    let len = NLMSG_HDR_LEN + body.len();
    let mut req = Vec::with_capacity(len);
    req.extend_from_slice(&(len as u32).to_ne_bytes());
    req.extend_from_slice(&msg_type.to_ne_bytes());
    req.extend_from_slice(&flags.to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(body);
    sock.send_to(&req, &SocketAddr::new(0, 0), 0)
        .map_err(|e| DumpError::Io(format!("netlink send: {e}")))?;

    let mut out = Vec::new();
    let mut interrupted = false;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    loop {
        buf.clear();
        let n = sock
            .recv(&mut buf, 0)
            .map_err(|e| DumpError::Io(format!("netlink receive: {e}")))?;
        let data = buf.get(..n).unwrap_or_default();
        let mut off = 0usize;
        while off + NLMSG_HDR_LEN <= data.len() {
            let hdr = &data[off..off + NLMSG_HDR_LEN];
            let mlen = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
            let mtype = u16::from_ne_bytes([hdr[4], hdr[5]]);
            let flags = u16::from_ne_bytes([hdr[6], hdr[7]]);
            let mseq = u32::from_ne_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
            if mlen < NLMSG_HDR_LEN || off + mlen > data.len() {
                return Err(DumpError::Io("truncated netlink message".to_string()));
            }
            let payload = &data[off + NLMSG_HDR_LEN..off + mlen];
            off += (mlen + 3) & !3;
            if mseq != seq {
                continue;
            }
            if flags & NLM_F_DUMP_INTR != 0 {
                interrupted = true;
            }
            match mtype {
                NLMSG_DONE => return Ok((out, interrupted)),
                NLMSG_ERROR => {
                    let errno = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    if errno == 0 {
                        return Ok((out, interrupted));
                    }
                    return Err(DumpError::Kernel(-errno));
                }
                _ => {
                    out.push(payload.to_vec());
                    if !is_dump {
                        return Ok((out, interrupted));
                    }
                }
            }
        }
    }
}

/// One network interface as the views need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    /// IFLA_MASTER: the bridge, bond or VRF device this port belongs to.
    pub master: Option<u32>,
    pub kind: Option<String>,
    /// IFLA_VRF_TABLE when this link is a VRF device.
    pub vrf_table: Option<u32>,
}

/// ifindex -> link, for one namespace (ifindexes are per namespace).
#[derive(Debug, Clone, Default)]
pub struct Links(pub HashMap<u32, Link>);

impl Links {
    pub fn dump(sock: &Socket) -> Result<Links, DumpError> {
        // struct ifinfomsg: family, pad, type, index, flags, change (16 bytes).
        let body = [0u8; 16];
        let mut map = HashMap::new();
        for payload in dump(sock, RTM_GETLINK, &body)? {
            let Ok(msg) = LinkMessage::parse(payload.as_slice()) else {
                continue;
            };
            let mut link = Link::default();
            for attr in &msg.attributes {
                match attr {
                    LinkAttribute::IfName(n) => link.name = n.clone(),
                    LinkAttribute::Controller(m) => link.master = Some(*m),
                    LinkAttribute::LinkInfo(infos) => {
                        for info in infos {
                            match info {
                                LinkInfo::Kind(InfoKind::Vrf) => link.kind = Some("vrf".into()),
                                LinkInfo::Kind(k) => link.kind = Some(k.to_string()),
                                LinkInfo::Data(InfoData::Vrf(v)) => {
                                    for i in v {
                                        if let InfoVrf::TableId(t) = i {
                                            link.vrf_table = Some(*t);
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            map.insert(msg.header.index, link);
        }
        Ok(Links(map))
    }

    /// The interface name, or `if<N>` for an index this namespace does not know.
    pub fn name(&self, ifindex: u32) -> String {
        self.0
            .get(&ifindex)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("if{ifindex}"))
    }

    /// The VRF device `ifindex` is enslaved to (or is), by name.
    pub fn vrf_of(&self, ifindex: u32) -> Option<String> {
        let link = self.0.get(&ifindex)?;
        if link.vrf_table.is_some() || link.kind.as_deref() == Some("vrf") {
            return Some(link.name.clone());
        }
        let master = self.0.get(&link.master?)?;
        (master.kind.as_deref() == Some("vrf")).then(|| master.name.clone())
    }

    /// The VRF device whose table is `table`.
    pub fn vrf_for_table(&self, table: u32) -> Option<String> {
        self.0
            .values()
            .find(|l| l.vrf_table == Some(table))
            .map(|l| l.name.clone())
    }
}

/// Reads a native-endian u32 at `off`, if the slice is long enough.
pub fn ne_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a native-endian u16 at `off`, if the slice is long enough.
pub fn ne_u16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off + 2)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

/// Walks netlink attributes (`struct nlattr`: u16 len, u16 type, value, 4-aligned).
/// Yields (type without flag bits, value). Stops at the first malformed attribute.
pub fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = ne_u16(b, 0)? as usize;
        let kind = ne_u16(b, 2)? & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        let value = b.get(4..len)?;
        b = b.get(((len + 3) & !3).min(b.len())..).unwrap_or_default();
        Some((kind, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_walk_handles_padding_and_truncation() {
        // len 5 (1 byte value, padded to 8), then len 8 u32, then a truncated header.
        let mut b = vec![5, 0, 1, 0, 0xaa, 0, 0, 0, 8, 0, 2, 0x80, 1, 0, 0, 0, 9, 0];
        let got: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(t, v)| (t, v.to_vec())).collect();
        assert_eq!(got, vec![(1, vec![0xaa]), (2, vec![1, 0, 0, 0])]);
        // A length beyond the buffer stops the walk instead of panicking.
        b[0] = 200;
        assert_eq!(attrs(&b).count(), 0);
    }
}
