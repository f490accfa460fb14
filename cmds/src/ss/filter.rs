//! `ss`'s filter words, as iproute2 users type them: `state established`,
//! `exclude listening`, `dst 10.0.0.1`, `src 10.0.0.0/24`, `dport = :443`,
//! `sport gt :1024`, joined by `and` (or nothing). States go into the kernel request
//! (a TIME-WAIT socket is only sent when asked for); addresses and ports are checked
//! on each socket. `or` and `not` are refused with a sentence rather than guessed.

use super::SockEntry;
use std::net::IpAddr;

// TCP_* state numbers (include/net/tcp_states.h).
const ESTABLISHED: u8 = 1;
const SYN_SENT: u8 = 2;
const SYN_RECV: u8 = 3;
const FIN_WAIT1: u8 = 4;
const FIN_WAIT2: u8 = 5;
const TIME_WAIT: u8 = 6;
const CLOSE: u8 = 7;
const CLOSE_WAIT: u8 = 8;
const LAST_ACK: u8 = 9;
const LISTEN: u8 = 10;
const CLOSING: u8 = 11;
const ALL_STATES: u32 = 0xffe;

fn bit(s: u8) -> u32 {
    1 << s
}

/// The states `ss` means by a state word, as a bitmask of TCP_* numbers.
fn state_mask(word: &str) -> Option<u32> {
    let connected = ALL_STATES & !(bit(LISTEN) | bit(CLOSE));
    Some(match word.to_ascii_lowercase().as_str() {
        "established" | "estab" => bit(ESTABLISHED),
        "syn-sent" => bit(SYN_SENT),
        "syn-recv" => bit(SYN_RECV),
        "fin-wait-1" => bit(FIN_WAIT1),
        "fin-wait-2" => bit(FIN_WAIT2),
        "time-wait" => bit(TIME_WAIT),
        "closed" | "unconn" => bit(CLOSE),
        "close-wait" => bit(CLOSE_WAIT),
        "last-ack" => bit(LAST_ACK),
        "listening" | "listen" => bit(LISTEN) | bit(CLOSE),
        "closing" => bit(CLOSING),
        "all" => ALL_STATES,
        "connected" => connected,
        "synchronized" => connected & !bit(SYN_SENT),
        "bucket" => bit(SYN_RECV) | bit(TIME_WAIT),
        "big" => ALL_STATES & !(bit(SYN_RECV) | bit(TIME_WAIT)),
        _ => return None,
    })
}

/// A comparison of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word {
            "=" | "==" | "eq" => Op::Eq,
            "!=" | "ne" | "neq" => Op::Ne,
            "<" | "lt" => Op::Lt,
            ">" | "gt" => Op::Gt,
            "<=" | "le" => Op::Le,
            ">=" | "ge" => Op::Ge,
            _ => return None,
        })
    }

    fn holds(self, a: u16, b: u16) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Gt => a > b,
            Op::Le => a <= b,
            Op::Ge => a >= b,
        }
    }
}

/// An address condition: a prefix and maybe a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub addr: Option<(IpAddr, u8)>,
    pub port: Option<u16>,
}

impl HostPort {
    fn matches(&self, sa: &std::net::SocketAddr) -> bool {
        let addr_ok = self
            .addr
            .is_none_or(|(net, len)| in_prefix(sa.ip(), net, len));
        addr_ok && self.port.is_none_or(|p| p == sa.port())
    }
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    // An IPv4 socket may show as IPv4-mapped IPv6 ([::ffff:10.0.0.1]).
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// One condition on a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Dst(HostPort),
    Src(HostPort),
    Dport(Op, u16),
    Sport(Op, u16),
}

/// The parsed filter: the states to ask the kernel for (None: the flags decide) and
/// the conditions every shown socket meets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expr {
    pub states: Option<u32>,
    pub conds: Vec<Cond>,
}

impl Expr {
    pub fn matches(&self, s: &SockEntry) -> bool {
        self.conds.iter().all(|c| match c {
            Cond::Dst(hp) => hp.matches(&s.peer),
            Cond::Src(hp) => hp.matches(&s.local),
            Cond::Dport(op, p) => op.holds(s.peer.port(), *p),
            Cond::Sport(op, p) => op.holds(s.local.port(), *p),
        })
    }
}

/// A filter `ss` would take but netkit cannot: one line saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ss filter: {0}")]
pub struct BadFilter(pub String);

fn bad(msg: impl Into<String>) -> BadFilter {
    BadFilter(msg.into())
}

/// `:8080`, `8080`, or `*` (any).
fn parse_port(word: &str) -> Result<Option<u16>, BadFilter> {
    let p = word.strip_prefix(':').unwrap_or(word);
    if p == "*" || p.is_empty() {
        return Ok(None);
    }
    p.parse::<u16>()
        .map(Some)
        .map_err(|_| bad(format!("'{word}' is not a port (write :PORT, e.g. :8080)")))
}

/// `10.0.0.1`, `10.0.0.0/24`, `10.0.0.1:80`, `[2001:db8::1]:443`, `2001:db8::/32`,
/// `:80`, `*:80`.
fn parse_host_port(word: &str) -> Result<HostPort, BadFilter> {
    let fail = || {
        bad(format!(
            "'{word}' is not an address (ADDR, ADDR/LEN, ADDR:PORT, [IPv6]:PORT or :PORT)"
        ))
    };
    let (host, port) = if let Some(rest) = word.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(fail)?;
        (h, after.strip_prefix(':'))
    } else if word.matches(':').count() == 1 {
        let (h, p) = word.split_once(':').ok_or_else(fail)?;
        (h, Some(p))
    } else {
        (word, None)
    };
    let port = match port {
        Some(p) => parse_port(p)?,
        None => None,
    };
    let addr = if host.is_empty() || host == "*" {
        None
    } else {
        let (a, len) = match host.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| fail())?)),
            None => (host, None),
        };
        let ip: IpAddr = a.parse().map_err(|_| fail())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        if len > max {
            return Err(fail());
        }
        Some((ip, len))
    };
    Ok(HostPort { addr, port })
}

/// Parses the words after `ss`'s options.
pub fn parse(words: &[String]) -> Result<Expr, BadFilter> {
    let mut expr = Expr::default();
    let mut include: Option<u32> = None;
    let mut exclude = 0u32;
    let mut it = words.iter().map(String::as_str).peekable();
    while let Some(w) = it.next() {
        let mut value = |what: &str| it.next().ok_or_else(|| bad(format!("'{w}' needs {what}")));
        match w {
            "and" | "&&" | "(" | ")" => {}
            "or" | "||" | "not" | "!" => {
                return Err(bad(format!(
                    "'{w}' is not supported: conditions combine with 'and' only (run \
                     netkit twice, or filter --json with jq)"
                )))
            }
            "state" => {
                let s = value("a state name")?;
                let m = state_mask(s).ok_or_else(|| bad(format!("unknown state '{s}'")))?;
                include = Some(include.unwrap_or(0) | m);
            }
            "exclude" | "excl" => {
                let s = value("a state name")?;
                exclude |= state_mask(s).ok_or_else(|| bad(format!("unknown state '{s}'")))?;
            }
            "dst" | "src" => {
                let hp = parse_host_port(value("an address")?)?;
                expr.conds.push(if w == "dst" {
                    Cond::Dst(hp)
                } else {
                    Cond::Src(hp)
                });
            }
            "dport" | "sport" => {
                let mut v = value("a port")?;
                let op = match Op::parse(v) {
                    Some(op) => {
                        v = it
                            .next()
                            .ok_or_else(|| bad(format!("'{w}' needs a port")))?;
                        op
                    }
                    None => Op::Eq,
                };
                let port = parse_port(v)?.ok_or_else(|| bad(format!("'{w}' needs a port")))?;
                expr.conds.push(if w == "dport" {
                    Cond::Dport(op, port)
                } else {
                    Cond::Sport(op, port)
                });
            }
            other => {
                return Err(bad(format!(
                    "unknown word '{other}' (netkit takes state, exclude, dst, src, dport, \
                     sport and 'and')"
                )))
            }
        }
    }
    if include.is_some() || exclude != 0 {
        expr.states = Some(include.unwrap_or(ALL_STATES) & !exclude);
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn sock(local: &str, peer: &str) -> SockEntry {
        SockEntry {
            netns: String::new(),
            proto: "tcp".into(),
            state: "ESTAB".into(),
            local: local.parse().unwrap(),
            peer: peer.parse().unwrap(),
            dev: None,
            recv_q: 0,
            send_q: 0,
            uid: 0,
            inode: 0,
            process: Vec::new(),
            tcp_info: None,
            timer: None,
            bound_ifindex: 0,
        }
    }

    #[test]
    fn iproute2_filter_words() {
        let e = parse(&words("state established")).unwrap();
        assert_eq!(e.states, Some(1 << 1));
        assert!(e.conds.is_empty());
        let e = parse(&words("state connected exclude syn-sent")).unwrap();
        assert_eq!(e.states, Some(0xffe & !(1 << 10 | 1 << 7 | 1 << 2)));

        let s = sock("10.0.0.2:51000", "10.0.0.1:8080");
        for (f, want) in [
            ("dst 10.0.0.1", true),
            ("dst 10.0.0.0/24", true),
            ("dst 10.0.1.0/24", false),
            ("dst 10.0.0.1:8080", true),
            ("dst :8081", false),
            ("src 10.0.0.2", true),
            ("dport = :8080", true),
            ("dport eq 8080", true),
            ("dport :8080", true),
            ("sport = :8080", false),
            ("sport gt :1024 and dport lt :10000", true),
            ("sport >= :51001", false),
            ("( sport != :22 )", true),
        ] {
            assert_eq!(parse(&words(f)).unwrap().matches(&s), want, "{f}");
        }
        let v6 = sock("[2001:db8::2]:40000", "[2001:db8::1]:443");
        assert!(parse(&words("dst [2001:db8::1]:443")).unwrap().matches(&v6));
        assert!(parse(&words("dst 2001:db8::/32")).unwrap().matches(&v6));
        assert!(!parse(&words("dst 10.0.0.1")).unwrap().matches(&v6));
        let mapped = sock("[::ffff:10.0.0.2]:1", "[::ffff:10.0.0.1]:2");
        assert!(parse(&words("dst 10.0.0.1")).unwrap().matches(&mapped));
    }

    #[test]
    fn what_is_not_taken_is_one_clear_error() {
        for (f, says) in [
            ("state nosuch", "unknown state 'nosuch'"),
            ("dport = :http", "not a port"),
            ("dst 10.0.0.1/40", "not an address"),
            ("sport = :1 or sport = :2", "'or' is not supported"),
            ("frobnicate", "unknown word 'frobnicate'"),
            ("dst", "'dst' needs an address"),
        ] {
            let e = parse(&words(f)).unwrap_err().to_string();
            assert!(e.contains(says), "{f}: {e}");
        }
    }
}
