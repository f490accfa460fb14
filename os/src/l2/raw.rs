//! Raw Layer-2 frames for CDP and LLDP: one AF_PACKET channel per interface through
//! pnet's datalink layer (it builds here and keeps `unsafe` out of netkit). The
//! framing of the two protocols is `netkit_cmds::neighbors::frames`.
//!
//! The channel is bound to `ETH_P_ALL`, so it also sees the frames this host sends on
//! the interface; receivers drop frames whose source MAC is the interface's own. A tap
//! on a bridge port sees ingress frames before the bridge handles them, so the agent
//! hears its neighbours even though its bridge does not forward CDP.

use super::L2Error;
use netkit_dissectors::link::Mac;
use pnet_datalink::{Channel, Config, DataLinkReceiver, DataLinkSender, NetworkInterface};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// An interface we can send and receive raw frames on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    pub mac: Mac,
    pub ipv4: Vec<Ipv4Addr>,
    pub up: bool,
    pub loopback: bool,
}

fn iface_of(i: &NetworkInterface) -> Iface {
    Iface {
        name: i.name.clone(),
        index: i.index,
        mac: i.mac.map_or(Mac([0; 6]), |m| Mac(m.octets())),
        ipv4: i
            .ips
            .iter()
            .filter_map(|n| match n.ip() {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .collect(),
        up: i.is_up(),
        loopback: i.is_loopback(),
    }
}

/// The interfaces of the calling thread's namespace.
pub fn interfaces() -> Vec<Iface> {
    pnet_datalink::interfaces().iter().map(iface_of).collect()
}

pub type Sender = Box<dyn DataLinkSender>;
pub type Receiver = Box<dyn DataLinkReceiver>;

/// Opens a raw channel on `name`; reads give up after `read_timeout`.
pub fn open(name: &str, read_timeout: Duration) -> Result<(Sender, Receiver), L2Error> {
    let ni = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| L2Error::NoInterface(name.to_string()))?;
    let config = Config {
        read_timeout: Some(read_timeout),
        // A real NIC filters multicast it was not asked for; pnet cannot join the CDP
        // and LLDP groups, so it takes a promiscuous membership instead. That is a
        // per-socket reference the kernel drops when the socket closes, as tcpdump's.
        promiscuous: true,
        ..Config::default()
    };
    match pnet_datalink::channel(&ni, config) {
        Ok(Channel::Ethernet(tx, rx)) => Ok((tx, rx)),
        Ok(_) => Err(L2Error::Raw {
            iface: name.to_string(),
            why: "not an Ethernet channel".to_string(),
        }),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            Err(L2Error::RawNeedsCapNetRaw(name.to_string()))
        }
        Err(e) => Err(L2Error::Raw {
            iface: name.to_string(),
            why: format!("cannot open a raw socket: {e}"),
        }),
    }
}

/// The next frame, or `None` when the read timed out.
pub fn recv(rx: &mut Receiver) -> std::io::Result<Option<Vec<u8>>> {
    match rx.next() {
        Ok(f) => Ok(Some(f.to_vec())),
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => Ok(None),
        Err(e) if e.kind() == ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn send(tx: &mut Sender, frame: &[u8]) -> std::io::Result<()> {
    match tx.send_to(frame, None) {
        Some(r) => r,
        None => Err(std::io::Error::other("send not supported")),
    }
}
