//! `netkit neighbors` as `show cdp neighbors detail` prints it.

use super::{Neighbor, Protocol};
use std::io::{self, Write};

pub fn write(out: &mut dyn Write, rows: &[Neighbor], waited_s: u64) -> io::Result<()> {
    if rows.is_empty() {
        writeln!(out, "No CDP or LLDP neighbours heard in {waited_s} s.")?;
    }
    for n in rows {
        writeln!(out, "-------------------------")?;
        writeln!(out, "Device ID: {}", n.device_id)?;
        if let Some(ip) = n.mgmt_ip {
            writeln!(out, "Entry address(es):\n  IP address: {ip}")?;
        }
        writeln!(
            out,
            "Platform: {},  Capabilities: {}",
            n.platform.as_deref().unwrap_or("-"),
            n.capabilities.join(" ")
        )?;
        writeln!(
            out,
            "Interface: {},  Port ID (outgoing port): {}",
            n.interface,
            n.port_id.as_deref().unwrap_or("-")
        )?;
        writeln!(out, "Holdtime : {} sec", n.ttl_s)?;
        if let Some(v) = n.native_vlan {
            writeln!(out, "Native VLAN: {v}")?;
        }
        let proto = match n.protocol {
            Protocol::Cdp => "CDP",
            Protocol::Lldp => "LLDP",
        };
        writeln!(out, "Protocol: {proto},  Last seen: {}", n.last_seen)?;
    }
    Ok(())
}
