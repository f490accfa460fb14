//! Synchronous netlink dumps for the namespace views, and the per-namespace link table.
//!
//! - [`sockets`]: TCP and UDP sockets (sock_diag), as `ss` shows them;
//! - [`neigh`]: the neighbour table (ARP/NDP), as `ip neigh`;
//! - [`routes`]: every routing table, multipath, nexthop objects, MPLS;
//! - [`bridge`]: a bridge's forwarding table and the ARP lookup of l2trace.
//!
//! `top`'s exact-tuple socket lookups are in `crate::live::attribution`.
//!
//! A netlink socket belongs to the namespace it was created in for its whole life, so
//! the views open their sockets on a thread that has entered the namespace (see
//! `netns::run_in`) and dump there. No async runtime: a CLI dump is one request and a
//! read loop until `NLMSG_DONE`.

use netkit_dissectors::link::Mac;
use netlink_packet_core::Parseable;
use netlink_packet_core::{NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVrf, LinkAttribute, LinkInfo, LinkMessage, State,
};
use netlink_sys::{Socket, SocketAddr};
use std::collections::HashMap;

pub use netlink_sys::protocols::{NETLINK_ROUTE, NETLINK_SOCK_DIAG};

pub mod addrs;
pub mod bridge;
pub mod neigh;
pub mod routes;
pub mod sockets;

const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_GETLINK: u16 = 18;
/// A kernel may interrupt a dump when the table changes under it; iproute2 retries too.
const DUMP_ATTEMPTS: usize = 3;

/// Why a netlink request failed: the socket could not be opened, the kernel's errno
/// (negative values in NLMSG_ERROR, made positive here), a local I/O or parse problem,
/// or a table that never held still.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    #[error("cannot open netlink socket: {0}")]
    Open(String),
    #[error("{}", std::io::Error::from_raw_os_error(*.0))]
    Kernel(i32),
    #[error("{0}")]
    Io(String),
    /// Every attempt came back flagged NLM_F_DUMP_INTR: the table kept changing while
    /// the kernel walked it, so what was read may miss or repeat entries.
    #[error(
        "the table changed during each of {attempts} dumps (NLM_F_DUMP_INTR), so no \
         consistent copy could be read; try again"
    )]
    Interrupted { attempts: usize },
}

/// Opens a netlink socket of `protocol` in the calling thread's namespace.
pub fn open(protocol: isize) -> Result<Socket, DumpError> {
    let mut sock = Socket::new(protocol).map_err(|e| DumpError::Open(e.to_string()))?;
    sock.bind_auto()
        .map_err(|e| DumpError::Open(format!("cannot bind it: {e}")))?;
    // Big dumps (thousands of sockets or routes) come in many datagrams; a larger
    // receive buffer avoids ENOBUFS when we read slower than the kernel writes.
    let _ = sock.set_rx_buf_sz(4 * 1024 * 1024);
    Ok(sock)
}

/// Sends one dump request (`msg_type` with `body` after the netlink header) and returns
/// the payload of every answer message (the bytes after the 16-byte header), retrying
/// when the kernel flags the dump as interrupted.
/// An interrupted dump is never returned: after [`DUMP_ATTEMPTS`] interrupted tries the
/// answer is [`DumpError::Interrupted`], so callers warn instead of showing a table that
/// may silently miss rows.
pub fn dump(sock: &Socket, msg_type: u16, body: &[u8]) -> Result<Vec<Vec<u8>>, DumpError> {
    retry_interrupted(|attempt| dump_once(sock, msg_type, body, attempt as u32 + 1))
}

/// Calls `once(attempt)` until it returns a dump the kernel did not flag as
/// interrupted, at most [`DUMP_ATTEMPTS`] times.
fn retry_interrupted(
    mut once: impl FnMut(usize) -> Result<(Vec<Vec<u8>>, bool), DumpError>,
) -> Result<Vec<Vec<u8>>, DumpError> {
    for attempt in 0..DUMP_ATTEMPTS {
        let (msgs, interrupted) = once(attempt)?;
        if !interrupted {
            return Ok(msgs);
        }
    }
    Err(DumpError::Interrupted {
        attempts: DUMP_ATTEMPTS,
    })
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

    let mut answer = Answer::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    loop {
        buf.clear();
        let n = sock
            .recv(&mut buf, 0)
            .map_err(|e| DumpError::Io(format!("netlink receive: {e}")))?;
        let data = buf.get(..n).unwrap_or_default();
        if answer.take(data, seq, is_dump)? {
            return Ok((answer.msgs, answer.interrupted));
        }
    }
}

/// What has come back so far for one request.
#[derive(Debug, Default)]
struct Answer {
    msgs: Vec<Vec<u8>>,
    /// Some message of this answer (NLMSG_DONE included) carried NLM_F_DUMP_INTR.
    interrupted: bool,
}

impl Answer {
    /// Takes in one datagram; true when the answer to `seq` is complete. Messages of
    /// other sequence numbers (late parts of an earlier, abandoned dump) are skipped.
    fn take(&mut self, data: &[u8], seq: u32, is_dump: bool) -> Result<bool, DumpError> {
        let mut off = 0usize;
        while off + NLMSG_HDR_LEN <= data.len() {
            let (Some(mlen), Some(mtype), Some(flags), Some(mseq)) = (
                ne_u32(data, off),
                ne_u16(data, off + 4),
                ne_u16(data, off + 6),
                ne_u32(data, off + 8),
            ) else {
                break;
            };
            let mlen = mlen as usize;
            // Also refuses a length below the header's (an empty range start > end),
            // which would otherwise never advance.
            let Some(payload) = data.get(off + NLMSG_HDR_LEN..off.saturating_add(mlen)) else {
                return Err(DumpError::Io("truncated netlink message".to_string()));
            };
            off += (mlen + 3) & !3;
            if mseq != seq {
                continue;
            }
            if flags & NLM_F_DUMP_INTR != 0 {
                self.interrupted = true;
            }
            match mtype {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let errno = ne_u32(payload, 0).map_or(0, |e| e as i32);
                    if errno == 0 {
                        return Ok(true);
                    }
                    return Err(DumpError::Kernel(-errno));
                }
                _ => {
                    self.msgs.push(payload.to_vec());
                    if !is_dump {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }
}

/// One network interface of a namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<Mac>,
    /// IFLA_MASTER: the bridge, bond or VRF device this port belongs to.
    pub master: Option<u32>,
    pub kind: Option<String>,
    /// IFLA_VRF_TABLE when this link is a VRF device.
    pub vrf_table: Option<u32>,
    /// IFF_UP: administratively up.
    pub up: bool,
    /// IFLA_OPERSTATE as `ip -br` prints it (UP, DOWN, UNKNOWN, ...).
    pub oper: String,
    /// ifi_type: the ARPHRD_* link type (1 Ethernet, 772 loopback, 65534 none).
    pub arphrd: u16,
}

impl Link {
    /// A Linux bridge (IFLA_INFO_KIND "bridge").
    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some("bridge")
    }
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
            let mut link = Link {
                index: msg.header.index,
                name: format!("if{}", msg.header.index),
                arphrd: u16::from(msg.header.link_layer_type),
                up: msg
                    .header
                    .flags
                    .contains(netlink_packet_route::link::LinkFlags::Up),
                ..Link::default()
            };
            for attr in &msg.attributes {
                match attr {
                    LinkAttribute::IfName(n) => link.name = n.clone(),
                    LinkAttribute::Address(a) => {
                        link.mac = <[u8; 6]>::try_from(&a[..]).ok().map(Mac)
                    }
                    LinkAttribute::Controller(m) => link.master = Some(*m),
                    LinkAttribute::OperState(s) => link.oper = oper_name(s).to_string(),
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

/// An operational state as iproute2 names it.
fn oper_name(s: &State) -> &'static str {
    match s {
        State::Up => "UP",
        State::Down => "DOWN",
        State::LowerLayerDown => "LOWERLAYERDOWN",
        State::Testing => "TESTING",
        State::Dormant => "DORMANT",
        State::NotPresent => "NOTPRESENT",
        _ => "UNKNOWN",
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

    /// One netlink message as the kernel writes it: header (native endian) + payload,
    /// padded to 4 bytes.
    fn msg(mtype: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDR_LEN + payload.len()) as u32;
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&mtype.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&4242u32.to_ne_bytes());
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    const RTM_NEWROUTE: u16 = 24;
    const MULTI: u16 = 0x2;

    #[test]
    fn a_dump_flagged_interrupted_is_noticed_on_any_message() {
        // Two datagrams: a route, then a route flagged NLM_F_DUMP_INTR and DONE.
        let first = msg(RTM_NEWROUTE, MULTI, 7, &[1, 2, 3]);
        let mut second = msg(RTM_NEWROUTE, MULTI | NLM_F_DUMP_INTR, 7, &[4, 5, 6, 7]);
        second.extend(msg(NLMSG_DONE, MULTI, 7, &0i32.to_ne_bytes()));
        let mut a = Answer::default();
        assert!(!a.take(&first, 7, true).unwrap());
        assert!(!a.interrupted);
        assert!(a.take(&second, 7, true).unwrap());
        assert!(a.interrupted);
        assert_eq!(a.msgs, vec![vec![1, 2, 3], vec![4, 5, 6, 7]]);

        // The kernel also flags the DONE message alone when the change came last.
        let mut only_done = msg(RTM_NEWROUTE, MULTI, 8, &[9; 8]);
        only_done.extend(msg(NLMSG_DONE, MULTI | NLM_F_DUMP_INTR, 8, &[0; 4]));
        let mut a = Answer::default();
        assert!(a.take(&only_done, 8, true).unwrap());
        assert!(a.interrupted);
    }

    #[test]
    fn late_parts_of_an_abandoned_dump_are_skipped() {
        let mut d = msg(RTM_NEWROUTE, MULTI | NLM_F_DUMP_INTR, 1, &[0xee; 4]);
        d.extend(msg(NLMSG_DONE, MULTI | NLM_F_DUMP_INTR, 1, &[0; 4]));
        d.extend(msg(RTM_NEWROUTE, MULTI, 2, &[0x11; 4]));
        d.extend(msg(NLMSG_DONE, MULTI, 2, &[0; 4]));
        let mut a = Answer::default();
        assert!(a.take(&d, 2, true).unwrap());
        assert!(!a.interrupted);
        assert_eq!(a.msgs, vec![vec![0x11; 4]]);
    }

    #[test]
    fn errors_and_truncation_are_reported() {
        let e = msg(NLMSG_ERROR, 0, 3, &(-19i32).to_ne_bytes());
        assert_eq!(
            Answer::default().take(&e, 3, true).unwrap_err(),
            DumpError::Kernel(19)
        );
        // A header that claims more bytes than the datagram has.
        let mut t = msg(RTM_NEWROUTE, MULTI, 3, &[0; 8]);
        t.truncate(20);
        assert!(matches!(
            Answer::default().take(&t, 3, true),
            Err(DumpError::Io(_))
        ));
        // A length below the header size would loop forever if taken at its word.
        let mut z = msg(RTM_NEWROUTE, MULTI, 3, &[]);
        z[..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(Answer::default().take(&z, 3, true).is_err());
    }

    #[test]
    fn interrupted_dumps_are_retried_then_refused_not_returned() {
        // Interrupted twice, then clean: the clean copy is what comes back.
        let mut calls = 0;
        let got = retry_interrupted(|attempt| {
            calls += 1;
            Ok((vec![vec![attempt as u8]], attempt < 2))
        });
        assert_eq!(got.unwrap(), vec![vec![2u8]]);
        assert_eq!(calls, 3);
        // Interrupted every time: an error, never the inconsistent rows.
        let got = retry_interrupted(|_| Ok((vec![vec![0xbad_u16 as u8]], true)));
        assert_eq!(
            got.unwrap_err(),
            DumpError::Interrupted {
                attempts: DUMP_ATTEMPTS
            }
        );
        assert!(DumpError::Interrupted { attempts: 3 }
            .to_string()
            .contains("NLM_F_DUMP_INTR"));
        // A kernel error is not retried.
        let mut calls = 0;
        let got = retry_interrupted(|_| {
            calls += 1;
            Err(DumpError::Kernel(1))
        });
        assert_eq!((got.unwrap_err(), calls), (DumpError::Kernel(1), 1));
    }

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
