//! `netkit neighbors` as `show cdp neighbors detail` prints it.

use super::{Neighbor, Protocol};
use crate::output::escape;
use std::io::{self, Write};

pub fn write(out: &mut dyn Write, rows: &[Neighbor], waited_s: u64) -> io::Result<()> {
    if rows.is_empty() {
        writeln!(out, "No CDP or LLDP neighbours heard in {waited_s} s.")?;
    }
    for n in rows {
        writeln!(out, "-------------------------")?;
        // Everything but our own interface name and the fixed capability names came
        // off the wire: escaped, so it cannot forge lines or drive the terminal.
        writeln!(out, "Device ID: {}", escape(&n.device_id))?;
        if let Some(ip) = n.mgmt_ip {
            writeln!(out, "Entry address(es):\n  IP address: {ip}")?;
        }
        writeln!(
            out,
            "Platform: {},  Capabilities: {}",
            escape(n.platform.as_deref().unwrap_or("-")),
            n.capabilities.join(" ")
        )?;
        writeln!(
            out,
            "Interface: {},  Port ID (outgoing port): {}",
            n.interface,
            escape(n.port_id.as_deref().unwrap_or("-"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_id_with_a_newline_cannot_forge_a_line() {
        let n = Neighbor {
            interface: "eth0".into(),
            protocol: Protocol::Cdp,
            device_id: "sw1\nDevice ID: fake\u{1b}[2J".into(),
            port_id: Some("Gi0/1\r".into()),
            platform: None,
            mgmt_ip: None,
            native_vlan: None,
            capabilities: vec![],
            ttl_s: 10,
            last_seen: "-".into(),
        };
        let mut out = Vec::new();
        write(&mut out, &[n], 1).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Device ID: sw1\\nDevice ID: fake\\e[2J\n"),
            "{text}"
        );
        assert_eq!(text.matches("Device ID:").count(), 2, "one line, not two");
        assert!(text.lines().all(|l| !l.starts_with("Device ID: fake")));
        assert!(text.contains("Port ID (outgoing port): Gi0/1\\r"));
    }
}
