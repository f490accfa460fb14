//! Every finding `pcap analyze` can raise, in one list: its code (the `code` of the
//! JSON, stable), the severities it is raised with, the section that raises it, what it
//! means in one line, and what to check next. `pcap analyze --list-findings` prints
//! this list and the man page carries it, so a code met in a report is always
//! explained somewhere.
//!
//! Adding a finding: a variant and an entry here, and the rule that raises it in its
//! section (or in `joins.rs` when it needs two sections).

use super::Severity;
use serde::Serialize;

/// A finding's code. Serialized as its snake_case name, which is the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    CaptureDamaged,
    CaptureDrops,
    WebsocketRejected,
    WebsocketBadAccept,
    WebsocketIgnored,
    WebsocketUnanswered,
    WebsocketClosedWithError,
    SynUnanswered,
    SynCutOff,
    TcpResetLate,
    TcpReset,
    TcpResets,
    TcpRtoBackoff,
    TcpRetransmissions,
    TcpZeroWindow,
    TcpDropsInKernel,
    EcmpSingleOuterFlow,
    TunnelLowEntropy,
    TunnelMtu,
    TcpOffload,
    FragmentsIncomplete,
    PmtuReported,
    DfLargerThanReportedMtu,
    PmtuBlackHole,
    TlsFatalAlert,
    TlsHandshakeIncomplete,
    TlsAlpnNotOffered,
    TlsCertExpired,
    TlsCertNameMismatch,
    TlsDecryptFailed,
    TlsNoKeys,
    FhrpStateChange,
    MulticastMacCollision,
}

/// What the registry says about one code.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Entry {
    pub code: Code,
    /// The severities the code is raised with, most severe first.
    pub severities: &'static [Severity],
    /// The report section whose evidence raises it.
    pub section: &'static str,
    /// What it means, in one line.
    pub meaning: &'static str,
    /// What to look at next.
    pub next: &'static str,
}

impl Code {
    /// Every code, in the order `--list-findings` shows them (by section, then severity).
    pub const ALL: [Code; 33] = [
        Code::CaptureDamaged,
        Code::CaptureDrops,
        Code::WebsocketRejected,
        Code::WebsocketBadAccept,
        Code::WebsocketIgnored,
        Code::WebsocketUnanswered,
        Code::WebsocketClosedWithError,
        Code::SynUnanswered,
        Code::SynCutOff,
        Code::TcpResetLate,
        Code::TcpReset,
        Code::TcpResets,
        Code::TcpRtoBackoff,
        Code::TcpRetransmissions,
        Code::TcpZeroWindow,
        Code::TcpDropsInKernel,
        Code::EcmpSingleOuterFlow,
        Code::TunnelLowEntropy,
        Code::TunnelMtu,
        Code::TcpOffload,
        Code::FragmentsIncomplete,
        Code::PmtuReported,
        Code::DfLargerThanReportedMtu,
        Code::PmtuBlackHole,
        Code::TlsFatalAlert,
        Code::TlsHandshakeIncomplete,
        Code::TlsAlpnNotOffered,
        Code::TlsCertExpired,
        Code::TlsCertNameMismatch,
        Code::TlsDecryptFailed,
        Code::TlsNoKeys,
        Code::FhrpStateChange,
        Code::MulticastMacCollision,
    ];

    /// What the registry says about this code. A match, so a new code does not compile
    /// until it has its entry.
    pub fn entry(self) -> Entry {
        use Severity::{Error, Info, Warning};
        match self {
            Code::CaptureDamaged => Entry {
                code: Code::CaptureDamaged,
                severities: &[Warning],
                section: "capture",
                meaning: "the file is damaged: reading stopped at a record (or skipped records) whose frame and byte offset the finding names; the report covers what came before",
                next: "how the file was made or copied (a capture cut short, a truncated download, a disk full); capture.errors lists every damaged place",
            },
            Code::WebsocketRejected => Entry {
                code: Code::WebsocketRejected,
                severities: &[Error],
                section: "websocket",
                meaning: "a WebSocket upgrade got a final non-101 status (a 2xx over HTTP/2 for RFC 8441) instead of switching protocols",
                next: "the status and the proxy's or server's log for that request: an auth, origin or path rule, or a backend without WebSocket support",
            },
            Code::WebsocketBadAccept => Entry {
                code: Code::WebsocketBadAccept,
                severities: &[Error],
                section: "websocket",
                meaning: "101 Switching Protocols with a missing or wrong Sec-WebSocket-Accept: the client must fail the connection",
                next: "whatever rewrites the handshake between client and server (a proxy that edits headers or answers the upgrade itself)",
            },
            Code::WebsocketIgnored => Entry {
                code: Code::WebsocketIgnored,
                severities: &[Error],
                section: "websocket",
                meaning: "an upgrade request answered as plain HTTP (a 2xx without switching): the upgrade was ignored",
                next: "a proxy or server that drops the Upgrade and Connection headers (HTTP/1.0 hop, missing WebSocket config)",
            },
            Code::WebsocketUnanswered => Entry {
                code: Code::WebsocketUnanswered,
                severities: &[Error, Warning],
                section: "websocket",
                meaning: "an upgrade request with no response in the capture; an error when the client kept retransmitting or the connection was reset, a warning when the capture simply ended",
                next: "the server side of the proxy: a timeout, a backend that never answers, and where the retransmissions in the finding are",
            },
            Code::WebsocketClosedWithError => Entry {
                code: Code::WebsocketClosedWithError,
                severities: &[Warning],
                section: "websocket",
                meaning: "an accepted WebSocket session closed with a code other than 1000 (normal) or 1001 (going away)",
                next: "the close code's meaning in the finding, and the application log of the side that closed",
            },
            Code::SynUnanswered => Entry {
                code: Code::SynUnanswered,
                severities: &[Warning],
                section: "tcp",
                meaning: "connection attempts to a server got no SYN-ACK and no reset: the SYNs were dropped somewhere, grouped by server",
                next: "a firewall dropping silently, a dead or unrouted server, or a full accept queue; the SYN retransmissions show how long clients waited",
            },
            Code::SynCutOff => Entry {
                code: Code::SynCutOff,
                severities: &[Info],
                section: "tcp",
                meaning: "connection attempts sent so shortly before the capture ended (within a few handshake round trips, and before the first SYN retransmission was due) that no answer could be expected yet",
                next: "nothing, unless they matter: capture longer to see whether they were answered",
            },
            Code::TcpResetLate => Entry {
                code: Code::TcpResetLate,
                severities: &[Warning],
                section: "tcp",
                meaning: "a reset far later than the path's round trip after the peer last spoke: something waited, then gave up",
                next: "idle and request timeouts on proxies, load balancers and firewalls along the path",
            },
            Code::TcpReset => Entry {
                code: Code::TcpReset,
                severities: &[Info],
                section: "tcp",
                meaning: "a stream ended with a reset (the first few are listed one by one)",
                next: "who reset it and when: a refused port, an application abort, or a middlebox",
            },
            Code::TcpResets => Entry {
                code: Code::TcpResets,
                severities: &[Info],
                section: "tcp",
                meaning: "how many streams ended with a reset in all, beyond those listed",
                next: "the display filter tcp.flags.reset == 1",
            },
            Code::TcpRtoBackoff => Entry {
                code: Code::TcpRtoBackoff,
                severities: &[Error],
                section: "tcp",
                meaning: "one segment retransmitted again and again with growing gaps (the retransmission timer backing off): the stream stalled, however few its frames",
                next: "whether the peer or the path went away (a dead host, a route or firewall change, a full receive queue); the gaps show how long the sender waited",
            },
            Code::TcpRetransmissions => Entry {
                code: Code::TcpRetransmissions,
                severities: &[Warning],
                section: "tcp",
                meaning: "a stream where at least a tenth of the frames (and at least 3) are retransmissions",
                next: "loss on the path (interface drops, a policer, a congested link) or a receiver that drops; compare with other streams on the same path",
            },
            Code::TcpDropsInKernel => Entry {
                code: Code::TcpDropsInKernel,
                severities: &[Warning],
                section: "tcp",
                meaning: "live only (watch, top --findings, with BPF): a stream with a retransmission finding whose packets the kernel itself dropped, with the kernel's drop reason and where (namespace, interface, process)",
                next: "the named reason: NETFILTER_DROP a firewall rule in that namespace, QDISC_DROP a full queue on that interface, SOCKET_RCVBUFF a process not reading fast enough; `netkit drops` shows them all",
            },
            Code::TcpZeroWindow => Entry {
                code: Code::TcpZeroWindow,
                severities: &[Warning],
                section: "tcp",
                meaning: "a receiver advertised a zero window: the application stopped reading its socket",
                next: "the receiving application (CPU, a blocked thread, a slow disk), not the network",
            },
            Code::EcmpSingleOuterFlow => Entry {
                code: Code::EcmpSingleOuterFlow,
                severities: &[Warning],
                section: "tunnels",
                meaning: "several inner flows ride one outer 5-tuple: a network that balances by 5-tuple puts them all on one link",
                next: "the tunnel's source-port or flow-label entropy settings, or balancing on inner headers",
            },
            Code::TunnelLowEntropy => Entry {
                code: Code::TunnelLowEntropy,
                severities: &[Warning],
                section: "tunnels",
                meaning: "VXLAN or Geneve traffic whose outer UDP source ports do not follow the inner flows (RFC 7348)",
                next: "the VTEP's source-port hashing configuration",
            },
            Code::TunnelMtu => Entry {
                code: Code::TunnelMtu,
                severities: &[Warning],
                section: "paths",
                meaning: "segments inside a tunnel that, with the tunnel's overhead, exceed a 1500-byte MTU on the outer path (only segments within the receiver's MSS count: larger ones are offload, see tcp_offload)",
                next: "the inner MTU or the MSS clamp on the tunnel endpoints; the finding gives values that fit",
            },
            Code::TcpOffload => Entry {
                code: Code::TcpOffload,
                severities: &[Info],
                section: "paths",
                meaning: "TCP segments larger than the MSS the receiver announced: the capturing host's segmentation or receive offload (TSO/GRO) merged them, so their size says nothing about the path's MTU",
                next: "nothing on the path; to see the segments as sent, capture elsewhere or turn offload off (ethtool -K IFACE tso off gro off)",
            },
            Code::FragmentsIncomplete => Entry {
                code: Code::FragmentsIncomplete,
                severities: &[Warning],
                section: "paths",
                meaning: "fragmented IP packets whose fragments never all arrived: reassembly fails at the receiver",
                next: "a firewall or NAT that drops non-first fragments, or loss on the path",
            },
            Code::PmtuReported => Entry {
                code: Code::PmtuReported,
                severities: &[Info],
                section: "paths",
                meaning: "a router sent ICMP fragmentation-needed or packet-too-big with the MTU it can carry",
                next: "whether senders adapt (see df_larger_than_reported_mtu) and whether the reported MTU is expected",
            },
            Code::DfLargerThanReportedMtu => Entry {
                code: Code::DfLargerThanReportedMtu,
                severities: &[Warning],
                section: "paths",
                meaning: "packets with DF set still larger than a reported MTU more than a second after the report: the sender does not adapt",
                next: "the sender's path MTU discovery, and whether the ICMP reaches it",
            },
            Code::PmtuBlackHole => Entry {
                code: Code::PmtuBlackHole,
                severities: &[Error],
                section: "paths",
                meaning: "large segments retransmitted and never acknowledged while small ones get through: a path MTU black hole",
                next: "a link with a smaller MTU whose ICMP fragmentation-needed is filtered; clamp the MSS or let the ICMP through",
            },
            Code::TlsFatalAlert => Entry {
                code: Code::TlsFatalAlert,
                severities: &[Error],
                section: "tls",
                meaning: "a side sent a clear-text fatal TLS alert (handshake_failure, unknown_ca, bad_certificate, protocol_version, ...): the connection is over",
                next: "the alert's name and who sent it: unknown_ca/bad_certificate point at the certificate chain or the client's trust store, protocol_version and handshake_failure at version or cipher settings (ssl-min-ver, ciphers) on the two sides",
            },
            Code::TlsHandshakeIncomplete => Entry {
                code: Code::TlsHandshakeIncomplete,
                severities: &[Warning, Info],
                section: "tls",
                meaning: "a ClientHello whose handshake never reached both Finished messages, without a clear-text fatal alert; info when the capture ended within a second of the ClientHello",
                next: "whether a ServerHello came (the finding says): none points at the server or a middlebox dropping the hello; an encrypted alert or a reset after it at certificate or client-certificate checks (decrypt with --tls-keylog to read the alert)",
            },
            Code::TlsAlpnNotOffered => Entry {
                code: Code::TlsAlpnNotOffered,
                severities: &[Error],
                section: "tls",
                meaning: "the server selected an ALPN protocol the client did not offer (RFC 7301 forbids it): e.g. h2 to a client that offered only http/1.1, which then cannot send its HTTP/1.1 WebSocket upgrade",
                next: "the server's or proxy's ALPN configuration (HAProxy's alpn on the bind line, a forced h2): it must choose from the client's list or send no_application_protocol",
            },
            Code::TlsCertExpired => Entry {
                code: Code::TlsCertExpired,
                severities: &[Error],
                section: "tls",
                meaning: "the server's TLS 1.2 certificate was expired (or not yet valid) at the time it was captured",
                next: "renew the certificate on the server or proxy; if it looks valid, the capturing host's clock",
            },
            Code::TlsCertNameMismatch => Entry {
                code: Code::TlsCertNameMismatch,
                severities: &[Error],
                section: "tls",
                meaning: "the server's TLS 1.2 certificate names none that covers the SNI the client asked for",
                next: "the certificate selected for that SNI (crt-list or default certificate on the proxy), or a client connecting with the wrong host name",
            },
            Code::TlsDecryptFailed => Entry {
                code: Code::TlsDecryptFailed,
                severities: &[Error],
                section: "tls",
                meaning: "records of a connection whose secrets the key log has failed authentication: the keys are not this session's (a key log from another run) or the bytes were damaged",
                next: "that the key log was written by the same client run as the capture (its CLIENT_RANDOM lines must match the ClientHello's random), and the capture's damage and snap length",
            },
            Code::TlsNoKeys => Entry {
                code: Code::TlsNoKeys,
                severities: &[Warning],
                section: "tls",
                meaning: "a key log was given but had no secrets for some TLS sessions: their HTTP and WebSocket traffic is not analysed",
                next: "that every client in the capture wrote to the key log (SSLKEYLOGFILE set for each process, keylog_filename in Python) during the capture",
            },
            Code::FhrpStateChange => Entry {
                code: Code::FhrpStateChange,
                severities: &[Warning, Info],
                section: "fhrp",
                meaning: "netkit watch only: a first-hop redundancy router (HSRP, VRRP, GLBP, CARP) changed state; a warning when the active (master) router of the group changed",
                next: "why the router gave up or took over (interface tracking, priority, preemption, lost hellos); hosts' ARP entries for the virtual IP follow the gratuitous ARP",
            },
            Code::MulticastMacCollision => Entry {
                code: Code::MulticastMacCollision,
                severities: &[Warning],
                section: "multicast",
                meaning: "netkit watch only: multicast groups seen in the traffic share one Ethernet MAC (IPv4 maps 32 groups to each): hosts and switches filtering by MAC get both groups' traffic",
                next: "renumber one of the groups so their low 23 bits differ (netkit mcast reverse MAC lists the 32 groups that share it)",
            },
            Code::CaptureDrops => Entry {
                code: Code::CaptureDrops,
                severities: &[Warning],
                section: "capture",
                meaning: "a live capture lost frames before analysis (the kernel's capture ring was full): counts and verdicts miss them",
                next: "narrow the capture with -f or -i, or give netkit more CPU; the finding says where the frames were lost",
            },
        }
    }

    /// The code as JSON and Wireshark-filter lines write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::CaptureDamaged => "capture_damaged",
            Code::WebsocketRejected => "websocket_rejected",
            Code::WebsocketBadAccept => "websocket_bad_accept",
            Code::WebsocketIgnored => "websocket_ignored",
            Code::WebsocketUnanswered => "websocket_unanswered",
            Code::WebsocketClosedWithError => "websocket_closed_with_error",
            Code::SynUnanswered => "syn_unanswered",
            Code::SynCutOff => "syn_cut_off",
            Code::TcpResetLate => "tcp_reset_late",
            Code::TcpReset => "tcp_reset",
            Code::TcpResets => "tcp_resets",
            Code::TcpRtoBackoff => "tcp_rto_backoff",
            Code::TcpRetransmissions => "tcp_retransmissions",
            Code::TcpZeroWindow => "tcp_zero_window",
            Code::TcpDropsInKernel => "tcp_drops_in_kernel",
            Code::EcmpSingleOuterFlow => "ecmp_single_outer_flow",
            Code::TunnelLowEntropy => "tunnel_low_entropy",
            Code::TunnelMtu => "tunnel_mtu",
            Code::TcpOffload => "tcp_offload",
            Code::FragmentsIncomplete => "fragments_incomplete",
            Code::PmtuReported => "pmtu_reported",
            Code::DfLargerThanReportedMtu => "df_larger_than_reported_mtu",
            Code::PmtuBlackHole => "pmtu_black_hole",
            Code::CaptureDrops => "capture_drops",
            Code::TlsFatalAlert => "tls_fatal_alert",
            Code::TlsHandshakeIncomplete => "tls_handshake_incomplete",
            Code::TlsAlpnNotOffered => "tls_alpn_not_offered",
            Code::TlsCertExpired => "tls_cert_expired",
            Code::TlsCertNameMismatch => "tls_cert_name_mismatch",
            Code::TlsDecryptFailed => "tls_decrypt_failed",
            Code::TlsNoKeys => "tls_no_keys",
            Code::FhrpStateChange => "fhrp_state_change",
            Code::MulticastMacCollision => "multicast_mac_collision",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: the report aligns codes in a column (`{:<28}`).
        f.pad(self.as_str())
    }
}

// A code added after the last one must be added to `Code::ALL` too.
const _: () = assert!(Code::MulticastMacCollision as usize + 1 == Code::ALL.len());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_with_its_entry_and_json_name() {
        for (i, c) in Code::ALL.iter().enumerate() {
            // Discriminants run 0.. in declaration order: a variant left out of ALL
            // shifts every later one.
            assert_eq!(*c as usize, i, "{c} is out of place in Code::ALL");
            let e = c.entry();
            assert_eq!(e.code, *c);
            // The serde name is the contract; as_str must say the same.
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::Value::String(c.as_str().to_string())
            );
            assert!(!e.severities.is_empty() && !e.meaning.is_empty() && !e.next.is_empty());
        }
    }
}
