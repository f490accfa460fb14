//! `pcap show -Y`: a subset of Wireshark's display-filter language, parsed once and
//! evaluated over what `pcap show` already knows of each frame (its dissection, the
//! TCP analysis' stream and flags, whether a WebSocket frame ended in it).
//!
//! The subset: the fields of [`FIELDS`] and protocol names (`tcp`, `ip`, `http`,
//! `websocket`, ...); `==` `!=` `<` `>` `<=` `>=` (and `eq` `ne` `lt` `gt` `le` `ge`),
//! `contains`, `in {a b c}`; `&&` `||` `!` (and `and` `or` `not`) and parentheses.
//! Semantics follow Wireshark 4: a field alone tests that the frame has it (so
//! `tcp.flags.syn` alone matches every TCP frame, as there); a field with several
//! values (`ip.addr`, or `ip.src` in a tunnel) matches `==` when any value does, and
//! `!=` when none equals (`!(a == b)`, Wireshark's "all not equal").
//!
//! The parser is a decoder of user input: it must never panic whatever the text
//! (fuzzed by `fuzz/fuzz_targets/display_filter.rs`), and nesting is bounded so a
//! long run of `(` or `!` cannot overflow the stack.

use crate::pcap::analyze::sections::tcp::{TcpFlag, TcpFrameInfo};
use netkit_dissectors::app::http;
use netkit_dissectors::transport::tcp_flags;
use netkit_dissectors::{AppProto, Frame, Layer};
use std::fmt;
use std::net::IpAddr;

/// A parsed display filter.
#[derive(Debug, Clone)]
pub struct DisplayFilter {
    expr: Expr,
    needs_websocket: bool,
}

/// Why a filter text was refused: one line, naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

/// What one frame offers the filter.
pub struct FrameFacts<'a, 'f> {
    pub number: u64,
    /// The length on the wire.
    pub len: u32,
    pub frame: &'a Frame<'f>,
    /// The TCP analysis of the frame's innermost segment.
    pub tcp: Option<&'a TcpFrameInfo>,
    /// A WebSocket frame ended in this frame (tshark's `websocket` filter).
    pub websocket: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An unsigned number (ports, lengths, counters, 0/1 flags).
    Number,
    Address,
    Text,
    /// Present or not, with no value to compare (a protocol, an analysis flag).
    Presence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    FrameNumber,
    FrameLen,
    /// A layer by `pcap show`'s name for it.
    Proto(&'static str),
    IpAddr,
    IpSrc,
    IpDst,
    Ip6Addr,
    Ip6Src,
    Ip6Dst,
    IpTtl,
    IpProto,
    IpFlagsDf,
    IpFlagsMf,
    IpFragOffset,
    TcpStream,
    TcpPort,
    TcpSrcPort,
    TcpDstPort,
    TcpLen,
    TcpFlags,
    TcpFlag(u16),
    /// `tcp.analysis.flags`: any analysis flag.
    TcpAnalysisAny,
    TcpAnalysis(TcpFlag),
    UdpPort,
    UdpSrcPort,
    UdpDstPort,
    IcmpType,
    IcmpCode,
    Icmp6Type,
    Icmp6Code,
    HttpRequest,
    HttpResponse,
    HttpMethod,
    HttpUri,
    HttpCode,
    HttpHost,
    HttpUpgrade,
    Websocket,
}

/// The named fields, with their kind (the error for an unknown field lists them).
const FIELDS: &[(&str, Field, Kind)] = &[
    ("frame.number", Field::FrameNumber, Kind::Number),
    ("frame.len", Field::FrameLen, Kind::Number),
    ("ip.addr", Field::IpAddr, Kind::Address),
    ("ip.src", Field::IpSrc, Kind::Address),
    ("ip.dst", Field::IpDst, Kind::Address),
    ("ipv6.addr", Field::Ip6Addr, Kind::Address),
    ("ipv6.src", Field::Ip6Src, Kind::Address),
    ("ipv6.dst", Field::Ip6Dst, Kind::Address),
    ("ip.ttl", Field::IpTtl, Kind::Number),
    ("ip.proto", Field::IpProto, Kind::Number),
    ("ip.flags.df", Field::IpFlagsDf, Kind::Number),
    ("ip.flags.mf", Field::IpFlagsMf, Kind::Number),
    ("ip.frag_offset", Field::IpFragOffset, Kind::Number),
    ("tcp.stream", Field::TcpStream, Kind::Number),
    ("tcp.port", Field::TcpPort, Kind::Number),
    ("tcp.srcport", Field::TcpSrcPort, Kind::Number),
    ("tcp.dstport", Field::TcpDstPort, Kind::Number),
    ("tcp.len", Field::TcpLen, Kind::Number),
    ("tcp.flags", Field::TcpFlags, Kind::Number),
    (
        "tcp.flags.fin",
        Field::TcpFlag(tcp_flags::FIN),
        Kind::Number,
    ),
    (
        "tcp.flags.syn",
        Field::TcpFlag(tcp_flags::SYN),
        Kind::Number,
    ),
    (
        "tcp.flags.reset",
        Field::TcpFlag(tcp_flags::RST),
        Kind::Number,
    ),
    (
        "tcp.flags.push",
        Field::TcpFlag(tcp_flags::PSH),
        Kind::Number,
    ),
    (
        "tcp.flags.ack",
        Field::TcpFlag(tcp_flags::ACK),
        Kind::Number,
    ),
    (
        "tcp.flags.urg",
        Field::TcpFlag(tcp_flags::URG),
        Kind::Number,
    ),
    ("tcp.analysis.flags", Field::TcpAnalysisAny, Kind::Presence),
    ("udp.port", Field::UdpPort, Kind::Number),
    ("udp.srcport", Field::UdpSrcPort, Kind::Number),
    ("udp.dstport", Field::UdpDstPort, Kind::Number),
    ("icmp.type", Field::IcmpType, Kind::Number),
    ("icmp.code", Field::IcmpCode, Kind::Number),
    ("icmpv6.type", Field::Icmp6Type, Kind::Number),
    ("icmpv6.code", Field::Icmp6Code, Kind::Number),
    ("http.request", Field::HttpRequest, Kind::Presence),
    ("http.response", Field::HttpResponse, Kind::Presence),
    ("http.request.method", Field::HttpMethod, Kind::Text),
    ("http.request.uri", Field::HttpUri, Kind::Text),
    ("http.response.code", Field::HttpCode, Kind::Number),
    ("http.host", Field::HttpHost, Kind::Text),
    ("http.upgrade", Field::HttpUpgrade, Kind::Text),
    ("websocket", Field::Websocket, Kind::Presence),
];

/// Protocol names a filter may test alone: Wireshark's name, then `pcap show`'s layer.
const PROTOCOLS: &[(&str, &str)] = &[
    ("eth", "eth"),
    ("vlan", "vlan"),
    ("mpls", "mpls"),
    ("arp", "arp"),
    ("ip", "ipv4"),
    ("ipv6", "ipv6"),
    ("tcp", "tcp"),
    ("udp", "udp"),
    ("icmp", "icmp"),
    ("icmpv6", "icmpv6"),
    ("igmp", "igmp"),
    ("pim", "pim"),
    ("gre", "gre"),
    ("erspan", "erspan"),
    ("vxlan", "vxlan"),
    ("geneve", "geneve"),
    ("esp", "esp"),
    ("gtp", "gtp"),
    ("l2tp", "l2tp"),
    ("http", "http"),
    ("dns", "dns"),
    ("cdp", "cdp"),
    ("lldp", "lldp"),
    ("stp", "stp"),
    ("hsrp", "hsrp"),
    ("vrrp", "vrrp"),
    ("glbp", "glbp"),
];

/// Deepest nesting of parentheses and negations.
const MAX_DEPTH: usize = 64;
/// Longest filter text taken (a display filter is typed, not generated by the megabyte).
const MAX_LEN: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Number(u64),
    /// An address, or a network with its prefix length (`10.0.0.0/8`).
    Net(IpAddr, u8),
    Text(String),
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Has(Field),
    Compare(Field, Op, Literal),
    In(Field, Vec<Literal>),
}

/// The supported names, for the error that names an unknown one.
pub fn supported_fields() -> String {
    let mut names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
    names.push("tcp.analysis.<flag>");
    names.extend(PROTOCOLS.iter().map(|p| p.0));
    names.join(", ")
}

fn lookup(name: &str) -> Option<(Field, Kind)> {
    if let Some((_, f, k)) = FIELDS.iter().find(|f| f.0 == name) {
        return Some((*f, *k));
    }
    if let Some((_, layer)) = PROTOCOLS.iter().find(|p| p.0 == name) {
        return Some((Field::Proto(layer), Kind::Presence));
    }
    let flag = name.strip_prefix("tcp.analysis.")?;
    TcpFlag::ALL
        .into_iter()
        .find(|f| f.name() == flag)
        .map(|f| (Field::TcpAnalysis(f), Kind::Presence))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A field name, a number, an address or a word operator (`eq`, `and`, ...).
    Word(String),
    Quoted(String),
    Sym(&'static str),
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e)) => s.push(e),
                        None => break,
                    },
                    c => s.push(c),
                }
            }
            if !closed {
                return Err(FilterError(format!(
                    "the string starting at character {} has no closing quote",
                    at + 1
                )));
            }
            out.push(Token::Quoted(s));
            continue;
        }
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-') {
            let mut w = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-') {
                    w.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Word(w));
            continue;
        }
        chars.next();
        let next = chars.peek().map(|x| x.1);
        let sym = match (c, next) {
            ('=', Some('=')) => "==",
            ('!', Some('=')) => "!=",
            ('<', Some('=')) => "<=",
            ('>', Some('=')) => ">=",
            ('&', Some('&')) => "&&",
            ('|', Some('|')) => "||",
            ('<', _) => "<",
            ('>', _) => ">",
            ('!', _) => "!",
            ('(', _) => "(",
            (')', _) => ")",
            ('{', _) => "{",
            ('}', _) => "}",
            (',', _) => ",",
            _ => {
                return Err(FilterError(format!(
                    "unexpected '{c}' at character {}",
                    at + 1
                )))
            }
        };
        if sym.len() == 2 {
            chars.next();
        }
        out.push(Token::Sym(sym));
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// Takes the next token when it is `sym` or the word `word`.
    fn eat(&mut self, sym: &str, word: &str) -> bool {
        let hit = match self.peek() {
            Some(Token::Sym(s)) => *s == sym,
            Some(Token::Word(w)) => !word.is_empty() && w == word,
            _ => false,
        };
        if hit {
            self.at += 1;
        }
        hit
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "the end of the filter".to_string(),
            Some(Token::Word(w)) => format!("'{w}'"),
            Some(Token::Quoted(s)) => format!("\"{s}\""),
            Some(Token::Sym(s)) => format!("'{s}'"),
        }
    }

    fn deeper(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError(format!(
                "the filter nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.eat("||", "or") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while self.eat("&&", "and") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.eat("!", "not") {
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.eat("(", "") {
            self.deeper()?;
            let inner = self.or()?;
            self.depth -= 1;
            if !self.eat(")", "") {
                return Err(FilterError(format!(
                    "expected ')' but found {}",
                    self.describe_next()
                )));
            }
            return Ok(inner);
        }
        self.test()
    }

    fn test(&mut self) -> Result<Expr, FilterError> {
        let name = match self.peek() {
            Some(Token::Word(w)) => w.clone(),
            _ => {
                return Err(FilterError(format!(
                    "expected a field name but found {}",
                    self.describe_next()
                )))
            }
        };
        self.at += 1;
        let Some((field, kind)) = lookup(&name) else {
            return Err(FilterError(format!(
                "unknown display-filter field '{name}' (supported: {})",
                supported_fields()
            )));
        };
        let op = [
            ("==", "eq", Op::Eq),
            ("!=", "ne", Op::Ne),
            ("<=", "le", Op::Le),
            (">=", "ge", Op::Ge),
            ("<", "lt", Op::Lt),
            (">", "gt", Op::Gt),
            ("", "contains", Op::Contains),
        ]
        .into_iter()
        .find(|(sym, word, _)| self.eat(sym, word))
        .map(|x| x.2);
        let is_in = op.is_none() && self.eat("", "in");
        if (op.is_some() || is_in) && kind == Kind::Presence {
            return Err(FilterError(format!(
                "'{name}' has no value to compare: use it alone (or with !)"
            )));
        }
        if is_in {
            if !self.eat("{", "") {
                return Err(FilterError(format!(
                    "expected '{{' after 'in' but found {}",
                    self.describe_next()
                )));
            }
            let mut set = Vec::new();
            while !self.eat("}", "") {
                if self.eat(",", "") {
                    continue;
                }
                set.push(self.literal(&name, kind)?);
            }
            return Ok(Expr::In(field, set));
        }
        match op {
            None => Ok(Expr::Has(field)),
            Some(Op::Contains) if kind != Kind::Text => Err(FilterError(format!(
                "'contains' needs a text field; '{name}' is not one"
            ))),
            Some(op) => {
                let value = self.literal(&name, kind)?;
                Ok(Expr::Compare(field, op, value))
            }
        }
    }

    fn literal(&mut self, name: &str, kind: Kind) -> Result<Literal, FilterError> {
        let (text, quoted) = match self.peek() {
            Some(Token::Word(w)) => (w.clone(), false),
            Some(Token::Quoted(s)) => (s.clone(), true),
            _ => {
                return Err(FilterError(format!(
                    "expected a value for '{name}' but found {}",
                    self.describe_next()
                )))
            }
        };
        self.at += 1;
        let bad = |what: &str| FilterError(format!("'{name}' takes {what}, not '{text}'"));
        match kind {
            Kind::Text => Ok(Literal::Text(text)),
            Kind::Number if !quoted => parse_number(&text)
                .map(Literal::Number)
                .ok_or_else(|| bad("a number")),
            Kind::Address if !quoted => parse_net(&text).ok_or_else(|| bad("an IP address")),
            Kind::Number => Err(bad("a number")),
            Kind::Address | Kind::Presence => Err(bad("an IP address")),
        }
    }
}

fn parse_number(text: &str) -> Option<u64> {
    match text {
        "true" | "True" | "TRUE" => return Some(1),
        "false" | "False" | "FALSE" => return Some(0),
        _ => {}
    }
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_net(text: &str) -> Option<Literal> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some(Literal::Net(addr, len))
}

impl DisplayFilter {
    pub fn parse(text: &str) -> Result<DisplayFilter, FilterError> {
        if text.len() > MAX_LEN {
            return Err(FilterError(format!(
                "the filter is longer than {MAX_LEN} characters"
            )));
        }
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Err(FilterError("the filter is empty".to_string()));
        }
        let mut p = Parser {
            tokens,
            at: 0,
            depth: 0,
        };
        let expr = p.or()?;
        if p.at < p.tokens.len() {
            return Err(FilterError(format!(
                "unexpected {} (join tests with && or ||)",
                p.describe_next()
            )));
        }
        let needs_websocket = mentions(&expr, Field::Websocket);
        Ok(DisplayFilter {
            expr,
            needs_websocket,
        })
    }

    /// Whether the caller must follow WebSocket connections to fill
    /// [`FrameFacts::websocket`] (it costs memory, so only when asked).
    pub fn needs_websocket(&self) -> bool {
        self.needs_websocket
    }

    pub fn matches(&self, facts: &FrameFacts<'_, '_>) -> bool {
        eval(&self.expr, facts)
    }
}

fn mentions(e: &Expr, field: Field) -> bool {
    match e {
        Expr::Or(a, b) | Expr::And(a, b) => mentions(a, field) || mentions(b, field),
        Expr::Not(a) => mentions(a, field),
        Expr::Has(f) | Expr::Compare(f, _, _) | Expr::In(f, _) => *f == field,
    }
}

fn eval(e: &Expr, facts: &FrameFacts<'_, '_>) -> bool {
    match e {
        Expr::Or(a, b) => eval(a, facts) || eval(b, facts),
        Expr::And(a, b) => eval(a, facts) && eval(b, facts),
        Expr::Not(a) => !eval(a, facts),
        Expr::Has(f) => !values(*f, facts).is_empty(),
        // Wireshark 4's `!=` is "no value equals".
        Expr::Compare(f, Op::Ne, lit) => !values(*f, facts).iter().any(|v| compare(v, Op::Eq, lit)),
        Expr::Compare(f, op, lit) => values(*f, facts).iter().any(|v| compare(v, *op, lit)),
        Expr::In(f, set) => values(*f, facts)
            .iter()
            .any(|v| set.iter().any(|lit| compare(v, Op::Eq, lit))),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(u64),
    Address(IpAddr),
    Text(String),
    /// The field is there, with nothing to compare.
    Present,
}

fn compare(v: &Value, op: Op, lit: &Literal) -> bool {
    use std::cmp::Ordering;
    let ordering = match (v, lit) {
        (Value::Number(a), Literal::Number(b)) => a.cmp(b),
        (Value::Text(a), Literal::Text(b)) => {
            if op == Op::Contains {
                return a.contains(b.as_str());
            }
            a.as_str().cmp(b.as_str())
        }
        (Value::Address(a), Literal::Net(net, len)) => {
            let (a, net, bits) = match (a, net) {
                (IpAddr::V4(a), IpAddr::V4(n)) => {
                    (u128::from(u32::from(*a)), u128::from(u32::from(*n)), 32)
                }
                (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(*a), u128::from(*n), 128),
                _ => return false,
            };
            let host_bits = bits - u32::from(*len);
            let mask = if host_bits >= 128 {
                0
            } else {
                !0u128 << host_bits
            };
            if matches!(op, Op::Eq | Op::Ne) {
                return (a & mask) == (net & mask);
            }
            a.cmp(&(net & mask))
        }
        _ => return false,
    };
    match op {
        Op::Eq | Op::Ne => ordering == Ordering::Equal,
        Op::Lt => ordering == Ordering::Less,
        Op::Gt => ordering == Ordering::Greater,
        Op::Le => ordering != Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
        Op::Contains => false,
    }
}

/// Every value the frame has for `field` (none: the frame lacks it).
fn values(field: Field, facts: &FrameFacts<'_, '_>) -> Vec<Value> {
    let layers = &facts.frame.layers;
    let num = |n: u64| Value::Number(n);
    let ipv4 = || {
        layers.iter().filter_map(|l| match l {
            Layer::Ipv4(h) => Some(h),
            _ => None,
        })
    };
    let ipv6 = || {
        layers.iter().filter_map(|l| match l {
            Layer::Ipv6(h) => Some(h),
            _ => None,
        })
    };
    let tcp = || {
        layers.iter().filter_map(|l| match l {
            Layer::Tcp(t) => Some(t),
            _ => None,
        })
    };
    let udp = || {
        layers.iter().filter_map(|l| match l {
            Layer::Udp(u) => Some(u),
            _ => None,
        })
    };
    let icmp = |version: u8| {
        layers.iter().filter_map(move |l| match l {
            Layer::Icmp(i) if i.version == version => Some(i),
            _ => None,
        })
    };
    let v4 = |a: std::net::Ipv4Addr| Value::Address(IpAddr::V4(a));
    let v6 = |a: std::net::Ipv6Addr| Value::Address(IpAddr::V6(a));
    match field {
        Field::FrameNumber => vec![num(facts.number)],
        Field::FrameLen => vec![num(u64::from(facts.len))],
        Field::Proto(name) => {
            if layers.iter().any(|l| l.name() == name) {
                vec![Value::Present]
            } else {
                Vec::new()
            }
        }
        Field::IpAddr => ipv4().flat_map(|h| [v4(h.src), v4(h.dst)]).collect(),
        Field::IpSrc => ipv4().map(|h| v4(h.src)).collect(),
        Field::IpDst => ipv4().map(|h| v4(h.dst)).collect(),
        Field::Ip6Addr => ipv6().flat_map(|h| [v6(h.src), v6(h.dst)]).collect(),
        Field::Ip6Src => ipv6().map(|h| v6(h.src)).collect(),
        Field::Ip6Dst => ipv6().map(|h| v6(h.dst)).collect(),
        Field::IpTtl => ipv4().map(|h| num(u64::from(h.ttl))).collect(),
        Field::IpProto => ipv4().map(|h| num(u64::from(h.protocol))).collect(),
        Field::IpFlagsDf => ipv4().map(|h| num(u64::from(h.dont_fragment))).collect(),
        Field::IpFlagsMf => ipv4().map(|h| num(u64::from(h.more_fragments))).collect(),
        // Wireshark counts the offset in bytes since 3.x, as the dissector does.
        Field::IpFragOffset => ipv4().map(|h| num(u64::from(h.fragment_offset))).collect(),
        Field::TcpStream => facts
            .tcp
            .map(|t| vec![num(u64::from(t.stream))])
            .unwrap_or_default(),
        Field::TcpPort => tcp()
            .flat_map(|t| [num(u64::from(t.src_port)), num(u64::from(t.dst_port))])
            .collect(),
        Field::TcpSrcPort => tcp().map(|t| num(u64::from(t.src_port))).collect(),
        Field::TcpDstPort => tcp().map(|t| num(u64::from(t.dst_port))).collect(),
        Field::TcpLen => tcp().map(|t| num(u64::from(t.payload_len))).collect(),
        Field::TcpFlags => tcp().map(|t| num(u64::from(t.flags))).collect(),
        Field::TcpFlag(bit) => tcp().map(|t| num(u64::from(t.has(bit)))).collect(),
        Field::TcpAnalysisAny => match facts.tcp {
            Some(t) if t.flags != 0 => vec![Value::Present],
            _ => Vec::new(),
        },
        Field::TcpAnalysis(flag) => match facts.tcp {
            Some(t) if t.flags & flag.bits() != 0 => vec![Value::Present],
            _ => Vec::new(),
        },
        Field::UdpPort => udp()
            .flat_map(|u| [num(u64::from(u.src_port)), num(u64::from(u.dst_port))])
            .collect(),
        Field::UdpSrcPort => udp().map(|u| num(u64::from(u.src_port))).collect(),
        Field::UdpDstPort => udp().map(|u| num(u64::from(u.dst_port))).collect(),
        Field::IcmpType => icmp(4).map(|i| num(u64::from(i.icmp_type))).collect(),
        Field::IcmpCode => icmp(4).map(|i| num(u64::from(i.code))).collect(),
        Field::Icmp6Type => icmp(6).map(|i| num(u64::from(i.icmp_type))).collect(),
        Field::Icmp6Code => icmp(6).map(|i| num(u64::from(i.code))).collect(),
        Field::HttpRequest
        | Field::HttpResponse
        | Field::HttpMethod
        | Field::HttpUri
        | Field::HttpCode
        | Field::HttpHost
        | Field::HttpUpgrade => http_values(field, facts.frame),
        Field::Websocket => {
            if facts.websocket {
                vec![Value::Present]
            } else {
                Vec::new()
            }
        }
    }
}

/// The HTTP fields of a frame whose payload starts an HTTP/1.x head.
fn http_values(field: Field, frame: &Frame<'_>) -> Vec<Value> {
    let heads = frame.layers.iter().filter_map(|l| match l {
        Layer::App {
            proto: AppProto::Http,
            data,
            ..
        } => http::parse_head(data).and_then(Result::ok),
        _ => None,
    });
    let mut out = Vec::new();
    for head in heads {
        let text = |s: &str| Value::Text(s.to_string());
        match field {
            Field::HttpRequest if head.is_request() => out.push(Value::Present),
            Field::HttpResponse if !head.is_request() => out.push(Value::Present),
            Field::HttpMethod | Field::HttpUri => {
                if let http::HttpHead::Request { method, target, .. } = &head {
                    out.push(text(if field == Field::HttpMethod {
                        method
                    } else {
                        target
                    }));
                }
            }
            Field::HttpCode => out.extend(head.status().map(|s| Value::Number(u64::from(s)))),
            Field::HttpHost => out.extend(head.host().map(text)),
            Field::HttpUpgrade => out.extend(head.header("upgrade").map(text)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(text: &str) -> bool {
        DisplayFilter::parse(text).is_ok()
    }

    #[test]
    fn takes_the_filters_findings_print() {
        for f in [
            "tcp.stream eq 8 && (frame.number in {320 321})",
            "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.dst == 10.0.0.1 && tcp.dstport == 80",
            "ipv6.dst == fe80::1 && tcp.dstport == 443",
            "(icmp.type == 3 && icmp.code == 4) || icmpv6.type == 2",
            "ip.flags.mf == 1 || ip.frag_offset > 0",
            "ip.addr == 10.1.0.1 && ip.addr == 10.1.0.2 && udp",
            "tcp.stream eq 3 && tcp.analysis.retransmission",
            "!(tcp.port == 22) and not udp or http.request.method == \"GET\"",
            "ip.src == 10.0.0.0/8 && http.host contains \"example\"",
            "tcp.flags == 0x012",
        ] {
            assert!(parses(f), "{f}: {:?}", DisplayFilter::parse(f).err());
        }
    }

    #[test]
    fn refuses_with_one_line_naming_the_problem() {
        let err = |t: &str| DisplayFilter::parse(t).unwrap_err().0;
        let unknown = err("tcp.nosuch == 1");
        assert!(unknown.starts_with("unknown display-filter field 'tcp.nosuch'"));
        assert!(unknown.contains("tcp.stream") && !unknown.contains('\n'));
        assert!(err("tcp.port == x").contains("takes a number"));
        assert!(err("ip.addr == 300.1.1.1").contains("takes an IP address"));
        assert!(err("websocket == 1").contains("no value to compare"));
        assert!(err("(tcp").contains("expected ')'"));
        assert!(err("tcp udp").contains("unexpected 'udp'"));
        assert!(err("\"open").contains("no closing quote"));
        assert!(err("").contains("empty"));
        assert!(err(&"(".repeat(10_000)).contains("nests deeper"));
        assert!(err(&"!".repeat(10_000)).contains("nests deeper"));
    }

    #[test]
    fn addresses_match_by_network_and_any_value() {
        let lit = |t: &str| parse_net(t).unwrap();
        let a = Value::Address("10.1.2.3".parse().unwrap());
        assert!(compare(&a, Op::Eq, &lit("10.1.2.3")));
        assert!(compare(&a, Op::Eq, &lit("10.0.0.0/8")));
        assert!(!compare(&a, Op::Eq, &lit("10.2.0.0/16")));
        assert!(compare(&a, Op::Eq, &lit("0.0.0.0/0")));
        assert!(!compare(&a, Op::Eq, &lit("::/0")));
        assert!(parse_net("10.0.0.0/33").is_none());
    }
}
