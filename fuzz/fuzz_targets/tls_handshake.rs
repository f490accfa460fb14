//! TLS handshake messages walked as a handshake byte stream and decoded
//! (ClientHello, ServerHello, Certificate, ...), with every name lookup on what they say
//! and the JA4 fingerprint of each ClientHello.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_cmds::pcap::analyze::sections::tls::ja4::ja4;
use netkit_dissectors::app::tls;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(h) = tls::parse_handshake(rest) {
        assert!(h.wire_len() <= rest.len());
        match h.decode() {
            Ok(tls::HandshakeMsg::ClientHello(c)) => {
                for s in &c.cipher_suites {
                    let _ = tls::cipher_suite_name(*s);
                }
                for v in &c.supported_versions {
                    let _ = tls::version_name(*v);
                }
                let fingerprint = ja4(&c);
                assert_eq!(fingerprint.len(), 36, "{fingerprint}");
            }
            Ok(tls::HandshakeMsg::ServerHello(s)) => {
                let _ = tls::version_name(s.version());
                let _ = tls::cipher_suite_name(s.cipher_suite);
            }
            Ok(tls::HandshakeMsg::Certificate(list)) => {
                assert!(list.iter().map(|c| c.len()).sum::<usize>() <= h.body.len());
            }
            _ => {}
        }
        rest = &rest[h.wire_len()..];
    }
});
