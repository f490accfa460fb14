//! `netkit ss`: TCP and UDP sockets with owners and TCP internals, in one namespace or
//! all of them. The sockets come from `netkit_os::netlink::sockets`; this module says
//! which to ask for ([`Filter`]), narrows them ([`retain_family`]) and shows them.

pub mod filter;
pub mod report;
pub mod view;

pub use report::{Owner, SockEntry, SockTimer, Summary, TcpInfo};

// TCP_* state numbers (include/net/tcp_states.h).
const TCP_SYN_RECV: u8 = 3;
const TCP_TIME_WAIT: u8 = 6;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

/// `ss`'s state names, indexed by TCP_* number.
pub fn state_name(state: u8, proto: u8) -> &'static str {
    match state {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 | 12 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "UNCONN",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 if proto == IPPROTO_UDP => "UNCONN",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// Which sockets to show, as `ss -t -u -l -a` choose them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filter {
    pub tcp: bool,
    pub udp: bool,
    /// `-l`: listening (TCP LISTEN, unconnected UDP) only.
    pub listening: bool,
    /// `-a`: every state.
    pub all: bool,
    /// `state NAME`/`exclude NAME` words: exactly these TCP states (overrides -l/-a).
    pub states: Option<u32>,
}

impl Filter {
    /// The TCP state bitmask of the request: `ss`'s default leaves out listening,
    /// closed, TIME-WAIT and SYN-RECV sockets; `-l` keeps only LISTEN/UNCONN; `-a` all.
    pub fn states(&self) -> u32 {
        let bit = |s: u8| 1u32 << s;
        let all = 0xfff_u32;
        if let Some(s) = self.states {
            s
        } else if self.all {
            all
        } else if self.listening {
            bit(TCP_LISTEN) | bit(TCP_CLOSE)
        } else {
            all & !(bit(TCP_LISTEN) | bit(TCP_CLOSE) | bit(TCP_TIME_WAIT) | bit(TCP_SYN_RECV))
        }
    }

    /// IPPROTO_* numbers to ask for.
    pub fn protocols(&self) -> Vec<u8> {
        match (self.tcp, self.udp) {
            (true, false) => vec![IPPROTO_TCP],
            (false, true) => vec![IPPROTO_UDP],
            _ => vec![IPPROTO_TCP, IPPROTO_UDP],
        }
    }
}

/// `ss -s`: sockets per namespace by protocol, TCP state and family, from a dump of
/// every state of both protocols. Namespaces keep the order of their first row.
pub fn summarise(rows: &[SockEntry]) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    for r in rows {
        let i = match out.iter().position(|s| s.netns == r.netns) {
            Some(i) => i,
            None => {
                out.push(Summary {
                    netns: r.netns.clone(),
                    ..Summary::default()
                });
                out.len() - 1
            }
        };
        let s = &mut out[i];
        if r.local.is_ipv6() {
            s.inet6 += 1;
        } else {
            s.inet += 1;
        }
        if r.proto == "udp" {
            s.udp += 1;
            continue;
        }
        s.tcp += 1;
        match r.state.as_str() {
            "ESTAB" => s.tcp_estab += 1,
            "LISTEN" => s.tcp_listen += 1,
            "TIME-WAIT" => s.tcp_timewait += 1,
            _ => s.tcp_other += 1,
        }
    }
    out
}

/// `-4`/`-6`: keeps the sockets of one address family.
pub fn retain_family(rows: &mut Vec<SockEntry>, v6: bool) {
    rows.retain(|r| r.local.is_ipv6() == v6);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_filter_matches_ss() {
        let default = Filter::default().states();
        assert_eq!(default & (1 << 1), 1 << 1); // ESTABLISHED
        assert_eq!(default & (1 << TCP_TIME_WAIT), 0);
        assert_eq!(default & (1 << TCP_LISTEN), 0);
        let l = Filter {
            listening: true,
            ..Filter::default()
        };
        assert_eq!(l.states(), (1 << 10) | (1 << 7));
        assert_eq!(state_name(10, IPPROTO_UDP), "UNCONN");
        assert_eq!(state_name(12, IPPROTO_TCP), "SYN-RECV");
    }
}
