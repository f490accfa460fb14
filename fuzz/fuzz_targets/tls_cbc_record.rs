//! TLS 1.2 record opening with a key log's master secret, as the analysis does: the
//! first byte picks a cipher suite (every CBC suite, and the AEAD ones), the second
//! encrypt-then-MAC, the rest is a stream of records opened in turn by both
//! directions' keys. Wrong MACs, bad padding and impossible lengths must come back as
//! authentication failures, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_cmds::pcap::analyze::sections::tls::decrypt::{tls12_keys, KeyLog, Tls12Params};
use netkit_dissectors::app::tls;

const SUITES: [u16; 22] = [
    0xC009, 0xC00A, 0xC013, 0xC014, 0xC023, 0xC024, 0xC027, 0xC028, 0x002F, 0x0035, 0x003C,
    0x003D, 0x0033, 0x0039, 0x0067, 0x006B, 0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA8, 0x009C,
];

fuzz_target!(|data: &[u8]| {
    let [suite, etm, rest @ ..] = data else {
        return;
    };
    let mut log = KeyLog::default();
    log.add_text(&format!(
        "CLIENT_RANDOM {} {}",
        "11".repeat(32),
        "22".repeat(48)
    ));
    let params = Tls12Params {
        client_random: &[0x11; 32],
        server_random: &[0x33; 32],
        cipher_suite: SUITES[usize::from(*suite) % SUITES.len()],
        version: 0x0303,
        encrypt_then_mac: etm & 1 == 1,
    };
    let Some((mut client, mut server)) = tls12_keys(&log, params) else {
        return;
    };
    let mut rest = rest;
    let mut from_client = true;
    while let Ok(r) = tls::parse_record(rest) {
        let len = (r.body.len() as u16).to_be_bytes();
        let v = r.version.to_be_bytes();
        let header = [r.content_type, v[0], v[1], len[0], len[1]];
        let keys = if from_client { &mut client } else { &mut server };
        let _ = keys.open(&header, &mut r.body.to_vec());
        from_client = !from_client;
        rest = &rest[r.wire_len()..];
    }
});
