//! Names for remote hosts, learnt from DNS answers seen on the wire (no lookups of our
//! own, so nothing leaks to a resolver and nothing waits on one).

use netkit_dissectors::app::dns;
use std::collections::HashMap;
use std::net::IpAddr;

/// Most names kept; past this the table starts over, so a flood of answers cannot grow
/// it without bound.
const MAX_NAMES: usize = 65_536;

/// Address -> the name a client asked for.
#[derive(Clone, Debug, Default)]
pub struct Names {
    map: HashMap<IpAddr, String>,
}

impl Names {
    /// Learns the A/AAAA answers of one DNS message (a UDP payload). Malformed or
    /// truncated messages teach nothing.
    pub fn observe_dns(&mut self, payload: &[u8]) {
        let Ok(msg) = dns::parse(payload) else {
            return;
        };
        for (addr, name) in msg.address_names() {
            self.insert(addr, name.trim_end_matches('.'));
        }
    }

    pub fn insert(&mut self, addr: IpAddr, name: &str) {
        if self.map.len() >= MAX_NAMES && !self.map.contains_key(&addr) {
            self.map.clear();
        }
        self.map.insert(addr, name.to_string());
    }

    pub fn get(&self, addr: IpAddr) -> Option<&str> {
        self.map.get(&addr).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Moves every name of `other` into `self`, leaving `other` empty.
    pub fn absorb(&mut self, other: &mut Names) {
        for (addr, name) in other.map.drain() {
            self.insert(addr, &name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_names_from_a_response_with_a_cname() {
        // Response for www.example.com A: CNAME example.com, then A 93.184.216.34.
        let mut m = vec![
            0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0, // header
            3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm',
            0, 0, 1, 0, 1, // question
        ];
        // CNAME: name ptr to 0x0c, type 5, class 1, ttl, rdlength 2, ptr to 0x10.
        m.extend_from_slice(&[0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 0x10]);
        // A: name ptr to 0x10 (example.com), type 1, ttl, rdlength 4.
        m.extend_from_slice(&[0xc0, 0x10, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34]);
        let mut n = Names::default();
        n.observe_dns(&m);
        assert_eq!(
            n.get("93.184.216.34".parse().unwrap()),
            Some("www.example.com")
        );
        assert_eq!(n.len(), 1);
        // A truncated copy teaches nothing and does not panic.
        let mut t = Names::default();
        t.observe_dns(&m[..m.len() - 3]);
        assert!(t.is_empty());
        let mut all = Names::default();
        all.absorb(&mut n);
        assert!(n.is_empty());
        assert_eq!(all.len(), 1);
    }
}
